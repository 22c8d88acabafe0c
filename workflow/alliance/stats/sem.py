"""Cluster-robust inference for semopy's structural equation models.

semopy's robust standard errors (`semopy.stats.calc_se(robust=True)`) are the Huber-White sandwich for
independent observations; no maintained Python SEM library offers the cluster version (lavaan's
`cluster=` option in R). Patients share therapists, so this module sums semopy's own per-patient gradient
contributions (`Model.grad_se_g`) within therapists before forming the sandwich with semopy's inverse
Fisher information: the estimator of Liang & Zeger (1986) applied to the ML fit, with the usual G / (G - 1)
small-sample factor and G - 1 reference degrees of freedom (Cameron & Miller 2015, sections VI.B-C).
It reproduces Petersen's (2009) published firm-clustered standard error of a regression (0.0505957, up to
Stata's (N - 1) / (N - K) factor); with one patient per cluster and without the factor it equals semopy's
robust covariance, and for a regression it equals statsmodels' cluster-robust OLS covariance (tests/stats).

References
----------
Liang, K.-Y., & Zeger, S. L. (1986). Longitudinal data analysis using generalized linear models.
Biometrika, 73(1), 13-22.
Cameron, A. C., & Miller, D. L. (2015). A practitioner's guide to cluster-robust inference. Journal of
Human Resources, 50(2), 317-372.
Petersen, M. A. (2009). Estimating standard errors in finance panel data sets: Comparing approaches.
Review of Financial Studies, 22(1), 435-480.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # only in annotations: semopy takes a second to import (sympy, scikit-learn)
    import semopy


def active_parameters(model: semopy.Model) -> list[str]:
    """The names of the model's free parameters, in the order of `model.param_vals` and its covariance."""
    return [name for name, parameter in model.parameters.items() if parameter.active]


def cluster_robust_covariance(model: semopy.Model, clusters: np.ndarray, *, correction: bool = True
                              ) -> np.ndarray:
    """Cluster-robust (sandwich) covariance of a fitted semopy model's free parameters.

    A^-1 (sum_g s_g s_g') A^-1 * G / (G - 1), with A^-1 semopy's inverse expected Fisher information
    and s_g the sum of the per-observation gradients (`grad_se_g`) of the observations in cluster g.

    Parameters
    ----------
    model
        A `semopy.Model` fitted by maximum likelihood (objective "MLW") to the rows `clusters` labels.
    clusters
        The cluster of each row of the fitted data (e.g. its therapist), in the data's order.
    correction
        Multiply by G / (G - 1) (Stata's and statsmodels' CR1 factor for a model without a residual
        degrees-of-freedom term).

    Returns
    -------
    numpy.ndarray
        The covariance matrix, in the order of `active_parameters(model)`.

    References
    ----------
    Liang & Zeger (1986); Cameron & Miller (2015), section VI.
    """
    _, information_inverse = model.calc_fim(inverse=True)
    gradients = np.asarray(model.grad_se_g(model.param_vals), dtype=float)
    codes, labels = pd.factorize(pd.Series(clusters), sort=True)
    if len(codes) != len(gradients):
        raise ValueError(f"{len(codes)} cluster labels for {len(gradients)} fitted rows")
    scores = np.zeros((len(labels), gradients.shape[1]))
    np.add.at(scores, codes, gradients)
    covariance = information_inverse @ (scores.T @ scores) @ information_inverse
    groups = len(labels)
    return covariance * groups / (groups - 1) if correction else covariance
