"""Sensitivity analyses of the three primary effects (ANALYSIS_PLAN.md, section 7).

Each primary model (`alliance.models.levels.PRIMARY`: its design, fit and effect-row settings) is refitted
- to multiply imputed data (chained equations, statsmodels `MICEData`; pooled by Rubin's rules),
- with the early alliance averaged over other windows (k = 2, 4, ...),
- with the alliance predictor winsorized at two percentiles of the analysis sample,
and its effect is given a therapist (cluster) bootstrap percentile CI. Satisfaction also gets the
proportional-odds model that respects the instrument's ceiling. A variant that cannot be fitted becomes a
row of NaN estimates with the reason in `failures`; nothing here raises for a failed fit.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.imputation.mice import MICEData

from alliance.features import patient_features
from alliance.mixed import random_intercept_reml
from alliance.models.common import (
    Design,
    captured_warnings,
    fit_logit_glm,
    predictor_effect,
    resolve_covariates,
)
from alliance.models.effects import EFFECT_COLUMNS, effect_row
from alliance.models.levels import PRIMARY
from alliance.models.satisfaction import (
    ORDINAL_MODEL,
    ceiling_check,
    fit_satisfaction_lmm,
    fit_satisfaction_ordinal,
    satisfaction_score_range,
)

PRIMARY_VARIANT = "complete cases (primary)"
ORDINAL_VARIANT = "proportional odds (ceiling)"
WINDOW_PREDICTOR = "alliance_early"  # the feature that depends on the early window (features.py)
MICE_BURN_IN = 10  # chained-equation cycles before the first kept imputation (statsmodels MICE default)
MICE_SKIP = 3  # cycles between kept imputations (statsmodels MICE's n_skip default)
AUXILIARIES = ("alliance_mean", "alliance_early", "dropout", "attendance_rate", "sessions_scheduled")
GC_EVERY = 10  # bootstrap refits between garbage collections (a registry's refits hold ~100 MB each)
MIN_BOOTSTRAP_SUCCESS = 0.9  # below this share of converged refits, the bootstrap CI is not reported
# What a failed variant may raise (FitFailure is a RuntimeError); anything else is a bug and propagates.
FAILURES = (ValueError, RuntimeError, np.linalg.LinAlgError, KeyError, ZeroDivisionError)


class FitFailure(RuntimeError):
    """A fit that returned but cannot be reported (not converged, non-finite estimate)."""


# Building blocks --------------------------------------------------------------------------------------


def rubin_pool(estimates: Sequence[float], variances: Sequence[float], alpha: float = 0.05) -> dict:
    """Pool one parameter over m imputations by Rubin's rules (Rubin 1987).

    Q = mean estimate; W = mean within-imputation variance; B = between-imputation variance (ddof 1);
    T = W + (1 + 1/m) B; df = (m - 1) (1 + 1/r)^2 with r = (1 + 1/m) B / W (infinite when B = 0);
    CI and p from Student's t on df. `lambda` = (1 + 1/m) B / T, the fraction of the variance due to
    missing data.
    """
    q = np.asarray(estimates, dtype=float)
    u = np.asarray(variances, dtype=float)
    m = len(q)
    if m < 2 or len(u) != m:
        raise ValueError("Rubin's rules need at least two imputations, each with an estimate and a variance")
    within, between = float(u.mean()), float(q.var(ddof=1))
    total = within + (1 + 1 / m) * between
    riv = (1 + 1 / m) * between / within
    df = float("inf") if riv == 0 else (m - 1) * (1 + 1 / riv) ** 2
    se = float(np.sqrt(total))
    estimate = float(q.mean())
    crit = stats.t.ppf(1 - alpha / 2, df)
    return {"estimate": estimate, "std_error": se, "ci_low": estimate - crit * se,
            "ci_high": estimate + crit * se, "p_value": float(2 * stats.t.sf(abs(estimate) / se, df)),
            "df": df, "within": within, "between": between, "riv": riv,
            "lambda": (1 + 1 / m) * between / total, "m": m}


def winsorize(values: pd.Series, lower: float, upper: float) -> tuple[pd.Series, float, float]:
    """Clip `values` at their `lower` and `upper` percentiles (0-100; linear interpolation between order
    statistics, pandas' default); missing values stay missing. Returns the clipped values and the bounds."""
    if not 0 <= lower < upper <= 100:
        raise ValueError(f"winsor percentiles must satisfy 0 <= lower < upper <= 100, got {lower}, {upper}")
    low, high = values.quantile([lower / 100, upper / 100]).to_numpy(dtype=float)
    return values.clip(low, high), float(low), float(high)


def failed_row(outcome: str, model: str, predictor: str, scale: str) -> dict:
    """An effect row of NaN estimates and counts, for a sensitivity variant that could not be fitted."""
    row = dict.fromkeys(EFFECT_COLUMNS, float("nan"))
    return row | {"outcome": outcome, "model": model, "predictor": predictor, "scale": scale,
                  "analysis": "sensitivity"}


def window_features(features: pd.DataFrame, tables: dict[str, pd.DataFrame], window: int) -> pd.DataFrame:
    """The patient features recomputed with another early window (`alliance.features.patient_features`
    on the validated patients and outcomes and the session and patient scores); columns that do not come
    from `patient_features` (e.g. the rupture pattern) are carried over from `features`."""
    recomputed = patient_features(tables["patients"], tables["session_scores"], tables["patient_scores"],
                                  tables["outcomes"], window)
    carried = [c for c in features.columns if c not in recomputed.columns]
    return recomputed.merge(features[["patient_id", *carried]], on="patient_id", how="left")


def fit_primary(family: str, features: pd.DataFrame, covariates: list[str],
                analysis: str = "sensitivity") -> tuple[dict, Design, object]:
    """Refit one primary model to `features`: its effect row, design and fit. Raises (see `FAILURES`,
    `FitFailure`) when the model cannot be fitted or did not converge."""
    spec = PRIMARY[family]
    design = spec.design(features, covariates)
    if len(design.data) < 3:
        raise ValueError(f"{len(design.data)} patients in the analysis sample")
    with captured_warnings(design.notes):
        fit = spec.fit(design)
    _check_converged(fit, f"{design.predictor}_z")
    row = predictor_effect(fit, design, model=spec.model, scale=spec.scale, analysis=analysis,
                           n_obs=spec.n_obs(design.data), outcome_sd=spec.outcome_sd(design.data))
    return row, design, fit


def _check_converged(fit, term: str) -> None:
    if not getattr(fit, "converged", True):
        raise FitFailure("the model did not converge")
    llf = getattr(fit, "llf", 0.0)
    if llf is not None and not np.isfinite(llf):
        raise FitFailure("the log-likelihood is not finite")
    if not np.isfinite([fit.params[term], fit.bse[term]]).all():
        raise FitFailure("the estimate or its standard error is not finite (singular fit)")


# Multiple imputation ----------------------------------------------------------------------------------


def imputation_frame(features: pd.DataFrame, covariates: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """The numeric table the chained equations run on, and the columns whose imputed values are used.

    Imputed and used: `satisfaction` and the numeric covariates. Auxiliaries (predictors of the missing
    values, restored to their observed state afterwards): both alliance features, dropout (0/1), the
    share of scheduled sessions attended, the number scheduled, and indicator columns of categorical
    covariates (complete cases on those: they are not imputed). Constant and empty columns are left out.
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


def impute_features(features: pd.DataFrame, covariates: list[str], m: int, seed: int
                    ) -> tuple[Sequence[pd.DataFrame], list[str], list[str]]:
    """m completed copies of `features` by chained equations (statsmodels `MICEData`: a linear model of
    each incomplete variable on all others, predictive mean matching, parameters drawn from their
    approximate posterior). `MICE_BURN_IN` cycles are run first and `MICE_SKIP` between kept imputations.
    Returns the copies, the imputed columns and the variables of the imputation model; no copies when
    nothing is missing."""
    frame, targets = imputation_frame(features, covariates)
    if not targets:
        return [], [], list(frame.columns)
    names = {c: f"v{i}" for i, c in enumerate(frame.columns)}  # formula-safe names
    imputer = MICEData(frame.rename(columns=names).reset_index(drop=True), rng=np.random.default_rng(seed))
    if len(imputer.data) != len(frame):
        raise ValueError("the imputation model has patients without any value")
    imputer.update_all(MICE_BURN_IN)
    draws = []
    for _ in range(m):
        imputer.update_all(MICE_SKIP + 1)
        draws.append({name: imputer.data[names[name]].to_numpy(copy=True) for name in targets})
    return ImputedCopies(features, draws), targets, list(frame.columns)


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


def pooled_row(family: str, copies: Sequence[pd.DataFrame], covariates: list[str]) -> tuple[dict, dict]:
    """One primary model fitted to every imputed copy and pooled by Rubin's rules; the row (t-based CI
    and p) and the pooling details (with the distinct notes of the fits). Copies whose fit fails are left
    out (and counted)."""
    spec = PRIMARY[family]
    rows, notes, sds, failed = [], set(), [], []
    for completed in copies:  # only each fit's row, notes and outcome SD are kept (not its data)
        try:
            row, design, _ = fit_primary(family, completed, covariates)
        except FAILURES as error:
            failed.append(str(error))
            continue
        rows.append(row)
        notes.update(design.notes)
        sds.append(spec.outcome_sd(design.data))
    if len(rows) < 2:
        raise FitFailure(f"only {len(rows)} of {len(copies)} imputed data sets could be fitted"
                         + (f" ({failed[0]})" if failed else ""))
    pooled = rubin_pool([r["estimate"] for r in rows], [r["std_error"] ** 2 for r in rows])
    outcome_sd = None if sds[0] is None else float(np.mean(sds))
    row = effect_row(
        outcome=rows[0]["outcome"], model=spec.model, predictor=rows[0]["predictor"], scale=spec.scale,
        estimate=pooled["estimate"], std_error=pooled["std_error"], ci_low=pooled["ci_low"],
        ci_high=pooled["ci_high"], p_value=pooled["p_value"], n_obs=rows[0]["n_obs"],
        n_patients=rows[0]["n_patients"], n_therapists=rows[0]["n_therapists"], analysis="sensitivity",
        outcome_sd=outcome_sd)
    details = {k: pooled[k] for k in ("m", "df", "within", "between", "riv", "lambda")}
    return row, details | {"failed_imputations": len(failed), "notes": sorted(notes)}


# Cluster bootstrap ------------------------------------------------------------------------------------


def _matrices(spec, design: Design) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Response and design matrices of a design, built by statsmodels' formula machinery."""
    model = smf.glm(design.formula, design.data, family=sm.families.Binomial())
    return np.asarray(model.endog, dtype=float), np.asarray(model.exog, dtype=float), list(model.exog_names)


def _bootstrap_fitter(spec) -> Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    """A function (y, X, groups, kept columns) -> fixed-effect coefficients, for the kind of primary fit
    (binomial GLM or random-intercept mixed model) that `spec` uses."""
    if spec.fit is fit_logit_glm:
        def glm(y, x, groups, keep):
            result = sm.GLM(y, x, family=sm.families.Binomial()).fit()
            if not result.converged:
                raise FitFailure("the model did not converge")
            return np.asarray(result.params)
        return glm
    if spec.fit is fit_satisfaction_lmm:
        def lmm(y, x, groups, keep):
            result = random_intercept_reml(y, x, groups)
            if not result.converged:
                raise FitFailure("the model did not converge")
            return np.asarray(result.params)
        return lmm
    raise ValueError(f"no bootstrap fitter for the primary fit '{spec.fit.__name__}'")


def independent_columns(x: np.ndarray, first: Sequence[int] = (0,), tol: float = 1e-10) -> np.ndarray:
    """Mask of columns kept greedily while each adds to the rank: the columns in `first`, then the others
    in order. Drops the indicator of a category absent from a resample, and one indicator when the
    reference category is absent (the others then add up to the intercept).

    A column adds to the rank when its squared residual on the kept columns is above `tol` times its
    squared norm; computed on the cross-product matrix X'X, so one pass over the rows."""
    gram = x.T @ x
    keep = np.zeros(x.shape[1], dtype=bool)
    for j in [*first, *(j for j in range(x.shape[1]) if j not in first)]:
        if gram[j, j] <= 0:
            continue
        kept = np.flatnonzero(keep)
        explained = 0.0
        if len(kept):
            coef = np.linalg.lstsq(gram[np.ix_(kept, kept)], gram[kept, j], rcond=None)[0]
            explained = float(gram[j, kept] @ coef)
        keep[j] = gram[j, j] - explained > tol * gram[j, j]
    return keep


def cluster_bootstrap(family: str, features: pd.DataFrame, covariates: list[str], draws: int,
                      seed: int | Sequence[int]) -> dict:
    """Therapist (cluster) bootstrap of one primary effect.

    Therapists of the analysis sample are drawn with replacement (each draw a cluster of its own, however
    often it repeats) and the model is refitted to their patients. Each refit's coefficient is rescaled to
    per SD of the predictor in that resample (coefficient x SD of the sample's z-scores: the estimate is
    per SD, and the SD varies between resamples); covariate columns that add nothing to the rank of a
    resample's design (a discipline not drawn) are dropped. The design matrices are built once. Returns
    the primary row, the estimates, the number of failed refits, the fitting warnings and the seconds
    taken.
    """
    spec = PRIMARY[family]
    row, design, _ = fit_primary(family, features, covariates, analysis="primary")
    y, x, names = _matrices(spec, design)
    column = names.index(f"{design.predictor}_z")
    fitter = _bootstrap_fitter(spec)
    codes, _ = pd.factorize(design.data["therapist_id"], sort=True)
    members = [np.flatnonzero(codes == g) for g in range(codes.max() + 1)]
    rng = np.random.default_rng(seed)
    start, estimates, failed, notes = time.perf_counter(), [], 0, []
    for draw in range(draws):
        drawn = rng.integers(0, len(members), len(members))
        rows = np.concatenate([members[g] for g in drawn])
        groups = np.repeat(np.arange(len(drawn)), [len(members[g]) for g in drawn])
        xb = x[rows]
        keep = independent_columns(xb, first=(0, column))
        if not keep[column]:  # one patient's alliance repeated: no slope to estimate
            failed += 1
            continue
        if draw % GC_EVERY == 0:  # statsmodels results are reference cycles: free them as we go
            gc.collect()
        try:
            with captured_warnings(notes):
                params = fitter(y[rows], xb[:, keep], groups, keep)
        except FAILURES:
            failed += 1
            continue
        position = int(keep[:column].sum())
        estimates.append(params[position] * xb[:, column].std(ddof=1))
    return {"row": row, "outcome_sd": spec.outcome_sd(design.data), "estimates": np.asarray(estimates),
            "failed": failed, "draws": draws, "seconds": time.perf_counter() - start,
            "warnings": sorted(set(notes))}


def bootstrap_row(boot: dict) -> dict:
    """The primary estimate with the bootstrap's percentile 95% CI, SD (as standard error) and a normal
    p-value from that SD."""
    row, estimates = boot["row"], boot["estimates"]
    success = len(estimates) / boot["draws"]
    if len(estimates) < 2 or success < MIN_BOOTSTRAP_SUCCESS:
        raise FitFailure(f"only {len(estimates)} of {boot['draws']} bootstrap refits converged")
    low, high = np.percentile(estimates, [2.5, 97.5])
    se = float(estimates.std(ddof=1))
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
    labels: dict[str, tuple[str, str, str, str]] = field(default_factory=dict)  # outcome, predictor, model,
    primary: dict[str, dict] = field(default_factory=dict)                       # scale; primary rows,
    primary_errors: dict[str, str] = field(default_factory=dict)                 # or why they failed
    primary_notes: dict[str, list[str]] = field(default_factory=dict)
    rows: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)
    details: dict = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    fit_notes: dict[str, list[str]] = field(default_factory=dict)

    def attempt(self, variant: str, family: str, compute: Callable[[], tuple[dict, list[str]]],
                model: str | None = None, scale: str | None = None) -> None:
        """Add the row `compute` returns (with its fitting notes), or a failed row and the reason when it
        raises a fitting error."""
        outcome, predictor, primary_model, primary_scale = self.labels[family]
        begin = time.perf_counter()
        try:
            row, notes = compute()
        except FAILURES as error:
            row, notes = failed_row(outcome, model or primary_model, predictor, scale or primary_scale), []
            self.failures.append({"variant": variant, "outcome": outcome, "reason": str(error)})
        self.seconds[f"{variant} / {outcome}"] = time.perf_counter() - begin
        if notes:
            self.fit_notes[f"{variant} / {outcome}"] = list(dict.fromkeys(notes))
        self.rows.append(row | {"variant": variant})

    def known(self, family: str) -> tuple[dict, list[str]]:
        """The primary row of `family` (a copy) and its notes; FitFailure when the primary model failed."""
        if family not in self.primary:
            raise FitFailure(self.primary_errors.get(family, "the primary model could not be fitted"))
        return dict(self.primary[family]), self.primary_notes[family]


def sensitivity_analyses(
    features: pd.DataFrame,
    covariates: list[str],
    settings: dict,
    *,
    early_window: int,
    tables: dict[str, pd.DataFrame] | None = None,
    score_range: tuple[float, float] | None = None,
) -> tuple[pd.DataFrame, dict, dict]:
    """Every sensitivity variant of the three primary effects.

    `settings` is the config's `sensitivity` block (imputations, seed, windows, winsor_percentiles,
    bootstrap). `tables` (patients, outcomes, session_scores, patient_scores) enables the other early
    windows; `score_range` is the satisfaction instrument's (minimum, maximum) total. Returns the table
    (the effect columns and `variant`), a JSON-ready summary (settings, notes, failures, details per
    variant) and the seconds per variant (kept apart so that the summary is reproducible).
    """
    run = _Run(features, covariates)
    _primary_rows(run)
    _imputation_rows(run, int(settings["imputations"]), int(settings["seed"]))
    _window_rows(run, [int(k) for k in settings.get("windows", [])], early_window, tables)
    _winsor_rows(run, *(float(p) for p in settings["winsor_percentiles"]))
    _bootstrap_rows(run, int(settings["bootstrap"]), int(settings["seed"]))
    _ordinal_rows(run, score_range)
    order = {run.labels[f][0]: i for i, f in enumerate(PRIMARY)}
    table = pd.DataFrame(run.rows, columns=[*EFFECT_COLUMNS, "variant"])
    table = table.sort_values("outcome", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)
    summary = {"settings": {**settings, "early_window": early_window, "covariates": covariates},
               "notes": run.notes, "failures": run.failures, "fit_notes": run.fit_notes, **run.details}
    return table, _finite(summary), run.seconds


def _primary_rows(run: _Run) -> None:
    """The primary fits, for reference (analysis `primary`) and as the point of the bootstrap."""
    for family, spec in PRIMARY.items():
        try:
            design = spec.design(run.features, run.covariates)
            run.labels[family] = (design.outcome, design.predictor, spec.model, spec.scale)
            row, design, _ = fit_primary(family, run.features, run.covariates, analysis="primary")
            run.primary[family], run.primary_notes[family] = row, design.notes
        except FAILURES as error:
            run.labels.setdefault(family, (family, "", spec.model, spec.scale))
            run.primary_errors[family] = str(error)
        run.attempt(PRIMARY_VARIANT, family, lambda f=family: run.known(f))


def _imputation_rows(run: _Run, m: int, seed: int) -> None:
    """Rubin-pooled refits to m imputed copies; a model whose sample imputation does not change repeats
    its complete-case row."""
    variant = f"multiple imputation (m = {m})"
    begin = time.perf_counter()
    try:
        copies, imputed, variables = impute_features(run.features, run.covariates, m, seed)
    except FAILURES as error:
        copies, imputed, variables = None, [], []
        run.notes.append(f"Multiple imputation failed: {error}")
    run.seconds["imputation"] = time.perf_counter() - begin
    pooled: dict[str, dict] = {}
    run.details["multiple_imputation"] = {"m": m, "seed": seed, "burn_in": MICE_BURN_IN, "skip": MICE_SKIP,
                                          "imputed": imputed, "imputation_model": variables, "pooled": pooled}
    if copies is not None and not copies:
        run.notes.append("Multiple imputation: no missing satisfaction or covariate values; the rows repeat "
                         "the complete-case estimates.")

    unchanged = []

    def fit(family: str) -> tuple[dict, list[str]]:
        if copies is None:
            raise FitFailure("the imputation model could not be run")
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
        run.notes.append(f"Multiple imputation leaves the analysis samples of {', '.join(unchanged)} "
                         "unchanged (nothing they use is missing); their rows repeat the complete-case "
                         "estimates.")


def _window_rows(run: _Run, windows: list[int], early_window: int, tables: dict | None) -> None:
    """Refits of the early-alliance models with the features recomputed for other windows."""
    if windows and tables is None:
        run.notes.append("Other early windows: the session and patient scores were not given; not fitted.")
        return
    affected = [f for f in PRIMARY if run.labels[f][1] == WINDOW_PREDICTOR]
    for k in windows:
        if k == early_window:
            run.notes.append(f"Early window k = {k} is the primary window; not repeated.")
            continue
        try:
            shifted, reason = window_features(run.features, tables, k), ""
        except FAILURES as error:
            shifted, reason = None, f"the features could not be recomputed: {error}"
        for family in affected:
            run.attempt(f"early window k = {k}", family,
                        lambda f=family, s=shifted, r=reason: _refit(f, s, run.covariates, r))
    unaffected = sorted(run.labels[f][0] for f in PRIMARY if f not in affected)
    if windows and unaffected:
        run.notes.append(f"Other early windows do not change {', '.join(unaffected)} (no early-alliance "
                         "predictor).")


def _winsor_rows(run: _Run, lower: float, upper: float) -> None:
    """Refits with the alliance predictor clipped at its percentiles in the analysis sample."""
    variant = f"winsorized alliance ({lower:g}th/{upper:g}th percentiles)"
    bounds: dict[str, dict] = {}
    run.details["winsorized"] = bounds

    def fit(family: str) -> tuple[dict, list[str]]:
        design = PRIMARY[family].design(run.features, run.covariates)
        x = design.predictor
        _, low, high = winsorize(design.data[x], lower, upper)
        bounds[design.outcome] = {"predictor": x, "low": low, "high": high,
                                  "n_clipped": int(((design.data[x] < low) | (design.data[x] > high)).sum())}
        clipped = run.features.assign(**{x: run.features[x].clip(low, high)})
        row, design, _ = fit_primary(family, clipped, run.covariates)
        return row, design.notes

    for family in PRIMARY:
        run.attempt(variant, family, lambda f=family: fit(f))


def _bootstrap_rows(run: _Run, draws: int, seed: int) -> None:
    """Percentile CIs from the therapist bootstrap (one random stream per model: [seed, index])."""
    variant = f"cluster bootstrap (B = {draws})"
    info: dict[str, dict] = {}
    run.details["bootstrap"] = info

    def fit(family: str, index: int) -> tuple[dict, list[str]]:
        result = cluster_bootstrap(family, run.features, run.covariates, draws, [seed, index])
        info[result["row"]["outcome"]] = {"draws": draws, "failed": result["failed"]}
        return bootstrap_row(result), result["warnings"]

    for index, family in enumerate(PRIMARY):
        run.attempt(variant, family, lambda f=family, i=index: fit(f, i))


def _ordinal_rows(run: _Run, score_range: tuple[float, float] | None) -> None:
    """The satisfaction ceiling check and the proportional-odds model that respects the ceiling."""
    def fit(family: str) -> tuple[dict, list[str]]:
        design = PRIMARY[family].design(run.features, run.covariates)
        run.details["ceiling"] = ceiling_check(design.data["satisfaction"],
                                               satisfaction_score_range(score_range))
        return fit_satisfaction_ordinal(design)

    for family in PRIMARY:
        if run.labels[family][0] == "satisfaction":
            run.attempt(ORDINAL_VARIANT, family, lambda f=family: fit(f), model=ORDINAL_MODEL,
                        scale="log_odds")
    run.notes.append("No censored (Tobit) model: statsmodels has none and no other maintained library in "
                     "the pinned environment provides one.")


def _finite(value):
    """`value` with every non-finite float (an infinite Rubin df) replaced by None, for strict JSON."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float | np.floating) and not np.isfinite(value):
        return None
    return value


def _same_sample(family: str, features: pd.DataFrame, completed: pd.DataFrame, covariates: list[str]) -> bool:
    """Whether imputation leaves a model's analysis sample unchanged (so its data are the same)."""
    spec = PRIMARY[family]
    return len(spec.design(features, covariates).data) == len(spec.design(completed, covariates).data)


def _refit(family: str, features: pd.DataFrame | None, covariates: list[str], reason: str = ""
           ) -> tuple[dict, list[str]]:
    if features is None:
        raise FitFailure(reason)
    row, design, _ = fit_primary(family, features, covariates)
    return row, design.notes
