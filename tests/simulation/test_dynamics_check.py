"""The planted reciprocal dynamics of H4c (`synthetic.symptoms.process: joint`) and their check (make
check-dynamics): the joint process reuses the symptom draws, a planted reverse path moves the alliance,
and the RI-CLPM finds both directions on a cohort."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alliance.simulation.dynamics_check import (
    CROSS_LAGS,
    PLANTED,
    joint_config,
    markdown,
    planted_lags,
    replications,
    summarise,
)
from alliance.simulation.synthetic import generate_cohort


def _cohort(synthetic: dict, symptoms: dict, seed: int = 11):
    cfg = synthetic | {"n_patients": 120, "n_therapists": 12, "symptoms": synthetic["symptoms"] | symptoms}
    return generate_cohort(cfg, 3, np.random.default_rng(seed))


def test_without_either_path_the_joint_process_draws_what_the_default_draws(default_config):
    """With no forward and no reverse path both processes move the symptoms the same way from the same
    draws, so every table is identical: the joint process reuses the symptom stream in its order."""
    none = {"within_points_per_sd": 0.0, "reverse_points_per_point": 0.0}
    default = _cohort(default_config["synthetic"], none)
    joint = _cohort(default_config["synthetic"], none | {"process": "joint"})
    for a, b in zip(default, joint, strict=True):
        pd.testing.assert_frame_equal(a, b)


def test_a_planted_reverse_path_moves_only_the_alliance_after_the_first_session(default_config, wai_sr):
    """Reverse path alone: the alliance answers change; the patients, and the first session's answers
    and symptoms (nothing precedes them) do not."""
    base = {"process": "joint", "within_points_per_sd": 0.0, "reverse_points_per_point": 0.0}
    quiet = _cohort(default_config["synthetic"], base)
    moved = _cohort(default_config["synthetic"], base | {"reverse_points_per_point": -0.2})
    pd.testing.assert_frame_equal(quiet[0], moved[0])
    items = wai_sr.item_columns
    first = [t[1][t[1]["session"] == 1].reset_index(drop=True) for t in (quiet, moved)]
    pd.testing.assert_frame_equal(first[0][[*items, "symptoms"]], first[1][[*items, "symptoms"]])
    assert not quiet[1][items].equals(moved[1][items])


@pytest.fixture(scope="module")
def checked(default_config):
    cfg = joint_config(default_config["synthetic"])
    return replications(cfg, early_window=default_config["features"]["early_window"], count=1, seed=3000)


def test_one_cohort_finds_both_planted_directions(checked):
    """A 400-patient cohort with both paths planted: each cross-lag's 95% CI excludes 0 on the planted
    side (symptoms after more alliance: fewer; alliance after more symptoms than expected: lower)."""
    rows = checked.set_index("effect")
    assert list(rows.index) == list(CROSS_LAGS) and (rows["status"] == "fitted").all()
    assert (rows["ci_high"] < 0).all()
    assert rows.loc["symptoms_to_alliance", "estimate"] == pytest.approx(PLANTED["reverse_points_per_point"],
                                                                         abs=0.012)


def test_summary_counts_within_two_se_by_hand(checked):
    table = pd.DataFrame({"effect": ["d"] * 4, "status": ["fitted"] * 3 + ["not_converged"],
                          "estimate": [1.0, 1.5, 3.5, np.nan], "se": [0.5, 0.5, 0.5, np.nan],
                          "ci_low": [0.0, 0.5, 2.5, np.nan], "ci_high": [2.0, 2.5, 4.5, np.nan]})
    row = summarise(table, {"d": 1.2}, {"d": 2.0}).iloc[0]
    # Distances to 1.2 in SEs: 0.4, 0.6, 4.6; to 2.0: 2, 1, 3.
    assert (row["fitted"], row["within_2se"], row["within_2se_planted"]) == (3, pytest.approx(2 / 3),
                                                                           pytest.approx(2 / 3))
    assert row["coverage"] == pytest.approx(2 / 3)
    text = markdown(summarise(checked, {e: -1.0 for e in CROSS_LAGS}, {e: -1.0 for e in CROSS_LAGS}))
    assert "fitted (not met: at least 90%)" in text or "fitted (met: at least 90%)" in text


def test_planted_lags_on_the_models_scales(default_config):
    """The forward path is planted per SD of the session noise (0.25 latent points by default), so -1 per
    SD is -4 symptom points per alliance point; the reverse path is already per symptom point."""
    planted = planted_lags(joint_config(default_config["synthetic"]))
    assert planted == {"alliance_to_symptoms": -1.0 / 0.25, "symptoms_to_alliance": -0.03}
