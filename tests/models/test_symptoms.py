"""Symptoms (ANALYSIS_PLAN.md, H4): the contract column, features by hand, the generator's separate stream,
the no-symptoms path, and recovery of the known effects."""

from __future__ import annotations

import copy
import re

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from alliance.errors import NotEstimable, ValidationError
from alliance.features.build import patient_features, session_features
from alliance.ingest.contract import validate_tables
from alliance.models import fit_family
from alliance.models.common import Design
from alliance.models.effects import EFFECT_COLUMNS, effects_table
from alliance.models.symptoms import (
    NO_DATA_NOTE,
    check_first_values,
    fit_dynamic,
    fit_symptoms,
    forward_design,
)
from alliance.scoring.scores import score_patients, score_sessions
from alliance.simulation.synthetic import generate_cohort, synthesize

COVARIATES = ["baseline_severity", "discipline"]
FILES = {"patients": "patients.csv", "sessions": "sessions.csv", "outcomes": "outcomes.csv"}
nan = np.nan


def session_scores(rows: list[tuple]) -> pd.DataFrame:
    """Scored sessions (patient_id, session, attended, alliance total, symptoms)."""
    df = pd.DataFrame(rows, columns=["patient_id", "session", "attended", "alliance_total", "symptoms"])
    for name in ("task", "bond", "goal"):
        df[f"alliance_{name}"] = df["alliance_total"]
    df["alliance_n_answered"] = df["alliance_total"].notna() * 12
    df["alliance_prorated"] = False
    return df


PATIENTS = pd.DataFrame({"patient_id": ["A", "B", "C"], "therapist_id": ["T1", "T1", "T2"],
                         "sessions_planned": [6, 6, 6]})
OUTCOMES = pd.DataFrame({"patient_id": ["A", "B", "C"], "dropout": [False, True, False]})
SATISFACTION = pd.DataFrame({"patient_id": ["A", "B", "C"], "satisfaction": [30.0, nan, 25.0],
                             "satisfaction_source": ["items", None, "items"]})
ROWS = [
    ("A", 1, True, 3.0, 20.0), ("A", 2, True, 4.0, 18.0), ("A", 3, False, nan, 99.0),
    ("A", 4, True, 5.0, 15.0), ("A", 5, True, nan, nan), ("A", 6, True, 5.0, 12.0),
    ("B", 1, True, 2.0, 10.0), ("B", 2, False, nan, nan),
    ("C", 1, False, nan, nan), ("C", 2, True, 4.0, nan), ("C", 3, True, 3.0, 9.0),
]  # A3: a score at a missed session does not count; A5: attended, no alliance and no symptom score


def by_hand_sessions() -> pd.DataFrame:
    return session_features(session_scores(ROWS), PATIENTS, early_window=3)


def test_patient_symptom_features_by_hand():
    f = patient_features(PATIENTS, session_scores(ROWS), SATISFACTION, outcomes=OUTCOMES,
                         early_window=3).set_index("patient_id")
    assert f["symptoms_first"].tolist() == [20.0, 10.0, 9.0]
    assert f["symptoms_last"].tolist() == [12.0, 10.0, 9.0]
    assert f["symptoms_first_session"].tolist() == [1, 1, 3]
    assert f["symptoms_last_session"].tolist() == [6, 1, 3]
    assert f["symptoms_n"].tolist() == [4, 1, 1]  # A: 1, 2, 4, 6 (the 99 at missed session 3 is ignored)
    assert f.loc["A", "symptom_change"] == -8.0  # last - first: improvement is negative
    assert f[["symptom_change"]].loc[["B", "C"]].isna().all().all()  # a single score: no change
    assert f["symptoms_last_after_window"].tolist() == [True, False, False]


def test_session_symptom_features_by_hand():
    f = by_hand_sessions()
    assert f[["patient_id", "session"]].values.tolist()[:6] == [["A", k] for k in range(1, 7)]
    assert np.allclose(f["symptoms"], [20, 18, nan, 15, nan, 12, 10, nan, nan, nan, 9], equal_nan=True)
    assert np.allclose(f["symptoms_prev"], [nan, 20, 18, 18, 15, 15, nan, 10, nan, nan, nan],
                       equal_nan=True)
    assert np.allclose(f["symptom_change_prev"], [nan, -2, nan, -3, nan, -3, nan, nan, nan, nan, nan],
                       equal_nan=True)
    # the next *attended* session: A2 -> A4 (A3 missed), A4 -> A5 (attended, no score), B1 -> none
    assert np.allclose(f["symptoms_next"], [18, 15, 15, nan, 12, nan, nan, nan, nan, 9, nan],
                       equal_nan=True)
    assert f["symptoms_next_gap"].tolist() == [1, 2, 1, 1, 1, pd.NA, pd.NA, pd.NA, 1, 1, pd.NA]
    assert np.allclose(f["alliance_next"], [4, 5, 5, nan, 5, nan, nan, nan, 4, 3, nan], equal_nan=True)
    assert np.allclose(f["symptoms_first"], [20] * 6 + [10] * 2 + [9] * 3)
    assert np.allclose(f["alliance_first"], [3] * 6 + [2] * 2 + [4] * 3)


def test_sessions_numbered_with_gaps_follow_one_another():
    """A clinic that numbers its sessions 1, 2, 5, 9 (a real-data shape): the next scheduled session of 2
    is 5, attended, so the row enters H4a and H4b. The gap had been counted in session numbers (3), which
    excluded it as "next session (t + 1) not attended". A missed scheduled session still breaks the
    series (C)."""
    rows = [("A", 1, True, 3.0, 20.0), ("A", 2, True, 4.0, 18.0), ("A", 5, True, 5.0, 15.0),
            ("A", 9, True, 5.0, 12.0), ("C", 1, True, 4.0, 11.0), ("C", 4, False, nan, nan),
            ("C", 6, True, 3.0, 9.0)]
    f = session_features(session_scores(rows), PATIENTS, early_window=3)
    assert f["symptoms_next_gap"].tolist() == [1, 1, 1, pd.NA, 2, 1, pd.NA]
    assert np.allclose(f["symptoms_next"], [18, 15, 12, nan, 9, 9, nan], equal_nan=True)


def test_no_symptom_feature_looks_ahead():
    """Changing a session's score (and everything after it) leaves the predictors of earlier sessions
    unchanged; only the outcome columns of the session before may change."""
    base = by_hand_sessions()
    for patient, session, *_ in ROWS:
        rows = [r if (r[0] != patient or r[1] < session) else (*r[:4], 50.0 + r[1]) for r in ROWS]
        other = session_features(session_scores(rows), PATIENTS, early_window=3)
        earlier = (base["patient_id"] == patient) & (base["session"] < session)
        for column in ("symptoms", "symptoms_prev", "symptom_change_prev"):
            pd.testing.assert_series_equal(base.loc[earlier, column], other.loc[earlier, column])
        others = base["patient_id"] != patient
        pd.testing.assert_frame_equal(base[others], other[others])


def test_symptom_columns_are_absent_without_scores():
    rows = [(*r[:4], nan) for r in ROWS]
    sessions = session_features(session_scores(rows), PATIENTS, early_window=3)
    features = patient_features(PATIENTS, session_scores(rows), SATISFACTION, outcomes=OUTCOMES,
                                early_window=3)
    assert not any(c.startswith("symptom") for c in features.columns)
    assert not any(c.startswith("symptom") for c in sessions.columns if c != "symptoms")
    assert "alliance_next" not in sessions.columns


def test_no_symptoms_no_rows_and_a_note():
    rows = [(*r[:4], nan) for r in ROWS]
    features = patient_features(PATIENTS, session_scores(rows), SATISFACTION, outcomes=OUTCOMES,
                                early_window=3)
    sessions = session_features(session_scores(rows), PATIENTS, early_window=3)
    for result in (fit_symptoms(features, COVARIATES, sessions), fit_family("symptoms", features, COVARIATES),
                   fit_family("symptoms", features, COVARIATES, sessions=sessions)):
        assert result.family == "symptoms" and result.summary == NO_DATA_NOTE
        assert result.effects == [] and result.notes == []
        assert {(s["key"], s["status"], s["reason"]) for s in result.statuses} == {
            (key, "not_estimable", "no symptom scores in the data") for key in ("H4", "H4a", "H4b")}
        table = effects_table([result.to_dict()])
        assert list(table.columns) == EFFECT_COLUMNS and table.empty


def contract_tables(wai_sr, csq8, symptoms: list | None) -> dict[str, pd.DataFrame]:
    patients = pd.DataFrame({"patient_id": ["P1", "P2"], "therapist_id": ["T1", "T2"],
                             "sessions_planned": ["6", "8"]})
    sessions = pd.DataFrame({"patient_id": ["P1", "P1", "P2"], "session": ["1", "2", "1"],
                             "attended": ["1", "1", "0"]})
    if symptoms is not None:
        sessions["symptoms"] = symptoms
    outcomes = pd.DataFrame({"patient_id": ["P1", "P2"], "dropout": ["0", "1"]})
    return {"patients": patients, "sessions": sessions, "outcomes": outcomes}


def test_contract_accepts_numeric_symptoms_with_gaps(wai_sr, csq8):
    validated = validate_tables(contract_tables(wai_sr, csq8, ["12", " -1.5 ", ""]), FILES, wai_sr,
                                satisfaction=csq8)
    assert validated.sessions["symptoms"].dtype == "float64"
    assert np.allclose(validated.sessions["symptoms"], [12.0, -1.5, nan], equal_nan=True)
    assert "symptoms" not in validated.summary["tables"]["sessions"]["ignored_columns"]
    absent = validate_tables(contract_tables(wai_sr, csq8, None), FILES, wai_sr, satisfaction=csq8)
    assert absent.sessions["symptoms"].isna().all()
    assert "symptoms" in absent.summary["tables"]["sessions"]["absent_optional_columns"]


@pytest.mark.parametrize(("values", "message", "fix"), [
    (["12", "severe", "3"], "1 value that is not a number", "plain numbers"),
    (["12", "inf", "3"], "finite", "finite numbers"),
    (["-inf", "4", "3"], "finite", "finite numbers"),
])
def test_contract_refuses_non_numeric_or_infinite_symptoms(wai_sr, csq8, values, message, fix):
    with pytest.raises(ValidationError) as caught:
        validate_tables(contract_tables(wai_sr, csq8, values), FILES, wai_sr, satisfaction=csq8)
    (problem,) = caught.value.problems
    assert problem.column == "symptoms" and message in problem.message and fix in problem.fix
    assert problem.n_rows == 1


def without_symptoms(cfg: dict) -> dict:
    cfg = copy.deepcopy(cfg)
    cfg["symptoms"]["enabled"] = False
    return cfg


def test_symptoms_leave_every_other_column_unchanged(synthetic_cfg):
    """Same seed with and without symptoms: identical tables (but the symptoms column), and the caller's
    generator ends in the same state (the symptom stream never draws from it)."""
    rng_with, rng_without = np.random.default_rng(42), np.random.default_rng(42)
    with_ = generate_cohort(synthetic_cfg, 3, rng_with)
    without = generate_cohort(without_symptoms(synthetic_cfg), 3, rng_without)
    assert "symptoms" in with_[1] and "symptoms" not in without[1]
    assert with_[1].drop(columns="symptoms").to_csv(index=False) == without[1].to_csv(index=False)
    for a, b in zip((with_[0], *with_[2:]), (without[0], *without[2:]), strict=True):
        assert a.to_csv(index=False) == b.to_csv(index=False)
    assert rng_with.random() == rng_without.random()
    no_block = {k: v for k, v in synthetic_cfg.items() if k != "symptoms"}
    assert generate_cohort(no_block, 3, np.random.default_rng(42))[1].equals(without[1])


def test_generated_symptoms_look_like_scores(default_config):
    cfg = default_config["synthetic"] | {"n_patients": 1500, "n_therapists": 60}
    _, sessions, _, _ = generate_cohort(cfg, 3, np.random.default_rng(3))
    scores = sessions["symptoms"].astype(float)
    seen = scores.dropna()
    assert (seen >= 0).all() and (seen % 1 == 0).all()
    assert scores[sessions["attended"] == 0].isna().all()  # recorded at attended sessions only
    missing = scores[sessions["attended"] == 1].isna().mean()
    assert missing == pytest.approx(cfg["symptoms"]["missing"], abs=0.02)
    first = seen.groupby(sessions["patient_id"]).first()
    last = seen.groupby(sessions["patient_id"]).last()
    assert first.mean() == pytest.approx(20.0, abs=0.6)  # baseline severity
    assert 3 < (first - last).mean() < 7  # most of the mean improvement of 6 points


def test_truth_lists_the_symptom_estimands(synthetic_cfg):
    truth = synthesize(synthetic_cfg, 3, COVARIATES)[3]
    rows = {(e["outcome"], e["predictor"]): e for e in truth["effects"]}
    assert len(rows) == len(truth["effects"]) == 8
    assert all(set(e) == {"outcome", "model", "predictor", "scale", "generating", "estimand",
                          "estimand_se"} for e in truth["effects"])
    sym = synthetic_cfg["symptoms"]
    assert rows["symptoms_next", "alliance_within"]["generating"] == sym["within_points_per_sd"]
    assert rows["symptom_improvement", "alliance_early"]["generating"] == sym["improvement_points_per_sd"]
    assert rows["alliance_next", "symptom_improvement_within"]["generating"] == 0.0
    assert rows["symptom_improvement", "alliance_early"]["estimand"] > 0  # better alliance, more improvement
    without = synthesize(without_symptoms(synthetic_cfg), 3, COVARIATES)[3]
    assert without["effects"] == truth["effects"][:3]


def pipeline(tables, wai_sr, csq8) -> tuple[pd.DataFrame, pd.DataFrame]:
    """validate -> score -> patient and session features, as the workflow does."""
    raw = dict(zip(("patients", "sessions", "outcomes"), tables, strict=True))
    v = validate_tables(raw, FILES, wai_sr, satisfaction=csq8)
    scores = score_sessions(v.sessions, wai_sr)
    features = patient_features(v.patients, scores, score_patients(v.outcomes, csq8), outcomes=v.outcomes,
                                early_window=3)
    return features, session_features(scores, v.patients, 3)


@pytest.fixture(scope="module")
def small_cohort(default_config, wai_sr, csq8):
    cfg = default_config["synthetic"] | {"n_patients": 300, "n_therapists": 24}
    return pipeline(generate_cohort(cfg, 3, np.random.default_rng(5))[:3], wai_sr, csq8)


def test_fit_symptoms_rows_and_signs(small_cohort):
    features, sessions = small_cohort
    result = fit_symptoms(features, COVARIATES, sessions)
    assert result.extra["fitted"] == ["improvement", "forward", "reverse"]
    table = effects_table([result.to_dict()])
    assert list(table.columns) == EFFECT_COLUMNS
    assert table[["outcome", "predictor", "analysis"]].values.tolist() == [
        ["symptom_improvement", "alliance_early", "secondary"],
        ["symptoms_next", "alliance_within", "secondary"],
        ["symptoms_next", "alliance_between", "secondary"],
        ["alliance_next", "symptom_improvement_within", "exploratory"],
        ["alliance_next", "symptom_improvement_between", "exploratory"],
    ]
    improvement, within = table.iloc[0], table.iloc[1]
    assert improvement["r"] > 0 and improvement["ci_low"] > 0  # better alliance, more improvement
    assert within["ci_high"] < 0  # alliance above the patient's mean, fewer symptoms next session
    assert (table["n_obs"].iloc[1:] > table["n_patients"].iloc[1:]).all()
    assert improvement["n_obs"] == improvement["n_patients"]
    steps = {s["step"]: s["n"] for s in result.flow}
    assert steps["symptoms at the next session: sessions analysed"] == table["n_obs"].iloc[1]
    assert steps["symptoms at the next session: excluded sessions: next session (t + 1) not attended"] > 0


def test_clustered_fit_reproduces_statsmodels_mixed_model(small_cohort):
    """The dynamic fit's coefficients are statsmodels MixedLM's REML estimates; its SEs are clustered by
    therapist, not MixedLM's model-based ones."""
    design = forward_design(*small_cohort, COVARIATES)
    fit, record = fit_dynamic(design)
    mixed = smf.mixedlm(design.formula, design.data, groups=design.data["patient_id"]).fit(
        reml=True, method="powell")
    assert np.allclose(fit.params.to_numpy(), mixed.fe_params.to_numpy(), atol=1e-4)
    assert record["patient_variance"] == pytest.approx(float(mixed.cov_re.iloc[0, 0]), rel=1e-3)
    assert fit.bse["alliance_within_z"] != pytest.approx(mixed.bse_fe["alliance_within_z"], rel=1e-3)


def test_a_model_without_data_has_a_status_not_a_crash(small_cohort):
    features, sessions = small_cohort
    result = fit_symptoms(features, COVARIATES, sessions.assign(symptoms_next=nan))
    assert result.extra["fitted"] == ["improvement", "reverse"]
    status = {s["key"]: (s["status"], s["reason"]) for s in result.statuses}
    assert status["H4a"] == ("not_estimable",
                             "no session is followed by a symptom score at the next session")
    assert status["H4"][0] == status["H4b"][0] == "fitted"
    assert [r["outcome"] for r in result.effects] == ["symptom_improvement", "alliance_next", "alliance_next"]
    # no session with a symptom score followed by an attended one (symptoms at the last session only)
    last_only = fit_symptoms(features, COVARIATES, sessions.assign(symptoms_next_gap=nan))
    assert {s["key"]: s["reason"] for s in last_only.statuses if s["key"] in ("H4a", "H4b")} == dict.fromkeys(
        ("H4a", "H4b"), "no session with a symptom score has its next session (t + 1) attended")
    alone = fit_symptoms(features, COVARIATES)  # no session features: the patient-level model only
    assert [r["outcome"] for r in alone.effects] == ["symptom_improvement"]
    assert {s["key"]: s["reason"] for s in alone.statuses if s["status"] != "fitted"} == {
        "H4a": "no session features with symptom scores", "H4b": "no session features with symptom scores"}


def test_one_session_per_patient_has_no_within_patient_change(small_cohort):
    """H4b with one analysed session per patient (alliance at the next session kept once per patient): the
    within-patient symptom improvement is 0 on every row; the reason says why, not only that it is
    constant (found on a cohort from a generator the project had not seen)."""
    features, sessions = small_cohort
    needed = sessions[["symptom_change_prev", "alliance_within", "alliance_next"]]
    usable = needed.notna().all(axis=1) & sessions["symptoms_next_gap"].eq(1)
    once = usable & usable.groupby(sessions["patient_id"]).cumsum().eq(1)  # each patient's first such row
    result = fit_symptoms(features, COVARIATES, sessions.assign(
        alliance_next=sessions["alliance_next"].where(once)))
    reason = {s["key"]: s["reason"] for s in result.statuses}["H4b"]
    steps = {s["step"]: s["n"] for s in result.flow}
    analysed = steps["alliance at the next session: sessions analysed"]
    patients = steps["alliance at the next session: patients analysed"]
    assert analysed == patients > 1
    assert reason == (f"each patient has one session in the alliance next analysis sample ({analysed} "
                      "sessions), so within-patient symptom improvement does not vary")


def only_at(column: str, kept: list[int]):
    """The generator's sessions with `column` (symptoms, or the alliance items) at `kept` sessions only."""
    def change(sessions: pd.DataFrame) -> pd.DataFrame:
        columns = [c for c in sessions.columns if c == column or c.startswith(f"{column}_")]
        return sessions.assign(**{c: sessions[c].where(sessions["session"].isin(kept)) for c in columns})
    return change


@pytest.mark.parametrize(("change", "key", "outcome", "words"), [
    (only_at("symptoms", [1, 2]), "H4a", "symptoms at the next session",
     "the symptom score equals the patient's first, so the two terms coincide: the model needs symptom "
     "scores after the first at consecutive attended sessions"),
    (only_at("wai_sr", [2, 3]), "H4b", "alliance at the next session",
     "the alliance equals the patient's first, so the two terms coincide: the model needs alliance scores "
     "after the first at consecutive attended sessions"),
], ids=["symptoms at sessions 1-2", "alliance at sessions 2-3"])
def test_a_first_score_on_every_analysed_session_is_said(default_config, wai_sr, csq8, change, key, outcome,
                                                          words):
    """Symptoms recorded at sessions 1 and 2 only (intake and one follow-up): H4a's rows are each patient's
    first score, which its control for the first score repeats; the alliance at sessions 2 and 3 only does
    the same to H4b. The reason says so, not only that the terms are collinear (a cohort of an unseen
    generator with symptoms at the first and last sessions read "symptoms first adds nothing beyond the
    other terms")."""
    cfg = default_config["synthetic"] | {"n_patients": 300, "n_therapists": 24}
    patients, sessions, outcomes = generate_cohort(cfg, 3, np.random.default_rng(5))[:3]
    features, session_rows = pipeline((patients, change(sessions), outcomes), wai_sr, csq8)
    result = fit_symptoms(features, COVARIATES, session_rows)
    analysed = next(s["n"] for s in result.flow if s["step"] == f"{outcome}: sessions analysed")
    assert analysed > 1
    assert {s["key"]: s["reason"] for s in result.statuses}[key] == (
        f"in every analysed session ({analysed} sessions) {words}")


def test_a_first_value_is_checked_only_where_the_model_adjusts_for_it():
    """H4a's sample also holds the alliance and its first value, which H4a does not adjust for: their
    equality is no reason to refuse it (only the terms of the design's formula count)."""
    data = pd.DataFrame({"patient_id": ["A", "B", "C"], "symptoms": [10.0, 12.0, 9.0],
                         "symptoms_first": [11.0, 12.5, 9.5], "alliance_total": [4.0, 3.5, 4.5],
                         "alliance_first": [4.0, 3.5, 4.5]})
    design = Design("symptoms_next", "alliance_within", data,
                    "symptoms_next ~ alliance_within_z + alliance_between_z + symptoms + symptoms_first", [],
                    unit="session")
    check_first_values(design)  # no exception
    design.formula += " + alliance_total + alliance_first"
    with pytest.raises(NotEstimable, match=re.escape("in every analysed session (3 sessions) the alliance")):
        check_first_values(design)


@pytest.fixture(scope="module")
def large_cohort(default_config, wai_sr, csq8):
    cfg = default_config["synthetic"] | {"n_patients": 3000, "n_therapists": 120,
                                         "truth_multiplier": 5, "seed": 11}
    *tables, truth = synthesize(cfg, 3, COVARIATES)
    return (*pipeline(tables, wai_sr, csq8), truth, cfg)


@pytest.mark.slow
def test_symptom_estimates_recover_the_truth(large_cohort):
    features, sessions, truth, cfg = large_cohort
    estimands = {(e["outcome"], e["predictor"]): e for e in truth["effects"]}
    result = fit_symptoms(features, COVARIATES, sessions)
    assert len(result.effects) == 5
    for row in result.effects:
        e = estimands[row["outcome"], row["predictor"]]
        assert abs(row["estimate"] - e["estimand"]) < 3 * np.hypot(row["std_error"], e["estimand_se"]), row
    within = result.effects[1]
    generating = cfg["symptoms"]["within_points_per_sd"]
    assert abs(within["estimate"] - generating) < 3 * within["std_error"] + 0.05 * abs(generating)
    assert estimands["symptoms_next", "alliance_within"]["estimand"] == pytest.approx(generating, abs=0.03)


@pytest.mark.slow
def test_dynamic_estimator_avoids_the_nickell_bias(large_cohort):
    """The dynamic random-intercept model keeps the autoregression near its generating value (1 - rate);
    centring the lagged score within patients (fixed effects) pulls it far down (Nickell 1981)."""
    features, sessions, _, cfg = large_cohort
    design = forward_design(features, sessions, COVARIATES)
    mixed, _ = fit_dynamic(design)
    persistence = 1 - cfg["symptoms"]["rate"]
    assert mixed.params["symptoms"] == pytest.approx(persistence, abs=0.05)
    data = design.data.copy()
    for column in ("symptoms_next", "symptoms", "alliance_within_z"):
        data[f"{column}_c"] = data[column] - data.groupby("patient_id")[column].transform("mean")
    fixed = smf.ols("symptoms_next_c ~ symptoms_c + alliance_within_z_c + C(session_band)", data).fit()
    assert fixed.params["symptoms_c"] < persistence - 0.15
    assert abs(fixed.params["alliance_within_z_c"] - cfg["symptoms"]["within_points_per_sd"]) > abs(
        mixed.params["alliance_within_z"] - cfg["symptoms"]["within_points_per_sd"])
