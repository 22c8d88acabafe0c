"""Pooling across sites: the random-effects machinery against the BCG trials (published values and an
independent computation), one and two sites, compatibility, and sites that are suppressed or missing."""

from __future__ import annotations

import copy
import re

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

from alliance.i18n import use_language
from alliance.network.bundle import ESTIMATED, SUPPRESSED, Bundle
from alliance.network.pooling import (
    BELOW_MINIMUM,
    ONE_SITE,
    PER_POINT,
    PER_SD,
    IncompatibleBundles,
    generalised_q,
    heterogeneity_words,
    interval_ratio,
    paule_mandel_tau2,
    pool_benchmarks,
    pool_bundles,
    pool_estimates,
    q_profile_tau2,
    typical_variance,
)

Z = stats.norm.ppf(0.975)

# BCG vaccine trials (Colditz et al. 1994; metafor's dat.bcg): tpos, tneg, cpos, cneg.
BCG = np.array([[4, 119, 11, 128], [6, 300, 29, 274], [3, 228, 11, 209], [62, 13536, 248, 12619],
                [33, 5036, 47, 5761], [180, 1361, 372, 1079], [8, 2537, 10, 619], [505, 87886, 499, 87892],
                [29, 7470, 45, 7232], [17, 1699, 65, 1600], [186, 50448, 141, 27197], [5, 2493, 3, 2338],
                [27, 16886, 29, 17825]], dtype=float)


@pytest.fixture(scope="module")
def bcg():
    """Log risk ratios and their sampling variances (escalc(measure="RR"))."""
    a, b, c, d = BCG.T
    return np.log(a / (a + b) / (c / (c + d))), 1 / a - 1 / (a + b) + 1 / c - 1 / (c + d)


def test_bcg_published_values(bcg):
    """metafor's rma(yi, vi, method="DL") on escalc(measure="RR"), as its test suite holds it against Stata's
    metan (tests/testthat/test_misc_metan_vs_rma.uni_with_dat.bcg.r, checked 2026-12-03): estimate -0.7141,
    95% CI [-1.0644, -0.3638], tau^2 = 0.3088, I^2 = 92.1173%, Q(12) = 152.2330. Our pooling (Paule-Mandel)
    gives that Q and I^2 (both from Q), and the Paule-Mandel tau^2 0.3181, which the next test derives
    independently."""
    from statsmodels.stats.meta_analysis import combine_effects

    y, v = bcg
    dl = combine_effects(y, v, method_re="dl")  # the same library and inputs, with the published DL values
    assert dl.tau2 == pytest.approx(0.3088, abs=5e-5)
    assert dl.mean_effect_re == pytest.approx(-0.7141, abs=5e-5)
    assert dl.sd_eff_w_re == pytest.approx(0.1787, abs=5e-5)
    z = stats.norm.ppf(0.975)
    assert dl.mean_effect_re - z * dl.sd_eff_w_re == pytest.approx(-1.0644, abs=5e-5)
    assert dl.mean_effect_re + z * dl.sd_eff_w_re == pytest.approx(-0.3638, abs=5e-5)
    pooled = pool_estimates(y, np.sqrt(v))
    assert pooled["q"] == pytest.approx(152.2330, abs=5e-4)
    # I^2 = tau^2 / (tau^2 + s^2) (metafor's): with DL's tau^2 the published 92.1173%, with Paule-Mandel's
    typical = typical_variance(v)
    assert dl.tau2 / (dl.tau2 + typical) == pytest.approx(0.921173, abs=5e-6)
    assert pooled["i2"] == pytest.approx(pooled["tau2"] / (pooled["tau2"] + typical), rel=1e-12)
    assert pooled["tau2"] == pytest.approx(0.3181, abs=5e-5)
    assert pooled["k_sites"] == 13


def test_bcg_against_an_independent_computation(bcg):
    """Paule-Mandel as the root of the generalised Q = k - 1 (scipy's brentq), then the HKSJ interval and
    Higgins-Thompson-Spiegelhalter prediction interval written out by hand."""
    y, v = bcg
    k = len(y)

    def generalised_q(tau2: float) -> float:
        w = 1 / (v + tau2)
        mu = (w * y).sum() / w.sum()
        return float((w * (y - mu) ** 2).sum() - (k - 1))

    tau2 = optimize.brentq(generalised_q, 0, 10, xtol=1e-14)
    w = 1 / (v + tau2)
    mu = (w * y).sum() / w.sum()
    se = np.sqrt((w * (y - mu) ** 2).sum() / ((k - 1) * w.sum()))
    t1, t2 = stats.t.ppf(0.975, k - 1), stats.t.ppf(0.975, k - 2)
    pooled = pool_estimates(y, np.sqrt(v))
    assert pooled["tau2"] == pytest.approx(tau2, rel=1e-6)
    assert pooled["estimate"] == pytest.approx(mu, abs=1e-8)
    assert pooled["std_error"] == pytest.approx(se, rel=1e-6)
    assert (pooled["ci_low"], pooled["ci_high"]) == pytest.approx((mu - t1 * se, mu + t1 * se), rel=1e-6)
    half = t2 * np.sqrt(tau2 + se**2)
    assert (pooled["pi_low"], pooled["pi_high"]) == pytest.approx((mu - half, mu + half), rel=1e-6)


def test_bcg_heterogeneity_intervals_published_values(bcg):
    """The Q-profile 95% CI of tau^2 (Viechtbauer 2007) and the I^2 interval from its bounds, as metafor's
    `confint(rma(yi, vi, method="DL"))` gives them on escalc(measure="RR") of the BCG trials
    (tests/testthat/test_misc_confint.r, checked 2026-12-04): tau^2 [0.1197, 1.1115], I^2 92.1173%
    [81.9177%, 97.6781%], H^2 [5.5303, 43.0680]. metafor finds the bounds by uniroot to about 1e-4 (its
    default tolerance), hence the tolerance here; the bounds do not depend on the tau^2 estimator."""
    y, v = bcg
    pooled = pool_estimates(y, np.sqrt(v))
    assert q_profile_tau2(y, v) == pytest.approx((0.1197, 1.1115), abs=1e-4)
    bounds = (pooled["tau_ci_low"] ** 2, pooled["tau_ci_high"] ** 2)
    assert bounds == pytest.approx((0.1197, 1.1115), abs=1e-4)
    assert (pooled["i2_ci_low"], pooled["i2_ci_high"]) == pytest.approx((0.819177, 0.976781), abs=5e-5)
    assert 1 / (1 - pooled["i2_ci_low"]) == pytest.approx(5.5303, abs=2e-3)
    assert 1 / (1 - pooled["i2_ci_high"]) == pytest.approx(43.0680, abs=1e-2)
    # the Paule-Mandel estimate (0.3181) lies inside, and tau's interval is the square root of tau^2's
    assert pooled["tau_ci_low"] < pooled["tau"] < pooled["tau_ci_high"]


def test_q_profile_bounds_are_where_the_generalised_q_meets_chi_square():
    """An independent check on the path the pooling runs (three sites, as a small network): at each bound the
    generalised Q, written out here, equals the chi^2(k - 1) quantile; I^2's bounds are tau^2 / (tau^2 +
    the typical variance), also written out. Where Q(0) is below the lower quantile (sites closer than
    chance) both bounds are 0 and the words say so; where it is between the quantiles the lower is 0."""
    y, se = np.array([0.2, 0.9, 0.5]), np.array([0.15, 0.2, 0.1])
    v = se**2

    def q(tau2: float) -> float:
        w = 1 / (v + tau2)
        mu = (w * y).sum() / w.sum()
        return float((w * (y - mu) ** 2).sum())

    low, high = q_profile_tau2(y, v)
    assert q(low) == pytest.approx(stats.chi2.ppf(0.975, 2), rel=1e-9)
    assert q(high) == pytest.approx(stats.chi2.ppf(0.025, 2), rel=1e-9)
    assert generalised_q(y, v, high) == pytest.approx(q(high), rel=1e-12)
    w = 1 / v
    typical = 2 * w.sum() / (w.sum() ** 2 - (w**2).sum())
    assert typical_variance(v) == pytest.approx(typical, rel=1e-12)
    pooled = pool_estimates(y, se)
    assert pooled["i2_ci_low"] == pytest.approx(low / (low + typical), rel=1e-9)
    assert pooled["i2_ci_high"] == pytest.approx(high / (high + typical), rel=1e-9)
    assert pooled["tau_ci_low"] <= pooled["tau"] <= pooled["tau_ci_high"]
    # the point I^2 lies in its interval (a reviewer's three sites: from Q it read 90%, CI [91%, 100%])
    skewed = pool_estimates([0.96, 0.94, -0.86], [0.1, 0.1, 0.4])
    assert skewed["i2_ci_low"] <= skewed["i2"] <= skewed["i2_ci_high"]
    assert skewed["i2"] == pytest.approx(skewed["tau2"] / (skewed["tau2"] + typical_variance(
        np.array([0.01, 0.01, 0.16]))), rel=1e-12)
    close = pool_estimates([0.3, 0.3, 0.3], [0.1, 0.2, 0.1])  # Q = 0: below chi^2(2)'s .025 quantile
    assert (close["tau_ci_low"], close["tau_ci_high"], close["i2_ci_high"]) == (0, 0, 0)
    assert "intervals are empty (shown as 0); this does not show" in heterogeneity_words(close)
    near = pool_estimates([0.50, 0.52, 0.48], [0.1, 0.1, 0.1])  # Q = 0.08: between the quantiles
    assert near["tau_ci_low"] == 0 and near["tau_ci_high"] > 0
    assert "are empty" not in heterogeneity_words(near)
    one = pool_estimates([0.42], [0.1])
    assert all(np.isnan(one[key]) for key in ("tau_ci_low", "tau_ci_high", "i2_ci_low", "i2_ci_high"))


def test_paule_mandel_where_statsmodels_iteration_overshoots():
    """Eight sites' therapist-level satisfaction effects of a network cohort (an unseen generator; Q = 43.6
    on 7 df): statsmodels' Paule-Mandel iteration with a tight tolerance stepped past the root and set
    tau^2 to 0, pooling 0.33 where the random-effects estimate is -0.12. The generalised Q at the tau^2
    returned is k - 1, and the estimate is the mean weighted by 1 / (SE^2 + tau^2)."""
    y = np.array([-2.413038, 1.265626, 0.376324, 0.201217, -3.322724, -1.137592, -1.534297, 4.701326])
    se = np.array([1.059677, 4.708466, 0.984408, 0.401061, 2.273919, 0.848516, 1.447581, 0.804026])
    pooled = pool_estimates(y, se)
    w = 1 / (se**2 + pooled["tau2"])
    mu = (w * y).sum() / w.sum()
    assert (w * (y - mu) ** 2).sum() == pytest.approx(len(y) - 1, abs=1e-9)
    assert pooled["tau2"] == pytest.approx(4.6251, abs=1e-4) and pooled["q"] == pytest.approx(43.63, abs=0.01)
    assert pooled["estimate"] == pytest.approx(mu, abs=1e-12) and pooled["estimate"] == pytest.approx(-0.1237,
                                                                                                      abs=1e-4)
    assert paule_mandel_tau2(y, se**2) == pooled["tau2"]
    assert paule_mandel_tau2(np.array([0.3, 0.3, 0.3]), np.array([0.01, 0.04, 0.01])) == 0.0  # Q = 0


def test_paule_mandel_finds_a_tiny_root_at_once():
    """Two sites 0.1414 apart with variances 0.01: Q(tau^2) = d^2 / (2 (0.01 + tau^2)) = 1 at tau^2 =
    d^2 / 2 - 0.01, here 2e-10. The root-finder's absolute tolerance of 1e-15 had left it about 1e6 floats
    wide and the walk to its last float ran for minutes (a reviewer's probe; 77 s on seven sites with SEs
    of 1e-5); the test gives it 5 s."""
    import signal

    def too_slow(*_):
        raise TimeoutError("Paule-Mandel's root took more than 5 s")

    d = np.sqrt(0.02) * (1 + 1e-8)
    previous = signal.signal(signal.SIGALRM, too_slow)
    signal.alarm(5)
    try:
        tau2 = paule_mandel_tau2(np.array([0.3, 0.3 + d]), np.array([0.01, 0.01]))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert tau2 == pytest.approx(d**2 / 2 - 0.01, rel=1e-6)
    assert generalised_q(np.array([0.3, 0.3 + d]), np.array([0.01, 0.01]), tau2) >= 1.0


def test_one_site_is_its_own_result_and_two_sites_have_no_prediction_interval():
    one = pool_estimates([0.42], [0.1])
    assert (one["estimate"], one["std_error"], one["k_sites"]) == (0.42, 0.1, 1)
    assert one["ci_low"] == pytest.approx(0.42 - 1.959964 * 0.1) and np.isnan(one["tau"])
    assert one["method"] == ONE_SITE and "cannot be estimated" in heterogeneity_words(one)
    two = pool_estimates([0.3, 0.5], [0.1, 0.1])
    assert np.isnan(two["pi_low"]) and np.isfinite(two["ci_low"])
    assert "needs at least three" in heterogeneity_words(two)
    homogeneous = pool_estimates([0.3, 0.3, 0.3], [0.1, 0.2, 0.1])
    assert homogeneous["tau2"] == 0 and homogeneous["i2"] == 0
    # identical sites: HKSJ's variance is 0; the CI keeps the usual 1 / sum(w) (Roever et al. 2015)
    assert homogeneous["std_error"] == pytest.approx(1 / np.sqrt(100 + 25 + 100))


def bundle(site: str, estimate: float, *, status: str = ESTIMATED, plan: str = "a" * 64, key: str = "wai_sr",
           effects: bool = True, mean: float = 3.9, alpha: float | None = None, crit: float = Z) -> Bundle:
    """A hand-made bundle: the primary dropout effect (per SD and per point; its 95% CI +/- `crit` SE) and
    one secondary effect; with `alpha`, the reliability of the alliance total."""
    rows = pd.DataFrame([
        {"outcome": "dropout", "model": "logistic_glm_cluster_therapist", "predictor": "alliance_early",
         "scale": "log_odds", "analysis": "primary", "status": status, "estimate": estimate * 0.5,
         "std_error": 0.1, "ci_low": estimate * 0.5 - crit * 0.1, "ci_high": estimate * 0.5 + crit * 0.1,
         "n_patients": "200", "n_therapists": "20", "predictor_mean": mean, "predictor_sd": 0.5,
         "predictor_sd_relative_variance": 0.004, "estimate_per_point": estimate,
         "std_error_per_point": 0.18},
        {"outcome": "dropout", "model": "cox", "predictor": "alliance_prev", "scale": "log_hazard",
         "analysis": "secondary", "status": status, "estimate": estimate, "std_error": 0.2, "ci_low": -1.0,
         "ci_high": 1.0, "n_patients": "200", "n_therapists": "20", "predictor_mean": np.nan,
         "predictor_sd": np.nan, "predictor_sd_relative_variance": np.nan, "estimate_per_point": np.nan,
         "std_error_per_point": np.nan}])
    if status == SUPPRESSED:
        rows.loc[:, ["estimate", "std_error", "predictor_sd_relative_variance", "estimate_per_point",
                     "std_error_per_point"]] = np.nan
        rows[["n_patients", "n_therapists"]] = "<10"
    statuses = pd.DataFrame([{"key": "H2", "hypothesis": "H2", "family": "dropout", "analysis": "primary",
                              "outcome": "dropout", "model": "logistic_glm_cluster_therapist", "title": "",
                              "status": "not_estimable", "reason": "no patient dropped out", "flags": ""}])
    info = {"site": site, "plan_sha256": plan, "min_cell_size": 10, "config_sha256": "c" * 64,
            "instrument": {"key": key, "family": "wai" if key.startswith("wai") else key, "minimum": 1.0,
                           "maximum": 5.0 if key == "wai_sr" else 7.0, "score": "mean", "total": "mean"}}
    reliability = pd.DataFrame([{"role": "alliance", "instrument": key, "scale": "total", "n": "200",
                                 "n_items": 12, "alpha": alpha, "alpha_ci_low": 0.9, "alpha_ci_high": 0.95,
                                 "omega": alpha}] if alpha is not None else [])
    return Bundle(f"{site}.zip", rows if effects else rows.iloc[0:0], statuses, pd.DataFrame(), reliability,
                  pd.DataFrame(), info, {})


def test_sites_below_the_minimum_and_without_the_effect_are_shown_and_not_pooled():
    pooled, sites = pool_bundles([bundle("a", -0.8), bundle("b", -1.0, mean=4.1),
                                  bundle("c", -0.9, status=SUPPRESSED),
                                  bundle("d", 0.0, effects=False)])
    primary = pooled[pooled["analysis"] == "primary"].iloc[0]
    assert primary["metric"] == PER_POINT and primary["k_sites"] == 2
    assert (primary["k_suppressed"], primary["k_not_estimated"]) == (1, 1)
    expected = pool_estimates([-0.8, -1.0], [0.18, 0.18])
    assert primary["estimate"] == pytest.approx(expected["estimate"])
    # the SD of both sites' 200 + 200 patients together: ((199 x .25) x 2 + (200 x .1^2) x 2) / 399
    spread = np.sqrt((2 * 199 * 0.25 + 2 * 200 * 0.01) / 399)
    assert primary["combined_sd"] == pytest.approx(spread)
    assert primary["estimate_per_combined_sd"] == pytest.approx(expected["estimate"] * spread)
    # its SE holds the combined SD's sampling variance: Var(s) / s^2 = 2 x (199 / 399)^2 x .5^4 x .004 / s^4
    relative = 2 * (199 / 399) ** 2 * 0.5**4 * 0.004 / spread**4
    se = spread * np.sqrt(expected["std_error"] ** 2 + expected["estimate"] ** 2 * relative)
    assert primary["std_error_per_combined_sd"] == pytest.approx(se, rel=1e-12)
    multiplier = (expected["ci_high"] - expected["estimate"]) / expected["std_error"]
    high = expected["estimate"] * spread + multiplier * se
    assert primary["ci_high_per_combined_sd"] == pytest.approx(high)
    assert pooled[pooled["analysis"] == "secondary"].iloc[0]["metric"] == PER_SD
    rows = sites[sites["analysis"] == "primary"].set_index("site")
    assert rows.loc["c", "status"] == BELOW_MINIMUM and "fewer than 10" in rows.loc["c", "reason"]
    # d sent no effect: its own status and reason where its statuses have the model (it read "missing |
    # not_estimable: ..."), "missing" where they do not either
    assert (rows.loc["d", "status"], rows.loc["d", "reason"]) == ("not_estimable", "no patient dropped out")
    other = sites[sites["analysis"] == "secondary"].set_index("site")
    assert (other.loc["d", "status"], other.loc["d", "reason"]) == ("missing", "not in this site's results")
    assert pooled[pooled["analysis"] == "secondary"].iloc[0]["k_not_estimated"] == 1
    assert rows.loc[["a", "b"], "weight"].sum() == pytest.approx(1.0)


def test_the_sites_not_pooled_in_the_other_effects_are_named_with_their_reason():
    """The reviewer found a secondary effect's "2 of 4" sites with the reasons in sites.csv only: the report
    now lists, under the table of every pooled effect, each site not pooled in a non-primary effect with
    its status and reason (the primary effects' are under each of them); with every site pooled, none."""
    from alliance.network.report import pooled_report, unpooled_sites_html
    from alliance.report.format import label_cell
    from alliance.report.words import predictor_label

    bundles = [bundle("a", -0.8), bundle("b", -1.0, mean=4.1), bundle("c", -0.9, status=SUPPRESSED),
               bundle("d", 0.0, effects=False)]
    pooled, sites = pool_bundles(bundles)
    table = unpooled_sites_html(sites, {b.site: 10 for b in bundles})
    rows = re.findall(r"<tr>(.*?)</tr>", table)[1:]
    assert len(rows) == 2  # the secondary Cox effect: c below its minimum, d without it
    assert "<td>c</td><td>below the minimum cell size: " in rows[0] and "fewer than 10 patients" in rows[0]
    assert "<td>d</td><td>missing" in rows[1] and "dropout" not in re.findall(r"<td>(.*?)</td>", rows[1])[3]
    page = pooled_report(bundles, pooled, sites, *pool_benchmarks(bundles))
    assert "The sites not pooled in the other effects, and why:" in page and table in page
    assert "not quite the same quantity at each site" in page  # the per-SD rows' caveat
    assert unpooled_sites_html(pool_bundles(bundles[:2])[1], {}) == ""
    # one row per site, model and reason: a second predictor of d's model with the same reason joins its row
    missing = sites[sites["status"] == "missing"]
    joined = unpooled_sites_html(pd.concat([sites, missing.assign(predictor="alliance_mean")]),
                                 {b.site: 10 for b in bundles})
    rows = re.findall(r"<tr>(.*?)</tr>", joined)[1:]
    cells = re.findall(r"<td>(.*?)</td>", rows[1])
    assert len(rows) == 2 and cells[3] == "d" and cells[1].count("<br>") == 1
    assert cells[1] == "<br>".join(label_cell(predictor_label(p)) for p in (missing["predictor"].iloc[0],
                                                                               "alliance_mean"))
    # in another language the English reason is marked so and escaped once ("<10" read "&amp;lt;10")
    # (a site's own reason; the coordinator's reasons are translated: "no figura en els resultats")
    with use_language("ca"):
        table = unpooled_sites_html(sites, {b.site: 10 for b in bundles})
    assert "no figura en els resultats d&#39;aquest centre" in table and "not in this site" not in table
    missing = sites["status"] == "missing"
    sites.loc[missing, ["status", "reason"]] = ["refused", "nutrition has <10 therapists"]
    with use_language("ca"):
        table = unpooled_sites_html(sites, {b.site: 10 for b in bundles})
    assert '<span lang="en">nutrition has &lt;10 therapists</span>' in table and "&amp;" not in table


def test_one_bundle_pools_to_its_own_estimate():
    pooled, _ = pool_bundles([bundle("a", -0.8)])
    row = pooled[pooled["analysis"] == "primary"].iloc[0]
    assert (row["estimate"], row["std_error"], row["k_sites"]) == (-0.8, 0.18, 1)


def test_a_site_with_few_therapists_weighs_as_wide_as_its_own_interval():
    """A site of 3 therapists reports its effect on t(2) (a reviewer's such site, at normal width, carried
    the largest weight of three): pooled alone it keeps its own CI, and beside a site of 20 therapists it
    weighs by the SE its CI implies, (high - low) / (2 x 1.96)."""
    t2, t19 = stats.t.ppf(0.975, 2), stats.t.ppf(0.975, 19)
    pooled, sites = pool_bundles([bundle("few", -0.8, crit=t2)])
    row = pooled[pooled["analysis"] == "primary"].iloc[0]
    assert row["std_error"] == pytest.approx(0.18 * t2 / Z, rel=1e-12)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((-0.8 - t2 * 0.18, -0.8 + t2 * 0.18), rel=1e-12)
    pooled, sites = pool_bundles([bundle("few", -0.8, crit=t2), bundle("many", -1.0, crit=t19)])
    weights = sites[sites["analysis"] == "primary"].set_index("site")["weight"]
    assert weights["few"] / weights["many"] == pytest.approx((t19 / t2) ** 2, rel=1e-9)  # tau^2 = 0 here
    # a bootstrap's interval (not symmetric about the estimate) leaves the SE as it is
    assert interval_ratio([0.5], [0.1], [0.1], [0.6]).tolist() == [1.0]
    assert interval_ratio([0.5], [0.1], [0.5 - t2 * 0.1], [0.5 + t2 * 0.1]) == pytest.approx([t2 / Z])


def test_a_missing_slope_takes_its_own_models_status():
    """Site c fitted H2's moderation without osteopathy patients, and its H5a model of dropout (the same
    outcome, model and analysis) was not estimable: c's missing osteopathy slope once read "not_estimable:
    the bond score is recorded for no patient" (a reviewer's probe). It is missing: its model was fitted."""
    from dataclasses import replace

    from alliance.network.pooling import site_status

    made = bundle("c", -0.9)
    shared = {"family": "dropout", "analysis": "exploratory", "outcome": "dropout",
              "model": "logistic_glm_cluster_therapist", "title": "", "flags": ""}
    statuses = pd.DataFrame([
        shared | {"key": "H2-moderation", "hypothesis": "H2", "status": "fitted", "reason": ""},
        shared | {"key": "H5a-dropout", "hypothesis": "H5", "family": "dimensions", "status": "not_estimable",
                  "reason": "the bond score is recorded for no patient"}])
    c = replace(made, statuses=statuses)
    key = {"outcome": "dropout", "model": "logistic_glm_cluster_therapist", "analysis": "exploratory",
           "predictor": "alliance_early [osteopathy]"}
    assert site_status(c, key) == ("missing", "not in this site's results")
    refused = replace(made, statuses=statuses.assign(status=["refused", "not_estimable"],
                                                     reason=["nutrition has <10 therapists", "x"]))
    assert site_status(refused, key) == ("refused", "nutrition has <10 therapists")


def test_sites_of_other_outcome_measures_are_refused():
    """The satisfaction and symptom effects are in points of each site's own measure: a CSQ-8 site and a
    site with a 1-7 satisfaction form were pooled to "2.04 points per point" (a reviewer's probe). A site
    that names no symptom measure is not compared."""
    from dataclasses import replace

    def measured(site: str, satisfaction: str, symptoms: str = "") -> Bundle:
        made = bundle(site, -0.8 - 0.1 * "abc".index(site))  # other data: other estimates
        settings = {"satisfaction_instrument": satisfaction, "symptom_measure": symptoms}
        return replace(made, provenance=made.provenance | {"settings": settings})

    with pytest.raises(IncompatibleBundles, match=r"different satisfaction instrument: csq8 in a\.zip; "
                       r"custom_satisfaction in b\.zip: satisfaction effects are in points"):
        pool_bundles([measured("a", "csq8"), measured("b", "custom_satisfaction")])
    with pytest.raises(IncompatibleBundles, match=r"different symptom measure .*: OQ-45 in b\.zip; PHQ-9 in "
                       r"a\.zip"):
        pool_bundles([measured("a", "csq8", "PHQ-9"), measured("b", "csq8", "OQ-45")])
    pooled, _ = pool_bundles([measured("a", "csq8", "PHQ-9"), measured("b", "csq8"), measured("c", "csq8")])
    assert pooled.loc[pooled["analysis"] == "primary", "k_sites"].tolist() == [3]


def test_other_instrument_in_the_family_pools_per_sd_and_another_plan_or_family_is_refused():
    pooled, _ = pool_bundles([bundle("a", -0.8), bundle("b", -1.0, key="wai_s")])
    assert set(pooled["metric"]) == {PER_SD}
    # each refusal names the bundles, what differs and what to do, one line each
    with pytest.raises(IncompatibleBundles, match=r"analysis plan.*bbbbbbbbbbbb in b\.zip: every site must "
                       r"run the same ANALYSIS_PLAN\.md; agree on one version of the repository and re-run "
                       r"make share at the sites of the other plan\.$"):
        pool_bundles([bundle("a", -0.8), bundle("b", -1.0, plan="b" * 64)])
    with pytest.raises(IncompatibleBundles, match=r"instrument family: srs in b\.zip; wai in a\.zip: pool "
                       r"the bundles of each family separately \(make pool with only those BUNDLES\)\.$"):
        pool_bundles([bundle("a", -0.8), bundle("b", -1.0, key="srs")])
    with pytest.raises(IncompatibleBundles, match=r"site 'a' twice: a\.zip, a\.zip: give each site a label "
                       r"of its own \(make share SITE=label\), or leave the extra bundle out\.$"):
        pool_bundles([bundle("a", -0.8), bundle("a", -1.0)])


def test_the_same_data_under_two_labels_is_told_by_its_aggregates():
    """One site's results shared again under another label would count its patients twice. The bundle
    sends no fingerprint of a row-level table (a reviewer: the validated tables' SHA-256 confirms a guess
    at any cell), so the same data are told by what the bundle sends: the same reliability to the last
    digit (whatever the models' settings), or the same estimates."""
    told = (r"the same data twice .*: b\.zip, c\.zip: one site's results under two labels; pool one of "
            r"these bundles only\.$")
    with pytest.raises(IncompatibleBundles, match=told):  # the same estimates, no reliability sent
        pool_bundles([bundle("a", -0.8), bundle("b", -1.0), bundle("c", -1.0)])
    with pytest.raises(IncompatibleBundles, match=told):  # other covariates: other estimates, same alphas
        pool_bundles([bundle("a", -0.8, alpha=0.91), bundle("b", -1.0, alpha=0.9253328742),
                      bundle("c", -0.9, alpha=0.9253328742)])
    with pytest.raises(IncompatibleBundles) as both:  # both: said once
        pool_bundles([bundle("a", -0.8), bundle("b", -1.0, alpha=0.92), bundle("c", -1.0, alpha=0.92)])
    assert str(both.value).count("the same data twice") == 1
    pooled, _ = pool_bundles([bundle("a", -0.8, alpha=0.91), bundle("b", -1.0, alpha=0.92),
                              bundle("c", -0.95, alpha=0.9200000001)])  # the tenth digit differs
    assert pooled[pooled["analysis"] == "primary"].iloc[0]["k_sites"] == 3
    # a suppressed effect or reliability (no numbers) marks nothing
    pooled, _ = pool_bundles([bundle("a", -0.8), bundle("b", -1.0, status=SUPPRESSED),
                              bundle("c", -1.0, status=SUPPRESSED)])
    assert pooled[pooled["analysis"] == "primary"].iloc[0]["k_suppressed"] == 2


def test_heterogeneity_in_words_writes_numbers_as_the_report_does(bcg):
    """Q's p in running text as APA writes it: "p < .001" (it once read "p = < .001"), else "p = .939";
    tau and the prediction interval in two decimals, as the estimate (they had three significant digits)."""
    words = heterogeneity_words(pool_estimates(*[list(v) for v in (bcg[0], np.sqrt(bcg[1]))]))
    assert ("(I\u00b2 = 92%, 95% CI [82%, 98%]; tau = 0.56, 95% CI [0.35, 1.05]; Q = 152.23 on 12 df, "
            "p < .001)") in words and "p = <" not in words
    assert "expected between -2.02 and 0.59 (95% prediction interval)" in words
    assert "on 2 df, p = .939)" in heterogeneity_words(pool_estimates([0.3, 0.35, 0.32], [0.1, 0.1, 0.1]))


def test_a_primary_effect_no_site_estimated_is_named_with_each_sites_reason(tmp_path):
    """Pooling sites where nobody dropped out: the report once left the dropout effect out without a word
    (and said "Pooled 1 bundles"); now it names it, with each site's status and reason."""
    from alliance.network.report import pooled_report, unestimated_primaries

    bundles = [bundle("a", -0.8, effects=False), bundle("b", -1.0)]
    pooled, sites = pool_bundles(bundles)
    assert set(pooled.loc[pooled["analysis"] == "primary", "outcome"]) == {"dropout"}  # b sent it
    only = [bundle("a", -0.8, effects=False)]
    pooled, sites = pool_bundles(only)
    missing = dict(unestimated_primaries(only, pooled))
    assert missing == {"attendance": [("a", "missing", "not in this site's results")],
                       "dropout": [("a", "not_estimable", "no patient dropped out")],
                       "satisfaction": [("a", "missing", "not in this site's results")]}
    page = pooled_report(only, pooled, sites, *pool_benchmarks(only))
    assert page.count("No site could estimate this effect, so nothing was pooled:") == 3
    assert "<li>a: not estimable: no patient dropped out</li>" in page
    assert "<h1>Pooled results across 1 site</h1>" in page


def test_the_benchmark_names_the_sites_that_sent_none():
    """A site whose dropout model was not fitted sends no d: the pooled benchmark once said "over 2 sites"
    of three without naming the third."""
    from dataclasses import replace

    from alliance.network.report import pooled_report

    def d(estimate: float) -> pd.DataFrame:
        return pd.DataFrame([{"benchmark": "alliance_dropout", "metric": "d, completers minus dropouts",
                              "estimate": estimate, "ci_low": estimate - 0.2, "ci_high": estimate + 0.2,
                              "n": 200, "benchmark_value": 0.55, "benchmark_ci_low": np.nan,
                              "benchmark_ci_high": np.nan, "source": "Sharf, Primavera & Diener (2010)"}])

    bundles = [replace(bundle("a", -0.8), benchmarks=d(0.5)), replace(bundle("b", -1.0), benchmarks=d(0.6)),
               bundle("c", -0.9)]
    pooled, sites = pool_bundles(bundles)
    page = pooled_report(bundles, pooled, sites, *pool_benchmarks(bundles))
    assert ("over 2 sites; published 0.55 (Sharf, Primavera &amp; Diener, 2010). The published value lies "
            "within the pooled 95% CI. Not sent by c (the model that computes it was not estimated there; "
            "the sites&#x27; statuses say why).") in page
    # in Spanish the source is escaped once ("&amp;amp;" once showed "&amp;" and lost its reference)
    with use_language("es"):
        spanish = pooled_report(bundles, pooled, sites, *pool_benchmarks(bundles))
    assert "publicado: 0,55 (Sharf, Primavera y Diener, 2010)" in spanish and "&amp;amp;" not in spanish
    assert "Sharf, J., Primavera, L. H., &amp; Diener" in spanish


def test_an_effect_no_site_could_pool_is_not_shown_as_a_result():
    """Two sites both below their minimum cell size: the report once read "Pooled NA log OR ... over 0
    sites" and, for their d, "The published value lies outside the pooled 95% CI" (a comparison with NaN);
    the console's summary did not name the effect. Now the effect is named with each site's status and the
    coordinator's reason in the report's language, the benchmark has no verdict and the sites that sent
    it without numbers are named (a reviewer's probe)."""
    from dataclasses import replace

    from alliance.network.report import pooled_report, unpooled_primaries

    def d(estimate: float) -> pd.DataFrame:
        return pd.DataFrame([{"benchmark": "alliance_dropout", "metric": "d, completers minus dropouts",
                              "estimate": estimate, "ci_low": estimate - 0.2, "ci_high": estimate + 0.2,
                              "n": "<10", "benchmark_value": 0.55, "benchmark_ci_low": np.nan,
                              "benchmark_ci_high": np.nan, "source": "Sharf, Primavera & Diener (2010)"}])

    bundles = [replace(bundle(site, -0.8, status=SUPPRESSED), benchmarks=d(np.nan)) for site in ("a", "b")]
    pooled, sites = pool_bundles(bundles)
    assert pooled.loc[pooled["analysis"] == "primary", "k_sites"].tolist() == [0]
    assert unpooled_primaries(bundles, pooled) == ["attendance", "dropout", "satisfaction"]
    page = pooled_report(bundles, pooled, sites, *pool_benchmarks(bundles))
    assert "Pooled NA" not in page and "NA to NA" not in page and "over 0 sites" not in page
    assert "lies outside" not in page
    assert page.count("No site sent an estimate that could be pooled, so nothing was pooled:") == 1
    assert "<li>a: below the minimum cell size: fewer than 10 patients</li>" in page
    assert ("no site sent this statistic with numbers, so there is nothing to compare it with. Sent without "
            "numbers by a, b (the statistic rests on fewer patients") in page
    with use_language("es"):
        spanish = pooled_report(bundles, pooled, sites, *pool_benchmarks(bundles))
    assert "fewer than 10 patients" not in spanish and "menos de 10 pacientes" in spanish


def test_the_settings_note_names_what_differs_and_only_the_analysis_counts(default_config):
    """Sites whose report language or synthetic seed differ run the same analysis (a reviewer's three sites
    of different seeds read "the sites' analysis settings differ" with identical settings); the note names
    each analysis setting that differs, with each site's value."""
    from dataclasses import replace

    from alliance.network.bundle import analysis_settings, config_digest
    from alliance.network.report import settings_note

    other = copy.deepcopy(default_config)
    other["report"]["language"], other["synthetic"]["seed"], other["data"]["patients"] = "ca", 7, "x.csv"
    assert config_digest(other) == config_digest(default_config)
    other["features"]["early_window"] = 4
    assert config_digest(other) != config_digest(default_config)
    bundles = [replace(bundle(site, -0.8), provenance=bundle(site, -0.8).provenance
                       | {"analysis_settings": analysis_settings(config)})
               for site, config in (("a", default_config), ("b", other))]
    assert settings_note(bundles) == (
        "The sites' analysis settings differ in 1 setting: features.early_window (a 3, b 4). Read the pooled "
        "effects with this in mind: the sites did not run the same analysis.")
    assert "compare their configurations" in settings_note([bundle("a", -0.8), bundle("b", -1.0)])
    mine = copy.deepcopy(default_config)
    mine["instruments"]["alliance"] = "/home/dr_x/forms/clinic.yaml"  # the site's folders stay there
    assert analysis_settings(mine)["instruments.alliance"] == '"clinic.yaml"'


def test_no_heterogeneity_found_among_few_sites_is_not_called_unimportant():
    """tau^2 at 0 (Q below its df) with three sites: "no variation beyond chance was found", which three
    sites cannot rule out (it read "the heterogeneity might not be important"), and a prediction interval
    that holds the pooled estimate's own uncertainty only (on t(1) with three sites; it said "wide" also
    where, with ten sites, it was barely wider than the CI)."""
    row = pool_estimates([0.50, 0.52, 0.48], [0.1, 0.1, 0.1])
    assert row["tau"] == 0 and row["q"] <= 2
    text = heterogeneity_words(row | {"k_sites": 3})
    assert text.startswith("Across 3 sites no variation beyond chance was found (I\u00b2 = 0%, 95% CI "
                           "[0%, 37%]; tau = 0.00, 95% CI [0.00, 0.08]")
    assert "with 3 sites that does not rule it out" in text and "might not be important" not in text
    assert text.endswith("With tau at 0, it holds only the pooled estimate's own uncertainty (on t with 1 "
                         "df), not differences between sites.")
    spread = pool_estimates([0.1, 0.9, 0.5, -0.3], [0.1, 0.1, 0.1, 0.1])
    assert "the heterogeneity is considerable" in heterogeneity_words(spread | {"k_sites": 4})
    assert "says little" not in heterogeneity_words(spread | {"k_sites": 4})
    # three sites that differ: the interval on t(1) (a reviewer's read -6.97 to 7.98) is said to say little
    three = pool_estimates([0.1, 0.9, -0.3], [0.1, 0.1, 0.1])
    assert heterogeneity_words(three).endswith(
        "With three sites it rests on t with 1 degree of freedom (12.7 times its standard error), so it "
        "says little about a new site.")


def test_a_pooled_primary_effect_is_said_as_the_sites_say_it():
    """The pooled report gave only "0.53 log OR per point" where each site's report gives an odds ratio per
    SD and the direction: per SD of all the sites' patients (its CI from the pooling,
    `per_combined_sd`), by hand: exp(0.3) = 1.35, exp(0.3 -/+ 4.303 x 0.06) = 1.04, 1.75."""
    from alliance.network.report import combined_sd_words, direction_words, instrument_words

    t2 = stats.t.ppf(0.975, 2)
    row = {"outcome": "attendance", "metric": PER_POINT, "scale": "log_odds", "estimate": 0.5,
           "std_error": 0.1, "ci_low": 0.5 - t2 * 0.1, "ci_high": 0.5 + t2 * 0.1, "combined_sd": 0.6,
           "estimate_per_combined_sd": 0.3, "std_error_per_combined_sd": 0.06,
           "ci_low_per_combined_sd": 0.3 - t2 * 0.06, "ci_high_per_combined_sd": 0.3 + t2 * 0.06}
    assert combined_sd_words(row) == ("Per SD of alliance across all the sites' patients (0.60 points of the "
                                      "instrument), an odds ratio of 1.35 (95% CI 1.04 to 1.75).")
    assert combined_sd_words(row | {"metric": PER_SD}) == ""
    assert "1.80 points (95% CI 0.77 to 2.83)" in combined_sd_words(
        row | {"scale": "points", "estimate_per_combined_sd": 1.8, "ci_low_per_combined_sd": 1.8 - t2 * 0.24,
               "ci_high_per_combined_sd": 1.8 + t2 * 0.24})
    assert direction_words(row) == "A better alliance went with more attendance; the CI excludes zero."
    dropout = row | {"outcome": "dropout", "estimate": -0.5, "ci_low": -0.9, "ci_high": -0.1}
    assert direction_words(dropout) == "A better alliance went with less dropout; the CI excludes zero."
    assert direction_words(row | {"ci_low": -0.1}) == ""
    wai = {"key": "wai_sr", "name": "Working Alliance Inventory - Short Revised (client)"}
    assert instrument_words(wai) == "Working Alliance Inventory - Short Revised (client)"
    with use_language("es"):
        assert instrument_words(wai).startswith("Inventario de Alianza de Trabajo")
        assert "odds ratio de 1,35" in combined_sd_words(row)
    assert instrument_words({"key": "mine", "name": "Our form"}) == "Our form"


def test_the_sites_behind_a_pooled_effect_are_listed_with_their_patients_and_weights():
    """A coordinator read no site's size or weight in the pooled report (they were in sites.csv only)."""
    from alliance.network.report import site_table

    pooled, sites = pool_bundles([bundle("a", -0.8), bundle("b", -1.0),
                                  bundle("c", -0.9, status=SUPPRESSED), bundle("d", 0.0, effects=False)])
    row = pooled[pooled["analysis"] == "primary"].iloc[0].to_dict()
    effect_sites = sites[sites["analysis"] == "primary"]
    table = site_table(effect_sites, row)
    # as read back from sites.csv the counts are numbers (380.0 once showed): whole numbers all the same
    counts = site_table(effect_sites.assign(n_patients=[1200.0, 200.0, "<10", ""]), row)["Patients"]
    assert counts.tolist() == ["1,200", "200", "<10", "", "1,400"]
    assert list(table.columns) == ["Site", "Patients", "Estimate [95% CI]", "Weight"]
    assert table["Site"].tolist() == ["a", "b", "c", "d", "pooled"]
    assert table["Patients"].tolist() == ["200", "200", "<10", "", "400"]  # d sent nothing
    assert table["Weight"].tolist() == ["50%", "50%", "below the minimum cell size", "not estimable", "100%"]
    with use_language("es"):
        assert site_table(effect_sites, row).iloc[3, 3] == "no estimable"
    estimates = table["Estimate [95% CI]"]
    assert estimates.iloc[0].startswith("-0.80 [") and estimates.iloc[2] == ""


def test_one_site_pooled_alone_keeps_its_own_interval():
    """ANALYSIS_PLAN.md section 11: one site pools to its own estimate and CI. A reviewer's single site read
    d = 0.901 [0.274, 1.528] in the pooled benchmarks where its own is [0.299, 1.553] (the d's CI is not
    symmetric about the d, and the pooling rebuilt it as +/- 1.96 SE); a sensitivity effect's bootstrap CI
    likewise. With two sites the pooled CI is the HKSJ one."""
    from dataclasses import replace

    d = pd.DataFrame([{"benchmark": "alliance_dropout", "metric": "d, completers minus dropouts",
                       "estimate": 0.901, "ci_low": 0.299, "ci_high": 1.553, "n": 112,
                       "benchmark_value": 0.55, "benchmark_ci_low": np.nan, "benchmark_ci_high": np.nan,
                       "source": "Sharf (2010)"}])
    single = replace(bundle("a", -0.8), benchmarks=d)
    row = pool_benchmarks([single])[0].iloc[0]
    assert (row["k_sites"], row["estimate"], row["ci_low"], row["ci_high"]) == (1, 0.901, 0.299, 1.553)
    pooled, _sites = pool_bundles([single])
    cox = pooled[pooled["analysis"] == "secondary"].iloc[0]  # -0.8 [-1.0, 1.0]: not +/- 1.96 x 0.2
    assert (cox["estimate"], cox["ci_low"], cox["ci_high"]) == (-0.8, -1.0, 1.0)
    two = pool_benchmarks([single, replace(bundle("b", -1.0), benchmarks=d.assign(estimate=0.7))])[0].iloc[0]
    assert two["k_sites"] == 2 and two["ci_low"] < 0.299
    # and per SD: the site's own estimate, SE and CI (a reviewer's single site read OR 1.55 [1.34, 1.80]
    # per SD in the pooled report, its own report 1.55 [1.33, 1.81]: the pooling took its SD as known)
    primary = pooled[pooled["analysis"] == "primary"].iloc[0]
    own = single.effects.iloc[0]
    names = ("estimate", "std_error", "ci_low", "ci_high")
    assert [primary[f"{name}_per_combined_sd"] for name in names] == [own[name] for name in names]


def test_a_network_where_no_site_sent_the_one_stage_sums_says_so_once():
    """The one-stage sums are off by default: where no site sent them the pooled report says so once,
    not under every primary effect naming every site; where a site sent them but not for this model, the
    effect's own sentence says why."""
    from alliance.network.pooling import one_stage_table
    from alliance.network.report import pooled_report

    off = {outcome: {"status": "withheld", "reason": "not_enabled"}
           for outcome in ("attendance", "dropout", "satisfaction")}
    cases = ((("not_enabled", "not_enabled"), 1, 0), (("not_enabled", "few_patients"), 0, 1))
    for reasons, once, each in cases:
        bundles = [bundle("a", -0.8), bundle("b", -1.0, mean=4.1)]
        for item, reason in zip(bundles, reasons, strict=True):
            item.aggregates = {outcome: entry | {"reason": reason} for outcome, entry in off.items()}
        pooled, sites = pool_bundles(bundles)
        page = pooled_report(bundles, pooled, sites, *pool_benchmarks(bundles), one_stage_table(bundles))
        assert page.count("No site sent the sums from which all the sites") == once
        assert page.count("No analysis of all the sites") == each  # the dropout effect's sentence
