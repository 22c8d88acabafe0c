"""Therapist and patient levels of the primary alliance effects, and moderation by discipline
(ANALYSIS_PLAN.md, section 5, "Levels and moderation").

- Split (secondary; Baldwin, Wampold & Imel 2007): the primary predictor X is replaced by the mean of X
  over the therapist's analysed patients and the patient's deviation from it. Both are per SD of X itself
  (not of each part), so the two coefficients are on one scale and their difference is the contextual
  effect; a Wald test of equality is kept in `extra`.
- Moderation (exploratory): one alliance slope per discipline (`C(discipline):X_z` with the discipline
  main effects), with the Wald test that all slopes are equal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from itertools import pairwise

import numpy as np
import pandas as pd

from alliance.models.adherence import attendance_design
from alliance.models.common import (
    Design,
    attempt,
    captured_warnings,
    fit_logit_glm,
    labelled,
    predictor_effect,
)
from alliance.models.dropout import dropout_design
from alliance.models.effects import effect_row
from alliance.models.satisfaction import fit_satisfaction_lmm, satisfaction_design

MODERATOR = "discipline"
MODERATOR_TERM = f'C(Q("{MODERATOR}"))'
MIN_THERAPISTS = 3  # per discipline, for a per-discipline slope with therapist-clustered SEs


@dataclass(frozen=True)
class Primary:
    """How to rebuild and refit one primary model."""

    design: Callable[[pd.DataFrame, list[str]], Design]
    fit: Callable[[Design], object]
    model: str
    scale: str
    n_obs: Callable[[pd.DataFrame], int]
    outcome_sd: Callable[[pd.DataFrame], float | None]


PRIMARY = {
    "adherence": Primary(attendance_design, fit_logit_glm, "binomial_glm_cluster_therapist", "log_odds",
                         lambda d: int(d["scheduled_after_window"].sum()), lambda d: None),
    "dropout": Primary(dropout_design, fit_logit_glm, "logistic_glm_cluster_therapist", "log_odds",
                       len, lambda d: None),
    "satisfaction": Primary(satisfaction_design, fit_satisfaction_lmm, "lmm_therapist_intercept", "points",
                            len, lambda d: float(d["satisfaction"].std(ddof=1))),
}


def split_design(design: Design) -> tuple[Design, Design]:
    """The design with X_z replaced by its therapist-mean and patient-deviation parts (per SD of X);
    returned as two views, one per part, for `predictor_effect`."""
    x = design.predictor
    data = design.data.copy()
    sd = data[x].std(ddof=1)
    therapist_mean = data.groupby("therapist_id")[x].transform("mean")
    data[f"{x}_therapist_z"] = (therapist_mean - data[x].mean()) / sd
    data[f"{x}_patient_z"] = (data[x] - therapist_mean) / sd
    formula = design.formula.replace(f"{x}_z", f"{x}_therapist_z + {x}_patient_z")
    split = replace(design, data=data, formula=formula)
    return replace(split, predictor=f"{x}_therapist"), replace(split, predictor=f"{x}_patient")


def moderation_design(design: Design) -> Design | None:
    """The design with one alliance slope per discipline; None when fewer than two disciplines."""
    if MODERATOR not in design.data or design.data[MODERATOR].nunique() < 2:
        return None
    x = design.predictor
    formula = design.formula.replace(f"{x}_z", f"{MODERATOR_TERM}:{x}_z")
    if f"+ {MODERATOR_TERM}" not in formula:
        formula += f" + {MODERATOR_TERM}"
    return replace(design, formula=formula)


def _equal_slopes_test(fit, terms: list[str]) -> dict:
    """Wald test that the coefficients of `terms` are equal (chi-square on len(terms) - 1 df)."""
    names = list(fit.params.index)
    restrictions = np.zeros((len(terms) - 1, len(names)))
    for i, (a, b) in enumerate(pairwise(terms)):
        restrictions[i, names.index(a)], restrictions[i, names.index(b)] = 1.0, -1.0
    test = fit.wald_test(restrictions, scalar=True)
    return {"statistic": float(test.statistic), "df": len(terms) - 1, "p_value": float(test.pvalue)}


def level_effects(family: str, features: pd.DataFrame, covariates: list[str]) -> tuple[list[dict], dict,
                                                                                      list[str]]:
    """Split and moderation rows of one primary model, their tests, and notes (failures included)."""
    spec = PRIMARY[family]
    rows, tests = [], {}
    therapist, patient = split_design(spec.design(features, covariates))
    split_notes: list[str] = []
    with captured_warnings(split_notes):
        fit = attempt("model", split_notes, spec.fit, therapist)
    if fit is not None:
        data = therapist.data
        rows += [predictor_effect(fit, view, model=spec.model, scale=spec.scale, n_obs=spec.n_obs(data),
                                  analysis="secondary", outcome_sd=spec.outcome_sd(data))
                 for view in (therapist, patient)]
        with captured_warnings(split_notes):
            test = attempt("Wald test", split_notes, _equal_slopes_test, fit,
                           [f"{therapist.predictor}_z", f"{patient.predictor}_z"])
        if test is not None:
            tests["therapist_vs_patient"] = test
    notes = labelled(therapist.notes + split_notes, "Therapist/patient split")
    design = spec.design(features, covariates)
    moderated = moderation_design(design)
    label = f"Moderation by {MODERATOR}"
    if moderated is None:
        return rows, tests, [*notes, f"{label}: fewer than two disciplines, not fitted."]
    per_discipline = moderated.data.groupby(MODERATOR)["therapist_id"].nunique()
    if per_discipline.min() < MIN_THERAPISTS:
        return rows, tests, [*notes, f"{label}: not fitted (a discipline has fewer than {MIN_THERAPISTS} "
                                     "therapists; its slope's cluster-robust SE would rest on too few "
                                     "clusters)."]
    moderation_notes: list[str] = []
    with captured_warnings(moderation_notes):
        fit = attempt("model", moderation_notes, spec.fit, moderated)
    if fit is None:
        return rows, tests, notes + labelled([*moderated.notes, *moderation_notes], label)
    terms = []
    ci = fit.conf_int()
    for level in sorted(moderated.data[MODERATOR].unique()):
        term = f"{MODERATOR_TERM}[{level}]:{design.predictor}_z"
        terms.append(term)
        group = moderated.data[moderated.data[MODERATOR] == level]
        rows.append(effect_row(
            outcome=design.outcome, model=spec.model, predictor=f"{design.predictor} [{level}]",
            scale=spec.scale, estimate=fit.params[term], std_error=fit.bse[term],
            ci_low=ci.loc[term, 0], ci_high=ci.loc[term, 1], p_value=fit.pvalues[term],
            n_obs=spec.n_obs(group), n_patients=group["patient_id"].nunique(),
            n_therapists=group["therapist_id"].nunique(), analysis="exploratory",
            outcome_sd=spec.outcome_sd(moderated.data)))
    with captured_warnings(moderation_notes):
        test = attempt("Wald test", moderation_notes, _equal_slopes_test, fit, terms)
    if test is not None:
        tests[f"equal_slopes_by_{MODERATOR}"] = test
    return rows, tests, notes + labelled(moderated.notes + moderation_notes, label)
