"""One precision per quantity: how the report writes scores, metrics, coefficients and p-values.

Every number of the report's sentences and tables goes through here, so a quantity reads the same
everywhere: a 1-5 score with 2 decimals, a MUSHRA score with 1, SI-SDR in dB with 1, STOI with 3,
PESQ and DNSMOS with 2, a correlation with 2, a p-value with 3 (or "< 0.001").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

METRIC_LABELS = {
    "si_sdr": "SI-SDR",
    "si_sdr_i": "SI-SDRi",
    "pesq_nb": "PESQ NB",
    "pesq_wb": "PESQ WB",
    "stoi": "STOI",
    "estoi": "ESTOI",
    "dnsmos_sig": "DNSMOS SIG",
    "dnsmos_bak": "DNSMOS BAK",
    "dnsmos_ovrl": "DNSMOS OVRL",
}
METRIC_DECIMALS = {"si_sdr": 1, "si_sdr_i": 1, "stoi": 3, "estoi": 3}  # PESQ and DNSMOS: 2
METRIC_UNITS = {"si_sdr": " dB", "si_sdr_i": " dB"}
NOT_AVAILABLE = "n/a"
N_TOO_SMALL = "n too small"

# Table columns by the quantity they hold; a column not listed is written as it is.
COUNT_COLUMNS = {"n", "n_ratings", "n_raters", "n_items", "n_stimuli", "n_votes", "n_sessions", "stimuli_below_min"}
COUNT_COLUMNS |= {"alpha_n_raters", "alpha_n_stimuli", "icc_n_raters", "icc_n_targets"}
COUNT_COLUMNS |= {"votes_per_stimulus_min", "votes_per_stimulus_max", "n_ci", "df"}
COUNT_COLUMNS |= {"n_a_first", "n_b_first", "rank", "n_comparisons", "n_wins", "n_ties_dropped"}
SCORE_COLUMNS = {"mean", "std", "median", "estimate", "se", "mean_a", "mean_b", "mean_diff", "score"}
SCORE_COLUMNS |= {"mos_delta", "mos_delta_ci95_low", "mos_delta_ci95_high", "ci95_low", "ci95_high"}
SCORE_COLUMNS |= {"rmse", "eps_rmse"}
COEFFICIENT_COLUMNS = {"pearson", "spearman", "kendall", "rank_biserial", "alpha", "icc2k"}
COEFFICIENT_COLUMNS |= {"icc2k_ci95_low", "icc2k_ci95_high", "pearson_mapped", "r1", "r2", "r12", "outlier_ratio"}
COEFFICIENT_COLUMNS |= {f"{c}_ci_{end}" for c in ("pearson", "spearman", "kendall") for end in ("low", "high")}
P_COLUMNS = {"p_value", "p_holm"}
VARIANCE_COLUMNS = {"rater_var", "item_var", "residual_var"}


def plot_label(text: str) -> str:
    """Text from a CSV made safe for matplotlib (a `$` would start mathtext)."""
    return str(text).replace("$", r"\$")


def score_decimals(protocol: str) -> int:
    """Decimals of a mean score: 1 on the 0-100 MUSHRA scale, 2 on the 1-5 scales."""
    return 1 if protocol == "mushra" else 2


def number(value: object, decimals: int, signed: bool = False) -> str:
    """A number with fixed decimals ("n/a" when missing); signed adds + to positive values."""
    if value is None or not np.isfinite(float(value)):
        return NOT_AVAILABLE
    return f"{float(value):{'+' if signed else ''}.{decimals}f}"


def score(value: float, protocol: str, signed: bool = False) -> str:
    """A mean score (or a difference of scores) of this protocol."""
    return number(value, score_decimals(protocol), signed)


def metric(value: float, name: str, signed: bool = False) -> str:
    """A metric value (or difference) with its unit, e.g. '-34.2 dB'."""
    text = number(value, METRIC_DECIMALS.get(name, 2), signed)
    return text if text == NOT_AVAILABLE else text + METRIC_UNITS.get(name, "")


def p_value(p: float) -> str:
    """A p-value as written in the report: 'p = 0.041', 'p < 0.001'."""
    if not np.isfinite(p):
        return "p not available"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def interval(low: float, high: float, protocol: str, signed: bool = False) -> str:
    """A 95 % interval of scores, or 'n too small' where none was computed."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return N_TOO_SMALL
    return f"{score(low, protocol, signed)} to {score(high, protocol, signed)}"


def _cell(column: str, value: object, protocol: str, row: pd.Series) -> str:
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.integer | np.floating):
        return str(value)
    if column in COUNT_COLUMNS:
        return NOT_AVAILABLE if not np.isfinite(value) else str(int(value))
    if column in SCORE_COLUMNS:
        return score(value, protocol)
    if column == "metric_delta":
        return metric(value, str(row.get("metric", "")), signed=True)
    if column in COEFFICIENT_COLUMNS:
        return number(value, 2)
    if column in P_COLUMNS:
        return NOT_AVAILABLE if not np.isfinite(value) else ("< 0.001" if value < 0.001 else f"{value:.3f}")
    if column in VARIANCE_COLUMNS:
        return number(value, 3)
    if column == "votes_per_stimulus_median":
        return number(value, 1)
    return number(value, 2)


def table(frame: pd.DataFrame, protocol: str) -> pd.DataFrame:
    """The table as text, every column at its quantity's precision; an interval below n=3 reads 'n too small'."""
    out = pd.DataFrame(
        [[_cell(c, v, protocol, row) for c, v in row.items()] for _, row in frame.iterrows()],
        columns=frame.columns,
        index=frame.index,
    )
    for low, high in (("ci95_low", "ci95_high"), ("mos_delta_ci95_low", "mos_delta_ci95_high")):
        if low in out and high in out:
            missing = frame[low].isna() & frame[high].isna()
            out.loc[missing, [low, high]] = N_TOO_SMALL
    return out
