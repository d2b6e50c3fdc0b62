"""Rendering the report's blocks: report.md (images linked) and a self-contained report.html."""

from __future__ import annotations

import base64
import html
import re

import numpy as np
import pandas as pd

from listening_tests.report.text import Block

# Readable from a phone to a wide screen: text at most ~75 characters wide, wide tables scroll inside
# their own box instead of widening the page, numbers right-aligned in tabular figures.
STYLE = (
    "body{font-family:system-ui,sans-serif;line-height:1.45;max-width:62em;margin:auto;padding:1em;color:#222}"
    "p,li{max-width:75ch}.table{overflow-x:auto;margin:1em 0}"
    "table{border-collapse:collapse;font-size:0.85em;font-variant-numeric:tabular-nums}"
    "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right;white-space:nowrap}"
    "td:first-child,th:first-child{text-align:left}th{background:#f3f3f3}"
    "figure{margin:1em 0}img{max-width:100%;height:auto}figcaption{font-size:0.85em;color:#555}"
)


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
    return f'<div class="table"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


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
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><title>Listening test report</title>'
        f"<style>{STYLE}</style></head><body>\n" + "\n".join(out) + "\n</body></html>\n"
    )
