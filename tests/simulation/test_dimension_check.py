"""The check of H5's planned contrast across generated cohorts (make check-dimensions), on three cohorts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alliance.simulation.dimension_check import (
    ANY,
    COLUMNS,
    declared_contrasts,
    generator_config,
    markdown,
    summarise,
)


def test_the_null_generator_has_no_dimension_effect_and_the_planted_one_is_found(default_config):
    synthetic = default_config["synthetic"] | {"n_patients": 240, "n_therapists": 20}
    null = generator_config(synthetic, "none")
    assert {k: v for k, v in null["effects"].items() if "_goal_" in k or "_task_" in k or "_bond_" in k} == {
        f"{o}_{d}_{u}_per_sd": 0.0 for o, u in (("satisfaction", "points"), ("dropout", "log_odds"))
        for d in ("bond", "goal", "task")}
    assert null["effects"]["satisfaction_points_per_sd"] == synthetic["effects"]["satisfaction_points_per_sd"]
    assert generator_config(synthetic, "planted") is synthetic
    table = declared_contrasts(synthetic | {"effects": synthetic["effects"] | {
        "satisfaction_goal_points_per_sd": 2.0, "satisfaction_task_points_per_sd": 2.0}},
        early_window=3, covariates=["baseline_severity", "discipline"], outcomes=["satisfaction"],
        replications=3, seed=7, draws=30, latent_draws=999)
    assert list(table["replication"]) == [1, 2, 3] and (table["ci_low"] > 0).all()  # a strong planted effect
    assert table["latent_declared"].all() and (table["latent_p"] < 0.05).all()  # and in the latent model
    assert (table["latent_q"] == table["latent_p"]).all()  # one outcome: nothing to adjust over
    summary = summarise(table, "planted")
    assert list(summary.columns) == COLUMNS
    assert summary.loc[0, "declared_above"] == 1.0 and summary.loc[0, "declared"] == 1.0
    assert np.isclose(summary.loc[0, "mean_contrast"], table["estimate"].mean())
    assert summary.loc[0, "latent_fitted"] == 1.0 and summary.loc[0, "latent_declared"] == 1.0
    assert "above 0 in 100% of the replications (met: at least 80%)" in markdown(summary)


def test_summary_counts_by_hand():
    table = pd.DataFrame({"outcome": ["dropout"] * 4, "estimate": [0.1, -0.2, 0.0, 0.3],
                          "ci_low": [0.05, -0.4, -0.1, 0.1], "ci_high": [0.2, -0.01, 0.1, 0.5],
                          "latent_contrast": [0.1, np.nan, 0.2, 0.0], "latent_p": [0.01, np.nan, 0.5, 0.3],
                          "latent_declared": [True, None, False, False]})
    summary = summarise(table, "none")
    row = summary.iloc[0]
    assert (row["declared_above"], row["declared_below"], row["declared"]) == (0.5, 0.25, 0.75)
    assert (row["latent_fitted"], row["latent_declared"]) == (0.75, pytest.approx(1 / 3))
    assert row["latent_mean_contrast"] == pytest.approx(0.1)
    assert ("dropout: the latent model declares one in 33% of the 75% of replications where it was fitted "
            "(not met: at most 7%)") in markdown(summary)


def test_the_any_outcome_row_counts_cohorts_by_hand():
    """Three cohorts of two outcomes: a contrast above 0 in cohort 1 (dropout), below in cohort 3
    (satisfaction); a latent declaration in cohort 1 only, and no latent model in cohort 2 at all."""
    table = pd.DataFrame({"replication": [1, 1, 2, 2, 3, 3], "outcome": ["dropout", "satisfaction"] * 3,
                          "estimate": [0.2, 0.0, 0.0, 0.1, 0.0, -0.3],
                          "ci_low": [0.1, -0.1, -0.1, -0.1, -0.1, -0.5],
                          "ci_high": [0.3, 0.1, 0.1, 0.2, 0.1, -0.1],
                          "latent_contrast": [0.3, 0.1, np.nan, np.nan, 0.0, 0.1],
                          "latent_p": [0.01, 0.6, np.nan, np.nan, 0.3, 0.2],
                          "latent_declared": [True, False, None, None, False, False]})
    summary = summarise(table, "none").set_index("outcome")
    assert list(summary.index) == ["dropout", "satisfaction", ANY]
    row = summary.loc[ANY]
    assert row["replications"] == 3
    assert (row["declared_above"], row["declared_below"], row["declared"]) == pytest.approx(
        (1 / 3, 1 / 3, 2 / 3))
    assert (row["latent_fitted"], row["latent_declared"]) == pytest.approx((2 / 3, 1 / 2))
    assert summary.loc["dropout", "latent_declared"] == pytest.approx(1 / 2)
    assert "any outcome: the latent model declares one in 50% of the 67% of replications" in markdown(
        summary.reset_index())
