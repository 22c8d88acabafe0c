"""Dropout: dropout after the early window on early alliance (ANALYSIS_PLAN.md, H2)."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from alliance.errors import FITTED
from alliance.i18n import Message, Term
from alliance.models.benchmarks import dropout_comparison
from alliance.models.common import (
    NO_EARLY_ALLIANCE,
    NO_OUTCOME_RECORDED,
    NO_SESSION_FEATURES,
    Binary,
    Design,
    ModelResult,
    build_design,
    captured_warnings,
    fit_logit_glm,
    labelled,
    predictor_effect,
    refuse,
    run_planned,
    sample_flags,
    summary_text,
)
from alliance.models.survival import (
    fit_cox_time_varying,
    fit_discrete_hazard,
    fit_rupture_hazard,
    kaplan_meier_by_tertile,
    session_risk_design,
    split_risk_design,
)

MODEL = "logistic_glm_cluster_therapist"
# The label of the notes of H2's models of the sessions at risk (H2a, H2b, H2d) among the family's notes.
SESSIONS_AT_RISK = Term("model label", "Sessions at risk")
# In the analysed patients (the complete cases): "no patient" had been false beside 57 dropouts without a
# covariate (a reviewer's probe)
DROPOUT_WORDS = {0: Message("no analysed patient dropped out after the early window"),
                 1: Message("every analysed patient dropped out after the early window")}
# The session-level models: key -> (fit, whether the alliance is split into within and between parts)
SESSION_KEYS = {"H2a": (fit_discrete_hazard, False), "H2a-split": (fit_discrete_hazard, True),
                "H2b": (fit_cox_time_varying, False), "H2b-split": (fit_cox_time_varying, True),
                "H2d": (fit_rupture_hazard, False)}


# Each patient's dropout as an event or not, for the covariate categories without dropout (or only dropout)
DROPOUT_EVENTS = Binary(lambda d: (d["dropout"].astype(int), 1 - d["dropout"].astype(int)), DROPOUT_WORDS)


def dropout_design(features: pd.DataFrame, covariates: list[str]) -> Design:
    """Patients whose treatment went past the early window, with an early alliance score."""
    design = build_design(
        features,
        outcome="dropout",
        predictor="alliance_early",
        response="dropout_event",
        covariates=covariates,
        exclusions=[
            (NO_OUTCOME_RECORDED, lambda d: d["dropout"].isna()),
            (Message("treatment ended within the early window"), lambda d: d["ended_in_window"]),
            (NO_EARLY_ALLIANCE, lambda d: d["alliance_early"].isna()),
        ],
        binary=DROPOUT_EVENTS,
    )
    design.data["dropout_event"] = design.data["dropout"].astype(int)
    design.single_value_words = DROPOUT_WORDS
    return design


def fit_dropout(
    features: pd.DataFrame, covariates: list[str], sessions: pd.DataFrame | None = None, *,
    describe: bool = True,
) -> ModelResult:
    """Logistic regression of dropout on early alliance, clustered by therapist (primary); with the
    session features, also the discrete-time hazard and the time-varying Cox model (secondary) and the
    rupture hazard (exploratory). Each planned model gets a status; one that cannot be fitted says why.
    Without `describe` (`fit_family`) the text summary is empty, and the benchmark comparison and the
    Kaplan-Meier curves with their log-rank test (H2c: no effect rows) are not computed (no status)."""
    statuses: list[dict] = []
    design = dropout_design(features, covariates)
    notes = design.notes
    with captured_warnings(notes):
        fit = run_planned(statuses, "H2", design, fit_logit_glm, design)
    rows = [] if fit is None else [
        predictor_effect(fit, design, model=MODEL, scale="log_odds", n_obs=len(design.data))]
    extra = {"formula": design.formula, "covariates": design.covariates}
    if len(design.data):
        extra["dropout_rate"] = float(design.data["dropout_event"].mean())
    if fit is not None and describe:
        extra["benchmark"] = dropout_comparison(design)
    km = run_planned(statuses, "H2c", None, kaplan_meier_by_tertile, features) if describe else None
    if km is not None:
        extra |= {"kaplan_meier": km[0].to_dict(orient="records"), "logrank": km[1]}
    flow = design.flow
    if sessions is None:
        refuse(statuses, list(SESSION_KEYS), NO_SESSION_FEATURES)
    else:
        risk = session_risk_design(features, sessions, covariates)
        for key, (fitter, split) in SESSION_KEYS.items():
            view = replace(split_risk_design(risk) if split else risk, flags=sample_flags(risk),
                           status=FITTED, reason=None)
            fitted = run_planned(statuses, key, view, fitter, view)
            if fitted is not None:
                rows += fitted
        flow, notes = flow + risk.flow, notes + labelled(risk.notes, SESSIONS_AT_RISK)
        extra["session_formula"] = risk.formula
    summary = "The primary model was not fitted." if fit is None else summary_text(fit) if describe else ""
    return ModelResult("dropout", rows, flow, notes, summary, extra, primary_fit=fit, statuses=statuses)
