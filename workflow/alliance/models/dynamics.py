"""H4c (secondary): reciprocal within-patient dynamics of alliance and symptoms (ANALYSIS_PLAN.md, H4c).

A random-intercept cross-lagged panel model (RI-CLPM; Hamaker, Kuiper & Grasman 2015) of the alliance
total and the symptom score over T sessions (`alliance.stats.riclpm`, full-information ML): each
patient's stable level of each variable is a random intercept, and the within-patient deviations follow
a bivariate first-order autoregression whose cross-lagged effects (alliance at session t -> symptoms at
t + 1, symptoms at t -> alliance at t + 1) are the estimands. Both directions are estimated at once on
within-patient fluctuations, which H4a and H4b estimate separately with a lagged outcome. The lagged
effects are equal over sessions (Mulder & Hamaker 2021: the default when waves are sessions of one
treatment), the innovation variances free; CIs are therapist-cluster-robust (t with G - 1 df). The
waves start at the first session from which both scores are recorded, and follow the sessions at which
they are (`first_wave`: an alliance first given at session 3, as the WAI often is, starts them there; one
given every third session makes the waves sessions 1, 4, 7, ..., and the lagged effects span three
sessions).

References
----------
Hamaker, E. L., Kuiper, R. M., & Grasman, R. P. P. P. (2015). A critique of the cross-lagged panel
model. Psychological Methods, 20(1), 102-116.
Kuiper, R. M., & Ryan, O. (2018). Drawing conclusions from cross-lagged relationships: Re-considering
the role of the time-interval. Structural Equation Modeling, 25(5), 809-823.
Mulder, J. D., & Hamaker, E. L. (2021). Three extensions of the random intercept cross-lagged panel
model. Structural Equation Modeling, 28(4), 638-648.
"""

from __future__ import annotations

import pandas as pd

from alliance.errors import FITTED, NOT_ESTIMABLE, NotEstimable, status_record
from alliance.i18n import Count, Message, Plural, message_text
from alliance.scoring.scores import TOTAL, is_scored

FAMILY = "dynamics"
KEY = "H4c"
MODEL = "riclpm_fiml_cluster_therapist"
MIN_WAVES = 3  # the RI-CLPM is not identified with fewer (Hamaker et al. 2015)
MAX_WAVES = 6  # the fit takes 2 s at T = 6 and 4 s at T = 7 (400 patients): cost grows with T^2
MIN_SHARE = 0.5  # the default T: to the last session at which at least half the patients have both scores,
MIN_RECORDED = 2  # each of the T sessions with each score for at least 2 patients (the fit's least)
MAX_STEP = 5  # waves at most every fifth session apart (a questionnaire given every 2nd to 5th session)
NAMES = (Message("alliance"), Message("symptoms"))  # the two variables in the reasons' words
NO_SYMPTOMS = Message("no symptom scores in the data")
# The lagged effects by their label in `alliance.stats.riclpm.description` (x: alliance, y: symptoms).
EFFECTS = {"d": "alliance_to_symptoms", "b": "symptoms_to_alliance", "a": "alliance_autoregression",
           "c": "symptoms_autoregression"}
COLUMNS = ["effect", "estimate", "se", "se_model", "ci_low", "ci_high", "p", "first_session", "session_step",
           "waves", "n", "n_therapists", "chisq", "df", "cfi", "rmsea", "status", "reason", "reason_message"]


def session_panel(session_scores: pd.DataFrame, sessions: pd.DataFrame) -> pd.DataFrame:
    """One row per attended session: the alliance total where scored and the symptom score where
    recorded (NaN otherwise), with `patient_id` and `session`."""
    attended = session_scores.loc[session_scores["attended"].astype(bool),
                                  ["patient_id", "session", TOTAL]].copy()
    attended[TOTAL] = attended[TOTAL].where(is_scored(session_scores)[attended.index])
    symptoms = sessions[["patient_id", "session", "symptoms"]]
    panel = attended.merge(symptoms, on=["patient_id", "session"], how="left")
    return panel.assign(symptoms=panel["symptoms"].astype(float))


def wave_sessions(first: int, step: int, waves: int) -> list[int]:
    """The sessions of `waves` waves from session `first`, `step` sessions apart."""
    return [first + step * wave for wave in range(waves)]


def _recorded(panel: pd.DataFrame) -> list[pd.Series]:
    """For the alliance and the symptom score, the number of patients with it recorded, by session."""
    return [panel.dropna(subset=[column]).groupby("session")["patient_id"].nunique()
            for column in (TOTAL, "symptoms")]


def _too_few(recorded: list[pd.Series], session: int) -> Message | None:
    """Why `session` cannot be a wave (either score recorded for fewer than `MIN_RECORDED` patients), in
    the words of the fit's own check (`alliance.stats.riclpm`); None when it can."""
    for name, counts in zip(NAMES, recorded, strict=True):
        n = int(counts.get(session, 0))
        variable = Message("{variable} at session {session}", variable=name, session=session)
        if n == 0:
            return Message("{variable} is recorded for no patient", variable=variable)
        if n < MIN_RECORDED:
            return Plural("{variable} is recorded for {n} patient only",
                          "{variable} is recorded for {n} patients only", variable=variable, n=Count(n))
    return None


def sparse_wave(panel: pd.DataFrame, first: int, last: int, step: int = 1) -> tuple[int, Message] | None:
    """The first of sessions `first`, `first + step`, ... up to `last` at which the alliance or the
    symptom score is recorded for fewer than `MIN_RECORDED` patients, and why it cannot be a wave, in
    words; None when every one can."""
    recorded = _recorded(panel)
    for session in range(first, last + 1, step):
        reason = _too_few(recorded, session)
        if reason is not None:
            return session, reason
    return None


def first_wave(panel: pd.DataFrame) -> tuple[int, int]:
    """The session of the first wave and the sessions from one wave to the next: the first session that
    begins `MIN_WAVES` sessions in a row each with both scores recorded for at least `MIN_RECORDED`
    patients (an alliance first given at session 3 starts the waves there), else the first that begins
    `MIN_WAVES` such sessions every 2nd, 3rd, ... `MAX_STEP`th session (an alliance given at sessions 1,
    4, 7, ...: step 3); where none does, the first session with both so recorded and step 1 (the next
    session is then the reason), or (1, 1)."""
    recorded = _recorded(panel)
    usable = [int(session) for session in sorted(panel["session"].unique())
              if _too_few(recorded, int(session)) is None]
    for step in range(1, MAX_STEP + 1):
        for session in usable:
            later = wave_sessions(session, step, MIN_WAVES)[1:]
            if all(_too_few(recorded, wave) is None for wave in later):
                return session, step
    return (usable[0] if usable else 1), 1


def default_waves(panel: pd.DataFrame, patients: int, first: int, step: int = 1) -> int:
    """T from the data, waves at sessions `first`, `first + step`, ...: to the last wave (T at most
    `MAX_WAVES`) at which at least `MIN_SHARE` of the `patients` have both an alliance and a symptom
    score, ended before the first wave with either score recorded for fewer than `MIN_RECORDED` patients
    (`sparse_wave`: an alliance scored every other session after the third, say, ends it at 3 with step
    1, where a T of 5 would hold a wave with no scores); 0 when no wave has half. Waves before T with
    fewer than half are kept: full-information ML uses what they have."""
    both = panel.dropna(subset=[TOTAL, "symptoms"])
    counts = both.groupby("session")["patient_id"].nunique()
    enough = [session for session in wave_sessions(first, step, MAX_WAVES)
              if counts.get(session, 0) >= MIN_SHARE * patients]
    last = max(enough) if enough else first - step
    sparse = sparse_wave(panel, first, last, step)
    return ((last if sparse is None else sparse[0] - step) - first) // step + 1


def dynamics_analysis(session_scores: pd.DataFrame, sessions: pd.DataFrame, patients: pd.DataFrame,
                      settings: dict) -> dict:
    """H4c with its status: the RI-CLPM of alliance (x) and symptoms (y) over T sessions from
    `first_wave` every `session_step` sessions (`settings["waves"]`, "auto" for `default_waves`), lagged
    effects equal over waves, therapist clusters; `riclpm` holds the fit (None when not estimable),
    `first_session`, `session_step` and `waves` the sessions used."""
    from alliance.stats.riclpm import fit_riclpm, wide_from_long  # semopy: imported where it is fitted

    result = {"family": FAMILY, "statuses": [], "riclpm": None, "first_session": None, "session_step": None,
              "waves": None}
    if "symptoms" not in sessions.columns or sessions["symptoms"].isna().all():
        result["statuses"].append(status_record(KEY, NOT_ESTIMABLE, NO_SYMPTOMS))
        return result
    panel = session_panel(session_scores, sessions)
    first, step = first_wave(panel)
    waves = settings.get("waves", "auto")
    waves = (default_waves(panel, panel["patient_id"].nunique(), first, step) if waves == "auto"
             else int(waves))
    result |= {"first_session": first, "session_step": step, "waves": waves}
    try:
        if waves < MIN_WAVES:
            last = first + (MIN_WAVES - 1) * step
            sparse = sparse_wave(panel, first, last, step)
            if sparse is not None:
                raise NotEstimable(sparse[1])
            if step == 1:
                raise NotEstimable(Message(
                    "fewer than half the patients have an alliance and a symptom score at session {session} "
                    "or later: the model needs {minimum} sessions", session=last, minimum=MIN_WAVES))
            raise NotEstimable(Message(
                "fewer than half the patients have an alliance and a symptom score at session {session} or "
                "later: the model needs {minimum} waves, here sessions {sessions} ({step} sessions apart, as "
                "both scores are recorded)", session=last, minimum=MIN_WAVES, step=step,
                sessions=tuple(wave_sessions(first, step, MIN_WAVES))))
        wide = wide_from_long(panel, patient="patient_id", session="session", x=TOTAL, y="symptoms",
                              waves=waves, first=first, step=step)
        therapist = patients.set_index("patient_id")["therapist_id"].reindex(wide.index).to_numpy()
        fit = fit_riclpm(wide, waves, constrained=True, clusters=therapist, names=NAMES, first_session=first,
                         session_step=step)
        improper = improper_reason(fit["parameters"])
        if improper is not None:
            raise NotEstimable(improper)
    except NotEstimable as error:
        result["statuses"].append(status_record(KEY, error.status, error.message))
        return result
    flags = improper_within(fit["parameters"], first, step)
    result["statuses"].append(status_record(KEY, FITTED, flags=flags))
    result["riclpm"] = _plain(fit)
    return result


def improper_reason(parameters: dict) -> Message | None:
    """Why an RI-CLPM solution whose random-intercept variance is at or below 0 (an improper solution) is
    not reported, in words; None when both are positive. Such a variance says that these sessions show
    no stable differences between patients beyond what carries over from one session to the next: the
    model's random intercept has nothing to hold (Hamaker et al. 2015), and the random-intercept
    correlation is undefined. A within-patient variance below 0 (the first wave's, a nuisance parameter)
    does not stop the model: on the generator's joint process it is the model's own solution (section 5,
    H4c, "Validation")."""
    for label, name in (("vkx", NAMES[0]), ("vky", NAMES[1])):
        value = parameters.get(label, {}).get("estimate")  # absent from a model without random intercepts
        if value is not None and value <= 0:
            return Message("the patients' stable level of {variable} has an estimated variance of "
                           "{value:.3g}, below 0 (an improper solution): these sessions show no stable "
                           "differences between patients in {variable} beyond what carries over from one "
                           "session to the next", variable=name, value=value)
    return None


def improper_within(parameters: dict, first: int, step: int) -> list[Message]:
    """A flag in words for each within-patient variance (the first wave's, `vwx1` and `vwy1`, or a later
    wave's residual, `ux<t>` and `uy<t>`) estimated below 0. Unlike a random intercept's (`improper_reason`)
    it does not stop the model: on the generator's joint process the first wave's symptom variance fell
    below 0 in a third of the cohorts whose lagged effects recovered their estimands (section 5, H4c,
    "Validation"); but it is an improper solution, and the report says so beside the effects."""
    flags = []
    for label, entry in parameters.items():
        kind = label[:3] if label.startswith(("vwx", "vwy")) else label[:2]
        if kind not in ("vwx", "vwy", "ux", "uy") or label.startswith("uxy"):
            continue
        value = entry.get("estimate")
        if value is None or value >= 0:
            continue
        wave = int(label[len(kind):] or 2)  # equal innovations: one variance for waves 2 on
        flags.append(Message(
            "the within-patient variance of {variable} at session {session} is estimated at {value:.3g}, "
            "below 0 (an improper solution in a parameter the lagged effects are not read from): read the "
            "effects with care", variable=NAMES[0] if kind.endswith("x") else NAMES[1],
            session=first + (wave - 1) * step, value=value))
    return flags


def _plain(fit: dict) -> dict:
    """The fit's JSON-ready part: lagged effects, random-intercept correlation, fit indices, counts."""
    keep = ("lagged", "ri_correlation", "ri_correlation_se", "ri_correlation_se_cluster",
            "ri_correlation_ci_low", "ri_correlation_ci_high", "chisq", "df", "pvalue", "cfi", "tli", "rmsea",
            "n", "n_clusters", "warnings")
    return {key: fit[key] for key in keep if key in fit}


CROSS_LAGGED = {"alliance_to_symptoms": "symptoms", "symptoms_to_alliance": "alliance"}  # effect: outcome


def cross_lagged_tests(table: pd.DataFrame) -> pd.DataFrame:
    """H4c's two cross-lagged effects of `dynamics_table` as tests of the secondary family (ANALYSIS_PLAN.md,
    section 6: outcome, model, predictor, analysis, p_value, as `alliance.models.effects.multiplicity_table`
    reads them); none when the RI-CLPM was not fitted. The autoregressions and the random-intercept
    correlation describe the model and are not tests of the plan."""
    rows = table[table["effect"].isin(list(CROSS_LAGGED)) & table["p"].notna()]
    return pd.DataFrame({"outcome": rows["effect"].map(CROSS_LAGGED), "model": MODEL,
                         "predictor": rows["effect"], "analysis": "secondary", "p_value": rows["p"]},
                        columns=["outcome", "model", "predictor", "analysis", "p_value"])


def dynamics_table(result: dict) -> pd.DataFrame:
    """`results/models/dynamics/riclpm.csv`: one row per lagged effect (the cross-lags first) and the
    random-intercept correlation, with the cluster-robust SE and CI and the model-based SE; or one row
    with the status and reason."""
    status = result["statuses"][0]
    if result["riclpm"] is None:
        return pd.DataFrame([{"effect": "", "first_session": result["first_session"],
                              "session_step": result["session_step"], "waves": result["waves"],
                              "status": status["status"],
                              "reason": status["reason"],
                              "reason_message": message_text(status["reason_message"])}],
                            columns=COLUMNS)
    fit = result["riclpm"]
    shared = {"first_session": result["first_session"], "session_step": result["session_step"],
              "waves": result["waves"], "n": fit["n"], "n_therapists": fit["n_clusters"],
              "chisq": fit["chisq"], "df": fit["df"], "cfi": fit["cfi"], "rmsea": fit["rmsea"],
              "status": status["status"], "reason": "", "reason_message": ""}
    by_label = {row["label"][0]: row for row in fit["lagged"]}
    rows = [shared | {"effect": name, "estimate": row["estimate"], "se": row["se_cluster"],
                      "se_model": row["se"], "ci_low": row["ci_low"], "ci_high": row["ci_high"],
                      "p": row["p_cluster"]}
            for name, row in ((name, by_label[label]) for label, name in EFFECTS.items())]
    rows.append(shared | {"effect": "random_intercept_correlation", "estimate": fit["ri_correlation"],
                          "se": fit["ri_correlation_se_cluster"], "se_model": fit["ri_correlation_se"],
                          "ci_low": fit["ri_correlation_ci_low"], "ci_high": fit["ri_correlation_ci_high"]})
    return pd.DataFrame(rows, columns=COLUMNS)

