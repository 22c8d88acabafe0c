"""Sensitivity analyses: Rubin's rules, winsorizing, the therapist bootstrap (its refit reproduces each
primary fit; separated refits), multiple imputation, variants not computed (listed, never NaN rows), and
the satisfaction ceiling and proportional-odds model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels
from scipy import stats
from scipy.special import expit
from statsmodels.imputation.mice import MICEData
from test_models import COVARIATES, pipeline_features

from alliance import errors
from alliance.errors import NotEstimable
from alliance.ingest.contract import validate_tables
from alliance.io import read_json, write_json
from alliance.models import fit_family
from alliance.models import sensitivity as sensitivity_module
from alliance.models.common import independent_columns
from alliance.models.dropout import dropout_design
from alliance.models.effects import EFFECT_COLUMNS
from alliance.models.satisfaction import ORDINAL_MODEL, ceiling_check, fit_ordered_logit, fit_satisfaction
from alliance.models.sensitivity import (
    ORDINAL_VARIANT,
    PRIMARY_VARIANT,
    SEPARATED,
    THERAPIST_MEAN,
    TherapistMeansMICEData,
    bootstrap_counts,
    bootstrap_row,
    cluster_bootstrap,
    complete_data_df,
    fit_primary,
    imputation_frame,
    impute_features,
    pooled_row,
    refit,
    resampling,
    sensitivity_analyses,
    window_features,
    winsorize,
    within_therapist,
)
from alliance.scoring.scores import score_patients, score_sessions
from alliance.simulation.synthetic import synthesize

UCLA = Path(statsmodels.__file__).parent / "miscmodels/tests/results/ologit_ucla.csv"
SETTINGS = {"imputations": 5, "seed": 7, "windows": [2, 3, 4], "winsor_percentiles": [5, 95], "bootstrap": 30}
FAILURE_KEYS = ["variant", "outcome", "model", "status", "reason", "reason_message"]


def assert_finite(table: pd.DataFrame) -> None:
    """Every numeric cell of a sensitivity table is a finite number (no NaN rows of failed variants)."""
    numeric = table[[c for c in EFFECT_COLUMNS if c not in ("outcome", "model", "predictor", "scale",
                                                             "analysis")]]
    assert np.isfinite(numeric.to_numpy(dtype=float)).all()


@pytest.fixture(scope="module")
def cohort(default_config, wai_sr, csq8):
    """200 patients of 16 therapists: the features and the validated, scored tables they come from."""
    cfg = default_config["synthetic"] | {"n_patients": 200, "n_therapists": 16, "truth_multiplier": 1}
    patients, sessions, outcomes, _ = synthesize(cfg, 3, COVARIATES)
    raw = {"patients": patients, "sessions": sessions, "outcomes": outcomes}
    v = validate_tables(raw, {k: f"{k}.csv" for k in raw}, wai_sr, satisfaction=csq8)
    tables = {"patients": v.patients, "outcomes": v.outcomes,
              "session_scores": score_sessions(v.sessions, wai_sr),
              "patient_scores": score_patients(v.outcomes, csq8)}
    return pipeline_features((patients, sessions, outcomes), wai_sr, csq8), tables


# Building blocks on hand-computed cases ----------------------------------------------------------------


def test_winsorize_hand_case():
    values = pd.Series([*range(1, 22), np.nan], dtype=float)  # 21 values: 5th pct = 2, 95th = 20
    clipped, low, high = winsorize(values, 5, 95)
    assert (low, high) == (2.0, 20.0)
    assert clipped.iloc[0] == 2 and clipped.iloc[20] == 20 and np.isnan(clipped.iloc[21])
    assert clipped.iloc[1:20].tolist() == values.iloc[1:20].tolist()
    with pytest.raises(ValueError, match="percentiles"):
        winsorize(values, 95, 5)


def test_independent_columns_drop_an_absent_category_and_the_redundant_indicator():
    x = np.column_stack([np.ones(4), [0.1, -0.2, 0.3, 0.4], [1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 0, 0]])
    # Columns 2 and 3 add up to the intercept (the reference category is absent); column 4 is empty.
    assert independent_columns(x, first=(0, 1)).tolist() == [True, True, True, False, False]
    rng = np.random.default_rng(2)
    z = rng.normal(size=(500, 2))
    x = np.column_stack([np.ones(500), z, 2 * z[:, 0] - 3, z[:, 1] + 1e-4 * rng.normal(size=500)])
    # An exact combination (column 3) goes; a nearly collinear column that is not exact stays.
    assert independent_columns(x).tolist() == [True, True, True, False, True]


def test_ceiling_check_hand_case():
    check = ceiling_check(pd.Series([32, 32, 31, 20, 8, np.nan, 32 - 1e-9]), (8, 32))
    assert check["n"] == 6 and check["n_at_maximum"] == 3 and check["n_at_minimum"] == 1
    assert check["share_at_maximum"] == pytest.approx(0.5)
    assert check["share_at_minimum"] == pytest.approx(1 / 6)
    assert check["ceiling_effect"] and check["floor_effect"]  # both above 15%
    check = ceiling_check(pd.Series([32, 31, 30, 29, 28, 27, 26.0]), (8, 32))
    assert check["share_at_maximum"] == pytest.approx(1 / 7) and not check["ceiling_effect"]
    check = ceiling_check(pd.Series([33.0, 20.0]), (8, 32))  # not this instrument's range
    assert check["outside_range"] == 1 and check["share_at_maximum"] is None


# The proportional-odds model ---------------------------------------------------------------------------


def test_ordered_logit_reproduces_r_polr_on_the_ucla_example():
    """UCLA ologit example (apply ~ pared + public + gpa), R MASS::polr values shipped with statsmodels."""
    data = pd.read_csv(UCLA)
    data["apply"] = pd.Categorical(data["apply"], ordered=True,
                                   categories=["unlikely", "somewhat likely", "very likely"])
    fit = fit_ordered_logit("apply ~ pared + public + gpa", data)
    terms = ["pared", "public", "gpa"]
    assert fit.params[terms].to_numpy() == pytest.approx([1.04769011, -0.05878572, 0.61594057], abs=5e-4)
    assert fit.bse[terms].to_numpy() == pytest.approx([0.2658, 0.2979, 0.2606], rel=5e-3)
    thresholds = fit.model.transform_threshold_params(fit.params.to_numpy())[1:-1]
    assert thresholds == pytest.approx([2.203915, 4.299363], abs=2e-3)
    options = {"cov_type": "cluster", "cov_kwds": {"groups": np.arange(400) // 10}}
    clustered = fit_ordered_logit("apply ~ pared + public + gpa", data, options=options)
    assert clustered.params[terms].to_numpy() == pytest.approx(fit.params[terms].to_numpy(), abs=1e-8)
    assert clustered.cov_type == "cluster"
    assert not np.allclose(clustered.bse[terms], fit.bse[terms])


def test_fit_satisfaction_reports_the_ceiling_and_the_ordinal_sensitivity_row(cohort):
    features, _ = cohort
    result = fit_satisfaction(features, COVARIATES)
    lmm, ordinal = result.effects
    analysed = features.dropna(subset=["satisfaction", "alliance_mean"])
    assert result.extra["ceiling"]["maximum"] == 32  # the CSQ-8's maximum, from its definition
    assert result.extra["ceiling"]["n"] == len(analysed) == lmm["n_patients"]
    at_maximum = (analysed["satisfaction"] == 32).mean()
    assert result.extra["ceiling"]["share_at_maximum"] == pytest.approx(at_maximum)
    assert (lmm["analysis"], lmm["scale"]) == ("primary", "points")
    assert (ordinal["analysis"], ordinal["scale"]) == ("sensitivity", "log_odds")
    assert ordinal["model"] == "ordinal_logit_cluster_therapist" and ordinal["ci_low"] > 0
    assert abs(ordinal["r"] - lmm["r"]) < 0.1  # the same association on the latent and the points scale
    given = fit_satisfaction(features, COVARIATES, score_range=(0, 40)).extra["ceiling"]
    assert given["instrument"] == "given" and given["n_at_maximum"] == 0


def test_an_ordinal_model_whose_totals_the_alliance_orders_is_separated_in_words(cohort):
    """30 patients whose satisfaction totals (28, 30, 32) rise with their alliance, ten each: the
    proportional-odds likelihood has no maximum, and BFGS reported convergence at 1,538 log-odds per SD
    (SE 820), a row with status `fitted`. It is now refused as separation, in words."""
    features, _ = cohort
    patients = features.dropna(subset=["satisfaction", "alliance_mean"]).sort_values("alliance_mean").head(30)
    patients = patients.assign(satisfaction=np.repeat([28.0, 30.0, 32.0], 10))
    result = fit_satisfaction(patients, [])
    status = next(s for s in result.statuses if s["key"].endswith("ordinal"))
    assert status["status"] == errors.SEPARATION
    assert status["reason"] == ("quasi-complete separation: the predictors together predict satisfaction "
                                "with certainty for some patients")
    assert ORDINAL_MODEL not in {row["model"] for row in result.effects}


# The therapist bootstrap -------------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["adherence", "dropout", "satisfaction"])
def test_cluster_bootstrap_is_deterministic_and_brackets_the_estimate(cohort, family):
    features, _ = cohort
    first = cluster_bootstrap(family, features, COVARIATES, draws=40, seed=[3, 1])
    again = cluster_bootstrap(family, features, COVARIATES, draws=40, seed=[3, 1])
    other = cluster_bootstrap(family, features, COVARIATES, draws=5, seed=[4, 1])
    assert np.array_equal(first["estimates"], again["estimates"])
    assert not np.array_equal(first["estimates"][:5], other["estimates"])
    assert bootstrap_counts(first) == {"draws": 40, "used": 40, "failed": 0, "separated": 0, "reasons": {}}
    row, primary = bootstrap_row(first), first["row"]
    assert row == bootstrap_row(again)
    assert row["estimate"] == primary["estimate"]  # the point estimate stays the original fit's
    assert row["ci_low"] < row["estimate"] < row["ci_high"]
    # The bootstrap SD and the cluster-robust SE measure the same uncertainty.
    assert 0.5 < row["std_error"] / primary["std_error"] < 2


@pytest.mark.parametrize("family", ["adherence", "dropout", "satisfaction"])
def test_the_identity_resample_reproduces_the_primary_estimate(cohort, family):
    """Every therapist once, in order: the bootstrap's refit is the primary estimator itself (the binomial
    GLM with each patient's trials, the logistic GLM, the random-intercept REML), to 1e-8."""
    features, _ = cohort
    boot = resampling(family, features, COVARIATES)
    assert refit(boot, np.arange(len(boot.members))) == pytest.approx(boot.row["estimate"], rel=0, abs=1e-8)
    if family == "adherence":  # the response is successes and failures, with unequal trials
        assert boot.y.shape[1] == 2 and np.ptp(boot.y.sum(axis=1)) > 0


def test_a_bootstrap_without_spread_gives_no_standard_error(cohort):
    """One therapist: every resample is that therapist, so the bootstrap is refused in words before any
    draw (it ended in a ZeroDivisionError, the draws' SD being 0). Draws that all gave one estimate (a
    bootstrap dict as `cluster_bootstrap` returns it) have no SE either."""
    features, _ = cohort
    solo = features.assign(therapist_id="T001")
    with pytest.raises(NotEstimable) as refused:
        cluster_bootstrap("satisfaction", solo, COVARIATES, draws=5, seed=1)
    assert refused.value.status == errors.REFUSED
    assert refused.value.reason == ("1 therapist in the analysis sample: a therapist bootstrap would draw "
                                    "the same therapist every time")
    # two therapists (a reviewer's probe): 3 distinct resamples whatever B, "[0.31, 0.40], p < .001" beside
    # the complete-case row's [-0.69, 1.31]; refused below the 10 of H5's bootstrap, as H5c is
    pair = features.assign(therapist_id=np.where(features.index % 2 == 0, "T001", "T002"))
    nine = features.assign(therapist_id=[f"T{i % 9:03d}" for i in range(len(features))])
    for few, count in ((pair, 2), (nine, 9)):
        with pytest.raises(NotEstimable) as refused:
            cluster_bootstrap("adherence", few, COVARIATES, draws=5, seed=1)
        assert (refused.value.status, refused.value.reason) == (
            errors.REFUSED, f"{count} therapists in the analysis sample (fewer than 10): a therapist "
                            "bootstrap would resample too few clusters for a confidence interval")
    boot = cluster_bootstrap("satisfaction", features, COVARIATES, draws=3, seed=1)
    flat = boot | {"estimates": np.full(3, boot["row"]["estimate"])}
    with pytest.raises(NotEstimable, match="every one of the 3 therapist resamples refitted gave the same"):
        bootstrap_row(flat)

def few_dropouts(features: pd.DataFrame) -> pd.DataFrame:
    """The cohort with one dropout per therapist, except that in each of the two smallest disciplines
    only one therapist has one: resamples that draw only its other therapist are separated."""
    first = dropout_design(features, COVARIATES).data.groupby("therapist_id").head(1)
    small = first["discipline"].isin(first["discipline"].value_counts().index[-2:])
    events = first[~small].index.union(first[small].groupby("discipline").head(1).index)
    reset = features.assign(dropout=features["dropout"].where(features["dropout"].isna(), False))
    reset.loc[events, "dropout"] = True
    return reset


@pytest.mark.parametrize("family", ["adherence", "satisfaction"])
def test_the_bootstrap_takes_a_primary_fit_made_already(cohort, family):
    """Given the primary fit's row and design (the sensitivity analyses' reference fit), the bootstrap
    does not fit it again and draws the same refits."""
    features, _ = cohort
    row, design, _ = fit_primary(family, features, COVARIATES, analysis="primary")
    given = cluster_bootstrap(family, features, COVARIATES, draws=20, seed=1, primary=(row, design))
    fitted = cluster_bootstrap(family, features, COVARIATES, draws=20, seed=1)
    assert given["row"] == fitted["row"] and given["failures"] == fitted["failures"]
    np.testing.assert_array_equal(given["estimates"], fitted["estimates"])


def test_separated_refits_are_counted_and_left_out_of_every_bootstrap_statistic(cohort, monkeypatch):
    features = few_dropouts(cohort[0])
    result = cluster_bootstrap("dropout", features, COVARIATES, draws=40, seed=1)
    counts = bootstrap_counts(result)
    assert counts["separated"] > 0 and counts["reasons"] == {str(SEPARATED): counts["separated"]}
    assert counts["used"] + counts["failed"] == 40 and counts["failed"] == counts["separated"]
    # The same draws by hand: the estimates kept are exactly those of the refits that succeeded.
    boot, rng, used = resampling("dropout", features, COVARIATES), np.random.default_rng(1), []
    for _ in range(40):
        drawn = rng.integers(0, len(boot.members), len(boot.members))
        try:
            used.append(refit(boot, drawn))
        except NotEstimable as error:
            assert (error.status, error.message) == (errors.SEPARATION, SEPARATED)
    assert np.array_equal(result["estimates"], used) and len(used) == counts["used"]
    # Under 90% used: no row, and why in words.
    with pytest.raises(NotEstimable) as refused:
        bootstrap_row(result)
    assert refused.value.status == errors.SEPARATION
    assert refused.value.reason == (f"only {counts['used']} of 40 therapist resamples could be refitted "
                                    f"({counts['separated']} separated)")
    monkeypatch.setattr(sensitivity_module, "MIN_BOOTSTRAP_SUCCESS", 0.3)
    row = bootstrap_row(result)
    se = np.std(used, ddof=1)
    assert row["std_error"] == pytest.approx(se, rel=1e-12)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(tuple(np.percentile(used, [2.5, 97.5])))
    assert row["p_value"] == pytest.approx(2 * stats.norm.sf(abs(row["estimate"]) / se))


# Multiple imputation -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_multiple_imputation_recovers_what_complete_cases_lose(default_config, wai_sr, csq8):
    """Satisfaction made missing at random given an observed variable (dropout) that depends on
    satisfaction: complete cases attenuate the slope, imputation using dropout recovers it. The truth
    is the estimate from the data before any value was removed."""
    cfg = default_config["synthetic"] | {"n_patients": 800, "n_therapists": 40, "truth_multiplier": 1,
                                         "seed": 5}
    cfg["missing"] = cfg["missing"] | {"satisfaction_completer": 0.0, "satisfaction_dropout": 0.0}
    *tables, _ = synthesize(cfg, 3, COVARIATES)
    features = pipeline_features(tables, wai_sr, csq8)
    full = fit_primary("satisfaction", features, COVARIATES)[0]["estimate"]
    rng = np.random.default_rng(1)
    satisfaction = features["satisfaction"]
    low = satisfaction + rng.normal(0, 2, len(features)) < satisfaction.quantile(0.35)
    missing = rng.random(len(features)) < np.where(low, 0.85, 0.05)
    observed = features.assign(dropout=pd.array(low, dtype="boolean"),
                               satisfaction=satisfaction.mask(missing))
    complete = fit_primary("satisfaction", observed, COVARIATES)[0]
    copies, imputed, variables = impute_features(observed, COVARIATES, 10, seed=2)
    assert imputed == ["satisfaction"] and "dropout" in variables
    assert all(c["satisfaction"].notna().all() for c in copies)
    assert all(c.loc[~missing, "satisfaction"].equals(observed.loc[~missing, "satisfaction"]) for c in copies)
    pooled, info = pooled_row("satisfaction", copies, COVARIATES)
    assert abs(complete["estimate"] - full) > 0.15  # complete cases are clearly biased here
    assert abs(pooled["estimate"] - full) < 0.7 * abs(complete["estimate"] - full)
    assert pooled["ci_low"] < full < pooled["ci_high"]
    assert pooled["n_patients"] > complete["n_patients"]
    assert 0 < info["lambda"] < 1 and info["failed_imputations"] == 0


@pytest.mark.slow
def test_imputation_keeps_the_therapist_variance_of_satisfaction(default_config, wai_sr, csq8):
    """Planted: a therapist SD of 1.4 CSQ-8 points (variance about 2) in 1,600 patients of 128
    therapists; satisfaction removed at random given mean alliance and dropout (about 35%). The
    therapist variance of the satisfaction mixed model (mean over the imputations) stays near the
    complete-data value, and the pooled CI covers the complete-data effect.

    Measured on this cohort: complete data 2.400, complete cases 2.485; imputation without the therapist
    level (before this change: predictive mean matching, no therapist means) 1.041, with it 2.378. Over
    cohorts 1-20 of this design the relative deviation was -0.60 (-0.68 to -0.54, cohorts 1-10) before
    and -0.05 (SD 0.11, -0.23 to +0.13) after, that of complete cases -0.02 (SD 0.11): the deleted
    values take their information with them, so the tolerance is 25% (2.4 SD of that spread), which
    the previous imputation misses by more than half. The pooled CI covered the complete-data effect in
    18 of those 20 cohorts (6 of 10 before)."""
    cfg = default_config["synthetic"] | {"n_patients": 1600, "n_therapists": 128, "truth_multiplier": 1,
                                         "seed": 5}
    cfg["missing"] = cfg["missing"] | {"satisfaction_completer": 0.0, "satisfaction_dropout": 0.0}
    cfg["outcomes"] = cfg["outcomes"] | {"satisfaction_therapist_sd": 1.4}
    *tables, _ = synthesize(cfg, 3, COVARIATES)
    features = pipeline_features(tables, wai_sr, csq8)
    alliance = features["alliance_mean"]
    z = ((alliance - alliance.mean()) / alliance.std()).fillna(0)
    rng = np.random.default_rng(5)
    missing = rng.random(len(features)) < expit(-1 - 0.8 * z + 1.5 * features["dropout"].astype(float))
    observed = features.assign(satisfaction=features["satisfaction"].mask(missing))
    row, _, fit = fit_primary("satisfaction", features, COVARIATES)
    copies, _, _ = impute_features(observed, COVARIATES, 10, seed=5)
    imputed = np.mean([fit_primary("satisfaction", c, COVARIATES)[2].reml.group_variance for c in copies])
    assert 1.5 < fit.reml.group_variance < 2.5  # the planted variance, 1.96, seen through the CSQ-8 items
    assert abs(imputed / fit.reml.group_variance - 1) < 0.25
    pooled, info = pooled_row("satisfaction", copies, COVARIATES)
    assert pooled["ci_low"] < row["estimate"] < pooled["ci_high"]
    assert info["df_complete"] == 127 and info["df"] < 127


def test_rubin_df_of_the_primary_models_is_therapists_minus_one(cohort):
    """nu_com = G - 1 with therapists in the sample; with one therapist, the residual df n - k."""
    features, _ = cohort
    _, design, fit = fit_primary("satisfaction", features, COVARIATES)
    assert complete_data_df(design, fit) == 15  # 16 therapists
    one = features[features["therapist_id"] == features["therapist_id"].iloc[0]]
    _, design, fit = fit_primary("satisfaction", one, COVARIATES)
    assert complete_data_df(design, fit) == len(design.data) - len(fit.params)


def test_therapist_means_leave_the_patient_out():
    # A: 1, 2, 6 -> means of the others 4, 3.5, 1.5; B: 10, 20 -> 20, 10; C's only patient: the overall
    # mean 45 / 6 = 7.5. The discipline indicator is constant within therapists: no mean of its own.
    frame = pd.DataFrame({"y": [1.0, 2, 6, 10, 20, 6], "x": [0.5, 1, 2, 3, 4, 5],
                          "discipline_psychotherapy": [1.0, 1, 1, 0, 0, 1]})
    therapists = pd.Series(["A", "A", "A", "B", "B", "C"])
    assert within_therapist(frame, therapists) == ["y", "x"]
    imputer = TherapistMeansMICEData(frame, therapists, ["y", "x"], np.random.default_rng(1))
    assert imputer.data[THERAPIST_MEAN.format("y")].tolist() == pytest.approx([4, 3.5, 1.5, 20, 10, 7.5])
    assert list(imputer.data.columns[3:]) == [THERAPIST_MEAN.format("y"), THERAPIST_MEAN.format("x")]


def test_therapist_means_follow_the_imputed_values(cohort):
    """After each update the mean of satisfaction over the therapist's other patients is that of the
    current completed values (imputed ones included), not of the starting values."""
    features, _ = cohort
    frame, _ = imputation_frame(features, COVARIATES)
    clustered = within_therapist(frame, features["therapist_id"])
    assert "satisfaction" in clustered and not any(c.startswith("discipline") for c in clustered)
    imputer = TherapistMeansMICEData(frame, features["therapist_id"], clustered, np.random.default_rng(2))
    start = imputer.data["satisfaction"].copy()
    imputer.update_all(2)
    completed = imputer.data["satisfaction"]
    assert not completed.equals(start)
    groups = completed.groupby(features["therapist_id"].to_numpy())
    others = (groups.transform("sum") - completed) / (groups.transform("count") - 1)
    assert imputer.data[THERAPIST_MEAN.format("satisfaction")].to_numpy() == pytest.approx(others.to_numpy())


def test_design_matrices_are_those_of_micedata_formulas(cohort):
    """The numpy design matrix is MICEData's default formula (an intercept and every other column)."""
    features, _ = cohort
    frame, _ = imputation_frame(features.assign(baseline_severity=features["baseline_severity"].mask(
        features.index % 9 == 0)), COVARIATES)
    imputer = TherapistMeansMICEData(frame, features["therapist_id"],
                                     within_therapist(frame, features["therapist_id"]),
                                     np.random.default_rng(3))
    for name in ("satisfaction", "baseline_severity"):
        others = " + ".join(f'Q("{c}")' for c in imputer.data if c != name)
        imputer.conditional_formula[name] = f'Q("{name}") ~ {others}'  # quoted: names have spaces
        endog, exog, _, _ = MICEData.get_fitting_data(imputer, name)
        ours, design, _, _ = imputer.get_fitting_data(name)
        np.testing.assert_array_equal(ours, endog)
        np.testing.assert_allclose(design, exog, rtol=0, atol=0)


def test_missing_values_are_drawn_from_the_normal_linear_model():
    """y = 2 + 3 x + N(0, 2^2), half of y missing completely at random: the imputed values scatter
    around the line with SD 2 (tolerances about 3 SE of the 2,000 draws with their parameter draw),
    and are new values, not copies of observed ones as predictive mean matching would make."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=4000)
    y = 2 + 3 * x + rng.normal(0, 2, 4000)
    missing = rng.random(4000) < 0.5
    frame = pd.DataFrame({"y": np.where(missing, np.nan, y), "x": x})
    imputer = TherapistMeansMICEData(frame, pd.Series(np.arange(4000)), [], np.random.default_rng(1))
    imputer.update_all(1)
    imputed = imputer.data.loc[missing, "y"].to_numpy()
    slope, intercept = np.polyfit(x[missing], imputed, 1)
    assert (intercept, slope) == pytest.approx((2, 3), abs=0.2)
    assert np.std(imputed - intercept - slope * x[missing], ddof=2) == pytest.approx(2, abs=0.15)
    assert not np.isin(imputed, y[~missing]).any()


def test_imputation_needs_enough_observed_values_for_its_model(cohort):
    features, _ = cohort
    scarce = features.assign(satisfaction=features["satisfaction"].where(features.index < 4))
    with pytest.raises(NotEstimable, match=r"^satisfaction is observed for \d patients, too few for its "
                                           r"imputation model \(\d+ terms\)$"):
        impute_features(scarce, COVARIATES, 2, seed=1)


def test_imputation_copies_are_reproducible(cohort):
    features, _ = cohort
    first, imputed, _ = impute_features(features, COVARIATES, 2, seed=11)
    again, _, _ = impute_features(features, COVARIATES, 2, seed=11)
    assert imputed == ["satisfaction"]
    for a, b in zip(first, again, strict=True):
        pd.testing.assert_frame_equal(a, b)


def test_missing_covariates_are_imputed_and_restore_patients_to_every_model(cohort):
    features, _ = cohort
    features = features.copy()
    features.loc[features.index[::8], "baseline_severity"] = np.nan  # 25 patients
    copies, imputed, _ = impute_features(features, COVARIATES, 3, seed=5)
    assert imputed == ["satisfaction", "baseline_severity"]
    assert all(c["baseline_severity"].notna().all() and c["discipline"].equals(features["discipline"])
               for c in copies)
    complete = fit_primary("adherence", features, COVARIATES)[0]
    pooled, info = pooled_row("adherence", copies, COVARIATES)
    assert pooled["n_patients"] > complete["n_patients"] and info["m"] == 3
    assert abs(pooled["estimate"] - complete["estimate"]) < 2 * complete["std_error"]


# All variants together ---------------------------------------------------------------------------------


def test_window_features_with_the_primary_window_reproduce_the_features(cohort):
    features, tables = cohort
    pd.testing.assert_frame_equal(window_features(features, tables, 3), features)


def test_sensitivity_table_on_a_cohort(cohort):
    features, tables = cohort
    table, summary, seconds = sensitivity_analyses(features, COVARIATES, SETTINGS, early_window=3,
                                                   tables=tables, score_range=(8, 32))
    assert list(table.columns) == [*EFFECT_COLUMNS, "variant"]
    assert not summary["failures"]
    json.dumps(summary, allow_nan=False)
    variants = table.groupby("outcome", sort=False)["variant"].apply(list).to_dict()
    common = [PRIMARY_VARIANT, "multiple imputation (m = 5)"]
    tail = ["winsorized alliance (5th/95th percentiles)", "cluster bootstrap (B = 30)"]
    assert variants["attendance"] == [*common, "early window k = 2", "early window k = 4", *tail]
    assert variants["satisfaction"] == [*common, *tail, "proportional odds (ceiling)"]
    assert any("k = 3 is the primary window" in note for note in summary["notes"])
    # The reference rows are the primary rows of the model families.
    for family in ("adherence", "dropout", "satisfaction"):
        effects = fit_family(family, features, COVARIATES).effects
        (expected,) = [r for r in effects if r["analysis"] == "primary"]
        reference = table[(table["outcome"] == expected["outcome"]) & (table["variant"] == PRIMARY_VARIANT)]
        assert reference.iloc[0][EFFECT_COLUMNS].to_dict() == pytest.approx(expected)
    rows = table.set_index(["outcome", "variant"])
    assert (table["analysis"] == "primary").sum() == 3
    primary_n = rows.loc[("attendance", PRIMARY_VARIANT), "n_obs"]
    assert rows.loc[("attendance", "early window k = 2"), "n_obs"] != primary_n
    assert (rows.loc[("satisfaction", "multiple imputation (m = 5)"), "n_patients"]
            > rows.loc[("satisfaction", PRIMARY_VARIANT), "n_patients"])
    assert_finite(table)
    assert set(summary["bootstrap"]) == {"attendance", "dropout", "satisfaction"}
    assert all(b["draws"] == 30 and b["used"] + b["failed"] == 30 for b in summary["bootstrap"].values())
    assert summary["ceiling"]["maximum"] == 32
    assert set(summary["winsorized"]) == {"attendance", "dropout", "satisfaction"}
    assert seconds["imputation"] > 0
    # every variant's row carries its own model's flags, as the primary's do (they had none): 16 therapists
    # give the few-cluster t(15), which the percentile bootstrap does not use
    flags = summary["flags"]
    for variant in ("early window k = 2", "winsorized alliance (5th/95th percentiles)",
                    "multiple imputation (m = 5)"):
        assert "Few clusters: 16 therapists (fewer than 50)" in flags[f"{variant} / dropout"], variant
    assert "Few clusters" not in flags.get("cluster bootstrap (B = 30) / dropout", "")
    assert set(summary["flags_message"]) == set(flags)


def test_imputed_data_sets_left_out_of_the_pooling_are_said_beside_the_row(cohort):
    """A copy whose model cannot be fitted is left out of Rubin's pooling; the row says how many and why
    (a reviewer's 5 of 20 separated copies had been dropped without a word)."""
    features, _ = cohort
    none = features.assign(dropout=pd.array([False] * len(features), dtype="boolean"))
    row, details = pooled_row("dropout", [features, features, features, none], COVARIATES)
    assert details["failed_imputations"] == 1
    assert str(row["flags"][0]) == ("1 of the 4 imputed data sets could not be fitted (no analysed patient "
                                    "dropped out after the early window); the estimate pools the other 3.")


def failures_of(summary: dict, outcome: str) -> dict[str, dict]:
    """The failures of one outcome by variant, after checking the shape of every failure."""
    assert all(list(f) == FAILURE_KEYS and f["status"] in errors.STATUSES and f["reason"]
               for f in summary["failures"])
    return {f["variant"]: f for f in summary["failures"] if f["outcome"] == outcome}


def test_a_model_that_cannot_be_fitted_is_listed_and_not_tabled(cohort):
    features, tables = cohort
    table, summary, _ = sensitivity_analyses(features.assign(satisfaction=np.nan), COVARIATES,
                                             SETTINGS | {"windows": []}, early_window=3, tables=tables)
    assert "satisfaction" not in set(table["outcome"]) and len(table) == 8  # 2 outcomes x 4 variants
    assert_finite(table)
    failed = failures_of(summary, "satisfaction")
    assert list(failed) == [PRIMARY_VARIANT, "multiple imputation (m = 5)",
                            "winsorized alliance (5th/95th percentiles)", "cluster bootstrap (B = 30)",
                            ORDINAL_VARIANT]
    primary = failed.pop(PRIMARY_VARIANT)
    assert primary["status"] == errors.NOT_ESTIMABLE and "satisfaction" in primary["reason"]
    assert {f["status"] for f in failed.values()} == {errors.REFUSED}
    refused = f"the primary model was not fitted: {primary['reason']}"
    assert {f["reason"] for f in failed.values()} == {refused}
    assert failed[ORDINAL_VARIANT]["model"] == ORDINAL_MODEL
    assert "satisfaction" not in summary["bootstrap"]
    json.dumps(summary, allow_nan=False)


def test_no_dropout_refuses_every_dropout_variant(cohort):
    features, tables = cohort
    never = features.assign(dropout=pd.array([False] * len(features), dtype="boolean"))
    table, summary, _ = sensitivity_analyses(never, COVARIATES, SETTINGS | {"windows": [2], "bootstrap": 20},
                                             early_window=3, tables=tables, score_range=(8, 32))
    assert "dropout" not in set(table["outcome"]) and {"attendance", "satisfaction"} <= set(table["outcome"])
    assert_finite(table)
    failed = failures_of(summary, "dropout")
    assert list(failed) == [PRIMARY_VARIANT, "multiple imputation (m = 5)", "early window k = 2",
                            "winsorized alliance (5th/95th percentiles)", "cluster bootstrap (B = 20)"]
    reason = "no analysed patient dropped out after the early window"
    assert (failed[PRIMARY_VARIANT]["status"], failed[PRIMARY_VARIANT]["reason"]) == (errors.NOT_ESTIMABLE,
                                                                                      reason)
    for variant, failure in failed.items():
        if variant != PRIMARY_VARIANT:
            assert failure["status"] == errors.REFUSED
            assert failure["reason"] == f"the primary model was not fitted: {reason}"
    assert [f["outcome"] for f in summary["failures"]] == ["dropout"] * 5
    json.dumps(summary, allow_nan=False)


@pytest.mark.parametrize("levels", [None, 2], ids=["fitted", "not estimable"])
def test_the_satisfaction_ordinal_fit_is_reused_not_fitted_again(cohort, tmp_path, monkeypatch, levels):
    """Given the families' results as the workflow writes them (`fitted`), the proportional-odds row and its
    notes, or the reason it could not be fitted (here: two satisfaction totals), are the satisfaction
    family's: the same table and summary as fitting it in the sensitivity analyses."""
    features, tables = cohort
    if levels:
        features = features.assign(satisfaction=np.where(features["satisfaction"] > 26, 32.0, 20.0))
    settings = SETTINGS | {"imputations": 2, "bootstrap": 20, "windows": []}
    kwargs = {"early_window": 3, "tables": tables, "score_range": (8, 32)}
    table, summary, _ = sensitivity_analyses(features, COVARIATES, settings, **kwargs)
    fitted = {}
    for family in ("adherence", "dropout", "satisfaction"):
        write_json(fit_family(family, features, COVARIATES, satisfaction_range=(8, 32), early_window=3)
                   .to_dict(), tmp_path / f"{family}.json")
        fitted[family] = read_json(tmp_path / f"{family}.json")

    def no_second_fit(design):
        raise AssertionError("the proportional-odds model was fitted again")

    monkeypatch.setattr(sensitivity_module, "fit_satisfaction_ordinal", no_second_fit)
    reused, reused_summary, _ = sensitivity_analyses(features, COVARIATES, settings, **kwargs, fitted=fitted)
    pd.testing.assert_frame_equal(reused, table)
    assert reused_summary == summary
    variants = set(table.loc[table["outcome"] == "satisfaction", "variant"])
    failures = {f["variant"]: f for f in summary["failures"]}
    if levels:
        assert ORDINAL_VARIANT not in variants and failures[ORDINAL_VARIANT]["status"] == errors.NOT_ESTIMABLE
        assert "only 2 distinct satisfaction totals" in failures[ORDINAL_VARIANT]["reason"]
    else:
        assert ORDINAL_VARIANT in variants and summary["fit_notes"]
        # its few-cluster flag (CR1: no small-sample correction for the proportional-odds model) as
        # H3-ordinal's own, in both paths: the sensitivity row had lost it
        ordinal = next(s for s in fitted["satisfaction"]["statuses"] if s["key"] == "H3-ordinal")
        assert "Few clusters" in ordinal["flags"]
        assert summary["flags"][f"{ORDINAL_VARIANT} / satisfaction"] == ordinal["flags"]
