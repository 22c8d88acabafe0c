"""Patient-level alliance features for the models of the analysis plan."""

from __future__ import annotations

import pandas as pd

PATIENT_KEEP = ["patient_id", "therapist_id", "site", "discipline", "age_band", "gender",
                "baseline_severity", "sessions_planned"]


def patient_features(
    patients: pd.DataFrame,
    session_scores: pd.DataFrame,
    patient_scores: pd.DataFrame,
    outcomes: pd.DataFrame,
    early_window: int,
) -> pd.DataFrame:
    """One row per patient.

    - `alliance_early`: mean alliance total over scored sessions 1..early_window (with their count);
    - `alliance_mean`, `alliance_bond/goal/task_mean`: means over all scored sessions;
    - `sessions_scheduled`, `sessions_attended`, `last_session`;
    - `scheduled_after_window`, `attended_after_window`, `missed_after_window`;
    - `ended_in_window`: the last scheduled session lies within the early window;
    - `dropout` and `satisfaction` from the outcomes.
    """
    s = session_scores
    scored = s[s["alliance_total"].notna()]
    early = scored[scored["session"] <= early_window].groupby("patient_id")["alliance_total"]
    subscales = [c for c in scored.columns if c.startswith("alliance_") and c not in (
        "alliance_total", "alliance_n_answered", "alliance_prorated")]
    means = scored.groupby("patient_id")[["alliance_total", *subscales]].mean()
    means.columns = ["alliance_mean", *(f"{c}_mean" for c in subscales)]
    after = s["session"] > early_window
    per_patient = pd.DataFrame({
        "alliance_early": early.mean(),
        "alliance_early_n": early.size(),
        "alliance_n_scored": scored.groupby("patient_id").size(),
        "sessions_scheduled": s.groupby("patient_id").size(),
        "sessions_attended": s.groupby("patient_id")["attended"].sum(),
        "last_session": s.groupby("patient_id")["session"].max(),
        "scheduled_after_window": after.groupby(s["patient_id"]).sum(),
        "attended_after_window": (after & s["attended"]).groupby(s["patient_id"]).sum(),
    }).join(means)
    out = patients[[c for c in PATIENT_KEEP if c in patients.columns]].merge(
        per_patient, left_on="patient_id", right_index=True, how="left")
    counts = ["alliance_early_n", "alliance_n_scored", "sessions_scheduled", "sessions_attended",
              "scheduled_after_window", "attended_after_window"]
    out[counts] = out[counts].fillna(0).astype("int64")
    out["missed_after_window"] = out["scheduled_after_window"] - out["attended_after_window"]
    out["ended_in_window"] = out["last_session"].fillna(0) <= early_window
    out = out.merge(outcomes[["patient_id", "dropout"]], on="patient_id", how="left")
    out = out.merge(patient_scores[["patient_id", "satisfaction"]], on="patient_id", how="left")
    out["dropout"] = out["dropout"].astype("boolean")
    return out.sort_values("patient_id", kind="stable").reset_index(drop=True)
