"""The cluster-robust covariance of semopy fits (alliance.stats.sem): Petersen's (2009) published
firm-clustered standard error, the estimators it extends (semopy's own robust covariance when every
observation is its own cluster, on H5d's model; statsmodels' cluster-robust least squares)."""

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
from alliance.stats.sem import active_parameters, cluster_robust_covariance

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
    assert negative_variances(model) == ["the latent goal dimension", "item 7"]
