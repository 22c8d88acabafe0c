"""Scoring the questionnaires of the contract tables: alliance per session, satisfaction per patient."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from alliance.instruments import Instrument
from alliance.instruments.items import ALLIANCE_PREFIX, THERAPIST_PREFIX, score_items, score_rater

TOTAL = f"{ALLIANCE_PREFIX}total"


SCORE_META = ("total", "n_answered", "prorated", "source", "concern")


def subscale_columns(session_scores: pd.DataFrame, prefix: str = ALLIANCE_PREFIX) -> list[str]:
    """The subscale score columns of a scored table (`alliance_bond`, ...), in table order."""
    meta = {f"{prefix}{name}" for name in SCORE_META}
    return [c for c in session_scores.columns
            if c.startswith(prefix) and c not in meta]


SESSION_MEASURES = ("home_practice", "symptoms")  # optional session columns the features use


def score_sessions(
    sessions: pd.DataFrame, instrument: Instrument, therapist: Instrument | None = None
) -> pd.DataFrame:
    """Alliance scores per session: `alliance_<subscale>`, `alliance_total`, answered count, prorated flag,
    `alliance_source` (`items` or `pre-scored`) and `alliance_concern` for an instrument with a cut-off.

    Sessions with no item answered take the pre-scored columns (`alliance_bond`, ..., `alliance_total`)
    where the data have them. A therapist-rated instrument is scored the same way into
    `therapist_alliance_*` columns. Only attended sessions are scored; answers recorded for a missed
    session are ignored. Other session-level measures (`SESSION_MEASURES`) present in the data are
    carried through unchanged.
    """
    measures = [c for c in SESSION_MEASURES if c in sessions.columns]
    keys = sessions[["patient_id", "session", "attended", *measures]].astype({"attended": bool})
    parts = [keys, score_rater(sessions, instrument, ALLIANCE_PREFIX, attended=keys["attended"])]
    if therapist is not None:
        parts.append(score_rater(sessions, therapist, THERAPIST_PREFIX, attended=keys["attended"]))
    return pd.concat(parts, axis=1)


def score_patients(outcomes: pd.DataFrame, instrument: Instrument) -> pd.DataFrame:
    """Satisfaction per patient from the items; a pre-scored `satisfaction` fills patients with no item.

    Columns: patient_id, satisfaction, satisfaction_source (`items`, `pre-scored`, `unscorable` for
    answers with too many items missing, or missing where nothing was answered), satisfaction_prorated.
    """
    scored = score_items(outcomes, instrument)
    from_items = scored["total"]
    prescored = outcomes["satisfaction"] if "satisfaction" in outcomes else pd.Series(
        float("nan"), index=outcomes.index)
    use_prescored = from_items.isna() & (scored["n_answered"] == 0) & prescored.notna()
    source = pd.Series(pd.NA, index=outcomes.index, dtype="string")
    source[from_items.notna()] = "items"
    source[use_prescored] = "pre-scored"
    source[from_items.isna() & (scored["n_answered"] > 0) & ~use_prescored] = "unscorable"
    return pd.DataFrame({
        "patient_id": outcomes["patient_id"],
        "satisfaction": from_items.where(~use_prescored, prescored),
        "satisfaction_source": source,
        "satisfaction_prorated": scored["prorated"],
    })


def scoring_summary(
    session_scores: pd.DataFrame, patient_scores: pd.DataFrame, instruments: dict[str, Instrument | None],
    ignored: Mapping[str, int] | None = None,
) -> dict:
    """Counts for the report: scored, pre-scored, prorated and unscorable questionnaires, per rater.
    `ignored` is validation's count of the sessions not attended whose answers it ignored, per form
    ("alliance", "therapist": `validation_summary.json`, tables.sessions); validation blanks them, so the
    scores cannot count them."""
    satisfaction = instruments["satisfaction"]
    ignored = ignored or {}
    summary = {
        "alliance": _rater_summary(session_scores, instruments["alliance"], ALLIANCE_PREFIX,
                                   ignored.get("alliance")),
        "satisfaction": {
            "instrument": satisfaction.key,
            "name": satisfaction.name,
            "citation": satisfaction.citation,
            "patients": len(patient_scores),
            "scored_from_items": int((patient_scores["satisfaction_source"] == "items").sum()),
            "pre_scored": int((patient_scores["satisfaction_source"] == "pre-scored").sum()),
            "prorated": int(patient_scores["satisfaction_prorated"].sum()),
            "missing": int(patient_scores["satisfaction"].isna().sum()),
            "unscorable": int((patient_scores["satisfaction_source"] == "unscorable").sum()),
        },
    }
    if instruments.get("therapist") is not None:
        summary["therapist_alliance"] = _rater_summary(
            session_scores, instruments["therapist"], THERAPIST_PREFIX, ignored.get("therapist"))
    return summary


def _rater_summary(session_scores: pd.DataFrame, instrument: Instrument, prefix: str,
                   ignored: int | None = None) -> dict:
    attended = session_scores["attended"]
    answered = session_scores[f"{prefix}n_answered"] > 0
    scored = session_scores[f"{prefix}total"].notna()
    source = session_scores[f"{prefix}source"]
    summary = {
        "instrument": instrument.key,
        "name": instrument.name,
        "citation": instrument.citation,
        "subscales": {k: list(v) for k, v in instrument.subscales.items()},
        "item_level": bool((answered & attended).any()),
        "sessions_attended": int(attended.sum()),
        "sessions_with_answers": int((answered & attended).sum()),
        "sessions_scored": int(scored.sum()),
        "sessions_pre_scored": int((source == "pre-scored").sum()),
        "sessions_prorated": int(session_scores[f"{prefix}prorated"].sum()),
        "sessions_unscorable": int((answered & attended & ~scored).sum()),
        "answers_on_missed_sessions_ignored": (int((answered & ~attended).sum()) if ignored is None
                                               else int(ignored)),
    }
    if instrument.cutoff is not None:
        summary["cutoff"] = {"value": instrument.cutoff.value, "inclusive": instrument.cutoff.inclusive,
                             "sessions_flagged": int(session_scores[f"{prefix}concern"].sum())}
    return summary


def patient_codes(ids: pd.Series) -> tuple[pd.Series, pd.Index]:
    """Integer codes of the patient IDs (same index, first seen = 0) and the IDs of the codes: grouping
    session rows by the codes is grouping by patient, without hashing a million ID strings at every
    groupby. IDs must be complete."""
    codes, uniques = pd.factorize(ids)
    if (codes < 0).any():
        raise ValueError("patient IDs are missing; validation should have refused these rows")
    return pd.Series(codes, index=ids.index), pd.Index(uniques, name=ids.name)


def is_scored(session_scores: pd.DataFrame, prefix: str = ALLIANCE_PREFIX) -> pd.Series:
    """Mask of the scored sessions: attended, with a total from the rater `prefix`."""
    return session_scores["attended"].astype(bool) & session_scores[f"{prefix}total"].notna()


def scored_sessions(session_scores: pd.DataFrame) -> pd.DataFrame:
    """Attended sessions with an alliance total."""
    return session_scores[is_scored(session_scores)]


def score_bounds(instrument: Instrument) -> dict[str, tuple[float, float]]:
    """Possible range of each alliance score column (subscales, then the total)."""
    bounds = {f"{ALLIANCE_PREFIX}{name}": instrument.subscale_range(name) for name in instrument.subscales}
    bounds[TOTAL] = instrument.score_range
    return bounds


def score_descriptives(session_scores: pd.DataFrame, instrument: Instrument) -> pd.DataFrame:
    """Per score column, over scored sessions: n, mean, SD, share at the scale maximum, skew.

    Skew is the adjusted Fisher-Pearson coefficient (scipy `skew(bias=False)`); NaN when n < 3 or every
    value is the same.
    """
    from scipy import stats  # here: the report's use; the scoring and feature jobs need not import it (1 s)

    scored = scored_sessions(session_scores)
    rows = []
    for column, (_, high) in score_bounds(instrument).items():
        values = scored[column].dropna().to_numpy(dtype=float)
        rows.append({
            "score": column,
            "n": len(values),
            "mean": float(values.mean()) if len(values) else float("nan"),
            "sd": float(values.std(ddof=1)) if len(values) > 1 else float("nan"),
            "ceiling_share": float(np.isclose(values, high).mean()) if len(values) else float("nan"),
            "skew": (float(stats.skew(values, bias=False)) if len(values) > 2 and np.ptp(values) > 0
                     else float("nan")),
        })
    return pd.DataFrame(rows).set_index("score")
