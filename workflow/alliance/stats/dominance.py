"""Dominance analysis: how much each of a few correlated predictors adds to a model's fit.

General dominance (Budescu 1993; Azen & Budescu 2003): for each predictor, the mean over subset sizes
k = 0 .. p - 1 of the mean increase in fit when it is added to a subset of size k of the other predictors.
The base terms (intercept, covariates) are in every model, so the weights add up to the fit of the full
model above the base model. Fit is R^2 for a linear model and McFadden's R^2 = 1 - LL / LL_0 (LL_0: the
intercept-only model; Azen & Traxel 2009) for a binomial one. Cases may carry frequency weights, which
is how a cluster bootstrap draw enters (a case drawn twice counts twice).

No maintained Python library computes it (R has `domir` and `dominanceanalysis`); it needs 2^p fits per
data set and, under a bootstrap, per draw. The linear fits are least squares (numpy), the binomial ones
Newton-Raphson on the log-likelihood: the bootstrap of the analysis plan (H5) makes 8 fits per draw and
200 draws per outcome, where statsmodels' GLM costs about 6 ms a fit. Tested against the published
general dominance weights of R's `attitude` data (dominanceanalysis 2.0 README: complaints .371 ...) and
against statsmodels' GLM and WLS with weights and binomial trials (tests/stats/test_dominance.py).

References
----------
Azen, R., & Budescu, D. V. (2003). The dominance analysis approach for comparing predictors in multiple
regression. *Psychological Methods, 8*(2), 129-148.
Azen, R., & Traxel, N. (2009). Using dominance analysis to determine predictor importance in logistic
regression. *Journal of Educational and Behavioral Statistics, 34*(3), 319-347.
Budescu, D. V. (1993). Dominance analysis: A new approach to the problem of relative importance of
predictors in multiple regression. *Psychological Bulletin, 114*(3), 542-551.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping

import numpy as np
from scipy.special import expit, gammaln

from alliance.i18n import Message

LOGLIK_TOL = 1e-10  # relative change of the log-likelihood (R's glm: of the deviance, 1e-8)
NEWTON_MAX_ITER = 200


class FitFailed(ValueError):
    """A fit whose design cannot be used (a dimension constant or collinear in the sample) or a binomial
    fit whose log-likelihood did not settle; why, as a `Message` (`message`, for a model's reason)."""

    def __init__(self, message: Message) -> None:
        super().__init__(str(message))
        self.message = message


def subsets(p: int) -> list[tuple[int, ...]]:
    """Every subset of predictors 0 .. p - 1, the empty one first, by size, then in order."""
    return [s for k in range(p + 1) for s in itertools.combinations(range(p), k)]


def general_dominance(fits: dict[tuple[int, ...], float], p: int) -> np.ndarray:
    """General dominance weights of p predictors from the fit of every subset (`subsets`; the empty
    subset is the base model). They add up to fits[all] - fits[()]."""
    weights = np.zeros(p)
    for j in range(p):
        others = [i for i in range(p) if i != j]
        by_size = [np.mean([fits[tuple(sorted((*s, j)))] - fits[s]
                            for s in itertools.combinations(others, k)]) for k in range(p)]
        weights[j] = np.mean(by_size)
    return weights


def linear_r2(y: np.ndarray, x: np.ndarray, weights: np.ndarray) -> float:
    """R^2 of the weighted least-squares fit of `y` on `x` (whose columns include the intercept), around
    the weighted mean of `y`."""
    root = np.sqrt(weights)
    coef = np.linalg.lstsq(x * root[:, None], y * root, rcond=None)[0]
    residual = y - x @ coef
    centred = y - np.average(y, weights=weights)
    return float(1 - (weights @ residual**2) / (weights @ centred**2))


def binomial_loglik(x: np.ndarray, successes: np.ndarray, trials: np.ndarray, weights: np.ndarray,
                    start: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """Maximum log-likelihood and coefficients of the logistic regression of `successes` out of `trials`
    on `x` (full column rank on the rows with weight > 0), with frequency `weights`.

    The log-likelihood includes log C(trials, successes), as statsmodels' GLM and R's `logLik` do.
    Newton-Raphson from `start` (zeros by default) with step halving, until the log-likelihood changes by
    less than `LOGLIK_TOL` of itself (as R's glm tests the deviance). Under complete or quasi-complete
    separation (a bootstrap draw in which no patient of a discipline dropped out) the coefficients have no
    finite maximum but the log-likelihood converges to its supremum, which is the fit dominance analysis
    needs; the coefficients returned are then large, not estimates. Raises `FitFailed` when it does not
    settle in `NEWTON_MAX_ITER` steps."""
    beta = np.zeros(x.shape[1]) if start is None else np.asarray(start, dtype=float).copy()
    constant = float(weights @ (gammaln(trials + 1) - gammaln(successes + 1)
                                - gammaln(trials - successes + 1)))

    def loglik(b: np.ndarray) -> float:
        eta = x @ b
        return float(weights @ (successes * eta - trials * np.logaddexp(0, eta)))

    current = loglik(beta)
    for _ in range(NEWTON_MAX_ITER):
        mu = expit(x @ beta)
        gradient = x.T @ (weights * (successes - trials * mu))
        hessian = (x * (weights * trials * mu * (1 - mu))[:, None]).T @ x
        try:
            step = np.linalg.solve(hessian, gradient)
        except np.linalg.LinAlgError:  # singular to working precision under separation
            step = np.linalg.lstsq(hessian, gradient, rcond=None)[0]
        for _ in range(30):  # halve the step until the log-likelihood does not fall
            candidate = loglik(beta + step)
            if candidate >= current:
                break
            step /= 2
        else:
            return current + constant, beta  # no step improves it: at the maximum (to rounding)
        beta, previous, current = beta + step, current, candidate
        if abs(current - previous) <= LOGLIK_TOL * (abs(current) + 0.1):
            return current + constant, beta
    raise FitFailed(Message("the log-likelihood did not settle in {steps} Newton steps",
                            steps=NEWTON_MAX_ITER))


Criterion = Callable[[np.ndarray, tuple[int, ...]], float]  # fit index of (design matrix, subset)


def dominance_fits(base: np.ndarray, predictors: np.ndarray, weights: np.ndarray,
                   criterion: Criterion) -> dict[tuple[int, ...], float]:
    """`criterion` (a fit index of a design matrix) of the base columns plus each subset of the columns of
    `predictors`."""
    return {s: criterion(np.column_stack([base, predictors[:, list(s)]]), s)
            for s in subsets(predictors.shape[1])}


def linear_criterion(y: np.ndarray, weights: np.ndarray) -> Criterion:
    """R^2 of a design matrix for `y` (`linear_r2`)."""
    return lambda x, subset: linear_r2(y, x, weights)


class McFadden:
    """McFadden's R^2 = 1 - LL / LL_0 of a design matrix for `successes` out of `trials`, LL_0 from the
    intercept-only model (`binomial_loglik`). Each subset's fit starts from `starts[subset]` when given
    with the same number of columns (a bootstrap draw starts from the full sample's solution, which
    Newton's method then needs a step or two to leave); the solutions are kept in `solutions`."""

    def __init__(self, successes: np.ndarray, trials: np.ndarray, weights: np.ndarray,
                 starts: Mapping[tuple[int, ...] | None, np.ndarray] | None = None) -> None:
        self.data = (successes, trials, weights)
        self.starts = starts or {}
        self.solutions: dict[tuple[int, ...] | None, np.ndarray] = {}  # None: the intercept-only model
        self.null, self.solutions[None] = binomial_loglik(np.ones((len(trials), 1)), *self.data,
                                                          start=self.starts.get(None))

    def __call__(self, x: np.ndarray, subset: tuple[int, ...]) -> float:
        start = self.starts.get(subset)
        loglik, self.solutions[subset] = binomial_loglik(
            x, *self.data, start=start if start is not None and len(start) == x.shape[1] else None)
        return 1 - loglik / self.null
