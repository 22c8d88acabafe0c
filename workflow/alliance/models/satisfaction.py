"""Satisfaction: CSQ-8 total on mean alliance, therapists as a random intercept (ANALYSIS_PLAN.md, H3)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf

from alliance.models.common import (
    Design,
    ModelResult,
    build_design,
    captured_warnings,
    predictor_effect,
)

MODEL = "lmm_therapist_intercept"
LMM_OPTIMISERS = ("bfgs", "powell", "nm")


def satisfaction_design(features: pd.DataFrame, covariates: list[str]) -> Design:
    """Patients with a satisfaction score and at least one scored alliance session."""
    return build_design(
        features,
        outcome="satisfaction",
        predictor="alliance_mean",
        response="satisfaction",
        covariates=covariates,
        exclusions=[
            ("no satisfaction score", lambda d: d["satisfaction"].isna()),
            ("no scored alliance session", lambda d: d["alliance_mean"].isna()),
        ],
    )


def fit_satisfaction_lmm(design: Design):
    """Linear mixed model by REML with a random intercept per therapist.

    Optimisers are tried in a fixed order (BFGS, Powell, Nelder-Mead) until one converges to a finite
    likelihood (statsmodels' L-BFGS can stop at a zero variance with an infinite likelihood, so it is
    not used). Only the warnings of the fit that is kept become notes.
    """
    model = smf.mixedlm(design.formula, design.data, groups=design.data["therapist_id"])
    fit, notes = None, []
    for method in LMM_OPTIMISERS:
        notes = []
        try:
            with captured_warnings(notes):
                fit = model.fit(reml=True, method=method)
        except np.linalg.LinAlgError:
            design.notes.append(f"The {method} optimiser failed (singular matrix).")
            continue
        if fit.converged and np.isfinite(fit.llf):
            break
        design.notes.append(f"The {method} optimiser did not converge.")
    if fit is None:
        raise RuntimeError("the satisfaction mixed model could not be fitted by any optimiser")
    design.notes.extend(notes)
    if method != LMM_OPTIMISERS[0]:
        design.notes.append(f"The estimates are from the {method} optimiser.")
    if not (fit.converged and np.isfinite(fit.llf)):
        design.notes.append("The mixed model did not converge; treat its estimates with caution.")
    return fit


def fit_satisfaction(features: pd.DataFrame, covariates: list[str]) -> ModelResult:
    """The primary satisfaction model, reduced to its effect row."""
    design = satisfaction_design(features, covariates)
    fit = fit_satisfaction_lmm(design)
    row = predictor_effect(fit, design, model=MODEL, scale="points", n_obs=len(design.data),
                           outcome_sd=float(design.data["satisfaction"].std(ddof=1)))
    therapist_var = float(np.asarray(fit.cov_re)[0, 0])
    return ModelResult("satisfaction", [row], design.flow, design.notes, str(fit.summary()),
                       {"formula": design.formula, "covariates": design.covariates,
                        "therapist_variance": therapist_var, "residual_variance": float(fit.scale)})
