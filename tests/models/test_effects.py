"""Effect-size conversions and the effects table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from alliance.models.effects import (
    EFFECT_COLUMNS,
    d_to_r,
    effect_row,
    effects_table,
    groups_a,
    log_odds_to_d,
    multiplicity_table,
    to_r,
)


def test_log_odds_to_d_is_chinn():
    assert log_odds_to_d(1.0) == pytest.approx(math.sqrt(3) / math.pi)  # 0.5513
    assert log_odds_to_d(1.0) == pytest.approx(0.551328895)


def test_d_to_r_for_groups_and_for_a_continuous_predictor():
    assert d_to_r(0.55, a=4) == pytest.approx(0.55 / math.sqrt(0.3025 + 4))  # .2651
    assert to_r(1.0, "log_odds") == pytest.approx(0.551329 / math.sqrt(0.551329**2 + 1), rel=1e-5)


def test_log_hazard_uses_the_extreme_value_variance():
    # Cox: latent extreme-value error of variance pi^2 / 6, so d = b sqrt(6) / pi = 0.779697 b
    assert to_r(1.0, "log_hazard") == pytest.approx(0.779697 / math.sqrt(0.779697**2 + 1), rel=1e-5)
    # a Python float from numpy input (the effects' log printed "np.float64(...)" for one r)
    assert all(type(to_r(np.float64(0.5), scale, np.float64(2.0), a=np.float64(1.5))) is float
               for scale in ("points", "log_odds", "log_hazard"))
    assert to_r(1.0, "log_hazard") != pytest.approx(to_r(1.0, "log_odds"))


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


def test_multiplicity_adjusts_within_each_family_only():
    rows = [
        {"outcome": "a", "model": "m", "predictor": "x", "analysis": "primary", "p_value": 0.04},
        {"outcome": "b", "model": "m", "predictor": "x", "analysis": "secondary", "p_value": 0.01},
        {"outcome": "c", "model": "m", "predictor": "x", "analysis": "secondary", "p_value": 0.04},
        {"outcome": "d", "model": "m", "predictor": "x", "analysis": "secondary", "p_value": 0.03},
        {"outcome": "e", "model": "m", "predictor": "x", "analysis": "exploratory", "p_value": 0.02},
        {"outcome": "f", "model": "m", "predictor": "x", "analysis": "exploratory", "p_value": float("nan")},
    ]
    table = multiplicity_table(pd.DataFrame(rows, columns=EFFECT_COLUMNS))
    # Benjamini-Hochberg by hand for (.01, .04, .03): sorted .01, .03, .04 -> .03, .04, .04.
    assert table["q_value"].tolist()[:4] == pytest.approx([0.04, 0.03, 0.04, 0.04])
    assert table["family_size"].tolist() == [1, 3, 3, 3, 1, 0]
    assert table["q_value"].iloc[4] == pytest.approx(0.02)  # a family of one is unchanged
    assert np.isnan(table["q_value"].iloc[5])


def test_binary_predictor_uses_the_group_sizes():
    assert groups_a(50, 50) == 4
    assert groups_a(20, 80) == pytest.approx(100**2 / 1600)
    d = 0.7 * math.sqrt(3) / math.pi
    assert to_r(0.7, "log_odds", a=groups_a(20, 80)) == pytest.approx(d / math.sqrt(d * d + 6.25))
