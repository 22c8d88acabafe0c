"""Patient features and scoring of the contract tables, by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alliance.features import patient_features
from alliance.scores import score_patients, score_sessions


def session_scores(rows: list[tuple[str, int, bool, float | None]]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["patient_id", "session", "attended", "alliance_total"])
    for name in ("task", "bond", "goal"):
        df[f"alliance_{name}"] = df["alliance_total"]
    df["alliance_n_answered"] = df["alliance_total"].notna() * 12
    df["alliance_prorated"] = False
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
    satisfaction = pd.DataFrame({"patient_id": ["A", "B", "C"], "satisfaction": [30.0, None, 25.0]})
    return patient_features(patients, scores, satisfaction, outcomes, early_window=3)


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
    assert pd.isna(scored["satisfaction"].iloc[2])
