"""Effect-size conversions and the effects table."""

from __future__ import annotations

import math

import pytest

from alliance.models.effects import (
    EFFECT_COLUMNS,
    d_to_r,
    dropout_benchmark_r,
    effect_row,
    effects_table,
    log_odds_to_d,
    model_label,
    to_r,
)


def test_log_odds_to_d_is_chinn():
    assert log_odds_to_d(1.0) == pytest.approx(math.sqrt(3) / math.pi)  # 0.5513
    assert log_odds_to_d(1.0) == pytest.approx(0.551328895)


def test_d_to_r_for_groups_and_for_a_continuous_predictor():
    assert d_to_r(0.55, a=4) == pytest.approx(0.55 / math.sqrt(0.3025 + 4))  # .2651
    assert dropout_benchmark_r() == pytest.approx(-0.265156, abs=1e-6)  # .55 / sqrt(4.3025)
    assert to_r(1.0, "log_odds") == pytest.approx(0.551329 / math.sqrt(0.551329**2 + 1), rel=1e-5)


def test_points_use_the_outcome_sd():
    assert to_r(1.5, "points", outcome_sd=5.0) == pytest.approx(0.3)
    with pytest.raises(ValueError, match="outcome SD"):
        to_r(1.5, "points")


def test_effect_row_converts_the_ci_bounds():
    row = effect_row(outcome="dropout", model="m", predictor="alliance_early", scale="log_odds",
                     estimate=-0.5, std_error=0.1, ci_low=-0.7, ci_high=-0.3, p_value=0.01,
                     n_obs=10, n_patients=10, n_therapists=2, analysis="primary")
    assert row["r_ci_low"] < row["r"] < row["r_ci_high"] < 0
    table = effects_table([{"effects": [row]}])
    assert list(table.columns) == EFFECT_COLUMNS


def test_model_label():
    assert model_label("discrete_time_hazard_cluster_therapist") == "discrete time hazard"
    assert model_label("lmm_therapist_intercept") == "lmm therapist intercept"
