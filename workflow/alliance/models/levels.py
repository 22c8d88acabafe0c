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

from alliance.errors import REFUSED, NotEstimable
from alliance.models.adherence import attendance_design
from alliance.models.common import (
    Design,
    captured_warnings,
    fit_logit_glm,
    labelled,
    plural,
    predictor_effect,
    run_planned,
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


def moderation_design(design: Design) -> Design:
    """The design with one alliance slope per discipline (unchanged when fewer than two disciplines:
    `_fit_moderation` then refuses it)."""
    if MODERATOR not in design.data or design.data[MODERATOR].nunique() < 2:
        return design
    x = design.predictor
    formula = design.formula.replace(f"{x}_z", f"{MODERATOR_TERM}:{x}_z")
    if f"+ {MODERATOR_TERM}" not in formula:
        formula += f" + {MODERATOR_TERM}"
    return replace(design, formula=formula, notes=[], flags=[])


def _equal_slopes_test(fit, terms: list[str]) -> dict:
    """Wald test that the coefficients of `terms` are equal (chi-square on len(terms) - 1 df)."""
    names = list(fit.params.index)
    restrictions = np.zeros((len(terms) - 1, len(names)))
    for i, (a, b) in enumerate(pairwise(terms)):
        restrictions[i, names.index(a)], restrictions[i, names.index(b)] = 1.0, -1.0
    test = fit.wald_test(restrictions, scalar=True, use_f=False)
    return {"statistic": float(test.statistic), "df": len(terms) - 1, "p_value": float(test.pvalue)}


HYPOTHESIS = {"adherence": "H1", "dropout": "H2", "satisfaction": "H3"}


def level_effects(family: str, features: pd.DataFrame, covariates: list[str]
                  ) -> tuple[list[dict], dict, list[str], list[dict]]:
    """Split and moderation rows of one primary model, their tests, notes and statuses (keys
    "<H>-split" and "<H>-moderation")."""
    spec = PRIMARY[family]
    key = HYPOTHESIS[family]
    rows, tests, statuses = [], {}, []
    therapist, patient = split_design(spec.design(features, covariates))
    therapist = replace(therapist, notes=[], flags=[])
    split_notes: list[str] = []
    with captured_warnings(split_notes):
        fit = run_planned(statuses, f"{key}-split", therapist, _fit_split, spec, therapist)
    if fit is not None:
        data = therapist.data
        rows += [predictor_effect(fit, view, model=spec.model, scale=spec.scale, n_obs=spec.n_obs(data),
                                  analysis="secondary", outcome_sd=spec.outcome_sd(data))
                 for view in (therapist, patient)]
        tests["therapist_vs_patient"] = _equal_slopes_test(
            fit, [f"{therapist.predictor}_z", f"{patient.predictor}_z"])
    notes = labelled(therapist.notes + split_notes, "Therapist/patient split")
    moderated = moderation_design(spec.design(features, covariates))
    label = f"Moderation by {MODERATOR}"
    moderation_notes: list[str] = []
    with captured_warnings(moderation_notes):
        fit = run_planned(statuses, f"{key}-moderation", moderated, _fit_moderation, spec, moderated)
    if fit is None:
        return rows, tests, notes + labelled([*moderated.notes, *moderation_notes], label), statuses
    terms = []
    ci = fit.conf_int()
    for level in sorted(moderated.data[MODERATOR].unique()):
        term = f"{MODERATOR_TERM}[{level}]:{moderated.predictor}_z"
        terms.append(term)
        group = moderated.data[moderated.data[MODERATOR] == level]
        rows.append(effect_row(
            outcome=moderated.outcome, model=spec.model, predictor=f"{moderated.predictor} [{level}]",
            scale=spec.scale, estimate=fit.params[term], std_error=fit.bse[term],
            ci_low=ci.loc[term, 0], ci_high=ci.loc[term, 1], p_value=fit.pvalues[term],
            n_obs=spec.n_obs(group), n_patients=group["patient_id"].nunique(),
            n_therapists=group["therapist_id"].nunique(), analysis="exploratory",
            outcome_sd=spec.outcome_sd(moderated.data)))
    tests[f"equal_slopes_by_{MODERATOR}"] = _equal_slopes_test(fit, terms)
    return rows, tests, notes + labelled(moderated.notes + moderation_notes, label), statuses


def _fit_split(spec: Primary, design: Design):
    """The primary fit of the split design; NotEstimable when one therapist (no therapist-level
    contrast) or when the therapist means take one value."""
    n_therapists = design.data["therapist_id"].nunique()
    if n_therapists < MIN_THERAPISTS:
        raise NotEstimable(f"{n_therapists} {plural('therapist', n_therapists)} in the analysis sample: the "
                           "therapist-level slope would rest on as many therapist means as it has "
                           "parameters (at least 3 therapists are needed)")
    if (design.data.groupby("therapist_id").size() == 1).all():
        raise NotEstimable("one patient per therapist: the patient's deviation from the therapist mean is "
                           "always 0")
    return spec.fit(design)


def _fit_moderation(spec: Primary, design: Design):
    """The primary fit with one alliance slope per discipline, when each discipline has enough
    therapists."""
    disciplines = design.data[MODERATOR].nunique() if MODERATOR in design.data else 0
    if disciplines < 2:
        raise NotEstimable(f"{disciplines} {plural('discipline', disciplines)} in the analysis sample: "
                           "nothing to compare", REFUSED)
    per_discipline = design.data.groupby(MODERATOR)["therapist_id"].nunique()
    if per_discipline.min() < MIN_THERAPISTS:
        raise NotEstimable(f"{per_discipline.idxmin()} has {per_discipline.min()} "
                           f"{plural('therapist', int(per_discipline.min()))} (fewer than "
                           f"{MIN_THERAPISTS}): its slope's cluster-robust SE would rest on too few "
                           "clusters", REFUSED)
    return spec.fit(design)
