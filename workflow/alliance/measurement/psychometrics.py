"""Psychometrics of the alliance measure: reliability, item statistics, factor structure, therapist and
session intraclass correlations, and agreement between patient and therapist ratings.

Pure functions on DataFrames. Item data are the instrument's item columns as answered; the functions
that take an `Instrument` apply its reverse keys themselves (`keyed_items`).
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd
from scipy import stats

from alliance.errors import BOUNDARY, FITTED, NOT_CONVERGED, NOT_ESTIMABLE
from alliance.i18n import N_, Count, Message, Plural, Term, message_text, read_message
from alliance.instruments import Instrument
from alliance.stats.reml import random_intercept_reml
from alliance.stats.sem import GRADIENT_TOLERANCE, comparative_fit_index, fisher_scoring

TOTAL = "total"
ONE_FACTOR = "general"
FIT_COLUMNS = ("n", "chi2", "dof", "p_value", "cfi", "tli", "rmsea", "srmr", "aic", "bic", "status")


# Items and scales ------------------------------------------------------------------------------------


def keyed_items(items: pd.DataFrame, instrument: Instrument) -> pd.DataFrame:
    """The instrument's item columns as floats, reverse-keyed items recoded as min + max - x."""
    values = items[instrument.item_columns].to_numpy(dtype=float, na_value=np.nan)
    keyed = pd.DataFrame(values, index=items.index, columns=instrument.item_columns)
    for item in instrument.reverse_keyed:
        column = instrument.item_column(item)
        keyed[column] = instrument.minimum + instrument.maximum - keyed[column]
    return keyed


def _subscale_columns(instrument: Instrument) -> dict[str, list[str]]:
    """Item columns of each subscale."""
    return {name: [instrument.item_column(i) for i in members]
            for name, members in instrument.subscales.items()}


def _scale_columns(instrument: Instrument) -> dict[str, list[str]]:
    """Item columns of each subscale, then of the total (all items); a single scale is the total only."""
    subscales = _subscale_columns(instrument) if len(instrument.subscales) > 1 else {}
    return subscales | {TOTAL: instrument.item_columns}


def _distribution(values: np.ndarray, low: float, high: float) -> dict:
    """Shares of values at the response minimum and maximum, and skew (scipy, bias=False)."""
    if len(values) == 0:
        return {"floor_share": np.nan, "ceiling_share": np.nan, "skew": np.nan}
    varies = len(values) > 2 and np.ptp(values) > 0
    return {
        "floor_share": float(np.isclose(values, low).mean()),
        "ceiling_share": float(np.isclose(values, high).mean()),
        "skew": float(stats.skew(values, bias=False)) if varies else np.nan,
    }


# Reliability -----------------------------------------------------------------------------------------


def cronbach_alpha(
    items: pd.DataFrame, nan_policy: str = "listwise", ci: float = 0.95
) -> tuple[float, tuple[float, float]]:
    """Cronbach's alpha and its F-based CI (pingouin, CI rounded to 3 decimals by pingouin).

    `nan_policy` is "listwise" (complete rows) or "pairwise" (each covariance on its available pairs).
    pingouin takes the CI's degrees of freedom from all rows, also under listwise deletion; pass
    complete rows for a CI on the rows actually used.
    """
    import pingouin  # here, not at the top: it takes a second to import (matplotlib, seaborn, xarray)

    alpha, bounds = pingouin.cronbach_alpha(items, nan_policy=nan_policy, ci=ci)
    return float(alpha), (float(bounds[0]), float(bounds[1]))


def omega_total(items: pd.DataFrame, *, fits: dict | None = None) -> dict:
    """McDonald's omega total from a one-factor CFA (semopy, ML) of the complete rows of `items`: the
    reliability of the scale score, their unweighted sum (or mean) as scored.

    omega = (sum l)^2 / ((sum l)^2 + sum theta) with l the loadings and theta the residual variances in the
    items' own units, the factor's variance 1 (McDonald 1999; semTools' `compRelSEM`). With
    standardized loadings it would be the reliability of a sum of z-scored items, which no score of the
    pipeline is (.86054 against .86934 on items of loadings 2, 1, .5 and .3). Returns omega, the
    fit's notes (`fit_cfa`, with `fits`) and the reason in words when omega is NaN (not fitted: under 3
    items, what `cfa_obstacle` finds, or a fit with no estimate, `fit_cfa`'s reason), else None.
    """
    complete = items.dropna()
    factors = {ONE_FACTOR: list(complete.columns)}
    reason = (Message("fewer than 3 items: a one-factor model of them is not identified")
              if complete.shape[1] < 3 else cfa_obstacle(complete, factors))
    if reason:
        return {"omega": np.nan, "notes": [], "reason": reason}
    fit = fit_cfa(complete, description(factors), fits=fits)
    if fit["reason"]:
        return {"omega": np.nan, "notes": fit["notes"], "reason": fit["reason"]}
    estimates = fit["estimates"]
    lam = estimates.loc[(estimates["op"] == "~") & (estimates["rval"] == ONE_FACTOR), "Estimate"]
    theta = estimates.loc[(estimates["op"] == "~~") & (estimates["lval"] == estimates["rval"])
                          & estimates["lval"].isin(complete.columns), "Estimate"]
    common = lam.astype(float).sum() ** 2  # a factor's sign is arbitrary: the square does not see it
    return {"omega": float(common / (common + theta.astype(float).sum())), "notes": fit["notes"],
            "reason": None}


def scale_items(items: pd.DataFrame, instrument: Instrument) -> dict[str, pd.DataFrame]:
    """The complete rows of each scale's keyed items, by scale (each subscale, then the total): the rows
    `scale_reliability` analyses."""
    keyed = keyed_items(items, instrument)
    return {scale: keyed[columns].dropna() for scale, columns in _scale_columns(instrument).items()}


def scale_alpha(complete: pd.DataFrame, ci: float = 0.95) -> tuple[float, tuple[float, float]]:
    """`cronbach_alpha` of a scale's complete rows (`scale_items`); NaN for one item or one row."""
    if complete.shape[1] > 1 and len(complete) > 1:
        return cronbach_alpha(complete, ci=ci)
    return np.nan, (np.nan, np.nan)


def scale_reliability(items: pd.DataFrame, instrument: Instrument, ci: float = 0.95, *,
                      fits: dict | None = None) -> pd.DataFrame:
    """Reliability and score distribution of each subscale and the total, listwise per scale.

    Columns: scale, n (complete rows on the scale's items), n_items, alpha with alpha_ci_low/high
    (pingouin, on the complete rows), omega (`omega_total`; NaN when not estimated), floor_share,
    ceiling_share and skew of the scale score (the mean of its items). `attrs["notes"]` holds, per
    scale, why omega was not estimated (scales of 3 or more items) and the notes of its fit. `fits`: as in
    `fit_cfa`.
    """
    rows, notes = [], []
    for scale, complete in scale_items(items, instrument).items():
        columns = list(complete.columns)
        alpha, (low, high) = scale_alpha(complete, ci=ci)
        omega = omega_total(complete, fits=fits)
        if len(complete) < 2 and len(items):  # a reviewer read "total 0 8 NA NA NA NA NA", unexplained
            notes.append(_incomplete_scale(scale, items[columns], instrument))
        notes += [Message("Omega of '{scale}': {note}.", scale=scale, note=note) for note in omega["notes"]]
        if omega["reason"] and len(columns) >= 3:
            notes.append(Message("Omega of '{scale}' was not estimated: {reason}.", scale=scale,
                                 reason=omega["reason"]))
        rows.append({
            "scale": scale, "n": len(complete), "n_items": len(columns), "alpha": alpha,
            "alpha_ci_low": low, "alpha_ci_high": high, "omega": omega["omega"],
            **_distribution(complete.mean(axis=1).to_numpy(), instrument.minimum, instrument.maximum),
        })
    table = pd.DataFrame(rows)
    table.attrs["notes"] = notes
    return table


def _incomplete_scale(scale: str, answers: pd.DataFrame, instrument: Instrument) -> Message:
    """Why a scale answered in full by fewer than two questionnaires has no reliability (NA in its row and
    in its items' rest correlations), naming the items no questionnaire answered."""
    never = [column for column in answers.columns if answers[column].isna().all()]
    words = dict(scale=scale, instrument=instrument.key, n=answers.shape[1])
    if never:
        return Message("'{scale}' of {instrument}: fewer than two questionnaires answer all of its {n} "
                       "items, so its reliability, score distribution and item-rest correlations are not "
                       "computed (NA); never answered: {items}.", items=", ".join(never), **words)
    return Message("'{scale}' of {instrument}: fewer than two questionnaires answer all of its {n} items, so "
                   "its reliability, score distribution and item-rest correlations are not computed (NA).",
                   **words)


# Items -----------------------------------------------------------------------------------------------


def _rest_correlation(item: pd.Series, others: pd.DataFrame) -> float:
    """Pearson r of an item with the mean of other items (rows with all of them), pairwise-complete."""
    if others.shape[1] == 0:
        return np.nan
    return float(item.corr(others.mean(axis=1, skipna=False)))


def item_statistics(items: pd.DataFrame, instrument: Instrument) -> pd.DataFrame:
    """Descriptives and corrected item-total correlations per item (in item order), on the keyed items.

    Columns: item, subscale, n (answered), mean, sd, floor_share, ceiling_share, skew,
    corrected_r_subscale (the item against the mean of the other items of its subscale) and
    corrected_r_total (against the mean of all other items). A rest score needs all of its items;
    each correlation uses the rows where item and rest score are both present.
    """
    keyed = keyed_items(items, instrument)
    subscale_of = {column: (name, columns) for name, columns in _subscale_columns(instrument).items()
                   for column in columns}
    rows = []
    for column in instrument.item_columns:
        subscale, columns = subscale_of[column]
        values = keyed[column].dropna().to_numpy()
        rows.append({
            "item": column, "subscale": subscale, "n": len(values),
            "mean": float(values.mean()) if len(values) else np.nan,
            "sd": float(values.std(ddof=1)) if len(values) > 1 else np.nan,
            **_distribution(values, instrument.minimum, instrument.maximum),
            "corrected_r_subscale": _rest_correlation(
                keyed[column], keyed[[c for c in columns if c != column]]),
            "corrected_r_total": _rest_correlation(keyed[column], keyed.drop(columns=column)),
        })
    return pd.DataFrame(rows)


# Confirmatory factor analysis ------------------------------------------------------------------------


LOADING = "l_"  # the prefix of a loading's label in `description`, whose starting value `fit_cfa` sets


def description(factors: dict[str, list[str]]) -> str:
    """semopy/lavaan syntax: each factor measured by its items, every loading free (named) and the factor's
    variance fixed at 1 (lavaan's `std.lv`). With the first loading fixed at 1 instead, an item that hardly
    loads makes the scale of the factor run off (loadings in the thousands, its variance towards 0) where
    this parametrisation reaches the same optimum."""
    lines = []
    for factor, columns in factors.items():
        loadings = (f"{LOADING}{factor}_{i}*{column}" for i, column in enumerate(columns))
        lines.append(f"{factor} =~ " + " + ".join(loadings))
        lines.append(f"{factor} ~~ 1*{factor}")
    return "\n".join(lines)


def _correlation(cov: np.ndarray) -> np.ndarray:
    sd = np.sqrt(np.diag(cov))
    return cov / np.outer(sd, sd)


def srmr(sample_cov: np.ndarray, implied_cov: np.ndarray) -> float:
    """Root mean square of sample minus implied correlations over the lower triangle with diagonal."""
    residual = _correlation(sample_cov) - _correlation(implied_cov)
    return float(np.sqrt(np.mean(residual[np.tril_indices_from(residual)] ** 2)))


def ml_fit_statistics(sample_cov: np.ndarray, implied_cov: np.ndarray, n: int, *, n_params: int) -> dict:
    """ML fit statistics of a covariance structure, with lavaan's definitions (default ML, no meanstructure).

    `sample_cov` has divisor n. chi2 = n * F_ML; the baseline is the independence model; CFI is bounded
    to [0, 1]; RMSEA = sqrt(max(chi2 - dof, 0) / (dof * n)); AIC and BIC count the `n_params` free
    parameters and use the normal log-likelihood with saturated means. p_value, CFI, TLI and RMSEA are
    NaN for a saturated model (dof = 0).
    """
    p = sample_cov.shape[0]
    logdet_sample = np.linalg.slogdet(sample_cov)[1]
    logdet_implied = np.linalg.slogdet(implied_cov)[1]
    trace = float(np.trace(np.linalg.solve(implied_cov, sample_cov)))
    chi2 = n * (logdet_implied + trace - logdet_sample - p)
    dof = p * (p + 1) // 2 - n_params
    base_chi2 = n * (np.log(np.diag(sample_cov)).sum() - logdet_sample)
    base_dof = p * (p - 1) // 2
    loglik = -n / 2 * (p * np.log(2 * np.pi) + logdet_implied + trace)
    out = {"n": n, "chi2": float(chi2), "dof": dof, "p_value": np.nan, "cfi": np.nan, "tli": np.nan,
           "rmsea": np.nan, "srmr": srmr(sample_cov, implied_cov),
           "aic": float(-2 * loglik + 2 * n_params), "bic": float(-2 * loglik + n_params * np.log(n)),
           "loglik": float(loglik), "baseline_chi2": float(base_chi2), "baseline_dof": base_dof}
    if dof > 0:
        excess = max(chi2 - dof, 0.0)
        out |= {
            "p_value": float(stats.chi2.sf(chi2, dof)),
            "cfi": comparative_fit_index(chi2, dof, base_chi2, base_dof),
            "tli": float((base_chi2 / base_dof - chi2 / dof) / (base_chi2 / base_dof - 1)),
            "rmsea": float(np.sqrt(excess / (dof * n))),
        }
    return out


# What semopy logs during a fit, in words: a fragment of its message -> the note.
SEMOPY_WORDS = (
    ("Sample covariance matrix is not PD",
     N_("the items' sample covariance matrix is not positive definite (too few questionnaires, or items that "
        "move together exactly); the fit used the nearest positive-definite matrix")),
    ("converge", N_("the estimation did not converge")),
    ("Fisher Information Matrix is not PD",
     N_("the model is not identified in these data (its information matrix is singular)")),
)
HEYWOOD = Message("a variance would be negative at the unconstrained maximum of the likelihood (a Heywood "
                  "case, often from too few questionnaires or an item that is nearly the factor itself); the "
                  "fit holds it at 0, its boundary")
CFA_NOT_CONVERGED = Message("the estimation did not reach the maximum of the likelihood (too few "
                            "questionnaires for the model, or items that hardly relate to each other)")
NEGATIVE_FACTOR_VARIANCE = Message("a factor's variance is estimated below 0 (an improper solution)")
log = logging.getLogger(__name__)


def _worded(message: str) -> Message:
    """A semopy log message as a note in words; one not in `SEMOPY_WORDS` goes to the log."""
    for fragment, note in SEMOPY_WORDS:
        if fragment in message:
            return Message(note)
    log.warning("semopy: %s", message)
    return Message("the factor-analysis software reported a problem with this fit (its message is in the "
                   "log)")


@contextmanager
def _semopy_messages(notes: list[str]) -> Iterator[None]:
    """Keep what semopy logs to the root logger (e.g. a non-PD sample covariance) as notes, and its
    Python warnings out of the output."""

    def keep(record: logging.LogRecord) -> bool:
        if not record.getMessage().startswith("No fixed loadings"):  # none is, by design (`description`)
            notes.append(record.getMessage())
        return False

    root = logging.getLogger()
    root.addFilter(keep)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.removeFilter(keep)


def fit_cfa(data: pd.DataFrame, description: str, *, fits: dict | None = None) -> dict:
    """Fit a CFA (lavaan-style `description`) with semopy's ML on the complete rows of its items.

    semopy's solver (SLSQP) can report success short of the optimum, so its fit is taken on by Fisher
    scoring (`alliance.stats.sem.fisher_scoring`). Where that optimum has a negative residual variance (a
    Heywood case), the model is fitted again with that variance fixed at 0, its boundary (repeated while
    another becomes negative): the maximum of the likelihood over the admissible parameters, noted
    `HEYWOOD`, status `BOUNDARY`. The statistics are those of `ml_fit_statistics` computed from semopy's
    sample covariance (divisor n; semopy replaces a non-PD one by a near-PD matrix and says so in the
    notes) and the implied covariance at the fit, with the degrees of freedom of the model as described
    (a variance held at its bound is still a parameter of it). Returns them with `status` (`FITTED`,
    `BOUNDARY`, or, with every statistic NaN and the `reason` in words, `NOT_CONVERGED` when Fisher
    scoring does not bring the objective's largest gradient element below
    `alliance.stats.sem.GRADIENT_TOLERANCE` and `NOT_ESTIMABLE` when a factor's variance is below 0),
    `notes` (semopy's log messages in words, `_worded`) and `estimates`, semopy's parameter table with
    standardized estimates (column "Est. Std"); the result is read, not changed, by its callers. `fits`
    keeps the fits of one analysis by model and data, so that a model is fitted once: the one-factor
    model of all items is both the omega of the total (`scale_reliability`) and the first model of
    `cfa_compare` (`alliance.measurement.tables`).

    References
    ----------
    Dillon, W. R., Kumar, A., & Mulani, N. (1987). Offending estimates in covariance structure analysis.
    Psychological Bulletin, 101(1), 126-135.
    """
    key = None
    if fits is not None:
        key = (description, hashlib.sha256(pd.util.hash_pandas_object(data).to_numpy().tobytes()).hexdigest(),
               tuple(data.columns))
        if key in fits:
            return fits[key]
    import semopy  # here, not at the top: it takes a second to import (sympy, scikit-learn)

    messages: list[str] = []
    held: list[str] = []  # residual variances fixed at 0, their boundary
    with _semopy_messages(messages):
        while True:
            bounds = "".join(f"\n{item} ~~ 0*{item}" for item in held)
            model = semopy.Model(description + bounds)
            complete = data[model.vars["observed"]].dropna()
            for name, parameter in model.parameters.items():  # semopy's own start loops forever when no
                if name.startswith(LOADING):  # loading is fixed (semopy 2.3, `start_lambda`)
                    parameter.start = 0.7 * float(complete.std().mean())
            model.fit(complete)
            converged = fisher_scoring(model)
            negative = [item for item, variance in zip(model.vars["observed"], np.diagonal(model.mx_theta),
                                                       strict=True) if variance < 0 and item not in held]
            if not negative:
                break
            held += negative
        converged = converged and _held_at_maximum(model, held)
        estimates = model.inspect(std_est=True)
    n_params = len(model.param_vals) + len(held)
    fit = ml_fit_statistics(model.mx_cov, model.calc_sigma()[0], len(complete), n_params=n_params)
    worded = {str(note): note for note in map(_worded, messages)}  # each once, in the order first said
    notes = list(worded.values()) + ([HEYWOOD] if held else [])
    status, reason = (BOUNDARY if held else FITTED), None
    if not converged:
        status, reason = NOT_CONVERGED, CFA_NOT_CONVERGED
    elif (np.diagonal(model.mx_psi) < 0).any():
        status, reason = NOT_ESTIMABLE, NEGATIVE_FACTOR_VARIANCE
    if reason is not None:
        fit = {name: np.nan for name in fit} | {"n": fit["n"], "dof": fit["dof"]}
    fit |= {"status": status, "reason": reason, "notes": notes, "estimates": estimates}
    if fits is not None:
        fits[key] = fit
    return fit


def _held_at_maximum(model, held: list[str]) -> bool:
    """Whether the likelihood of a fitted semopy CFA does not increase when a residual variance held at 0
    (`held`, item names) is released upwards: the gradient of F_ML = log|Sigma| + tr(S Sigma^-1) with
    respect to theta_jj is [Sigma^-1 (Sigma - S) Sigma^-1]_jj, which must not be negative there (the
    Kuhn-Tucker condition of the bound)."""
    if not held:
        return True
    sigma = model.calc_sigma()[0]
    inverse = np.linalg.inv(sigma)
    slope = np.diagonal(inverse @ (sigma - model.mx_cov) @ inverse)
    observed = model.vars["observed"]
    return bool(all(slope[observed.index(item)] > -GRADIENT_TOLERANCE for item in held))


def _std_parameters(estimates: pd.DataFrame, factors: dict[str, list[str]]) -> pd.DataFrame:
    """Standardized loadings and factor correlations from a semopy parameter table, in model order.

    semopy orders latent variables by set iteration (which varies between processes), so rows and the
    two factors of a correlation are put in the order of `factors` (factor -> items) for stable output.
    With every loading free (`description`) a factor's sign is arbitrary: each factor is turned so that
    its loadings sum to a positive number (its correlations turned with it).
    """
    rank = {name: i for i, name in enumerate(factors)}
    item_rank = {item: i for items in factors.values() for i, item in enumerate(items)}
    loads = estimates[(estimates["op"] == "~") & estimates["rval"].isin(rank)]
    between = estimates[(estimates["op"] == "~~") & estimates["lval"].isin(rank)
                        & estimates["rval"].isin(rank) & (estimates["lval"] != estimates["rval"])]
    first = np.where(between["lval"].map(rank) <= between["rval"].map(rank), between["lval"], between["rval"])
    second = np.where(first == between["lval"], between["rval"], between["lval"])
    loadings = pd.DataFrame({"kind": "loading", "factor": loads["rval"], "item": loads["lval"],
                             "std_loading": loads["Est. Std"]})
    correlations = pd.DataFrame({"kind": "factor_correlation", "factor": first, "item": second,
                                 "std_loading": between["Est. Std"].to_numpy()})
    sign = np.sign(loadings.groupby("factor")["std_loading"].sum()).replace(0.0, 1.0)
    loadings["std_loading"] *= loadings["factor"].map(sign).to_numpy()
    turned = correlations["factor"].map(sign) * correlations["item"].map(sign)
    correlations["std_loading"] *= turned.to_numpy()
    loadings = loadings.assign(order=loadings["item"].map(item_rank))
    correlations = correlations.assign(order=correlations["item"].map(rank))
    return pd.concat([
        frame.assign(rank=frame["factor"].map(rank)).sort_values(["rank", "order"], kind="stable")
        for frame in (loadings, correlations)
    ], ignore_index=True).drop(columns=["rank", "order"]).astype({"std_loading": float})


def free_parameters(factors: dict[str, list[str]]) -> int:
    """Free parameters of a CFA as `description` identifies it (each factor's variance fixed at 1, every
    loading free): loadings, error variances and factor covariances, 2p + k(k - 1)/2 for p items and k
    factors (the same count as with each factor's first loading fixed at 1 instead)."""
    p, k = sum(len(columns) for columns in factors.values()), len(factors)
    return 2 * p + k * (k - 1) // 2


def cfa_obstacle(complete: pd.DataFrame, factors: dict[str, list[str]]) -> Message | None:
    """Why a CFA of `factors` cannot be fitted to these complete rows, in words (None when it can): it
    needs more rows than free parameters and items that vary."""
    columns = [column for members in factors.values() for column in members]
    n, q = len(complete), free_parameters(factors)
    if n <= q:
        return Message("it needs more questionnaires complete on its items than its {q} free parameters", q=q)
    constant = [column for column in columns if complete[column].nunique() < 2]
    if constant:
        return Plural("{items} had the same answer in every complete questionnaire",
                      "{items} had the same answer in every complete questionnaire", n=len(constant),
                      items=", ".join(constant))
    return None


# Translators: the two factor models of the questionnaire's structure ("The one-factor model: ...").
CFA_LABELS = {"one_factor": Term("factor model", "one-factor"),
              "correlated_factors": Term("factor model", "correlated-factors")}


def cfa_compare(items: pd.DataFrame, instrument: Instrument, *, fits: dict | None = None
                ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One factor over all items against correlated subscale factors, on rows complete on all items.

    The correlated model has one factor per subscale of at least 2 items (it is skipped under 2 such
    subscales); a model that `cfa_obstacle` refuses, or whose fit has no estimates (`fit_cfa`'s reason),
    is skipped. First frame: one row per fitted model with FIT_COLUMNS (see `ml_fit_statistics`; status
    `FITTED` or `BOUNDARY`); its `attrs["notes"]` says what was skipped and why, and what each fit noted.
    Second frame: model, kind ("loading" or "factor_correlation"), factor, item (the other factor for a
    correlation) and std_loading (the standardized loading, or the factor correlation).
    `fits`: as in `fit_cfa`.
    """
    complete = keyed_items(items, instrument).dropna()
    scales = _subscale_columns(instrument)
    factors = {name: columns for name, columns in scales.items() if len(columns) >= 2}
    notes: list[Message] = [
        Message("Subscale '{name}' has fewer than 2 items and is not a factor of the correlated model.",
                name=name) for name in scales if name not in factors]
    models = {"one_factor": {ONE_FACTOR: instrument.item_columns}}
    if len(factors) >= 2:
        models["correlated_factors"] = factors
    else:
        notes.append(Message("Fewer than 2 subscales with 2 or more items: the correlated-factors model is "
                             "skipped."))
    fit_rows, parameters = [], []
    for name, model_factors in models.items():
        reason = cfa_obstacle(complete, model_factors)
        if reason:
            notes.append(Message("The {model} model was not fitted: {reason}.", model=CFA_LABELS[name],
                                 reason=reason))
            continue
        fit = fit_cfa(complete, description(model_factors), fits=fits)
        notes += [Message("The {model} model: {note}.", model=CFA_LABELS[name], note=note)
                  for note in fit["notes"]]
        if fit["reason"]:
            notes.append(Message("The {model} model has no estimates: {reason}.", model=CFA_LABELS[name],
                                 reason=fit["reason"]))
            continue
        fit_rows.append({"model": name} | {key: fit[key] for key in FIT_COLUMNS})
        parameters.append(_std_parameters(fit["estimates"], model_factors).assign(model=name))
    fits = pd.DataFrame(fit_rows, columns=["model", *FIT_COLUMNS])
    fits.attrs["notes"] = notes
    columns = ["model", "kind", "factor", "item", "std_loading"]
    loadings = pd.concat(parameters, ignore_index=True)[columns] if parameters else pd.DataFrame(
        columns=columns)
    return fits, loadings


# Intraclass correlations -----------------------------------------------------------------------------

MIN_THERAPISTS = 3  # fewer: a variance between therapists rests on a single difference (or none)
# Why a random-intercept model's variances have no estimate or one at the boundary, by the level of its
# groups (therapists of patients, or patients of sessions).
NULL_FIT_WORDS = {
    "therapist": {
        "none": N_("there are no patients with an alliance score"),
        "single": N_("a single therapist: there is no variance between therapists"),
        "one_each": N_("one patient per therapist: the therapist variance cannot be told apart from the "
                       "variance between patients"),
        "few": N_("{n} therapists: a variance between therapists needs at least {minimum} (with two it rests "
                  "on a single difference)"),
        "not_converged": N_("the REML fit did not converge: patients of the same therapist hardly differ "
                            "(the variance within therapists is practically zero)"),
        "boundary": N_("the therapist variance was estimated at 0, the boundary of its range: therapists "
                       "differ no more than their patients would by chance"),
    },
    "patient": {
        "none": N_("there are no sessions with an alliance score"),
        "single": N_("a single patient: there is no variance between patients"),
        "one_each": N_("one session per patient: the patient variance cannot be told apart from the variance "
                       "between sessions"),
        "few": N_("{n} patients: a variance between patients needs at least {minimum} (with two it rests on "
                  "a single difference)"),
        "not_converged": N_("the REML fit did not converge: sessions of the same patient hardly differ (the "
                            "variance within patients is practically zero)"),
        "boundary": N_("the patient variance was estimated at 0, the boundary of its range: patients differ "
                       "no more than their sessions would by chance"),
    },
}


def _reason(message: Message | None, prefix: str = "") -> dict:
    """A reason's columns of a psychometric table: `reason` in English ("" without one) and
    `reason_message`, the message as JSON text (`alliance.i18n.message_text`), with `prefix`."""
    return {f"{prefix}reason": "" if message is None else str(message),
            f"{prefix}reason_message": message_text(message)}


def _null_fit(values: np.ndarray, groups: np.ndarray, level: str, min_groups: int = 2) -> dict:
    """REML random-intercept model without predictors: intercept, variances, ICC, convergence, status
    (`FITTED`, `BOUNDARY` for a group variance estimated at 0, `NOT_ESTIMABLE`, `NOT_CONVERGED`) and the
    reason (`_reason`: empty when fitted). `level` names a group, "therapist" (of patients) or "patient"
    (of sessions; `NULL_FIT_WORDS`).

    Fitted by `random_intercept_reml` on group sufficient statistics (statsmodels' MixedLM loops over
    groups and is far too slow for tens of thousands of patients). The variances are estimated only with
    at least `min_groups` groups, a group with two or more values and values that differ; otherwise they
    are NaN with the reason. A group variance of exactly zero is a valid estimate, at the boundary of its
    range.
    """
    words = NULL_FIT_WORDS[level]
    reason = _unidentified(values, groups, words, min_groups)
    out = {"intercept": np.nan, "group_variance": np.nan, "residual_variance": np.nan, "icc": np.nan,
           "converged": False, "status": NOT_ESTIMABLE, **_reason(reason)}
    if reason is not None:
        return out
    fit = random_intercept_reml(values, np.ones((len(values), 1)), groups)
    out |= {"converged": fit.converged, "status": FITTED}
    if not fit.converged:
        return out | {"status": NOT_CONVERGED, **_reason(Message(words["not_converged"]))}
    out |= {"intercept": float(fit.params[0]), "group_variance": fit.group_variance,
            "residual_variance": fit.residual_variance, "icc": fit.icc}
    if fit.group_variance == 0:
        out |= {"status": BOUNDARY, **_reason(Message(words["boundary"]))}
    return out


def _unidentified(values: np.ndarray, groups: np.ndarray, words: dict[str, str], min_groups: int
                  ) -> Message | None:
    """Why the variances of a random-intercept model cannot be estimated in these data (None if they can),
    in the `words` of its level (`NULL_FIT_WORDS`)."""
    sizes = pd.Series(groups).value_counts()
    if len(values) == 0:
        return Message(words["none"])
    if len(sizes) == 1:
        return Message(words["single"])
    if sizes.max() == 1:
        return Message(words["one_each"])
    if len(sizes) < min_groups:
        patients = words is NULL_FIT_WORDS["patient"]  # patients are a Count; therapists are not
        return Message(words["few"], n=Count(len(sizes)) if patients else len(sizes), minimum=min_groups)
    if np.ptp(values) == 0:
        return Message("all {n} values are equal: there is no variance to divide", n=Count(len(values)))
    return None


def _bootstrap_icc(null: dict, groups: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """ICCs refitted to data simulated from a fitted null model (an estimate at the boundary, 0, counts;
    refits that did not converge are dropped)."""
    rng = np.random.default_rng(seed)
    codes, labels = pd.factorize(groups)
    iccs = []
    for _ in range(n_boot):
        values = (null["intercept"]
                  + rng.normal(0, np.sqrt(null["group_variance"]), len(labels))[codes]
                  + rng.normal(0, np.sqrt(null["residual_variance"]), len(codes)))
        refit = random_intercept_reml(values, np.ones((len(values), 1)), codes)
        if refit.converged:
            iccs.append(refit.icc)
    return np.array(iccs)


def therapist_icc(patient_means: pd.DataFrame, n_boot: int = 200, seed: int = 0, *, ci: float = 0.95) -> dict:
    """ICC(1) of patients' mean alliance within therapists, with a parametric bootstrap percentile CI.

    `patient_means` has therapist_id and value (incomplete rows are dropped). The null model is a REML
    random intercept per therapist (`alliance.stats.reml.random_intercept_reml`); bootstrap samples are drawn
    from it with `numpy.random.default_rng(seed)` and refitted. Returns icc, ci_low, ci_high,
    therapist_variance, residual_variance, n_patients, n_therapists, n_boot (converged refits used for
    the CI), converged (of the main fit), status and reason (see `_null_fit`). The ICC is not estimable
    with fewer than `MIN_THERAPISTS` therapists or one patient per therapist; then it, its CI and the
    variances are NaN and the reason says why. A CI without refits is NaN and the reason says so.
    """
    data = patient_means.dropna(subset=["therapist_id", "value"])
    groups = data["therapist_id"].to_numpy()
    n_therapists = int(data["therapist_id"].nunique())
    null = _null_fit(data["value"].to_numpy(dtype=float), groups, "therapist", MIN_THERAPISTS)
    fitted = null["status"] in (FITTED, BOUNDARY)
    boot = _bootstrap_icc(null, groups, n_boot, seed) if fitted else np.array([])
    low, high = np.quantile(boot, [(1 - ci) / 2, (1 + ci) / 2]) if len(boot) else (np.nan, np.nan)
    reason = {key: null[key] for key in ("reason", "reason_message")}
    if fitted and not len(boot):
        no_ci = Message("no CI: none of the {n} bootstrap refits converged", n=n_boot)
        reason = _reason(Message.join([read_message(null["reason_message"]), no_ci], "; ")
                         if null["reason"] else no_ci)
    return {
        "icc": null["icc"], "ci_low": float(low), "ci_high": float(high),
        "therapist_variance": null["group_variance"], "residual_variance": null["residual_variance"],
        "n_patients": len(data), "n_therapists": n_therapists, "n_boot": len(boot),
        "converged": null["converged"], "status": null["status"], **reason,
    }


def session_icc(session_scores: pd.DataFrame) -> dict:
    """Single-session reliability of a patient's alliance level: the patient ICC of session values.

    `session_scores` has patient_id and value (incomplete rows dropped); REML null model with a random
    intercept per patient (`alliance.stats.reml.random_intercept_reml`, fast on a million sessions). Returns
    icc, patient_variance, residual_variance, n_sessions, n_patients, converged, status and reason (see
    `_null_fit`; not estimable when every patient has one scored session).
    """
    data = session_scores.dropna(subset=["patient_id", "value"])
    null = _null_fit(data["value"].to_numpy(dtype=float), data["patient_id"].to_numpy(), "patient")
    return {
        "icc": null["icc"], "patient_variance": null["group_variance"],
        "residual_variance": null["residual_variance"], "n_sessions": len(data),
        "n_patients": int(data["patient_id"].nunique()), "converged": null["converged"],
        "status": null["status"], "reason": null["reason"], "reason_message": null["reason_message"],
    }


def spearman_brown(reliability: float, m: float | np.ndarray) -> float | np.ndarray:
    """Reliability of the mean of m parallel measurements: m r / (1 + (m - 1) r)."""
    return m * reliability / (1 + (m - 1) * reliability)


def reliability_by_sessions(session_scores: pd.DataFrame, max_sessions: int = 10) -> pd.DataFrame:
    """Reliability of a patient's mean alliance over m = 1..max_sessions sessions (Spearman-Brown).

    Columns: sessions, reliability, session_icc, status, reason and reason_message of the `session_icc`
    (reliability NaN when it is not estimable). `attrs["session_icc"]` holds the `session_icc` result.
    """
    single = session_icc(session_scores)
    sessions = np.arange(1, max_sessions + 1)
    table = pd.DataFrame({"sessions": sessions, "reliability": spearman_brown(single["icc"], sessions),
                          "session_icc": single["icc"], "status": single["status"],
                          "reason": single["reason"], "reason_message": single["reason_message"]})
    table.attrs["session_icc"] = single
    return table


# Agreement -------------------------------------------------------------------------------------------


MIN_CORRELATION_PATIENTS = 4  # a Fisher-z CI on n units needs n - 3 > 0
MIN_RM_PATIENTS = 3  # as pingouin's rm_corr: fewer patients with repeated pairs are refused
LOA_Z = 1.96  # Bland & Altman's multiplier for 95% limits of agreement
RATERS = ("patient", "therapist")


def _fisher_ci(r: float, n: float, ci: float = 0.95) -> tuple[float, float]:
    """Fisher-z CI of a correlation on n (> 3) units: tanh(atanh(r) -/+ z / sqrt(n - 3)); a correlation of
    exactly +/-1 is its own interval (its z is infinite)."""
    if abs(r) == 1:
        return r, r
    z, half = np.arctanh(r), stats.norm.ppf((1 + ci) / 2) / np.sqrt(n - 3)
    return float(np.tanh(z - half)), float(np.tanh(z + half))


def _patient_level_r(means: pd.DataFrame) -> dict:
    """Pearson r of the patients' mean patient- and therapist-rated totals, Fisher-z 95% CI on n patients."""
    flat = [rater for rater in RATERS if means[rater].nunique() < 2]
    same_mean = {"patient": Message("every patient has the same mean patient-rated total: the correlation is "
                                    "undefined"),
                 "therapist": Message("every patient has the same mean therapist-rated total: the "
                                      "correlation is undefined")}
    reason = (Message("fewer than {minimum} patients have sessions rated by both (a correlation of patients' "
                      "means with a Fisher-z CI needs at least {minimum})", minimum=MIN_CORRELATION_PATIENTS)
              if len(means) < MIN_CORRELATION_PATIENTS else same_mean[flat[0]] if flat else None)
    if reason is not None:
        return {"patient_level_r": np.nan, "patient_level_ci_low": np.nan, "patient_level_ci_high": np.nan,
                "patient_level_status": NOT_ESTIMABLE, **_reason(reason, "patient_level_")}
    r = float(stats.pearsonr(means["patient"], means["therapist"]).statistic)
    low, high = _fisher_ci(r, len(means))
    return {"patient_level_r": r, "patient_level_ci_low": low, "patient_level_ci_high": high,
            "patient_level_status": FITTED, **_reason(None, "patient_level_")}


def _repeated_measures_r(pairs: pd.DataFrame) -> dict:
    """Repeated-measures correlation (Bakdash & Marusich 2017) of patients with two or more pairs: Pearson r
    of the ratings centred on each patient's means, df = N - k - 1, Fisher-z 95% CI on df + 2."""
    repeated = pairs[pairs.groupby("patient_id")["patient"].transform("size") >= 2]
    by_patient = repeated.groupby("patient_id")[list(RATERS)]
    k = by_patient.ngroups
    varies = by_patient.nunique().gt(1).any()
    flat = [rater for rater in RATERS if not varies[rater]]
    constant = {"patient": Message("the patient-rated totals do not vary within any patient: the "
                                   "within-patient correlation is undefined"),
                "therapist": Message("the therapist-rated totals do not vary within any patient: the "
                                     "within-patient correlation is undefined")}
    reason = (Message("fewer than {minimum} patients have two or more sessions rated by both (the "
                      "repeated-measures correlation needs at least {minimum})", minimum=MIN_RM_PATIENTS)
              if k < MIN_RM_PATIENTS else constant[flat[0]] if flat else None)
    out = {"rm_r": np.nan, "rm_ci_low": np.nan, "rm_ci_high": np.nan, "rm_df": np.nan, "rm_n_patients": k,
           "rm_status": NOT_ESTIMABLE, **_reason(reason, "rm_")}
    if reason is not None:
        return out
    centred = repeated[list(RATERS)] - by_patient.transform("mean")
    r = float(stats.pearsonr(centred["patient"], centred["therapist"]).statistic)
    df = len(repeated) - k - 1
    low, high = _fisher_ci(r, df + 2)
    return out | {"rm_r": r, "rm_ci_low": low, "rm_ci_high": high, "rm_df": df, "rm_status": FITTED}


def _limits_of_agreement(pairs: pd.DataFrame) -> dict:
    """Mean difference (patient minus therapist) and limits of agreement for repeated pairs whose true
    value varies (Bland & Altman 2007); see `rater_agreement`."""
    difference = pairs["patient"] - pairs["therapist"]
    groups = difference.groupby(pairs["patient_id"])
    sizes, mean = groups.size(), float(difference.mean())
    n, k = len(difference), len(sizes)
    ms_within = float(((difference - groups.transform("mean")) ** 2).sum() / (n - k)) if n > k else np.nan
    out = {"mean_difference": mean, "sd_between": np.nan, "sd_within": float(np.sqrt(ms_within)),
           "sd_difference": np.nan, "loa_low": np.nan, "loa_high": np.nan, "loa_status": NOT_ESTIMABLE,
           **_reason(Message("fewer than 2 patients have sessions rated by both: the between-patient "
                             "variance of the differences cannot be estimated"), "loa_")}
    if k < 2:
        return out
    ms_between = float((sizes * (groups.mean() - mean) ** 2).sum() / (k - 1))
    status, reason = FITTED, None
    if n == k:
        variance = ms_between
        reason = Message("every patient has one session rated by both: the between- and within-patient "
                         "variances cannot be told apart, and the SD of the differences estimates their sum "
                         "(Bland & Altman, 1986)")
    else:
        between = (ms_between - ms_within) / ((n**2 - (sizes**2).sum()) / ((k - 1) * n))
        if between <= 0:
            between, status, reason = 0.0, BOUNDARY, Message(
                "the between-patient variance of the differences was estimated at 0, the boundary of its "
                "range: patients' mean differences vary no more than their sessions' differences would by "
                "chance")
        variance = between + ms_within
        out["sd_between"] = float(np.sqrt(between))
    sd = float(np.sqrt(variance))
    return out | {"sd_difference": sd, "loa_low": mean - LOA_Z * sd, "loa_high": mean + LOA_Z * sd,
                  "loa_status": status, **_reason(reason, "loa_")}


def rater_agreement(ratings: pd.DataFrame) -> dict:
    """Agreement of patient- and therapist-rated session totals, with sessions nested in patients.

    `ratings` has patient_id, patient and therapist (one row per session; incomplete rows are dropped).
    Returns n_pairs and n_patients (patients with at least one pair), then three parts, each with a status
    (`FITTED`, `BOUNDARY`, `NOT_ESTIMABLE`) and a reason in words (empty when there is nothing to add; its
    message as JSON text in `<part>_reason_message`, `_reason`):

    - patient_level_r (ci_low, ci_high, status, reason): Pearson r of the patients' mean patient-rated and
      mean therapist-rated totals, each patient counted once, 95% CI by Fisher z on n_patients; NaN below
      4 patients. It agrees on patients' levels; with few sessions per patient the means carry session
      noise, which pulls it towards the within-patient correlation.
    - rm_r (ci_low, ci_high, df, n_patients, status, reason): the repeated-measures correlation of
      Bakdash & Marusich (2017), the common within-patient association: the Pearson r of the ratings
      centred on each patient's own means, over the rm_n_patients patients with two or more pairs, with
      df = N - k - 1 (N their pairs, k = rm_n_patients) and a Fisher-z 95% CI on df + 2, as in
      `pingouin.rm_corr` and R's rmcorr. That is the ANCOVA estimate of those packages, computed directly:
      `pingouin.rm_corr` fits the ANCOVA by least squares with one dummy column per patient (86 s and
      1.6 GB for 2,000 patients with 10 sessions, growing with patients x sessions), far beyond the
      100,000 patients this workflow runs. Not estimable with fewer than 3 such patients (pingouin's
      minimum) or ratings that do not vary within any patient.
    - mean_difference and the limits of agreement for repeated pairs whose true value varies (Bland &
      Altman 2007, section 5): with d_ij = patient - therapist for pair j of patient i, m_i pairs of
      patient i, N pairs and k patients, one-way ANOVA of d on patient gives MS_within (sd_within^2) and
      MS_between; the between-patient variance is s_b^2 = (MS_between - MS_within) / lambda, lambda =
      (N^2 - sum m_i^2) / ((k - 1) N), set to 0 (status `BOUNDARY`) when not positive; the SD of one
      difference is sd_difference = sqrt(s_b^2 + MS_within) and loa_low, loa_high = mean(d) -/+ 1.96
      sd_difference, mean(d) over all pairs. With one pair per patient this is the SD of the differences
      (Bland & Altman 1986; components NaN); with fewer than 2 patients the limits are not estimable.
      Written here because no maintained Python package implements them (pingouin's and statsmodels'
      Bland-Altman plots treat every pair as independent).

    References: Bakdash, J. Z., & Marusich, L. R. (2017). Repeated measures correlation. Frontiers in
    Psychology, 8, 456. Bland, J. M., & Altman, D. G. (2007). Agreement between methods of measurement
    with multiple observations per individual. Journal of Biopharmaceutical Statistics, 17, 571-582.
    Bland, J. M., & Altman, D. G. (1986). Statistical methods for assessing agreement between two methods
    of clinical measurement. Lancet, 327, 307-310.
    """
    pairs = ratings.dropna(subset=["patient_id", *RATERS])
    means = pairs.groupby("patient_id")[list(RATERS)].mean()
    return ({"n_pairs": len(pairs), "n_patients": len(means)} | _patient_level_r(means)
            | _repeated_measures_r(pairs) | _limits_of_agreement(pairs))
