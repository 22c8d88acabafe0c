"""Therapist and patient levels of the primary alliance effects, and moderation by discipline
(ANALYSIS_PLAN.md, section 5, "Levels and moderation").

- Split (secondary; Baldwin, Wampold & Imel 2007): the primary predictor X is replaced by the therapist's
  mean of X, shrunken for its unreliability (`split_design`), and the patient's deviation from it. Both are
  per SD of X itself (not of each part), so the two coefficients are on one scale and their difference is
  the contextual effect; a Wald test of equality is kept in `extra`.
- Moderation (exploratory): one alliance slope per discipline (`C(discipline):X_z` with the discipline
  main effects), with the Wald test that all slopes are equal. With cluster-robust SEs (every model
  fitted on more than one therapist) each slope's interval and p-value use t(G_d - 1), G_d the therapists
  of its discipline: its
  sandwich rests on them alone (the simulation study measured coverage .906-.922 for the smaller
  disciplines with t(G - 1) over all therapists).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from itertools import pairwise

import numpy as np
import pandas as pd
import patsy
from scipy import stats

from alliance.errors import REFUSED, NotEstimable
from alliance.i18n import Message, Plural, Term
from alliance.models.adherence import attendance_design
from alliance.models.common import (
    FORMULA_ENV,
    Design,
    captured_warnings,
    fit_logit_glm,
    formula_frame,
    labelled,
    n_therapists,
    per_sd_wald,
    predictor_effect,
    predictor_name,
    run_planned,
    sample_flags,
    single_valued,
)
from alliance.models.dropout import dropout_design
from alliance.models.effects import effect_row
from alliance.models.satisfaction import fit_therapist_intercept_lmm, satisfaction_design
from alliance.stats.reml import random_intercept_reml

MODERATOR = "discipline"
MODERATION_LABEL = Term("model label", "Moderation by discipline")  # of the moderation model's notes
# The usual disciplines in the words of a reason (the report's names of them); another as the data name it.
DISCIPLINE_TERMS = {"psychotherapy": Term("discipline", "psychotherapy"),
                    "physiotherapy": Term("discipline", "physiotherapy"),
                    "osteopathy": Term("discipline", "osteopathy"),
                    "nutrition": Term("discipline", "nutrition"), "other": Term("discipline", "other")}
MODERATOR_TERM = f'C(Q("{MODERATOR}"))'
MIN_THERAPISTS = 3  # per discipline, for a per-discipline slope with therapist-clustered SEs
SPLIT_ALPHA = 0.05  # the therapist means of X must differ beyond chance (F test) for a therapist-level slope


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
    "satisfaction": Primary(satisfaction_design, fit_therapist_intercept_lmm, "lmm_therapist_intercept",
                            "points", len, lambda d: float(d["satisfaction"].std(ddof=1))),
}


def split_design(design: Design) -> Design:
    """The design with X_z replaced by a therapist part and a patient part, both per SD of X (the SD's
    sampling variance carried as X's; `per_sd_wald`): the therapist part is the empirical Bayes
    (reliability-shrunken) therapist mean of X, the patient part X minus it.

    The observed mean of a therapist's ~12 patients measures the therapist's latent mean with a
    reliability of about .6, which attenuates the therapist-level slope and biases the contextual test
    toward 0 (Luedtke et al. 2008). Replacing it by its expectation given the therapist's patients,
    mu + lambda_j (mean_j - mu) with lambda_j = tau^2 / (tau^2 + sigma^2 / n_j) from a REML random-intercept
    model of X (`alliance.stats.reml`), is regression calibration (Carroll et al. 2006, ch. 4; for group means
    Croon & van Veldhoven 2007, Grilli & Rampichini 2011): y regressed on X - m_j and m_j gives the
    patient-level and therapist-level slopes without that attenuation (exactly so for a linear model
    and normal X, approximately for the logistic ones). `attrs["therapist_reliability"]` is the mean
    lambda_j; a therapist variance of X estimated as 0 leaves no therapist-level contrast (`_fit_split`
    refuses it)."""
    x = design.predictor
    data = design.data.copy()
    sd = data[x].std(ddof=1)
    codes = pd.factorize(data["therapist_id"], sort=True)[0]
    values = data[x].to_numpy(dtype=float)
    reml = random_intercept_reml(values, np.ones((len(values), 1)), codes)
    counts = np.bincount(codes).astype(float)
    shrink = counts * reml.variance_ratio / (1 + counts * reml.variance_ratio)
    means = np.bincount(codes, weights=values) / counts
    centre = float(reml.params[0])
    therapist_mean = (centre + shrink * (means - centre))[codes]
    data[f"{x}_therapist_z"] = (therapist_mean - data[x].mean()) / sd
    data[f"{x}_patient_z"] = (data[x] - therapist_mean) / sd
    data.attrs = design.data.attrs | {"therapist_reliability": float(shrink.mean()),
                                      "therapist_variance": float(reml.group_variance),
                                      **therapist_means_test(values, codes)}
    formula = design.formula.replace(f"{x}_z", f"{x}_therapist_z + {x}_patient_z")
    rv = design.scale_variance[x]
    return replace(design, predictor=f"{x}_therapist", data=data, formula=formula,
                   scale_variance={f"{x}_therapist": rv, f"{x}_patient": rv})


def therapist_means_test(values: np.ndarray, codes: np.ndarray) -> dict:
    """One-way ANOVA F test that the therapist means of `values` are equal (scipy's `f_oneway`): F, its
    degrees of freedom (G - 1, N - G) and p; nan with one therapist, one patient per therapist or one
    value (cases refused before the split is fitted). 1 - 1/F estimates the reliability of the therapist
    means (ICC(2); Bliese 2000), so p < .05 is a 95% confidence bound of that reliability above 0."""
    order = np.argsort(codes, kind="stable")
    groups = np.split(values[order], np.cumsum(np.bincount(codes))[:-1])
    df = (len(groups) - 1, len(values) - len(groups))
    if min(df) < 1 or np.ptp(values) == 0:
        return {"therapist_f": float("nan"), "therapist_f_df": df, "therapist_f_p": float("nan")}
    test = stats.f_oneway(*groups)
    return {"therapist_f": float(test.statistic), "therapist_f_df": df, "therapist_f_p": float(test.pvalue)}


def moderation_design(design: Design) -> Design:
    """The design with one alliance slope per discipline (unchanged when fewer than two disciplines:
    `_fit_moderation` then refuses it)."""
    if MODERATOR not in design.data or design.data[MODERATOR].nunique() < 2:
        return design
    x = design.predictor
    formula = design.formula.replace(f"{x}_z", f"{MODERATOR_TERM}:{x}_z")
    if f"+ {MODERATOR_TERM}" not in formula:
        formula += f" + {MODERATOR_TERM}"
    return replace(design, formula=formula, notes=[], flags=sample_flags(design))


def _equal_slopes_test(fit, terms: list[str]) -> dict:
    """Wald test that the coefficients of `terms` are equal: chi-square on len(terms) - 1 df, or, where the
    fit's inference takes the few-cluster correction (t on G - 1 df, `use_covariance`), F on len(terms) - 1
    and G - 1 df (`df_denom`), as its intervals do (a reviewer's 4 therapists read "χ²(1) = 8.80, p =
    .003", where F(1, 3) gives p = .059)."""
    names = list(fit.params.index)
    restrictions = np.zeros((len(terms) - 1, len(names)))
    for i, (a, b) in enumerate(pairwise(terms)):
        restrictions[i, names.index(a)], restrictions[i, names.index(b)] = 1.0, -1.0
    denominator = getattr(fit, "df_resid_inference", None) if getattr(fit, "use_t", False) else None
    test = fit.wald_test(restrictions, scalar=True, use_f=denominator is not None)
    return {"statistic": float(test.statistic), "df": len(terms) - 1, "p_value": float(test.pvalue),
            **({"df_denom": int(denominator)} if denominator is not None else {})}


HYPOTHESIS = {"adherence": "H1", "dropout": "H2", "satisfaction": "H3"}


def level_effects(family: str, features: pd.DataFrame, covariates: list[str]
                  ) -> tuple[list[dict], dict, list[Message], list[dict]]:
    """Split and moderation rows of one primary model, their tests, notes and statuses (keys
    "<H>-split" and "<H>-moderation")."""
    spec = PRIMARY[family]
    key = HYPOTHESIS[family]
    rows, tests, statuses = [], {}, []
    design = spec.design(features, covariates)
    split = replace(split_design(design), notes=[], flags=sample_flags(design))
    split_notes: list[Message] = []
    with captured_warnings(split_notes):
        fit = run_planned(statuses, f"{key}-split", split, _fit_split, spec, split)
    parts = [split.predictor, split.predictor.replace("_therapist", "_patient")]
    if fit is not None:
        data = split.data
        rows += [predictor_effect(fit, split, model=spec.model, scale=spec.scale, n_obs=spec.n_obs(data),
                                  analysis="secondary", outcome_sd=spec.outcome_sd(data), predictor=part)
                 for part in parts]
        tests["therapist_vs_patient"] = _equal_slopes_test(fit, [f"{part}_z" for part in parts]) | {
            "therapist_reliability": data.attrs["therapist_reliability"],
            "therapist_f": data.attrs["therapist_f"], "therapist_f_df": list(data.attrs["therapist_f_df"]),
            "therapist_f_p": data.attrs["therapist_f_p"]}
    notes = labelled(split.notes + split_notes, Term("model label", "Therapist/patient split"))
    moderated = moderation_design(design)
    label = MODERATION_LABEL
    moderation_notes: list[Message] = []
    with captured_warnings(moderation_notes):
        fit = run_planned(statuses, f"{key}-moderation", moderated, _fit_moderation, spec, moderated)
    if fit is None:
        return rows, tests, notes + labelled([*moderated.notes, *moderation_notes], label), statuses
    terms = []
    for level in sorted(moderated.data[MODERATOR].unique()):
        term = f"{MODERATOR_TERM}[{level}]:{moderated.predictor}_z"
        terms.append(term)
        group = moderated.data[moderated.data[MODERATOR] == level]
        # a discipline's slope with cluster-robust SEs rests on its own therapists: t on their number - 1
        clustered = fit.cov_type == "cluster"
        wald = per_sd_wald(fit, term, moderated.scale_variance[moderated.predictor],
                           df=n_therapists(group) - 1 if clustered else moderated.df)
        rows.append(effect_row(
            outcome=moderated.outcome, model=spec.model, predictor=f"{moderated.predictor} [{level}]",
            scale=spec.scale, **wald, n_obs=spec.n_obs(group), n_patients=group["patient_id"].nunique(),
            n_therapists=group["therapist_id"].nunique(), analysis="exploratory",
            outcome_sd=spec.outcome_sd(moderated.data)))
    tests[f"equal_slopes_by_{MODERATOR}"] = _equal_slopes_test(fit, terms)
    return rows, tests, notes + labelled(moderated.notes + moderation_notes, label), statuses


def _fit_split(spec: Primary, design: Design):
    """The primary fit of the split design; NotEstimable with fewer than 3 therapists, one patient per
    therapist, patients of a therapist who all share its value, therapist means of the predictor that do not
    differ beyond chance (F test at
    `SPLIT_ALPHA`; ANALYSIS_PLAN.md section 5) or a therapist variance estimated as 0."""
    count = n_therapists(design.data)
    if count < MIN_THERAPISTS:
        raise NotEstimable(Plural("{n} therapist in the analysis sample: the therapist-level slope would "
                                  "rest on as many therapist means as it has parameters (at least 3 "
                                  "therapists are needed)",
                                  "{n} therapists in the analysis sample: the therapist-level slope would "
                                  "rest on as many therapist means as it has parameters (at least 3 "
                                  "therapists are needed)", n=count))
    if (design.data.groupby("therapist_id").size() == 1).all():
        raise NotEstimable(Message("one patient per therapist: the patient's deviation from the therapist "
                                   "mean is always 0"))
    between = therapist_level_parameters(design)
    if count <= between:  # a reviewer's 4 therapists, 4 parameters: a slope of two therapists' contrast
        raise NotEstimable(Message("{n} therapists for {k} therapist-level parameters (the intercept, the "
                                   "covariates that are constant within therapists and the therapist mean): "
                                   "no therapist is left over to estimate the therapist-level slope",
                                   n=count, k=between))
    attrs = design.data.attrs
    base = design.predictor.removesuffix("_therapist")
    name = predictor_name(base)
    within = design.data[base] - design.data.groupby("therapist_id")[base].transform("mean")
    if single_valued(within):  # 0 up to rounding: the patient part would be a slope of noise (-1e8 per SD)
        raise NotEstimable(Message("the patients of each therapist have the same {predictor}: there is no "
                                   "patient-level deviation from the therapist mean to relate to the outcome",
                                   predictor=name))
    if attrs["therapist_f_p"] >= SPLIT_ALPHA:
        df = attrs["therapist_f_df"]
        values = dict(predictor=name, df1=df[0], df2=df[1], f=attrs["therapist_f"], p=attrs["therapist_f_p"])
        raise NotEstimable(Message("the therapist means of {predictor} do not vary beyond chance (F({df1}, "
                                   "{df2}) = {f:.2f}, p = {p:.3u}): they are too unreliable to identify a "
                                   "therapist-level slope", **values) if values["p"] < 0.9995 else Message(
            "the therapist means of {predictor} do not vary beyond chance (F({df1}, {df2}) = {f:.2f}, p > "
            ".999): they are too unreliable to identify a therapist-level slope", **values))
    if attrs["therapist_variance"] == 0:
        raise NotEstimable(Message("the therapist means of {predictor} do not vary beyond chance (its "
                                   "therapist variance is estimated as 0): no therapist-level contrast",
                                   predictor=name))
    return spec.fit(design)


def therapist_level_parameters(design: Design) -> int:
    """The rank of the design's columns that are constant within therapists (the intercept, a therapist's
    discipline, the therapist mean): what the therapist means alone must identify."""
    matrix = patsy.dmatrix(design.formula.split("~", 1)[1], formula_frame(design.data, design.formula),
                           FORMULA_ENV, return_type="dataframe")
    spread = matrix.groupby(design.data["therapist_id"].to_numpy()).agg(np.ptp).max()
    constant = matrix.loc[:, spread.to_numpy() <= 1e-12]
    return int(np.linalg.matrix_rank(constant.to_numpy())) if constant.shape[1] else 0


def _fit_moderation(spec: Primary, design: Design):
    """The primary fit with one alliance slope per discipline, when each discipline has enough
    therapists."""
    disciplines = design.data[MODERATOR].nunique() if MODERATOR in design.data else 0
    if disciplines == 0:
        raise NotEstimable(Message("no patient in the analysis sample has a discipline recorded: nothing to "
                                   "compare"), REFUSED)
    if disciplines < 2:
        raise NotEstimable(Plural("{n} discipline in the analysis sample: nothing to compare",
                                  "{n} disciplines in the analysis sample: nothing to compare",
                                  n=disciplines), REFUSED)
    per_discipline = design.data.groupby(MODERATOR)["therapist_id"].nunique()
    if per_discipline.min() < MIN_THERAPISTS:
        fewest = per_discipline.idxmin()
        raise NotEstimable(Plural("{discipline} has {n} therapist (fewer than {minimum}): its slope's "
                                  "cluster-robust SE would rest on too few clusters",
                                  "{discipline} has {n} therapists (fewer than {minimum}): its slope's "
                                  "cluster-robust SE would rest on too few clusters",
                                  n=per_discipline.min(), discipline=DISCIPLINE_TERMS.get(fewest, fewest),
                                  minimum=MIN_THERAPISTS), REFUSED)
    fit = spec.fit(design)
    if fit.cov_type == "cluster":
        design.flags[:] = discipline_t_flags(design.flags, per_discipline)
    return fit


def discipline_t_flags(flags: list[Message], per_discipline: pd.Series) -> list[Message]:
    """The moderation model's flags, saying that each discipline's slope uses t on its own therapists - 1
    (`level_effects`), not the t(G - 1) of all therapists the few-cluster flag gives the model."""
    low, high = int(per_discipline.min()) - 1, int(per_discipline.max()) - 1
    few = [flag for flag in flags if flag.template.startswith("Few clusters:")]
    kept = [flag for flag in flags if flag not in few]
    if few:
        values = few[0].values
        return [*kept, Message("Few clusters: {g} therapists (fewer than {minimum}); {method}; each "
                               "discipline's slope with t intervals and p-values on its own therapists - 1 "
                               "({low} to {high} degrees of freedom).", g=values["g"],
                               minimum=values["minimum"], method=values["method"], low=low, high=high)]
    return [*kept, Message("Each discipline's slope has t intervals and p-values on its own therapists - 1 "
                           "({low} to {high} degrees of freedom).", low=low, high=high)]
