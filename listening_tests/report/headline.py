"""The report's opening: for each pair of processed conditions, the SI-SDR difference next to what listeners heard.

Each pair is told from the condition SI-SDR prefers (a) to the other (b), so the SI-SDR difference is
never positive. Listeners "tie" two conditions when their paired test is not significant after Holm's
correction: the report then never orders them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

import listening_tests.report.formats as formats
from listening_tests.conditions import report_order

HEADLINE_METRIC = "si_sdr"
ALPHA = 0.05


def score_name(protocol: str, scale: str) -> str:
    """What a mean score is called in sentences: MOS, SIG MOS, MUSHRA score, CMOS, net preference."""
    if protocol == "ccr":
        return "CMOS"
    if protocol == "ab":
        return "net preference"
    if scale == "mushra" or protocol == "mushra":
        return "MUSHRA score"
    return "MOS" if scale == "ovrl" and protocol == "acr" else f"{scale.upper()} MOS"


def headline_pairs(gaps: pd.DataFrame, protocol: str, scale: str, metric: str = HEADLINE_METRIC) -> pd.DataFrame:
    """gaps.csv rows of one group and metric, one per unordered pair, a being the condition the metric prefers.

    Largest metric difference first; an exact metric tie keeps the report order of the two conditions.
    """
    rows = gaps[(gaps["protocol"] == protocol) & (gaps["scale"] == scale) & (gaps["metric"] == metric)]
    order = {c: k for k, c in enumerate(report_order(rows["condition_a"]))}
    first = rows["condition_a"].map(order) < rows["condition_b"].map(order)
    keep = (rows["metric_delta"] < 0) | ((rows["metric_delta"] == 0) & first)
    return rows[keep].sort_values("metric_delta", kind="stable").reset_index(drop=True)


def tied(p_holm: float) -> bool:
    """Listeners cannot tell the two conditions apart (or there is no test to say they can)."""
    return not (np.isfinite(p_holm) and p_holm < ALPHA)


def listeners(row: pd.Series) -> str:
    """What listeners say of a pair: tied, or which condition they score higher, with the Holm p."""
    p = formats.p_value(row["p_holm"]).replace("p", "Holm p", 1)
    if not np.isfinite(row["p_holm"]):
        return "listeners: no paired test (fewer than 2 items rated in both)"
    if tied(row["p_holm"]):
        return f"listeners: tied, not significant ({p})"
    higher = row["condition_a"] if row["mos_delta"] < 0 else row["condition_b"]
    return f"listeners: {higher} higher, significant ({p})"


def gap_sentence(row: pd.Series, protocol: str, scale: str) -> str:
    """'b against a: SI-SDR -34.1 dB, MOS -0.12 (95 % CI -0.30 to +0.05, 18 items); listeners: tied (...).'"""
    ci = formats.interval(row["mos_delta_ci95_low"], row["mos_delta_ci95_high"], protocol, signed=True)
    return (
        f"{row['condition_b']} against {row['condition_a']}: "
        f"{formats.METRIC_LABELS[row['metric']]} {formats.metric(row['metric_delta'], row['metric'], signed=True)}, "
        f"{score_name(protocol, scale)} {formats.score(row['mos_delta'], protocol, signed=True)} "
        f"(95 % CI {ci}, {row['n_items']} items); {listeners(row)}."
    )


def gap_sentences(gaps: pd.DataFrame, protocol: str, scale: str) -> list[str]:
    """The opening sentences of one protocol and scale, largest SI-SDR difference first."""
    return [gap_sentence(row, protocol, scale) for _, row in headline_pairs(gaps, protocol, scale).iterrows()]


def agreement_sentence(gaps: pd.DataFrame, protocol: str, scale: str) -> str | None:
    """Whether listeners order the processed conditions as SI-SDR does, counting tied and reversed pairs."""
    pairs = headline_pairs(gaps, protocol, scale)
    if pairs.empty:
        return None
    ties = [r for _, r in pairs.iterrows() if tied(r["p_holm"])]
    reversed_ = [r for _, r in pairs.iterrows() if not tied(r["p_holm"]) and r["mos_delta"] > 0]
    n = len(pairs)
    conditions = len(set(pairs["condition_a"]) | set(pairs["condition_b"]))
    if not ties and not reversed_:
        return (
            f"Listeners and SI-SDR order the {conditions} processed conditions the same way, every pair significantly."
        )
    parts = []
    if ties:
        names = "; ".join(f"{r['condition_a']} and {r['condition_b']}" for r in ties)
        parts.append(f"listeners tie {len(ties)} of the {n} pairs that SI-SDR orders ({names})")
    if reversed_:
        names = "; ".join(f"{r['condition_b']} above {r['condition_a']}" for r in reversed_)
        parts.append(f"listeners significantly reverse SI-SDR on {len(reversed_)} ({names})")
    return (
        f"Listeners and SI-SDR do not order the {conditions} processed conditions the same way: "
        + ", and ".join(parts)
        + "."
    )
