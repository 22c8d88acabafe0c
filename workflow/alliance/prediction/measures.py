"""The measures of a risk prediction and of an alert rule, with therapist-bootstrap CIs.

The AUC is the mean of the held-out folds' AUCs (`fold_auc`): pooling the out-of-fold risks of all folds
would rank together risks from different models, whose intercepts differ with their training folds'
dropout rates, and that biases a pooled AUC below .5 when nothing predicts dropout and spreads it beyond
what a bootstrap of the predictions sees (Airola et al. 2011; on 100 null cohorts of 400 patients the
pooled AUC's CI covered .5 in 77%). The other measures use the pooled out-of-fold risks.

Point estimates come from the libraries: the AUC from scikit-learn (`roc_auc_score`), the calibration
intercept and slope from statsmodels (Steyerberg 2019, ch. 15: the intercept of a logistic model of the
outcome with logit(p) as offset, "calibration-in-the-large", 0 when the risks are right on average; the
slope of the outcome on logit(p), 1 when they are neither too extreme nor too moderate). The bootstrap
resamples therapists with replacement. The AUC is re-computed on each draw's out-of-fold predictions
from models refitted in the draw (`alliance.prediction.refit`), so that its CI carries the variation of
fitting the models: the estimate +/- 1.96 SD of these draws (`standard_error_ci`), as their distribution
is off the estimate; the other measures, with percentile CIs, are re-computed on the out-of-fold
predictions of the estimate (they describe these predictions: a refit's calibration is near perfect in
the large by construction, and its slope is biased low by the duplicated therapists of a draw). A draw is
a weight per row (how often its therapist was drawn), so each measure is a weighted one:
`weighted_auc` (Mann-Whitney) and `weighted_calibration` (Newton-Raphson) are written here because the
libraries' versions take 8 ms and 17 ms per draw at 8,000 rows, 200 draws x 10 models too slow for a
clinic-sized run; both are tested against scikit-learn and statsmodels with repeated rows.

Net benefit (Vickers & Elkin 2006) of alerting at risk threshold pt: TP/n - FP/n * pt / (1 - pt);
"alert everyone" has prevalence - (1 - prevalence) * pt / (1 - pt), "alert no one" 0.

References
----------
Airola, A., Pahikkala, T., Waegeman, W., De Baets, B., & Salakoski, T. (2011). An experimental comparison
of cross-validation techniques for estimating the area under the ROC curve. Computational Statistics &
Data Analysis, 55(4), 1828-1844.
Steyerberg, E. W. (2019). Clinical prediction models (2nd ed.). Springer.
Efron, B., & Tibshirani, R. J. (1993). An introduction to the bootstrap. Chapman & Hall.
Vickers, A. J., & Elkin, E. B. (2006). Decision curve analysis: a novel method for evaluating prediction
models. Medical Decision Making, 26(6), 565-574.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit

from alliance.ingest.privacy import discloses
from alliance.stats.separation import separated

EPS = 1e-6
CLASSIFICATION = ("sensitivity", "specificity", "ppv", "alerts_per_100", "net_benefit")
MEASURES = ("auc", "calibration_intercept", "calibration_slope", "brier", *CLASSIFICATION)


def logit(p: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)) of risks clipped to [1e-6, 1 - 1e-6]."""
    p = np.clip(p, EPS, 1 - EPS)
    return np.log(p / (1 - p))


def weighted_auc(y: np.ndarray, score: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The AUC under each row of frequency weights `w` (draws x rows; a row of weight 2 counts as two
    rows): the weighted share of (dropout, non-dropout) pairs whose dropout has the higher score, ties
    counting half (Mann-Whitney); NaN for a draw without both outcomes. `score` is one for all draws or
    each draw's own (draws x rows)."""
    w = np.atleast_2d(w)
    if score.ndim == 2:
        return _weighted_auc_per_draw(y, score, w)
    order = np.argsort(score, kind="stable")
    s, yy, ww = score[order], y[order].astype(bool), w[:, order]
    start = np.unique(s, return_index=True)[1]
    neg = np.add.reduceat(np.where(yy, 0.0, ww), start, axis=1)
    pos = np.add.reduceat(np.where(yy, ww, 0.0), start, axis=1)
    below = np.cumsum(neg, axis=1) - neg
    pairs = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, (pos * (below + 0.5 * neg)).sum(axis=1) / pairs, np.nan)


def _weighted_auc_per_draw(y: np.ndarray, score: np.ndarray, w: np.ndarray) -> np.ndarray:
    """`weighted_auc` of each draw's own scores, sorted draw by draw: each dropout counts the
    non-dropouts' weight below its group of tied scores and half that within it."""
    order = np.argsort(score, axis=1)  # tied scores are summed as a group: their order does not matter
    s = np.take_along_axis(score, order, axis=1)
    yy, ww = y[order].astype(bool), np.take_along_axis(w, order, axis=1)
    neg, pos = np.where(yy, 0.0, ww), np.where(yy, ww, 0.0)
    index = np.broadcast_to(np.arange(s.shape[1]), s.shape)
    first = np.ones(s.shape, dtype=bool)
    first[:, 1:] = s[:, 1:] != s[:, :-1]
    last = np.ones(s.shape, dtype=bool)
    last[:, :-1] = first[:, 1:]
    start = np.maximum.accumulate(np.where(first, index, 0), axis=1)
    end = np.minimum.accumulate(np.where(last, index, s.shape[1] - 1)[:, ::-1], axis=1)[:, ::-1]
    cumulative = np.cumsum(neg, axis=1)
    below = np.take_along_axis(cumulative - neg, start, axis=1)
    within = np.take_along_axis(cumulative, end, axis=1) - below
    pairs = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, (pos * (below + 0.5 * within)).sum(axis=1) / pairs, np.nan)


def weighted_calibration(y: np.ndarray, p: np.ndarray, w: np.ndarray, *, iterations: int = 30
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Calibration intercepts and slopes under each row of frequency weights `w` (draws x rows), by
    weighted logistic maximum likelihood (Newton-Raphson): the intercept a of logit P(y) = a + logit(p)
    and the slope b of logit P(y) = c + b logit(p); NaN for a draw without both outcomes or without a
    finite maximum (a separation: its steps still moving after `iterations`). Each draw stops once its
    steps fall below 1e-6 (then about 1e-12 from the maximum: Newton's steps converge quadratically)."""
    w = np.atleast_2d(w)
    z = logit(p)
    events = w @ y
    usable = (events > 0) & (events < w.sum(axis=1))
    a, c, b = np.zeros(len(w)), np.zeros(len(w)), np.ones(len(w))
    zz, observed = z * z, w @ (y * z)  # sums over the rows as matrix products, the constant ones once
    ones = np.ones(len(z))
    powers = np.column_stack([ones, z, zz])
    active = np.flatnonzero(usable)  # the draws still moving: a draw whose steps fell below 1e-6 stops
    ww, ev, ob = w[active], events[active], observed[active]
    settled = np.zeros(len(w), dtype=bool)  # the intercept's own last step below 1e-6 (a one-parameter fit)
    with np.errstate(invalid="ignore", divide="ignore"):
        for iteration in range(iterations):
            if not len(active):
                break
            if iteration == 0:  # every draw at a = c = 0, b = 1: one row of risks, expit(z), for all of them
                mu = expit(z)
                v = mu * (1 - mu)
                sums = ww @ np.column_stack([mu, v, v * z, v * zz, mu * z])
                step_a = (ev - sums[:, 0]) / sums[:, 1]
                h00, h01, h11 = sums[:, 1], sums[:, 2], sums[:, 3]
                g0, g1 = ev - sums[:, 0], ob - sums[:, 4]
            else:  # the sums over rows as matrix products with the columns 1, z, z^2
                mu = expit(a[active, None] + z)
                wmu = ww * mu
                step_a = (ev - wmu @ ones) / ((wmu - wmu * mu) @ ones)
                mu = expit(c[active, None] + b[active, None] * z)
                wmu = ww * mu
                h00, h01, h11 = ((wmu - wmu * mu) @ powers).T
                g0, g1 = ev - wmu @ ones, ob - wmu @ z
            det = h00 * h11 - h01 * h01
            step_c, step_b = (h11 * g0 - h01 * g1) / det, (h00 * g1 - h01 * g0) / det
            a[active], c[active], b[active] = a[active] + step_a, c[active] + step_c, b[active] + step_b
            settled[active] = np.abs(step_a) < 1e-6
            moving = ~(np.maximum(np.abs(step_a), np.maximum(np.abs(step_c), np.abs(step_b))) < 1e-6)
            if not moving.all():
                active, ww, ev, ob = active[moving], ww[moving], ev[moving], ob[moving]
    converged = usable.copy()
    converged[active] = False  # still moving after `iterations` steps: a separation, no finite maximum
    finite = converged & np.isfinite(b) & (np.abs(b) < 1e3)
    return np.where(usable & settled & np.isfinite(a), a, np.nan), np.where(finite, b, np.nan)


def calibration(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """Calibration intercept and slope (statsmodels logistic GLMs; see the module docstring); NaN for a
    fit that does not converge or, for the slope, whose risks separate the outcomes (a fitted probability
    at 0 or 1, `alliance.stats.separation`): the data cannot identify it. statsmodels warns of complete
    separation only; under quasi-complete separation (a dropout and a stayer at the same risk, every
    other dropout above it) IRLS reports convergence at a slope of 38 with an SE of 28,722."""
    import warnings

    from statsmodels.genmod.families import Binomial  # not statsmodels.api: 0.5 s more of the job's imports
    from statsmodels.genmod.generalized_linear_model import GLM
    from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

    z = logit(p)
    binomial = Binomial()
    estimates = []
    for design, offset, column in ((np.ones((len(y), 1)), z, 0),
                                   (np.column_stack([np.ones(len(z)), z]), None, 1)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", PerfectSeparationWarning)
            warnings.simplefilter("always", ConvergenceWarning)
            fit = GLM(y, design, family=binomial, offset=offset).fit()
        value = float(fit.params[column])
        failed = (any(issubclass(w.category, PerfectSeparationWarning | ConvergenceWarning) for w in caught)
                  or not fit.converged or (column == 1 and separated(fit.mu)))
        estimates.append(float("nan") if failed or not np.isfinite(value) else value)
    return estimates[0], estimates[1]


def classification(y: np.ndarray, alert: np.ndarray, threshold: float) -> dict[str, float]:
    """Sensitivity, specificity, PPV, alerts per 100 patients and the net benefit at risk threshold
    `threshold` of alerting on `alert` (booleans)."""
    y = y.astype(bool)
    tp, fp = int((alert & y).sum()), int((alert & ~y).sum())
    positives, negatives, n = int(y.sum()), int((~y).sum()), len(y)
    alerts = tp + fp
    return {"sensitivity": tp / positives if positives else np.nan,
            "specificity": 1 - fp / negatives if negatives else np.nan,
            "ppv": tp / alerts if alerts else np.nan,
            "alerts_per_100": 100 * alerts / n,
            "net_benefit": (tp - fp * threshold / (1 - threshold)) / n}


def fold_auc(y: np.ndarray, p: np.ndarray, folds: np.ndarray) -> float:
    """The mean of the held-out folds' AUCs (scikit-learn), over the folds with both outcomes."""
    from sklearn.metrics import roc_auc_score

    values = [roc_auc_score(y[folds == f], p[folds == f]) for f in np.unique(folds)
              if 0 < y[folds == f].sum() < (folds == f).sum()]
    return float(np.mean(values)) if values else float("nan")


def weighted_fold_auc(y: np.ndarray, p: np.ndarray, folds: np.ndarray, w: np.ndarray) -> np.ndarray:
    """`fold_auc` under each row of frequency weights `w` (draws x rows), of one risk `p` for all draws
    (rows) or of each draw's own (draws x rows)."""
    per_fold = np.column_stack([weighted_auc(y[folds == f], p[..., folds == f], w[:, folds == f])
                                for f in np.unique(folds)])
    usable = np.isfinite(per_fold)
    total = np.where(usable, per_fold, 0.0).sum(axis=1)
    count = usable.sum(axis=1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def point_measures(y: np.ndarray, p: np.ndarray | None, alert: np.ndarray, threshold: float,
                   folds: np.ndarray) -> dict:
    """Every measure on the whole sample: of a risk `p` (None for a rule, which has only the measures of
    its alerts; the AUC over the held-out `folds`, `fold_auc`) and of its alerts."""
    from sklearn.metrics import brier_score_loss

    out = dict.fromkeys(MEASURES, np.nan)
    if p is not None:
        out["auc"] = fold_auc(y, p, folds)
        out["calibration_intercept"], out["calibration_slope"] = calibration(y, p)
        out["brier"] = float(brier_score_loss(y, p))
    return out | classification(y, alert, threshold)


def therapist_draws(therapists: np.ndarray, draws: int, rng: np.random.Generator) -> np.ndarray:
    """A (draws x rows) matrix of row weights: in each draw the therapists are sampled with replacement
    and each row weighs how often its therapist was drawn."""
    codes, groups = pd.factorize(therapists)
    counts = np.stack([np.bincount(rng.integers(0, len(groups), size=len(groups)), minlength=len(groups))
                       for _ in range(draws)])
    return counts[:, codes].astype(float)


def bootstrap_measures(y: np.ndarray, p: np.ndarray | None, alert: np.ndarray, threshold: float,
                       weights: np.ndarray, folds: np.ndarray, auc: np.ndarray | None = None
                       ) -> pd.DataFrame:
    """The measures in each draw (rows of `weights`), NaN where a draw cannot give one: the AUC over the
    held-out `folds` of `p` (`weighted_fold_auc`), or the draws' `auc` where given (of refitted models,
    `alliance.prediction.early_warning.refit_aucs`)."""
    out = pd.DataFrame(np.nan, index=range(len(weights)), columns=list(MEASURES))
    if p is not None:
        out["auc"] = weighted_fold_auc(y, p, folds, weights) if auc is None else auc
        out["calibration_intercept"], out["calibration_slope"] = weighted_calibration(y, p, weights)
        out["brier"] = (weights * (p - y) ** 2).sum(axis=1) / weights.sum(axis=1)
    y = y.astype(bool)
    tp, fp = weights @ (alert & y), weights @ (alert & ~y)
    positives, negatives, n = weights @ y, weights @ ~y, weights.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["sensitivity"] = np.where(positives > 0, tp / positives, np.nan)
        out["specificity"] = np.where(negatives > 0, 1 - fp / negatives, np.nan)
        out["ppv"] = np.where(tp + fp > 0, tp / (tp + fp), np.nan)
    out["alerts_per_100"] = 100 * (tp + fp) / n
    out["net_benefit"] = (tp - fp * threshold / (1 - threshold)) / n
    return out


def _finite(draws: pd.Series) -> np.ndarray | None:
    """The finite draws, or None when fewer than half of them (and fewer than 2) are."""
    values = draws.to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    return values if len(values) >= max(2, len(draws) / 2) else None


def percentile_ci(draws: pd.Series, level: float = 0.95) -> tuple[float, float]:
    """The percentile interval of the finite draws (NaN, NaN when fewer than half the draws are)."""
    values = _finite(draws)
    if values is None:
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def standard_error_ci(estimate: float, draws: pd.Series, level: float = 0.95) -> tuple[float, float]:
    """The estimate +/- z x the SD of the finite draws, within [0, 1] (NaN, NaN when fewer than half the
    draws are finite): the interval of the AUC from the refitted models' draws, whose distribution is off
    the estimate (a draw's duplicated therapists make its fits noisier), so that their percentiles can put
    the estimate at one end of its own interval (.57 [.39, .62] at a site of 15 therapists). The standard
    bootstrap interval of Efron & Tibshirani (1993), section 13.2."""
    values = _finite(draws)
    if values is None or not np.isfinite(estimate):
        return float("nan"), float("nan")
    half = float(stats.norm.ppf(0.5 + level / 2)) * float(np.std(values, ddof=1))
    return float(max(0.0, estimate - half)), float(min(1.0, estimate + half))


def small_cells(y: np.ndarray, alert: np.ndarray, min_cell_size: int) -> np.ndarray:
    """Whether the table of `alert` (patients, or thresholds x patients) against dropout `y` has a cell of
    1 to `min_cell_size` - 1 patients (`discloses`: alerted and not, dropped out and stayed): a
    classification measure, a rate of the known dropouts or stayers, would give that count away."""
    y = y.astype(bool)
    tp, fp = (alert & y).sum(axis=-1), (alert & ~y).sum(axis=-1)
    return discloses(tp, int(y.sum()), min_cell_size) | discloses(fp, int((~y).sum()), min_cell_size)


def net_benefit_curve(y: np.ndarray, p: np.ndarray, thresholds: np.ndarray, min_cell_size: int) -> np.ndarray:
    """Net benefit of alerting where the risk `p` is at least each threshold; NaN at a threshold whose
    table of alerts has a cell of 1 to `min_cell_size` - 1 (`small_cells`): two thresholds with the same
    alerts would give its counts away."""
    y = y.astype(bool)
    n = len(y)
    alert = p[None, :] >= thresholds[:, None]
    tp, fp = (alert & y).sum(axis=1), (alert & ~y).sum(axis=1)
    values = (tp - fp * thresholds / (1 - thresholds)) / n
    return np.where(small_cells(y, alert, min_cell_size), np.nan, values)


def treat_all_curve(prevalence: float, thresholds: np.ndarray | float) -> np.ndarray | float:
    """Net benefit of alerting everyone at a dropout `prevalence`, prevalence - (1 - prevalence) pt /
    (1 - pt), written as (prevalence - pt) / (1 - pt): exactly 0 where the threshold is the prevalence
    (the `auto` threshold), not the rounding residue of +/-2.8e-17 that the first form leaves."""
    return (prevalence - thresholds) / (1 - thresholds)


def rule_curve(y: np.ndarray, alert: np.ndarray, thresholds: np.ndarray, min_cell_size: int) -> np.ndarray:
    """Net benefit of a fixed rule (its alerts) valued at each threshold; NaN throughout where its table of
    alerts has a cell of 1 to `min_cell_size` - 1 (`small_cells`): any two thresholds give its counts."""
    y = y.astype(bool)
    n = len(y)
    if small_cells(y, alert, min_cell_size):
        return np.full(len(thresholds), np.nan)
    return ((alert & y).sum() - (alert & ~y).sum() * thresholds / (1 - thresholds)) / n


def calibration_bins(y: np.ndarray, p: np.ndarray, bins: int, min_cell_size: int) -> pd.DataFrame:
    """Observed dropout rate against mean predicted risk in groups of about equal size by predicted risk:
    the most groups, up to `bins`, in which every group has at least `min_cell_size` patients who dropped
    out and as many who stayed, since a group's rate times its size is its count of dropouts
    (ANALYSIS_PLAN.md, section 8); no group where the whole sample has fewer of either."""
    columns = ["bin", "n", "predicted", "observed"]
    y = np.asarray(y, dtype=int)
    k = max(min_cell_size, 1)
    order = np.argsort(p, kind="stable")
    for groups in range(min(bins, int(y.sum()) // k, int(len(y) - y.sum()) // k), 0, -1):
        parts = np.array_split(order, groups)
        if all(k <= y[part].sum() <= len(part) - k for part in parts):
            return pd.DataFrame([{"bin": i + 1, "n": len(part), "predicted": float(p[part].mean()),
                                  "observed": float(y[part].mean())} for i, part in enumerate(parts)],
                                columns=columns)
    return pd.DataFrame(columns=columns)
