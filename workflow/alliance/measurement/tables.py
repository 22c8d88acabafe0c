"""The measurement report of a run: psychometrics of the configured alliance instrument in this sample.

Item-level analyses (reliability, item statistics, CFA, item distributions) use one questionnaire per
patient, the first scored one, so that rows are independent (sessions are nested in patients). Variance
components use every scored session (patient means for the therapist ICC).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from alliance.i18n import Message, Term, message_text
from alliance.instruments import Instrument
from alliance.measurement.invariance import MIN_GROUP_SIZE, invariance_tables
from alliance.measurement.psychometrics import TOTAL as SCALE_TOTAL
from alliance.measurement.psychometrics import (
    cfa_compare,
    item_statistics,
    rater_agreement,
    reliability_by_sessions,
    scale_alpha,
    scale_items,
    scale_reliability,
    therapist_icc,
)
from alliance.scoring.scores import ALLIANCE_PREFIX, THERAPIST_PREFIX, TOTAL, is_scored, scored_sessions

# Columns of each table, so that a table with no rows still says what it would hold.
COLUMNS = {
    "reliability": ["role", "instrument", "scale", "n", "n_items", "alpha", "alpha_ci_low",
                    "alpha_ci_high", "omega", "floor_share", "ceiling_share", "skew"],
    "item_statistics": ["role", "instrument", "item", "subscale", "n", "mean", "sd", "floor_share",
                        "ceiling_share", "skew", "corrected_r_subscale", "corrected_r_total"],
    "item_distribution": ["item", "value", "n", "share"],
    "cfa_fit": ["model", "n", "chi2", "dof", "p_value", "cfi", "tli", "rmsea", "srmr", "aic", "bic",
                "status"],
    "cfa_parameters": ["model", "kind", "factor", "item", "std_loading"],
    "agreement": ["n_pairs", "n_patients", "patient_level_r", "patient_level_ci_low", "patient_level_ci_high",
                  "patient_level_status", "patient_level_reason", "patient_level_reason_message", "rm_r",
                  "rm_ci_low", "rm_ci_high", "rm_df", "rm_n_patients", "rm_status", "rm_reason",
                  "rm_reason_message", "mean_difference", "sd_between", "sd_within", "sd_difference",
                  "loa_low", "loa_high", "loa_status", "loa_reason", "loa_reason_message"],
    "notes": ["topic", "note", "note_message"],
}
FACTOR_ANALYSIS = "factor_analysis"  # topic of the factor analysis's notes (the others: a role)


def first_questionnaires(
    sessions: pd.DataFrame, session_scores: pd.DataFrame, prefix: str = ALLIANCE_PREFIX
) -> pd.DataFrame:
    """Each patient's first attended session with a scored questionnaire (of the rater `prefix`) answered
    by item."""
    used = is_scored(session_scores, prefix) & (session_scores[f"{prefix}n_answered"] > 0)
    rows = sessions[used.to_numpy()].sort_values(["patient_id", "session"], kind="stable")
    return rows.drop_duplicates("patient_id", keep="first").reset_index(drop=True)


ROLE_TERMS = {"alliance": Term("psychometrics", "alliance"),
              "therapist_alliance": Term("psychometrics", "therapist-rated alliance"),
              "satisfaction": Term("psychometrics", "satisfaction")}


def note_row(topic: str, note: Message) -> dict:
    """A row of `notes.csv`: the note in English, and its message (`message_text`) for the report's
    language."""
    return {"topic": topic, "note": str(note), "note_message": message_text(note)}


def _no_items_reason(answered: int, n_items: int, prescored: bool) -> Message:
    """Why item-level psychometrics of a measure are not possible with `answered` questionnaires answered
    by item (one per patient), in words without the count."""
    if answered:
        return Message("too few patients answered it by item (item-level analyses need more patients than "
                       "its {n_items} items)", n_items=n_items)
    return (Message("the data hold pre-scored totals, not item answers") if prescored
            else Message("no questionnaire was answered by item"))


def instrument_tables(
    sessions: pd.DataFrame, outcomes: pd.DataFrame, session_scores: pd.DataFrame,
    *,
    instruments: dict[str, Instrument | None],
    fits: dict | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, list[dict]]:
    """Reliability and item statistics of every configured instrument, one questionnaire per patient.

    Rows carry `role` (alliance, therapist_alliance, satisfaction) and `instrument` (its key). A role
    without more questionnaires answered by item than the instrument has items is left out with a note
    saying why; notes are `note_row`s of topic role. `fits`: the factor-analysis fits made already
    (`psychometrics.fit_cfa`).
    """
    satisfaction = instruments["satisfaction"]
    answered = outcomes[satisfaction.item_columns].notna().any(axis=1)
    samples = {"alliance": first_questionnaires(sessions, session_scores),
               "satisfaction": outcomes[answered]}
    prescored = {"alliance": (session_scores[f"{ALLIANCE_PREFIX}source"] == "pre-scored").any(),
                 "satisfaction": "satisfaction" in outcomes and outcomes["satisfaction"].notna().any()}
    if instruments.get("therapist") is not None:
        samples["therapist_alliance"] = first_questionnaires(sessions, session_scores, THERAPIST_PREFIX)
        prescored["therapist_alliance"] = (session_scores[f"{THERAPIST_PREFIX}source"] == "pre-scored").any()
    reliability, items, notes = [], [], []
    for role, sample in samples.items():
        instrument = instruments["therapist" if role == "therapist_alliance" else role]
        if len(sample) <= instrument.n_items:
            reason = _no_items_reason(len(sample), instrument.n_items, bool(prescored[role]))
            notes.append(note_row(role, Message(
                "Item-level psychometrics of the {role} measure ({instrument}) were not possible: {reason}.",
                role=ROLE_TERMS[role], instrument=instrument.key, reason=reason)))
            continue
        labels = {"role": role, "instrument": instrument.key}
        table = scale_reliability(sample, instrument, fits=fits)
        notes += [note_row(role, note) for note in table.attrs.get("notes", [])]
        reliability.append(table.assign(**labels))
        items.append(item_statistics(sample, instrument).assign(**labels))
    return (_frame(reliability, "reliability"), _frame(items, "item_statistics"), notes)


def item_distribution(items: pd.DataFrame, instrument: Instrument) -> pd.DataFrame:
    """Share of each answer per item (as answered, before reverse keying); whole-number scales only."""
    long = items[instrument.item_columns].melt(var_name="item", value_name="value").dropna()
    counts = long.groupby(["item", "value"]).size().rename("n").reset_index()
    counts["share"] = counts["n"] / counts.groupby("item")["n"].transform("sum")
    return counts


def total_alpha(reliability: pd.DataFrame) -> float | None:
    """Cronbach's alpha of the total in this sample, None when item-level data were not available."""
    total = reliability.loc[(reliability["role"] == "alliance") & (reliability["scale"] == "total"), "alpha"]
    return float(total.iloc[0]) if len(total) and pd.notna(total.iloc[0]) else None


def alliance_total_alpha(sessions: pd.DataFrame, session_scores: pd.DataFrame, alliance: Instrument
                         ) -> float | None:
    """The alpha of the alliance total that the reliability table reports (`instrument_tables`; its
    `total_alpha`), computed alone, without the table's other statistics and models; None where the table
    has none."""
    sample = first_questionnaires(sessions, session_scores)
    if len(sample) <= alliance.n_items:
        return None
    alpha, _ = scale_alpha(scale_items(sample, alliance)[SCALE_TOTAL])
    return None if np.isnan(alpha) else float(alpha)


def measurement_tables(
    patients: pd.DataFrame,
    sessions: pd.DataFrame,
    outcomes: pd.DataFrame,
    *,
    session_scores: pd.DataFrame,
    instruments: dict[str, Instrument | None],
    settings: dict,
) -> dict[str, pd.DataFrame]:
    """Every table of `results/psychometrics/`, keyed by the names in `PSYCHOMETRIC_TABLES`.

    The factor analysis and answer distributions concern the alliance instrument; reliability and item
    statistics cover every configured instrument (alliance, therapist-rated alliance, satisfaction).
    """
    alliance = instruments["alliance"]
    fits: dict = {}  # the one-factor model of the alliance items: its omega, then the factor comparison
    reliability, items, notes = instrument_tables(sessions, outcomes, session_scores, instruments=instruments,
                                                  fits=fits)
    first = first_questionnaires(sessions, session_scores)
    if (reliability["role"] == "alliance").any():
        fit, parameters = cfa_compare(first, alliance, fits=fits)
        distribution = (item_distribution(first, alliance) if alliance.integer
                        else _empty("item_distribution"))
        notes += [note_row(FACTOR_ANALYSIS, note) for note in fit.attrs.get("notes", [])]
    else:
        fit, parameters, distribution = (_empty(name) for name in (
            "cfa_fit", "cfa_parameters", "item_distribution"))
    present = [g for g in settings.get("invariance_groupings", ["discipline"]) if g in patients.columns]
    minimum = settings.get("invariance_min_group", MIN_GROUP_SIZE)
    invariance, by_group = invariance_tables(first, patients, alliance, present, min_group_size=minimum)
    scored = scored_sessions(session_scores)
    values = scored[["patient_id", TOTAL]].rename(columns={TOTAL: "value"})
    means = values.groupby("patient_id", as_index=False)["value"].mean().merge(
        patients[["patient_id", "therapist_id"]], on="patient_id")
    icc = therapist_icc(means, n_boot=settings["bootstrap"], seed=settings["seed"])
    by_sessions = reliability_by_sessions(values, max_sessions=settings["max_sessions"])
    therapist_total = f"{THERAPIST_PREFIX}total"
    agreement = _empty("agreement")
    if instruments.get("therapist") is not None and therapist_total in scored:  # each part says if not
        # estimable (a clinic whose therapists rated 2 sessions had no table and no reason)
        ratings = scored[["patient_id", TOTAL, therapist_total]].rename(
            columns={TOTAL: "patient", therapist_total: "therapist"})
        agreement = pd.DataFrame([rater_agreement(ratings)], columns=COLUMNS["agreement"])
    return {
        "reliability": reliability, "item_statistics": items, "item_distribution": distribution,
        "cfa_fit": fit, "cfa_parameters": parameters, "therapist_icc": pd.DataFrame([icc]),
        "reliability_by_sessions": by_sessions, "agreement": agreement, "invariance": invariance,
        "invariance_parameters": by_group,
        "notes": pd.DataFrame(notes, columns=COLUMNS["notes"]),
    }


def _frame(tables: list[pd.DataFrame], name: str) -> pd.DataFrame:
    """Stack per-instrument tables in the documented column order (empty with those columns if none)."""
    return pd.concat(tables, ignore_index=True)[COLUMNS[name]] if tables else _empty(name)


def _empty(table: str) -> pd.DataFrame:
    return pd.DataFrame(columns=COLUMNS[table])
