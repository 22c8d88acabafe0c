"""Patient- and session-level alliance features for the models of the analysis plan."""

from __future__ import annotations

import pandas as pd

from alliance.features.ruptures import detect_ruptures, pattern_shares, rupture_patterns
from alliance.instruments import Instrument
from alliance.io import as_stored
from alliance.scoring.scores import SESSION_MEASURES, TOTAL, is_scored, patient_codes, subscale_columns

PATIENT_KEEP = ["patient_id", "therapist_id", "site", "discipline", "age_band", "gender",
                "baseline_severity", "sessions_planned"]


def _slopes(scored: pd.DataFrame) -> pd.Series:
    """OLS slope of the total on the session number per patient, from grouped centred sums.

    NaN with fewer than two scored sessions (no spread in the session numbers).
    """
    by, ids = patient_codes(scored["patient_id"])
    x = scored["session"].astype(float)
    y = scored[TOTAL]
    dx = x - x.groupby(by).transform("mean")
    dy = y - y.groupby(by).transform("mean")
    sxx = (dx * dx).groupby(by).sum()
    slopes = (dx * dy).groupby(by).sum() / sxx.where(sxx > 0)
    return slopes.set_axis(ids[slopes.index])


SYMPTOMS = "symptoms"


def has_symptoms(table: pd.DataFrame) -> bool:
    """The table has a `symptoms` column with at least one score."""
    return SYMPTOMS in table.columns and bool(table[SYMPTOMS].notna().any())


def _symptom_scores(s: pd.DataFrame) -> pd.Series:
    """Symptom scores of attended sessions (a score recorded at a missed session does not count)."""
    return pd.to_numeric(s[SYMPTOMS], errors="coerce").astype(float).where(s["attended"].astype(bool))


def symptom_patient_features(session_scores: pd.DataFrame, early_window: int) -> pd.DataFrame:
    """Per patient (index `patient_id`), over the attended sessions with a symptom score (higher = worse):

    - `symptoms_first`, `symptoms_first_session`: the first score and its session number;
    - `symptoms_last`, `symptoms_last_session`: the last score and its session number;
    - `symptoms_n`: the number of scores;
    - `symptoms_last_after_window`: the last score lies after the early window (session > early_window),
      so a change to it is measured beyond the early alliance;
    - `symptom_change` = `symptoms_last` - `symptoms_first` (negative = improvement; NaN with fewer than
      two scores).
    """
    s = session_scores.sort_values(["patient_id", "session"], kind="stable")
    y = _symptom_scores(s)
    rows = s.loc[y.notna(), ["patient_id", "session"]].assign(symptoms=y[y.notna()])
    by = rows.groupby("patient_id")
    out = pd.DataFrame({
        "symptoms_first": by["symptoms"].first(),
        "symptoms_first_session": by["session"].first(),
        "symptoms_last": by["symptoms"].last(),
        "symptoms_last_session": by["session"].last(),
        "symptoms_n": by.size(),
    })
    out["symptoms_last_after_window"] = (out["symptoms_last_session"] > early_window).astype("boolean")
    out["symptom_change"] = (out["symptoms_last"] - out["symptoms_first"]).where(out["symptoms_n"] >= 2)
    return out


def symptom_session_features(s: pd.DataFrame) -> pd.DataFrame:
    """Symptom columns for session rows `s` (sorted by patient_id and session, with `attended`, the
    alliance total and `symptoms`), in the same order:

    - `symptoms`: the score at this session (attended sessions only);
    - `symptoms_prev`: the most recent *earlier* score, carried forward over sessions without one (the
      lagged value; missing up to the first score); `symptom_change_prev` = `symptoms` - `symptoms_prev`
      (negative = improvement since the previous score);
    - `symptoms_next`: the score at the *next attended* session (missed sessions skipped; missing when
      that session has no score or there is none); `symptoms_next_gap`: scheduled sessions from this one
      to that next attended session (1: the next scheduled session was attended, whatever the sessions'
      numbers: a clinic may number them with gaps);
    - `alliance_next`: the alliance total at that same next attended session (missing when unscored);
    - `symptoms_first`, `alliance_first`: the patient's first symptom score and first scored alliance
      total (initial conditions of the dynamic models). They are known only from that session on: the
      models use them on rows at or after it, never earlier.

    `symptoms_next` and `alliance_next` are outcomes, never predictors; the lagged and current values
    never use a later session.
    """
    by, _ = patient_codes(s["patient_id"])
    attended = s["attended"].astype(bool)
    y = _symptom_scores(s)
    alliance = s[TOTAL].where(is_scored(s))
    next_session = s["session"].where(attended).groupby(by).shift(-1).groupby(by).bfill()
    position = pd.Series(range(len(s)), index=s.index)  # the rows are sorted by patient and session
    next_position = position.where(attended).groupby(by).shift(-1).groupby(by).bfill()
    at = pd.MultiIndex.from_arrays([by, s["session"]])
    to = pd.MultiIndex.from_arrays([by, next_session])
    prev = y.groupby(by).ffill().groupby(by).shift(1)
    return pd.DataFrame({
        "symptoms": y,
        "symptoms_prev": prev,
        "symptom_change_prev": y - prev,
        "symptoms_next": pd.Series(y.to_numpy(), index=at).reindex(to).to_numpy(),
        "symptoms_next_gap": (next_position - position).astype("Int64"),
        "alliance_next": pd.Series(alliance.to_numpy(), index=at).reindex(to).to_numpy(),
        "symptoms_first": y.groupby(by).transform("first"),
        "alliance_first": alliance.groupby(by).transform("first"),
    }, index=s.index)


def patient_features(
    patients: pd.DataFrame,
    session_scores: pd.DataFrame,
    patient_scores: pd.DataFrame,
    *,
    outcomes: pd.DataFrame,
    early_window: int,
) -> pd.DataFrame:
    """One row per patient.

    - `alliance_early`: mean alliance total over scored sessions 1..early_window (with their count);
    - `alliance_mean`, `alliance_bond/goal/task_mean`: means over all scored sessions, and
      `alliance_bond/goal/task_early` (each subscale of the instrument) over sessions 1..early_window;
    - `alliance_last`: the total at the last scored session;
    - `alliance_slope`: OLS slope of the total on the session number over the scored sessions (NaN with
      fewer than two);
    - `alliance_therapist_mean`: mean of `alliance_mean` over the patients of the same therapist, the
      patient itself included; `alliance_patient_dev` = `alliance_mean` - `alliance_therapist_mean`
      (therapist and patient components of alliance, Baldwin, Wampold & Imel 2007);
    - `sessions_scheduled`, `sessions_attended`, `last_session`;
    - `scheduled_after_window`, `attended_after_window`, `missed_after_window`;
    - `ended_in_window`: the last scheduled session lies within the early window;
    - `dropout` and `satisfaction` from the outcomes, and `satisfaction_unscorable`: satisfaction items
      were answered but too many are missing to score them;
    - with symptom scores in the data (`has_symptoms`), the columns of `symptom_patient_features`
      (absent otherwise).
    """
    s = session_scores
    scored = s[is_scored(s)].sort_values(["patient_id", "session"], kind="stable")
    early = scored[scored["session"] <= early_window].groupby("patient_id")[TOTAL]
    subscales = subscale_columns(scored)
    means = scored.groupby("patient_id")[[TOTAL, *subscales]].mean()
    means.columns = ["alliance_mean", *(f"{c}_mean" for c in subscales)]
    early_subscales = scored[scored["session"] <= early_window].groupby("patient_id")[subscales].mean()
    early_subscales.columns = [f"{c}_early" for c in subscales]
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
    }).join(means).join(early_subscales)
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
    out = out.merge(patient_scores[["patient_id", "satisfaction", "satisfaction_source"]], on="patient_id",
                    how="left")
    source = out.pop("satisfaction_source")
    out["satisfaction_unscorable"] = source.eq("unscorable").fillna(False).astype(bool)
    out["dropout"] = out["dropout"].astype("boolean")
    if has_symptoms(s):
        out = out.merge(symptom_patient_features(s, early_window), left_on="patient_id", right_index=True,
                        how="left")
        out["symptoms_n"] = out["symptoms_n"].fillna(0).astype("int64")
    return out.sort_values("patient_id", kind="stable").reset_index(drop=True)


def session_features(
    session_scores: pd.DataFrame, patients: pd.DataFrame, early_window: int
) -> pd.DataFrame:
    """One row per scheduled session, sorted by patient_id and session.

    Keys, `therapist_id`, `attended`, the total and subscales, the session measures present in the data
    (`home_practice`, `symptoms`), and:

    - `alliance_between`: the patient's mean total over all scored sessions (person mean);
    - `alliance_within`: total - person mean at scored sessions (person-mean centring; Wang & Maxwell
      2015, Falkenstrom et al. 2017);
    - `alliance_prev`: the total at the most recent *earlier* scored (attended) session, carried forward
      across missed or unscored sessions; missing up to the first scored session. It never uses the
      current or a later session, so it may predict what happens at the current session;
    - `alliance_prev_within` = `alliance_prev` - `alliance_between`, `sessions_since_prev`;
    - `alliance_running_mean`: the mean total over the scored sessions *before* this one (the person mean
      so far, available where `alliance_prev` is; for the dropout hazard, whose series the event cuts
      short, a person mean that does not look ahead);
    - `attended_next`: the next scheduled session was attended (missing at the last one);
    - `after_window`: the session lies after the early window (session > early_window).

    The person mean uses the whole treatment, so `alliance_between`, `alliance_within` and
    `alliance_prev_within` are not free of look-ahead; `alliance_prev`, `alliance_running_mean` and
    `sessions_since_prev` are.

    With symptom scores in the data (`has_symptoms`), the columns of `symptom_session_features` follow
    (`symptoms` then counts at attended sessions only); without, none of them is added.
    """
    s = session_scores.sort_values(["patient_id", "session"], kind="stable").reset_index(drop=True)
    by, _ = patient_codes(s["patient_id"])
    scored = is_scored(s)
    value = s[TOTAL].where(scored)
    prev = value.groupby(by).ffill().groupby(by).shift(1)
    prev_session = s["session"].where(scored).groupby(by).ffill().groupby(by).shift(1)
    between = value.groupby(by).transform("mean")
    so_far = (value.fillna(0).groupby(by).cumsum() / scored.groupby(by).cumsum()).where(scored)
    running = so_far.groupby(by).ffill().groupby(by).shift(1)
    out = s[["patient_id", "session"]].merge(
        patients[["patient_id", "therapist_id"]], on="patient_id", how="left")
    table = out[["patient_id", "therapist_id", "session"]].assign(
        attended=s["attended"].astype(bool),
        **{c: s[c] for c in [TOTAL, *subscale_columns(s)]},
        **{c: s[c] for c in SESSION_MEASURES if c in s.columns},
        alliance_between=between,
        alliance_within=value - between,
        alliance_prev=prev,
        alliance_prev_within=prev - between,
        alliance_running_mean=running,
        sessions_since_prev=(s["session"] - prev_session).astype("Int64"),
        attended_next=s["attended"].astype("boolean").groupby(by).shift(-1),
        after_window=s["session"] > early_window,
    )
    if has_symptoms(s):
        table = table.drop(columns=[SYMPTOMS], errors="ignore").join(symptom_session_features(s))
    return table


def build_features(
    patients: pd.DataFrame,
    outcomes: pd.DataFrame,
    session_scores: pd.DataFrame,
    *,
    patient_scores: pd.DataFrame,
    early_window: int,
    rupture_settings: dict,
    total_alpha: float | None,
) -> dict[str, pd.DataFrame]:
    """Every feature table of the workflow: patients (with their rupture pattern), sessions (with
    `ruptures_before`, the ruptures detected at scored sessions before this one), ruptures and
    rupture-pattern shares.

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
    features = patient_features(patients, session_scores, patient_scores, outcomes=outcomes,
                                early_window=early_window)
    features = features.merge(patterns, on="patient_id", how="left").rename(
        columns={"pattern": "rupture_pattern"})
    sessions = session_features(session_scores, patients, early_window)
    flagged = sessions[["patient_id", "session"]].merge(
        ruptures[["patient_id", "session", "rupture"]], on=["patient_id", "session"], how="left")
    hit = flagged["rupture"].astype("boolean").fillna(False).astype(int)
    before = hit.groupby(patient_codes(flagged["patient_id"])[0]).cumsum() - hit
    sessions["ruptures_before"] = before.to_numpy()
    return {
        "patients": features,
        "sessions": sessions,
        "ruptures": ruptures,
        "rupture_shares": pattern_shares(patterns),
    }


def criterion_alpha(rupture_settings: dict, sessions: pd.DataFrame, session_scores: pd.DataFrame,
                    alliance: Instrument) -> float | None:
    """The alpha of the alliance total that the reliable-change rupture criterion uses when no
    `ruptures.reliability` is configured (else None: not used).

    It is the reliability table's value (`measurement.tables.alliance_total_alpha`) as
    results/psychometrics/reliability.csv stores it, computed here so that the features need not wait
    for the psychometrics job; the measurement stage (scipy) is imported only when it is needed.
    """
    if rupture_settings["criterion"] != "reliable_change" or rupture_settings.get("reliability") is not None:
        return None
    from alliance.measurement.tables import alliance_total_alpha

    alpha = alliance_total_alpha(sessions, session_scores, alliance)
    return None if alpha is None else as_stored(alpha)
