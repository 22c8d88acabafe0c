"""The multi-site generator and the check of pooling across sites (make check-pooling), on a small cohort."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alliance.simulation.pooling_check import markdown, replication, summarise, thin_caseloads
from alliance.simulation.synthetic import generate_cohort

SMALL = {"n_patients": 240, "n_therapists": 24, "n_sites": 4}


def test_site_effects_change_nothing_at_zero_and_only_outcomes_otherwise(default_config):
    """`site_effect_sd` 0 gives the cohort without the key, byte for byte (the default cohort's check is
    tests/workflow/test_workflow.py); above 0 the patients are the same and only what follows from the
    effects (attendance after the window, dropout) changes."""
    cfg = {key: value for key, value in default_config["synthetic"].items()
           if key != "site_effect_sd"} | SMALL

    def draw(**changes):
        return generate_cohort(cfg | changes, 3, np.random.default_rng(7))[:3]

    base = draw()
    for left, right in zip(base, draw(site_effect_sd=0.0), strict=True):
        pd.testing.assert_frame_equal(left, right)
    varied = draw(site_effect_sd=1.0)
    pd.testing.assert_frame_equal(base[0], varied[0])
    assert not base[2]["dropout"].equals(varied[2]["dropout"])


def test_one_replication_pools_each_primary_effect_over_the_sites(default_config):
    cfg = default_config["synthetic"] | {"n_patients": 900, "n_therapists": 45, "n_sites": 3}
    table = replication(cfg, early_window=3, covariates=default_config["models"]["covariates"], seed=11)
    assert list(table["outcome"]) == ["attendance", "dropout", "satisfaction"]
    assert (table["k_sites"] == 3).all() and np.isfinite(table[["pooled", "one_stage", "ratio"]]).all().all()
    # without site variance the two stages estimate the same effect: well within one one-stage SE; the
    # one-stage analysis from the sites' aggregates is the one-stage analysis (the logistic models to a
    # few hundredths of its SE; satisfaction's mixed model uses each site's own therapist variance)
    assert (table["ratio"] < 1).all(), table
    assert (table["k_aggregated"] == 3).all()
    ratios = table.set_index("outcome")["ratio_aggregated"]
    assert ratios["attendance"] < 0.03 and ratios["dropout"] < 0.05 and ratios["satisfaction"] < 0.35, ratios
    assert ((table["alliance_sd"] > 0.3) & (table["alliance_sd"] < 1)).all()


def test_summary_states_agreement_and_the_recovered_tau():
    none = pd.DataFrame({"outcome": ["dropout"] * 4, "ratio": [0.02, 0.05, 0.08, 0.2], "tau": 0.0,
                         "ratio_aggregated": [0.01, 0.02, 0.03, 0.15], "aggregated_se": 0.1,
                         "one_stage_se": [0.1, 0.1, 0.1, 0.125], "k_aggregated": [10, 10, 9, 10]})
    planted = pd.DataFrame({"outcome": ["dropout"] * 2, "site_effect_sd": 0.3, "alliance_sd": [0.6, 0.6],
                            "tau": [0.4, 0.6], "tau_per_sd": [0.25, 0.35]})
    row = summarise(none, planted).iloc[0]
    assert row["agree_share"] == 0.75 and row["ratio_median"] == pytest.approx(0.065)
    assert row["planted_tau_per_point"] == pytest.approx(0.5) and row["tau_mean"] == pytest.approx(0.5)
    assert row["tau_rms"] == pytest.approx(np.sqrt(0.26)) and row["tau_per_sd_mean"] == pytest.approx(0.3)
    text = markdown(summarise(none, planted))
    assert "one-stage SE in 75% of 4 cohorts" in text and "mean tau 0.500 per point" in text
    assert row["aggregated_agree_share"] == 0.75 and row["aggregated_ratio_max"] == 0.15
    assert "aggregates in 75% (median 0.025, largest 0.150; its SE 0.950 of" in text
    assert (row["all_sent"], row["aggregated_agree_all_sent"]) == (3, 2)
    assert "and in 2 of the 3 cohorts where every site sent its sums" in text
    assert "caseloads thinned" in markdown(summarise(none, planted), unequal=True)
    assert "caseloads thinned" not in text


def test_thinned_caseloads_keep_a_share_of_each_therapists_patients_of_their_own():
    """Each therapist keeps a random 10-100% of their patients: with 200 patients each, between 5 and all,
    and the shares spread out (the same with the same seed)."""
    features = pd.DataFrame({"therapist_id": np.repeat([f"T{i:02d}" for i in range(30)], 200)})
    kept = thin_caseloads(features, np.random.default_rng(5)).groupby("therapist_id").size()
    assert len(kept) == 30 and kept.min() >= 5 and kept.max() <= 200 and kept.std() > 30
    again = thin_caseloads(features, np.random.default_rng(5)).groupby("therapist_id").size()
    assert kept.equals(again)
