"""Vectorised REML for the linear model with one random intercept.

statsmodels' MixedLM loops over groups in Python at every likelihood evaluation, which is far too slow
for tens of thousands of groups (e.g. 100,000 patients with 1.2 million sessions). For a single random
intercept everything reduces to group sums, so the REML fit here works on sufficient statistics
(`pandas.factorize`, `numpy.bincount`) with no loop over groups.

Model: y = X b + u_g + e with u_g ~ N(0, s2_u) per group and e ~ N(0, s2_e) per row. With
lambda = s2_u / s2_e, group sizes n_i and theta_i = 1 - sqrt(1 / (1 + n_i lambda)), generalised least
squares is ordinary least squares on the quasi-demeaned rows z - theta_i mean_i(z) (for y and every
column of X), because (I - theta_i J/n_i)'(I - theta_i J/n_i) = I - lambda/(1 + n_i lambda) J = V~_i^-1
with V~ = V / s2_e. Their cross-products need no pass over the rows once lambda is known:

    sum (z - theta_i zbar_i)(z - theta_i zbar_i)' = W + sum_i n_i / (1 + n_i lambda) zbar_i zbar_i'

with W the within-group cross-products (computed once from demeaned rows, so no cancellation). b and
s2_e are profiled out, leaving the REML criterion as a function of lambda alone:

    -2 l_R(lambda) = (N - p) (log(2 pi s2_e_hat) + 1) + sum_i log(1 + n_i lambda) + log det(X' V~^-1 X)

with s2_e_hat = RSS(lambda) / (N - p). These are the constants of statsmodels' `MixedLMResults.llf`
for a REML fit and of lme4's REML criterion (no log det(X'X) term). The criterion is scanned on a grid
of log10(lambda) in [-8, 8], refined with a bounded Brent search on log(lambda) around the best grid
point, and compared with lambda = 0 (the boundary, i.e. OLS), keeping the better one, so the group
variance can be estimated as exactly zero. When the criterion is flat (e.g. every group has one row,
so the two variances are not separately identified) the boundary is kept.

Tested against statsmodels MixedLM (REML) on simulated unbalanced data and against lme4's published
REML estimates for the Dyestuff data (tests/stats/test_reml.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import linalg, optimize

LOG10_RATIO_GRID = np.arange(-8.0, 8.0 + 1e-9, 0.5)  # grid of log10(lambda) scanned before refining
RATIO_XATOL = 1e-10  # Brent's absolute tolerance on log(lambda)
COLLINEARITY_TOL = 1e-12  # smallest eigenvalue of X'X scaled to a unit diagonal
TIE_TOL = 1e-12  # relative tolerance of -2 l_R within which the boundary lambda = 0 is preferred


@dataclass(frozen=True, eq=False)
class RandomInterceptFit:
    """REML fit of y = X b + u_g + e (see the module docstring).

    `cov_params` is the model-based covariance of b, s2_e (X' V~^-1 X)^-1 at the REML estimates;
    `variance_ratio` is lambda = group_variance / residual_variance; `llf` is the REML log-likelihood
    (statsmodels' convention); `converged` is False when the optimum lies at the upper end of the
    searched range of lambda (the residual variance is practically zero) or the search failed.
    """

    params: np.ndarray
    cov_params: np.ndarray
    group_variance: float
    residual_variance: float
    variance_ratio: float
    llf: float
    converged: bool
    n_obs: int
    n_groups: int

    @property
    def bse(self) -> np.ndarray:
        """Standard errors of b."""
        return np.sqrt(np.diag(self.cov_params))

    @property
    def icc(self) -> float:
        """Intraclass correlation s2_u / (s2_u + s2_e)."""
        return self.group_variance / (self.group_variance + self.residual_variance)

    def quasi_demeaned(self, y: np.ndarray, x: np.ndarray, groups: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
        """y and X of the fitted data quasi-demeaned at the fitted lambda.

        OLS of the returned y on the returned X reproduces `params`, `residual_variance` (its scale)
        and `cov_params`, so e.g. cluster-robust SEs for another clustering come from
        `sm.OLS(y_t, x_t).fit(cov_type="cluster", cov_kwds={"groups": other})`.
        """
        y, x, codes, _ = _checked(y, x, groups)
        return (quasi_demean(y, codes, self.variance_ratio),
                quasi_demean(x, codes, self.variance_ratio))


def quasi_demean(values: np.ndarray, groups: np.ndarray, ratio: float) -> np.ndarray:
    """values - theta_i * (group mean of values), theta_i = 1 - sqrt(1 / (1 + n_i ratio)), per column."""
    values = np.asarray(values, dtype=float)
    codes, _ = pd.factorize(np.asarray(groups))
    counts = np.bincount(codes).astype(float)
    theta = 1 - np.sqrt(1 / (1 + counts * ratio))
    columns = values.reshape(len(values), -1)
    out = np.empty_like(columns)
    for j in range(columns.shape[1]):
        means = np.bincount(codes, weights=columns[:, j], minlength=len(counts)) / counts
        out[:, j] = columns[:, j] - (theta * means)[codes]
    return out.reshape(values.shape)


def _checked(y, x, groups) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Validated float y (N), X (N x p), group codes 0..G-1 and G."""
    y = np.asarray(y, dtype=float)
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    groups = np.asarray(groups)
    if y.ndim != 1 or x.ndim != 2 or groups.ndim != 1:
        raise ValueError("y and groups must be one-dimensional and x one- or two-dimensional")
    if not len(y) == len(x) == len(groups):
        raise ValueError(f"y, x and groups differ in length ({len(y)}, {len(x)}, {len(groups)})")
    if len(y) == 0:
        raise ValueError("no observations (empty y)")
    if not np.isfinite(y).all():
        raise ValueError("y has NaN or infinite values; drop incomplete rows first")
    if not np.isfinite(x).all():
        raise ValueError("x has NaN or infinite values; drop incomplete rows first")
    codes, labels = pd.factorize(groups)
    if (codes < 0).any():
        raise ValueError("groups has missing values; drop incomplete rows first")
    return y, x, codes, len(labels)


def random_intercept_reml(y: np.ndarray, x: np.ndarray, groups: np.ndarray) -> RandomInterceptFit:
    """REML fit of y = X b + u_g + e with one random intercept per group (see the module docstring).

    Parameters
    ----------
    y
        The response, one value per row.
    x
        The fixed-effects design, rows as `y`; it must hold the intercept column itself if one is wanted.
    groups
        The group of each row (any hashable labels; their order does not matter).

    Returns
    -------
    RandomInterceptFit
        Fixed effects with their model-based covariance, both variances, their ratio, the REML
        log-likelihood and whether the search converged.

    Raises
    ------
    ValueError
        For empty input, mismatched lengths, NaN or infinite values in y or x, missing groups, no
        residual degrees of freedom, a rank-deficient X (collinear or all-zero columns: X'X scaled to a
        unit diagonal has an eigenvalue below 1e-12) or a y that X fits exactly.

    References
    ----------
    Patterson HD, Thompson R (1971). Recovery of inter-block information when block sizes are unequal.
    Biometrika 58, 545-554.
    Bates DM (2010). lme4: Mixed-effects modeling with R, ch. 1. Its Dyestuff fit (REML criterion
    319.7, batch SD 42.00, residual SD 49.51, intercept 1527.5 with SE 19.38) is reproduced in
    tests/stats/test_reml.py, as is statsmodels MixedLM on unbalanced data.
    """
    y, x, codes, n_groups = _checked(y, x, groups)
    n, p = x.shape
    if n <= p:
        raise ValueError(f"{n} observations leave no residual degrees of freedom for {p} columns of x")
    counts = np.bincount(codes, minlength=n_groups).astype(float)
    # Group means and within-group cross-products of z = [X, y], column by column to bound memory.
    z = np.empty((n, p + 1), order="F")
    means = np.empty((n_groups, p + 1))
    for j, column in enumerate([*x.T, y]):
        means[:, j] = np.bincount(codes, weights=column, minlength=n_groups) / counts
        z[:, j] = column - means[codes, j]
    within = z.T @ z
    del z

    def cross_products(ratio: float) -> np.ndarray:
        """Cross-products of the quasi-demeaned [X, y]."""
        scaled = means * np.sqrt(counts / (1 + counts * ratio))[:, None]
        return within + scaled.T @ scaled

    ols = cross_products(0.0)
    _check_rank(ols[:p, :p])
    ratio, value, chol, converged = reml_search(cross_products, lambda r: np.log1p(counts * r).sum(), n, p)
    rss = chol[p, p] ** 2
    residual_variance = float(rss / (n - p))
    inverse_chol = linalg.solve_triangular(chol[:p, :p], np.eye(p), lower=True)
    params = inverse_chol.T @ chol[p, :p]
    return RandomInterceptFit(
        params=params, cov_params=residual_variance * (inverse_chol.T @ inverse_chol),
        group_variance=ratio * residual_variance, residual_variance=residual_variance,
        variance_ratio=ratio, llf=-value / 2, converged=converged, n_obs=n, n_groups=n_groups)


def reml_search(cross_products: Callable[[float], np.ndarray], log_det: Callable[[float], float], n: int,
                p: int) -> tuple[float, float, np.ndarray, bool]:
    """The variance ratio lambda minimising -2 l_R (module docstring) given the cross-products of the
    quasi-demeaned [X, y] at lambda (`cross_products`, (p + 1) x (p + 1)) and sum_i log(1 + n_i lambda)
    (`log_det`), for n rows and p columns of X: lambda, -2 l_R there, the Cholesky factor of the
    cross-products there and whether the search converged. A grid of log10(lambda), a bounded Brent
    search around its best point and the boundary lambda = 0, kept where it is as good."""

    def criterion(ratio: float) -> tuple[float, np.ndarray | None]:
        """-2 l_R at lambda = ratio and the Cholesky factor of the cross-products (None if singular)."""
        try:
            chol = linalg.cholesky(cross_products(ratio), lower=True)
        except linalg.LinAlgError:
            return np.inf, None
        rss, diag = chol[p, p] ** 2, np.diag(chol)[:p]
        if not rss > 0:
            return np.inf, None
        value = (n - p) * (np.log(2 * np.pi * rss / (n - p)) + 1) + log_det(ratio) + 2 * np.log(diag).sum()
        return float(value), chol

    boundary, boundary_chol = criterion(0.0)
    if boundary_chol is None:
        raise ValueError("x fits y exactly (no residual variation); the variances are not estimable")

    grid = np.log(10.0) * LOG10_RATIO_GRID
    values = np.array([criterion(np.exp(t))[0] for t in grid])
    best = int(np.argmin(values))
    converged = bool(np.isfinite(values[best])) and best < len(grid) - 1
    if np.isfinite(values[best]):
        search = optimize.minimize_scalar(
            lambda t: criterion(np.exp(t))[0], method="bounded",
            bounds=(grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]),
            options={"xatol": RATIO_XATOL, "maxiter": 500})
        converged = converged and bool(search.success)
        ratio = float(np.exp(search.x))
        value, chol = criterion(ratio)
        if values[best] < value:  # the search cannot do worse than its starting grid point
            ratio = float(np.exp(grid[best]))
            value, chol = criterion(ratio)
    if not np.isfinite(values[best]) or boundary <= value + TIE_TOL * (abs(boundary) + n):
        ratio, value, chol, converged = 0.0, boundary, boundary_chol, True
    return ratio, value, chol, converged


def _check_rank(xtx: np.ndarray) -> None:
    """Raise ValueError when X has an all-zero column or (nearly) collinear columns."""
    scale = np.sqrt(np.diag(xtx))
    if not (scale > 0).all():
        raise ValueError("x is rank deficient: a column is all zero")
    smallest = np.linalg.eigvalsh(xtx / np.outer(scale, scale))[0]
    if smallest < COLLINEARITY_TOL:
        raise ValueError(f"x is rank deficient: its columns are collinear (smallest eigenvalue of the "
                         f"scaled X'X is {smallest:.2g})")
