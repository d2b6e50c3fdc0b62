"""mixed.csv: a mixed-effects model of the scores (rater and item as crossed random intercepts)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf

from listening_tests.analysis.inputs import GROUP
from listening_tests.conditions import report_order

MIXED_COLUMNS = (
    "protocol",
    "scale",
    "condition",
    "estimate",
    "se",
    "ci95_low",
    "ci95_high",
    "n_ratings",
    "n_raters",
    "n_items",
    "rater_var",
    "item_var",
    "residual_var",
    "converged",
    "note",
)


def _mixed_rows(group: pd.DataFrame, conditions: list[str], note: str) -> list[dict]:
    """Rows of one (protocol, scale) where the model could not be fitted."""
    sizes = group["condition"].value_counts()
    return [{"condition": c, "n_ratings": int(sizes[c]), "note": note} for c in conditions]


def fit_mixed(group: pd.DataFrame) -> list[dict]:
    """Fit score ~ 0 + C(condition) with rater and item as crossed random intercepts.

    statsmodels expresses crossed effects as variance components of a single group. A factor with
    one level is left out of the random part (noted). The estimate of a condition is its fixed
    effect: the model's mean score of that condition, with a normal 95 % interval.
    """
    conditions = report_order(group["condition"])
    data = pd.DataFrame(
        {
            "score": group["score"].to_numpy(float),
            "cond": pd.Categorical(group["condition"], categories=conditions),
            "rater": group["rater_id"].to_numpy(),
            "item": group["item_id"].to_numpy(),
            "one": 0,
        }
    )
    vc = {name: f"0 + C({name})" for name in ("rater", "item") if data[name].nunique() > 1}
    notes = [f"one {name} only: no {name} variance" for name in ("rater", "item") if name not in vc]
    if not vc:
        return _mixed_rows(group, conditions, "cannot fit a mixed model: one rater and one item")
    if len(data) <= len(conditions) + len(vc) + 1:
        return _mixed_rows(group, conditions, f"cannot fit a mixed model: only {len(data)} ratings")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = smf.mixedlm("score ~ 0 + C(cond)", data, groups="one", re_formula="0", vc_formula=vc)
            fit = model.fit(reml=True, method=["lbfgs", "powell"])  # powell when lbfgs does not converge
            se = fit.bse_fe  # a singular covariance warns here (NaN standard errors): noted like the fit's warnings
            low, high = fit.conf_int().iloc[: len(conditions)].to_numpy().T
    except ValueError as exc:  # numpy's LinAlgError (singular matrix) is a ValueError too
        return _mixed_rows(group, conditions, f"cannot fit a mixed model: {exc}")
    relevant = [w for w in caught if issubclass(w.category, (UserWarning, RuntimeWarning))]
    notes += dict.fromkeys(str(w.message).splitlines()[0] for w in relevant)  # unique, in order
    variances = dict(zip(model.exog_vc.names, fit.vcomp))
    return [
        {
            "condition": c,
            "estimate": fit.fe_params.iloc[k],
            "se": se.iloc[k],
            "ci95_low": low[k],
            "ci95_high": high[k],
            "n_ratings": int((data["cond"] == c).sum()),
            "rater_var": variances.get("rater", np.nan),
            "item_var": variances.get("item", np.nan),
            "residual_var": fit.scale,
            "converged": bool(fit.converged),
            "note": "; ".join(notes),
        }
        for k, c in enumerate(conditions)
    ]


def mixed_effects(retained: pd.DataFrame) -> pd.DataFrame:
    """mixed.csv: the mixed-model mean score of each condition per (protocol, scale).

    Where a model cannot be fitted the rows keep NaN estimates and `note` says why.
    """
    rows = []
    for (protocol, scale), group in retained.groupby(GROUP, sort=True):
        sizes = {"n_raters": group["rater_id"].nunique(), "n_items": group["item_id"].nunique()}
        rows += [{"protocol": protocol, "scale": scale, **sizes, **r} for r in fit_mixed(group)]
    return pd.DataFrame(rows).reindex(columns=list(MIXED_COLUMNS))
