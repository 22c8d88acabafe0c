"""Adherence (ANALYSIS_PLAN.md, H1): attendance after the early window on early alliance (primary), its
GEE check (sensitivity), attendance session by session and home practice on lagged within- and
between-patient alliance (secondary)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
from statsmodels.genmod import cov_struct, families
from statsmodels.genmod.generalized_estimating_equations import GEE

from alliance.errors import BOUNDARY, FITTED, NOT_CONVERGED, NOT_ESTIMABLE, REFUSED, NotEstimable
from alliance.i18n import Message, Plural, Term
from alliance.models.common import (
    FORMULA_NAMES,
    MANCL_DEROUEN,
    NO_EARLY_ALLIANCE,
    NO_SESSION_FEATURES,
    PRIMARY_NOT_FITTED,
    Binary,
    Design,
    ModelResult,
    build_design,
    captured_warnings,
    check_response,
    check_sample,
    cluster_inference,
    few_clusters,
    few_events_flag,
    fit_binary_logit,
    fit_logit_glm,
    flag_few_clusters,
    formula_frame,
    labelled,
    level_designs,
    predictor_effect,
    refuse,
    run_planned,
    sample_flags,
    session_design,
    summary_text,
    use_covariance,
)
from alliance.models.random_intercept import fit_random_intercept
from alliance.stats.clusters import bias_reduced_covariance

MODEL = "binomial_glm_cluster_therapist"
GEE_MODEL = "gee_exchangeable_therapist"
SESSION_MODEL = "session_logit_cluster_therapist"
HOME_MODEL = "lmm_patient_intercept_cluster_therapist"
# The models of the family's notes (`labelled`).
SESSION_ATTENDANCE = Term("model label", "Session attendance")
HOME_PRACTICE = Term("model label", "Home practice")


# In the analysed patients and sessions (the complete cases), as DROPOUT_WORDS say
ATTENDANCE_WORDS = {1: Message("attendance takes a single value: every analysed patient attended every "
                                 "session scheduled after the early window"),
                    0: Message("attendance takes a single value: no analysed patient attended a session "
                               "scheduled after the early window")}
SESSION_ATTENDANCE_WORDS = {
    1: Message("attendance takes a single value: every analysed session was attended"),
    0: Message("attendance takes a single value: no analysed session was attended")}


# Each patient's sessions after the early window, attended (events) and missed
ATTENDED_SESSIONS = Binary(lambda d: (d["attended_after_window"], d["missed_after_window"]),
                           {0: Message("no scheduled session after the early window was attended"),
                            1: Message("every scheduled session after the early window was attended")})


def attendance_design(features: pd.DataFrame, covariates: list[str]) -> Design:
    """Patients with sessions scheduled after the early window and an early alliance score."""
    design = build_design(
        features,
        outcome="attendance",
        predictor="alliance_early",
        response="attended_after_window + missed_after_window",
        covariates=covariates,
        exclusions=[
            (Message("no session scheduled after the early window"),
             lambda d: d["scheduled_after_window"] == 0),
            (NO_EARLY_ALLIANCE, lambda d: d["alliance_early"].isna()),
        ],
        binary=ATTENDED_SESSIONS,
    )
    design.single_value_words = ATTENDANCE_WORDS
    return design


GEE_MIN_CLUSTERS = 10  # fewest clusters of Mancl & DeRouen's (2001) simulations of the bias-reduced sandwich


class NonNegativeExchangeable(cov_struct.Exchangeable):
    """statsmodels' exchangeable working correlation with its moment estimate held at 0 from below (the
    therapist variance of the plan's mixed models is held at 0 alike). Unheld, a negative estimate where a
    therapist's sessions are no more alike than different therapists' can fall below -1 / (n - 1) for the
    largest caseload's n sessions, where the working covariance of that therapist is indefinite: on such
    cohorts statsmodels' iterations oscillated, or settled on estimates that weighted that therapist's
    sessions negatively. `estimate` keeps the last estimate before the hold."""

    estimate: float = 0.0

    def update(self, params: np.ndarray) -> None:
        super().update(params)
        self.estimate = float(self.dep_params)
        if self.estimate < 0:
            self.dep_params = 0.0


def bias_reduced_gee(fit) -> np.ndarray:
    """The bias-reduced sandwich (Mancl & DeRouen 2001) of a fitted statsmodels GEE with exchangeable
    working correlation (`alliance.stats.clusters.bias_reduced_covariance`): each cluster's
    derivatives and residuals whitened by its working covariance at the estimates, through the inverse
    square root (1 - rho)^-1/2 (I - P) + (1 + (n - 1) rho)^-1/2 P of the exchangeable correlation (P
    the projection on the cluster's mean; the scale cancels)."""
    model, params = fit.model, np.asarray(fit.params, dtype=float)
    rho = float(model.cov_struct.dep_params)
    exog, resid, clusters = [], [], []
    for g, (y, x) in enumerate(zip(model.endog_li, model.exog_li, strict=True)):
        eta = x @ params
        mean = model.family.link.inverse(eta)
        sd = np.sqrt(model.family.variance(mean))
        deriv, residual = (model.family.link.inverse_deriv(eta) / sd)[:, None] * x, (y - mean) / sd
        within, between = (1 - rho) ** -0.5, (1 + (len(y) - 1) * rho) ** -0.5
        exog.append(within * deriv + (between - within) * deriv.mean(axis=0))
        resid.append(within * residual + (between - within) * residual.mean())
        clusters.append(np.full(len(y), g))
    return bias_reduced_covariance(np.vstack(exog), np.concatenate(resid), np.concatenate(clusters))


def fit_attendance_gee(design: Design) -> tuple[dict, float]:
    """The primary model as a GEE on one row per scheduled session after the window, exchangeable
    correlation within therapist (robust SEs; with fewer than `min_clusters` therapists the bias-reduced
    sandwich of Mancl & DeRouen 2001 with t(G - 1), flagged). Refused below `GEE_MIN_CLUSTERS`
    therapists. Returns the effect row and the working correlation."""
    data = design.data.loc[design.data.index.repeat(design.data["scheduled_after_window"])].copy()
    data["attended"] = (data.groupby(level=0).cumcount() < data["attended_after_window"]).astype(float)
    data = data.sort_values("therapist_id", kind="stable")
    n_therapists = data["therapist_id"].nunique()
    if n_therapists < GEE_MIN_CLUSTERS:
        raise NotEstimable(Plural("{n} therapist (fewer than {minimum}): the GEE's robust standard error "
                                  "would rest on too few clusters",
                                  "{n} therapists (fewer than {minimum}): the GEE's robust standard error "
                                  "would rest on too few clusters", n=n_therapists, minimum=GEE_MIN_CLUSTERS),
                           REFUSED)
    design.df = None
    if few_clusters(design):
        design.df = n_therapists - 1
        flag_few_clusters(design, MANCL_DEROUEN)
    formula = design.formula.replace("attended_after_window + missed_after_window", "attended")
    model = GEE.from_formula(formula, groups="therapist_id", data=formula_frame(data, formula),
                             family=families.Binomial(), cov_struct=NonNegativeExchangeable(),
                             eval_env=FORMULA_NAMES)
    with captured_warnings(design.notes):
        fit = model.fit()
    if fit is None:  # statsmodels found no estimates or a singular covariance (its warning is in the notes)
        raise NotEstimable(Message("the GEE could not be estimated: no solution or a singular covariance"))
    if not fit.converged:  # its estimates and sandwich are of the last iteration, not of a solution
        raise NotEstimable(Message("the GEE did not converge within its iteration limit (exchangeable "
                                   "working correlation {rho:.3f} at the last iteration)",
                                   rho=float(fit.model.cov_struct.dep_params)), NOT_CONVERGED)
    if design.df is not None:
        use_covariance(fit, bias_reduced_gee(fit), design.df)
    design.flags += few_events_flag(model)
    if not np.isfinite(fit.bse).all() or not np.isfinite(float(fit.model.cov_struct.dep_params)):
        raise NotEstimable(Message("the GEE's robust covariance is not finite (the therapists' sessions do "
                                   "not identify it)"))
    estimate = fit.model.cov_struct.estimate
    if estimate < 0:
        design.mark(BOUNDARY, Message(
            "the working correlation of a therapist's sessions is estimated below 0 ({estimate:.4u}) and "
            "held at 0, its boundary: the GEE reduces to the primary model's logistic regression",
            estimate=estimate) if float(f"{estimate:.4f}") < 0 else Message(  # as written, not -.0000
            "the working correlation of a therapist's sessions is estimated just below 0 (above -.0001) "
            "and held at 0, its boundary: the GEE reduces to the primary model's logistic regression"))
    row = predictor_effect(fit, design, model=GEE_MODEL, scale="log_odds", n_obs=len(data),
                           analysis="sensitivity")
    return row, float(fit.model.cov_struct.dep_params)


# Each scheduled session attended or not, for the covariate categories in which every one was (or none)
SESSIONS_ATTENDED = Binary(lambda d: (d["attended_now"], 1 - d["attended_now"]),
                           {0: Message("no scheduled session was attended"),
                            1: Message("every scheduled session was attended")})


def attendance_session_design(features: pd.DataFrame, sessions: pd.DataFrame,
                              covariates: list[str]) -> Design:
    """Every scheduled session after the first scored one: attended or not, on the alliance at the last
    scored session before it (within and between patients)."""
    rows = sessions.assign(attended_now=sessions["attended"].astype(float))
    design = session_design(features, rows, outcome="session attendance", response="attended_now",
                            covariates=covariates, binary=SESSIONS_ATTENDED)
    design.single_value_words = SESSION_ATTENDANCE_WORDS
    return design


def fit_session_attendance(design: Design) -> list[dict]:
    """Logistic regression with a baseline per session, cluster-robust SEs by therapist; two rows."""
    with captured_warnings(design.notes):
        fit = fit_binary_logit(design)
    return [predictor_effect(fit, d, model=SESSION_MODEL, scale="log_odds", n_obs=len(design.data),
                             analysis="secondary") for d in level_designs(design)]


def home_practice_design(features: pd.DataFrame, sessions: pd.DataFrame,
                         covariates: list[str]) -> Design:
    """Attended sessions with a home-practice score (share 0-1 done since the last session): a score at a
    session not attended (an export that writes 0 there) is not analysed."""
    return session_design(features, sessions, outcome="home practice", response="home_practice",
                          covariates=covariates, attended_only=True)


def fit_home_practice(design: Design) -> tuple[list[dict], dict]:
    """Linear mixed model (REML) with a random intercept per patient, the fixed effects by GLS with
    therapist-clustered SEs; two rows (within, between) on the 0-1 share, and the variance components.
    A share that every analysed session records alike (a clinic that sets no homework: all 0) is not
    estimable, in words."""
    check_sample(design)
    check_response(design)
    with captured_warnings(design.notes):
        fit = fit_random_intercept(design.formula, design.data, "patient_id", cluster="therapist_id",
                                   design=design, inference=cluster_inference(design))
    sd = float(design.data["home_practice"].std(ddof=1))
    rows = [predictor_effect(fit, d, model=HOME_MODEL, scale="points", n_obs=len(design.data),
                             analysis="secondary", outcome_sd=sd) for d in level_designs(design)]
    return rows, {"patient": float(fit.reml.group_variance), "residual": float(fit.reml.residual_variance)}


def fit_attendance(
    features: pd.DataFrame, covariates: list[str], sessions: pd.DataFrame | None = None, *,
    describe: bool = True,
) -> ModelResult:
    """Binomial GLM (logit) of sessions attended out of scheduled after the window, clustered by therapist
    (primary) with its GEE check; with the session features, the session-level models too. Each planned
    model gets a status (`ModelResult.statuses`); one that cannot be fitted says why. Without `describe`
    the text summary is left empty (`fit_family`)."""
    statuses: list[dict] = []
    design = attendance_design(features, covariates)
    notes = design.notes
    with captured_warnings(notes):
        fit = run_planned(statuses, "H1", design, fit_logit_glm, design)
    rows = [] if fit is None else [predictor_effect(
        fit, design, model=MODEL, scale="log_odds", n_obs=int(design.data["scheduled_after_window"].sum()))]
    extra = {"formula": design.formula, "covariates": design.covariates}
    if fit is None:
        refuse(statuses, ["H1-gee"], PRIMARY_NOT_FITTED)
    else:
        check = replace(design, flags=sample_flags(design), status=FITTED, reason=None)
        gee = run_planned(statuses, "H1-gee", check, fit_attendance_gee, check)
        if gee is not None:
            rows.append(gee[0])
            extra["therapist_correlation"] = gee[1]
    flow = design.flow
    if sessions is None:
        refuse(statuses, ["H1a", "H1b"], NO_SESSION_FEATURES)
    else:
        attendance = attendance_session_design(features, sessions, covariates)
        rows += run_planned(statuses, "H1a", attendance, fit_session_attendance, attendance) or []
        flow, notes = flow + attendance.flow, notes + labelled(attendance.notes, SESSION_ATTENDANCE)
        extra["session_formula"] = attendance.formula
        if "home_practice" in sessions and sessions["home_practice"].notna().any():
            home = home_practice_design(features, sessions, covariates)
            fitted = run_planned(statuses, "H1b", home, fit_home_practice, home)
            if fitted is not None:
                rows += fitted[0]
                extra["home_practice_variance"] = fitted[1]
            flow, notes = flow + home.flow, notes + labelled(home.notes, HOME_PRACTICE)
            extra["home_practice_formula"] = home.formula
        else:
            refuse(statuses, ["H1b"], Message("no home-practice scores in the data"), status=NOT_ESTIMABLE)
    summary = "The primary model was not fitted." if fit is None else summary_text(fit) if describe else ""
    return ModelResult("adherence", rows, flow, notes, summary, extra, primary_fit=fit, statuses=statuses)
