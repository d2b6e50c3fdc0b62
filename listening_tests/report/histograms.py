"""The report's vote histograms: how the retained votes of one protocol and scale spread, per condition."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from listening_tests.conditions import report_order
from listening_tests.protocols import INTEGER_SCORES, SCORE_RANGE
from listening_tests.report.formats import plot_label

BAR_COLOUR = "#0072B2"  # Okabe-Ito blue: colour-blind safe
COLUMNS = 4  # at most 4 panels per row: 1280 px wide at dpi 100 leaves each about 300 px
PANEL_HEIGHT_IN = 2.4
MUSHRA_BIN = 10  # MUSHRA votes are counted in 10-point bins over 0-100


def scale_bins(protocol: str) -> tuple[np.ndarray, np.ndarray, float]:
    """(bin edges, bar positions, bar width) of a protocol's scale: one bin per category, or 10-point bins."""
    low, high = SCORE_RANGE[protocol]
    if INTEGER_SCORES[protocol]:
        centres = np.arange(low, high + 1, dtype=float)
        return np.append(centres - 0.5, high + 0.5), centres, 0.8
    edges = np.arange(low, high + MUSHRA_BIN, MUSHRA_BIN, dtype=float)
    return edges, edges[:-1] + MUSHRA_BIN / 2, 0.9 * MUSHRA_BIN


def plot_histograms(retained_group: pd.DataFrame, title: str, path: Path) -> Path:
    """One panel per condition (report order): retained votes at each category or bin of the scale.

    `retained_group` holds the retained votes of one protocol and scale; every panel shares the scale's
    fixed x range, all categories shown even when empty.
    """
    protocol = str(retained_group["protocol"].iloc[0])
    edges, centres, width = scale_bins(protocol)
    conditions = report_order(retained_group["condition"])
    columns = min(COLUMNS, len(conditions))
    rows = math.ceil(len(conditions) / columns)
    fig = Figure(figsize=(12.8, 0.8 + PANEL_HEIGHT_IN * rows), layout="constrained")
    fig.get_layout_engine().set(wspace=0.06)  # keeps "100" of one panel clear of the next panel's "0"
    axes = fig.subplots(rows, columns, sharex=True, sharey=True, squeeze=False).ravel()
    for k, (ax, condition) in enumerate(zip(axes, conditions)):
        scores = retained_group.loc[retained_group["condition"] == condition, "score"].to_numpy(float)
        counts, _ = np.histogram(scores, bins=edges)
        ax.bar(centres, counts, width=width, color=BAR_COLOUR)
        ax.set_title(f"{plot_label(condition)} (n = {len(scores)})", fontsize="medium")
        ax.grid(axis="y", alpha=0.3)
        ax.tick_params(labelbottom=k + columns >= len(conditions))  # the lowest panel of each column shows the scale
    for ax in axes[len(conditions) :]:
        ax.set_visible(False)
    axes[0].set_xlim(edges[0], edges[-1])
    if INTEGER_SCORES[protocol]:
        axes[0].set_xticks(centres)
    axes[0].yaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in axes[::columns]:
        ax.set_ylabel("votes")
    fig.supxlabel("score")
    fig.suptitle(plot_label(title))
    fig.savefig(path, dpi=100)
    return path
