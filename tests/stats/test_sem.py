"""The cluster-robust covariance of semopy fits (alliance.stats.sem): Petersen's (2009) published
firm-clustered standard error, the estimators it extends (semopy's own robust covariance when every
observation is its own cluster, on H5d's model; statsmodels' cluster-robust least squares); and the
restricted wild score bootstrap of a Wald test, draw by draw against the wild cluster restricted bootstrap
done the long way (every draw a new outcome, refitted by statsmodels)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import semopy
import statsmodels.api as sm
from semopy.stats import calc_se

from alliance.instruments import load_instrument
from alliance.models.dimension_sem import _quiet_semopy, _started, description, negative_variances
from alliance.stats.sem import (
    WEBB,
    active_parameters,
    bootstrap_weights,
    cluster_robust_covariance,
    cluster_scores,
    fisher_scoring,
    robust_score_statistic,
    wild_score_p_value,
    wild_score_statistics,
)

PETERSEN = Path(__file__).parent / "data" / "petersen_cl.csv"  # firm, x, y; 500 firms x 10 years


def test_petersens_published_clustered_standard_error():
    """Petersen's simulated panel (Petersen 2009; test_data.htm, also R's sandwich::PetersenCL via
    Rdatasets): OLS of y on x gives b = 1.034833 and, clustered by firm, SE 0.0505957 with Stata's factor
    G / (G - 1) * (N - 1) / (N - K). Ours has G / (G - 1) only, so the published SE times
    sqrt((N - K) / (N - 1))."""
    data = pd.read_csv(PETERSEN)
    assert data.shape == (5000, 3) and data["firm"].nunique() == 500
    model = semopy.Model("y ~ b*x")
    model.fit(data[["x", "y"]])
    slope = active_parameters(model).index("b")
    assert model.param_vals[slope] == pytest.approx(1.034833, rel=2e-4)  # semopy's optimiser tolerance
    se = np.sqrt(cluster_robust_covariance(model, data["firm"].to_numpy())[slope, slope])
    assert se == pytest.approx(0.0505957 * np.sqrt(4998 / 4999), rel=2e-5)
    assert se / 0.0285833 > 1.7  # the published OLS SE: the firm effect nearly doubles it


def clustered(rng: np.random.Generator, n: int, groups: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A regressor and an outcome that both share a cluster component (so clustering matters)."""
    cluster = rng.integers(0, groups, size=n)
    x = rng.normal(size=n) + rng.normal(size=groups)[cluster]
    y = 0.5 * x + rng.normal(size=n) + rng.normal(size=groups)[cluster]
    return x, y, cluster


def test_a_regression_matches_statsmodels_cluster_robust_least_squares():
    x, y, cluster = clustered(np.random.default_rng(1), 300, 30)
    model = semopy.Model("y ~ b*x")
    model.fit(pd.DataFrame({"x": x, "y": y}))
    slope = active_parameters(model).index("b")
    ols = sm.OLS(y, sm.add_constant(x)).fit()
    assert model.param_vals[slope] == pytest.approx(ols.params[1], rel=1e-3)  # the optimiser's tolerance
    cr0 = ols.get_robustcov_results("cluster", groups=cluster, use_correction=False).bse[1]
    ours = np.sqrt(cluster_robust_covariance(model, cluster, correction=False)[slope, slope])
    assert ours == pytest.approx(cr0, rel=1e-3)
    corrected = np.sqrt(cluster_robust_covariance(model, cluster)[slope, slope])
    assert corrected == pytest.approx(ours * np.sqrt(30 / 29), rel=1e-12)
    assert corrected > 1.5 * ols.bse[1]  # the clusters matter in these data: naive SEs are too small
    with pytest.raises(ValueError, match="299 cluster labels for 300 fitted rows"):
        cluster_robust_covariance(model, cluster[:-1])


def test_singleton_clusters_give_semopys_robust_errors_on_the_latent_model():
    """H5d's correlated-factors model on simulated items: with one observation per cluster the sandwich
    is semopy's own Huber-White one, parameter by parameter."""
    wai = load_instrument("wai_sr")
    rng = np.random.default_rng(2)
    n = 400
    factors = rng.multivariate_normal(np.zeros(3), [[1, 0.7, 0.7], [0.7, 1, 0.7], [0.7, 0.7, 1]], size=n)
    data = {}
    for column, dimension in enumerate(("bond", "goal", "task")):
        for item in wai.dimensions[dimension]:
            data[f"i{item}"] = 0.8 * factors[:, column] + 0.6 * rng.normal(size=n)
    data["y"] = factors @ [0.1, 0.3, 0.3] + rng.normal(size=n)
    with _quiet_semopy():
        model = _started(semopy.Model(description(wai)))
        assert model.fit(pd.DataFrame(data)).success
    ours = np.sqrt(np.diag(cluster_robust_covariance(model, np.arange(n), correction=False)))
    np.testing.assert_allclose(ours, calc_se(model, robust=True), rtol=1e-8)
    values = dict(zip(active_parameters(model), model.param_vals, strict=True))
    assert values["pO"] == pytest.approx(0.3, abs=0.1) and values["rBO"] == pytest.approx(0.7, abs=0.05)
    # an improper solution is named in words: a residual variance of an item and of a factor set negative
    assert negative_variances(model) == []
    model.mx_theta[model.names[3][0].index("i7"), model.names[3][0].index("i7")] = -0.01
    model.mx_psi[model.names[2][0].index("O"), model.names[2][0].index("O")] = -0.5
    assert list(map(str, negative_variances(model))) == ["the latent goal dimension", "item 7"]


def wild_cluster_restricted(y: np.ndarray, x: np.ndarray, cluster: np.ndarray, restriction: np.ndarray,
                            weights: np.ndarray) -> tuple[float, np.ndarray]:
    """The Wald statistic of R beta = 0 from CR1-type (G / (G - 1)) cluster-robust least squares, and its
    wild cluster restricted bootstrap the long way (Cameron, Gelbach & Miller 2008; Roodman et al. 2019):
    fit under the null, then per draw y* = restricted fit + w_g * restricted residual, refit, re-test."""
    design = sm.add_constant(x)
    groups = len(np.unique(cluster))

    def wald(outcome: np.ndarray) -> float:
        fit = sm.OLS(outcome, design).fit()
        cov = fit.get_robustcov_results("cluster", groups=cluster, use_correction=False).cov_params()
        d = restriction @ fit.params
        return float(d @ np.linalg.solve(restriction @ cov @ restriction.T * groups / (groups - 1), d))

    null = sm.OLS(y, np.column_stack([np.ones(len(y)), x.sum(axis=1)])).fit()  # beta_1 = beta_2 = beta_3
    return wald(y), np.array([wald(null.fittedvalues + w[cluster] * null.resid) for w in weights])


def equal_paths_regression(x: np.ndarray, y: np.ndarray) -> tuple[semopy.Model, np.ndarray]:
    """semopy's regression of y on the three columns of x, and the restriction R of equal paths (b1 = b2 =
    b3) over its parameters."""
    model = semopy.Model("y ~ b1*x1 + b2*x2 + b3*x3")
    model.fit(pd.DataFrame(x, columns=["x1", "x2", "x3"]).assign(y=y))
    names = active_parameters(model)
    restriction = np.zeros((2, len(names)))
    restriction[:, [names.index(b) for b in ("b1", "b2", "b3")]] = [[-1, 1, 0], [-1, 0, 1]]
    return model, restriction


@pytest.mark.parametrize("groups", [11, 16])  # Webb's weights below 14 clusters, Rademacher's above
def test_the_wild_score_bootstrap_is_the_wild_cluster_restricted_bootstrap_for_least_squares(groups):
    """With the same regressors in every cluster, each cluster's share of the information is n_g / n
    exactly, and the score bootstrap at the restricted estimate is the wild cluster restricted bootstrap:
    the same statistic in every draw (to rounding), on semopy's scores and information, the path H5d
    runs. The equal-paths test of three correlated regressors, 12 observations per cluster."""
    rng = np.random.default_rng(3)
    rows = rng.multivariate_normal(np.zeros(3), [[1, 0.7, 0.7], [0.7, 1, 0.7], [0.7, 0.7, 1]], size=12)
    x, cluster = np.tile(rows, (groups, 1)), np.repeat(np.arange(groups), 12)
    y = x @ [0.0, 1.0, 1.0] + rng.normal(size=len(x)) + rng.normal(size=groups)[cluster]
    model, restriction = equal_paths_regression(x, y)
    weights = bootstrap_weights(groups, 300, np.random.default_rng(7))
    assert set(np.unique(weights)) == (set(WEBB) if groups < 14 else {-1.0, 1.0})
    observed, expected = wild_cluster_restricted(y, x, cluster, restriction[:, :3] @ np.eye(3, 4, 1), weights)
    # the restricted least-squares estimate, exactly (semopy's own fit is as close as its optimiser stops)
    null = sm.OLS(y, np.column_stack([np.ones(len(y)), x.sum(axis=1)])).fit()
    restricted = np.array([null.params[1]] * 3 + [np.mean(null.resid ** 2)])  # b1, b2, b3, ML variance
    scores, information_inverse = cluster_scores(model, cluster, restricted)
    replicated = wild_score_statistics(scores, information_inverse, restriction, weights,
                                       sizes=np.bincount(cluster))
    np.testing.assert_allclose(replicated, expected, rtol=1e-9)
    # and the statistic they are compared with: semopy's fit and sandwich against least squares
    d = restriction @ model.param_vals
    wald = d @ np.linalg.solve(restriction @ cluster_robust_covariance(model, cluster) @ restriction.T, d)
    assert wald == pytest.approx(observed, rel=1e-2)
    assert np.mean(replicated >= observed) < 0.05  # the planted unequal paths are found
    # the observed statistic H5d takes, the draws' own formula with every weight 1: here the Wald statistic
    assert robust_score_statistic(scores, information_inverse, restriction,
                                  sizes=np.bincount(cluster)) == pytest.approx(observed, rel=1e-9)
    # the p-value as the pipeline takes it: one chunk of the same draws; every draw counted in chunks
    sizes = np.bincount(cluster)
    p = wild_score_p_value(scores, information_inverse, restriction, observed, sizes=sizes, draws=300,
                           rng=np.random.default_rng(7))
    assert p == np.mean(expected >= observed)
    for statistic, share in ((-np.inf, 1.0), (np.inf, 0.0)):
        assert wild_score_p_value(scores, information_inverse, restriction, statistic, sizes=sizes, draws=301,
                                  rng=np.random.default_rng(7), chunk_elements=7 * groups) == share


def test_the_robust_score_statistic_of_least_squares_written_out():
    """H5d's observed statistic on semopy's scores against the cluster-robust score test of least squares
    written out (Boos 1992): the restricted fit's residuals e, each cluster's step R (X'X)^-1 X_g' e_g of
    the centred regressors, their sum d, and d' (G / (G - 1) sum_g (step_g - (n_g / n) d)(...)')^-1 d.
    With regressors that differ between clusters it is not the Wald statistic at the unrestricted estimate,
    which H5d referred to the same bootstrap until plan version 33 (liberal: 6.2% of 2,000 null cohorts)."""
    rng = np.random.default_rng(11)
    groups, n_g = 20, rng.integers(6, 15, size=20)
    cluster = np.repeat(np.arange(groups), n_g)
    x = rng.multivariate_normal(np.zeros(3), [[1, 0.6, 0.6], [0.6, 1, 0.6], [0.6, 0.6, 1]], size=len(cluster))
    x += rng.normal(size=(groups, 3))[cluster]  # regressors that differ between clusters
    y = x @ [0.3, 0.5, 0.5] + rng.normal(size=len(x)) + rng.normal(size=groups)[cluster]
    model, restriction = equal_paths_regression(x, y)
    null = sm.OLS(y, np.column_stack([np.ones(len(y)), x.sum(axis=1)])).fit()
    restricted = np.array([null.params[1]] * 3 + [np.mean(null.resid ** 2)])
    scores, information_inverse = cluster_scores(model, cluster, restricted)
    statistic = robust_score_statistic(scores, information_inverse, restriction, sizes=n_g)
    centred = x - x.mean(axis=0)
    r = np.array([[-1.0, 1, 0], [-1, 0, 1]])
    gram = centred.T @ centred
    steps = np.array([r @ np.linalg.solve(gram, centred[cluster == g].T @ null.resid[cluster == g])
                      for g in range(groups)])
    d = steps.sum(axis=0)
    recentred = steps - (n_g / n_g.sum())[:, None] * d
    meat = groups / (groups - 1) * recentred.T @ recentred
    assert statistic == pytest.approx(float(d @ np.linalg.solve(meat, d)), rel=1e-6)
    fit = sm.OLS(y, sm.add_constant(x)).fit(cov_type="cluster", cov_kwds={"groups": cluster,
                                                                          "use_correction": False})
    difference = r @ fit.params[1:]
    cov = fit.cov_params()[1:, 1:] * groups / (groups - 1)
    wald = difference @ np.linalg.solve(r @ cov @ r.T, difference)
    assert abs(statistic - wald) > 0.05 * wald  # another statistic than the Wald statistic here


def test_fisher_scoring_reaches_the_optimum_semopy_stops_short_of():
    """H5d's model on simulated items: from semopy's fit and from a start far from it (where semopy's own
    optimisers may stop and report success, docs/engineering-notes.md), Fisher scoring reaches the same
    optimum, which scipy's BFGS on semopy's objective and gradient confirms to the last digits."""
    from scipy.optimize import minimize

    wai = load_instrument("wai_sr")
    rng = np.random.default_rng(5)
    n = 300
    factors = rng.multivariate_normal(np.zeros(3), [[1, 0.7, 0.7], [0.7, 1, 0.7], [0.7, 0.7, 1]], size=n)
    data = {f"i{item}": 0.8 * factors[:, column] + 0.6 * rng.normal(size=n)
            for column, dimension in enumerate(("bond", "goal", "task"))
            for item in wai.dimensions[dimension]}
    data["y"] = factors @ [0.0, 0.3, 0.3] + rng.normal(size=n)
    with _quiet_semopy():
        model = _started(semopy.Model(description(wai)))
        model.fit(pd.DataFrame(data))
    assert fisher_scoring(model)
    optimum, value = model.param_vals.copy(), model.obj_mlw(model.param_vals)
    reference = minimize(model.obj_mlw, optimum, jac=model.grad_mlw, method="BFGS", options={"gtol": 1e-10})
    assert reference.fun == pytest.approx(value, abs=1e-12)
    np.testing.assert_allclose(reference.x, optimum, atol=1e-6)
    far = optimum + np.where(np.arange(len(optimum)) % 2, 0.3, -0.2)
    model.param_vals = far
    model.update_matrices(far)
    assert np.max(np.abs(model.grad_mlw(far))) > 1e-2  # a point semopy could stop at
    assert fisher_scoring(model)
    np.testing.assert_allclose(model.param_vals, optimum, atol=1e-6)
    assert model.obj_mlw(model.param_vals) == pytest.approx(value, abs=1e-12)
    assert model.last_result.fun == model.obj_mlw(model.param_vals)  # semopy's chi-square reads it
    assert semopy.calc_stats(model)["chi2"].iloc[0] == pytest.approx(n * value, rel=1e-12)
    # at a point whose implied covariance is not positive definite: no step (the information would not
    # invert), not converged, the point left as it was
    broken = np.full_like(optimum, -50.0)  # every variance far below 0
    model.param_vals = broken
    model.update_matrices(broken)
    assert not np.isfinite(model.obj_mlw(broken))
    assert not fisher_scoring(model)
    np.testing.assert_array_equal(model.param_vals, broken)


def test_the_cfi_is_bounded_as_lavaan_bounds_it():
    """semopy's CFI of H5d's model read 1.002 on a reviewer's cohort (chi-square below its df)."""
    from alliance.stats.sem import comparative_fit_index

    assert comparative_fit_index(40.0, 48, 900.0, 66) == 1.0  # fits better than its df expect
    assert comparative_fit_index(96.0, 48, 900.0, 66) == pytest.approx(1 - 48 / 834)
    assert comparative_fit_index(900.0, 48, 500.0, 66) == 0.0  # worse than the baseline
    assert comparative_fit_index(10.0, 12, 11.0, 15) == 1.0  # nothing to compare with
