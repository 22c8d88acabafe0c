"""Symptoms (ANALYSIS_PLAN.md, H4): alliance and symptom change, where the data have symptom scores.

Symptom scores run higher = worse (docs/data-contract.md). Three models, each per SD of alliance:

- H4 (secondary), patient level: improvement from the first to the last symptom score (first - last, so
  a positive r means better alliance, more improvement, beside the benchmark r = .278) on early
  alliance, adjusting for the first score and the covariates; linear mixed model with a random intercept
  per therapist (as H3).
- H4a (secondary), session level: the score at session t + 1 on the alliance at session t, split into
  within- and between-patient parts (person-mean centring; Falkenstrom et al. 2017; Wang & Maxwell
  2015), controlling the score at t.
- H4b (exploratory), the reverse direction (Zilcha-Mano et al. 2015): the alliance at session t + 1 on
  the symptom improvement from the previous score to session t (within and between patients),
  controlling the alliance at t.

Rows of the session-level models are attended sessions t whose next scheduled session t + 1 was also
attended. With a lagged outcome, a patient-level effect biases fixed-effects (Nickell 1981; Hamaker &
Grasman 2015) and naive random-effects estimates alike. The models are dynamic random-intercept models
with the initial-condition solution of Wooldridge (2005): the lagged outcome is *not* person-centred, and the
patient's first score and mean alliance (Mundlak 1978) enter as regressors, so that the patient
intercept left over is independent of the regressors. Estimation: REML with a random intercept per
patient (`alliance.models.random_intercept`); inference: the GLS estimate written as OLS on
quasi-demeaned data (y - theta_i * mean_i(y), theta_i = 1 - sqrt(s2_e / (s2_e + T_i s2_u))), with
cluster-robust SEs by therapist.
"""

from __future__ import annotations

import re

import pandas as pd
from statsmodels.regression.linear_model import OLS

from alliance.errors import NOT_ESTIMABLE, NotEstimable
from alliance.i18n import Message, Term
from alliance.models.benchmarks import outcome_comparison
from alliance.models.common import (
    FORMULA_NAMES,
    NO_EARLY_ALLIANCE,
    SESSIONS_OF_THE_COHORT,
    Design,
    ModelResult,
    build_design,
    captured_warnings,
    check_sample,
    cluster_inference,
    covariate_terms,
    formula_frame,
    labelled,
    predictor_effect,
    refuse,
    resolve_covariates,
    run_planned,
    sd_relative_variance,
    session_flow,
    summary_text,
    unit_count,
    with_settings,
)
from alliance.models.random_intercept import RandomInterceptResult, fit_random_intercept
from alliance.models.satisfaction import fit_therapist_intercept_lmm, variance_components

FAMILY = "symptoms"
PATIENT_MODEL = "lmm_therapist_intercept"
DYNAMIC_MODEL = "dynamic_patient_intercept_cluster_therapist"
NO_DATA = Message("no symptom scores in the data")
NO_DATA_NOTE = "The data have no symptom scores; the symptom models were not fitted."
NO_ALLIANCE_AT_SESSION = Message("no scored alliance at the session")  # an exclusion of both dynamic models
MAX_SESSION_BAND = 12  # one baseline category per session, sessions 12 and later pooled


def has_symptom_features(features: pd.DataFrame) -> bool:
    """The patient features carry symptom scores (features.symptom_patient_features ran)."""
    return "symptoms_first" in features.columns and bool(features["symptoms_first"].notna().any())


def improvement_design(features: pd.DataFrame, covariates: list[str]) -> Design:
    """Patients with an early alliance and at least two symptom scores, the last after the early window.

    Response `symptom_improvement` = `symptoms_first` - `symptoms_last` (positive = improvement); the first
    score enters as a covariate (z-scored like the others), so the estimate is the baseline-adjusted change.
    """
    data = features.assign(symptom_improvement=features["symptoms_first"] - features["symptoms_last"])
    return build_design(
        data,
        outcome="symptom_improvement",
        predictor="alliance_early",
        response="symptom_improvement",
        covariates=["symptoms_first", *[c for c in covariates if c != "symptoms_first"]],
        exclusions=[
            (NO_EARLY_ALLIANCE, lambda d: d["alliance_early"].isna()),
            (Message("fewer than two symptom scores"), lambda d: d["symptoms_n"] < 2),
            (Message("last symptom score within the early window"),
             lambda d: ~d["symptoms_last_after_window"]),
        ],
    )


def dynamic_design(
    features: pd.DataFrame,
    sessions: pd.DataFrame,
    covariates: list[str],
    *,
    outcome: str,
    response: str,
    within: str,
    between: str,
    controls: list[str],
    steps: list[tuple[Message, str]],
) -> Design:
    """Session rows for a dynamic model of `response` on a within-patient predictor and its patient mean.

    `steps` are (reason, column): rows missing the column are excluded in that order; after the first
    step also rows whose next scheduled session was not attended (the outcome is measured at session
    t + 1 only); last, rows missing a covariate (all counted in the flow). `within` and `between` must
    already be split (within = value - patient mean). The within part is scaled per SD of the within
    deviations over the analysed rows (0 stays the patient's own mean), the between part per SD of the
    patients' means (one value per patient), numeric covariates per SD over patients. The formula adds
    `controls` (unscaled, in their own points) and `C(session_band)`.
    """
    used, notes = resolve_covariates(features, covariates)
    columns = [c for c in dict.fromkeys(["patient_id", "therapist_id", *used]) if c in features]
    rows = with_settings(sessions.drop(columns=["therapist_id"], errors="ignore").merge(
        features[columns], on="patient_id", how="inner"), features)
    checks = [(reason, rows[column].isna()) for reason, column in steps]
    not_attended = rows["symptoms_next_gap"].ne(1).fillna(True)
    checks.insert(1, (Message("next session (t + 1) not attended"), not_attended))
    data, flow, flags = session_flow(rows, checks, used, first=SESSIONS_OF_THE_COHORT, outcome=outcome)
    used, dropped = resolve_covariates(data, used)  # one value left in the analysed rows: dropped
    notes += dropped
    data[response] = data[response].astype(float)
    data["session_band"] = data["session"].clip(upper=MAX_SESSION_BAND)
    data[f"{within}_z"] = data[within] / data[within].std(ddof=1)
    person = data.drop_duplicates("patient_id")
    data[f"{between}_z"] = (data[between] - person[between].mean()) / person[between].std(ddof=1)
    for name in used:
        if pd.api.types.is_numeric_dtype(data[name]):
            data[name] = (data[name] - person[name].mean()) / person[name].std(ddof=1)
    formula = (f"{response} ~ {within}_z + {between}_z + " + " + ".join(controls) + " + C(session_band)"
               + covariate_terms(data, used))
    scale = {within: sd_relative_variance(data[within], data),
             between: sd_relative_variance(person[between], person)}
    return Design(outcome, within, data, formula, used, flow, notes, unit="session", scale_variance=scale,
                  flags=flags)


def forward_design(features: pd.DataFrame, sessions: pd.DataFrame, covariates: list[str]) -> Design:
    """H4a: the next attended session's score on the alliance at this session (within, between),
    controlling the current score and the patient's first score. The alliance is split about the
    patient's mean over every scored session (the features' `alliance_between`), Mundlak's mean of the
    whole series: on the truth population it recovers the planted within effect (-1.0025 against -1.0),
    where the mean over the rows analysed gives -0.962 (ANALYSIS_PLAN.md, H4a)."""
    return dynamic_design(
        features, sessions, covariates, outcome="symptoms_next", response="symptoms_next",
        within="alliance_within", between="alliance_between", controls=["symptoms", "symptoms_first"],
        steps=[(Message("no symptom score at the session"), "symptoms"),
               (NO_ALLIANCE_AT_SESSION, "alliance_within"),
               (Message("no symptom score at session t + 1"), "symptoms_next")],
    )


def reverse_design(features: pd.DataFrame, sessions: pd.DataFrame, covariates: list[str]) -> Design:
    """H4b: the alliance at the next attended session on the symptom improvement from the previous score
    to this session (within, between), controlling the current alliance, the first alliance and the
    previous score."""
    rows = sessions.assign(symptom_improvement=-sessions["symptom_change_prev"])
    ok = (rows[["symptom_improvement", "alliance_within", "alliance_next"]].notna().all(axis=1)
          & rows["symptoms_next_gap"].eq(1).fillna(False))  # the rows analysed (but for covariates)
    mean = rows["symptom_improvement"].where(ok).groupby(rows["patient_id"]).transform("mean")
    rows["symptom_improvement_between"] = mean
    rows["symptom_improvement_within"] = rows["symptom_improvement"] - mean
    return dynamic_design(
        features, rows, covariates, outcome="alliance_next", response="alliance_next",
        within="symptom_improvement_within", between="symptom_improvement_between",
        controls=["alliance_total", "alliance_first", "symptoms_prev"],
        steps=[(Message("no symptom improvement (no score at the session or before)"), "symptom_improvement"),
               (NO_ALLIANCE_AT_SESSION, "alliance_within"),
               (Message("no scored alliance at session t + 1"), "alliance_next")],
    )


LAGGED_TERMS = ("symptoms", "symptoms_first", "alliance_total", "alliance_first", "symptoms_prev")


def check_first_values(design: Design) -> None:
    """NotEstimable, in words, when a control of the model at the session equals the patient's first value
    of it on every analysed session (symptoms recorded at the first and last sessions only, say: H4a's rows
    are then each patient's first), where the fit would only find the two columns collinear."""
    data = design.data
    if data.empty:
        return
    count = unit_count(design.unit, len(data))
    terms = set(re.findall(r"\w+", design.formula))
    if {"symptoms", "symptoms_first"} <= terms and data["symptoms"].eq(data["symptoms_first"]).all():
        raise NotEstimable(Message(
            "in every analysed session ({count}) the symptom score equals the patient's first, so the two "
            "terms coincide: the model needs symptom scores after the first at consecutive attended sessions",
            count=count))
    if {"alliance_total", "alliance_first"} <= terms and data["alliance_total"].eq(
            data["alliance_first"]).all():
        raise NotEstimable(Message(
            "in every analysed session ({count}) the alliance equals the patient's first, so the two terms "
            "coincide: the model needs alliance scores after the first at consecutive attended sessions",
            count=count))


def fit_dynamic(design: Design) -> tuple[RandomInterceptResult, dict]:
    """The dynamic random-intercept model: REML with a random intercept per patient, the fixed effects by
    GLS with therapist-clustered SEs (`alliance.models.random_intercept`). Returns the fit and a record of
    its variance components and lagged coefficients."""
    check_first_values(design)
    check_sample(design)
    with captured_warnings(design.notes):
        fit = fit_random_intercept(design.formula, design.data, "patient_id", cluster="therapist_id",
                                   design=design, inference=cluster_inference(design))
    record = {"formula": design.formula, "covariates": design.covariates,
              **variance_components(fit, design, "patient"),
              "lagged_coefficients": {k: float(fit.params[k]) for k in fit.params.index
                                      if k in LAGGED_TERMS}}
    return fit, record


def _row(fit, design: Design, predictor: str, model: str, analysis: str, outcome_sd: float) -> dict:
    return predictor_effect(fit, design, model=model, scale="points", n_obs=len(design.data),
                            analysis=analysis, outcome_sd=outcome_sd, predictor=predictor)


def _dynamic_rows(design: Design, analysis: str, between: str
                  ) -> tuple[list[dict], dict, RandomInterceptResult]:
    fit, record = fit_dynamic(design)
    sd = float(design.data[design.outcome].std(ddof=1))
    rows = [_row(fit, design, p, DYNAMIC_MODEL, analysis, sd) for p in (design.predictor, between)]
    return rows, record, fit


def fit_symptoms(
    features: pd.DataFrame, covariates: list[str], sessions: pd.DataFrame | None = None, *,
    describe: bool = True,
) -> ModelResult:
    """H4, H4a and H4b (see the module docstring), each with a status. Without symptom scores: no rows,
    and the three are not estimable; without session features: the patient-level model only. Without
    `describe` (`fit_family`) the text summaries and the benchmark comparison are left out."""
    statuses: list[dict] = []
    if not has_symptom_features(features):
        refuse(statuses, ["H4", "H4a", "H4b"], NO_DATA, status=NOT_ESTIMABLE)
        return ModelResult(FAMILY, [], [], [], NO_DATA_NOTE, {"fitted": []}, statuses=statuses)
    effects, flow, notes, summaries, extra = [], [], [], [], {"fitted": []}
    design = improvement_design(features, covariates)
    fit = run_planned(statuses, "H4", design, fit_therapist_intercept_lmm, design)
    if fit is not None:
        effects.append(_row(fit, design, "alliance_early", PATIENT_MODEL, "secondary",
                            float(design.data["symptom_improvement"].std(ddof=1))))
        summaries += [summary_text(fit)] if describe else []
        extra["improvement"] = {"formula": design.formula, "covariates": design.covariates,
                                **variance_components(fit, design, "therapist")}
        extra["fitted"].append("improvement")
        if describe:
            extra["benchmark"] = outcome_comparison(design)
    flow += design.flow
    notes += labelled(design.notes, Term("model label", "Symptom improvement (H4)"))
    if sessions is None or "symptoms_next" not in sessions.columns:
        refuse(statuses, ["H4a", "H4b"], Message("no session features with symptom scores"),
               status=NOT_ESTIMABLE)
    else:
        for name, key, label, make, analysis, between in (
            ("forward", "H4a", Term("model label", "Next symptoms (H4a)"), forward_design, "secondary",
             "alliance_between"),
            ("reverse", "H4b", Term("model label", "Next alliance (H4b)"), reverse_design, "exploratory",
             "symptom_improvement_between"),
        ):
            design = make(features, sessions, covariates)
            fitted = run_planned(statuses, key, design, _dynamic_rows, design, analysis, between)
            if fitted is not None:
                rows, record, dynamic = fitted
                effects += rows
                summaries += [summary_text(dynamic)] if describe else []
                extra[name] = record
                extra["fitted"].append(name)
            flow += design.flow
            notes += labelled(design.notes, label)
    return ModelResult(FAMILY, effects, flow, notes, "\n\n".join(summaries), extra, statuses=statuses)


def symptom_estimands(features: pd.DataFrame, sessions: pd.DataFrame, covariates: list[str]) -> list[dict]:
    """The symptom estimands of a (large) population: each model of `fit_symptoms` fitted to it, as rows
    with outcome, model, predictor, scale, estimand and estimand_se.

    The patient-level model is fitted by OLS (its fixed effect is the same population parameter as the
    mixed model's; as for H3), the dynamic models as in the analysis.
    """
    design = improvement_design(features, covariates)
    fit = OLS.from_formula(design.formula, formula_frame(design.data, design.formula),
                           eval_env=FORMULA_NAMES).fit()
    rows = [{"outcome": design.outcome, "model": PATIENT_MODEL, "predictor": "alliance_early",
             "scale": "points", "estimand": float(fit.params["alliance_early_z"]),
             "estimand_se": float(fit.bse["alliance_early_z"])}]
    for make, between in ((forward_design, "alliance_between"),
                          (reverse_design, "symptom_improvement_between")):
        design = make(features, sessions, covariates)
        fit, _ = fit_dynamic(design)
        for predictor in (design.predictor, between):
            term = f"{predictor}_z"
            rows.append({"outcome": design.outcome, "model": DYNAMIC_MODEL, "predictor": predictor,
                         "scale": "points", "estimand": float(fit.params[term]),
                         "estimand_se": float(fit.bse[term])})
    return rows
