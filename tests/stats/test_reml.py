"""Vectorised random-intercept REML: lme4's Dyestuff estimates, statsmodels MixedLM, boundary, errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import statsmodels.api as sm
from statsmodels.regression.mixed_linear_model import MixedLMParams

from alliance.stats.reml import random_intercept_reml

# Davies (1972) via lme4's Dyestuff: yield of dyestuff (grams) in 5 preparations from each of 6 batches.
DYESTUFF = {
    "A": [1545, 1440, 1440, 1520, 1580], "B": [1540, 1555, 1490, 1560, 1495],
    "C": [1595, 1550, 1605, 1510, 1560], "D": [1445, 1440, 1595, 1465, 1545],
    "E": [1595, 1630, 1515, 1635, 1625], "F": [1520, 1455, 1450, 1480, 1445],
}


def dyestuff() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = np.array([v for batch in DYESTUFF.values() for v in batch], dtype=float)
    return y, np.ones((len(y), 1)), np.repeat(list(DYESTUFF), 5)


def statsmodels_reml(y: np.ndarray, x: np.ndarray, groups: np.ndarray):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sm.MixedLM(y, x, groups).fit(reml=True)


def simulated(seed: int, n_groups: int, icc: float, n_covariates: int):
    """Unbalanced groups (1 to 14 rows), a row-level and a group-level covariate, total variance 1."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_groups), rng.integers(1, 15, n_groups))
    n = len(groups)
    columns = [np.ones(n)]
    if n_covariates >= 1:
        columns.append(rng.normal(size=n) + rng.normal(size=n_groups)[groups])
    if n_covariates >= 2:
        columns.append(rng.binomial(1, 0.4, n_groups)[groups].astype(float))
    columns += [rng.normal(size=n) for _ in range(n_covariates - 2)]
    x = np.column_stack(columns)
    y = (x @ (1 + 0.5 * np.arange(x.shape[1])) + rng.normal(0, np.sqrt(icc), n_groups)[groups]
         + rng.normal(0, np.sqrt(1 - icc), n))
    return y, x, groups.astype(str)


def at_estimates(fit) -> MixedLMParams:
    """Our estimates in statsmodels' profiled parametrisation (cov_re relative to the residual variance;
    statsmodels' likelihood is infinite at a zero variance, so a boundary fit is nudged off it)."""
    return MixedLMParams.from_components(fe_params=fit.params,
                                         cov_re=np.array([[max(fit.variance_ratio, 1e-14)]]))


def test_dyestuff_matches_lme4():
    """lmer(Yield ~ 1 + (1|Batch), Dyestuff): REML criterion 319.7, Batch variance 1764.0 (SD 42.00),
    residual 2451.3 (SD 49.51), intercept 1527.5 (SE 19.38) (Bates, lme4 book, ch. 1)."""
    fit = random_intercept_reml(*dyestuff())
    assert fit.converged and fit.n_obs == 30 and fit.n_groups == 6
    assert fit.group_variance == pytest.approx(1764.0, abs=0.1)  # printed to 5 significant digits
    assert np.sqrt(fit.group_variance) == pytest.approx(42.00, abs=0.005)
    assert fit.residual_variance == pytest.approx(2451.3, abs=0.1)
    assert np.sqrt(fit.residual_variance) == pytest.approx(49.51, abs=0.005)
    assert fit.params == pytest.approx([1527.5], abs=1e-9)
    assert fit.bse == pytest.approx([19.38], abs=0.005)
    assert -2 * fit.llf == pytest.approx(319.7, abs=0.05)
    assert fit.llf == pytest.approx(-159.83, abs=0.005)
    assert fit.icc == pytest.approx(1764.05 / (1764.05 + 2451.25), abs=1e-5)


def test_statsmodels_reproduces_dyestuff():
    fit = statsmodels_reml(*dyestuff())
    assert np.asarray(fit.cov_re)[0, 0] == pytest.approx(1764.0, abs=0.5)
    assert fit.scale == pytest.approx(2451.3, abs=0.5)
    assert fit.fe_params[0] == pytest.approx(1527.5) and fit.bse_fe[0] == pytest.approx(19.38, abs=0.005)
    assert fit.llf == pytest.approx(-159.83, abs=0.005)


def test_balanced_data_give_the_anova_estimates():
    """Balanced, MSB > MSW: REML is s2_e = MSW, s2_u = (MSB - MSW) / k (1764.05 and 2451.25 here).

    Minimising the criterion's value locates lambda to about sqrt(machine epsilon), hence rel=1e-6."""
    y, x, groups = dyestuff()
    table = y.reshape(6, 5)
    n_groups, k = table.shape
    msb = k * ((table.mean(axis=1) - y.mean()) ** 2).sum() / (n_groups - 1)
    msw = ((table - table.mean(axis=1, keepdims=True)) ** 2).sum() / (n_groups * (k - 1))
    fit = random_intercept_reml(y, x, groups)
    assert fit.residual_variance == pytest.approx(msw, rel=1e-6)
    assert fit.group_variance == pytest.approx((msb - msw) / k, rel=1e-6)


@pytest.mark.parametrize(("seed", "n_groups", "icc", "n_covariates"), [
    (1, 60, 0.30, 0), (2, 200, 0.05, 2), (3, 400, 0.50, 3), (4, 80, 0.02, 1), (5, 150, 0.15, 2),
])
def test_agrees_with_statsmodels(seed, n_groups, icc, n_covariates):
    y, x, groups = simulated(seed, n_groups, icc, n_covariates)
    fit = random_intercept_reml(y, x, groups)
    reference = statsmodels_reml(y, x, groups)
    assert fit.converged and reference.converged
    assert fit.group_variance > 0 and fit.n_groups == n_groups and fit.n_obs == len(y)
    # statsmodels' optimiser stops a little short of the optimum: ours is at least as good.
    assert fit.llf >= reference.llf - 1e-6
    assert fit.llf == pytest.approx(reference.llf, rel=1e-8)
    assert fit.params == pytest.approx(reference.fe_params, rel=1e-4, abs=1e-5)
    assert fit.residual_variance == pytest.approx(reference.scale, rel=1e-4)
    assert fit.group_variance == pytest.approx(np.asarray(reference.cov_re)[0, 0], rel=1e-3)
    # Our llf is statsmodels' REML log-likelihood evaluated at our estimates (same constants) ...
    model = reference.model
    assert model.loglike(at_estimates(fit), profile_fe=False) == pytest.approx(fit.llf, rel=1e-10)
    # ... and cov_params statsmodels' fixed-effects block, s2_e (X' V~^-1 X)^-1. statsmodels' own bse_fe
    # inverts the whole observed Hessian, whose b-variance cross terms are not zero in unbalanced
    # designs, so it differs from this model-based covariance (as lme4's vcov does too).
    k = x.shape[1]
    block = np.linalg.inv(-model.hessian(at_estimates(fit))[0][:k, :k])
    assert fit.cov_params == pytest.approx(block, rel=1e-7, abs=1e-12)
    at_theirs = np.linalg.inv(-model.hessian(reference.params_object)[0][:k, :k])
    assert fit.bse == pytest.approx(np.sqrt(np.diag(at_theirs)), rel=1e-3)


def test_quasi_demeaned_ols_reproduces_the_fit():
    y, x, groups = simulated(6, 120, 0.25, 2)
    fit = random_intercept_reml(y, x, groups)
    y_t, x_t = fit.quasi_demeaned(y, x, groups)
    ols = sm.OLS(y_t, x_t).fit()
    assert ols.params == pytest.approx(fit.params, rel=1e-9)
    assert ols.scale == pytest.approx(fit.residual_variance, rel=1e-9)
    assert ols.cov_params() == pytest.approx(fit.cov_params, rel=1e-8)
    other = np.arange(len(y)) % 7  # e.g. clustering by another level
    robust = sm.OLS(y_t, x_t).fit(cov_type="cluster", cov_kwds={"groups": other})
    assert robust.params == pytest.approx(fit.params, rel=1e-9) and np.isfinite(robust.bse).all()


def test_group_labels_and_order_do_not_matter():
    y, x, groups = simulated(7, 90, 0.2, 1)
    fit = random_intercept_reml(y, x, groups)
    codes = np.unique(groups, return_inverse=True)[1]
    order = np.random.default_rng(0).permutation(len(y))
    again = random_intercept_reml(y[order], x[order], codes[order])
    assert again.params == pytest.approx(fit.params, rel=1e-6)
    assert again.group_variance == pytest.approx(fit.group_variance, rel=1e-6)
    assert again.llf == pytest.approx(fit.llf, rel=1e-12)


def test_zero_group_variance_on_the_boundary():
    """Group means vary less than the residual variance implies: the REML variance is exactly zero."""
    rng = np.random.default_rng(3)
    noise = rng.normal(size=(20, 4))
    noise -= noise.mean(axis=1, keepdims=True)  # identical group means
    noise[0] += 0.05
    y, groups = (10 + noise).ravel(), np.repeat(np.arange(20), 4)
    x = np.ones((len(y), 1))
    fit = random_intercept_reml(y, x, groups)
    reference = statsmodels_reml(y, x, groups)
    assert fit.converged and fit.group_variance == 0.0 and fit.icc == 0.0
    assert np.asarray(reference.cov_re)[0, 0] < 1e-6
    assert fit.llf >= reference.llf - 1e-6 and fit.llf == pytest.approx(reference.llf, rel=1e-8)
    assert fit.params == pytest.approx(reference.fe_params, rel=1e-6)
    assert fit.residual_variance == pytest.approx(reference.scale, rel=1e-6)
    assert fit.bse == pytest.approx(reference.bse_fe, rel=1e-4)
    ols = sm.OLS(y, x).fit()  # lambda = 0 is OLS
    assert fit.residual_variance == pytest.approx(ols.scale, rel=1e-10)
    assert fit.bse == pytest.approx(ols.bse, rel=1e-10)


def test_large_data_recover_the_truth():
    rng = np.random.default_rng(11)
    groups = rng.integers(0, 20_000, 200_000)
    x = np.column_stack([np.ones(len(groups)), rng.normal(size=len(groups))])
    y = x @ [2.0, -1.0] + rng.normal(0, 0.6, 20_000)[groups] + rng.normal(0, 0.8, len(groups))
    fit = random_intercept_reml(y, x, groups)
    assert fit.converged
    assert fit.params == pytest.approx([2.0, -1.0], abs=0.02)
    assert fit.group_variance == pytest.approx(0.36, abs=0.02)
    assert fit.residual_variance == pytest.approx(0.64, abs=0.01)


@pytest.mark.parametrize(("y", "x", "groups", "message"), [
    ([], np.ones((0, 1)), [], "no observations"),
    ([1.0, np.nan, 3.0], np.ones((3, 1)), [1, 1, 2], "y has NaN"),
    ([1.0, 2.0, 3.0], [[1.0], [np.nan], [1.0]], [1, 1, 2], "x has NaN"),
    ([1.0, 2.0, 3.0], np.ones((3, 1)), ["a", None, "b"], "groups has missing"),
    ([1.0, 2.0, 3.0], np.ones((3, 1)), [1.0, np.nan, 2.0], "groups has missing"),
    ([1.0, 2.0, 3.0, 4.0], [[1, 2], [1, 2], [1, 2], [1, 2]], [1, 1, 2, 2], "rank deficient"),
    ([1.0, 2.0, 3.0, 4.0], [[1, 0], [1, 0], [1, 0], [1, 0]], [1, 1, 2, 2], "rank deficient"),
    ([1.0, 2.0, 3.0], np.ones((2, 1)), [1, 1, 2], "differ in length"),
    ([1.0], np.ones((1, 1)), [1], "no residual degrees of freedom"),
    ([3.0, 3.0, 3.0, 3.0], np.ones((4, 1)), [1, 1, 2, 2], "fits y exactly"),
])
def test_invalid_input_raises(y, x, groups, message):
    with pytest.raises(ValueError, match=message):
        random_intercept_reml(np.asarray(y, dtype=float), np.asarray(x, dtype=float), np.asarray(groups))
