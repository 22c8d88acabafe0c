"""Linear mixed models with one random intercept, from a formula: REML variance components
(`alliance.stats.reml.random_intercept_reml`, vectorised) and the fixed effects as generalised least squares.

At the REML estimate of the variance ratio, GLS is OLS on quasi-demeaned rows (every column, intercept
included, minus theta_i times its group mean). The fixed effects are therefore fitted by statsmodels OLS
on those rows, which gives named parameters, Wald tests and intervals on the normal scale as in MixedLM:
with model-based SEs (the REML residual variance is OLS's scale on these rows) or with SEs clustered by
another grouping (e.g. therapists, for a model with a patient intercept). statsmodels' MixedLM gives the
same estimates but loops over groups in Python, which does not scale to 100,000 groups.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import patsy
from statsmodels.regression.linear_model import OLS
from statsmodels.tools.sm_exceptions import ValueWarning

from alliance.errors import BOUNDARY, NOT_CONVERGED, NotEstimable
from alliance.i18n import N_, Count, Message
from alliance.models.common import (
    FORMULA_ENV,
    Design,
    check_estimates,
    check_identified,
    flag_few_clusters,
    formula_frame,
    use_covariance,
)
from alliance.stats.clusters import JackknifeUndefined, cr3_covariance
from alliance.stats.reml import random_intercept_reml

# Attributes read from the OLS fit on the quasi-demeaned rows; the others (residuals, R-squared, ...)
# would describe the transformed rows, not the model, so they are not offered.
DELEGATED = frozenset({"params", "bse", "pvalues", "tvalues", "conf_int", "cov_params", "wald_test",
                       "t_test", "nobs", "df_model", "df_resid", "use_t", "df_resid_inference", "cov_type"})


class RandomInterceptResult:
    """A fitted random-intercept model: the attributes of statsmodels results that the pipeline reads
    (`params`, `bse`, `pvalues`, `conf_int`, `cov_params`, `wald_test`, ...; from the OLS fit on the
    quasi-demeaned rows), the variance components (`cov_re`, `scale`), `llf`, `converged` and `summary`."""

    def __init__(self, ols, reml, formula: str, matrices: tuple[pd.DataFrame, pd.DataFrame],
                 codes: np.ndarray, group: str, cluster: str | None):
        self.ols, self.reml = ols, reml
        self.formula, self.design_info = formula, matrices[1].design_info
        self._y, self._x, self._codes = matrices[0].iloc[:, 0], matrices[1], codes
        self.group, self.cluster = group, cluster
        self.cov_re = np.array([[reml.group_variance]])
        self.scale = float(reml.residual_variance)
        self.llf = float(reml.llf)
        self.converged = bool(reml.converged)

    def __getattr__(self, name: str):
        if name in DELEGATED:
            return getattr(self.ols, name)
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def predict(self, data: pd.DataFrame) -> pd.Series:
        """Fixed-effects prediction for new rows (the formula's right-hand side applied to `data`)."""
        (x,) = patsy.build_design_matrices([self.design_info], data, return_type="dataframe")
        return x @ self.params

    @property
    def fittedvalues(self) -> pd.Series:
        """Fitted values of the analysed rows with each group's predicted intercept (BLUP), as MixedLM's:
        X b + lambda n_i / (1 + n_i lambda) * mean_i(y - X b)."""
        fixed = self._x @ self.params
        counts = np.bincount(self._codes).astype(float)
        means = np.bincount(self._codes, weights=(self._y - fixed).to_numpy()) / counts
        ratio = self.reml.variance_ratio
        return fixed + (ratio * counts / (1 + counts * ratio) * means)[self._codes]

    def summary(self) -> str:
        """A text summary: model, sample, variance components and the coefficient table."""
        errors = ("model-based" if self.cluster is None
                  else f"cluster-robust by {self.cluster} ({self.n_clusters} clusters)")
        lines = [
            f"Linear mixed model, random intercept per {self.group} (REML; fixed effects by GLS)",
            f"Formula: {self.formula}",
            f"Observations: {self.reml.n_obs}; groups ({self.group}): {self.reml.n_groups}",
            f"{self.group} variance: {self.reml.group_variance:.6g}; residual variance: "
            f"{self.reml.residual_variance:.6g}; REML log-likelihood: {self.reml.llf:.6g}",
            f"Standard errors: {errors}; intervals and p-values on the "
            f"{'t' if self.ols.use_t else 'normal'} scale",
            self._coefficients(),
        ]
        return "\n".join(lines)

    def _coefficients(self) -> str:
        """statsmodels' coefficient table of the fixed effects. Its summary also computes an overall F
        test of the transformed rows, which is not reported (and warns when a few-cluster covariance has
        less than full rank), so that warning is not shown."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ValueWarning)
            return str(self.ols.summary().tables[1])

    @property
    def variance_identified(self) -> bool:
        """Whether some group has two rows, so that the group variance is identified."""
        return variance_identified(self._codes)

    @property
    def n_clusters(self) -> int:
        """Number of clusters of the robust SEs (0 for model-based SEs)."""
        return 0 if self.cluster is None else int(self.ols.cov_kwds["groups"].max() + 1)


def variance_identified(codes: np.ndarray) -> bool:
    """Whether some group (integer codes) has two rows, so that a group variance is identified."""
    return int(np.bincount(codes).max()) >= 2


GROUP_WORDS = {"therapist_id": ("therapist", "patient"), "patient_id": ("patient", "session")}
# The reasons of `_record_variance` for the usual groups (another group is named by its column).
NOT_CONVERGED_WORDS = {
    "therapist_id": Message("the REML search for the therapist variance did not converge (the residual "
                            "variance is practically 0)"),
    "patient_id": Message("the REML search for the patient variance did not converge (the residual variance "
                          "is practically 0)"),
}
BOUNDARY_WORDS = {
    "therapist_id": Message("the therapist variance is estimated as 0 (its boundary): the model reduces to "
                            "ordinary least squares"),
    "patient_id": Message("the patient variance is estimated as 0 (its boundary): the model reduces to "
                          "ordinary least squares"),
}
ONE_GROUP_WORDS = {  # the flag of `_record_variance` when all rows are of one group
    "therapist_id": Message("One therapist: there is no therapist variance to estimate; the model is "
                            "ordinary least squares."),
    "patient_id": Message("One patient: there is no patient variance to estimate; the model is ordinary "
                          "least squares."),
}
NOT_IDENTIFIED_WORDS = {  # the flag of `_record_variance` when no group has two rows
    "therapist_id": Message("One patient per therapist: the therapist variance is not identified; the model "
                            "is ordinary least squares."),
    "patient_id": Message("One session per patient: the patient variance is not identified; the model is "
                          "ordinary least squares."),
}


def fit_random_intercept(formula: str, data: pd.DataFrame, group: str, *, cluster: str | None = None,
                         design: Design | None = None, inference: dict | None = None
                         ) -> RandomInterceptResult:
    """REML fit of `formula` with a random intercept per `group`; SEs model-based, or clustered by the
    column `cluster`. Rows with a missing value in a model column are dropped (as patsy does).

    `design` (when given) receives the status: BOUNDARY when the group variance is estimated as 0 though
    groups have several rows, and a flag when no group has two rows or there is one group (the variance
    is then not identified and the model is ordinary least squares); a REML search that does not converge, or
    collinear predictors, raise NotEstimable. `inference` (from `cluster_inference`, for clustered SEs)
    carries the few-cluster t reference: below `min_clusters` clusters the covariance is the jackknife
    (CR3), flagged on `design`; without a `cov_type` (one cluster) the SEs are model-based.
    """
    y, x = patsy.dmatrices(formula, formula_frame(data, formula), FORMULA_ENV, return_type="dataframe",
                           NA_action="drop")
    rows = data.loc[y.index]
    if design is not None:
        check_identified(x.to_numpy(), list(x.columns), design)
    codes = pd.factorize(rows[group], sort=True)[0]
    reml = random_intercept_reml(y.iloc[:, 0].to_numpy(), x.to_numpy(), codes)
    if design is not None:
        _record_variance(reml, codes, group, design)
    y_star, x_star = reml.quasi_demeaned(y.iloc[:, 0].to_numpy(), x.to_numpy(), codes)
    model = OLS(pd.Series(y_star, index=y.index, name=y.columns[0]),
                pd.DataFrame(x_star, index=x.index, columns=x.columns))
    use_t = bool((inference or {}).get("use_t", False))
    if cluster is None or (inference is not None and "cov_type" not in inference):
        ols = model.fit(use_t=False)
    else:
        clusters = pd.factorize(rows[cluster], sort=True)[0]
        ols = model.fit(cov_type="cluster", use_t=use_t, cov_kwds={"groups": clusters})
        if use_t and design is not None:
            reported = [list(x.columns).index(f"{name}_z") for name in design.scale_variance
                        if f"{name}_z" in x.columns]
            try:
                covariance = cr3_covariance(x_star, y_star, clusters, reported)
            except JackknifeUndefined:
                raise NotEstimable(Message(JACKKNIFE_UNDEFINED, n=Count(len(np.unique(clusters))))) from None
            use_covariance(ols, covariance, design.df)
            flag_few_clusters(design, CR3)
    clustered = cluster if ols.cov_type == "cluster" else None
    result = RandomInterceptResult(ols, reml, formula, (y, x), codes, group, clustered)
    if design is not None:
        check_estimates(result, design)
    return result


def _record_variance(reml, codes: np.ndarray, group: str, design: Design) -> None:
    """The status of the group variance on `design`: not converged (raises), not identified (flag) or at
    its boundary (BOUNDARY)."""
    level, unit = GROUP_WORDS.get(group, (group, "row"))
    if not reml.converged:
        raise NotEstimable(NOT_CONVERGED_WORDS.get(group) or Message(
            "the REML search for the {level} variance did not converge (the residual variance is practically "
            "0)", level=level), NOT_CONVERGED)
    if codes.max(initial=0) == 0:  # a single group: its intercept is the model's, no variance to estimate
        design.flags.append(ONE_GROUP_WORDS.get(group) or Message(
            "One {level}: there is no {level} variance to estimate; the model is ordinary least squares.",
            level=level))
    elif not variance_identified(codes):
        design.flags.append(NOT_IDENTIFIED_WORDS.get(group) or Message(
            "One {unit} per {level}: the {level} variance is not identified; the model is ordinary least "
            "squares.", unit=unit, level=level))
    elif reml.group_variance == 0:
        design.mark(BOUNDARY, BOUNDARY_WORDS.get(group) or Message(
            "the {level} variance is estimated as 0 (its boundary): the model reduces to ordinary least "
            "squares", level=level))


CR3 = Message("jackknife (CR3) therapist-cluster-robust standard errors")
# A model whose alliance effect some therapist's absence leaves unidentified has no jackknife SE
JACKKNIFE_UNDEFINED = N_("without one of its {n} therapists the model cannot estimate the alliance effect "
                         "(too few therapists for its therapist-level terms), so the jackknife standard "
                         "error used with few therapists is not defined")
