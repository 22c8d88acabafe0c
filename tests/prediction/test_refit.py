"""The bootstrap's refits (`alliance.prediction.refit`): the vectorised penalised logistic regression
against scikit-learn's with sample weights and on repeated rows, and over a grid of penalties (the inner
cross-validation of `penalty: cv`, against a scikit-learn pipeline per penalty), and unit weights giving
back the cross-validation's own out-of-fold risks and AUC, and a draw that cannot be refitted."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from alliance.prediction.early_warning import (
    INNER_FOLDS,
    PENALTIES,
    _grouped_splits,
    _log_loss,
    _model,
    choose_penalty,
    refit_aucs,
)
from alliance.prediction.measures import fold_auc
from alliance.prediction.refit import penalised_logistic, refit_risks


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(240, 4)) * [1.0, 2.0, 0.5, 1.0] + [0.0, 3.0, -1.0, 0.0]
    y = (rng.random(240) < 1 / (1 + np.exp(-(-1.2 + 0.9 * x[:, 0] - 0.3 * x[:, 2])))).astype(float)
    weights = rng.poisson(1.0, size=(12, 240)).astype(float)  # frequency weights with zeros, as a draw
    return x, y, weights


def _coefficients(model: LogisticRegression) -> np.ndarray:
    return np.r_[model.intercept_, model.coef_[0]]


@pytest.mark.parametrize("c", [0.1, 1.0, 10.0])
def test_penalised_logistic_is_scikit_learns_with_weights_and_on_repeated_rows(data, c):
    x, y, weights = data
    start = _coefficients(LogisticRegression(C=c).fit(x, y))
    fitted = penalised_logistic(x, y, weights, start, c)
    for draw, w in zip(fitted, weights, strict=True):
        weighted = LogisticRegression(C=c, tol=1e-12, max_iter=10_000).fit(x, y, sample_weight=w)
        rows = np.repeat(np.arange(len(y)), w.astype(int))
        repeated = LogisticRegression(C=c, tol=1e-12, max_iter=10_000).fit(x[rows], y[rows])
        np.testing.assert_allclose(draw, _coefficients(weighted), atol=1e-6)
        np.testing.assert_allclose(draw, _coefficients(repeated), atol=1e-6)


def test_penalised_logistic_from_a_far_start_and_without_both_outcomes(data):
    x, y, weights = data
    near = penalised_logistic(x, y, weights, _coefficients(LogisticRegression().fit(x, y)), 1.0)
    far = penalised_logistic(x, y, weights, np.array([6.0, -8.0, 8.0, 5.0, -5.0]), 1.0)
    np.testing.assert_allclose(far, near, atol=1e-8)
    only_non_dropouts = np.vstack([weights[0], np.where(y == 1, 0.0, 1.0)])
    fitted = penalised_logistic(x, y, only_non_dropouts, near[0], 1.0)
    assert np.isfinite(fitted[0]).all() and np.isnan(fitted[1]).all()
    assert np.isnan(penalised_logistic(x, y, only_non_dropouts[1:], near[0], 1.0)).all()  # no draw usable


def test_penalised_logistic_over_a_grid_of_penalties_is_one_fit_per_penalty(data):
    x, y, weights = data
    grid = np.array([0.001, 0.1, 10.0])
    start = np.r_[np.log(y.mean() / (1 - y.mean())), np.zeros(x.shape[1])]
    together = penalised_logistic(x, y, np.vstack([weights[0]] * 3), start, grid)
    for row, c in zip(together, grid, strict=True):
        one = penalised_logistic(x, y, weights[:1], start, c)[0]
        np.testing.assert_allclose(row, one, atol=1e-9)
        np.testing.assert_allclose(row, _coefficients(LogisticRegression(C=c, tol=1e-12, max_iter=10_000)
                                                      .fit(x, y, sample_weight=weights[0])), atol=1e-6)
    assert abs(together[0, 1]) < 0.5 * abs(together[2, 1])  # the strongest penalty shrinks the most


def _chosen_by_pipelines(x, y, groups, seed):
    """`penalty: cv` as a scikit-learn pipeline per penalty and inner fold (before the grid was fitted in
    one vectorised fit)."""
    inner = _grouped_splits(y, groups, INNER_FOLDS, seed, stratified=False)
    losses = [np.mean([_log_loss(y[test], _model(c).set_params(logisticregression__tol=1e-10)
                                 .fit(x[train], y[train]).predict_proba(x[test])[:, 1])
                       for train, test in inner]) for c in PENALTIES]
    return PENALTIES[int(np.argmin(losses))], losses


@pytest.mark.parametrize(("effect", "seed"), [(0.0, 1), (0.0, 2), (0.9, 1), (2.5, 4)])
def test_choose_penalty_is_the_pipelines_choice(effect, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(300, 5)) * [1.0, 2.0, 0.5, 1.0, 1.0] + [0.0, 3.0, -1.0, 0.0, 0.0]
    x[::9, 2] = np.nan  # imputed by each inner training fold's median
    y = (rng.random(300) < 1 / (1 + np.exp(-(-1.4 + effect * x[:, 0])))).astype(int)
    groups = np.repeat(np.arange(30), 10)
    expected, losses = _chosen_by_pipelines(x, y, groups, seed)
    assert sorted(losses)[1] - min(losses) > 1e-6  # no near tie that rounding could turn
    assert choose_penalty(x, y, groups, seed) == expected
    if effect == 2.5:
        assert expected >= 1.0  # a strong predictor is hardly penalised ...
    if effect == 0.0:
        assert expected <= 0.1  # ... and noise is shrunk


def test_choose_penalty_falls_back_to_the_default_without_groups_to_split(data):
    x, y, _weights = data
    assert choose_penalty(x, y.astype(int), np.zeros(len(y)), 1) == 1.0  # one therapist
    assert choose_penalty(x, np.r_[np.ones(2), np.zeros(len(y) - 2)].astype(int),
                          np.repeat(np.arange(24), 10), 1) == 1.0  # two dropouts


def test_unit_weights_give_back_the_out_of_fold_risks(data):
    x, y, _weights = data
    x = x.copy()
    x[::7, 1] = np.nan  # imputed by the fold's median, as in the pipeline
    groups = np.repeat(np.arange(24), 10)
    splits = _grouped_splits(y.astype(int), groups, 4, seed=3)
    # fitted to the optimum (the pipeline's default tolerance stops about 1e-4 short of it in the risks)
    models = [_model(1.0).set_params(logisticregression__tol=1e-12).fit(x[train], y[train])
              for train, _test in splits]
    risks = np.full(len(y), np.nan)
    for model, (_train, test) in zip(models, splits, strict=True):
        risks[test] = model.predict_proba(x[test])[:, 1]
    refitted = refit_risks(models, splits, x, y, np.ones((2, len(y))))
    np.testing.assert_allclose(refitted, np.vstack([risks, risks]), atol=1e-6)
    # a draw whose only dropouts are in the first fold cannot refit that fold's model (its training rows
    # have none): its AUC is NaN, though the other folds' models can be refitted; unit weights give the
    # folds' mean AUC
    first_fold_only = np.ones(len(y))
    first_fold_only[(y == 1) & ~np.isin(np.arange(len(y)), splits[0][1])] = 0.0
    draws = np.vstack([np.ones(len(y)), first_fold_only])
    validated = {"splits": splits, "models": {"alliance": models}}
    aucs = refit_aucs(validated, {"alliance": x}, y, draws)["alliance"]
    folds = np.zeros(len(y), dtype=int)
    for number, (_train, test) in enumerate(splits):
        folds[test] = number
    assert aucs[0] == pytest.approx(fold_auc(y, risks, folds), abs=1e-6) and np.isnan(aucs[1])


@pytest.mark.parametrize("stratified", [True, False])
def test_grouped_splits_of_integer_codes_are_the_labels_splits(stratified):
    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

    rng = np.random.default_rng(8)
    labels = np.array([f"T{n:03d}" for n in rng.permutation(40)])[rng.integers(0, 40, size=400)]
    y = (rng.random(400) < 0.2).astype(int)
    kind = StratifiedGroupKFold if stratified else GroupKFold
    expected = kind(n_splits=5, shuffle=True, random_state=4).split(np.zeros(400), y, labels)
    for (train, test), (want_train, want_test) in zip(_grouped_splits(y, labels, 5, 4, stratified=stratified),
                                                      expected, strict=True):
        np.testing.assert_array_equal(train, want_train)
        np.testing.assert_array_equal(test, want_test)
        assert not set(labels[train]) & set(labels[test])
