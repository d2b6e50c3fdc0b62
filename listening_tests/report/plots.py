"""The report's plots (PNG): mean scores, scores against metrics, and the two rankings side by side."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from listening_tests.analysis import AnalysisResult
from listening_tests.analysis.inputs import GROUP
from listening_tests.conditions import is_processed, report_order

SCATTER_METRICS = (
    ("si_sdr", "SI-SDR (dB)"),
    ("pesq", "PESQ (legacy P.862)"),
    ("stoi", "STOI"),
    ("dnsmos_ovrl", "DNSMOS OVRL"),
)


def slug(text: str) -> str:
    """File-name-safe form of a protocol or scale name."""
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-") or "x"


def plot_label(text: str) -> str:
    """Text from a CSV made safe for matplotlib (a `$` would start mathtext)."""
    return str(text).replace("$", r"\$")


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
