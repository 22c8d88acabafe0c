"""Small-cluster corrections of cluster-robust inference that no maintained Python library offers.

statsmodels has CR1 (`cov_type="cluster"`) and, for GEE, the bias-reduced Mancl-DeRouen sandwich, but no
CR2 or CR3 for least squares; the linear mixed models (fitted as least squares on quasi-demeaned rows) need
one below `models.min_clusters` therapists. statsmodels' Mancl-DeRouen solves (I - H_g) a_g = r_g, which
is singular when one therapist's rows alone determine a coefficient (a discipline's only therapist: a
cluster leverage of 1); numpy then raised or returned noise depending on rounding (the number of BLAS
threads), so the logistic models take it from `bias_reduced_covariance`, which uses the Moore-Penrose
inverse there as clubSandwich does.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.linalg import solve_triangular


class JackknifeUndefined(Exception):
    """Leaving out one cluster leaves a reported coefficient unidentified: its jackknife has no value."""


def cr3_covariance(x: np.ndarray, y: np.ndarray, clusters: np.ndarray,
                   reported: Sequence[int] = ()) -> np.ndarray:
    """The jackknife (CR3) cluster-robust covariance of least squares.

    (G - 1) / G sum_g (b_-g - b)(b_-g - b)', b_-g the estimate without cluster g, each from the
    cross-products less the cluster's (exact, no refit). A coefficient that a cluster's removal leaves
    unidentified (a covariate category seen only in that cluster) takes the minimum-norm solution, which
    leaves the other coefficients' b_-g as they are; where the unidentified direction involves one of the
    `reported` coefficients (three therapists, a therapist-level slope and a discipline of one therapist:
    the minimum-norm b_-g then depended on the discipline's reference level, an SE of 5.26 or 4.63 for
    one model), JackknifeUndefined is raised.

    Parameters
    ----------
    x
        The n x p design (for a mixed model, its quasi-demeaned rows).
    y
        The response, n values.
    clusters
        The cluster of each row.
    reported
        The columns whose estimate the caller reports: each must be identified without every cluster.

    Returns
    -------
    numpy.ndarray
        The p x p covariance.

    References
    ----------
    MacKinnon JG, Nielsen MO, Webb MD (2023). Cluster-robust inference: a guide to empirical practice.
    J Econometrics 232, 272-299, eq. 21.
    Bell RM, McCaffrey DF (2002). Bias reduction in standard errors for linear regression with
    multi-stage samples. Survey Methodology 28, 169-181.
    Tested against its definition by explicit leave-one-cluster-out refits (tests/stats/test_clusters.py);
    no published data set with CR3 values was at hand.
    """
    xtx, xty = x.T @ x, x.T @ y
    full = np.linalg.solve(xtx, xty)
    groups = np.unique(clusters)
    deltas = np.empty((len(groups), x.shape[1]))
    reported = list(reported)
    for i, g in enumerate(groups):
        rows = clusters == g
        xg, yg = x[rows], y[rows]
        without = xtx - xg.T @ xg
        if reported:
            values, vectors = np.linalg.eigh(without)
            null = vectors[:, values <= NULL_EIGENVALUE * max(values[-1], 0.0)]
            if np.abs(null[reported]).max(initial=0.0) > NULL_LOADING:
                raise JackknifeUndefined(g)
        deltas[i] = np.linalg.lstsq(without, xty - xg.T @ yg, rcond=None)[0] - full
    return (len(groups) - 1) / len(groups) * deltas.T @ deltas


NULL_EIGENVALUE = 1e-10  # an eigenvalue of X_-g'X_-g this small relative to the largest is 0 (rank lost)
NULL_LOADING = 1e-6  # a null direction with a component this large on a coefficient leaves it unidentified


def bias_reduced_covariance(exog: np.ndarray, resid: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    """The bias-reduced cluster-robust covariance of a GEE (Mancl & DeRouen 2001), from whitened rows.

    With E_g = L_g^-1 D_g and e_g = L_g^-1 r_g (D_g the derivatives of the cluster's means by the
    coefficients, r_g its residuals, L_g the Cholesky factor of its working covariance V_g = L_g L_g'),
    B = sum_g E_g'E_g and S_g = E_g B^-1 E_g' (the cluster's symmetric hat block), the covariance is
    B^-1 [sum_g u_g u_g'] B^-1 with u_g = E_g' (I - S_g)^+ e_g, the residuals corrected by the inverse of
    (I - H_g) = L_g (I - S_g) L_g^-1, statsmodels' `cov_type="bias_reduced"` to rounding. Where one
    cluster's rows alone determine a direction of the coefficients (a leverage of 1), (I - S_g) is
    singular and the residuals have no component along it (the score is 0 there at the estimate); the
    Moore-Penrose inverse (eigenvalues below 1e-12 taken as 0, as clubSandwich's `matrix_power`; they
    lie in [0, 1]) leaves that component out instead of dividing 0 by 0, so that the covariance of the
    coefficients the other clusters inform is the limit of the regular case and does not depend on
    rounding. S_g has rank at most p, so (I - S_g)^+ is applied through the thin SVD of F_g = E_g C^-T
    (B = CC'): O(n_g p^2) per cluster, not O(n_g^3).

    Parameters
    ----------
    exog
        The n x p whitened derivatives E (for a logistic model with independence working correlation,
        sqrt(mu (1 - mu)) x).
    resid
        The n whitened residuals e ((y - mu) / sqrt(mu (1 - mu)) for that model).
    clusters
        The cluster of each row.

    Returns
    -------
    numpy.ndarray
        The p x p covariance.

    References
    ----------
    Mancl LA, DeRouen TA (2001). A covariance estimator for GEE with improved small-sample properties.
    Biometrics 57, 126-134.
    Pustejovsky JE, Tipton E (2018). Small-sample methods for cluster-robust variance estimation and
    hypothesis testing in fixed effects models. J Bus Econ Stat 36, 672-683 (clubSandwich).
    Tested against statsmodels' GEE `cov_type="bias_reduced"` with independence and exchangeable working
    correlation, and at a leverage of 1 against numpy's dense Moore-Penrose inverse and a dense
    least-squares solution in statsmodels' form (tests/stats/test_clusters.py, tests/models/test_levels.py).
    """
    bread = np.linalg.inv(exog.T @ exog)
    return bread @ adjusted_meat(exog, resid, clusters, 1.0) @ bread


def adjusted_meat(exog: np.ndarray, resid: np.ndarray, clusters: np.ndarray, power: float) -> np.ndarray:
    """sum_g u_g u_g' with u_g = E_g' [(I - S_g)^+]^power e_g (`adjusted_scores`): power 1 is Mancl and
    DeRouen's (2001) meat, power 1/2 the CR2 meat of Bell and McCaffrey (2002)."""
    scores = adjusted_scores(exog, resid, clusters, power)
    return scores.T @ scores


def adjusted_scores(exog: np.ndarray, resid: np.ndarray, clusters: np.ndarray, power: float) -> np.ndarray:
    """Each cluster's score u_g = E_g' [(I - S_g)^+]^power e_g (rows in the order of np.unique(clusters)),
    from the whitened rows, residuals and symmetric hat blocks of `bias_reduced_covariance`: power 1 gives
    Mancl and DeRouen's (2001) meat, power 1/2 the CR2 meat of Bell and McCaffrey (2002), which is
    unbiased for the scores' variance at the true parameters where the working model is right (each
    cluster's residuals are shrunk by fitting the coefficients; the adjustment undoes it). A singular
    direction (a leverage of 1) is left out, as there."""
    factor = np.linalg.cholesky(exog.T @ exog)  # S_g = F_g F_g' with F_g = E_g C^-T, B = C C'
    groups = np.unique(clusters)
    scores = np.zeros((len(groups), exog.shape[1]))
    for i, g in enumerate(groups):
        rows = clusters == g
        eg, rg = exog[rows], resid[rows]
        left, singular, _ = np.linalg.svd(solve_triangular(factor, eg.T, lower=True).T, full_matrices=False)
        gaps = 1 - singular**2  # the eigenvalues of (I - S_g) other than 1
        inverse = np.divide(1, np.clip(gaps, 0, None) ** power, out=np.zeros_like(gaps), where=gaps > 1e-12)
        projection = left.T @ rg
        scores[i] = eg.T @ (rg + left @ ((inverse - 1) * projection))  # E_g' [(I - S_g)^+]^power e_g
    return scores
