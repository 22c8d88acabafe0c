"""Dropout over sessions with time-varying alliance (ANALYSIS_PLAN.md, H2a and H2b; secondary).

Counting-process data: one row per scheduled session t of a patient, the interval (t - 1, t], with the
event "dropped out after session t" on the patient's last scheduled session when the outcome is dropout.
The predictor is `alliance_prev`, the total at the most recent scored session *before* t, so only
alliance measured before an interval predicts the event in it (no look-ahead); sessions before a
patient's first scored session are not at risk in these models (left truncation).
"""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
from statsmodels.duration.hazard_regression import PHReg
from statsmodels.tools.sm_exceptions import ConvergenceWarning

from alliance.errors import SEPARATION, NotEstimable
from alliance.i18n import Count, Message, Plural
from alliance.models.common import (
    MAX_SESSION_BAND,
    NO_EARLIER_SCORED_SESSION,
    NO_OUTCOME_RECORDED,
    Binary,
    Design,
    captured_warnings,
    check_estimates,
    check_identified,
    check_sample,
    cluster_inference,
    covariate_terms,
    fit_binary_logit,
    flag_few_clusters,
    predictor_effect,
    resolve_covariates,
    sd_relative_variance,
    session_flow,
    session_rows_without_pure_categories,
    single_value_reason,
    standardise,
    therapist_groups,
    varying_bands,
    with_settings,
)
from alliance.models.effects import effect_row, groups_a
from alliance.stats.cox import cluster_robust_cox_cov

DISCRETE_MODEL = "discrete_time_hazard_cluster_therapist"
COX_MODEL = "cox_time_varying_cluster_therapist"
DISCRETE_SPLIT_MODEL = "discrete_time_hazard_split_cluster_therapist"
COX_SPLIT_MODEL = "cox_time_varying_split_cluster_therapist"
RUPTURE_MODEL = "rupture_hazard_cluster_therapist"
MONOTONE_LIKELIHOOD = 15.0  # |log-hazard ratio| per SD or per category beyond which the likelihood is flat
# (not "no patient dropped out": a reviewer's cohort whose dropouts all left after their first session, before
# any scored alliance could precede a session at risk, had 25 dropouts in the cohort table)
HAZARD_WORDS = {0: Message("no session at risk ended in dropout"),
                1: Message("every session at risk ended in dropout")}
# Each session at risk ending in dropout or not, for the covariate categories without dropout
SESSION_EVENTS = Binary(lambda d: (d["event"], 1 - d["event"]), HAZARD_WORDS)


def session_risk_design(
    features: pd.DataFrame, sessions: pd.DataFrame, covariates: list[str]
) -> Design:
    """One row per session at risk with a previous alliance score; the flow counts patients and rows.

    A completer's last scheduled session is not at risk: treatment ends there as planned, so no dropout
    can follow it. Besides the undivided `alliance_prev`, the rows carry its split without look-ahead:
    `alliance_running_mean` (the mean of the patient's scored totals so far, up to the previous scored
    session; between patients) and `alliance_prev_deviation` = `alliance_prev` - that mean (within).
    Each alliance column is z-scored over the analysed rows."""
    used, notes = resolve_covariates(features, covariates)
    patients = features[["patient_id", "therapist_id", "dropout", "last_session", *used]]
    keep_columns = ["patient_id", "session", "alliance_prev", "alliance_running_mean",
                    *(["ruptures_before"] if "ruptures_before" in sessions else [])]
    rows = with_settings(sessions[keep_columns].merge(patients, on="patient_id", how="inner"), features)
    completed = rows["dropout"].astype("boolean").eq(False).fillna(False) & (
        rows["session"] == rows["last_session"])
    steps = [(NO_OUTCOME_RECORDED, rows["dropout"].isna()),
             (Message("a completer's last scheduled session (no dropout can follow)"), completed),
             (NO_EARLIER_SCORED_SESSION, rows["alliance_prev"].isna())]
    data, flow, flags = session_flow(rows, steps, used, first=Message("sessions of patients with an outcome"),
                              analysed=Message("sessions at risk analysed"))
    data["event"] = (data["dropout"].astype(bool) & (data["session"] == data["last_session"])).astype(int)
    data, flow, pure = session_rows_without_pure_categories(data, flow, used, SESSION_EVENTS)
    used, dropped = resolve_covariates(data, used)  # one value left in the analysed rows: dropped
    notes += pure + dropped
    data["start"], data["stop"] = data["session"] - 1, data["session"]
    data["session_band"] = varying_bands(np.minimum(data["session"], MAX_SESSION_BAND), data["event"],
                                         1 - data["event"])
    data["alliance_prev_deviation"] = data["alliance_prev"] - data["alliance_running_mean"]
    scale = {}
    for name in ("alliance_prev", *SPLIT_PARTS):
        data[f"{name}_z"] = standardise(data[name])
        scale[name] = sd_relative_variance(data[name], data)
    for name in used:
        if pd.api.types.is_numeric_dtype(data[name]):
            data[name] = standardise(data[name])
    formula = "event ~ alliance_prev_z" + covariate_terms(data, used)
    return Design("dropout", "alliance_prev", data, formula, used, flow, notes, unit="session",
                  single_value_words=HAZARD_WORDS, scale_variance=scale, flags=flags)


SPLIT_PARTS = ("alliance_prev_deviation", "alliance_running_mean")  # within, between (no look-ahead)


def split_risk_design(design: Design) -> Design:
    """The risk design with the previous alliance split into its deviation from the running person mean
    and that mean (`SPLIT_PARTS`), for the split hazard models."""
    terms = " + ".join(f"{name}_z" for name in SPLIT_PARTS)
    return replace(design, predictor=SPLIT_PARTS[0], formula=design.formula.replace("alliance_prev_z", terms))


def fit_rupture_hazard(design: Design) -> list[dict]:
    """Exploratory: the discrete-time hazard with `rupture_before` (a rupture detected at a scored
    session before this one) beside the previous alliance. Raises NotEstimable without rupture data or
    when every (or no) session at risk follows a rupture."""
    if "ruptures_before" not in design.data:
        raise NotEstimable(Message("no rupture data (ruptures are detected on scored sessions)"))
    data = design.data.assign(rupture_before=(design.data["ruptures_before"] > 0).astype(float))
    exposed = int(data["rupture_before"].sum())
    if exposed == 0 and len(data):
        raise NotEstimable(Message("no rupture was detected before any session at risk"))
    if exposed == len(data) and len(data):
        raise NotEstimable(Message("every session at risk follows a rupture: no comparison group"))
    formula = design.formula.replace("event ~ ", "event ~ C(session_band) + rupture_before + ")
    hazard = replace(design, predictor="rupture_before", data=data, formula=formula)
    with captured_warnings(design.notes):
        fit = fit_binary_logit(hazard)
    term = "rupture_before"
    low, high = fit.conf_int().loc[term]
    return [effect_row(
        outcome="dropout", model=RUPTURE_MODEL, predictor=term, scale="log_odds",
        estimate=fit.params[term], std_error=fit.bse[term], ci_low=low, ci_high=high,
        p_value=fit.pvalues[term], n_obs=len(data), n_patients=data["patient_id"].nunique(),
        n_therapists=data["therapist_id"].nunique(), analysis="exploratory",
        r_a=groups_a(exposed, len(data) - exposed))]


def hazard_predictors(design: Design) -> tuple[str, ...]:
    """The alliance predictors of a risk design: the undivided previous total, or its split parts."""
    return SPLIT_PARTS if design.predictor == SPLIT_PARTS[0] else (design.predictor,)


def fit_discrete_hazard(design: Design) -> list[dict]:
    """Logistic discrete-time hazard with a baseline hazard per session band, clustered by therapist; a
    row per alliance predictor (the undivided previous total, or its within and between parts)."""
    hazard = replace(design, formula=design.formula.replace("event ~ ", "event ~ C(session_band) + "))
    with captured_warnings(design.notes):
        fit = fit_binary_logit(hazard)
    model = DISCRETE_MODEL if len(hazard_predictors(design)) == 1 else DISCRETE_SPLIT_MODEL
    return [predictor_effect(fit, hazard, model=model, scale="log_odds", n_obs=len(design.data),
                             analysis="secondary", predictor=name) for name in hazard_predictors(design)]


TERTILES = ("low", "middle", "high")


def kaplan_meier_by_tertile(features: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Retention after the early window by tertile of early alliance (a landmark analysis).

    Patients whose treatment went past the early window and who have an early alliance score are
    followed from the window's end (time 0) to their last scheduled session; dropout is the event, the
    end of treatment otherwise censors. Returns the Kaplan-Meier curves (tertile, sessions after the
    window, at risk, survival with its 95% CI) and a log-rank test across the tertiles.
    """
    from lifelines import KaplanMeierFitter  # here: only this function uses lifelines (1 s to import)
    from lifelines.statistics import multivariate_logrank_test

    data = features[~features["ended_in_window"].astype(bool) & features["alliance_early"].notna()
                    & features["dropout"].notna()].copy()
    if len(data) < len(TERTILES):
        raise NotEstimable(Plural("{n} patient with an early alliance score continued past the early "
                                  "window; tertiles need at least 3",
                                  "{n} patients with an early alliance score continued past the early "
                                  "window; tertiles need at least 3", n=Count(len(data))))
    if not data["dropout"].astype(bool).any():
        raise NotEstimable(Message("no patient dropped out after the early window"))
    data["time"] = data["scheduled_after_window"]
    data["tertile"] = pd.qcut(data["alliance_early"].rank(method="first"), 3, labels=list(TERTILES))
    curves = []
    for tertile, group in data.groupby("tertile", observed=True, sort=True):
        fit = KaplanMeierFitter().fit(group["time"], group["dropout"].astype(bool))
        table = fit.survival_function_.join(fit.confidence_interval_).join(
            fit.event_table[["at_risk"]])
        table.columns = ["survival", "ci_low", "ci_high", "at_risk"]
        curves.append(table.rename_axis("sessions_after_window").reset_index().assign(tertile=tertile))
    test = multivariate_logrank_test(data["time"], data["tertile"].astype(str), data["dropout"].astype(bool))
    curves = pd.concat(curves, ignore_index=True)[
        ["tertile", "sessions_after_window", "at_risk", "survival", "ci_low", "ci_high"]]
    return curves, {"statistic": float(test.test_statistic), "df": int(test.degrees_of_freedom),
                    "p_value": float(test.p_value), "n_patients": len(data),
                    "events": int(data["dropout"].astype(bool).sum())}


def cox_frame(design: Design) -> pd.DataFrame:
    """The numeric frame of the Cox fit: interval, event, therapist cluster, alliance predictors and
    covariates (categorical ones as treatment dummies against their first level in sorted order)."""
    data = design.data
    frame = pd.DataFrame({"start": data["start"], "stop": data["stop"], "event": data["event"],
                          "cluster": therapist_groups(data)})
    for name in hazard_predictors(design):
        frame[f"{name}_z"] = data[f"{name}_z"]
    for name in design.covariates:
        if pd.api.types.is_numeric_dtype(data[name]):
            frame[name] = data[name]
        else:
            levels = sorted(data[name].dropna().unique())
            for level in levels[1:]:
                frame[f"{name}[{level}]"] = (data[name] == level).astype(float)
    return frame


def _cox_model(frame: pd.DataFrame, covariates: pd.DataFrame, strata: bool) -> PHReg:
    """statsmodels PHReg with Efron ties on (a subset of) the Cox frame, strata by `stop` if `strata`."""
    risk_sets = {"strata": frame["stop"].to_numpy()} if strata else {}
    return PHReg(frame["stop"].to_numpy(dtype=float), covariates, status=frame["event"].to_numpy(),
                    ties="efron", **risk_sets)


def fit_cox_time_varying(design: Design) -> list[dict]:
    """Cox model in (start, stop] form with Efron ties, clustered by therapist (statsmodels PHReg, which
    scales to a million rows); a row per alliance predictor (undivided, or within and between).

    Each row is an interval whose risk set is every row covering the same time: rows with delayed entry
    enter at `start` (exclusive), as in lifelines' `entry_col`. With one-session intervals (the session
    designs), that is the rows with the same `stop`, so the rows are fitted as strata by `stop` with no
    entry, which is the same partial likelihood and avoids statsmodels' entry bookkeeping.
    Standard errors: the cluster-robust sandwich times G / (G - 1) (the CR1 factor); with few therapists
    (`few_clusters`) with t(G - 1) intervals and tests (flagged). A therapist jackknife was measured at 13 s
    per cohort of 400 patients (a PHReg refit per therapist and model), four times the rest of the
    analysis, so the simulation study could not carry it; ANALYSIS_PLAN.md section 5 gives the coverage
    of the sandwich with t(G - 1) instead.
    """
    check_sample(design)
    frame = cox_frame(design)
    if not frame["event"].any():
        raise NotEstimable(single_value_reason(design, 0))
    covariates = frame.drop(columns=["start", "stop", "event", "cluster"])
    check_identified(covariates.to_numpy(dtype=float), list(covariates.columns), design)
    one_session = bool(((frame["stop"] - frame["start"]) == 1).all())
    shared = frame.groupby("stop")["event"].transform("size") > 1
    if one_session and not (frame["event"].astype(bool) & shared).any():
        raise NotEstimable(Message("no dropout happened while another patient was at risk at the same "
                                   "session: the Cox partial likelihood carries no information"))
    if not one_session and (frame["start"] > 0).any():
        raise ValueError("intervals longer than one session with delayed entry are not supported")
    monotone = NotEstimable(Message("monotone likelihood: the Cox coefficients grow without bound (the "
                                    "dropout events are separated by the predictors)"), SEPARATION)
    with captured_warnings(design.notes):
        model = _cox_model(frame, covariates, one_session)
        try:
            with warnings.catch_warnings():
                # Newton's method stops at its iteration limit where the partial likelihood has no maximum
                # (a covariate in its own units, dropouts all at one end of it: a coefficient of -2.8 with
                # an SE of 61,000 stays under MONOTONE_LIKELIHOOD); it warns, and the fit is refused
                warnings.simplefilter("error", ConvergenceWarning)
                fit = model.fit()
        except np.linalg.LinAlgError:  # statsmodels inverts the information matrix inside `fit`
            raise NotEstimable(Message("the Cox partial likelihood carries no information on some predictor "
                                       "(its information matrix is singular: within the risk sets of the "
                                       "dropouts a predictor does not vary)")) from None
        except ConvergenceWarning:
            raise monotone from None
    if not np.isfinite(fit.params).all() or np.abs(fit.params).max() > MONOTONE_LIKELIHOOD:
        raise monotone
    options = cluster_inference(design)
    if not options:
        cov = np.asarray(fit.cov_params())
    else:
        g = int(frame["cluster"].max()) + 1
        cov = cluster_robust_cox_cov(model, fit.params, frame["cluster"]) * g / (g - 1)
        if design.df is not None:
            flag_few_clusters(design, Message("therapist-cluster-robust standard errors (CR1)"))
    table = WaldTable(pd.Series(fit.params, index=covariates.columns),
                      pd.Series(np.sqrt(np.diag(cov)), index=covariates.columns))
    check_estimates(table, design)
    model_name = COX_MODEL if len(hazard_predictors(design)) == 1 else COX_SPLIT_MODEL
    return [predictor_effect(table, design, model=model_name, scale="log_hazard", n_obs=len(design.data),
                             analysis="secondary", predictor=name) for name in hazard_predictors(design)]


class WaldTable:
    """Named estimates and SEs of a Cox fit, in the shape `check_estimates` and `predictor_effect` read
    (intervals and tests are `per_sd_wald`'s, on the design's reference distribution)."""

    def __init__(self, params: pd.Series, bse: pd.Series):
        self.params, self.bse = params, bse
