"""Scoring the contract tables: pre-scored alliance, a therapist rater, concern flags, the summary."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import yaml

from alliance.ingest.contract import validate_tables
from alliance.instruments import load_configured, load_instrument
from alliance.scoring.scores import (
    patient_codes,
    score_descriptives,
    score_patients,
    score_sessions,
    scoring_summary,
    subscale_columns,
)


def test_prescored_alliance_is_used_where_items_are_absent(wai_sr):
    sessions = pd.DataFrame({"patient_id": ["A", "A", "B"], "session": [1, 2, 1],
                             "attended": [True, True, False],
                             "alliance_task": [None, 4.0, 3.0], "alliance_bond": [None, 3.5, 3.0],
                             "alliance_goal": [None, 4.5, 3.0], "alliance_total": [None, 4.0, 3.0]})
    for column in wai_sr.item_columns:
        sessions[column] = [5.0, np.nan, np.nan]
    scored = score_sessions(sessions, wai_sr)
    assert scored["alliance_total"].tolist()[:2] == [5.0, 4.0]
    assert scored["alliance_bond"].tolist()[1] == 3.5
    assert scored["alliance_source"].tolist()[:2] == ["items", "pre-scored"]
    assert np.isnan(scored["alliance_total"].iloc[2])  # a missed session is never scored
    assert subscale_columns(scored) == ["alliance_task", "alliance_bond", "alliance_goal"]


def test_therapist_rater_and_summary(tmp_path, root, wai_sr, csq8):
    spec = yaml.safe_load((root / "workflow/alliance/instruments/wai_sr.yaml").read_text())
    path = tmp_path / "wai_sr_t.yaml"
    path.write_text(yaml.safe_dump(spec | {"key": "wai_sr_t"}))
    instruments = load_configured({"alliance": "wai_sr", "satisfaction": "csq8",
                                   "alliance_therapist": str(path)})
    therapist = instruments["therapist"]
    sessions = pd.DataFrame({"patient_id": ["A", "A"], "session": [1, 2], "attended": [True, True]})
    for column in wai_sr.item_columns:
        sessions[column] = [4.0, 5.0]
    for column in therapist.item_columns:
        sessions[column] = [3.0, np.nan]
    scored = score_sessions(sessions, wai_sr, therapist)
    assert scored["therapist_alliance_total"].tolist()[0] == 3.0
    assert np.isnan(scored["therapist_alliance_total"].iloc[1])
    outcomes = pd.DataFrame({"patient_id": ["A"], "dropout": [False]})
    for column in csq8.item_columns:
        outcomes[column] = [3.0]
    summary = scoring_summary(scored, score_patients(outcomes, csq8), instruments)
    assert summary["alliance"]["sessions_scored"] == 2 and summary["alliance"]["item_level"]
    assert summary["therapist_alliance"]["sessions_scored"] == 1
    assert summary["satisfaction"]["scored_from_items"] == 1


def test_prescored_only_data_validate_and_report_no_item_level(wai_sr, csq8):
    patients = pd.DataFrame({"patient_id": ["A"], "therapist_id": ["T"], "sessions_planned": ["4"]})
    sessions = pd.DataFrame({"patient_id": ["A", "A"], "session": ["1", "2"], "attended": ["1", "1"],
                             "alliance_task": ["4", "4.5"], "alliance_bond": ["4", "4"],
                             "alliance_goal": ["4", "6"], "alliance_total": ["4", "4.8"]})
    outcomes = pd.DataFrame({"patient_id": ["A"], "dropout": ["0"], "satisfaction": ["30"]})
    raw = {"patients": patients, "sessions": sessions, "outcomes": outcomes}
    files = {k: f"{k}.csv" for k in raw}
    with pytest.raises(Exception, match="alliance_goal"):  # 6 is outside the WAI-SR's 1-5
        validate_tables(raw, files, wai_sr, satisfaction=csq8)
    sessions.loc[1, "alliance_goal"] = "5"
    v = validate_tables(raw, files, wai_sr, satisfaction=csq8)
    scored = score_sessions(v.sessions, wai_sr)
    assert scored["alliance_total"].tolist() == [4.0, 4.8]
    instruments = {"alliance": wai_sr, "satisfaction": csq8}
    summary = scoring_summary(scored, score_patients(v.outcomes, csq8), instruments)
    assert not summary["alliance"]["item_level"]
    assert summary["alliance"]["sessions_pre_scored"] == 2
    assert summary["satisfaction"]["pre_scored"] == 1


def test_srs_concern_flags_in_session_scores():
    srs = load_instrument("srs")
    sessions = pd.DataFrame({"patient_id": ["A", "A"], "session": [1, 2], "attended": [True, True]})
    for column, values in zip(srs.item_columns, ([9.5, 8.0], [9.5, 9.0], [9.0, 9.0], [8.0, 9.9]),
                              strict=True):
        sessions[column] = values
    scored = score_sessions(sessions, srs)
    assert scored["alliance_total"].tolist() == pytest.approx([36.0, 35.9])
    assert scored["alliance_concern"].tolist() == [False, True]


def test_patient_codes_group_like_the_ids():
    ids = pd.Series(["P2", "P1", "P2", "P3"], index=[10, 11, 12, 13], name="patient_id")
    codes, uniques = patient_codes(ids)
    assert codes.tolist() == [0, 1, 0, 2] and list(codes.index) == [10, 11, 12, 13]
    assert list(uniques) == ["P2", "P1", "P3"] and uniques.name == "patient_id"
    with pytest.raises(ValueError, match="missing"):
        patient_codes(pd.Series(["P1", None]))


def test_score_descriptives_skew_needs_spread(wai_sr):
    sessions = pd.DataFrame({"patient_id": list("ABCD"), "session": 1, "attended": True})
    for column in wai_sr.item_columns:
        sessions[column] = 4.0  # every session answers 4 everywhere: the same total
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scipy warns of precision loss on identical values
        described = score_descriptives(score_sessions(sessions, wai_sr), wai_sr)
    assert described["n"].eq(4).all() and described["sd"].eq(0).all()
    assert described["skew"].isna().all() and described["ceiling_share"].eq(0).all()
