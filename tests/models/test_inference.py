"""Inference of the per-SD effects and of the few-cluster path: the SD's sampling variance (delta method),
the jackknife (CR3) and bias-reduced covariances, and the like-for-like benchmark statistics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import optimize, stats

from alliance.models.benchmarks import clustered_correlation, dropout_comparison, outcome_comparison, withheld
from alliance.models.common import (
    Design,
    build_design,
    cluster_inference,
    fit_logit_glm,
    predictor_effect,
    sd_relative_variance,
)
from alliance.models.random_intercept import fit_random_intercept
from alliance.stats.clusters import cr3_covariance


def test_sd_relative_variance_is_the_normal_theory_value_for_independent_normal_data():
    """For independent normal values Var(s) / s^2 = 1 / (2 (n - 1)) (to O(1/n^2))."""
    rng = np.random.default_rng(1)
    n = 20000
    rows = pd.DataFrame({"therapist_id": np.arange(n), "patient_id": np.arange(n)})
    value = sd_relative_variance(pd.Series(rng.normal(size=n)), rows)
    assert value * 2 * (n - 1) == pytest.approx(1.0, rel=0.05)
    # heavier tails give a larger variance of the SD (kurtosis 9 for t(5): (kurtosis - 1) / 4n)
    heavy = sd_relative_variance(pd.Series(rng.standard_t(5, size=n)), rows)
    assert heavy > 2 * value


def test_sd_relative_variance_by_hand_with_clusters():
    """x = 1, 2, 3, 6 in therapists (a, a, b, b): squared deviations from 3 are 4, 1, 0, 9 (mean 3.5,
    s^2 = 14 / 3); centred on 3.5 they sum to -2 and 2 by therapist; Var(mean) = (4 + 4) / 16 * 2
    (G / (G - 1)) = 1; Var(s^2) = 1 * (4/3)^2; Var(s) / s^2 = Var(s^2) / (4 s^4)."""
    rows = pd.DataFrame({"therapist_id": list("aabb"), "patient_id": list("pqrs")})
    expected = 1.0 * (4 / 3) ** 2 / (4 * (14 / 3) ** 2)
    assert sd_relative_variance(pd.Series([1.0, 2.0, 3.0, 6.0]), rows) == pytest.approx(expected)


def test_per_sd_ci_covers_the_per_sd_truth_only_with_the_sd_term():
    """A strong effect (t about 30): the per-SD estimate b * s varies with s as much as with b. 400
    cohorts: with the delta-method term the 95% CI covers b * sigma_x (within 3 MCSE of .95), without it
    coverage is far below (about .74 expected; the check that the test can fail)."""
    rng = np.random.default_rng(7)
    slope, sigma_x, n = 1.0, 2.0, 200
    covered, covered_plain = [], []
    for _ in range(400):
        x = rng.normal(scale=sigma_x, size=n)
        frame = pd.DataFrame({"patient_id": np.arange(n), "therapist_id": np.arange(n) // 4, "x": x,
                              "y": slope * x + rng.normal(scale=1.0, size=n)})
        design = build_design(frame, outcome="y", predictor="x", response="y", covariates=[], exclusions=[])
        fit = smf.ols(design.formula, design.data).fit()
        row = predictor_effect(fit, design, model="ols", scale="points", n_obs=n, outcome_sd=1.0)
        covered.append(row["ci_low"] <= slope * sigma_x <= row["ci_high"])
        low, high = fit.conf_int().loc["x_z"]
        covered_plain.append(low <= slope * sigma_x <= high)
    assert abs(np.mean(covered) - 0.95) < 3 * np.sqrt(0.95 * 0.05 / 400)
    assert np.mean(covered_plain) < 0.85


def logistic_cohort(therapists: int, seed: int = 5) -> Design:
    """Patients with sessions attended out of scheduled, clustered in therapists with a random effect."""
    rng = np.random.default_rng(seed)
    n = therapists * 10
    therapist = np.repeat(np.arange(therapists), 10)
    x = rng.normal(size=n)
    scheduled = rng.integers(2, 9, size=n)
    p = 1 / (1 + np.exp(-(0.8 + 0.4 * x + rng.normal(scale=0.5, size=therapists)[therapist])))
    attended = rng.binomial(scheduled, p)
    frame = pd.DataFrame({"patient_id": np.arange(n), "therapist_id": therapist, "x": x,
                          "attended": attended, "missed": scheduled - attended})
    frame.attrs["min_clusters"] = 50
    return build_design(frame, outcome="attendance", predictor="x", response="attended + missed",
                        covariates=[], exclusions=[])


def test_few_clusters_use_the_bias_reduced_sandwich_of_gee_with_t():
    """12 therapists: the binomial GLM's covariance is statsmodels GEE's bias-reduced (Mancl-DeRouen) one
    on the same trials as 0/1 rows, its intervals on t(11); 60 therapists: the usual CR1 and normal."""
    design = logistic_cohort(12)
    fit = fit_logit_glm(design)
    data = design.data
    rows = data.loc[data.index.repeat(data["attended"] + data["missed"])].copy()
    rows["y"] = (rows.groupby(level=0).cumcount() < rows["attended"]).astype(float)
    gee = smf.gee("y ~ x_z", groups="therapist_id", data=rows, family=sm.families.Binomial(),
                  cov_struct=sm.cov_struct.Independence()).fit(cov_type="bias_reduced")
    np.testing.assert_allclose(fit.params, gee.params, atol=1e-6)
    np.testing.assert_allclose(fit.bse, gee.bse, rtol=1e-5)
    assert design.df == 11 and "Mancl-DeRouen" in str(design.flags[-1]) and "t(11)" in str(design.flags[-1])
    high = fit.conf_int().loc["x_z", 1]
    assert high - fit.params["x_z"] == pytest.approx(stats.t.ppf(0.975, 11) * fit.bse["x_z"])
    many = logistic_cohort(60)
    fit = fit_logit_glm(many)
    assert many.df is None and not many.flags
    plain = smf.glm(many.formula, many.data, family=sm.families.Binomial()).fit(
        cov_type="cluster", cov_kwds={"groups": many.data["therapist_id"]})
    np.testing.assert_allclose(fit.bse, plain.bse, rtol=1e-10)


def test_clustered_correlation_without_clusters_is_fishers():
    """Independent normal pairs, each its own cluster: SE(r) = (1 - r^2) / sqrt(n) (Fisher 1915)."""
    rng = np.random.default_rng(2)
    n = 20000
    x = rng.normal(size=n)
    y = 0.5 * x + np.sqrt(0.75) * rng.normal(size=n)
    result = clustered_correlation(pd.Series(x), pd.Series(y), pd.Series(np.arange(n)))
    assert result["r"] == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-12)
    assert result["std_error"] == pytest.approx((1 - result["r"] ** 2) / np.sqrt(n), rel=0.05)


def test_clustered_correlation_covers_under_therapist_clustering():
    """x and y share a therapist part (variance 1) beside their own (variance 1): r = .5 in the population.
    With 40 therapists of 10 patients the 95% CI covers .5 in 300 cohorts (within 3 MCSE of .95);
    Fisher's interval on n patients, which treats them as independent, covers far less."""
    rng = np.random.default_rng(9)
    covered, fisher = [], []
    therapist = np.repeat(np.arange(40), 10)
    for _ in range(300):
        shared = rng.normal(size=40)[therapist]
        x, y = shared + rng.normal(size=400), shared + rng.normal(size=400)
        result = clustered_correlation(pd.Series(x), pd.Series(y), pd.Series(therapist))
        r, half = result["r"], 1.96 / np.sqrt(397)
        fisher.append(np.tanh(np.arctanh(r) - half) <= 0.5 <= np.tanh(np.arctanh(r) + half))
        covered.append(result["ci_low"] <= 0.5 <= result["ci_high"])
    assert abs(np.mean(covered) - 0.95) < 3 * np.sqrt(0.95 * 0.05 / 300)
    assert np.mean(fisher) < 0.85


def test_dropout_comparison_by_hand():
    """Completers 4, 5, 6 and dropouts 2, 3 (one therapist each): means 5 and 2.5, pooled SD on 3 df
    sqrt((2 + 0.5) / 3), so Cohen's d = 2.5 / 0.9129 = 2.7386, beside Sharf et al.'s .55."""
    data = pd.DataFrame({"patient_id": range(5), "therapist_id": range(5),
                         "alliance_early": [4.0, 5.0, 6.0, 2.0, 3.0], "dropout_event": [0, 0, 0, 1, 1]})
    row = dropout_comparison(Design("dropout", "alliance_early", data, "", []))
    assert row["estimate"] == pytest.approx(2.5 / np.sqrt(2.5 / 3))
    assert row["ci_low"] < row["estimate"] < row["ci_high"] and row["n"] == 5
    assert row["benchmark_value"] == 0.55 and row["verdict"] in ("compatible with", "larger than")
    assert row["n_dropouts"] == 2
    # dropouts with the better alliance: d below 0 with its whole CI is in the opposite direction, not
    # "smaller than" .55 (a reviewer's cohort); a CI reaching above 0 compares as before
    many = pd.DataFrame({"patient_id": range(60), "therapist_id": np.arange(60) % 12,
                         "alliance_early": np.r_[np.linspace(2, 4, 30), np.linspace(4, 6, 30)],
                         "dropout_event": [0] * 30 + [1] * 30})
    assert dropout_comparison(Design("dropout", "alliance_early", many, "", []))["verdict"] == "opposite to"


@pytest.mark.parametrize(("dropouts", "hidden"), [(6, True), (97, True), (43, False), (10, False)])
def test_d_and_its_ci_give_the_number_of_dropouts_away_so_a_small_group_withholds_it(dropouts, hidden):
    """A reviewer's check of a site's bundle: d = sqrt(a) r / sqrt(1 - r^2) sqrt((n - 2) / n) with
    a = n^2 / (n1 n0), and r's CI symmetric on Fisher's z, so d, its CI and n give a, and with it the
    number of dropouts n0 (here exactly). A group of 1 to k - 1 dropouts, or completers, withholds the
    comparison (k = 10); 10 or more on both sides do not."""
    rng = np.random.default_rng(7)
    n = 103
    data = pd.DataFrame({"patient_id": range(n), "therapist_id": np.arange(n) % 20,
                         "alliance_early": rng.normal(size=n),
                         "dropout_event": (np.arange(n) < dropouts).astype(int)})
    data.loc[data["dropout_event"] == 1, "alliance_early"] -= 0.8
    row = dropout_comparison(Design("dropout", "alliance_early", data, "", []))

    def r_of(d: float, a: float) -> float:  # the point-biserial r of d, as the row's d was made of it
        t = d / np.sqrt((n - 2) / n) / np.sqrt(a)
        return t / np.sqrt(1 + t**2)

    def asymmetry(a: float) -> float:
        low, mid, high = (np.arctanh(r_of(row[c], a)) for c in ("ci_low", "estimate", "ci_high"))
        return low + high - 2 * mid

    a = optimize.brentq(asymmetry, 4.0 + 1e-9, n**2 / (n - 1))  # a >= 4 (equal groups), < n^2 / (n - 1)
    recovered = sorted(np.roots([1, -n, n**2 / a]).real)[0]  # n0 (n - n0) = n^2 / a; the smaller root
    assert recovered == pytest.approx(min(dropouts, n - dropouts), abs=1e-6)
    assert row["n_dropouts"] == dropouts and withheld(row, 10) is hidden
    assert withheld(row, None) is False  # no disclosure control


def test_an_r_without_groups_is_withheld_only_below_k_patients():
    data = pd.DataFrame({"therapist_id": np.arange(40) % 8, "alliance_early": np.arange(40.0),
                         "symptom_improvement": np.sin(np.arange(40.0))})
    row = outcome_comparison(Design("improvement", "alliance_early", data, "", []))
    assert np.isnan(row["n_dropouts"]) and not withheld(row, 10) and withheld(row, 41)
    assert not withheld(row | {"n_dropouts": None}, 10)  # as result.json gives a NaN back


def test_a_patient_intercept_model_with_few_therapists_uses_cr3_and_t():
    """The home-practice shape (patient intercept, SEs clustered by therapist), 10 therapists: the fixed
    effects' covariance is the CR3 jackknife of the GLS rows, intervals on t(9), flagged."""
    rng = np.random.default_rng(4)
    patients = np.repeat(np.arange(60), 5)
    therapists = patients // 6
    x = rng.normal(size=60)[patients] + rng.normal(size=300)
    y = 0.3 * x + rng.normal(size=60)[patients] + rng.normal(size=10)[therapists] + rng.normal(size=300)
    data = pd.DataFrame({"patient_id": patients, "therapist_id": therapists, "x_z": x, "y": y})
    design = Design("y", "x", data, "y ~ x_z", [], scale_variance={"x": 0.0})
    fit = fit_random_intercept("y ~ x_z", data, "patient_id", cluster="therapist_id", design=design,
                               inference=cluster_inference(design))
    y_star, x_star = fit.reml.quasi_demeaned(y, np.column_stack([np.ones(300), x]), patients)
    expected = np.sqrt(np.diag(cr3_covariance(x_star, y_star, therapists)))
    np.testing.assert_allclose(fit.bse.to_numpy(), expected, rtol=1e-10)
    assert design.df == 9 and "jackknife (CR3)" in str(design.flags[-1])
    high = fit.conf_int().loc["x_z", 1]
    assert high - fit.params["x_z"] == pytest.approx(stats.t.ppf(0.975, 9) * fit.bse["x_z"])
