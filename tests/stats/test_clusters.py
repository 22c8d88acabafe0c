"""The jackknife (CR3) cluster-robust covariance against its definition: explicit leave-one-cluster-out
refits with statsmodels OLS."""

from __future__ import annotations

import numpy as np
import statsmodels.api as sm

from alliance.stats.clusters import cr3_covariance


def test_cr3_is_the_leave_one_cluster_out_jackknife():
    """CR3 = (G - 1) / G sum_g (b_-g - b)(b_-g - b)' with b_-g from an explicit refit without cluster g."""
    rng = np.random.default_rng(3)
    clusters = np.repeat(np.arange(8), 6)
    x = np.column_stack([np.ones(48), rng.normal(size=48), rng.normal(size=48) + clusters % 2])
    y = x @ [1.0, 0.5, -0.2] + rng.normal(size=8)[clusters] + rng.normal(size=48)
    full = sm.OLS(y, x).fit().params
    deltas = np.array([sm.OLS(y[clusters != g], x[clusters != g]).fit().params - full for g in range(8)])
    np.testing.assert_allclose(cr3_covariance(x, y, clusters), 7 / 8 * deltas.T @ deltas, rtol=1e-10)


def test_cr3_with_two_clusters_by_hand():
    """Intercept only, two clusters of equal size with means 1 and 4: b = 2.5, each b_-g is the other
    cluster's mean, so CR3 = (1/2) (1.5^2 + 1.5^2) = 2.25."""
    y = np.array([0.0, 2.0, 3.0, 5.0])
    x = np.ones((4, 1))
    assert cr3_covariance(x, y, np.array([0, 0, 1, 1])) == np.array([[2.25]])
