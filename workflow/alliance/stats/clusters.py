"""Small-cluster corrections of cluster-robust inference that no maintained Python library offers.

statsmodels has CR1 (`cov_type="cluster"`) and, for GEE, the bias-reduced Mancl-DeRouen sandwich (used
as it is for the logistic models), but no CR2 or CR3 for least squares; the linear mixed models (fitted
as least squares on quasi-demeaned rows) need one below `models.min_clusters` therapists.
"""

from __future__ import annotations

import numpy as np


def cr3_covariance(x: np.ndarray, y: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    """The jackknife (CR3) cluster-robust covariance of least squares.

    (G - 1) / G sum_g (b_-g - b)(b_-g - b)', b_-g the estimate without cluster g, each from the
    cross-products less the cluster's (exact, no refit). A coefficient that a cluster's removal leaves
    unidentified takes the minimum-norm solution.

    Parameters
    ----------
    x
        The n x p design (for a mixed model, its quasi-demeaned rows).
    y
        The response, n values.
    clusters
        The cluster of each row.

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
    for i, g in enumerate(groups):
        rows = clusters == g
        xg, yg = x[rows], y[rows]
        deltas[i] = np.linalg.lstsq(xtx - xg.T @ xg, xty - xg.T @ yg, rcond=None)[0] - full
    return (len(groups) - 1) / len(groups) * deltas.T @ deltas
