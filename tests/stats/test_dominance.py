"""Dominance analysis: the published general dominance weights of R's `attitude` data, and the two fit
indices (R^2, McFadden's R^2) against statsmodels with frequency weights and binomial trials, as the
therapist bootstrap of H5 uses them."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm

from alliance.stats.dominance import (
    FitFailed,
    McFadden,
    binomial_loglik,
    dominance_fits,
    general_dominance,
    linear_criterion,
    subsets,
)

# cor(attitude) in R (Chatterjee & Price 1977; 30 departments): rating, complaints, privileges, learning,
# raises, critical, advance, as R prints it (7 digits).
ATTITUDE = np.array([
    [1.0000000, 0.8254176, 0.4261169, 0.6236782, 0.5901390, 0.1564392, 0.1550863],
    [0.8254176, 1.0000000, 0.5582882, 0.5967358, 0.6691975, 0.1877143, 0.2245796],
    [0.4261169, 0.5582882, 1.0000000, 0.4933310, 0.4454779, 0.1472331, 0.3432934],
    [0.6236782, 0.5967358, 0.4933310, 1.0000000, 0.6403144, 0.1159652, 0.5316198],
    [0.5901390, 0.6691975, 0.4454779, 0.6403144, 1.0000000, 0.3768830, 0.5741862],
    [0.1564392, 0.1877143, 0.1472331, 0.1159652, 0.3768830, 1.0000000, 0.2833432],
    [0.1550863, 0.2245796, 0.3432934, 0.5316198, 0.5741862, 0.2833432, 1.0000000],
])
# General dominance (average contribution to R^2) printed by R's dominanceanalysis (Bustos Navarrete &
# Coutinho Soares; README of github.com/clbustos/dominanceAnalysis): complaints, privileges, learning,
# raises, critical, advance; and the R^2 of some subsets printed there.
PUBLISHED = [0.371, 0.051, 0.156, 0.120, 0.007, 0.028]
PUBLISHED_FITS = {(0,): 0.681, (2,): 0.389, (0, 2): 0.708, (1, 2, 3): 0.459, (0, 1, 2, 3, 4, 5): 0.733}


def data_with_correlation(corr: np.ndarray, n: int, seed: int = 1) -> np.ndarray:
    """n rows whose sample correlation matrix is exactly `corr` (whitened noise recoloured)."""
    z = np.random.default_rng(seed).normal(size=(n, len(corr)))
    z -= z.mean(axis=0)
    z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False)).T)
    return z @ np.linalg.cholesky(corr).T


def test_general_dominance_reproduces_the_published_attitude_weights():
    data = data_with_correlation(ATTITUDE, 30)
    assert np.corrcoef(data, rowvar=False) == pytest.approx(ATTITUDE, abs=1e-12)
    y, predictors = data[:, 0], data[:, 1:]
    fits = dominance_fits(np.ones((30, 1)), predictors, np.ones(30), linear_criterion(y, np.ones(30)))
    weights = general_dominance(fits, 6)
    assert weights == pytest.approx(PUBLISHED, abs=0.0005)
    for subset, r2 in PUBLISHED_FITS.items():
        assert fits[subset] == pytest.approx(r2, abs=0.0005), subset
    assert weights.sum() == pytest.approx(fits[tuple(range(6))] - fits[()])
    assert fits[()] == pytest.approx(0.0, abs=1e-12)


def test_general_dominance_hand_case():
    # Two predictors: weight of 0 = ((R2(0) - 0) + (R2(01) - R2(1))) / 2.
    fits = {(): 0.1, (0,): 0.4, (1,): 0.2, (0, 1): 0.45}
    assert general_dominance(fits, 2) == pytest.approx([(0.3 + 0.25) / 2, (0.1 + 0.05) / 2])
    assert subsets(2) == [(), (0,), (1,), (0, 1)]


def test_linear_r2_with_frequency_weights_equals_repeated_rows():
    rng = np.random.default_rng(3)
    x = np.column_stack([np.ones(40), rng.normal(size=(40, 2))])
    y = x @ [1.0, 0.5, -0.3] + rng.normal(size=40)
    weights = rng.integers(0, 4, size=40).astype(float)
    repeated = np.repeat(np.arange(40), weights.astype(int))
    weighted = linear_criterion(y, weights)(x, ())
    assert weighted == pytest.approx(sm.OLS(y[repeated], x[repeated]).fit().rsquared, rel=1e-12)
    assert weighted == pytest.approx(sm.WLS(y, x, weights=weights).fit().rsquared, rel=1e-12)


@pytest.fixture
def binomial_data():
    """Sessions attended out of sessions scheduled, with a cluster bootstrap draw's weights (0, 1, 2, 3)."""
    rng = np.random.default_rng(7)
    n = 120
    x = np.column_stack([np.ones(n), rng.normal(size=n), rng.integers(0, 2, size=n)])
    trials = rng.integers(1, 12, size=n).astype(float)
    successes = rng.binomial(trials.astype(int), 1 / (1 + np.exp(-(x @ [1.2, 0.4, -0.5])))).astype(float)
    weights = rng.integers(0, 4, size=n).astype(float)
    return x, successes, trials, weights


def test_binomial_loglik_equals_statsmodels_glm_with_trials_and_weights(binomial_data):
    x, successes, trials, weights = binomial_data
    loglik, params = binomial_loglik(x, successes, trials, weights)
    glm = sm.GLM(np.column_stack([successes, trials - successes]), x, family=sm.families.Binomial(),
                 freq_weights=weights).fit(tol=1e-12)
    assert params == pytest.approx(glm.params, abs=1e-8)
    assert loglik == pytest.approx(glm.llf, rel=1e-10)
    null = sm.GLM(np.column_stack([successes, trials - successes]), x[:, :1], family=sm.families.Binomial(),
                  freq_weights=weights).fit(tol=1e-12)
    mcfadden = McFadden(successes, trials, weights)(x, (0,))
    assert mcfadden == pytest.approx(1 - glm.llf / null.llf, rel=1e-9)


def test_binomial_loglik_of_bernoulli_outcomes_equals_statsmodels_logit(binomial_data):
    x, _, _, weights = binomial_data
    y = (np.random.default_rng(8).random(len(x)) < 0.3).astype(float)
    repeated = np.repeat(np.arange(len(x)), weights.astype(int))
    logit = sm.Logit(y[repeated], x[repeated]).fit(disp=0, tol=1e-12)
    loglik, params = binomial_loglik(x, y, np.ones(len(x)), weights)
    assert params == pytest.approx(logit.params, abs=1e-7)
    assert loglik == pytest.approx(logit.llf, rel=1e-10)
    criterion = McFadden(y, np.ones(len(x)), weights)
    assert criterion(x, (0,)) == pytest.approx(logit.prsquared, abs=1e-9)
    # started from its own solution (as a bootstrap draw from the full sample's), the same fit
    warm = McFadden(y, np.ones(len(x)), weights, starts=criterion.solutions)
    assert warm(x, (0,)) == pytest.approx(logit.prsquared, abs=1e-9)


def test_under_separation_the_log_likelihood_reaches_its_supremum():
    """Complete separation: no finite maximum, but the log-likelihood goes to 0 (a perfect fit);
    quasi-complete separation (a category without events, as in a bootstrap draw): to the fit without
    that category's rows plus 0 for them."""
    x = np.column_stack([np.ones(20), np.arange(20.0)])
    y = (np.arange(20) >= 10).astype(float)
    loglik, _ = binomial_loglik(x, y, np.ones(20), np.ones(20))
    assert -1e-6 < loglik <= 0
    rng = np.random.default_rng(2)
    group = np.repeat([0.0, 1.0], [80, 20])
    z = rng.normal(size=100)
    y = np.where(group == 1, 0.0, (rng.random(100) < 1 / (1 + np.exp(-z))).astype(float))
    full, _ = binomial_loglik(np.column_stack([np.ones(100), z, group]), y, np.ones(100), np.ones(100))
    rest = sm.Logit(y[:80], np.column_stack([np.ones(80), z[:80]])).fit(disp=0, tol=1e-12)
    assert full == pytest.approx(rest.llf, abs=1e-6)


def test_a_fit_that_cannot_settle_fails_loudly(monkeypatch):
    from alliance.stats import dominance

    monkeypatch.setattr(dominance, "NEWTON_MAX_ITER", 1)
    x = np.column_stack([np.ones(30), np.linspace(-1, 1, 30)])
    y = (np.random.default_rng(3).random(30) < 0.4).astype(float)
    with pytest.raises(FitFailed, match="did not settle"):
        binomial_loglik(x, y, np.ones(30), np.ones(30))
