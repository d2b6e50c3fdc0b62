"""The analysis report: CSV tables, PNG plots, report.md and a self-contained report.html.

Entry point: `analyze(ratings_csv, manifest_csv, out_dir)` writes summary.csv, correlations.csv,
pairwise.csv, mixed.csv, the plots, report.md and report.html into `out_dir`.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from listening_tests.analysis import GROUP, AnalysisResult, run_analysis
from listening_tests.conditions import is_processed, report_order

ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")
SCATTER_METRICS = (
    ("si_sdr", "SI-SDR (dB)"),
    ("pesq", "PESQ (legacy P.862)"),
    ("stoi", "STOI"),
    ("dnsmos_ovrl", "DNSMOS OVRL"),
)
PESQ_NOTE = (
    "PESQ (ITU-T P.862) was withdrawn by the ITU in 2024 in favour of P.863; it is shown here as a "
    "legacy metric only, for comparison with older work."
)
MIXED_NOTE = (
    "score ~ condition with crossed random intercepts for rater and item (statsmodels MixedLM, REML); "
    "estimates are model-based mean scores with normal 95 % intervals (mixed.csv)."
)
PAIRWISE_NOTE = (
    "Wilcoxon signed-rank tests on per-item mean scores, Holm-corrected per protocol and scale; "
    "rank_biserial is the matched-pairs rank-biserial correlation, positive when condition_a scores "
    "higher (pairwise.csv)."
)
CORRELATION_NOTE = (
    "Correlation of listener scores with each metric over the processed conditions (all but reference, "
    "anchors and mixture), with 95 % percentile bootstrap intervals (correlations.csv)."
)
SYSTEM_NOTE = (
    "System-level correlations have one point per processed condition, so n is small: read them as "
    "descriptive, their bootstrap intervals are wide (or undefined) by construction."
)
TABLES = ("summary", "correlations", "pairwise", "mixed")

Block = tuple[str, object]


def slug(text: str) -> str:
    """File-name-safe form of a protocol or scale name."""
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-") or "x"


def plot_label(text: str) -> str:
    """Text from a CSV made safe for matplotlib (a `$` would start mathtext)."""
    return str(text).replace("$", r"\$")


def score_name(protocol: str, scale: str) -> str:
    """What a mean score is called in sentences: MOS, SIG MOS, MUSHRA score."""
    if scale == "mushra" or protocol == "mushra":
        return "MUSHRA score"
    return "MOS" if scale == "ovrl" and protocol == "acr" else f"{scale.upper()} MOS"


def ordinal(rank: int) -> str:
    """1 -> 'first', ..., 11 -> '11th'."""
    return ORDINALS[rank - 1] if rank <= len(ORDINALS) else f"{rank}th"


def format_p(p: float) -> str:
    """A p-value as written in the report."""
    if not np.isfinite(p):
        return "p not available"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def colours(conditions: list[str]) -> dict[str, tuple]:
    """One colour per condition, the same in every plot."""
    palette = colormaps["tab10" if len(conditions) <= 10 else "tab20"]
    return {c: palette(k % palette.N) for k, c in enumerate(conditions)}


def plot_means(summary: pd.DataFrame, title: str, path: Path) -> Path:
    """Mean score with its 95 % t-interval per condition."""
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(summary))
    err = np.vstack([summary["mean"] - summary["ci95_low"], summary["ci95_high"] - summary["mean"]])
    ax.errorbar(x, summary["mean"], yerr=np.nan_to_num(err), fmt="o", capsize=4)
    ax.set_xticks(x, [plot_label(c) for c in summary["condition"]], rotation=30, ha="right")
    ax.set_ylabel("mean score (95 % CI)")
    ax.set_title(plot_label(title))
    ax.grid(axis="y", alpha=0.3)
    fig.savefig(path, dpi=100)
    return path


def pesq_column(stimuli: pd.DataFrame) -> str:
    """pesq_wb when any stimulus has it, else pesq_nb."""
    return "pesq_wb" if stimuli["pesq_wb"].notna().any() else "pesq_nb"


def plot_metrics(stimuli: pd.DataFrame, palette: dict, title: str, path: Path) -> Path:
    """Per-stimulus mean score against SI-SDR, PESQ, STOI and DNSMOS, coloured by condition."""
    fig = Figure(figsize=(12, 3.6), layout="constrained")
    axes = fig.subplots(1, len(SCATTER_METRICS), sharey=True)
    conditions = report_order(stimuli["condition"])
    handles = {}
    for ax, (metric, label) in zip(axes, SCATTER_METRICS):
        column = pesq_column(stimuli) if metric == "pesq" else metric
        for condition in conditions:
            points = stimuli[stimuli["condition"] == condition].dropna(subset=[column])
            if not points.empty:
                handles[condition] = ax.scatter(points[column], points["score"], s=18, color=palette[condition])
        ax.set_xlabel(f"{label} [{column}]" if metric == "pesq" else label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("mean score per stimulus")
    shown = [c for c in conditions if c in handles]
    fig.legend(
        [handles[c] for c in shown],
        [plot_label(c) for c in shown],
        loc="outside right center",
        fontsize="small",
    )
    fig.suptitle(plot_label(title))
    fig.savefig(path, dpi=100)
    return path


def rankable(systems: pd.DataFrame) -> pd.DataFrame:
    """Processed conditions with both a mean score and a mean SI-SDR."""
    table = systems[systems["condition"].map(is_processed)].dropna(subset=["score", "si_sdr"])
    return table.set_index("condition")


def plot_ranking(systems: pd.DataFrame, palette: dict, title: str, path: Path) -> Path:
    """Slope graph: SI-SDR ranking of the processed conditions next to the listeners' ranking."""
    table = rankable(systems)
    by_sdr = table["si_sdr"].rank(ascending=False, method="first")
    by_ears = table["score"].rank(ascending=False, method="first")
    fig = Figure(figsize=(9, 1.2 + 0.6 * len(table)), layout="constrained")
    ax = fig.subplots()
    for condition, row in table.iterrows():
        ys = (by_sdr[condition], by_ears[condition])
        ax.plot((0, 1), ys, "o-", color=palette[condition], lw=2)
        texts = (f"{row['si_sdr']:.1f} dB", f"{row['score']:.2f}")
        for x, y, text, dx, align in zip((0, 1), ys, texts, (-8, 8), ("right", "left")):
            label = f"{y:.0f}. {plot_label(condition)} ({text})"
            ax.annotate(label, (x, y), xytext=(dx, 0), textcoords="offset points", ha=align, va="center")
    ax.set_xlim(-1.5, 2.5)
    ax.set_ylim(len(table) + 0.5, 0.5)
    ax.set_xticks((0, 1), ("SI-SDR ranking", "listeners' ranking (mean score)"))
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_title(plot_label(title))
    fig.savefig(path, dpi=100)
    return path


def of_group(table: pd.DataFrame, protocol: str, scale: str) -> pd.DataFrame:
    """The rows of one protocol and scale."""
    return table[(table["protocol"] == protocol) & (table["scale"] == scale)]


def make_plots(result: AnalysisResult, out_dir: Path) -> list[tuple[str, Path]]:
    """All plots, as (caption, path), per (protocol, scale)."""
    palette = colours(report_order(result.summary["condition"]))
    plots = []
    for (protocol, scale), summary in result.summary.groupby(GROUP, sort=True):
        name, stem = f"{protocol} / {scale}", f"{slug(protocol)}_{slug(scale)}"
        stimuli = of_group(result.stimuli, protocol, scale)
        systems = of_group(result.systems, protocol, scale)
        path = plot_means(summary, name, out_dir / f"means_{stem}.png")
        plots.append((f"Mean score, {name}", path))
        path = plot_metrics(stimuli, palette, name, out_dir / f"metrics_{stem}.png")
        plots.append((f"Score per stimulus against objective metrics, {name}", path))
        if len(rankable(systems)) >= 2:
            path = plot_ranking(systems, palette, name, out_dir / f"ranking_{stem}.png")
            plots.append((f"SI-SDR ranking next to the listeners' ranking, {name}", path))
    return plots


def pair_test(pairwise: pd.DataFrame, protocol: str, scale: str, a: str, b: str) -> str:
    """'Wilcoxon p = ..., Holm-corrected p = ..., (not) significant' for conditions a and b (either order)."""
    rows = of_group(pairwise, protocol, scale)
    match = rows[
        ((rows["condition_a"] == a) & (rows["condition_b"] == b))
        | ((rows["condition_a"] == b) & (rows["condition_b"] == a))
    ]
    if match.empty:
        return "no paired test"
    row = match.iloc[0]
    text = f"Wilcoxon {format_p(row['p_value'])}, Holm-corrected {format_p(row['p_holm'])}"
    if not np.isfinite(row["p_holm"]):
        return text
    return text + (", significant" if row["p_holm"] < 0.05 else ", not significant") + " at the 5 % level"


def disagreement_sentences(systems: pd.DataFrame, pairwise: pd.DataFrame, protocol: str, scale: str) -> list[str]:
    """Where the SI-SDR ranking of the processed conditions and the listeners' ranking differ."""
    table = rankable(systems)
    if len(table) < 2:
        return []
    what = score_name(protocol, scale)
    sdr_order = table["si_sdr"].sort_values(ascending=False, kind="stable").index.tolist()
    ear_order = table["score"].sort_values(ascending=False, kind="stable").index.tolist()
    first, last = sdr_order[0], sdr_order[-1]

    def heard(c: str) -> str:
        return f"{ordinal(ear_order.index(c) + 1)} ({what} {table.at[c, 'score']:.2f})"

    headline = (
        f"SI-SDR ranks {first} first ({table.at[first, 'si_sdr']:.1f} dB) and {last} last "
        f"({table.at[last, 'si_sdr']:.1f} dB); listeners rank {first} {heard(first)} and {last} {heard(last)}."
    )
    sentences = [headline]
    for a, b in ((a, b) for k, a in enumerate(sdr_order) for b in sdr_order[k + 1 :]):
        if ear_order.index(b) < ear_order.index(a):
            sentences.append(
                f"SI-SDR puts {a} above {b} ({table.at[a, 'si_sdr']:.1f} vs {table.at[b, 'si_sdr']:.1f} dB), "
                f"listeners put {b} above {a} ({what} {table.at[b, 'score']:.2f} vs {table.at[a, 'score']:.2f}, "
                f"{pair_test(pairwise, protocol, scale, a, b)})."
            )
    if len(sentences) == 1:
        sentences.append(f"Listeners and SI-SDR order the {len(table)} processed conditions the same way.")
    return sentences


def disagreements(result: AnalysisResult) -> list[Block]:
    """A heading and the disagreement sentences for every (protocol, scale), generated from the data."""
    blocks = []
    for (protocol, scale), systems in result.systems.groupby(GROUP, sort=True):
        sentences = disagreement_sentences(systems, result.pairwise, protocol, scale)
        if sentences:
            blocks += [("h3", f"{protocol} / {scale}"), ("ul", sentences)]
    return blocks


def count_lines(result: AnalysisResult) -> list[str]:
    """The data section: how many ratings, raters and items, and what was left out."""
    c = result.counts
    reasons = ", ".join(f"{reason}: {n}" for reason, n in c.exclusion_reasons.items()) or "none"
    return [
        f"{c.ratings} ratings from {c.raters} raters in ratings.csv.",
        f"{c.retained} ratings from {c.raters_retained} raters on {c.items} items enter the statistics.",
        f"{c.excluded} ratings were excluded by screening ({reasons}).",
        f"Left out of the statistics as well: demo protocol {c.demo}, trap/gold clips {c.trap_gold}.",
    ]


def build_report(result: AnalysisResult, plots: list[tuple[str, Path]]) -> list[Block]:
    """The report as blocks (h1-h3, p, ul, table, img), rendered to Markdown and to HTML."""
    no_ranking = ("p", "No protocol has two processed conditions with both SI-SDR values and scores.")
    mixed = result.mixed[[*GROUP, "condition", "estimate", "ci95_low", "ci95_high", "converged", "note"]]
    return [
        ("h1", "Listening test report"),
        ("h2", "Data"),
        ("ul", count_lines(result)),
        ("h2", "Where listeners and SI-SDR disagree"),
        *(disagreements(result) or [no_ranking]),
        ("h2", "Mean scores"),
        ("p", "Mean of the retained votes with a 95 % t-interval (summary.csv)."),
        ("table", result.summary),
        *[("img", plot) for plot in plots if plot[1].name.startswith("means_")],
        ("h2", "Mixed-effects model"),
        ("p", MIXED_NOTE),
        ("table", mixed),
        ("h2", "Pairwise comparisons"),
        ("p", PAIRWISE_NOTE),
        ("table", result.pairwise),
        ("h2", "Objective metrics and listeners"),
        ("p", CORRELATION_NOTE),
        ("p", SYSTEM_NOTE),
        ("p", PESQ_NOTE),
        ("table", result.correlations),
        *[("img", plot) for plot in plots if not plot[1].name.startswith("means_")],
    ]


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


def write_tables(result: AnalysisResult, out_dir: Path) -> list[Path]:
    """summary.csv, correlations.csv, pairwise.csv and mixed.csv."""
    paths = []
    for name in TABLES:
        path = out_dir / f"{name}.csv"
        getattr(result, name).to_csv(path, index=False)
        paths.append(path)
    return paths


def analyze(
    ratings_csv: Path, manifest_csv: Path, out_dir: Path, *, n_boot: int = 2000, seed: int = 0
) -> AnalysisResult:
    """Analyse ratings.csv against manifest.csv and write every output into out_dir.

    Raises ValueError (one sentence) when there is nothing to analyse or a file is malformed.
    """
    result = run_analysis(Path(ratings_csv), Path(manifest_csv), n_boot=n_boot, seed=seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = write_tables(result, out_dir)
    plots = make_plots(result, out_dir)
    blocks = build_report(result, plots)
    (out_dir / "report.md").write_text(render_markdown(blocks), encoding="utf-8")
    (out_dir / "report.html").write_text(render_html(blocks), encoding="utf-8")
    result.files = [*files, *(path for _, path in plots), out_dir / "report.md", out_dir / "report.html"]
    return result
