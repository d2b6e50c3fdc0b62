"""Rendering the report's blocks: report.md (images linked) and a self-contained report.html."""

from __future__ import annotations

import base64
import html
import re

import numpy as np
import pandas as pd

from listening_tests.report.text import Block


def cell(value: object) -> str:
    """A table cell as text."""
    if isinstance(value, float | np.floating):
        return "n/a" if not np.isfinite(value) else f"{value:.4g}"
    return str(value)


def md_text(text: str) -> str:
    """Text for Markdown: HTML and table/emphasis characters neutralised."""
    text = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"([\\`*|\[\]])", r"\\\1", text)


def render_markdown(blocks: list[Block]) -> str:
    """report.md; images are relative links to the PNGs next to it."""
    out = []
    for kind, content in blocks:
        if kind in ("h1", "h2", "h3"):
            out.append(f"{'#' * int(kind[1])} {md_text(content)}")
        elif kind == "p":
            out.append(md_text(content))
        elif kind == "ul":
            out.append("\n".join(f"- {md_text(item)}" for item in content))
        elif kind == "table":
            rows = [list(content.columns), ["---"] * content.shape[1], *content.itertuples(index=False)]
            out.append("\n".join("| " + " | ".join(md_text(cell(v)) for v in row) + " |" for row in rows))
        elif kind == "img":
            caption, path = content
            out.append(f"![{md_text(caption)}]({path.name})")
    return "\n\n".join(out) + "\n"


def html_table(table: pd.DataFrame) -> str:
    """An escaped HTML table."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell(v))}</td>" for v in row) + "</tr>"
        for row in table.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(blocks: list[Block]) -> str:
    """report.html, self-contained: the PNGs are embedded as base64, all text is escaped."""
    out = []
    for kind, content in blocks:
        if kind in ("h1", "h2", "h3", "p"):
            out.append(f"<{kind}>{html.escape(content)}</{kind}>")
        elif kind == "ul":
            out.append("<ul>" + "".join(f"<li>{html.escape(item)}</li>" for item in content) + "</ul>")
        elif kind == "table":
            out.append(html_table(content))
        elif kind == "img":
            caption, path = content
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            out.append(
                f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}">'
                f"<figcaption>{html.escape(caption)}</figcaption></figure>"
            )
    style = (
        "body{font-family:sans-serif;max-width:80em;margin:auto;padding:1em}"
        "table{border-collapse:collapse;font-size:small;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:2px 6px}img{max-width:100%}"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Listening test report</title>'
        f"<style>{style}</style></head><body>\n" + "\n".join(out) + "\n</body></html>\n"
    )
