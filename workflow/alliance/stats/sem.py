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
Tests of several parameters (H5d's equal paths) are robust score tests at the restricted estimate (Boos
1992) with their p-value from a restricted wild score bootstrap over the clusters (Kline & Santos 2012),
which reuses the same per-cluster scores: no Python
library bootstraps a structural equation model with clustered data (docs/engineering-notes.md).

References
----------
Liang, K.-Y., & Zeger, S. L. (1986). Longitudinal data analysis using generalized linear models.
Biometrika, 73(1), 13-22.
Cameron, A. C., & Miller, D. L. (2015). A practitioner's guide to cluster-robust inference. Journal of
Human Resources, 50(2), 317-372.
Petersen, M. A. (2009). Estimating standard errors in finance panel data sets: Comparing approaches.
Review of Financial Studies, 22(1), 435-480.
Kline, P., & Santos, A. (2012). A score based approach to wild bootstrap inference. Journal of
Econometric Methods, 1(1), 23-41.
Boos, D. D. (1992). On generalized score tests. The American Statistician, 46(4), 327-333.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # only in annotations: semopy takes a second to import (sympy, scikit-learn)
    import semopy

WEBB_MAX_CLUSTERS = 13  # with fewer clusters Rademacher weights have too few distinct draws (2^G)
WEBB = np.array([-np.sqrt(1.5), -1.0, -np.sqrt(0.5), np.sqrt(0.5), 1.0, np.sqrt(1.5)])
CHUNK_ELEMENTS = 2_000_000  # bootstrap weights held at once (16 MB)
GRADIENT_TOLERANCE = 1e-6  # largest |gradient| of semopy's ML objective at an optimum (floor: 1e-8 to 5e-8)


def comparative_fit_index(chi2: float, dof: float, base_chi2: float, base_dof: float) -> float:
    """Bentler's (1990) CFI, bounded to [0, 1] as lavaan computes it: 1 - max(chi2 - df, 0) / max(chi2 -
    df, chi2_base - df_base, 0), and 1 where both are 0. semopy's `calc_stats` leaves out the bounds
    (1.002 for a model that fits better than its degrees of freedom expect).

    References
    ----------
    Bentler, P. M. (1990). Comparative fit indexes in structural models. Psychological Bulletin, 107(2),
    238-246.
    """
    excess = max(chi2 - dof, 0.0)
    base_excess = max(excess, base_chi2 - base_dof)
    return float(1 - excess / base_excess) if base_excess > 0 else 1.0


def active_parameters(model: semopy.Model) -> list[str]:
    """The names of the model's free parameters, in the order of `model.param_vals` and its covariance."""
    return [name for name, parameter in model.parameters.items() if parameter.active]


def fisher_scoring(model: semopy.Model, *, max_iter: int = 100, tolerance: float = GRADIENT_TOLERANCE
                   ) -> bool:
    """Take a semopy maximum-likelihood (objective "MLW") fit to its optimum by Fisher scoring.

    semopy's optimisers can report success far from the optimum: on H5d's model SLSQP stopped at an
    objective of 3.52 and L-BFGS-B at 6.06 where the optimum is 0.205, depending on the BLAS thread count
    (docs/engineering-notes.md). From the fitted point, each step solves the expected information (semopy's
    `calc_fim`, which is n / 2 times the objective's expected Hessian) against the objective's gradient,
    halved until the objective does not increase. The model is left at the last point, and its
    `last_result` (from which `semopy.calc_stats` takes the chi-square, hence CFI and RMSEA) says so. At a
    point whose implied covariance is not positive definite (objective infinite) no step is taken.

    Returns
    -------
    bool
        Whether the largest absolute element of the objective's gradient fell below `tolerance`.
    """
    x = np.array(model.param_vals, dtype=float)
    value = model.obj_mlw(x)
    if not np.isfinite(value):  # an implied covariance that is not positive definite: no step to take
        return False
    for _ in range(max_iter):
        gradient = model.grad_mlw(x)
        if np.max(np.abs(gradient)) < tolerance:
            break
        model.update_matrices(x)
        step = -np.linalg.lstsq(model.calc_fim() * 2 / model.n_samples, gradient, rcond=None)[0]
        size = 1.0
        while size > 1e-8:
            candidate = model.obj_mlw(x + size * step)
            if np.isfinite(candidate) and candidate <= value:
                break
            size /= 2
        else:
            break
        x, value = x + size * step, candidate
    model.param_vals = x
    model.update_matrices(x)
    converged = bool(np.max(np.abs(model.grad_mlw(x))) < tolerance)
    model.last_result.fun, model.last_result.x, model.last_result.success = value, x, converged
    return converged


def cluster_scores(model: semopy.Model, clusters: np.ndarray, params: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Per-cluster sums of a fitted semopy model's per-observation score contributions (`grad_se_g`) at
    `params` (default: its estimate), and semopy's inverse Fisher information at the same point; one row
    per cluster, in sorted label order. The model's matrices are left at its estimate."""
    point = model.param_vals if params is None else np.asarray(params, dtype=float)
    gradients = np.asarray(model.grad_se_g(point), dtype=float)  # sets the model's matrices to `point`
    _, information_inverse = model.calc_fim(inverse=True)
    model.update_matrices(model.param_vals)
    codes, labels = pd.factorize(pd.Series(clusters), sort=True)
    if len(codes) != len(gradients):
        raise ValueError(f"{len(codes)} cluster labels for {len(gradients)} fitted rows")
    scores = np.zeros((len(labels), gradients.shape[1]))
    np.add.at(scores, codes, gradients)
    return scores, information_inverse


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
    scores, information_inverse = cluster_scores(model, clusters)
    covariance = information_inverse @ (scores.T @ scores) @ information_inverse
    groups = len(scores)
    return covariance * groups / (groups - 1) if correction else covariance


def bootstrap_weights(groups: int, draws: int, rng: np.random.Generator) -> np.ndarray:
    """`draws` x `groups` wild bootstrap weights: Rademacher (+-1) with more than `WEBB_MAX_CLUSTERS`
    clusters, otherwise Webb's six-point weights (+-sqrt(1/2), +-1, +-sqrt(3/2)), which have far more
    distinct draws than the 2^G of Rademacher's.

    References
    ----------
    Webb, M. D. (2023). Reworking wild bootstrap-based inference for clustered errors. Canadian Journal of
    Economics, 56(3), 839-858.
    """
    if groups > WEBB_MAX_CLUSTERS:
        return rng.choice(np.array([-1.0, 1.0]), size=(draws, groups))
    return rng.choice(WEBB, size=(draws, groups))


def wild_score_statistics(scores: np.ndarray, information_inverse: np.ndarray, restriction: np.ndarray,
                          weights: np.ndarray, *, sizes: np.ndarray, correction: bool = True) -> np.ndarray:
    """The bootstrap Wald statistics W* of the restricted wild score bootstrap, one per row of `weights`.

    The score bootstrap of Kline & Santos (2012) with the null imposed (WCR in Roodman et al. 2019): at
    the restricted estimate, each draw perturbs the per-cluster scores s_g by a weight w_g and takes one
    Newton step, d* = R A^-1 sum_g w_g s_g; its variance is the sandwich of the recentred scores
    w_g s_g - (n_g / n) sum_h w_h s_h (each cluster's score at the bootstrap estimate, to first order,
    with cluster g's share n_g / n of the information A), with the statistic's small-sample factor, and
    W* = d*' (R V* R')^-1 d*. The p-value is the share of draws with W* at least the observed statistic,
    the same formula with every weight 1 (`robust_score_statistic`). Each draw
    is studentised, which refines the sandwich's F reference, liberal with few clusters (Cameron, Gelbach &
    Miller 2008). For least squares with the same regressors in every cluster it is the wild cluster
    restricted bootstrap exactly (tests/stats).

    Parameters
    ----------
    scores
        G x K per-cluster score sums of the unrestricted model at the restricted estimate
        (`cluster_scores(model, clusters, restricted)`).
    information_inverse
        K x K inverse information at the restricted estimate (the same call's second value).
    restriction
        q x K matrix R of the null, R theta = 0 (here: equal paths).
    weights
        B x G wild bootstrap weights (`bootstrap_weights`).
    sizes
        Each cluster's number of observations, in the order of `scores`.
    correction
        Multiply each draw's sandwich by G / (G - 1), as `cluster_robust_covariance` does.

    Returns
    -------
    numpy.ndarray
        The B statistics W*.

    References
    ----------
    Kline, P., & Santos, A. (2012). A score based approach to wild bootstrap inference. Journal of
    Econometric Methods, 1(1), 23-41.
    Roodman, D., Nielsen, M. O., MacKinnon, J. G., & Webb, M. D. (2019). Fast and wild: Bootstrap inference
    in Stata using boottest. The Stata Journal, 19(1), 4-60.
    Cameron, A. C., Gelbach, J. B., & Miller, D. L. (2008). Bootstrap-based improvements for inference with
    clustered errors. Review of Economics and Statistics, 90(3), 414-427.
    """
    groups, q = scores.shape[0], restriction.shape[0]
    share = np.asarray(sizes, dtype=float) / np.sum(sizes)
    steps = scores @ information_inverse @ restriction.T  # G x q: R A^-1 s_g
    moved = weights @ steps  # B x q: d*
    pulled = weights @ (share[:, None] * steps)  # B x q: sum_g (n_g / n) w_g R A^-1 s_g
    outer = (steps[:, :, None] * steps[:, None, :]).reshape(groups, q * q)
    meat = ((weights ** 2) @ outer).reshape(len(weights), q, q)
    meat -= moved[:, :, None] * pulled[:, None, :] + pulled[:, :, None] * moved[:, None, :]
    meat += np.sum(share ** 2) * moved[:, :, None] * moved[:, None, :]
    if correction:
        meat *= groups / (groups - 1)
    return np.einsum("bi,bi->b", moved, np.linalg.solve(meat, moved[:, :, None])[:, :, 0])


def robust_score_statistic(scores: np.ndarray, information_inverse: np.ndarray, restriction: np.ndarray,
                           *, sizes: np.ndarray) -> float:
    """The cluster-robust score (Lagrange multiplier) statistic of R theta = 0 at the restricted estimate:
    `wild_score_statistics` with every weight 1, d = R A^-1 S (S the score sum) over the sandwich of the
    recentred cluster scores s_g - (n_g / n) S, with G / (G - 1). It is the statistic whose distribution
    the restricted wild score bootstrap's draws reproduce, so the two are compared like with like (the
    Wald statistic at the unrestricted estimate, referred to the same draws, declared 6.2% of 2,000 null
    cohorts against 5.2%; docs/engineering-notes.md, H5d). For least squares with the same regressors in
    every cluster it equals the cluster-robust Wald statistic exactly.

    References
    ----------
    Boos, D. D. (1992). On generalized score tests. The American Statistician, 46(4), 327-333.
    Kline, P., & Santos, A. (2012). A score based approach to wild bootstrap inference. Journal of
    Econometric Methods, 1(1), 23-41.
    """
    return float(wild_score_statistics(scores, information_inverse, restriction, np.ones((1, len(scores))),
                                       sizes=sizes)[0])


def wild_score_p_value(scores: np.ndarray, information_inverse: np.ndarray, restriction: np.ndarray,
                       statistic: float, *, sizes: np.ndarray, draws: int, rng: np.random.Generator,
                       chunk_elements: int = CHUNK_ELEMENTS) -> float:
    """The restricted wild score bootstrap p-value of `statistic`: the share of `draws` bootstrap
    statistics (`wild_score_statistics`, weights from `bootstrap_weights`) at least as large, the draws
    taken in chunks of at most `chunk_elements` weights so that memory stays bounded with thousands of
    clusters (9,999 draws x 8,000 therapists would be 640 MB a matrix)."""
    groups = len(scores)
    size = max(1, chunk_elements // groups)
    exceeding = 0
    for start in range(0, draws, size):
        weights = bootstrap_weights(groups, min(size, draws - start), rng)
        exceeding += int(np.sum(wild_score_statistics(scores, information_inverse, restriction, weights,
                                                      sizes=sizes) >= statistic))
    return exceeding / draws

