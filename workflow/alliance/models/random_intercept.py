"""Linear mixed models with one random intercept, from a formula: REML variance components
(`alliance.mixed.random_intercept_reml`, vectorised) and the fixed effects as generalised least squares.

At the REML estimate of the variance ratio, GLS is OLS on quasi-demeaned rows (every column, intercept
included, minus theta_i times its group mean). The fixed effects are therefore fitted by statsmodels OLS
on those rows, which gives named parameters, Wald tests and intervals on the normal scale as in MixedLM:
with model-based SEs (the REML residual variance is OLS's scale on these rows) or with SEs clustered by
another grouping (e.g. therapists, for a model with a patient intercept). statsmodels' MixedLM gives the
same estimates but loops over groups in Python, which does not scale to 100,000 groups.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import patsy
import statsmodels.api as sm

from alliance.mixed import random_intercept_reml

# Attributes read from the OLS fit on the quasi-demeaned rows; the others (residuals, R-squared, ...)
# would describe the transformed rows, not the model, so they are not offered.
DELEGATED = frozenset({"params", "bse", "pvalues", "tvalues", "conf_int", "cov_params", "wald_test",
                       "t_test", "nobs", "df_model", "df_resid"})


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
            f"Standard errors: {errors}; intervals and p-values on the normal scale",
            str(self.ols.summary().tables[1]),
        ]
        return "\n".join(lines)

    @property
    def n_clusters(self) -> int:
        """Number of clusters of the robust SEs (0 for model-based SEs)."""
        return 0 if self.cluster is None else int(self.ols.cov_kwds["groups"].max() + 1)


def fit_random_intercept(formula: str, data: pd.DataFrame, group: str, cluster: str | None = None,
                         notes: list[str] | None = None) -> RandomInterceptResult:
    """REML fit of `formula` with a random intercept per `group`; SEs model-based, or clustered by the
    column `cluster`. Rows with a missing value in a model column are dropped (as patsy does). A group
    variance on the boundary (0) and a search that did not converge become `notes`."""
    y, x = patsy.dmatrices(formula, data, return_type="dataframe", NA_action="drop")
    rows = data.loc[y.index]
    codes = pd.factorize(rows[group], sort=True)[0]
    reml = random_intercept_reml(y.iloc[:, 0].to_numpy(), x.to_numpy(), codes)
    y_star, x_star = reml.quasi_demeaned(y.iloc[:, 0].to_numpy(), x.to_numpy(), codes)
    model = sm.OLS(pd.Series(y_star, index=y.index, name=y.columns[0]),
                   pd.DataFrame(x_star, index=x.index, columns=x.columns))
    if cluster is None:
        ols = model.fit(use_t=False)
    else:
        ols = model.fit(cov_type="cluster", use_t=False,
                        cov_kwds={"groups": pd.factorize(rows[cluster], sort=True)[0]})
    if notes is not None:
        if reml.group_variance == 0:
            notes.append(f"The {group} variance is estimated as 0 (the model reduces to OLS).")
        if not reml.converged:
            notes.append("The REML search did not converge (the residual variance is practically 0); "
                         "treat the estimates with caution.")
    return RandomInterceptResult(ols, reml, formula, (y, x), codes, group, cluster)
