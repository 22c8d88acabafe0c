"""The synthetic cohort: determinism, the contract, realism, and its truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import skew

from alliance.errors import ConfigError
from alliance.ingest.contract import validate_tables
from alliance.simulation.conditions import truth_scale
from alliance.simulation.synthetic import generate_cohort, synthesize

COVARIATES = ["baseline_severity", "discipline"]


def as_csv(df: pd.DataFrame) -> str:
    return df.to_csv(index=False)


def test_same_seed_same_cohort_other_seed_other_cohort(synthetic_cfg):
    first = generate_cohort(synthetic_cfg, 3, np.random.default_rng(7))
    again = generate_cohort(synthetic_cfg, 3, np.random.default_rng(7))
    other = generate_cohort(synthetic_cfg, 3, np.random.default_rng(8))
    assert [as_csv(t) for t in first] == [as_csv(t) for t in again]
    assert as_csv(first[1]) != as_csv(other[1])


def test_truth_is_deterministic(synthetic_cfg):
    assert synthesize(synthetic_cfg, 3, COVARIATES)[3] == synthesize(synthetic_cfg, 3, COVARIATES)[3]


def test_cohort_meets_the_contract(synthetic_cfg, wai_sr, csq8):
    patients, sessions, outcomes, _ = generate_cohort(synthetic_cfg, 3, np.random.default_rng(1))
    raw = {"patients": patients, "sessions": sessions, "outcomes": outcomes}
    files = {name: f"{name}.csv" for name in raw}
    validated = validate_tables(raw, files, wai_sr, satisfaction=csq8)
    assert len(validated.patients) == synthetic_cfg["n_patients"]
    assert set(validated.patients["discipline"]) <= {"psychotherapy", "physiotherapy", "osteopathy",
                                                     "nutrition"}
    per_patient = validated.sessions.groupby("patient_id")["session"].agg(["min", "max", "count"])
    assert (per_patient["min"] == 1).all() and (per_patient["max"] == per_patient["count"]).all()


def test_cohort_looks_like_clinical_data(default_config, wai_sr):
    cfg = default_config["synthetic"] | {"n_patients": 2000, "n_therapists": 80}
    _, sessions, outcomes, ruptures = generate_cohort(cfg, 3, np.random.default_rng(3))
    answers = sessions[wai_sr.item_columns].to_numpy(dtype=float, na_value=np.nan).ravel()
    answers = answers[~np.isnan(answers)]
    assert set(np.unique(answers)) <= {1, 2, 3, 4, 5}
    assert 0.2 < np.mean(answers == 5) < 0.5  # ceiling
    assert skew(answers) < -0.3  # negative skew
    assert 0.15 < outcomes["dropout"].mean() < 0.26  # about 20% (Swift & Greenberg 2012)
    attended = sessions["attended"] == 1
    assert sessions.loc[~attended, wai_sr.item_columns].isna().all().all()
    assert 0.005 < sessions.loc[attended, wai_sr.item_columns].isna().mean().mean() < 0.15
    planted = ruptures.merge(sessions, on=["patient_id", "session"])
    assert len(planted) == len(ruptures)
    assert (planted["session"] >= 2).all()
    csq_missing = outcomes.filter(like="csq8_").isna().all(axis=1)
    assert csq_missing[outcomes["dropout"] == 1].mean() > csq_missing[outcomes["dropout"] == 0].mean()


def test_truth_estimands_are_close_to_the_generating_effects(synthetic_cfg):
    # Without the dimension-specific effects (H5), which add to the slope of the total.
    effects = {k: 0.0 if k.endswith(("_bond_points_per_sd", "_goal_points_per_sd", "_task_points_per_sd"))
               else v for k, v in synthetic_cfg["effects"].items()}
    cfg = synthetic_cfg | {"truth_multiplier": 40, "effects": effects}
    truth = synthesize(cfg, 3, COVARIATES)[3]
    effects = {e["outcome"]: e for e in truth["effects"]}
    for outcome in ("attendance", "dropout"):
        e = effects[outcome]
        assert e["estimand"] == pytest.approx(e["generating"], abs=4 * e["estimand_se"] + 0.05)
    # The CSQ-8 ceiling attenuates the satisfaction slope: the estimand lies below the generating value.
    s = effects["satisfaction"]
    assert 0.6 * s["generating"] < s["estimand"] < s["generating"]


def test_planned_sessions_must_leave_room_after_the_window(synthetic_cfg):
    with pytest.raises(ConfigError, match="early_window"):
        generate_cohort(synthetic_cfg | {"sessions_planned": [4, 10]}, 3, np.random.default_rng(1))


@pytest.mark.parametrize(("n_patients", "multiplier", "cap", "scale"),
                         [(400, 50, 200_000, 50), (10_000, 50, 200_000, 20), (100_000, 50, 200_000, 2),
                          (300_000, 50, 200_000, 1), (150_000, 50, 200_000, 1)])
def test_truth_population_is_capped_but_never_below_the_cohort(n_patients, multiplier, cap, scale):
    assert truth_scale(n_patients, multiplier, cap) == scale


def test_truth_records_the_capped_population(synthetic_cfg):
    truth = synthesize(synthetic_cfg | {"truth_multiplier": 10, "truth_max_patients": 600}, 3, COVARIATES)[3]
    assert truth["population_patients"] == 600  # 200 patients, 3 times rather than 10
    assert "3 times the cohort" in truth["description"]
