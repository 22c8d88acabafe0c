"""The measurement report of a run: psychometrics of the configured alliance instrument in this sample.

Item-level analyses (reliability, item statistics, CFA, item distributions) use one questionnaire per
patient, the first scored one, so that rows are independent (sessions are nested in patients). Variance
components use every scored session (patient means for the therapist ICC).
"""

from __future__ import annotations

import pandas as pd

from alliance.instruments import Instrument
from alliance.psychometrics import (
    cfa_compare,
    item_statistics,
    rater_agreement,
    reliability_by_sessions,
    scale_reliability,
    therapist_icc,
)
from alliance.scores import ALLIANCE_PREFIX, THERAPIST_PREFIX, TOTAL

# Columns of each table, so that a table with no rows still says what it would hold.
COLUMNS = {
    "reliability": ["scale", "n", "n_items", "alpha", "alpha_ci_low", "alpha_ci_high", "omega",
                    "omega_converged", "floor_share", "ceiling_share", "skew"],
    "item_statistics": ["item", "subscale", "n", "mean", "sd", "floor_share", "ceiling_share", "skew",
                        "corrected_r_subscale", "corrected_r_total"],
    "item_distribution": ["item", "value", "n", "share"],
    "cfa_fit": ["model", "n", "chi2", "dof", "p_value", "cfi", "tli", "rmsea", "srmr", "aic", "bic",
                "converged"],
    "cfa_parameters": ["model", "kind", "factor", "item", "std_loading"],
    "agreement": ["n", "pearson_r", "r_ci_low", "r_ci_high", "mean_difference", "sd_difference",
                  "loa_low", "loa_high"],
}


def first_questionnaires(sessions: pd.DataFrame, session_scores: pd.DataFrame) -> pd.DataFrame:
    """Each patient's first attended session with a scored alliance questionnaire answered by item."""
    used = session_scores["attended"] & session_scores[TOTAL].notna() & (
        session_scores[f"{ALLIANCE_PREFIX}n_answered"] > 0)
    rows = sessions[used.to_numpy()].sort_values(["patient_id", "session"], kind="stable")
    return rows.drop_duplicates("patient_id", keep="first").reset_index(drop=True)


def item_distribution(items: pd.DataFrame, instrument: Instrument) -> pd.DataFrame:
    """Share of each answer per item (as answered, before reverse keying); whole-number scales only."""
    long = items[instrument.item_columns].melt(var_name="item", value_name="value").dropna()
    counts = long.groupby(["item", "value"]).size().rename("n").reset_index()
    counts["share"] = counts["n"] / counts.groupby("item")["n"].transform("sum")
    return counts


def total_alpha(reliability: pd.DataFrame) -> float | None:
    """Cronbach's alpha of the total in this sample, None when item-level data were not available."""
    total = reliability.loc[reliability["scale"] == "total", "alpha"]
    return float(total.iloc[0]) if len(total) and pd.notna(total.iloc[0]) else None


def measurement_tables(
    patients: pd.DataFrame,
    sessions: pd.DataFrame,
    session_scores: pd.DataFrame,
    instruments: dict[str, Instrument | None],
    settings: dict,
) -> dict[str, pd.DataFrame]:
    """Every table of `results/psychometrics/`, keyed by the names in `PSYCHOMETRIC_TABLES`."""
    alliance = instruments["alliance"]
    first = first_questionnaires(sessions, session_scores)
    notes = []
    if len(first) > len(alliance.item_columns):
        reliability = scale_reliability(first, alliance)
        fit, parameters = cfa_compare(first, alliance)
        items = item_statistics(first, alliance)
        distribution = (item_distribution(first, alliance) if alliance.integer
                        else _empty("item_distribution"))
        notes += reliability.attrs.get("notes", []) + fit.attrs.get("notes", [])
    else:
        notes.append("Item-level psychometrics were not possible: the data hold pre-scored alliance "
                     "(or too few questionnaires answered by item).")
        reliability, fit, parameters, items, distribution = (_empty(name) for name in (
            "reliability", "cfa_fit", "cfa_parameters", "item_statistics", "item_distribution"))
    scored = session_scores[session_scores["attended"] & session_scores[TOTAL].notna()]
    values = scored[["patient_id", TOTAL]].rename(columns={TOTAL: "value"})
    means = values.groupby("patient_id", as_index=False)["value"].mean().merge(
        patients[["patient_id", "therapist_id"]], on="patient_id")
    icc = therapist_icc(means, n_boot=settings["bootstrap"], seed=settings["seed"])
    by_sessions = reliability_by_sessions(values, max_sessions=settings["max_sessions"])
    session_icc = by_sessions.attrs["session_icc"]
    by_sessions["session_icc"] = session_icc["icc"]
    therapist_total = f"{THERAPIST_PREFIX}total"
    agreement = pd.DataFrame([rater_agreement(scored[TOTAL], scored[therapist_total])]) if (
        instruments.get("therapist") is not None and scored[therapist_total].notna().sum() > 2
    ) else _empty("agreement")
    return {
        "reliability": reliability, "item_statistics": items, "item_distribution": distribution,
        "cfa_fit": fit, "cfa_parameters": parameters, "therapist_icc": pd.DataFrame([icc]),
        "reliability_by_sessions": by_sessions, "agreement": agreement,
        "notes": pd.DataFrame({"note": notes}),
    }


def _empty(table: str) -> pd.DataFrame:
    return pd.DataFrame(columns=COLUMNS[table])
