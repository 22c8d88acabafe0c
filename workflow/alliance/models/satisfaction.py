"""Satisfaction: CSQ-8 total on mean alliance, therapists as a random intercept (ANALYSIS_PLAN.md, H3),
with the ceiling check and the proportional-odds model that respects the ceiling (sensitivity)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import patsy
from scipy.special import expit
from statsmodels.miscmodels.ordinal_model import OrderedModel
from statsmodels.tools.numdiff import approx_fprime

from alliance.errors import FITTED, NOT_CONVERGED, SEPARATION, NotEstimable
from alliance.i18n import Count, Message, Plural, Term
from alliance.instruments import load_instrument
from alliance.models.common import (
    FORMULA_ENV,
    FORMULA_NAMES,
    PRIMARY_NOT_FITTED,
    Design,
    ModelResult,
    build_design,
    captured_warnings,
    check_estimates,
    check_response,
    check_sample,
    cluster_inference,
    flag_few_clusters,
    formula_frame,
    labelled,
    predictor_effect,
    predictors_separate,
    refuse,
    run_planned,
    sample_flags,
)
from alliance.models.random_intercept import RandomInterceptResult, fit_random_intercept
from alliance.stats.separation import SEPARATION_TOLERANCE

MODEL = "lmm_therapist_intercept"
ORDINAL_MODEL = "ordinal_logit_cluster_therapist"
ORDINAL_KEY = "H3-ordinal"  # its key in the plan (alliance.models.plan) and in the family's statuses
ORDINAL_LABEL = Term("model label", "Proportional-odds model")  # the label of its notes among the family's
DEFAULT_INSTRUMENT = "csq8"  # the default of instruments.satisfaction (workflow/schemas/config.schema.yaml)
CEILING_SHARE = 0.15  # floor/ceiling effect: more than 15% at the extreme score (Terwee et al. 2007)
ORDINAL_MAXITER = 2000


UNSCORABLE = Message("satisfaction answered but unscorable (too many items missing)")


def satisfaction_design(features: pd.DataFrame, covariates: list[str]) -> Design:
    """Patients with a satisfaction score and at least one scored alliance session. Patients whose
    answers miss too many items to be scored (`satisfaction_unscorable`) are a step of their own, where
    there are any, so that a clinic whose questionnaires are all incomplete is not told it has none."""
    if "satisfaction" not in features or features["satisfaction"].isna().all():
        features = features.assign(satisfaction=np.nan)
    unscorable = features.get("satisfaction_unscorable", pd.Series(False, index=features.index))
    return build_design(
        features,
        outcome="satisfaction",
        predictor="alliance_mean",
        response="satisfaction",
        covariates=covariates,
        exclusions=[
            (Message("no satisfaction score"), lambda d: d["satisfaction"].isna() & ~unscorable[d.index]),
            *([(UNSCORABLE, lambda d: d["satisfaction"].isna())] if unscorable.any() else []),
            (Message("no scored alliance session"), lambda d: d["alliance_mean"].isna()),
        ],
    )


NO_MEASURE = Message("no satisfaction measure in the data")


def fit_therapist_intercept_lmm(design: Design) -> RandomInterceptResult:
    """The design's patient-level outcome (satisfaction for H3, symptom improvement for H4) in a linear
    mixed model by REML with a random intercept per therapist (`alliance.models.random_intercept`:
    statsmodels MixedLM's estimates, vectorised over therapists), SEs clustered by therapist (CR3 with
    t(G - 1) below `min_clusters` therapists; `cluster_inference`). The sandwich does not assume equal
    residual variances, which a ceiling (the CSQ-8's) breaks: the residual variance falls as alliance rises,
    and the model-based SEs covered 88-93% in an independent simulation (ANALYSIS_PLAN.md, H3).
    Raises NotEstimable when the data cannot support it (no measure, one value, collinear predictors)."""
    if design.outcome == "satisfaction" and design.data.empty and _no_measure(design):
        raise NotEstimable(NO_MEASURE)
    check_sample(design)
    check_response(design)
    with captured_warnings(design.notes):
        return fit_random_intercept(design.formula, design.data, "therapist_id", cluster="therapist_id",
                                    design=design, inference=cluster_inference(design))


def _no_measure(design: Design) -> bool:
    """Whether the first exclusion of the flow removed every patient (nothing was answered: answers too
    incomplete to score are excluded at the next step)."""
    return len(design.flow) > 1 and design.flow[1]["n"] == design.flow[0]["n"] > 0


def satisfaction_score_range(score_range: tuple[float, float] | None = None) -> tuple[float, float]:
    """The instrument's smallest and largest possible total; by default those of the default
    satisfaction instrument (CSQ-8: 8-32), read from its shipped definition."""
    if score_range is not None:
        return float(score_range[0]), float(score_range[1])
    return load_instrument(DEFAULT_INSTRUMENT).score_range


def ceiling_check(values: pd.Series, score_range: tuple[float, float]) -> dict:
    """Shares of the (non-missing) scores at the instrument's maximum and minimum.

    A share above `CEILING_SHARE` (15%) is a ceiling (floor) effect (Terwee et al. 2007). Scores outside
    `score_range` mean the range is not the data's instrument: the shares are then None (as with no
    scores).
    """
    low, high = score_range
    observed = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float)
    n = len(observed)
    outside = int(((observed < low - 1e-9) | (observed > high + 1e-9)).sum())
    out = {"minimum": low, "maximum": high, "n": n, "n_at_maximum": 0, "share_at_maximum": None,
           "n_at_minimum": 0, "share_at_minimum": None, "ceiling_effect": False,
           "floor_effect": False, "outside_range": outside}
    if n == 0 or out["outside_range"]:
        return out
    at_max = int(np.isclose(observed, high, rtol=0, atol=1e-6).sum())
    at_min = int(np.isclose(observed, low, rtol=0, atol=1e-6).sum())
    out.update(n_at_maximum=at_max, share_at_maximum=at_max / n, n_at_minimum=at_min,
               share_at_minimum=at_min / n, ceiling_effect=at_max / n > CEILING_SHARE,
               floor_effect=at_min / n > CEILING_SHARE)
    return out


def ceiling_notes(check: dict) -> list[Message]:
    """Readable notes on a `ceiling_check` result."""
    if check["outside_range"]:
        return [Message("{n} satisfaction scores lie outside {minimum:g}-{maximum:g}: the satisfaction "
                        "instrument's range was not given, so the ceiling was not checked.",
                        n=Count(check["outside_range"]), minimum=check["minimum"],
                        maximum=check["maximum"])]
    if check["n"] == 0:
        return []
    # the count mid-sentence: one that leaves fewer than k of the patients reads "more than ..." (`Count`)
    notes = [Message("Of the {n} analysed patients, {count} are at the maximum satisfaction score "
                     "({maximum:g}).", count=Count(check["n_at_maximum"], of=check["n"]),
                     n=Count(check["n"]), maximum=check["maximum"])]
    if check["ceiling_effect"]:
        notes.append(Message("That is a ceiling effect (more than {share:.0%}; Terwee et al., 2007): the "
                             "proportional-odds model (sensitivity) does not assume equal spacing at the "
                             "top.",
                             share=CEILING_SHARE))
    if check["floor_effect"]:
        notes.append(Message("Patients at the minimum ({minimum:g}): {count}, a floor effect.",
                             count=Count(check["n_at_minimum"], of=check["n"]), minimum=check["minimum"]))
    return notes


class LogitOrderedModel(OrderedModel):
    """statsmodels' OrderedModel (logit link) with its score written out and the logistic cdf as
    `scipy.special.expit` itself (the value `scipy.stats.logistic.cdf` returns, without its argument checks).

    statsmodels differentiates the log-likelihood numerically for BFGS and for the cluster-robust sandwich
    (`score_obs_`, its analytic score, leaves the thresholds out): k + 1 log-likelihoods per gradient, about
    4,500 per fit of a CSQ-8 total with its 20-odd thresholds. `score_obs` gives the same derivatives from
    one pass (tests hold it to statsmodels' numerical one). With u_i and l_i the upper and lower bounds of
    patient i's category (threshold minus x_i b) and F the logistic cdf, F' = F (1 - F):
    d log P_i / d b = x_i (F'(l_i) - F'(u_i)) / P_i, and d log P_i / d tau_j = (F'(u_i) [j is i's upper
    threshold] - F'(l_i) [j is its lower]) / P_i for each threshold tau_j, carried to statsmodels'
    parameters (the first threshold, then the logs of the increments) by the chain rule (McCullagh 1980).
    """

    def cdf(self, x):
        return expit(x)

    def score_obs(self, params):
        """The log-likelihood's derivatives for each observation, (nobs, k_params), in statsmodels'
        parametrisation; P_i as in `loglikeobs` (plus its 1e-20)."""
        params = np.asarray(params, dtype=float)
        thresholds = self.k_levels - 1
        low, upp = self._bounds(params)
        cdf_low, cdf_upp = expit(low), expit(upp)
        prob = np.maximum(cdf_upp - cdf_low, 0) + 1e-20
        density_low, density_upp = cdf_low * (1 - cdf_low) / prob, cdf_upp * (1 - cdf_upp) / prob
        exog = np.zeros((self.nobs, 0)) if self.exog is None else np.asarray(self.exog, dtype=float)
        by_threshold = np.zeros((self.nobs, self.k_levels + 1))  # the padded thresholds, -inf to inf
        rows = np.arange(self.nobs)
        np.add.at(by_threshold, (rows, self.endog + 1), density_upp)
        np.subtract.at(by_threshold, (rows, self.endog), density_low)
        # threshold m is params[first] + sum_{j = 1..m} exp(params[first + j]): parameter j moves every
        # threshold from the j-th on, by 1 (j = 0) or exp(params[first + j])
        later = np.cumsum(by_threshold[:, 1:-1][:, ::-1], axis=1)[:, ::-1]
        scale = np.concatenate(([1.0], np.exp(params[-thresholds:][1:])))
        return np.column_stack([exog * (density_low - density_upp)[:, None], later * scale])

    def score(self, params):
        return self.score_obs(params).sum(axis=0)

    def hessian(self, params):
        """The Hessian as central differences of `score` (2k scores, symmetrised; statsmodels' own takes
        second differences of the log-likelihood, about 1,000 of them), remembered for the last `params`:
        the fit computes it at the estimate, and the cluster-robust sandwich again at the same estimate."""
        key = np.asarray(params, dtype=float).tobytes()
        if getattr(self, "_hessian_at", None) != key:
            jacobian = approx_fprime(np.asarray(params, dtype=float), self.score, centered=True)
            self._hessian_at, self._hessian = key, (jacobian + jacobian.T) / 2
        return self._hessian.copy()


def fit_ordered_logit(formula: str, data: pd.DataFrame, options: dict | None = None):
    """Proportional-odds (cumulative logit) model with statsmodels' OrderedModel, by BFGS.

    The response in `formula` must be an ordered pandas Categorical; no intercept is estimated (the
    thresholds take its place). `options` are the fit's covariance options (e.g. `cluster_inference`'s).
    Raises NotEstimable (not converged) when the optimiser does not converge.
    """
    model = LogitOrderedModel.from_formula(formula, formula_frame(data, formula), distr="logit",
                                           eval_env=FORMULA_NAMES)
    fit = model.fit(method="bfgs", maxiter=ORDINAL_MAXITER, disp=False, **(options or {}))
    if not fit.mle_retvals.get("converged", False):
        raise NotEstimable(Message("the proportional-odds model did not converge ({iterations} BFGS "
                                   "iterations)", iterations=ORDINAL_MAXITER), NOT_CONVERGED)
    return fit


def fit_satisfaction_ordinal(design: Design) -> tuple[dict, list[Message]]:
    """The satisfaction design as a proportional-odds model (sensitivity): the effect row, per SD of mean
    alliance on the log-odds scale of a higher total, clustered by therapist, and notes.

    Each observed total is a category, so the pile-up at the maximum needs no distributional assumption;
    prorated (non-integer) totals are rounded to the nearest point first. A fit that gives some patient's
    own total a probability within `SEPARATION_TOLERANCE` of 1 is refused (separation): there the
    likelihood has no maximum, and BFGS reported convergence at 1,538 log-odds per SD (SE 820) on 30
    patients whose totals the alliance ordered.
    """
    data = design.data.copy()
    total = data[design.outcome]
    rounded = np.rint(total)
    notes = []
    n_rounded = int((~np.isclose(total, rounded)).sum())
    if n_rounded:
        notes.append(Message("{n} prorated totals were rounded to the nearest point.", n=Count(n_rounded)))
    levels = np.sort(rounded.unique())
    if len(levels) < 3:
        raise NotEstimable(Plural("only {n} distinct satisfaction total; a proportional-odds model needs at "
                                  "least 3",
                                  "only {n} distinct satisfaction totals; a proportional-odds model needs at "
                                  "least 3", n=len(levels)))
    data["satisfaction_level"] = pd.Categorical(rounded, categories=levels, ordered=True)
    terms = design.formula.split("~", 1)[1]
    formula = "satisfaction_level ~" + terms
    slopes = patsy.dmatrix(terms, formula_frame(data, terms), FORMULA_ENV).shape[1] - 1  # no intercept
    parameters = slopes + len(levels) - 1
    if len(data) <= parameters:
        raise NotEstimable(Message("only {n} patients for the {parameters} parameters of the "
                                   "proportional-odds model ({levels} distinct satisfaction totals)",
                                   n=Count(len(data)), parameters=parameters, levels=len(levels)))
    with captured_warnings(notes):
        fit = fit_ordered_logit(formula, data, options=cluster_inference(design))
    observed = fit.model.predict(fit.params)[np.arange(len(data)), np.asarray(fit.model.endog, dtype=int)]
    if (observed > 1 - SEPARATION_TOLERANCE).any():  # BFGS settles on the flat likelihood and says so
        raise NotEstimable(predictors_separate(design), SEPARATION)
    if design.df is not None:  # statsmodels has no small-sample corrected sandwich for OrderedModel
        flag_few_clusters(design, Message("therapist-cluster-robust standard errors (CR1; no small-sample "
                                          "correction is available for the proportional-odds model)"))
    check_estimates(fit, design)
    row = predictor_effect(fit, design, model=ORDINAL_MODEL, scale="log_odds", n_obs=len(data),
                           analysis="sensitivity")
    return row, notes


def fitted_ordinal(result: dict) -> tuple[dict, list[Message]]:
    """The proportional-odds fit of a `fit_satisfaction` result as `fit_satisfaction_ordinal` returned it
    (its effect row, with the flags recorded under `ORDINAL_KEY` as `flags`, and notes), from the result
    as written (`ModelResult.to_dict()`), so that the sensitivity analyses need not fit it again. Raises
    NotEstimable, with the status and reason recorded under `ORDINAL_KEY`, when it was not fitted. (The
    sensitivity table's copy had lost the few-cluster flag that H3-ordinal carries.)"""
    rows = [row for row in result["effects"] if row["model"] == ORDINAL_MODEL]
    status = next(status for status in result["statuses"] if status["key"] == ORDINAL_KEY)
    if not rows:
        raise NotEstimable(Message.from_json(status["reason_message"]), status["status"])
    notes = [Message.from_json(data) for data in result["notes_message"]]
    joined = Message.from_json(status["flags_message"]) if status.get("flags_message") else None
    flags = [joined.values[f"part{i}"] for i in range(len(joined.values))] if joined else []  # `Message.join`
    return dict(rows[0]) | {"flags": flags}, [note.values["note"] for note in notes
                                              if note.values.get("label") == ORDINAL_LABEL]


def fit_satisfaction(
    features: pd.DataFrame, covariates: list[str], score_range: tuple[float, float] | None = None, *,
    describe: bool = True,
) -> ModelResult:
    """The primary satisfaction model (mixed model) and its proportional-odds sensitivity model.

    `score_range` is the satisfaction instrument's (minimum, maximum) total (`Instrument.score_range`);
    by default the CSQ-8's. The share of analysed patients at the maximum is in `extra["ceiling"]`.
    Without `describe` (`fit_family`) the text summary is left empty.
    """
    statuses: list[dict] = []
    design = satisfaction_design(features, covariates)
    fit = run_planned(statuses, "H3", design, fit_therapist_intercept_lmm, design)
    extra = {"formula": design.formula, "covariates": design.covariates}
    if fit is None:
        refuse(statuses, [ORDINAL_KEY], PRIMARY_NOT_FITTED)
        return ModelResult("satisfaction", [], design.flow, design.notes, "The primary model was not fitted.",
                           extra, statuses=statuses)
    rows = [predictor_effect(fit, design, model=MODEL, scale="points", n_obs=len(design.data),
                             outcome_sd=float(design.data["satisfaction"].std(ddof=1)))]
    check = ceiling_check(design.data["satisfaction"], satisfaction_score_range(score_range))
    check["instrument"] = "given" if score_range is not None else DEFAULT_INSTRUMENT
    notes = [*design.notes, *ceiling_notes(check)]
    ordinal_design = replace(design, status=FITTED, reason=None, flags=sample_flags(design))
    ordinal = run_planned(statuses, ORDINAL_KEY, ordinal_design, fit_satisfaction_ordinal, ordinal_design)
    if ordinal is not None:
        rows.append(ordinal[0])
        notes += labelled(ordinal[1], ORDINAL_LABEL)
    extra |= variance_components(fit, design, "therapist") | {"ceiling": check}
    return ModelResult("satisfaction", rows, design.flow, notes, fit.summary() if describe else "", extra,
                       primary_fit=fit,
                       statuses=statuses)


def variance_components(fit: RandomInterceptResult, design: Design, level: str) -> dict:
    """The group and residual variances of a random-intercept fit; the group variance is None when it is
    not identified (no group with two rows: see `fit_random_intercept`)."""
    return {f"{level}_variance": float(fit.reml.group_variance) if fit.variance_identified else None,
            "residual_variance": float(fit.reml.residual_variance)}
