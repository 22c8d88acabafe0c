"""Sensitivity analyses: Rubin's rules, winsorizing, the therapist bootstrap, multiple imputation, failed
variants, and the satisfaction ceiling and proportional-odds model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels
from scipy import stats
from test_models import COVARIATES, pipeline_features

from alliance.contract import validate_tables
from alliance.models import fit_family
from alliance.models.effects import EFFECT_COLUMNS
from alliance.models.satisfaction import ceiling_check, fit_ordered_logit, fit_satisfaction
from alliance.models.sensitivity import (
    PRIMARY_VARIANT,
    bootstrap_row,
    cluster_bootstrap,
    fit_primary,
    impute_features,
    independent_columns,
    pooled_row,
    rubin_pool,
    sensitivity_analyses,
    window_features,
    winsorize,
)
from alliance.scores import score_patients, score_sessions
from alliance.synthetic import synthesize

UCLA = Path(statsmodels.__file__).parent / "miscmodels/tests/results/ologit_ucla.csv"
SETTINGS = {"imputations": 5, "seed": 7, "windows": [2, 3, 4], "winsor_percentiles": [5, 95], "bootstrap": 30}


@pytest.fixture(scope="module")
def cohort(default_config, wai_sr, csq8):
    """200 patients of 16 therapists: the features and the validated, scored tables they come from."""
    cfg = default_config["synthetic"] | {"n_patients": 200, "n_therapists": 16, "truth_multiplier": 1}
    patients, sessions, outcomes, _ = synthesize(cfg, 3, COVARIATES)
    raw = {"patients": patients, "sessions": sessions, "outcomes": outcomes}
    v = validate_tables(raw, {k: f"{k}.csv" for k in raw}, wai_sr, csq8)
    tables = {"patients": v.patients, "outcomes": v.outcomes,
              "session_scores": score_sessions(v.sessions, wai_sr),
              "patient_scores": score_patients(v.outcomes, csq8)}
    return pipeline_features((patients, sessions, outcomes), wai_sr, csq8), tables


# Building blocks on hand-computed cases ----------------------------------------------------------------


def test_rubin_pool_hand_case():
    # m = 3: Q = 2, W = 0.5, B = 1, T = 0.5 + (4/3) 1 = 11/6, r = (4/3) / 0.5 = 8/3,
    # df = 2 (1 + 3/8)^2 = 3.78125, lambda = (4/3) / (11/6) = 8/11.
    pooled = rubin_pool([1.0, 2.0, 3.0], [0.5, 0.5, 0.5])
    assert pooled["estimate"] == pytest.approx(2.0)
    assert pooled["std_error"] == pytest.approx(np.sqrt(11 / 6))
    assert pooled["df"] == pytest.approx(3.78125)
    assert pooled["riv"] == pytest.approx(8 / 3)
    assert pooled["lambda"] == pytest.approx(8 / 11)
    half = stats.t.ppf(0.975, 3.78125) * np.sqrt(11 / 6)
    assert (pooled["ci_low"], pooled["ci_high"]) == pytest.approx((2 - half, 2 + half))
    assert pooled["p_value"] == pytest.approx(2 * stats.t.sf(2 / np.sqrt(11 / 6), 3.78125))


def test_rubin_pool_without_between_variance_is_the_normal_interval():
    pooled = rubin_pool([1.0, 1.0], [0.04, 0.09])  # W = 0.065, B = 0
    assert pooled["df"] == np.inf and pooled["lambda"] == 0
    assert pooled["ci_high"] == pytest.approx(1 + 1.959964 * np.sqrt(0.065), abs=1e-6)
    with pytest.raises(ValueError, match="at least two"):
        rubin_pool([1.0], [0.1])


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
    clustered = fit_ordered_logit("apply ~ pared + public + gpa", data, groups=np.arange(400) // 10)
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


# The therapist bootstrap -------------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["adherence", "dropout", "satisfaction"])
def test_cluster_bootstrap_is_deterministic_and_brackets_the_estimate(cohort, family):
    features, _ = cohort
    first = cluster_bootstrap(family, features, COVARIATES, 40, [3, 1])
    again = cluster_bootstrap(family, features, COVARIATES, 40, [3, 1])
    other = cluster_bootstrap(family, features, COVARIATES, 5, [4, 1])
    assert np.array_equal(first["estimates"], again["estimates"])
    assert not np.array_equal(first["estimates"][:5], other["estimates"])
    assert first["failed"] == 0
    row, primary = bootstrap_row(first), first["row"]
    assert row == bootstrap_row(again)
    assert row["estimate"] == primary["estimate"]  # the point estimate stays the original fit's
    assert row["ci_low"] < row["estimate"] < row["ci_high"]
    # The bootstrap SD and the cluster-robust SE measure the same uncertainty.
    assert 0.5 < row["std_error"] / primary["std_error"] < 2


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
    assert table["estimate"].notna().all()
    assert summary["ceiling"]["maximum"] == 32
    assert set(summary["winsorized"]) == {"attendance", "dropout", "satisfaction"}
    assert seconds["imputation"] > 0


def test_a_model_that_cannot_be_fitted_becomes_nan_rows_with_reasons(cohort):
    features, tables = cohort
    features = features.assign(satisfaction=np.nan)
    table, summary, _ = sensitivity_analyses(features, COVARIATES, SETTINGS | {"windows": []},
                                             early_window=3, tables=tables)
    failed = table[table["outcome"] == "satisfaction"]
    assert len(failed) == 5 and failed["estimate"].isna().all() and failed["r"].isna().all()
    assert set(failed["analysis"]) == {"sensitivity"} and set(failed["predictor"]) == {"alliance_mean"}
    reasons = {f["variant"]: f["reason"] for f in summary["failures"] if f["outcome"] == "satisfaction"}
    assert set(reasons) == set(failed["variant"])
    assert "0 patients in the analysis sample" in reasons[PRIMARY_VARIANT]
    assert table.loc[table["outcome"] != "satisfaction", "estimate"].notna().all()
    json.dumps(summary, allow_nan=False)
