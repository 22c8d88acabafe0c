"""Effect sizes: per-SD estimates, their conversion to r, and the rows of `results/effects.csv`.

Conversions (documented in ANALYSIS_PLAN.md):
- `points` (linear models): the standardised slope, r = b / SD(outcome), b per SD of alliance.
- `log_odds` (logistic models): d = b * sqrt(3) / pi (Chinn 2000; Hasselblad & Hedges 1995), the
  standardised slope on the latent logistic scale; because the predictor is continuous (per SD) the
  latent correlation is r = d / sqrt(d^2 + 1) (McKelvey & Zavoina 1975). A binary predictor would use
  r = d / sqrt(d^2 + 4) (Borenstein et al. 2009), which is how the dropout benchmark d = .55 is converted.
  For a binary predictor (e.g. a rupture before the session) the coefficient is a log odds ratio
  between two groups, so r = d / sqrt(d^2 + a) with a = (n1 + n0)^2 / (n1 * n0) (Borenstein et al.
  2009, eq. 7.7), a = 4 for equal groups.
- `log_hazard` (Cox models): the proportional-hazards model is a linear model for log time with an
  extreme-value (Gumbel) error of variance pi^2 / 6 (Kalbfleisch & Prentice 2002, section 2.3), so
  d = b * sqrt(6) / pi and r = d / sqrt(d^2 + 1) as for the logistic models.
CIs of r are the CI bounds converted the same way (the conversions are monotone). None of these r is the
metric of a meta-analytic benchmark: `alliance.models.benchmarks` computes those comparisons in their own
metrics.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests

EFFECT_COLUMNS = [
    "outcome", "model", "predictor", "scale", "estimate", "std_error", "ci_low", "ci_high",
    "p_value", "r", "r_ci_low", "r_ci_high", "n_obs", "n_patients", "n_therapists", "analysis",
]
SCALES = ("log_odds", "log_hazard", "points")

# Meta-analytic benchmarks as correlations (sign: positive = better alliance, better outcome).
BENCHMARKS = {
    "alliance_outcome": {"r": 0.278, "ci_low": 0.256, "ci_high": 0.299,
                         "source": "Flückiger, Del Re, Wampold & Horvath (2018), 295 studies"},
    "alliance_dropout": {"d": 0.55, "source": "Sharf, Primavera & Diener (2010), 11 studies"},
}


def log_odds_to_d(b: float) -> float:
    """Log-odds to a standardised difference on the latent logistic scale (Chinn 2000)."""
    return b * math.sqrt(3) / math.pi


def log_hazard_to_d(b: float) -> float:
    """Log-hazard to a standardised difference on the latent extreme-value scale (variance pi^2 / 6)."""
    return b * math.sqrt(6) / math.pi


def d_to_r(d: float, a: float = 1.0) -> float:
    """d to r: a = 1 for a per-SD (continuous) predictor, a = 4 for two equal groups."""
    return d / math.sqrt(d * d + a)


def groups_a(n1: int, n0: int) -> float:
    """The `a` of d-to-r for two groups of sizes n1 and n0 (4 when equal)."""
    return (n1 + n0) ** 2 / (n1 * n0)


def to_r(value: float, scale: str, outcome_sd: float | None = None, *, a: float = 1.0) -> float:
    """Convert one effect on `scale` to a correlation (per SD of a continuous predictor; for a binary
    one pass `a` from `groups_a`)."""
    if not np.isfinite(value):
        return float("nan")
    if scale == "points":
        if not outcome_sd:
            raise ValueError("a points effect needs the outcome SD to convert to r")
        return float(value / outcome_sd)
    if scale == "log_odds":
        return float(d_to_r(log_odds_to_d(value), a))
    if scale == "log_hazard":
        return float(d_to_r(log_hazard_to_d(value), a))
    raise ValueError(f"unknown scale '{scale}', expected one of {SCALES}")


def effect_row(
    *,
    outcome: str, model: str, predictor: str, scale: str, estimate: float, std_error: float,
    ci_low: float, ci_high: float, p_value: float, n_obs: int, n_patients: int, n_therapists: int,
    analysis: str, outcome_sd: float | None = None, r_a: float = 1.0,
) -> dict:
    """One row of the effects table, with r and its CI (`r_a`: see `to_r`)."""
    return {
        "outcome": outcome, "model": model, "predictor": predictor, "scale": scale,
        "estimate": float(estimate), "std_error": float(std_error), "ci_low": float(ci_low),
        "ci_high": float(ci_high), "p_value": float(p_value),
        "r": to_r(estimate, scale, outcome_sd, a=r_a), "r_ci_low": to_r(ci_low, scale, outcome_sd, a=r_a),
        "r_ci_high": to_r(ci_high, scale, outcome_sd, a=r_a), "n_obs": int(n_obs),
        "n_patients": int(n_patients), "n_therapists": int(n_therapists), "analysis": analysis,
    }


def effects_table(results: list[dict]) -> pd.DataFrame:
    """The rows of every model result, in the documented column order."""
    rows = [row for result in results for row in result["effects"]]
    return pd.DataFrame(rows, columns=EFFECT_COLUMNS)


ADJUSTED_FAMILIES = ("secondary", "exploratory")
MULTIPLICITY_COLUMNS = ["outcome", "model", "predictor", "analysis", "p_value", "q_value", "family_size"]


def multiplicity_table(effects: pd.DataFrame) -> pd.DataFrame:
    """Benjamini-Hochberg false-discovery-rate q-values within the secondary and within the exploratory
    effects (Benjamini & Hochberg 1995; statsmodels' `fdr_bh`). Primary effects (one pre-specified test
    per outcome) and sensitivity analyses (re-estimates of a primary effect) are listed unadjusted, with
    q = p and a family size of 1. Rows without a p-value keep q missing and do not count.
    """
    table = effects[MULTIPLICITY_COLUMNS[:5]].copy()
    table["q_value"] = table["p_value"].astype(float)
    table["family_size"] = 1
    for family in ADJUSTED_FAMILIES:
        rows = table.index[(table["analysis"] == family) & table["p_value"].notna()]
        if len(rows):
            table.loc[rows, "q_value"] = multipletests(table.loc[rows, "p_value"], method="fdr_bh")[1]
            table.loc[rows, "family_size"] = len(rows)
    table.loc[table["p_value"].isna(), "family_size"] = 0
    return table[MULTIPLICITY_COLUMNS]


def benchmark_comparable(effects: pd.DataFrame) -> pd.DataFrame:
    """The rows of the forest plot: primary and secondary effects of a continuous alliance predictor per
    SD, without the therapist/patient split parts and the per-discipline slopes (parts of an effect, not
    effects of their own). Their r are drawn beside the alliance-outcome band for orientation only: the
    like-for-like comparisons are `alliance.models.benchmarks`'."""
    predictor = effects["predictor"].astype(str)
    keep = (effects["analysis"].isin(["primary", "secondary"])
            & ~predictor.str.contains("[", regex=False)
            & ~predictor.str.endswith(("_therapist", "_patient"))
            & (predictor != "rupture_before"))
    return effects[keep]
