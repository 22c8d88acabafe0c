"""The jackknife (CR3) cluster-robust covariance against its definition (explicit leave-one-cluster-out
refits with statsmodels OLS), and the bias-reduced (Mancl-DeRouen) one against statsmodels GEE's and, at a
cluster leverage of 1, against a dense solution of statsmodels' own form."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm

from alliance.stats.clusters import JackknifeUndefined, adjusted_meat, bias_reduced_covariance, cr3_covariance


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


def test_cr3_refuses_a_reported_coefficient_that_a_clusters_absence_leaves_unidentified():
    """Three clusters, a cluster-level slope and an indicator of cluster 2: without cluster 0 (or 1) the
    slope and the indicator both separate the two clusters left, so the slope's b_-g is any point of a
    line and the minimum-norm one depends on how the indicator is coded. Asked to report the slope, CR3
    refuses; the indicator alone, a category only cluster 2 has, leaves the slope identified without
    cluster 2 and takes the minimum-norm solution as before."""
    rng = np.random.default_rng(0)
    clusters = np.repeat(np.arange(3), 10)
    level = np.array([-1.0, 0.2, 0.9])[clusters]
    x = np.column_stack([np.ones(30), level, clusters == 2]).astype(float)
    y = 2 * level + (clusters == 2) + rng.normal(size=30)
    with pytest.raises(JackknifeUndefined):
        cr3_covariance(x, y, clusters, reported=[1])
    recoded = np.column_stack([x[:, :2], clusters != 2]).astype(float)  # the other level as reference
    assert cr3_covariance(x, y, clusters)[1, 1] != pytest.approx(cr3_covariance(recoded, y, clusters)[1, 1])
    # a slope that varies within clusters stays identified without any one of them
    within = np.column_stack([np.ones(30), rng.normal(size=30), clusters == 2]).astype(float)
    np.testing.assert_allclose(cr3_covariance(within, y, clusters, reported=[1]),
                               cr3_covariance(within, y, clusters))


def logistic_rows(seed: int = 1, therapists: int = 12, rows: int = 20):
    """A logistic fit (independence GEE) on clustered rows whose third column marks therapist 0's rows
    alone (a discipline's only therapist: a cluster leverage of 1) when `alone` is set."""
    rng = np.random.default_rng(seed)
    clusters = np.repeat(np.arange(therapists), rows)
    x = rng.normal(size=clusters.size)
    exog = np.column_stack([np.ones(clusters.size), x, clusters == 0, rng.integers(0, 2, clusters.size)])
    y = (rng.random(clusters.size) < 1 / (1 + np.exp(-(0.3 + 0.8 * x + 0.5 * exog[:, 2])))).astype(float)
    return y, exog.astype(float), clusters


def whitened(model, params):
    """The whitened derivatives and residuals of a logistic (independence) GEE at `params`."""
    mean = model.predict(params)
    sd = np.sqrt(mean * (1 - mean))
    return sd[:, None] * model.exog, (model.endog - mean) / sd


def test_bias_reduced_is_statsmodels_mancl_derouen_where_it_is_regular():
    """Without the leverage-1 column the covariance is statsmodels GEE's `cov_type="bias_reduced"`."""
    y, exog, clusters = logistic_rows()
    exog = exog[:, [0, 1, 3]]
    model = sm.GEE(y, exog, groups=clusters, family=sm.families.Binomial(),
                   cov_struct=sm.cov_struct.Independence())
    fit = model.fit(cov_type="bias_reduced")
    np.testing.assert_allclose(bias_reduced_covariance(*whitened(model, fit.params), clusters),
                               fit.cov_params(), rtol=1e-10, atol=1e-14)


def test_bias_reduced_at_a_leverage_of_one_is_the_regular_sandwich_outside_that_direction():
    """Therapist 0's rows alone determine the third coefficient: (I - H_0) is singular and statsmodels'
    solve divides 0 by 0. The covariance here is finite and, for every pair of coefficients but that
    one, what a dense least-squares solution of (I - H_g) a_g = r_g in statsmodels' own form gives (the
    component along the singular direction only reaches the third coefficient, since no other
    therapist's rows vary along it)."""
    y, exog, clusters = logistic_rows()
    model = sm.GEE(y, exog, groups=clusters, family=sm.families.Binomial(),
                   cov_struct=sm.cov_struct.Independence())
    params = model.fit().params
    mean = model.predict(params)
    variance = mean * (1 - mean)
    bread = np.linalg.inv(exog.T @ (variance[:, None] * exog))
    meat = np.zeros((4, 4))
    for g in range(12):
        rows = clusters == g
        hat = variance[rows, None] * exog[rows] @ bread @ exog[rows].T  # H_g = D_g B^-1 D_g' V_g^-1
        corrected = np.linalg.lstsq(np.eye(rows.sum()) - hat, y[rows] - mean[rows], rcond=None)[0]
        meat += np.outer(exog[rows].T @ corrected, exog[rows].T @ corrected)
    dense = bread @ meat @ bread
    covariance = bias_reduced_covariance(*whitened(model, params), clusters)
    others = [0, 1, 3]
    np.testing.assert_allclose(covariance[np.ix_(others, others)], dense[np.ix_(others, others)], rtol=1e-8)
    # all of it, the third coefficient too, is the definition with numpy's dense Moore-Penrose inverse
    # of (I - S_g) (S_g = V_g^1/2 X_g B^-1 X_g' V_g^1/2), which is singular for therapist 0 alone
    meat = np.zeros((4, 4))
    for g in range(12):
        rows = clusters == g
        root = np.sqrt(variance[rows])
        hat = root[:, None] * exog[rows] @ bread @ exog[rows].T * root[None, :]
        assert (min(np.linalg.eigvalsh(np.eye(rows.sum()) - hat)) < 1e-12) == (g == 0)
        score = (root[:, None] * exog[rows]).T @ np.linalg.pinv(np.eye(rows.sum()) - hat, rcond=1e-12,
                                                               hermitian=True) @ ((y - mean)[rows] / root)
        meat += np.outer(score, score)
    np.testing.assert_allclose(covariance, bread @ meat @ bread, rtol=1e-8)


def test_cr2_meat_of_a_mean_by_hand():
    """The mean of y with clusters of 2, 3 and 5 rows (x = 1): S_g = 1 1' / 10 on cluster g, whose one
    eigenvalue other than 0 is n_g / 10, so u_g = sum_g e / sqrt(1 - n_g / 10) (CR2, Bell & McCaffrey 2002)
    and sum_g e / (1 - n_g / 10) (Mancl & DeRouen 2001)."""
    y = np.array([1.0, 3.0, 2.0, 6.0, 1.0, 0.0, 4.0, 2.0, 5.0, 6.0])
    clusters = np.repeat([0, 1, 2], [2, 3, 5])
    e = y - y.mean()
    sums, sizes = np.bincount(clusters, weights=e), np.array([2, 3, 5])
    meat = adjusted_meat(np.ones((10, 1)), e, clusters, 0.5)
    assert meat[0, 0] == pytest.approx((sums**2 / (1 - sizes / 10)).sum(), rel=1e-12)
    assert adjusted_meat(np.ones((10, 1)), e, clusters, 1.0)[0, 0] == pytest.approx(
        (sums**2 / (1 - sizes / 10) ** 2).sum(), rel=1e-12)


def test_cr2_meat_is_the_dense_inverse_square_root_of_i_minus_the_hat_block():
    """On a logistic model's whitened rows (40 clusters of 1-12 rows, 4 coefficients), the meat from the
    thin SVD equals sum_g u_g u_g' with u_g = E_g' (I - S_g)^(-1/2) e_g by scipy's dense matrix square
    root."""
    from scipy.linalg import sqrtm

    rng = np.random.default_rng(3)
    sizes = rng.integers(1, 13, 40)
    clusters = np.repeat(np.arange(40), sizes)
    x = np.column_stack([np.ones(len(clusters)), rng.normal(size=(len(clusters), 3))])
    mean = 1 / (1 + np.exp(-(x @ np.array([0.2, 0.5, -0.4, 0.1]))))
    y = (rng.uniform(size=len(mean)) < mean).astype(float)
    fit = sm.GLM(y, x, family=sm.families.Binomial()).fit()
    mu = fit.fittedvalues
    exog, resid = np.sqrt(mu * (1 - mu))[:, None] * x, (y - mu) / np.sqrt(mu * (1 - mu))
    inverse = np.linalg.inv(exog.T @ exog)
    expected = np.zeros((4, 4))
    for g in range(40):
        eg, rg = exog[clusters == g], resid[clusters == g]
        adjust = np.real(np.linalg.inv(sqrtm(np.eye(len(rg)) - eg @ inverse @ eg.T)))
        u = eg.T @ adjust @ rg
        expected += np.outer(u, u)
    assert adjusted_meat(exog, resid, clusters, 0.5) == pytest.approx(expected, rel=1e-8)
