"""Patient- and session-level alliance features for the models of the analysis plan."""

from __future__ import annotations

import pandas as pd

from alliance.ruptures import detect_ruptures, pattern_shares, rupture_patterns
from alliance.scores import TOTAL, is_scored, subscale_columns

PATIENT_KEEP = ["patient_id", "therapist_id", "site", "discipline", "age_band", "gender",
                "baseline_severity", "sessions_planned"]


def _slopes(scored: pd.DataFrame) -> pd.Series:
    """OLS slope of the total on the session number per patient, from grouped centred sums.

    NaN with fewer than two scored sessions (no spread in the session numbers).
    """
    by = scored["patient_id"]
    x = scored["session"].astype(float)
    y = scored[TOTAL]
    dx = x - x.groupby(by).transform("mean")
    dy = y - y.groupby(by).transform("mean")
    sxx = (dx * dx).groupby(by).sum()
    return (dx * dy).groupby(by).sum() / sxx.where(sxx > 0)


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
    - `alliance_last`: the total at the last scored session;
    - `alliance_slope`: OLS slope of the total on the session number over the scored sessions (NaN with
      fewer than two);
    - `alliance_therapist_mean`: mean of `alliance_mean` over the patients of the same therapist, the
      patient itself included; `alliance_patient_dev` = `alliance_mean` - `alliance_therapist_mean`
      (therapist and patient components of alliance, Baldwin, Wampold & Imel 2007);
    - `sessions_scheduled`, `sessions_attended`, `last_session`;
    - `scheduled_after_window`, `attended_after_window`, `missed_after_window`;
    - `ended_in_window`: the last scheduled session lies within the early window;
    - `dropout` and `satisfaction` from the outcomes.
    """
    s = session_scores
    scored = s[is_scored(s)].sort_values(["patient_id", "session"], kind="stable")
    early = scored[scored["session"] <= early_window].groupby("patient_id")[TOTAL]
    subscales = subscale_columns(scored)
    means = scored.groupby("patient_id")[[TOTAL, *subscales]].mean()
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
    per_patient["alliance_last"] = scored.groupby("patient_id")[TOTAL].last()
    per_patient["alliance_slope"] = _slopes(scored)
    out = patients[[c for c in PATIENT_KEEP if c in patients.columns]].merge(
        per_patient, left_on="patient_id", right_index=True, how="left")
    counts = ["alliance_early_n", "alliance_n_scored", "sessions_scheduled", "sessions_attended",
              "scheduled_after_window", "attended_after_window"]
    out[counts] = out[counts].fillna(0).astype("int64")
    out["missed_after_window"] = out["scheduled_after_window"] - out["attended_after_window"]
    out["ended_in_window"] = out["last_session"].fillna(0) <= early_window
    out["alliance_therapist_mean"] = out.groupby("therapist_id")["alliance_mean"].transform("mean")
    out["alliance_patient_dev"] = out["alliance_mean"] - out["alliance_therapist_mean"]
    out = out.merge(outcomes[["patient_id", "dropout"]], on="patient_id", how="left")
    out = out.merge(patient_scores[["patient_id", "satisfaction"]], on="patient_id", how="left")
    out["dropout"] = out["dropout"].astype("boolean")
    return out.sort_values("patient_id", kind="stable").reset_index(drop=True)


def session_features(
    session_scores: pd.DataFrame, patients: pd.DataFrame, early_window: int
) -> pd.DataFrame:
    """One row per scheduled session, sorted by patient_id and session.

    Keys, `therapist_id`, `attended`, the total and subscales, and:

    - `alliance_between`: the patient's mean total over all scored sessions (person mean);
    - `alliance_within`: total - person mean at scored sessions (person-mean centring; Wang & Maxwell
      2015, Falkenstrom et al. 2017);
    - `alliance_prev`: the total at the most recent *earlier* scored (attended) session, carried forward
      across missed or unscored sessions; missing up to the first scored session. It never uses the
      current or a later session, so it may predict what happens at the current session;
    - `alliance_prev_within` = `alliance_prev` - `alliance_between`, `sessions_since_prev`;
    - `attended_next`: the next scheduled session was attended (missing at the last one);
    - `after_window`: the session lies after the early window (session > early_window).

    The person mean uses the whole treatment, so `alliance_between`, `alliance_within` and
    `alliance_prev_within` are not free of look-ahead; only `alliance_prev` and `sessions_since_prev` are.
    """
    s = session_scores.sort_values(["patient_id", "session"], kind="stable").reset_index(drop=True)
    by = s["patient_id"]
    scored = is_scored(s)
    value = s[TOTAL].where(scored)
    prev = value.groupby(by).ffill().groupby(by).shift(1)
    prev_session = s["session"].where(scored).groupby(by).ffill().groupby(by).shift(1)
    between = value.groupby(by).transform("mean")
    out = s[["patient_id", "session"]].merge(
        patients[["patient_id", "therapist_id"]], on="patient_id", how="left")
    return out[["patient_id", "therapist_id", "session"]].assign(
        attended=s["attended"].astype(bool),
        **{c: s[c] for c in [TOTAL, *subscale_columns(s)]},
        alliance_between=between,
        alliance_within=value - between,
        alliance_prev=prev,
        alliance_prev_within=prev - between,
        sessions_since_prev=(s["session"] - prev_session).astype("Int64"),
        attended_next=s["attended"].astype("boolean").groupby(by).shift(-1),
        after_window=s["session"] > early_window,
    )


def build_features(
    patients: pd.DataFrame,
    outcomes: pd.DataFrame,
    session_scores: pd.DataFrame,
    patient_scores: pd.DataFrame,
    early_window: int,
    rupture_settings: dict,
    total_alpha: float | None,
) -> dict[str, pd.DataFrame]:
    """Every feature table of the workflow: patients (with their rupture pattern), sessions, ruptures
    and rupture-pattern shares.

    Ruptures use `rupture_settings` (criterion, c, repair_window, reliability); a reliable-change criterion
    without a configured reliability uses `total_alpha`, the alpha of the total in this sample.
    """
    reliability = rupture_settings.get("reliability")
    ruptures = detect_ruptures(
        session_scores, criterion=rupture_settings["criterion"], c=rupture_settings["c"],
        reliability=total_alpha if reliability is None else reliability,
        repair_window=rupture_settings["repair_window"],
    )
    patterns = rupture_patterns(ruptures, patients["patient_id"])
    features = patient_features(patients, session_scores, patient_scores, outcomes, early_window)
    features = features.merge(patterns, on="patient_id", how="left").rename(
        columns={"pattern": "rupture_pattern"})
    return {
        "patients": features,
        "sessions": session_features(session_scores, patients, early_window),
        "ruptures": ruptures,
        "rupture_shares": pattern_shares(patterns),
    }
