"""The report's plots (PNG): the metric-vs-listener gap, mean scores, and scores against metrics.

Colours come from the Okabe-Ito palette (distinguishable with every common colour-vision deficiency);
score axes span the protocol's whole scale so that two plots can be compared by eye.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from listening_tests.analysis import AnalysisResult
from listening_tests.analysis.inputs import GROUP
from listening_tests.conditions import report_order
from listening_tests.protocols import PROTOCOL_RANGE
from listening_tests.report.formats import METRIC_LABELS, plot_label
from listening_tests.report.headline import HEADLINE_METRIC, headline_pairs, score_name
from listening_tests.report.histograms import plot_histograms

OKABE_ITO = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")  # with more conditions than colours, shape tells them apart
SCATTER_METRICS = ("si_sdr", "pesq", "stoi", "dnsmos_ovrl")


def slug(text: str) -> str:
    """File-name-safe form of a protocol or scale name."""
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-") or "x"


def styles(conditions: list[str]) -> dict[str, tuple[str, str]]:
    """One (colour, marker) per condition, the same in every plot."""
    return {
        c: (OKABE_ITO[k % len(OKABE_ITO)], MARKERS[k // len(OKABE_ITO) % len(MARKERS)])
        for k, c in enumerate(conditions)
    }


def scale_limits(protocol: str) -> tuple[float, float]:
    """The score axis: the protocol's scale with a small margin."""
    low, high = PROTOCOL_RANGE[protocol]
    margin = 0.04 * (high - low)
    return low - margin, high + margin


def plot_gap(gaps: pd.DataFrame, protocol: str, scale: str, path: Path) -> Path | None:
    """Per pair of processed conditions: SI-SDR difference (x) against listener score difference (y, 95 % CI).

    Filled markers are pairs listeners tell apart (Holm p < 0.05), hollow ones are tied. None when no
    pair has an SI-SDR difference.
    """
    pairs = headline_pairs(gaps, protocol, scale)
    if pairs.empty:
        return None
    low, high = PROTOCOL_RANGE[protocol]
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.subplots()
    for k, row in enumerate(pairs.itertuples()):
        colour = OKABE_ITO[k % len(OKABE_ITO)]
        err = np.array([[row.mos_delta - row.mos_delta_ci95_low], [row.mos_delta_ci95_high - row.mos_delta]])
        tied = not (np.isfinite(row.p_holm) and row.p_holm < 0.05)
        ax.errorbar(
            row.metric_delta,
            row.mos_delta,
            yerr=np.nan_to_num(err),
            fmt="o",
            ms=9,
            capsize=5,
            color=colour,
            mfc="white" if tied else colour,
            label=plot_label(f"{row.condition_b} vs {row.condition_a}" + (" (tied)" if tied else "")),
        )
    reach = max(1.0, 1.15 * _largest_magnitude(pairs["metric_delta"]))
    half = max((high - low) / 2, 1.1 * _largest_magnitude(pairs[["mos_delta_ci95_low", "mos_delta_ci95_high"]]))
    ax.set_xlim(-reach, reach)
    ax.set_ylim(-half, half)
    ax.axhline(0, color="grey", lw=0.8)
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_xlabel(f"{METRIC_LABELS[HEADLINE_METRIC]} difference, b minus a (dB)")
    ax.set_ylabel(f"{score_name(protocol, scale)} difference, b minus a (95 % CI)")
    ax.set_title(plot_label(f"{protocol} / {scale}: what SI-SDR says against what listeners heard"))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize="small")
    fig.savefig(path, dpi=100)
    return path


def plot_means(summary: pd.DataFrame, protocol: str, title: str, path: Path) -> Path:
    """Mean score per condition with its 95 % t-interval (none below n=3), on the whole scale; n under each."""
    fig = Figure(figsize=(8, 4), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(summary))
    err = np.vstack([summary["mean"] - summary["ci95_low"], summary["ci95_high"] - summary["mean"]])
    ax.errorbar(x, summary["mean"], yerr=np.nan_to_num(err), fmt="o", capsize=4, color=OKABE_ITO[4])
    bottom, top = scale_limits(protocol)
    for k, n in enumerate(summary["n_ratings"]):
        ax.annotate(f"n={n}", (x[k], bottom), xytext=(0, 3), textcoords="offset points", ha="center", fontsize=8)
    ax.set_ylim(bottom, top)
    ax.set_xticks(x, [plot_label(c) for c in summary["condition"]], rotation=30, ha="right")
    ax.set_ylabel("mean score (95 % CI)")
    ax.set_title(plot_label(title))
    ax.grid(axis="y", alpha=0.3)
    fig.savefig(path, dpi=100)
    return path


def pesq_column(stimuli: pd.DataFrame) -> str:
    """pesq_wb when any stimulus has it, else pesq_nb."""
    return "pesq_wb" if stimuli["pesq_wb"].notna().any() else "pesq_nb"


def plot_metrics(stimuli: pd.DataFrame, style: dict, protocol: str, title: str, path: Path) -> Path:
    """Per-stimulus mean score against SI-SDR, PESQ, STOI and DNSMOS, one colour and marker per condition."""
    fig = Figure(figsize=(12, 3.8), layout="constrained")
    axes = fig.subplots(1, len(SCATTER_METRICS), sharey=True)
    conditions = report_order(stimuli["condition"])
    handles = {}
    for ax, name in zip(axes, SCATTER_METRICS):
        column = pesq_column(stimuli) if name == "pesq" else name
        for condition in conditions:
            points = stimuli[stimuli["condition"] == condition].dropna(subset=[column])
            if not points.empty:
                colour, marker = style[condition]
                handles[condition] = ax.scatter(points[column], points["score"], s=18, color=colour, marker=marker)
        ax.set_xlabel(METRIC_LABELS[column] + (" (legacy P.862)" if name == "pesq" else ""))
        ax.grid(alpha=0.3)
    axes[0].set_ylim(*scale_limits(protocol))
    axes[0].set_ylabel("mean score per stimulus")
    shown = [c for c in conditions if c in handles]
    fig.legend(
        [handles[c] for c in shown], [plot_label(c) for c in shown], loc="outside right center", fontsize="small"
    )
    fig.suptitle(plot_label(title))
    fig.savefig(path, dpi=100)
    return path


def of_group(table: pd.DataFrame, protocol: str, scale: str) -> pd.DataFrame:
    """The rows of one protocol and scale."""
    return table[(table["protocol"] == protocol) & (table["scale"] == scale)]


def make_plots(result: AnalysisResult, out_dir: Path) -> dict[tuple[str, str], dict[str, tuple[str, Path]]]:
    """All plots per (protocol, scale): {"gap" | "means" | "histograms" | "metrics": (caption, path)}."""
    style = styles(report_order(result.summary["condition"]))
    plots: dict[tuple[str, str], dict[str, tuple[str, Path]]] = {}
    for (protocol, scale), summary in result.summary.groupby(GROUP, sort=True):
        name, stem = f"{protocol} / {scale}", f"{slug(protocol)}_{slug(scale)}"
        group = plots.setdefault((protocol, scale), {})
        gap = plot_gap(result.gaps, protocol, scale, out_dir / f"gap_{stem}.png")
        if gap is not None:
            group["gap"] = (f"SI-SDR difference against listener score difference per pair, {name}", gap)
        path = plot_means(summary, protocol, name, out_dir / f"means_{stem}.png")
        group["means"] = (f"Mean score, {name}", path)
        path = plot_histograms(of_group(result.votes, protocol, scale), name, out_dir / f"votes_{stem}.png")
        group["histograms"] = (f"Retained votes per condition, {name}", path)
        path = plot_metrics(
            of_group(result.stimuli, protocol, scale), style, protocol, name, out_dir / f"metrics_{stem}.png"
        )
        group["metrics"] = (f"Score per stimulus against objective metrics, {name}", path)
    return plots


def _largest_magnitude(values: pd.Series | pd.DataFrame) -> float:
    """The largest finite |value|, 0 when there is none (e.g. every interval undefined at n < 3)."""
    finite = np.abs(np.asarray(values, dtype=float))
    finite = finite[np.isfinite(finite)]
    return float(finite.max()) if finite.size else 0.0
