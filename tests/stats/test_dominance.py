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
    binomial_loglik_draws,
    dominance_fits,
    draw_weights,
    general_dominance,
    linear_criterion,
    linear_r2_draws,
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


# ---- The bootstrap's draws at once (draw_weights), against the one-draw functions ------------------------


@pytest.fixture
def clustered():
    """24 clusters of 5-15 rows: intercept, a covariate, an indicator that only clusters 0-2 have (a draw
    without them has a zero column), and three correlated predictors; 200 cluster bootstrap draws."""
    rng = np.random.default_rng(11)
    sizes = rng.integers(5, 16, size=24)
    codes = np.repeat(np.arange(24), sizes)
    n = len(codes)
    rare = np.isin(codes, [0, 1, 2]).astype(float)
    base = np.column_stack([np.ones(n), rng.normal(size=n), rare])
    common = rng.normal(size=n)
    predictors = np.column_stack([common + rng.normal(scale=0.6, size=n) for _ in range(3)])
    counts = np.array([np.bincount(rng.integers(0, 24, size=24), minlength=24) for _ in range(200)])
    return base, predictors, codes, counts, rng


def one_draw(kind, response, base, predictors, weights, starts=None):
    """The general dominance weights of one draw by the one-draw functions (rows of weight 0 dropped)."""
    used = weights > 0
    y, trials = response[0][used], response[1][used]
    criterion = (McFadden(y, trials, weights[used], starts) if kind == "binomial"
                 else linear_criterion(y, weights[used]))
    return general_dominance(dominance_fits(base[used], predictors[used], weights[used], criterion), 3)


@pytest.mark.parametrize("kind", ["linear", "binomial"])
def test_draw_weights_equal_the_one_draw_fits_and_leave_rank_deficient_draws(clustered, kind):
    base, predictors, codes, counts, rng = clustered
    eta = base @ [0.3, 0.4, -0.5] + predictors @ [0.5, 0.2, 0.0]
    if kind == "linear":
        response = (eta + rng.normal(size=len(eta)), np.ones(len(eta)))
        starts = None
    else:
        trials = rng.integers(1, 10, size=len(eta)).astype(float)
        response = (rng.binomial(trials.astype(int), 1 / (1 + np.exp(-eta))).astype(float), trials)
        starts = McFadden(*response, np.ones(len(eta)))
        dominance_fits(base, predictors, np.ones(len(eta)), starts)
        starts = starts.solutions
    weights, held = draw_weights(kind, response, base, predictors, counts, codes, starts)
    without_rare = counts[:, :3].sum(axis=1) == 0  # the indicator is a zero column in these draws
    assert without_rare.any() and (held == ~without_rare).all()
    assert np.isnan(weights[~held]).all()
    for draw in np.flatnonzero(held):
        expected = one_draw(kind, response, base, predictors, counts[draw][codes].astype(float), starts)
        assert weights[draw] == pytest.approx(expected, rel=1e-9, abs=1e-12), draw
    # no draw the batch can take: none held, nothing fitted
    none, held = draw_weights(kind, response, base, predictors, counts[without_rare], codes, starts)
    assert not held.any() and np.isnan(none).all() and none.shape == (without_rare.sum(), 3)


def test_binomial_draws_above_the_batch_size_are_left_to_the_one_draw_fits(clustered, monkeypatch):
    from alliance.stats import dominance

    base, predictors, codes, counts, rng = clustered
    y = (rng.random(len(codes)) < 0.3).astype(float)
    monkeypatch.setattr(dominance, "BATCH_CELLS", len(codes) * 10)
    _, held = draw_weights("binomial", (y, np.ones(len(y))), base, predictors, counts[:10] + 1, codes)
    assert held.all()
    _, held = draw_weights("binomial", (y, np.ones(len(y))), base, predictors, counts[:11] + 1, codes)
    assert not held.any()


def test_binomial_draws_settle_as_the_one_draw_fit_or_are_left_to_it(monkeypatch):
    """Bernoulli outcomes where one category has no event in some draws (quasi-complete separation): each
    draw's log-likelihood is the one-draw fit's (its supremum under separation) or NaN, never another
    number; with one Newton step allowed, no draw settles."""
    from alliance.stats import dominance

    rng = np.random.default_rng(5)
    codes = np.repeat(np.arange(12), 10)
    group = (codes < 2).astype(float)
    z = rng.normal(size=120)
    y = np.where(group == 1, (codes == 0) & (np.arange(120) % 10 == 0), rng.random(120) < 0.3).astype(float)
    x = np.column_stack([np.ones(120), z, group])
    counts = np.array([np.bincount(rng.integers(0, 12, size=12), minlength=12) for _ in range(60)])
    weights = counts[:, codes].astype(float)
    batch = binomial_loglik_draws(x, y, np.ones(120), weights)
    separated = (counts[:, 1] > 0) & (counts[:, 0] == 0)  # the group's rows, all without an event
    assert separated.any() and np.isfinite(batch[~separated & (counts[:, :2].sum(axis=1) > 0)]).all()
    for draw, value in enumerate(batch):
        if counts[draw, :2].sum() == 0:
            continue  # the group's column is zero: not a design the batch is given
        if np.isfinite(value):
            assert value == pytest.approx(binomial_loglik(x, y, np.ones(120), weights[draw])[0], rel=1e-9)
    # from a far start, where full Newton steps overshoot and are halved
    held = counts[:, :2].sum(axis=1) > 0
    far = np.array([4.0, -6.0, 3.0])
    batch = binomial_loglik_draws(x, y, np.ones(120), weights[held], start=far)
    expected = [binomial_loglik(x, y, np.ones(120), w, start=far)[0] for w in weights[held]]
    assert np.isfinite(batch).mean() > 0.5
    assert batch[np.isfinite(batch)] == pytest.approx(np.array(expected)[np.isfinite(batch)], rel=1e-9)
    monkeypatch.setattr(dominance, "NEWTON_MAX_ITER", 1)
    assert np.isnan(binomial_loglik_draws(x, y, np.ones(120), weights[~separated])).all()


def test_linear_r2_draws_equal_linear_r2(clustered):
    base, predictors, codes, counts, rng = clustered
    # an outcome far from 0 (the sums of squares about 0 would cancel in all but the last digits)
    y = 1e4 + predictors @ [0.4, 0.1, 0.2] + rng.normal(size=len(codes))
    fits = linear_r2_draws(base, predictors, y, counts[:5] + 1, codes)  # every cluster in every draw
    for draw in range(5):
        weights = (counts[draw] + 1)[codes].astype(float)
        for subset, value in fits.items():
            x = np.column_stack([base, predictors[:, list(subset)]])
            assert value[draw] == pytest.approx(linear_criterion(y, weights)(x, subset), rel=1e-10)
