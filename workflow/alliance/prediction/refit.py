"""The therapist bootstrap that refits the models: every draw's out-of-fold risks, for the AUC's CI.

A bootstrap of fixed out-of-fold predictions sees the sampling error of the validation but not the
variation of fitting the models, and under no alliance effect on dropout its AUC interval covered .5 in
85-87% of null cohorts (issue 18's target 90%): the AUC's SD over cohorts was .058, the bootstrap's SE
.042. Resampling the whole modelling process (Harrell 2015, section 5.3; Steyerberg 2019) gives each
draw its own fitted models. Here a draw is a weight per row (how often its therapist was drawn,
`alliance.prediction.measures.therapist_draws`); the folds stay those of the estimate, so that a
therapist drawn twice is in one fold, never in both the training and the held-out part.

In each draw and fold the penalised logistic regression is refitted to the training rows with the
draw's weights as frequency weights, by Newton-Raphson vectorised over the draws
(`penalised_logistic`): scikit-learn's `LogisticRegression(sample_weight=...)` gives the same
coefficients (tested to 1e-7) but costs a fit per draw and fold, 1,000 fits per model and decision point
at the default 200 draws, too slow at 10,000 patients. The fold's imputation medians and standardisation
are kept from the fold's own fit (they move the penalty's scale only), and so is its penalty C (with
`penalty: cv` the C chosen in the fold is not re-chosen in each draw).

Only the AUC's draws come from the refits (`alliance.prediction.early_warning.refit_aucs`); why the
other measures keep the fixed predictions is in `alliance.prediction.measures`.

References
----------
Harrell, F. E. (2015). Regression modeling strategies (2nd ed.). Springer.
Steyerberg, E. W. (2019). Clinical prediction models (2nd ed.). Springer.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

MAX_ITERATIONS = 50
# Converged when no coefficient moved more than this in the last Newton step: convergence is quadratic,
# so the coefficients are then within about its square of the optimum (1e-8; the steps of a 10,000-patient
# bootstrap refit were 0.1, 0.009, 5e-5, then 2e-9: 1e-5 took that fourth, a quarter of the refits' time).
TOLERANCE = 1e-4
LARGE_STEP = 1.0  # a step this large in a coefficient is checked against the objective


def penalised_logistic(x: np.ndarray, y: np.ndarray, weights: np.ndarray, start: np.ndarray,
                       c: float | np.ndarray) -> np.ndarray:
    """The L2-penalised logistic regression of `y` on `x` under each row of frequency weights `weights`
    (draws x rows), by Newton-Raphson from `start` (intercept, then the coefficients).

    Maximises C sum_i w_i log L_i - |beta|^2 / 2 over the intercept (not penalised) and the coefficients
    beta, scikit-learn's `LogisticRegression(C=c)` objective with `sample_weight`; `c` is one C for every
    draw or one per draw (the penalty grid of `alliance.prediction.early_warning.choose_penalty`). A step
    that moves some coefficient by more than `LARGE_STEP` (only from a far start) is halved until the
    objective does not fall; a draw's fit ends when none of its coefficients moved by more than
    `TOLERANCE`. Returns
    draws x (1 + columns of `x`); NaN for a draw whose weighted outcomes are all 0 or all 1 (its intercept
    has no finite optimum).
    """
    weights = np.atleast_2d(weights)
    design = np.column_stack([np.ones(len(y)), x])
    q = design.shape[1]
    upper = np.triu_indices(q)
    outer = design[:, upper[0]] * design[:, upper[1]]  # the Hessian's upper triangle, row by row
    ridge = np.r_[0.0, np.ones(q - 1)]
    events = weights @ y
    usable = (events > 0) & (events < weights.sum(axis=1))
    w = weights[usable]
    c = np.broadcast_to(np.asarray(c, dtype=float), (len(weights),))[usable][:, None]
    beta = np.tile(np.asarray(start, dtype=float), (len(w), 1))
    observed = w @ (design * y[:, None])  # sum_i w_i y_i x_i, the gradient's part that does not change
    fitted = np.empty_like(beta)
    buffer, spare = np.empty(w.shape), np.empty(w.shape)
    active = np.arange(len(w))  # the draws not yet converged: a converged draw takes no further step
    for iteration in range(MAX_ITERATIONS):
        if iteration == 0:  # every draw at `start`: one row of risks serves them all (a quarter of the work)
            mu = expit(design @ np.asarray(start, dtype=float))
            expected = w @ (design * mu[:, None])
            curvature = w @ (outer * (mu * (1 - mu))[:, None])
        else:
            mu = expit(beta @ design.T, out=buffer[: len(w)])  # in place: draws x rows, the loop's largest
            weighted = np.multiply(w, mu, out=spare[: len(w)])
            expected = weighted @ design
            variance = np.subtract(weighted, np.multiply(weighted, mu, out=mu), out=mu)  # w mu (1 - mu)
            curvature = variance @ outer
        gradient = c * (observed - expected) - ridge * beta
        hessian = np.zeros((len(w), q, q))
        hessian[:, upper[0], upper[1]] = c * curvature
        hessian += np.triu(hessian, 1).transpose(0, 2, 1) + np.diag(ridge)
        step = np.linalg.solve(hessian, gradient[:, :, None])[:, :, 0]
        large = np.abs(step).max(axis=1, initial=0.0) > LARGE_STEP
        if large.any():  # far from the optimum: a step halved until the objective rises
            step[large] = _backtrack(design, y, w[large], beta[large], step[large], c[large], ridge)
        beta += step
        done = np.abs(step).max(axis=1, initial=0.0) < TOLERANCE
        fitted[active[done]] = beta[done]
        if done.all():
            break
        if done.any():
            active, w, beta, c, observed = (part[~done] for part in (active, w, beta, c, observed))
    else:
        raise RuntimeError("the bootstrap refit of the logistic model did not converge")
    out = np.full((len(weights), q), np.nan)
    out[usable] = fitted
    return out


def _objective(design: np.ndarray, y: np.ndarray, w: np.ndarray, beta: np.ndarray, c: np.ndarray,
               ridge: np.ndarray) -> np.ndarray:
    """C sum_i w_i log L_i - |beta|^2 / 2 of each draw (rows of `w`, `beta` and `c`, draws x 1)."""
    eta = beta @ design.T
    loglik = y * eta - np.logaddexp(0.0, eta)
    return c[:, 0] * (w * loglik).sum(axis=1) - 0.5 * (ridge * beta * beta).sum(axis=1)


def _backtrack(design: np.ndarray, y: np.ndarray, w: np.ndarray, beta: np.ndarray, step: np.ndarray,
               c: np.ndarray, ridge: np.ndarray) -> np.ndarray:
    """Newton steps halved, draw by draw, until the objective does not fall (beyond its rounding)."""
    current = _objective(design, y, w, beta, c, ridge)
    worse = np.ones(len(beta), dtype=bool)
    for _ in range(MAX_ITERATIONS):
        trial = _objective(design, y, w[worse], beta[worse] + step[worse], c[worse], ridge)
        fell = trial < current[worse] - 1e-10 * (1 + np.abs(current[worse]))
        rows = np.flatnonzero(worse)
        worse[rows[~fell]] = False
        if not worse.any():
            break
        step[worse] /= 2
    return step


def refit_risks(models: list, splits: list, x: np.ndarray, y: np.ndarray, weights: np.ndarray
                ) -> np.ndarray:
    """Each draw's out-of-fold risks (draws x rows): for each fold (`splits`, (train, test) indices) the
    fold's fitted pipeline (`models`, imputer, scaler, logistic regression) refitted to its training rows
    under the draw's weights (`penalised_logistic`), applied to its held-out rows."""
    risks = np.full(weights.shape, np.nan)
    for model, (train, test) in zip(models, splits, strict=True):
        prepare, logistic = model[:-1], model[-1]
        start = np.r_[logistic.intercept_, logistic.coef_[0]]
        beta = penalised_logistic(prepare.transform(x[train]), y[train], weights[:, train], start,
                                  logistic.C)
        held_out = np.column_stack([np.ones(len(test)), prepare.transform(x[test])])
        risks[:, test] = expit(beta @ held_out.T)
    return risks
