"""Adherence: attendance after the early window on early alliance (ANALYSIS_PLAN.md, H1)."""

from __future__ import annotations

import pandas as pd
import statsmodels.api as sm
import statsmodels.formula.api as smf

from alliance.models.common import (
    Design,
    ModelResult,
    build_design,
    captured_warnings,
    therapist_groups,
)
from alliance.models.effects import effect_row

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


def fit_attendance_glm(design: Design, cluster: bool = True):
    """Binomial GLM (logit) of sessions attended out of scheduled; cluster-robust SEs by therapist."""
    model = smf.glm(design.formula, design.data, family=sm.families.Binomial())
    if not cluster:
        return model.fit()
    return model.fit(cov_type="cluster", cov_kwds={"groups": therapist_groups(design.data)})


def fit_attendance(features: pd.DataFrame, covariates: list[str]) -> ModelResult:
    """The primary adherence model, reduced to its effect row."""
    design = attendance_design(features, covariates)
    with captured_warnings(design.notes):
        fit = fit_attendance_glm(design)
    term = f"{design.predictor}_z"
    low, high = fit.conf_int().loc[term]
    row = effect_row(
        outcome="attendance", model=MODEL, predictor=design.predictor, scale="log_odds",
        estimate=fit.params[term], std_error=fit.bse[term], ci_low=low, ci_high=high,
        p_value=fit.pvalues[term],
        n_obs=int(design.data["scheduled_after_window"].sum()), n_patients=len(design.data),
        n_therapists=design.data["therapist_id"].nunique(), analysis="primary",
    )
    return ModelResult("adherence", [row], design.flow, design.notes, str(fit.summary()),
                       {"formula": design.formula, "covariates": design.covariates})
