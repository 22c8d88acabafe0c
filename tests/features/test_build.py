"""Patient features and scoring of the contract tables, by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alliance.features.build import patient_features, session_features
from alliance.instruments import load_instrument
from alliance.scoring.scores import score_patients, score_sessions, scoring_summary


def session_scores(rows: list[tuple[str, int, bool, float | None]]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["patient_id", "session", "attended", "alliance_total"])
    for name in ("task", "bond", "goal"):
        df[f"alliance_{name}"] = df["alliance_total"]
    df["alliance_n_answered"] = df["alliance_total"].notna() * 12
    df["alliance_prorated"] = False
    df["alliance_source"] = df["alliance_total"].notna().map({True: "items", False: None})
    return df


@pytest.fixture
def features() -> pd.DataFrame:
    patients = pd.DataFrame({"patient_id": ["A", "B", "C"], "therapist_id": ["T1", "T1", "T2"],
                             "sessions_planned": [6, 6, 6]})
    scores = session_scores([
        ("A", 1, True, 3.0), ("A", 2, True, 4.0), ("A", 3, False, None), ("A", 4, True, 5.0),
        ("A", 5, False, None), ("A", 6, True, 5.0),
        ("B", 1, True, None), ("B", 2, True, 2.0),  # ended within the window (k = 3)
        ("C", 4, True, 4.5),  # no session in the window
    ])
    outcomes = pd.DataFrame({"patient_id": ["A", "B", "C"], "dropout": [False, True, False]})
    satisfaction = pd.DataFrame({"patient_id": ["A", "B", "C"], "satisfaction": [30.0, None, 25.0],
                                 "satisfaction_source": ["items", None, "items"]})
    return patient_features(patients, scores, satisfaction, outcomes=outcomes, early_window=3)


def test_early_alliance_uses_only_the_window(features):
    a = features.set_index("patient_id").loc["A"]
    assert a["alliance_early"] == pytest.approx(3.5)  # sessions 1-2; session 4 is later
    assert a["alliance_early_n"] == 2
    assert a["alliance_mean"] == pytest.approx((3 + 4 + 5 + 5) / 4)
    assert (a["scheduled_after_window"], a["attended_after_window"], a["missed_after_window"]) == (3, 2, 1)
    assert not a["ended_in_window"]


def test_window_edge_cases(features):
    f = features.set_index("patient_id")
    assert bool(f.loc["B", "ended_in_window"]) and f.loc["B", "scheduled_after_window"] == 0
    assert f.loc["B", "alliance_early"] == pytest.approx(2.0)
    assert np.isnan(f.loc["C", "alliance_early"]) and f.loc["C", "alliance_early_n"] == 0
    assert f.loc["C", "alliance_mean"] == pytest.approx(4.5)
    assert f["dropout"].tolist() == [False, True, False]
    assert np.isnan(f.loc["B", "satisfaction"])


def test_missed_sessions_are_not_scored(wai_sr):
    sessions = pd.DataFrame({"patient_id": ["A", "A"], "session": [1, 2], "attended": [True, False]})
    for column in wai_sr.item_columns:
        sessions[column] = [4.0, 5.0]
    scored = score_sessions(sessions, wai_sr)
    assert scored["alliance_total"].tolist()[0] == 4.0
    assert np.isnan(scored["alliance_total"].tolist()[1])


def test_prescored_satisfaction_fills_patients_without_items(csq8):
    outcomes = pd.DataFrame({"patient_id": ["A", "B", "C"], "dropout": [False] * 3,
                             "satisfaction": [10.0, 20.0, None]})
    for column in csq8.item_columns:
        outcomes[column] = [4.0, None, None]
    scored = score_patients(outcomes, csq8)
    assert scored["satisfaction"].tolist()[:2] == [32.0, 20.0]  # items win where present
    assert scored["satisfaction_source"].tolist()[:2] == ["items", "pre-scored"]
    assert pd.isna(scored["satisfaction"].iloc[2]) and pd.isna(scored["satisfaction_source"].iloc[2])


def test_satisfaction_answered_but_unscorable_is_told_apart(csq8):
    """Answers with two of the CSQ-8's items missing (one may be prorated) are unscorable, not absent; a
    pre-scored total does not fill them, as their items were answered."""
    outcomes = pd.DataFrame({"patient_id": ["A", "B", "C"], "dropout": [False] * 3,
                             "satisfaction": [None, 25.0, None]})
    for number, column in enumerate(csq8.item_columns, start=1):
        outcomes[column] = [3.0 if number > 2 else None, 3.0 if number > 1 else None, None]
    scored = score_patients(outcomes, csq8)
    assert scored["satisfaction_source"].tolist()[:2] == ["unscorable", "items"]
    assert pd.isna(scored["satisfaction_source"].iloc[2])
    assert pd.isna(scored["satisfaction"].iloc[0]) and scored["satisfaction"].iloc[1] == 24.0  # 3 x 8
    assert scoring_summary_satisfaction(scored) == {"missing": 2, "unscorable": 1, "prorated": 1}
    patients = pd.DataFrame({"patient_id": ["A", "B", "C"], "therapist_id": ["T1", "T1", "T2"]})
    sessions = session_scores([("A", 1, True, 4.0), ("B", 1, True, 3.0), ("C", 1, True, 4.0)])
    features = patient_features(patients, sessions, scored, outcomes=outcomes, early_window=3)
    assert features["satisfaction_unscorable"].tolist() == [True, False, False]


def scoring_summary_satisfaction(scored: pd.DataFrame) -> dict:
    """The satisfaction counts of `scoring_summary` that tell missing from unscorable."""
    counts = scoring_summary(session_scores([("A", 1, True, 4.0)]), scored,
                             {"alliance": load_instrument("wai_sr"), "satisfaction": load_instrument("csq8")})
    return {key: counts["satisfaction"][key] for key in ("missing", "unscorable", "prorated")}


def test_last_alliance_slope_and_therapist_split(features):
    f = features.set_index("patient_id")
    assert f.loc["A", "alliance_last"] == 5.0 and f.loc["B", "alliance_last"] == 2.0
    # A: sessions 1, 2, 4, 6 with totals 3, 4, 5, 5; centred sums Sxy = 5.75, Sxx = 14.75
    assert f.loc["A", "alliance_slope"] == pytest.approx(5.75 / 14.75)
    assert f.loc["A", "alliance_slope"] == pytest.approx(np.polyfit([1, 2, 4, 6], [3, 4, 5, 5], 1)[0])
    assert f[["alliance_slope"]].loc[["B", "C"]].isna().all().all()  # one scored session each
    # T1 treats A (mean 4.25) and B (mean 2.0); T2 only C (4.5): the mean includes the patient itself
    assert f.loc["A", "alliance_therapist_mean"] == pytest.approx(3.125)
    assert f.loc["B", "alliance_therapist_mean"] == pytest.approx(3.125)
    assert f.loc["A", "alliance_patient_dev"] == pytest.approx(1.125)
    assert f.loc["B", "alliance_patient_dev"] == pytest.approx(-1.125)
    assert f.loc["C", "alliance_therapist_mean"] == 4.5 and f.loc["C", "alliance_patient_dev"] == 0


def test_unscored_patients_do_not_enter_the_therapist_mean():
    patients = pd.DataFrame({"patient_id": ["A", "B"], "therapist_id": ["T1", "T1"]})
    scores = session_scores([("A", 1, True, 4.0), ("A", 2, True, 3.0), ("B", 1, False, None)])
    outcomes = pd.DataFrame({"patient_id": ["A", "B"], "dropout": [False, True]})
    satisfaction = pd.DataFrame({"patient_id": ["A", "B"], "satisfaction": [30.0, None],
                                 "satisfaction_source": ["items", None]})
    f = patient_features(patients, scores, satisfaction, outcomes=outcomes,
                         early_window=3).set_index("patient_id")
    assert f.loc["A", "alliance_slope"] == pytest.approx(-1.0)
    assert f.loc["A", "alliance_therapist_mean"] == pytest.approx(3.5)
    assert f.loc["A", "alliance_patient_dev"] == pytest.approx(0.0)
    assert np.isnan(f.loc["B", "alliance_patient_dev"]) and np.isnan(f.loc["B", "alliance_last"])


def test_session_features_by_hand():
    patients = pd.DataFrame({"patient_id": ["A", "B"], "therapist_id": ["T1", "T2"]})
    scores = session_scores([
        ("B", 4, True, 3.0), ("B", 3, True, None), ("B", 2, False, 5.0), ("B", 1, True, 2.0),
        ("A", 1, True, 3.0), ("A", 2, True, 4.0), ("A", 3, False, None), ("A", 4, True, 5.0),
        ("A", 5, False, None), ("A", 6, True, 5.0),
    ])  # B2: a total on a missed session is not a scored session; B3 attended but unscored
    f = session_features(scores, patients, early_window=3)
    assert f[["patient_id", "session"]].values.tolist() == [
        ["A", 1], ["A", 2], ["A", 3], ["A", 4], ["A", 5], ["A", 6], ["B", 1], ["B", 2], ["B", 3], ["B", 4]]
    assert f["therapist_id"].tolist() == ["T1"] * 6 + ["T2"] * 4
    nan = np.nan
    assert np.allclose(f["alliance_between"], [4.25] * 6 + [2.5] * 4)
    assert np.allclose(f["alliance_within"], [-1.25, -0.25, nan, 0.75, nan, 0.75, -0.5, nan, nan, 0.5],
                       equal_nan=True)
    assert np.allclose(f["alliance_prev"], [nan, 3, 4, 4, 5, 5, nan, 2, 2, 2], equal_nan=True)
    assert np.allclose(f["alliance_prev_within"],
                       [nan, -1.25, -0.25, -0.25, 0.75, 0.75, nan, -0.5, -0.5, -0.5], equal_nan=True)
    assert f["sessions_since_prev"].tolist() == [pd.NA, 1, 1, 2, 1, 2, pd.NA, 1, 2, 3]
    # the mean of the scored totals before the session (A: 3, 4, -, 5, -, 5; B: 2, -, -, 3)
    assert np.allclose(f["alliance_running_mean"], [nan, 3, 3.5, 3.5, 4, 4, nan, 2, 2, 2], equal_nan=True)
    assert f["attended_next"].tolist() == [True, False, True, False, True, pd.NA,
                                           False, True, True, pd.NA]
    assert f["after_window"].tolist() == [False] * 3 + [True] * 3 + [False] * 3 + [True]
    assert list(f.columns[:9]) == ["patient_id", "therapist_id", "session", "attended", "alliance_total",
                                   "alliance_task", "alliance_bond", "alliance_goal", "alliance_between"]


def draw(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Attendance (80%) and totals (missed sessions and 15% of attended ones unscored)."""
    attended = rng.random(n) < 0.8
    return attended, np.where(attended & (rng.random(n) > 0.15), rng.uniform(1, 5, n), np.nan)


def random_sessions(rng: np.random.Generator, n_patients: int = 8) -> pd.DataFrame:
    """Patients with 1-10 scheduled sessions."""
    counts = rng.integers(1, 11, size=n_patients)
    attended, total = draw(rng, counts.sum())
    return pd.DataFrame({"patient_id": np.repeat([f"P{i}" for i in range(n_patients)], counts),
                         "session": np.concatenate([np.arange(1, k + 1) for k in counts]),
                         "attended": attended, "alliance_total": total})


def previous_by_brute_force(df: pd.DataFrame) -> list[float]:
    """The total at the last earlier attended, scored session, row by row (the test's own oracle)."""
    prev = []
    for _, row in df.iterrows():
        earlier = df[(df["patient_id"] == row["patient_id"]) & (df["session"] < row["session"])
                     & df["attended"] & df["alliance_total"].notna()]
        prev.append(earlier.sort_values("session")["alliance_total"].iloc[-1] if len(earlier) else np.nan)
    return prev


@pytest.mark.parametrize("seed", range(5))
def test_previous_alliance_never_looks_ahead(seed):
    rng = np.random.default_rng(seed)
    base = random_sessions(rng)
    patients = pd.DataFrame({"patient_id": base["patient_id"].unique(), "therapist_id": "T"})
    before = session_features(base, patients, early_window=3)
    assert np.allclose(before["alliance_prev"], previous_by_brute_force(base), equal_nan=True)
    # Redraw attendance and scores from a random cut on (the cut session included), per patient.
    last = base.groupby("patient_id")["session"].transform("max")
    cut = np.ceil(base["patient_id"].map(dict(zip(patients["patient_id"], rng.random(len(patients)),
                                                  strict=True))) * last)
    changed = base.copy()
    redrawn = (changed["session"] >= cut).to_numpy()
    changed.loc[redrawn, "attended"], changed.loc[redrawn, "alliance_total"] = draw(rng, redrawn.sum())
    after = session_features(changed, patients, early_window=3)
    assert not after["alliance_total"].equals(before["alliance_total"])
    kept = (before["session"] <= cut).to_numpy()
    for column in ("alliance_prev", "alliance_running_mean", "sessions_since_prev"):
        assert before.loc[kept, column].astype(float).equals(after.loc[kept, column].astype(float)), column
