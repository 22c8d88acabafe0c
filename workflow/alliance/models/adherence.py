"""Adherence: attendance after the early window on early alliance (ANALYSIS_PLAN.md, H1)."""

from __future__ import annotations

import pandas as pd

from alliance.models.common import (
    Design,
    ModelResult,
    build_design,
    captured_warnings,
    fit_logit_glm,
    predictor_effect,
)

MODEL = "binomial_glm_cluster_therapist"


def attendance_design(features: pd.DataFrame, covariates: list[str]) -> Design:
    """Patients with sessions scheduled after the early window and an early alliance score."""
    return build_design(
        features,
        outcome="attendance",
        predictor="alliance_early",
        response="attended_after_window + missed_after_window",
        covariates=covariates,
        exclusions=[
            ("no session scheduled after the early window", lambda d: d["scheduled_after_window"] == 0),
            ("no scored alliance in the early window", lambda d: d["alliance_early"].isna()),
        ],
    )


def fit_attendance(features: pd.DataFrame, covariates: list[str]) -> ModelResult:
    """Binomial GLM (logit) of sessions attended out of scheduled after the window, clustered by therapist."""
    design = attendance_design(features, covariates)
    with captured_warnings(design.notes):
        fit = fit_logit_glm(design)
    row = predictor_effect(fit, design, model=MODEL, scale="log_odds",
                           n_obs=int(design.data["scheduled_after_window"].sum()))
    return ModelResult("adherence", [row], design.flow, design.notes, str(fit.summary()),
                       {"formula": design.formula, "covariates": design.covariates})
