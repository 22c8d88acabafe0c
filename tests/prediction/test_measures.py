"""The measures of `alliance.prediction.measures`: the weighted AUC and calibration written for the
bootstrap against scikit-learn and statsmodels on repeated rows, net benefit by hand (Vickers & Elkin
2006), and the therapist bootstrap's weights."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from sklearn.metrics import roc_auc_score

from alliance.ingest.privacy import discloses
from alliance.prediction.measures import (
    bootstrap_measures,
    calibration,
    calibration_bins,
    classification,
    fold_auc,
    logit,
    net_benefit_curve,
    percentile_ci,
    rule_curve,
    small_cells,
    therapist_draws,
    treat_all_curve,
    weighted_auc,
    weighted_calibration,
)


@pytest.fixture(scope="module")
def sample():
    rng = np.random.default_rng(7)
    x = rng.normal(size=300)
    p = 1 / (1 + np.exp(-(-1.5 + 0.8 * x)))
    y = (rng.random(300) < 1 / (1 + np.exp(-(-1.3 + 0.6 * x)))).astype(int)
    return y, np.round(p, 2), rng.integers(0, 3, size=300).astype(float)  # rounded: ties


def test_weighted_auc_is_the_auc_of_the_repeated_rows(sample):
    y, p, w = sample
    repeated = np.repeat(np.arange(len(y)), w.astype(int))
    assert weighted_auc(y, p, w)[0] == pytest.approx(roc_auc_score(y[repeated], p[repeated]), abs=1e-12)
    assert weighted_auc(y, p, np.ones(len(y)))[0] == pytest.approx(roc_auc_score(y, p), abs=1e-12)


def test_weighted_auc_by_hand():
    # pairs (dropout, not): (0.9, 0.1) win, (0.9, 0.5) win, (0.5, 0.1) win, (0.5, 0.5) tie -> 3.5 / 4
    y, p = np.array([1, 1, 0, 0]), np.array([0.9, 0.5, 0.5, 0.1])
    assert weighted_auc(y, p, np.ones(4))[0] == pytest.approx(0.875)
    assert np.isnan(weighted_auc(np.zeros(4), p, np.ones(4))[0])


def test_weighted_auc_of_each_draws_own_scores(sample):
    """Each draw's own scores (a refitted model's, draws x rows), ties included: each draw's AUC is that
    of its repeated rows, and of the one-score path; a draw without a dropout is NaN."""
    y, p, w = sample
    rng = np.random.default_rng(11)
    scores = np.vstack([p, np.round(p + rng.normal(0, 0.05, len(p)), 1), np.round(-p, 2), p])
    weights = np.vstack([w, rng.integers(0, 3, len(y)), np.ones(len(y)), np.where(y == 1, 0.0, 1.0)])
    aucs = weighted_auc(y, scores, weights)
    for score, weight, auc in zip(scores[:3], weights[:3], aucs[:3], strict=True):
        repeated = np.repeat(np.arange(len(y)), weight.astype(int))
        assert auc == pytest.approx(roc_auc_score(y[repeated], score[repeated]), abs=1e-12)
        assert auc == pytest.approx(weighted_auc(y, score, weight)[0], abs=1e-12)
    assert np.isnan(aucs[3])


def test_weighted_calibration_matches_statsmodels_glms(sample):
    y, p, w = sample
    z = logit(p)
    binomial = sm.families.Binomial()
    intercept = sm.GLM(y, np.ones((len(y), 1)), family=binomial, offset=z, freq_weights=w).fit().params[0]
    slope = sm.GLM(y, sm.add_constant(z), family=binomial, freq_weights=w).fit().params[1]
    a, b = weighted_calibration(y, p, np.vstack([w, np.ones(len(y))]))
    assert a[0] == pytest.approx(intercept, abs=1e-8) and b[0] == pytest.approx(slope, abs=1e-8)
    assert (a[1], b[1]) == pytest.approx(calibration(y, p), abs=1e-8)


def test_a_draw_whose_risks_separate_the_outcomes_has_no_calibration_slope():
    """Risks that rank every dropout above every other patient (one row apart): the draw without that
    row has no finite slope (its Newton steps never settle; 30 of them once left a slope of 80 to 999,
    given as a number), its intercept stays; the draw with it matches statsmodels."""
    p = np.linspace(0.05, 0.6, 40)
    y = (p > 0.4).astype(float)
    y[5] = 1.0  # the one dropout ranked among the patients who stayed
    w = np.ones((2, len(y)))
    w[0, 5] = 0.0
    a, b = weighted_calibration(y, p, w)
    assert np.isnan(b[0]) and np.isfinite(a[0])
    kept = w[0] > 0
    intercept = sm.GLM(y[kept], np.ones((kept.sum(), 1)), family=sm.families.Binomial(),
                       offset=logit(p[kept])).fit().params[0]
    assert a[0] == pytest.approx(intercept, abs=1e-8)
    assert (a[1], b[1]) == pytest.approx(calibration(y, p), abs=1e-8)


def test_quasi_complete_separation_leaves_the_point_estimate_without_a_slope():
    """Every dropout at a risk of .3 or more, every stayer at .3 or less, both at .3: statsmodels' IRLS
    reports convergence without a warning at a slope of 37.65 (SE 28,722); the slope has no finite
    maximum, so it is NaN, as the bootstrap draws' is. The intercept (offset model) is identified."""
    p = np.array([0.05, 0.1, 0.2, 0.3, 0.3, 0.3, 0.3, 0.5, 0.6, 0.7])
    y = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1], dtype=float)
    intercept, slope = calibration(y, p)
    assert np.isnan(slope)
    assert intercept == pytest.approx(0.8441678449, abs=1e-8)
    a, b = weighted_calibration(y, p, np.ones((1, len(y))))
    assert np.isnan(b[0]) and a[0] == pytest.approx(intercept, abs=1e-8)


def test_perfect_risks_have_intercept_zero_and_slope_one():
    rng = np.random.default_rng(3)
    p = rng.uniform(0.05, 0.6, size=200_000)
    y = (rng.random(len(p)) < p).astype(int)
    intercept, slope = calibration(y, p)
    assert abs(intercept) < 0.02 and abs(slope - 1) < 0.03


def test_net_benefit_by_hand():
    # 10 patients, 3 drop out; alert on 4 (2 of the dropouts): at pt = .25, NB = 2/10 - 2/10 * 1/3
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0, 0, 0])
    alert = np.array([1, 1, 0, 1, 1, 0, 0, 0, 0, 0], dtype=bool)
    measures = classification(y, alert, 0.25)
    assert measures["net_benefit"] == pytest.approx(0.2 - 0.2 / 3)
    assert measures["sensitivity"] == pytest.approx(2 / 3) and measures["specificity"] == pytest.approx(5 / 7)
    assert measures["ppv"] == pytest.approx(0.5) and measures["alerts_per_100"] == pytest.approx(40)
    thresholds = np.array([0.25, 0.5])
    assert rule_curve(y, alert, thresholds, 1) == pytest.approx([0.2 - 0.2 / 3, 0.0])
    assert treat_all_curve(np.mean(y), thresholds) == pytest.approx([0.3 - 0.7 / 3, 0.3 - 0.7])
    # at a threshold equal to the dropout rate (the `auto` threshold) alerting everyone is worth exactly 0
    # (prevalence - (1 - prevalence) pt / (1 - pt) leaves -2.8e-17 at 23 of 150, 2.8e-17 at 28 of 150)
    for dropouts, n in ((23, 150), (28, 150), (11, 150), (3, 10)):
        cohort = np.r_[np.ones(dropouts), np.zeros(n - dropouts)]
        assert treat_all_curve(np.mean(cohort), np.array([np.mean(cohort)]))[0] == 0.0
        assert treat_all_curve(dropouts / n, dropouts / n) == 0.0  # the verdict's scalar form, from counts
    risk = np.where(alert, 0.3, 0.1)
    assert net_benefit_curve(y, risk, thresholds, 1) == pytest.approx([0.2 - 0.2 / 3, 0.0])


def test_rates_that_would_give_a_small_count_away_are_withheld():
    """The same 10 patients (3 dropouts, 7 stayers; alerted: 2 dropouts and 2 stayers). With k = 3 the 2
    alerted dropouts (and the 1 not alerted) are a cell of 1 to k - 1: the rule's net benefit is withheld at
    every threshold (any two give its counts), the model's only at .25 (at .5 nobody is alerted: 0 of 3
    and 0 of 7, no small group). With k = 2 the 2 alerted dropouts are no longer small but the 1 not alerted
    is; with k = 1 nothing is withheld."""
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0, 0, 0])
    alert = np.array([1, 1, 0, 1, 1, 0, 0, 0, 0, 0], dtype=bool)
    thresholds = np.array([0.25, 0.5])
    risk = np.where(alert, 0.3, 0.1)
    assert small_cells(y, alert, 3) and small_cells(y, alert, 2) and not small_cells(y, alert, 1)
    assert np.isnan(rule_curve(y, alert, thresholds, 3)).all()
    curve = net_benefit_curve(y, risk, thresholds, 3)
    assert np.isnan(curve[0]) and curve[1] == 0.0
    # per threshold: everyone alerted (all 3 and all 7) and no one are shown; 3 of 7 stayers at k = 4 is not
    everyone = np.ones(10, dtype=bool)
    assert small_cells(y, np.stack([everyone, ~everyone]), 4).tolist() == [False, False]
    three_stayers = np.array([0, 0, 0, 1, 1, 1, 0, 0, 0, 0], dtype=bool)
    assert small_cells(y, three_stayers, 4) and not small_cells(y, three_stayers, 3)
    # `discloses`: the count or the rest of the total in 1 .. k - 1
    assert discloses(np.array([0, 1, 9, 10, 21, 22, 31, 32]), 32, 10).tolist() == [
        False, True, True, False, False, False, True, False]


def test_therapist_draws_resample_whole_therapists():
    therapists = np.array(["a", "a", "b", "c", "c", "c"])
    weights = therapist_draws(therapists, 50, np.random.default_rng(1))
    assert weights.shape == (50, 6)
    assert (weights[:, 0] == weights[:, 1]).all() and (weights[:, 3] == weights[:, 5]).all()
    assert (weights[:, [0, 2, 3]].sum(axis=1) == 3).all()  # three therapists drawn each time


def test_bootstrap_measures_equal_the_point_values_with_unit_weights(sample):
    y, p, _w = sample
    alert = p >= 0.2
    folds = np.arange(len(y)) % 3
    draws = bootstrap_measures(y, p, alert, 0.2, np.ones((2, len(y))), folds)
    point = classification(y, alert, 0.2)
    assert draws["auc"].iloc[0] == pytest.approx(fold_auc(y, p, folds))
    assert fold_auc(y, p, folds) == pytest.approx(np.mean([roc_auc_score(y[folds == f], p[folds == f])
                                                           for f in range(3)]))
    assert draws["net_benefit"].iloc[1] == pytest.approx(point["net_benefit"])
    assert draws["brier"].iloc[0] == pytest.approx(np.mean((p - y) ** 2))
    low, high = percentile_ci(draws["auc"])
    assert low == high == pytest.approx(fold_auc(y, p, folds))


def test_a_separated_calibration_slope_is_not_a_number():
    """Risks that order the outcomes perfectly: the slope has no finite estimate, so none is given."""
    intercept, slope = calibration(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.8, 0.9]))
    assert np.isfinite(intercept) and np.isnan(slope)



def test_calibration_groups_give_no_count_below_the_minimum_away():
    """A group's rate times its size is its count of dropouts, so every group has at least k dropouts and
    k patients who stayed. 100 patients with risks .01 to 1.00; the 15 of highest risk dropped out, and 5
    of the first 50 (ten groups of 10 would show 0, 1 or 2 dropouts in each of those). With k = 5: two
    groups of 50 (5 and 15 dropouts); k = 6: one group; k = 21 (20 dropouts): none."""
    p = np.arange(1, 101) / 100
    y = np.zeros(100, dtype=int)
    y[[10, 20, 30, 40, 45]] = 1
    y[85:] = 1
    two = calibration_bins(y, p, 10, 5)
    assert two["bin"].tolist() == [1, 2] and two["n"].tolist() == [50, 50]
    np.testing.assert_allclose(two["observed"], [0.1, 0.3])
    np.testing.assert_allclose(two["predicted"], [p[:50].mean(), p[50:].mean()])
    one = calibration_bins(y, p, 10, 6)
    assert one["n"].tolist() == [100] and one["observed"].tolist() == [0.2]
    assert calibration_bins(y, p, 10, 21).empty
    alternating = calibration_bins(np.arange(1000) % 2, np.arange(1000) / 1000, 10, 10)
    assert alternating["n"].tolist() == [100] * 10 and (alternating["observed"] == 0.5).all()
