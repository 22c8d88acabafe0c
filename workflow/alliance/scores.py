"""Scoring the questionnaires of the contract tables: alliance per session, satisfaction per patient."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from alliance.instruments import Instrument, score_items

ALLIANCE_PREFIX = "alliance_"
TOTAL = f"{ALLIANCE_PREFIX}total"


def score_sessions(sessions: pd.DataFrame, instrument: Instrument) -> pd.DataFrame:
    """Alliance scores per session: `alliance_<subscale>`, `alliance_total`, answered count, prorated flag.

    Only attended sessions are scored; answers recorded for a missed session are ignored.
    """
    scored = score_items(sessions, instrument).add_prefix(ALLIANCE_PREFIX)
    missed = ~sessions["attended"].fillna(False).to_numpy(dtype=bool)
    value_columns = [c for c in scored.columns if c not in (
        f"{ALLIANCE_PREFIX}n_answered", f"{ALLIANCE_PREFIX}prorated")]
    scored.loc[missed, value_columns] = float("nan")
    scored.loc[missed, f"{ALLIANCE_PREFIX}prorated"] = False
    keys = sessions[["patient_id", "session", "attended"]].astype({"attended": bool})
    return pd.concat([keys, scored], axis=1)


def score_patients(outcomes: pd.DataFrame, instrument: Instrument) -> pd.DataFrame:
    """Satisfaction per patient from the items; a pre-scored `satisfaction` fills patients with no item.

    Columns: patient_id, satisfaction, satisfaction_source (`items`, `pre-scored` or missing),
    satisfaction_prorated.
    """
    scored = score_items(outcomes, instrument)
    from_items = scored["total"]
    prescored = outcomes["satisfaction"] if "satisfaction" in outcomes else pd.Series(
        float("nan"), index=outcomes.index)
    use_prescored = from_items.isna() & (scored["n_answered"] == 0) & prescored.notna()
    source = pd.Series(pd.NA, index=outcomes.index, dtype="string")
    source[from_items.notna()] = "items"
    source[use_prescored] = "pre-scored"
    return pd.DataFrame({
        "patient_id": outcomes["patient_id"],
        "satisfaction": from_items.where(~use_prescored, prescored),
        "satisfaction_source": source,
        "satisfaction_prorated": scored["prorated"],
    })


def scoring_summary(
    session_scores: pd.DataFrame, patient_scores: pd.DataFrame, alliance: Instrument,
    satisfaction: Instrument,
) -> dict:
    """Counts for the report: scored, prorated and unscorable questionnaires."""
    attended = session_scores["attended"]
    answered = session_scores[f"{ALLIANCE_PREFIX}n_answered"] > 0
    scored = session_scores[f"{ALLIANCE_PREFIX}total"].notna()
    return {
        "alliance": {
            "instrument": alliance.key,
            "name": alliance.name,
            "citation": alliance.citation,
            "subscales": {k: list(v) for k, v in alliance.subscales.items()},
            "sessions_attended": int(attended.sum()),
            "sessions_with_answers": int((answered & attended).sum()),
            "sessions_scored": int(scored.sum()),
            "sessions_prorated": int(session_scores[f"{ALLIANCE_PREFIX}prorated"].sum()),
            "sessions_unscorable": int((answered & attended & ~scored).sum()),
            "answers_on_missed_sessions_ignored": int((answered & ~attended).sum()),
        },
        "satisfaction": {
            "instrument": satisfaction.key,
            "name": satisfaction.name,
            "citation": satisfaction.citation,
            "patients": len(patient_scores),
            "scored_from_items": int((patient_scores["satisfaction_source"] == "items").sum()),
            "pre_scored": int((patient_scores["satisfaction_source"] == "pre-scored").sum()),
            "prorated": int(patient_scores["satisfaction_prorated"].sum()),
            "missing": int(patient_scores["satisfaction"].isna().sum()),
        },
    }


def scored_sessions(session_scores: pd.DataFrame) -> pd.DataFrame:
    """Attended sessions with an alliance total."""
    return session_scores[session_scores["attended"].astype(bool) & session_scores[TOTAL].notna()]


def score_bounds(instrument: Instrument) -> dict[str, tuple[float, float]]:
    """Possible range of each alliance score column (subscales, then the total)."""
    bounds = {}
    for name, members in instrument.subscales.items():
        factor = len(members) if instrument.score == "sum" else 1
        bounds[f"{ALLIANCE_PREFIX}{name}"] = (instrument.minimum * factor, instrument.maximum * factor)
    bounds[TOTAL] = instrument.score_range
    return bounds


def score_descriptives(session_scores: pd.DataFrame, instrument: Instrument) -> pd.DataFrame:
    """Per score column, over scored sessions: n, mean, SD, share at the scale maximum, skew.

    Skew is the adjusted Fisher-Pearson coefficient (scipy `skew(bias=False)`); NaN when n < 3.
    """
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
            "skew": float(stats.skew(values, bias=False)) if len(values) > 2 else float("nan"),
        })
    return pd.DataFrame(rows).set_index("score")
