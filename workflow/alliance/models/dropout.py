"""Dropout: dropout after the early window on early alliance (ANALYSIS_PLAN.md, H2)."""

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

MODEL = "logistic_glm_cluster_therapist"


def dropout_design(features: pd.DataFrame, covariates: list[str]) -> Design:
    """Patients whose treatment went past the early window, with an early alliance score."""
    design = build_design(
        features,
        outcome="dropout",
        predictor="alliance_early",
        response="dropout_event",
        covariates=covariates,
        exclusions=[
            ("no outcome recorded", lambda d: d["dropout"].isna()),
            ("treatment ended within the early window", lambda d: d["ended_in_window"]),
            ("no scored alliance in the early window", lambda d: d["alliance_early"].isna()),
        ],
    )
    design.data["dropout_event"] = design.data["dropout"].astype(int)
    return design


def fit_dropout_glm(design: Design, cluster: bool = True):
    """Logistic regression of dropout; cluster-robust SEs by therapist."""
    model = smf.glm(design.formula, design.data, family=sm.families.Binomial())
    if not cluster:
        return model.fit()
    return model.fit(cov_type="cluster", cov_kwds={"groups": therapist_groups(design.data)})


def fit_dropout(features: pd.DataFrame, covariates: list[str]) -> ModelResult:
    """The primary dropout model, reduced to its effect row."""
    design = dropout_design(features, covariates)
    with captured_warnings(design.notes):
        fit = fit_dropout_glm(design)
    term = f"{design.predictor}_z"
    low, high = fit.conf_int().loc[term]
    row = effect_row(
        outcome="dropout", model=MODEL, predictor=design.predictor, scale="log_odds",
        estimate=fit.params[term], std_error=fit.bse[term], ci_low=low, ci_high=high,
        p_value=fit.pvalues[term], n_obs=len(design.data), n_patients=len(design.data),
        n_therapists=design.data["therapist_id"].nunique(), analysis="primary",
    )
    rate = float(design.data["dropout_event"].mean())
    return ModelResult("dropout", [row], design.flow, design.notes, str(fit.summary()),
                       {"formula": design.formula, "covariates": design.covariates,
                        "dropout_rate": rate})
