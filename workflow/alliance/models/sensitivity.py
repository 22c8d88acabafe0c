"""Sensitivity analyses of the three primary effects (ANALYSIS_PLAN.md, section 7).

Each primary model (`alliance.models.levels.PRIMARY`: its design, fit and effect-row settings) is refitted
- to multiply imputed data (chained equations on statsmodels `MICEData` with the therapists' means as
  predictors; pooled by Rubin's rules with Barnard-Rubin degrees of freedom),
- with the early alliance averaged over other windows (k = 2, 4, ...),
- with the alliance predictor winsorized at two percentiles of the analysis sample,
and its effect is given a therapist (cluster) bootstrap percentile CI. Satisfaction also gets the
proportional-odds model that respects the instrument's ceiling. The table holds estimates only: a variant
that was not computed (its primary model not fitted, or the variant itself not estimable) is listed in
`failures` with its status (`alliance.errors`) and the reason in words; only `NotEstimable` is caught, so
anything else (a bug) propagates.
"""

from __future__ import annotations

import gc
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import patsy
from scipy import stats
from statsmodels.genmod import families
from statsmodels.genmod.generalized_linear_model import GLM
from statsmodels.imputation.mice import MICEData

from alliance.errors import NOT_CONVERGED, NOT_ESTIMABLE, REFUSED, SEPARATION, NotEstimable
from alliance.features.build import patient_features
from alliance.i18n import Count, Message, Plural, Term
from alliance.io import json_ready
from alliance.models.common import (
    FEW_CLUSTERS,
    MIN_CLUSTERS,
    Design,
    captured_warnings,
    fit_logit_glm,
    independent_columns,
    labelled,
    note_order,
    notes_record,
    outcome_term,
    predictor_effect,
    resolve_covariates,
)
from alliance.models.dimension_sem import MIN_THERAPISTS, too_few_to_resample
from alliance.models.effects import EFFECT_COLUMNS, effect_row
from alliance.models.levels import PRIMARY
from alliance.models.satisfaction import (
    ORDINAL_MODEL,
    ceiling_check,
    fit_satisfaction_ordinal,
    fit_therapist_intercept_lmm,
    fitted_ordinal,
    satisfaction_score_range,
)
from alliance.stats.reml import random_intercept_reml
from alliance.stats.rubin import rubin_pool
from alliance.stats.separation import separated

PRIMARY_VARIANT = "complete cases (primary)"
ORDINAL_VARIANT = "proportional odds (ceiling)"
WINDOW_PREDICTOR = "alliance_early"  # the feature that depends on the early window (features/build.py)
MICE_BURN_IN = 10  # chained-equation cycles before the first kept imputation (statsmodels MICE default)
MICE_SKIP = 3  # cycles between kept imputations (statsmodels MICE's n_skip default)
AUXILIARIES = ("alliance_mean", "alliance_early", "dropout", "attendance_rate", "sessions_scheduled")
THERAPIST_MEAN = "{} (mean of the therapist's other patients)"  # its column in the imputation model
GC_EVERY = 10  # bootstrap refits between garbage collections (a registry's refits hold ~100 MB each)
MIN_BOOTSTRAP_SUCCESS = 0.9  # below this share of successful refits, the bootstrap row is not reported
# Why a bootstrap refit is not used (its NotEstimable reason, worded to follow a count of resamples).
SINGLE_ALLIANCE = Message("with a single alliance value")
SINGLE_OUTCOME = Message("with a single outcome value")
TOO_FEW = Message("with no more patients than model terms")
EXACT = Message("fitted exactly (no residual variation)")
EXACT_FIT = 1e-12  # residual sum of squares, relative to the total, below which a refit is an exact fit
SEPARATED = Message("separated")
NOT_CONVERGED_REFIT = Message("not converged")


# Building blocks --------------------------------------------------------------------------------------


def winsorize(values: pd.Series, lower: float, upper: float) -> tuple[pd.Series, float, float]:
    """Clip `values` at their `lower` and `upper` percentiles (0-100; linear interpolation between order
    statistics, pandas' default); missing values stay missing. Returns the clipped values and the bounds."""
    if not 0 <= lower < upper <= 100:
        raise ValueError(f"winsor percentiles must satisfy 0 <= lower < upper <= 100, got {lower}, {upper}")
    low, high = values.quantile([lower / 100, upper / 100]).to_numpy(dtype=float)
    return values.clip(low, high), float(low), float(high)


def window_features(features: pd.DataFrame, tables: dict[str, pd.DataFrame], window: int) -> pd.DataFrame:
    """The patient features recomputed with another early window (`alliance.features.build.patient_features`
    on the validated patients and outcomes and the session and patient scores); columns that do not come
    from `patient_features` (e.g. the rupture pattern) are carried over from `features`, and so are its
    analysis settings (`attrs`) but the early window, which becomes `window`."""
    recomputed = patient_features(tables["patients"], tables["session_scores"], tables["patient_scores"],
                                  outcomes=tables["outcomes"], early_window=window)
    carried = [c for c in features.columns if c not in recomputed.columns]
    shifted = recomputed.merge(features[["patient_id", *carried]], on="patient_id", how="left")
    shifted.attrs = features.attrs | {"early_window": window}
    return shifted


def fit_primary(family: str, features: pd.DataFrame, covariates: list[str],
                *,
                analysis: str = "sensitivity") -> tuple[dict, Design, object]:
    """Refit one primary model to `features`: its effect row, design and fit. Raises `NotEstimable` when
    the data cannot support the model or it did not converge."""
    spec = PRIMARY[family]
    design = spec.design(features, covariates)
    with captured_warnings(design.notes):
        fit = spec.fit(design)
    _check_finite(fit, f"{design.predictor}_z")
    row = predictor_effect(fit, design, model=spec.model, scale=spec.scale, analysis=analysis,
                           n_obs=spec.n_obs(design.data), outcome_sd=spec.outcome_sd(design.data))
    return row, design, fit


def _check_finite(fit, term: str) -> None:
    """NotEstimable when a fit (converged: the primary fits raise otherwise) has a non-finite
    log-likelihood, estimate or standard error."""
    llf = getattr(fit, "llf", 0.0)
    if llf is not None and not np.isfinite(llf):
        raise NotEstimable(Message("the log-likelihood is not finite"))
    if not np.isfinite([fit.params[term], fit.bse[term]]).all():
        raise NotEstimable(Message("the estimate or its standard error is not finite (singular fit)"))


# Multiple imputation ----------------------------------------------------------------------------------


def imputation_frame(features: pd.DataFrame, covariates: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """The numeric table the chained equations run on, and the columns whose imputed values are used.

    Imputed and used: `satisfaction` and the numeric covariates. Auxiliaries (predictors of the missing
    values, restored to their observed state afterwards): both alliance features, dropout (0/1), the
    share of scheduled sessions attended, the number scheduled, and indicator columns of categorical
    covariates (complete cases on those: they are not imputed). Constant and empty columns are left out.
    The therapist means of these columns are added by `TherapistMeansMICEData`.
    """
    used, _ = resolve_covariates(features, covariates)
    numeric = [c for c in used if pd.api.types.is_numeric_dtype(features[c])]
    categorical = [c for c in used if c not in numeric]
    frame = pd.DataFrame(index=features.index)
    for name in ["satisfaction", *numeric]:
        frame[name] = pd.to_numeric(features[name], errors="coerce").astype(float)
    for name in AUXILIARIES:
        if name == "attendance_rate" and {"sessions_attended", "sessions_scheduled"} <= set(features):
            scheduled = features["sessions_scheduled"].astype(float)
            frame[name] = features["sessions_attended"] / scheduled.where(scheduled > 0)
        elif name in features and name not in frame:
            frame[name] = pd.to_numeric(features[name].astype("Float64"), errors="coerce").astype(float)
    for name in categorical:
        dummies = pd.get_dummies(features[name], prefix=name, drop_first=True, dtype=float)
        dummies.loc[features[name].isna()] = np.nan
        frame = frame.join(dummies)
    keep = [c for c in frame if frame[c].notna().any() and frame[c].nunique(dropna=True) > 1]
    targets = [c for c in ["satisfaction", *numeric] if c in keep and frame[c].isna().any()]
    return frame[keep], targets


def within_therapist(frame: pd.DataFrame, therapists: pd.Series) -> list[str]:
    """The columns of `frame` whose observed values differ between two patients of some therapist (the
    others, e.g. a discipline indicator, are therapist-level: their own therapist mean)."""
    spread = frame.groupby(therapists.to_numpy()).nunique(dropna=True).max()
    return [c for c in frame.columns if spread[c] > 1]


class TherapistMeansMICEData(MICEData):
    """statsmodels `MICEData` whose chained equations condition on the patient's therapist.

    Each variable in `clustered` gets a column `THERAPIST_MEAN`: its mean over the other patients of the
    patient's therapist (the overall mean for a therapist's only patient), a predictor of every other
    variable's imputation model ("manifest cluster means": Enders, Mistler & Keller 2016; Lüdtke,
    Robitzsch & Grund 2017). The means are of the current completed values and are recomputed whenever
    their variable has been re-imputed, so that an update conditions on the current values of the
    therapist's other patients, on which the full conditional of a random-intercept model depends
    through their mean (Resche-Rigon & White 2018); the patient's own value is left out so that it does
    not predict itself. Means rather than therapist indicators: a registry's thousands of therapists
    would put thousands of columns in every model, and indicators overstate the between-therapist
    variance when therapists have few patients (Andridge 2011). Missing values are drawn from the
    Bayesian normal linear model (`impute`) on an intercept and all other columns; the design matrices
    are built with numpy rather than MICEData's formulas (the same columns, without patsy's cost at
    every update).

    Parameters
    ----------
    data
        The variables (`imputation_frame`).
    therapists
        Each row's therapist.
    clustered
        The variables that get a therapist mean (`within_therapist`).
    rng
        The random stream of the chains.
    """

    def __init__(self, data: pd.DataFrame, therapists: pd.Series, clustered: list[str],
                 rng: np.random.Generator):
        self.clustered = clustered
        self.codes = pd.factorize(therapists.to_numpy())[0]
        self.others = np.bincount(self.codes)[self.codes] - 1  # the therapist's other patients
        means = dict.fromkeys((THERAPIST_MEAN.format(name) for name in clustered), 0.0)
        super().__init__(data.reset_index(drop=True).assign(**means), rng=rng)
        for name in clustered:
            self._refresh(name)

    def update(self, vname: str) -> None:
        """Re-impute `vname` (MICEData's update), then recompute its therapist mean."""
        super().update(vname)
        if vname in self.clustered:
            self._refresh(vname)

    def impute(self, vname: str) -> None:
        """Draw the missing values of `vname` from the Bayesian normal linear model (Rubin 1987, p. 167;
        van Buuren 2018, Algorithm 3.1): sigma^2 = RSS / chi^2(n_obs - k), coefficients from
        N(b, sigma^2 (X'X)^-1) (MICEData's draw from N(b, s^2 (X'X)^-1) with its deviation from b scaled
        by sigma / s), values from N(X b*, sigma^2). Not MICEData's predictive mean matching: it copies
        observed donors with the nearest predictions, and where few patients are observed (low alliance,
        dropouts) those lie toward the middle, which drops part of the therapist signal of the
        prediction."""
        fit = self.results[vname]
        scale = fit.ssr / self.rng.chisquare(fit.df_resid)
        params = fit.params + (self.params[vname] - fit.params) * np.sqrt(scale / fit.scale)
        exog = self._exog(vname)[self.ix_miss[vname]]
        self._store_changes(vname, exog @ params + self.rng.normal(0, np.sqrt(scale), len(exog)))

    def get_fitting_data(self, vname: str) -> tuple[np.ndarray, np.ndarray, dict, dict]:
        """The observed values of `vname`, their rows of its design matrix, and no init or fit keywords
        (MICEData's contract)."""
        rows = self.ix_obs[vname]
        return self.data[vname].to_numpy()[rows], self._exog(vname)[rows], {}, {}

    def _exog(self, vname: str) -> np.ndarray:
        """An intercept and every other column, in order (the columns of MICEData's default formula)."""
        others = self.data.drop(columns=vname).to_numpy(dtype=float)
        return np.column_stack([np.ones(len(others)), others])

    def _refresh(self, name: str) -> None:
        """Recompute the therapist mean of `name` from its current values."""
        values = self.data[name].to_numpy(dtype=float)
        totals = np.bincount(self.codes, weights=values)[self.codes] - values
        self.data[THERAPIST_MEAN.format(name)] = np.divide(
            totals, self.others, out=np.full_like(values, values.mean()), where=self.others > 0)


def impute_features(features: pd.DataFrame, covariates: list[str], m: int, *, seed: int
                    ) -> tuple[Sequence[pd.DataFrame], list[str], list[str]]:
    """m completed copies of `features` by chained equations that keep the therapist level
    (`TherapistMeansMICEData`). `MICE_BURN_IN` cycles are run first and `MICE_SKIP` between kept
    imputations.

    Returns
    -------
    copies, imputed, variables
        The completed copies (none when nothing is missing), the imputed columns, and the variables of
        the imputation model with their therapist means.

    Raises
    ------
    NotEstimable
        When the chained equations cannot run (`_check_imputable`).
    """
    frame, targets = imputation_frame(features, covariates)
    clustered = within_therapist(frame, features["therapist_id"])
    variables = [*frame.columns, *(THERAPIST_MEAN.format(name) for name in clustered)]
    if not targets:
        return [], [], variables
    _check_imputable(frame, len(variables))
    imputer = TherapistMeansMICEData(frame, features["therapist_id"], clustered, np.random.default_rng(seed))
    imputer.update_all(MICE_BURN_IN)
    draws = []
    for _ in range(m):
        imputer.update_all(MICE_SKIP + 1)
        draws.append({name: imputer.data[name].to_numpy(copy=True) for name in targets})
    return ImputedCopies(features, draws), targets, variables


def _check_imputable(frame: pd.DataFrame, terms: int) -> None:
    """Raise `NotEstimable` when a patient has no value in any variable of the imputation model (MICEData
    would drop the row) or an incomplete variable is observed for no more patients than its imputation
    model has `terms` (the other variables, the therapist means and an intercept: no residual variance
    to draw from)."""
    empty = int(frame.isna().all(axis=1).sum())
    if empty:
        raise NotEstimable(Plural("{n} patient has no value in any variable of the imputation model",
                                  "{n} patients have no value in any variable of the imputation model",
                                  n=Count(empty)))
    for name in frame.columns[frame.isna().any()]:
        observed = int(frame[name].notna().sum())
        if observed <= terms:
            raise NotEstimable(Message("{column} is observed for {observed} patients, too few for its "
                                       "imputation model ({terms} terms)", column=name,
                                       observed=Count(observed), terms=terms))


class ImputedCopies(Sequence):
    """The completed copies of `features`, made one at a time when read: only the imputed columns of each
    copy are stored (m whole copies of a registry's features would take gigabytes)."""

    def __init__(self, features: pd.DataFrame, draws: list[dict[str, np.ndarray]]):
        self.features, self.draws = features, draws

    def __len__(self) -> int:
        return len(self.draws)

    def __getitem__(self, index: int) -> pd.DataFrame:
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        observed = self.features
        return observed.assign(**{
            name: observed[name].where(observed[name].notna(), pd.Series(values, observed.index))
            for name, values in self.draws[index].items()})


def complete_data_df(design: Design, fit) -> float:
    """Barnard and Rubin's complete-data degrees of freedom nu_com of a primary fit: G - 1 with G >= 2
    therapists in the analysis sample (the therapist-clustered covariance and the therapist random
    intercept rest on G clusters: the reference of few-cluster inference, Cameron & Miller 2015,
    section VI.C), otherwise (one therapist, model-based errors) the residual df n - k."""
    therapists = design.data["therapist_id"].nunique()
    return float(therapists - 1) if therapists >= 2 else float(fit.df_resid)


def pooled_row(family: str, copies: Sequence[pd.DataFrame], covariates: list[str]) -> tuple[dict, dict]:
    """One primary model fitted to every imputed copy and pooled by Rubin's rules (Barnard-Rubin df with
    `complete_data_df`, the same in every copy: each fills the same patients); the row (t-based CI and
    p) and the pooling details (with the distinct notes of the fits). Copies whose model is not
    estimable are left out (and counted); fewer than two fitted copies raise `NotEstimable` with the
    first failure's status and reason."""
    spec = PRIMARY[family]
    rows, notes, sds, dfs, failed, flags = [], set(), [], [], [], []
    for completed in copies:  # only each fit's row, notes, flags, outcome SD and df are kept (not its data)
        try:
            row, design, fit = fit_primary(family, completed, covariates)
        except NotEstimable as error:
            failed.append(error)
            continue
        rows.append(row)
        notes.update(design.notes)
        flags += design.flags
        sds.append(spec.outcome_sd(design.data))
        dfs.append(complete_data_df(design, fit))
    if len(rows) < 2:
        first = failed[0]  # at least m - 1 >= 1 copies failed
        raise NotEstimable(Message("only {fitted} of {m} imputed data sets could be fitted ({reason})",
                                   fitted=len(rows), m=len(copies), reason=first.message), first.status)
    pooled = rubin_pool([r["estimate"] for r in rows], [r["std_error"] ** 2 for r in rows], dfs[0])
    outcome_sd = None if sds[0] is None else float(np.mean(sds))
    row = effect_row(
        outcome=rows[0]["outcome"], model=spec.model, predictor=rows[0]["predictor"], scale=spec.scale,
        estimate=pooled["estimate"], std_error=pooled["std_error"], ci_low=pooled["ci_low"],
        ci_high=pooled["ci_high"], p_value=pooled["p_value"], n_obs=rows[0]["n_obs"],
        n_patients=rows[0]["n_patients"], n_therapists=rows[0]["n_therapists"], analysis="sensitivity",
        outcome_sd=outcome_sd)
    details = {k: pooled[k] for k in ("m", "df", "df_complete", "within", "between", "riv", "lambda")}
    if failed:  # pooling the copies that fitted selects on the result: said beside the row
        flags.insert(0, Message("{failed} of the {m} imputed data sets could not be fitted ({reason}); the "
                                "estimate pools the other {fitted}.", failed=len(failed), m=len(copies),
                                reason=failed[0].message, fitted=len(rows)))
    row["flags"] = list(dict.fromkeys(flags))
    return row, details | {"failed_imputations": len(failed), "notes": sorted(notes, key=note_order)}


# Cluster bootstrap ------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Resampling:
    """What every refit of one primary model's therapist bootstrap shares, built once from the primary
    fit: its effect row and outcome SD, the response (one column, or the successes and failures of a
    binomial response), the design matrix and its alliance column, the rows of each therapist, and whether
    the model is a binomial GLM (else the random-intercept mixed model)."""

    row: dict
    outcome_sd: float | None
    y: np.ndarray
    x: np.ndarray
    column: int
    members: list[np.ndarray]
    logistic: bool


def resampling(family: str, features: pd.DataFrame, covariates: list[str], *,
               primary: tuple[dict, Design] | None = None) -> Resampling:
    """Fit the primary model of `family` and build its `Resampling` (the matrices by patsy from the
    design's formula, as the primary fit builds them); `primary` is the row and design of that fit when it
    has been made already (`fit_primary` with analysis "primary"). Raises `NotEstimable` as `fit_primary`
    does."""
    spec = PRIMARY[family]
    if spec.fit not in (fit_logit_glm, fit_therapist_intercept_lmm):
        raise ValueError(f"no bootstrap refit for the primary fit '{spec.fit.__name__}'")
    row, design = primary or fit_primary(family, features, covariates, analysis="primary")[:2]
    y, x = patsy.dmatrices(design.formula, design.data, NA_action="raise", return_type="dataframe")
    response = y.to_numpy(dtype=float)
    codes, _ = pd.factorize(design.data["therapist_id"], sort=True)
    return Resampling(
        row=row, outcome_sd=spec.outcome_sd(design.data),
        y=response[:, 0] if response.shape[1] == 1 else response, x=x.to_numpy(dtype=float),
        column=list(x.columns).index(f"{design.predictor}_z"),
        members=[np.flatnonzero(codes == g) for g in range(codes.max() + 1)],
        logistic=spec.fit is fit_logit_glm)


def refit(boot: Resampling, drawn: np.ndarray) -> float:
    """The effect in one resample: the patients of the therapists `drawn` (indices into `boot.members`;
    each draw a cluster of its own, however often it repeats) refitted by the primary estimator (binomial
    GLM with its trials, or random-intercept REML), per SD of the alliance column in the resample.
    Columns that add nothing to the resample's rank are dropped (`independent_columns`).

    Raises `NotEstimable` with one of the reasons `SINGLE_ALLIANCE`, `SEPARATED` (a fitted probability
    within `alliance.stats.separation.SEPARATION_TOLERANCE` of 0 or 1), `TOO_FEW`, `SINGLE_OUTCOME`,
    `EXACT` or `NOT_CONVERGED_REFIT`.
    """
    rows = np.concatenate([boot.members[g] for g in drawn])
    y, x = boot.y[rows], boot.x[rows]
    keep = independent_columns(x, first=(0, boot.column))
    if not keep[boot.column]:  # one patient's alliance repeated: no slope to estimate
        raise NotEstimable(SINGLE_ALLIANCE)
    x = x[:, keep]
    if boot.logistic:
        result = GLM(y, x, family=families.Binomial()).fit()
        if separated(result.mu):
            raise NotEstimable(SEPARATED, SEPARATION)
    else:
        if len(np.unique(rows)) <= x.shape[1]:  # distinct patients: a therapist drawn twice adds none
            raise NotEstimable(TOO_FEW)
        if np.ptp(y) == 0:
            raise NotEstimable(SINGLE_OUTCOME)
        residual = y - x @ np.linalg.lstsq(x, y, rcond=None)[0]
        if residual @ residual <= EXACT_FIT * ((y - y.mean()) @ (y - y.mean())):
            raise NotEstimable(EXACT)
        groups = np.repeat(np.arange(len(drawn)), [len(boot.members[g]) for g in drawn])
        result = random_intercept_reml(y, x, groups)
    if not result.converged:
        raise NotEstimable(NOT_CONVERGED_REFIT, NOT_CONVERGED)
    return float(result.params[int(keep[:boot.column].sum())] * boot.x[rows, boot.column].std(ddof=1))


ONE_THERAPIST_BOOTSTRAP = Message("1 therapist in the analysis sample: a therapist bootstrap would draw the "
                                  "same therapist every time")


def cluster_bootstrap(family: str, features: pd.DataFrame, covariates: list[str], *, draws: int,
                      seed: int | Sequence[int], primary: tuple[dict, Design] | None = None) -> dict:
    """Therapist (cluster) bootstrap of one primary effect: `draws` resamples of the analysis sample's
    therapists with replacement, each refitted by `refit` (`primary`: as in `resampling`).

    Returns the primary row and outcome SD, the estimates of the refits used, the refits not used counted
    by (status, reason), the number of draws, the fitting warnings and the seconds taken.
    """
    boot = resampling(family, features, covariates, primary=primary)
    n = len(boot.members)
    if n < 2:
        raise NotEstimable(ONE_THERAPIST_BOOTSTRAP, REFUSED)
    if n < MIN_THERAPISTS:  # few distinct resamples (3 of 2 therapists, whatever B), a CI that covers poorly
        raise NotEstimable(too_few_to_resample(n), REFUSED)
    rng = np.random.default_rng(seed)
    start, estimates, failures, notes = time.perf_counter(), [], Counter(), []
    gc.collect()
    gc.freeze()  # what exists now is not garbage: the collections below pass over the refits' objects only
    try:
        for draw in range(draws):
            drawn = rng.integers(0, n, n)
            if draw % GC_EVERY == 0:  # statsmodels results are reference cycles: free them as we go
                gc.collect()
            try:
                with captured_warnings(notes):
                    estimates.append(refit(boot, drawn))
            except NotEstimable as error:
                failures[error.status, error.message] += 1
    finally:
        gc.unfreeze()
    return {"row": boot.row, "outcome_sd": boot.outcome_sd, "estimates": np.asarray(estimates),
            "failures": failures, "draws": draws, "seconds": time.perf_counter() - start,
            "warnings": sorted(set(notes), key=note_order)}


def bootstrap_counts(boot: dict) -> dict:
    """The refits of a `cluster_bootstrap`: draws, used, failed (not used), separated (among the failed)
    and the failed by reason (most frequent first)."""
    failures = boot["failures"]
    return {"draws": boot["draws"], "used": len(boot["estimates"]), "failed": sum(failures.values()),
            "separated": failures[SEPARATION, SEPARATED],
            "reasons": {str(reason): count for (_, reason), count in failures.most_common()}}


def bootstrap_row(boot: dict) -> dict:
    """The primary estimate with the bootstrap's percentile 95% CI, SD (as standard error) and a normal
    p-value from that SD, all from the refits used. Raises `NotEstimable` (the status of the most frequent
    failure) when fewer than two or fewer than `MIN_BOOTSTRAP_SUCCESS` of the draws were used."""
    row, estimates, counts = boot["row"], boot["estimates"], bootstrap_counts(boot)
    if len(estimates) < 2 or len(estimates) / boot["draws"] < MIN_BOOTSTRAP_SUCCESS:
        failures = boot["failures"].most_common()
        status = failures[0][0][0] if failures else NOT_ESTIMABLE
        words = dict(used=counts["used"], draws=counts["draws"])
        failed = [Message("{count} {reason}", count=count, reason=reason) for (_, reason), count in failures]
        raise NotEstimable(Message("only {used} of {draws} therapist resamples could be refitted ({failed})",
                                   failed=failed, **words) if failures else
                           Message("only {used} of {draws} therapist resamples could be refitted", **words),
                           status)
    low, high = np.percentile(estimates, [2.5, 97.5])
    se = float(estimates.std(ddof=1))
    if not se > 0:
        raise NotEstimable(Message("every one of the {used} therapist resamples refitted gave the same "
                                   "estimate: the bootstrap has no spread to give a standard error",
                                   used=counts["used"]))
    return effect_row(
        outcome=row["outcome"], model=row["model"], predictor=row["predictor"], scale=row["scale"],
        estimate=row["estimate"], std_error=se, ci_low=low, ci_high=high,
        p_value=float(2 * stats.norm.sf(abs(row["estimate"]) / se)), n_obs=row["n_obs"],
        n_patients=row["n_patients"], n_therapists=row["n_therapists"], analysis="sensitivity",
        outcome_sd=boot["outcome_sd"])


# All variants -----------------------------------------------------------------------------------------


@dataclass
class _Run:
    """The rows, notes, failures, details and timings collected by `sensitivity_analyses`."""

    features: pd.DataFrame
    covariates: list[str]
    labels: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # outcome, predictor, model
    primary: dict[str, dict] = field(default_factory=dict)  # the fitted primary rows,
    primary_errors: dict[str, NotEstimable] = field(default_factory=dict)  # or why they were not fitted
    primary_notes: dict[str, list[Message]] = field(default_factory=dict)
    primary_designs: dict[str, Design] = field(default_factory=dict)  # the designs of the fitted rows
    rows: list[dict] = field(default_factory=list)
    notes: list[Message] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)
    details: dict = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    fit_notes: dict[str, list[Message]] = field(default_factory=dict)
    flags: dict[str, list[Message]] = field(default_factory=dict)  # of each variant's row, as its model's

    def attempt(self, variant: str, family: str, compute: Callable[[], tuple[dict, list[Message]]],
                model: str | None = None) -> None:
        """Add the row `compute` returns (with its fitting notes); or a failure (variant, outcome, model,
        status, reason): `refused` without computing when the primary model of `family` was not fitted,
        else the status and reason of the `NotEstimable` that `compute` raises."""
        outcome, _, primary_model = self.labels[family]
        failure = {"variant": variant, "outcome": outcome, "model": model or primary_model}
        begin = time.perf_counter()
        try:
            if variant != PRIMARY_VARIANT and family in self.primary_errors:
                raise NotEstimable(Message("the primary model was not fitted: {reason}",
                                           reason=self.primary_errors[family].message), REFUSED)
            row, notes = compute()
        except NotEstimable as error:
            self.failures.append(failure | {"status": error.status, "reason": error.reason,
                                            "reason_message": error.message.to_json()})
            return
        finally:
            self.seconds[f"{variant} / {outcome}"] = time.perf_counter() - begin
        if notes:
            self.fit_notes[f"{variant} / {outcome}"] = list(dict.fromkeys(notes))
        flags = row.pop("flags", [])
        if flags:
            self.flags[f"{variant} / {outcome}"] = list(dict.fromkeys(flags))
        self.rows.append(row | {"variant": variant})

    def known(self, family: str) -> tuple[dict, list[Message]]:
        """The primary row of `family` (a copy) and its notes; raises the primary's `NotEstimable` when it
        was not fitted."""
        if family in self.primary_errors:
            raise self.primary_errors[family]
        return dict(self.primary[family]) | {"flags": self.primary_designs[family].flags}, \
            self.primary_notes[family]


def sensitivity_analyses(
    features: pd.DataFrame,
    covariates: list[str],
    settings: dict,
    *,
    early_window: int,
    tables: dict[str, pd.DataFrame] | None = None,
    score_range: tuple[float, float] | None = None,
    min_clusters: int = MIN_CLUSTERS,
    fitted: Mapping[str, dict] | None = None,
) -> tuple[pd.DataFrame, dict, dict]:
    """Every sensitivity variant of the three primary effects.

    `settings` is the config's `sensitivity` block (imputations, seed, windows, winsor_percentiles,
    bootstrap). `tables` (patients, outcomes, session_scores, patient_scores) enables the other early
    windows; `score_range` is the satisfaction instrument's (minimum, maximum) total; `early_window` and
    `min_clusters` travel with the features as `attrs`, as in `alliance.models.fit_family` (so the
    reference rows are the primary rows). `fitted` holds the families' results as the workflow wrote them
    (`ModelResult.to_dict()`, by family): the proportional-odds model is then the satisfaction family's
    fit, not fitted a second time. Returns the table (the effect columns and `variant`; rows of
    computed variants only), a JSON-ready summary (settings, notes, `failures`: the variants not computed,
    details per variant) and the seconds per variant (kept apart so that the summary is reproducible).
    """
    features = features.copy(deep=False)
    features.attrs |= {"early_window": int(early_window), "min_clusters": int(min_clusters)}
    run = _Run(features, covariates)
    _primary_rows(run)
    _imputation_rows(run, int(settings["imputations"]), int(settings["seed"]))
    _window_rows(run, [int(k) for k in settings.get("windows", [])], early_window, tables)
    _winsor_rows(run, *(float(p) for p in settings["winsor_percentiles"]))
    _bootstrap_rows(run, int(settings["bootstrap"]), int(settings["seed"]))
    _ordinal_rows(run, score_range, fitted)
    order = {run.labels[f][0]: i for i, f in enumerate(PRIMARY)}
    table = pd.DataFrame(run.rows, columns=[*EFFECT_COLUMNS, "variant"])
    table = table.sort_values("outcome", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)
    failures = sorted(run.failures, key=lambda f: order[f["outcome"]])  # stable: variants stay in order
    fit_notes = {label: notes_record(notes) for label, notes in run.fit_notes.items()}
    summary = {"settings": {**settings, "early_window": early_window, "covariates": covariates},
               **notes_record(run.notes), "failures": failures,
               "fit_notes": {label: notes["notes"] for label, notes in fit_notes.items()},
               "fit_notes_message": {label: notes["notes_message"] for label, notes in fit_notes.items()},
               "flags": {label: " ".join(map(str, flags)) for label, flags in run.flags.items()},
               "flags_message": {label: Message.join(flags, " ").to_json()
                                 for label, flags in run.flags.items()},
               **run.details}
    return table, json_ready(summary), run.seconds


def _primary_rows(run: _Run) -> None:
    """The primary fits, for reference (analysis `primary`) and as the point of the bootstrap."""
    for family, spec in PRIMARY.items():
        try:
            design = spec.design(run.features, run.covariates)
            run.labels[family] = (design.outcome, design.predictor, spec.model)
            row, design, _ = fit_primary(family, run.features, run.covariates, analysis="primary")
            run.primary[family], run.primary_notes[family] = row, design.notes
            run.primary_designs[family] = design
        except NotEstimable as error:
            run.labels.setdefault(family, (family, "", spec.model))  # no design: the family names it
            run.primary_errors[family] = error
        run.attempt(PRIMARY_VARIANT, family, lambda f=family: run.known(f))


def _imputation_rows(run: _Run, m: int, seed: int) -> None:
    """Refits to m imputed copies pooled by Rubin's rules (`pooled_row`); a model whose sample imputation
    does not change repeats its complete-case row."""
    variant = f"multiple imputation (m = {m})"
    begin = time.perf_counter()
    failed = None
    imputation_notes: list[Message] = []
    try:
        with captured_warnings(imputation_notes):
            copies, imputed, variables = impute_features(run.features, run.covariates, m, seed=seed)
    except NotEstimable as error:
        copies, imputed, variables = None, [], []
        failed = NotEstimable(Message("the imputation model could not be run: {reason}",
                                      reason=error.message), error.status)
    run.seconds["imputation"] = time.perf_counter() - begin
    run.notes += labelled(imputation_notes, Term("model label", "Multiple imputation"))
    pooled: dict[str, dict] = {}
    run.details["multiple_imputation"] = {"m": m, "seed": seed, "burn_in": MICE_BURN_IN, "skip": MICE_SKIP,
                                          "imputed": imputed, "imputation_model": variables, "pooled": pooled}
    if copies is not None and not copies:
        run.notes.append(Message("Multiple imputation: no missing satisfaction or covariate values; the rows "
                                 "repeat the complete-case estimates."))

    unchanged = []

    def fit(family: str) -> tuple[dict, list[Message]]:
        if failed is not None:
            raise failed
        if not copies or _same_sample(family, run.features, copies[0], run.covariates):
            unchanged.append(run.labels[family][0])
            row, _ = run.known(family)
            return row | {"analysis": "sensitivity"}, []
        row, info = pooled_row(family, copies, run.covariates)
        notes = info.pop("notes")
        pooled[row["outcome"]] = info
        return row, notes

    for family in PRIMARY:
        run.attempt(variant, family, lambda f=family: fit(f))
    if copies and unchanged:
        run.notes.append(Message("Multiple imputation leaves the analysis samples of {outcomes} unchanged "
                                 "(nothing they use is missing); their rows repeat the complete-case "
                                 "estimates.", outcomes=[outcome_term(outcome) for outcome in unchanged]))


def _window_rows(run: _Run, windows: list[int], early_window: int, tables: dict | None) -> None:
    """Refits of the early-alliance models with the features recomputed for other windows."""
    if windows and tables is None:
        run.notes.append(Message("Other early windows: the session and patient scores were not given; not "
                                 "fitted."))
        return
    affected = [f for f in PRIMARY if run.labels[f][1] == WINDOW_PREDICTOR]
    for k in windows:
        if k == early_window:
            run.notes.append(Message("Early window k = {k} is the primary window; not repeated.", k=k))
            continue
        shifted = window_features(run.features, tables, k)
        for family in affected:
            run.attempt(f"early window k = {k}", family,
                        lambda f=family, s=shifted: _refit(f, s, run.covariates))
    unaffected = sorted(run.labels[f][0] for f in PRIMARY if f not in affected)
    if windows and unaffected:
        run.notes.append(Message("Other early windows do not change {outcomes} (no early-alliance "
                                 "predictor).", outcomes=[outcome_term(outcome) for outcome in unaffected]))


def _winsor_rows(run: _Run, lower: float, upper: float) -> None:
    """Refits with the alliance predictor clipped at its percentiles in the analysis sample."""
    variant = f"winsorized alliance ({lower:g}th/{upper:g}th percentiles)"
    bounds: dict[str, dict] = {}
    run.details["winsorized"] = bounds

    def fit(family: str) -> tuple[dict, list[Message]]:
        design = PRIMARY[family].design(run.features, run.covariates)
        x = design.predictor
        _, low, high = winsorize(design.data[x], lower, upper)
        bounds[design.outcome] = {"predictor": x, "low": low, "high": high,
                                  "n_clipped": int(((design.data[x] < low) | (design.data[x] > high)).sum())}
        clipped = run.features.assign(**{x: run.features[x].clip(low, high)})
        row, design, _ = fit_primary(family, clipped, run.covariates)
        return row | {"flags": design.flags}, design.notes

    for family in PRIMARY:
        run.attempt(variant, family, lambda f=family: fit(f))


def _bootstrap_rows(run: _Run, draws: int, seed: int) -> None:
    """Percentile CIs from the therapist bootstrap (one random stream per model: [seed, index]); the
    refits per outcome (`bootstrap_counts`) in the details, also when too few succeeded for a row."""
    variant = f"cluster bootstrap (B = {draws})"
    info: dict[str, dict] = {}
    run.details["bootstrap"] = info

    def fit(family: str, index: int) -> tuple[dict, list[Message]]:
        result = cluster_bootstrap(family, run.features, run.covariates, draws=draws, seed=[seed, index],
                                   primary=(run.primary[family], run.primary_designs[family]))
        info[result["row"]["outcome"]] = bootstrap_counts(result)
        # the sample's flags and few events, not few clusters: the percentile CI uses no t(G - 1)
        flags = [flag for flag in run.primary_designs[family].flags if flag.template != FEW_CLUSTERS]
        return bootstrap_row(result) | {"flags": flags}, result["warnings"]

    for index, family in enumerate(PRIMARY):
        run.attempt(variant, family, lambda f=family, i=index: fit(f, i))


def _ordinal_rows(run: _Run, score_range: tuple[float, float] | None, fitted: Mapping[str, dict] | None
                  ) -> None:
    """The satisfaction ceiling check and the proportional-odds model that respects the ceiling: the fit of
    the family's result in `fitted` when given (`fitted_ordinal`), else fitted here."""
    def fit(family: str) -> tuple[dict, list[Message]]:
        design = PRIMARY[family].design(run.features, run.covariates)
        run.details["ceiling"] = ceiling_check(design.data["satisfaction"],
                                               satisfaction_score_range(score_range))
        if fitted is not None:
            return fitted_ordinal(fitted[family])
        row, notes = fit_satisfaction_ordinal(design)
        return row | {"flags": design.flags}, notes

    for family in PRIMARY:
        if run.labels[family][0] == "satisfaction":
            run.attempt(ORDINAL_VARIANT, family, lambda f=family: fit(f), model=ORDINAL_MODEL)
    run.notes.append(Message("No censored (Tobit) model: statsmodels has none and no other maintained "
                             "library in the pinned environment provides one."))


def _same_sample(family: str, features: pd.DataFrame, completed: pd.DataFrame, covariates: list[str]) -> bool:
    """Whether imputation leaves a model's analysis sample unchanged (so its data are the same)."""
    spec = PRIMARY[family]
    return len(spec.design(features, covariates).data) == len(spec.design(completed, covariates).data)


def _refit(family: str, features: pd.DataFrame, covariates: list[str]) -> tuple[dict, list[Message]]:
    """The effect row and notes of the primary model of `family` refitted to `features`."""
    row, design, _ = fit_primary(family, features, covariates)
    return row | {"flags": design.flags}, design.notes
