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
200 draws per outcome, where statsmodels' GLM costs about 6 ms a fit. A bootstrap's draws are fitted all
at once (`draw_weights`): the linear fits from each cluster's cross-products, the binomial ones by the
same Newton-Raphson steps over a matrix of draws; a draw the batch cannot take with margin (a column
constant or nearly collinear in it, a singular or unsettled fit) is left to the one-draw functions.
Tested against the published general dominance weights of R's `attitude` data (dominanceanalysis 2.0
README: complaints .371 ...), against statsmodels' GLM and WLS with weights and binomial trials, and the
batch against the one-draw functions (tests/stats/test_dominance.py).

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

import contextlib
import itertools
from collections.abc import Callable, Mapping

import numpy as np
from scipy.special import expit, gammaln

from alliance.i18n import Message

LOGLIK_TOL = 1e-10  # relative change of the log-likelihood (R's glm: of the deviance, 1e-8)
NEWTON_MAX_ITER = 200
HALVINGS = 30  # evaluations of a Newton step, halved after each that lowers the log-likelihood
BATCH_MARGIN = 1e-8  # smallest eigenvalue of a draw's scaled cross-products for the batch (rank: 1e-10)
BATCH_CELLS = 300_000  # draws x rows up to which the binomial fits are batched (above, one draw at a time
# is as fast: 3.2 s against 3.5 s for 200 draws of 9,800 rows, 0.82 s against 0.70 s at 1,400 rows)


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
    subset the base model). They add up to fits[all] - fits[()]. The fits may be arrays of draws (the
    weights are then p x draws)."""
    weights = []
    for j in range(p):
        others = [i for i in range(p) if i != j]
        by_size = [np.mean([np.subtract(fits[tuple(sorted((*s, j)))], fits[s])
                            for s in itertools.combinations(others, k)], axis=0) for k in range(p)]
        weights.append(np.mean(by_size, axis=0))
    return np.array(weights)


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
        for _ in range(HALVINGS):  # halve the step until the log-likelihood does not fall
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


def _start(starts: Mapping[tuple[int, ...] | None, np.ndarray], subset: tuple[int, ...] | None,
           columns: int) -> np.ndarray | None:
    """`starts[subset]` where it fits a design of `columns` columns."""
    start = starts.get(subset)
    return start if start is not None and len(start) == columns else None


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
        loglik, self.solutions[subset] = binomial_loglik(x, *self.data, start=_start(self.starts, subset,
                                                                                    x.shape[1]))
        return 1 - loglik / self.null


def _cross_products(columns: np.ndarray, codes: np.ndarray, groups: int) -> np.ndarray:
    """Each cluster's cross-products of `columns` (rows x q): groups x q x q (one pair of columns at a
    time: no rows x q^2 array at 100,000 patients)."""
    q = columns.shape[1]
    sums = np.empty((groups, q, q))
    for i in range(q):
        for j in range(i, q):
            sums[:, i, j] = sums[:, j, i] = np.bincount(codes, weights=columns[:, i] * columns[:, j],
                                                        minlength=groups)
    return sums


def full_rank_draws(grams: np.ndarray, margin: float = BATCH_MARGIN) -> np.ndarray:
    """Whether each cross-product matrix of a stack (draws x q x q) has every column nonzero and, scaled
    to a unit diagonal, its smallest eigenvalue above `margin`: then no column's squared residual on the
    others falls below `margin` times its squared norm, and `independent_columns` (1e-10) keeps them all."""
    diagonal = np.diagonal(grams, axis1=1, axis2=2)
    ok = (diagonal > 0).all(axis=1)
    scale = 1 / np.sqrt(np.where(diagonal > 0, diagonal, 1.0))
    smallest = np.linalg.eigvalsh(grams * scale[:, :, None] * scale[:, None, :])[:, 0]
    return ok & (smallest > margin)


def _moments(base: np.ndarray, predictors: np.ndarray, y: np.ndarray, counts: np.ndarray,
             codes: np.ndarray) -> np.ndarray:
    """Each draw's weighted cross-products of [base, predictors, 1, y - mean(y)] (draws x (q + 2) x
    (q + 2)): the clusters' cross-products summed by the draw's `counts` (draws x clusters), `codes`
    each row's cluster. `y` is centred, which leaves every R^2 as it is and keeps the sums of squares from
    cancelling (an outcome with a mean of 1,000 lost 6 digits)."""
    columns = np.column_stack([base, predictors, np.ones(len(y)), y - y.mean()])
    return np.tensordot(counts.astype(float), _cross_products(columns, codes, counts.shape[1]), axes=1)


def _r2_from_moments(moments: np.ndarray, n_base: int, p: int) -> dict[tuple[int, ...], np.ndarray]:
    """R^2 of the base columns plus each subset of the p predictors from `_moments` (draws of full rank)."""
    q = n_base + p
    total, mean_sum, yy = moments[:, q, q], moments[:, q, q + 1], moments[:, q + 1, q + 1]
    centred = yy - mean_sum**2 / total
    fits = {}
    for subset in subsets(p):
        cols = [*range(n_base), *(n_base + j for j in subset)]
        a, c = moments[:, cols][:, :, cols], moments[:, cols, q + 1]
        explained = np.einsum("bi,bi->b", c, np.linalg.solve(a, c[:, :, None])[:, :, 0])
        fits[subset] = 1 - (yy - explained) / centred
    return fits


def linear_r2_draws(base: np.ndarray, predictors: np.ndarray, y: np.ndarray, counts: np.ndarray,
                    codes: np.ndarray) -> dict[tuple[int, ...], np.ndarray]:
    """`linear_r2` of the base columns (the intercept among them, as for `linear_r2`) plus each subset of
    `predictors` for every draw at once, a draw's frequency weights being its row of `counts` (draws x
    clusters) at each row's cluster (`codes`), from the draws' weighted cross-products (`_moments`).
    Draws whose design is not of full rank (`full_rank_draws`) must be left out by the caller (their
    values are meaningless)."""
    return _r2_from_moments(_moments(base, predictors, y, counts, codes), base.shape[1], predictors.shape[1])


def binomial_loglik_draws(x: np.ndarray, successes: np.ndarray, trials: np.ndarray, weights: np.ndarray,
                          start: np.ndarray | None = None) -> np.ndarray:
    """`binomial_loglik` (its log-likelihood) for each row of `weights` (draws x rows) at once, by the same
    Newton-Raphson steps, step halving and stopping rule from the same `start`; NaN for a draw whose
    Hessian is singular or whose fit does not settle in `NEWTON_MAX_ITER` steps (for `binomial_loglik`
    to decide). `x` must be of full column rank on every draw's rows."""
    draws, p = len(weights), x.shape[1]
    beta = np.tile(np.zeros(p) if start is None else np.asarray(start, dtype=float), (draws, 1))
    outer = (x[:, :, None] * x[:, None, :]).reshape(len(x), -1)
    constant = weights @ (gammaln(trials + 1) - gammaln(successes + 1) - gammaln(trials - successes + 1))

    def loglik(b: np.ndarray, w: np.ndarray) -> np.ndarray:
        eta = b @ x.T
        return np.einsum("bi,bi->b", w, successes * eta - trials * np.logaddexp(0, eta))

    current = loglik(beta, weights)
    result = np.full(draws, np.nan)
    active = np.arange(draws)
    for _ in range(NEWTON_MAX_ITER):
        b, w = beta[active], weights[active]
        mu = expit(b @ x.T)
        gradient = (w * (successes - trials * mu)) @ x
        hessian = ((w * trials * mu * (1 - mu)) @ outer).reshape(-1, p, p)
        try:
            step = np.linalg.solve(hessian, gradient[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:  # some draw's Hessian is singular: left to binomial_loglik
            step = np.full_like(gradient, np.nan)
            for i, (h, g) in enumerate(zip(hessian, gradient, strict=True)):
                with contextlib.suppress(np.linalg.LinAlgError):
                    step[i] = np.linalg.solve(h, g)
            solved = np.isfinite(step).all(axis=1)
            active, b, w, step = active[solved], b[solved], w[solved], step[solved]
        candidate = loglik(b + step, w)
        lower = candidate < current[active]
        for _ in range(HALVINGS - 1):
            if not lower.any():
                break
            step[lower] /= 2
            candidate[lower] = loglik(b[lower] + step[lower], w[lower])
            lower &= candidate < current[active]
        previous = current[active]
        moved = ~lower  # where no step improves it, at the maximum (to rounding), as binomial_loglik
        beta[active[moved]] = b[moved] + step[moved]
        current[active[moved]] = candidate[moved]
        small = np.abs(candidate - previous) <= LOGLIK_TOL * (np.abs(candidate) + 0.1)
        settled = lower | (moved & small)
        result[active[settled]] = current[active[settled]] + constant[active[settled]]
        active = active[~settled]
        if not len(active):
            break
    return result


def draw_weights(kind: str, response: tuple[np.ndarray, np.ndarray], base: np.ndarray, predictors: np.ndarray,
                 counts: np.ndarray, codes: np.ndarray, starts: Mapping[tuple[int, ...] | None, np.ndarray]
                 | None = None) -> tuple[np.ndarray, np.ndarray]:
    """General dominance weights of `predictors` above `base` for every draw of a cluster bootstrap at once:
    a draw's frequency weights are its row of `counts` (draws x clusters) at each row's cluster (`codes`).
    `kind` "linear" (R^2 of `response[0]`) or "binomial" (McFadden's R^2 of `response[0]` successes out of
    `response[1]` trials, each fit started from `starts[subset]`, the intercept-only one from
    `starts[None]`).

    Returns the weights (draws x p) and which draws they hold: a draw whose design is not of full rank
    with margin (`full_rank_draws`) or one of whose binomial fits the batch could not settle is not held
    (NaN), for the one-draw functions to fit or refuse; nor is any binomial draw above `BATCH_CELLS`."""
    starts = starts or {}
    y, trials = response
    weights = np.full((len(counts), predictors.shape[1]), np.nan)
    if kind != "linear" and len(counts) * len(y) > BATCH_CELLS:
        return weights, np.zeros(len(counts), dtype=bool)
    q = base.shape[1] + predictors.shape[1]
    moments = _moments(base, predictors, y, counts, codes)
    index = np.flatnonzero(full_rank_draws(moments[:, :q, :q]))
    if kind == "linear":
        fits = _r2_from_moments(moments[index], base.shape[1], predictors.shape[1])
    else:
        rows = counts[index][:, codes].astype(float)
        null = binomial_loglik_draws(np.ones((len(y), 1)), y, trials, rows, _start(starts, None, 1))
        fits = {}
        for subset in subsets(predictors.shape[1]):
            x = np.column_stack([base, predictors[:, list(subset)]])
            loglik = binomial_loglik_draws(x, y, trials, rows, _start(starts, subset, x.shape[1]))
            fits[subset] = 1 - loglik / null
    settled = np.all([np.isfinite(value) for value in fits.values()], axis=0)
    index = index[settled]
    weights[index] = general_dominance({subset: value[settled] for subset, value in fits.items()},
                                       predictors.shape[1]).T
    held = np.zeros(len(counts), dtype=bool)
    held[index] = True
    return weights, held
