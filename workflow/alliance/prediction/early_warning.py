"""Early warning of dropout from the alliance: risk models and cut-off rules at each decision point,
validated out of sample (ANALYSIS_PLAN.md, section 10).

At each decision point k (`decision_points`) two penalised logistic models predict dropout: "alliance"
(the alliance so far: mean, last total, change, a rupture so far, number scored; what a feedback system
uses) and "alliance_covariates" (the mean, the plan's covariates, the sessions remaining to the planned
end, then the other alliance predictors). The predictors enter in that order for as long as the sample at
k supports their parameters (`entered`, `alliance.prediction.sample_size.parameter_budget`: Riley et al.'s
(2020) criteria, or `max_parameters` of the config): a model of more parameters than its events support
overfits, and penalisation does not rescue it (Riley et al., 2021). Each is a scikit-learn pipeline
(median imputation and standardisation of numbers, one-hot coding of categories, L2-penalised logistic
regression whose penalty C is chosen from `PENALTIES` by the log loss of an inner 3-fold cross-validation
grouped by therapist within the training data). Beside them, two rules on the last alliance total: the
instrument's conventional cut-off (`Instrument.cutoff`, e.g. SRS < 36; refused for an instrument without
one) and the clinic's own cut-off, chosen by Youden's J in each training fold and applied to the held-out
fold (so it carries no optimism).

Validation (TRIPOD type 2a): an outer `folds`-fold cross-validation grouped by therapist (stratified by
dropout; a patient's therapist is never in both the training and the held-out fold) gives every row an
out-of-fold risk, the basis of every measure (`alliance.prediction.measures`). With at least two sites,
an internal-external validation (type 2b) holds out one site at a time at the primary decision point.
The data contract has no dates, so no temporal split is possible.

References
----------
Riley, R. D., Ensor, J., Snell, K. I. E., et al. (2020). Calculating the sample size required for developing
a clinical prediction model. BMJ, 368, m441.
Riley, R. D., Snell, K. I. E., Martin, G. P., et al. (2021). Penalization and shrinkage methods produced
unreliable clinical prediction models especially when sample size was small. Journal of Clinical
Epidemiology, 132, 88-96.
Collins, G. S., Reitsma, J. B., Altman, D. G., & Moons, K. G. M. (2015). Transparent reporting of a
multivariable prediction model for individual prognosis or diagnosis (TRIPOD). Annals of Internal
Medicine, 162(1), 55-63.
Youden, W. J. (1950). Index for rating diagnostic tests. Cancer, 3(1), 32-35.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

from alliance.errors import FITTED, NOT_ESTIMABLE, REFUSED, NotEstimable, status_record
from alliance.i18n import Message, Plural
from alliance.ingest.privacy import discloses
from alliance.instruments import Instrument, name_in_words, shipped_instruments
from alliance.prediction.decision_points import ALLIANCE_PREDICTORS, REMAINING
from alliance.prediction.measures import (
    CLASSIFICATION,
    MEASURES,
    bootstrap_measures,
    calibration_bins,
    net_benefit_curve,
    percentile_ci,
    point_measures,
    rule_curve,
    small_cells,
    standard_error_ci,
    therapist_draws,
    treat_all_curve,
    weighted_fold_auc,
)
from alliance.prediction.refit import penalised_logistic, refit_risks
from alliance.prediction.sample_size import parameter_budget

FAMILY = "early_warning"
MODELS = ("alliance", "alliance_covariates")
RULES = ("conventional_cutoff", "clinic_cutoff")
# C, the inverse L2 penalty on standardised predictors: the default, and the grid of `penalty: cv`.
DEFAULT_PENALTY = 1.0
PENALTIES = (0.01, 0.1, 1.0, 10.0, 100.0)
INNER_FOLDS = 3
CURVE_THRESHOLDS = np.round(np.arange(0.01, 0.505, 0.01), 2)  # the decision curve's risk thresholds
CALIBRATION_BINS = 10
THERAPIST_CV = "therapist_cv"
SITE_OUT = "leave_one_site_out"
MEASURE_COLUMNS = ["validation", "session", "strategy", "measure", "estimate", "ci_low", "ci_high", "n",
                   "dropouts", "threshold"]
CURVE_COLUMNS = ["session", "strategy", "threshold", "net_benefit"]
ROC_COLUMNS = ["session", "strategy", "false_positive_rate", "true_positive_rate"]


def no_cutoff(instrument: Instrument) -> Message:
    """Why the conventional cut-off rule is not applied: a shipped instrument has no validated cut-off (the
    WAI-SR, the WAI-S); of a user's definition the pipeline knows only that it sets none."""
    if instrument.key in shipped_instruments():
        return Message("{instrument} has no validated cut-off: the conventional rule is not applied",
                       instrument=name_in_words(instrument))
    return Message("the definition of {instrument} sets no cut-off (`cutoff`, or instruments.cutoff_value in "
                   "the config): the conventional rule is not applied", instrument=name_in_words(instrument))


def status_key(session: int, strategy: str, validation: str = THERAPIST_CV) -> str:
    """The key of one model's or rule's status, e.g. "early_warning/therapist_cv/3/alliance"."""
    return f"{FAMILY}/{validation}/{session}/{strategy}"


def predictor_sets(rows: pd.DataFrame, covariates: list[str],
                   alliance: tuple[str, ...] = ALLIANCE_PREDICTORS) -> dict[str, list[str]]:
    """The candidate predictors of each model in their order of entry (`entered`): the `alliance` ones;
    and the first of them, the covariates present in `rows`, the sessions remaining, then the others."""
    present = [c for c in covariates if c in rows.columns]
    return {"alliance": list(alliance),
            "alliance_covariates": [*alliance[:1], *present, REMAINING, *alliance[1:]]}


def predictor_parameters(rows: pd.DataFrame, predictor: str) -> int:
    """The parameters `predictor` adds to a model of `rows`: 1 for a number, the levels less one for a
    category (its levels as `design_matrix` codes them, `category_levels`: a missing value is one)."""
    levels = category_levels(rows, [predictor])
    return max(len(levels[predictor]) - 1, 0) if predictor in levels else 1


def parameters_allowed(setting: str | int, y: np.ndarray) -> int:
    """The predictor parameters a model of outcomes `y` may have: `setting` (config
    early_warning.max_parameters) when a number, else (auto) `parameter_budget` at their number and
    dropout rate."""
    return int(setting) if setting != "auto" else parameter_budget(len(y), float(np.mean(y)))


def no_covariate(session: int, allowed: int, setting: str | int) -> Message:
    """Why "alliance_covariates" is not fitted: the parameters allowed leave no room for a covariate (or the
    sessions remaining) beside the alliance mean, so it would be no more than the "alliance" model."""
    if setting == "auto":
        return Plural("the patients analysed at session {session} and their dropouts support {n} predictor "
                      "parameter, too few for a covariate beside the mean of the alliance totals",
                      "the patients analysed at session {session} and their dropouts support {n} predictor "
                      "parameters, too few for a covariate beside the mean of the alliance totals",
                      n=allowed, session=session)
    return Plural("the configuration allows {n} predictor parameter (early_warning.max_parameters), too few "
                  "for a covariate beside the mean of the alliance totals",
                  "the configuration allows {n} predictor parameters (early_warning.max_parameters), too few "
                  "for a covariate beside the mean of the alliance totals", n=allowed)


def entered(rows: pd.DataFrame, candidates: list[str], allowed: int) -> list[str]:
    """The `candidates` that enter a model of `rows`, in order, until the next would take the
    parameters beyond `allowed`; the first always enters (a model needs a predictor)."""
    used, total = [], 0
    for predictor in candidates:
        total += predictor_parameters(rows, predictor)
        if used and total > allowed:
            break
        used.append(predictor)
    return used


MISSING = "(missing)"


def category_levels(rows: pd.DataFrame, predictors: list[str]) -> dict[str, list[str]]:
    """The levels of each categorical predictor in `rows` (a missing value is the level "(missing)")."""
    return {c: sorted(rows[c].astype(object).where(rows[c].notna(), MISSING).astype(str).unique())
            for c in predictors if not pd.api.types.is_numeric_dtype(rows[c])}


def design_matrix(rows: pd.DataFrame, predictors: list[str], levels: dict[str, list[str]]) -> np.ndarray:
    """The predictors as numbers: numeric ones as they are (missing as NaN, imputed in the model's
    pipeline), each categorical one as an indicator per level of `levels` (a level not listed: all 0)."""
    columns = []
    for column in predictors:
        if column in levels:
            values = rows[column].astype(object).where(rows[column].notna(), MISSING).astype(str)
            columns += [(values == level).to_numpy(dtype=float) for level in levels[column]]
        else:
            columns.append(rows[column].astype("Float64").to_numpy(dtype=float, na_value=np.nan))
    return np.column_stack(columns) if columns else np.empty((len(rows), 0))


def _model(penalty: float):
    """Median imputation, standardisation and the L2-penalised logistic regression with inverse
    penalty C = `penalty` (scikit-learn)."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler(),
                         LogisticRegression(C=penalty, max_iter=1000))


def _grouped_splits(y: np.ndarray, groups: np.ndarray, folds: int, seed: int, *, stratified: bool = True
                    ) -> list:
    """Folds of whole therapists, shuffled with `seed`; stratified by dropout for the outer folds (the
    inner ones are not: StratifiedGroupKFold costs seconds per split at a thousand therapists)."""
    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

    kind = StratifiedGroupKFold if stratified else GroupKFold
    codes = np.unique(groups, return_inverse=True)[1]  # the same folds as the codes' (sorted) labels, whose
    # np.isin per fold cost 6 s at 10,000 patients
    return list(kind(n_splits=folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y, codes))


def fit_model(x: np.ndarray, y: np.ndarray, groups: np.ndarray, penalty: float | str, seed: int):
    """The model (a fitted scikit-learn pipeline, `_model`) of predictors `x` and outcomes `y`, with
    inverse penalty C = `penalty`, or with "cv" the C that `choose_penalty` chooses."""
    chosen = choose_penalty(x, y, groups, seed) if penalty == "cv" else float(penalty)
    return _model(chosen).fit(x, y)


def choose_penalty(x: np.ndarray, y: np.ndarray, groups: np.ndarray, seed: int) -> float:
    """The C of `PENALTIES` with the lowest mean log loss in an inner `INNER_FOLDS`-fold cross-validation
    grouped by therapist (`groups`); `DEFAULT_PENALTY` where the data have too few therapists or dropouts
    to split. In each inner fold the imputation and standardisation are fitted to its training rows, as
    in `_model`, and every C of the grid in one vectorised fit (`alliance.prediction.refit
    .penalised_logistic`, scikit-learn's objective; a pipeline per C cost 4 s of the default run)."""
    if len(np.unique(groups)) < INNER_FOLDS or y.sum() < INNER_FOLDS:
        return DEFAULT_PENALTY
    inner = _grouped_splits(y, groups, INNER_FOLDS, seed, stratified=False)
    splits = [(train, test) for train, test in inner if 0 < y[train].sum() < len(train)]
    if not splits:
        return DEFAULT_PENALTY
    grid = np.asarray(PENALTIES)
    losses = np.zeros(len(grid))
    for train, test in splits:
        prepare = _model(DEFAULT_PENALTY)[:-1].fit(x[train])
        rate = y[train].mean()
        start = np.r_[np.log(rate / (1 - rate)), np.zeros(x.shape[1])]
        beta = penalised_logistic(prepare.transform(x[train]), y[train], np.ones((len(grid), len(train))),
                                  start, grid)
        held_out = np.column_stack([np.ones(len(test)), prepare.transform(x[test])])
        losses += [_log_loss(y[test], risk) for risk in expit(beta @ held_out.T)]
    return float(grid[int(np.argmin(losses))])


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    """Mean negative log-likelihood of the outcomes `y` under the risks `p` (scikit-learn's `log_loss`
    without its input checks, which cost more than the fit here)."""
    p = np.clip(p, 1e-15, 1 - 1e-15)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def predict(model, x: np.ndarray) -> np.ndarray:
    """The fitted model's dropout risk for the rows of predictors `x`."""
    return model.predict_proba(x)[:, 1]


def youden_cutoff(last: np.ndarray, y: np.ndarray) -> float:
    """The cut-off c on the last alliance total whose rule "a total at or below c" has the largest
    Youden's J (sensitivity + specificity - 1) in these data; the lowest c among ties (fewest alerts)."""
    candidates = np.unique(last)
    flagged = last[None, :] <= candidates[:, None]
    y = y.astype(bool)
    # J times (dropouts x non-dropouts), in integers: ties are exact
    j = (flagged & y).sum(axis=1) * int((~y).sum()) - (flagged & ~y).sum(axis=1) * int(y.sum())
    return float(candidates[int(np.argmax(j))])


def check_estimable(rows: pd.DataFrame, session: int, folds: int, min_cell_size: int,
                    in_treatment: int | None = None) -> None:
    """Raise `NotEstimable` where the rows at `session` cannot support a validated model, or where fewer
    than `min_cell_size` of them dropped out or stayed (refused: too few to validate a prediction, and
    every measure, its n and the `auto` threshold would give that suppressed count away: sensitivity
    6 / 8, a threshold of 8 / 158). `in_treatment`: the patients in treatment at `session` (the flow's),
    where known, so that an empty decision point says whether anyone was in treatment."""
    if rows.empty and in_treatment == 0:
        raise NotEstimable(Message("no patient is in treatment at session {session} with sessions still "
                                   "planned after it", session=session))
    if rows.empty:
        raise NotEstimable(Message("no patient in treatment at session {session} has an alliance score",
                                   session=session))
    dropouts = int(rows["dropout"].sum())
    if dropouts == 0:
        raise NotEstimable(Message("no patient in treatment at session {session} dropped out",
                                   session=session))
    if dropouts == len(rows):
        raise NotEstimable(Message("every patient in treatment at session {session} dropped out",
                                   session=session))
    if dropouts < min_cell_size:
        raise NotEstimable(Message("fewer than {minimum} of the patients in treatment at session {session} "
                                   "dropped out: too few to validate a prediction, and a count that the "
                                   "minimum cell size suppresses", minimum=min_cell_size, session=session),
                           REFUSED)
    if len(rows) - dropouts < min_cell_size:
        raise NotEstimable(Message("fewer than {minimum} of the patients in treatment at session {session} "
                                   "stayed: too few to validate a prediction, and a count that the minimum "
                                   "cell size suppresses", minimum=min_cell_size, session=session), REFUSED)
    therapists = rows["therapist_id"].nunique()
    if therapists < folds:
        raise NotEstimable(Message("the patients in treatment at session {session} have {n} therapists: "
                                   "the validation by therapist needs at least {folds}, one per fold",
                                   session=session, n=therapists, folds=folds))


def out_of_fold(rows: pd.DataFrame, designs: dict[str, np.ndarray], folds: int, penalty: float | str,
                seed: int, session: int) -> dict:
    """The cross-validation by therapist: each row's risk from each model fitted without its therapist's
    fold (`risks`: name -> rows), each row's fold (`folds`), the clinic rule's alerts (`clinic`, its
    cut-off chosen in the training folds), the cut-off of each fold (`cutoffs`), and for the bootstrap's
    refits the folds' (train, test) indices (`splits`) and fitted models (`models`: name -> folds)."""
    y = rows["dropout"].to_numpy(dtype=int)
    groups = rows["therapist_id"].to_numpy()
    splits = _grouped_splits(y, groups, folds, seed)
    if any(not 0 < y[train].sum() < len(train) for train, _ in splits):
        raise NotEstimable(Message("the dropouts at session {session} are all with the therapists of one "
                                   "fold: a model cannot be trained without them", session=session))
    risks = {name: np.full(len(rows), np.nan) for name in designs}
    fold = np.zeros(len(rows), dtype=int)
    clinic = np.zeros(len(rows), dtype=bool)
    last = rows["alliance_last"].to_numpy(dtype=float)
    cutoffs = []
    models = {name: [] for name in designs}
    for number, (train, test) in enumerate(splits):
        fold[test] = number
        for name, x in designs.items():
            models[name].append(fit_model(x[train], y[train], groups[train], penalty, seed))
            risks[name][test] = predict(models[name][-1], x[test])
        cutoff = youden_cutoff(last[train], y[train])
        clinic[test] = last[test] <= cutoff
        cutoffs.append(cutoff)
    return {"risks": risks, "folds": fold, "clinic": clinic, "cutoffs": cutoffs, "splits": splits,
            "models": models}


def refit_aucs(validated: dict, designs: dict[str, np.ndarray], y: np.ndarray, weights: np.ndarray
               ) -> dict[str, np.ndarray]:
    """Each bootstrap draw's AUC of each model (name -> draws; `weighted_fold_auc` over the folds of
    `validated`, from `out_of_fold` or `leave_site_out`) from the models refitted in the draw's training
    folds under the therapist draws' `weights` (`alliance.prediction.refit`); NaN for a draw with a
    training part without dropouts or without non-dropouts (its models cannot be refitted)."""
    splits = validated["splits"]
    fold = np.zeros(len(y), dtype=int)
    for number, (_train, test) in enumerate(splits):
        fold[test] = number
    aucs = {}
    for name, x in designs.items():
        risks = refit_risks(validated["models"][name], splits, x, y, weights)
        usable = np.isfinite(risks).all(axis=1)  # every fold refitted (`penalised_logistic`'s NaN)
        aucs[name] = np.full(len(weights), np.nan)
        aucs[name][usable] = weighted_fold_auc(y, risks[usable], fold, weights[usable])
    return aucs


def leave_site_out(rows: pd.DataFrame, designs: dict[str, np.ndarray], penalty: float | str, seed: int,
                   session: int) -> dict:
    """Every row's risk from each model fitted to the other sites (internal-external validation;
    `risks`: name -> rows), with the (train, test) indices of each held-out site (`splits`) and the
    fitted models (`models`: name -> sites) for the bootstrap's refits."""
    sites = rows["site"] if "site" in rows.columns else pd.Series(np.nan, index=rows.index)
    if sites.dropna().nunique() < 2 or sites.isna().any():
        raise NotEstimable(Message("the patients in treatment at session {session} do not come from two "
                                   "or more recorded sites: no site can be held out", session=session))
    y = rows["dropout"].to_numpy(dtype=int)
    groups = rows["therapist_id"].to_numpy()
    risks = {name: np.full(len(rows), np.nan) for name in designs}
    models = {name: [] for name in designs}
    splits = []
    for site in sorted(sites.unique()):
        test = (sites == site).to_numpy()
        if not 0 < y[~test].sum() < (~test).sum():
            raise NotEstimable(Message("without site {site} no patient in treatment at session {session} "
                                       "dropped out, or all did", site=site, session=session))
        splits.append((np.flatnonzero(~test), np.flatnonzero(test)))
        for name, x in designs.items():
            models[name].append(fit_model(x[~test], y[~test], groups[~test], penalty, seed))
            risks[name][test] = predict(models[name][-1], x[test])
    return {"risks": risks, "splits": splits, "models": models}


def _measure_rows(validation: str, session: int, strategy: str, y: np.ndarray, p: np.ndarray | None,
                  alert: np.ndarray, threshold: float, weights: np.ndarray, folds: np.ndarray,
                  min_cell_size: int, refit_auc: np.ndarray | None = None) -> list[dict]:
    """The rows of one model's or rule's measures, with the draws' AUCs of the refitted model
    (`refit_aucs`) in place of those of the fixed predictions `p`. Where the table of its alerts has a
    cell of 1 to `min_cell_size` - 1 patients (`small_cells`), the measures of its alerts are marked
    `withheld` (the analysis takes them out of its tables once the verdict is drawn)."""
    estimates = point_measures(y, p, alert, threshold, folds)
    draws = bootstrap_measures(y, p, alert, threshold, weights, folds, refit_auc)
    shared = {"validation": validation, "session": session, "strategy": strategy, "n": len(y),
              "dropouts": int(y.sum()), "threshold": threshold}
    hidden = bool(small_cells(y, alert, min_cell_size))
    rows = []
    for measure in MEASURES:
        if not np.isfinite(estimates[measure]):
            continue
        refitted = measure == "auc" and refit_auc is not None
        low, high = (standard_error_ci(estimates[measure], draws[measure]) if refitted
                     else percentile_ci(draws[measure]))
        rows.append(shared | {"measure": measure, "estimate": float(estimates[measure]), "ci_low": low,
                              "ci_high": high, "withheld": hidden and measure in CLASSIFICATION})
    return rows


def alert_threshold(setting: str | float, y: np.ndarray) -> float:
    """The risk at or above which a patient is flagged: `setting`, or with "auto" the observed dropout
    rate of the patients at risk (a patient flagged when above the clinic's average risk)."""
    return float(np.mean(y)) if setting == "auto" else float(setting)


def early_warning_analysis(rows: pd.DataFrame, settings: dict, *, covariates: list[str],
                           instrument: Instrument, min_cell_size: int,
                           alliance: tuple[str, ...] = ALLIANCE_PREDICTORS,
                           flow: pd.DataFrame | None = None) -> dict:
    """The early-warning analysis of the decision rows (`alliance.prediction.decision_points`).

    `settings` is the config's `early_warning` block (decision_points, primary_session, folds,
    bootstrap, threshold, penalty, max_parameters (auto when absent), seed); `alliance` the alliance
    predictors in their order of entry (a notebook may try others); `flow` the decision points' flow
    (`decision_rows`), whose patients in treatment tell an empty decision point's reason. Returns the
    result (JSON-ready: statuses, the parameters allowed and the predictors entered at each decision
    point, thresholds, cut-offs, the verdict) and the tables: measures, decision curve, calibration bins,
    ROC points.
    """
    from sklearn import config_context

    with config_context(assume_finite=True, skip_parameter_validation=True):  # checked once, here
        return _analysis(rows, settings, covariates=covariates, instrument=instrument,
                         min_cell_size=min_cell_size, alliance=alliance,
                         in_treatment={} if flow is None else dict(zip(flow["session"], flow["in_treatment"],
                                                                       strict=True)))


def _analysis(rows: pd.DataFrame, settings: dict, *, covariates: list[str], instrument: Instrument,
              min_cell_size: int, alliance: tuple[str, ...], in_treatment: dict[int, int]) -> dict:
    points = sorted(int(k) for k in settings["decision_points"])
    primary, folds, seed = int(settings["primary_session"]), int(settings["folds"]), int(settings["seed"])
    penalty = settings.get("penalty", DEFAULT_PENALTY)
    allowed = settings.get("max_parameters", "auto")
    sets = predictor_sets(rows, covariates, alliance)
    levels = category_levels(rows, sets["alliance_covariates"])
    result = {"family": FAMILY, "statuses": [], "primary_session": primary, "decision_points": points,
              "folds": folds, "bootstrap": int(settings["bootstrap"]), "seed": seed,
              "predictors": sets, "levels": levels, "penalty": penalty, "max_parameters": allowed,
              "parameters_allowed": {}, "entered": {}, "thresholds": {}, "clinic_cutoffs": {},
              "conventional_cutoff": (None if instrument.cutoff is None else
                                      {"value": instrument.cutoff.value,
                                       "inclusive": instrument.cutoff.inclusive}),
              "instrument": instrument.name}
    measures, curves, bins, roc = [], [], [], []
    for session in points:
        at_k = rows[rows["session"] == session].reset_index(drop=True)
        y = at_k["dropout"].to_numpy(dtype=int)
        try:
            check_estimable(at_k, session, folds, min_cell_size, in_treatment.get(session))
            budget = parameters_allowed(allowed, y)
            used = {name: entered(at_k, candidates, budget) for name, candidates in sets.items()}
            if not set(used["alliance_covariates"]) - set(alliance):  # the alliance model or less
                del used["alliance_covariates"]
            designs = {name: design_matrix(at_k, predictors, levels) for name, predictors in used.items()}
            validated = out_of_fold(at_k, designs, folds, penalty, seed, session)
        except NotEstimable as error:
            for strategy in (*MODELS, *RULES):
                result["statuses"].append(status_record(status_key(session, strategy), error.status,
                                                        error.message))
            continue
        threshold = alert_threshold(settings["threshold"], y)
        result["parameters_allowed"][str(session)] = budget
        result["entered"][str(session)] = used
        result["thresholds"][str(session)] = threshold
        result["clinic_cutoffs"][str(session)] = validated["cutoffs"]
        risks, clinic, fold = validated["risks"], validated["clinic"], validated["folds"]
        weights = therapist_draws(at_k["therapist_id"].to_numpy(), int(settings["bootstrap"]),
                                  np.random.default_rng([seed, session]))
        last = at_k["alliance_last"].to_numpy(dtype=float)
        aucs = refit_aucs(validated, designs, y, weights)
        for name in MODELS:
            if name not in designs:
                why = no_covariate(session, budget, allowed)
                validations = (THERAPIST_CV, SITE_OUT) if session == primary else (THERAPIST_CV,)
                result["statuses"] += [status_record(status_key(session, name, validation), NOT_ESTIMABLE,
                                                     why) for validation in validations]
                continue
            result["statuses"].append(status_record(status_key(session, name), FITTED))
            measures += _measure_rows(THERAPIST_CV, session, name, y, risks[name], risks[name] >= threshold,
                                      threshold, weights, fold, min_cell_size, aucs[name])
            curves.append(_curve(session, name, net_benefit_curve(y, risks[name], CURVE_THRESHOLDS,
                                                                  min_cell_size)))
            bins.append(calibration_bins(y, risks[name], CALIBRATION_BINS, min_cell_size)
                        .assign(session=session, strategy=name))
            roc.append(roc_points(y, risks[name], min_cell_size).assign(session=session, strategy=name))
        rules = {"clinic_cutoff": clinic}
        if instrument.cutoff is None:
            result["statuses"].append(status_record(
                status_key(session, "conventional_cutoff"), REFUSED, no_cutoff(instrument)))
        else:
            rules = {"conventional_cutoff": instrument.cutoff.flags(last)} | rules
        for name, alert in rules.items():
            result["statuses"].append(status_record(status_key(session, name), FITTED))
            measures += _measure_rows(THERAPIST_CV, session, name, y, None, alert, threshold, weights, fold,
                                      min_cell_size)
            curves.append(_curve(session, name, rule_curve(y, alert, CURVE_THRESHOLDS, min_cell_size)))
        curves.append(_curve(session, "alert_all", treat_all_curve(float(np.mean(y)), CURVE_THRESHOLDS)))
        curves.append(_curve(session, "alert_none", np.zeros(len(CURVE_THRESHOLDS))))
        if session == primary:
            measures += _site_rows(at_k, designs, penalty, seed, session, threshold, weights, result,
                                   min_cell_size)
    every = pd.DataFrame(measures, columns=[*MEASURE_COLUMNS, "withheld"])
    hidden = every["withheld"].astype(bool)
    result["verdict"] = verdict(every, primary, result)
    result["withheld"] = [[validation, int(session), strategy] for validation, session, strategy
                          in every.loc[hidden, ["validation", "session", "strategy"]].drop_duplicates()
                          .itertuples(index=False)]
    tables = {"measures": every.loc[~hidden, MEASURE_COLUMNS].reset_index(drop=True),
              "decision_curve": (pd.concat(curves, ignore_index=True) if curves
                                 else pd.DataFrame(columns=CURVE_COLUMNS)),
              "calibration": (pd.concat(bins, ignore_index=True) if bins else pd.DataFrame(
                  columns=["bin", "n", "predicted", "observed", "session", "strategy"]))}
    tables["roc"] = (pd.concat(roc, ignore_index=True)[ROC_COLUMNS] if roc
                     else pd.DataFrame(columns=ROC_COLUMNS))
    calibration = tables["calibration"]
    tables["calibration"] = calibration[["session", "strategy", "bin", "n", "predicted", "observed"]]
    return {"result": result, **tables}


def _site_rows(at_k: pd.DataFrame, designs: dict, penalty: float | str, seed: int, session: int,
               threshold: float, weights: np.ndarray, result: dict, min_cell_size: int) -> list[dict]:
    try:
        validated = leave_site_out(at_k, designs, penalty, seed, session)
    except NotEstimable as error:
        for name in designs:
            result["statuses"].append(status_record(status_key(session, name, SITE_OUT), error.status,
                                                    error.message))
        return []
    y = at_k["dropout"].to_numpy(dtype=int)
    risks = validated["risks"]
    aucs = refit_aucs(validated, designs, y, weights)
    rows = []
    for name in designs:
        result["statuses"].append(status_record(status_key(session, name, SITE_OUT), FITTED))
        rows += _measure_rows(SITE_OUT, session, name, y, risks[name], risks[name] >= threshold, threshold,
                              weights, pd.factorize(at_k["site"])[0], min_cell_size, aucs[name])
    return rows


def roc_points(y: np.ndarray, p: np.ndarray, min_cell_size: int) -> pd.DataFrame:
    """The ROC curve of risk `p` (scikit-learn's `roc_curve`, its corners only), without the corners that
    would give a count of 1 to `min_cell_size` - 1 away: a corner's rates times the numbers of dropouts and
    of patients who stayed are the counts of each at or above its threshold, and below it (ANALYSIS_PLAN.md,
    section 8). The curve runs straight past them; the AUC is computed from the risks, not from these."""
    from sklearn.metrics import roc_curve

    fpr, tpr, _thresholds = roc_curve(y, p)
    positives = int(np.sum(y))
    negatives = len(y) - positives
    keep = ~(discloses(np.rint(tpr * positives), positives, min_cell_size)
             | discloses(np.rint(fpr * negatives), negatives, min_cell_size))
    return pd.DataFrame({"false_positive_rate": fpr[keep], "true_positive_rate": tpr[keep]})


def _curve(session: int, strategy: str, values: np.ndarray) -> pd.DataFrame:
    """One strategy's decision curve, without the thresholds whose net benefit is withheld (NaN)."""
    shown = np.isfinite(values)
    return pd.DataFrame({"session": session, "strategy": strategy, "threshold": CURVE_THRESHOLDS[shown],
                         "net_benefit": values[shown]})


def verdict(measures: pd.DataFrame, primary: int, result: dict) -> dict:
    """Whether the alliance alone predicts dropout well enough to act on at the primary decision point:
    the "alliance" model's AUC CI excludes .5 and its net benefit at the alert threshold exceeds both
    alerting everyone and no one (`assessed` False where the model was not fitted). `measures` may mark
    rows `withheld` (`_measure_rows`): the verdict still weighs a withheld net benefit, a yes or no that
    gives no count away, but does not write it down (`net_benefit` None)."""
    rows = measures[(measures["validation"] == THERAPIST_CV) & (measures["session"] == primary)
                    & (measures["strategy"] == "alliance")].set_index("measure")
    if rows.empty:
        return {"session": primary, "assessed": False}
    threshold = result["thresholds"][str(primary)]
    prevalence = rows["dropouts"].iloc[0] / rows["n"].iloc[0]
    alert_all = treat_all_curve(prevalence, threshold)  # 0 at the auto threshold
    auc_low = rows.loc["auc", "ci_low"]
    nb = rows.loc["net_benefit", "estimate"]
    discriminates = bool(np.isfinite(auc_low) and auc_low > 0.5)
    benefits = bool(nb > max(alert_all, 0.0))
    hidden = bool(rows.loc["net_benefit"].get("withheld", False))
    return {"session": primary, "assessed": True, "auc_ci_excludes_half": discriminates,
            "net_benefit": None if hidden else float(nb), "net_benefit_withheld": hidden,
            "net_benefit_alert_all": float(alert_all),
            "net_benefit_exceeds_defaults": benefits, "actionable": discriminates and benefits}


def patient_list(rows: pd.DataFrame, latest: pd.DataFrame, result: dict, *, instrument: Instrument,
                 therapist_patients: pd.Series, min_cell_size: int, penalty: float | str, seed: int
                 ) -> tuple[pd.DataFrame, dict]:
    """The clinic's list (internal use only): for each patient still in treatment (`latest`, from
    `decision_points.latest_rows`), the risk of each model fitted at the decision point (of the predictors
    that entered it, `result["entered"]`; empty for one not fitted) fitted to all its rows,
    whether it reaches the alert threshold and whether the last total is below the conventional cut-off.
    Patients of therapists with fewer than `min_cell_size` patients (`therapist_patients`) are left out;
    the note says how many therapists."""
    columns = ["patient_id", "therapist_id", "latest_session", "decision_point",
               *(f"risk_{name}" for name in MODELS), *(f"alert_{name}" for name in MODELS),
               "below_conventional_cutoff"]
    small = therapist_patients[therapist_patients < min_cell_size].index
    kept = latest[~latest["therapist_id"].isin(small)] if len(latest) else latest
    note = {"therapists_left_out": int(latest["therapist_id"].isin(small).groupby(latest["therapist_id"])
                                       .any().sum()) if len(latest) else 0, "patients_listed": 0}
    out = []
    for session, group in kept.groupby("session") if len(kept) else ():
        fitted = {name: status["status"] for name in MODELS
                  for status in result["statuses"] if status["key"] == status_key(int(session), name)}
        if fitted.get("alliance") != FITTED:  # the decision point was not analysed
            continue
        at_k = rows[rows["session"] == session]
        threshold = result["thresholds"][str(int(session))]
        table = group[["patient_id", "therapist_id", "latest_session"]].assign(
            decision_point=int(session), **{f"risk_{name}": np.nan for name in MODELS},
            **{f"alert_{name}": pd.NA for name in MODELS})  # a model not fitted (`no_covariate`) stays empty
        for name, predictors in result["entered"][str(int(session))].items():
            levels = result["levels"]
            model = fit_model(design_matrix(at_k, predictors, levels), at_k["dropout"].to_numpy(dtype=int),
                              at_k["therapist_id"].to_numpy(), penalty, seed)
            risk = predict(model, design_matrix(group, predictors, levels))
            table[f"risk_{name}"] = risk
            table[f"alert_{name}"] = risk >= threshold
        table["below_conventional_cutoff"] = (instrument.cutoff.flags(group["alliance_last"].to_numpy(float))
                                              if instrument.cutoff is not None else pd.NA)
        out.append(table)
    listed = pd.concat(out, ignore_index=True)[columns] if out else pd.DataFrame(columns=columns)
    note["patients_listed"] = len(listed)
    return listed.sort_values(["therapist_id", "patient_id"], kind="stable"), note
