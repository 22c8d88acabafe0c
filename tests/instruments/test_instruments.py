"""Instrument definitions and scoring, against hand-computed cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import alliance.instruments
from alliance.configuration import schema_problems
from alliance.instruments import (
    InstrumentError,
    load_configured,
    load_instrument,
    shipped_instruments,
)
from alliance.instruments.items import score_items
from alliance.instruments.schema import INSTRUMENT_SCHEMA


def rows(instrument, answers: list[list[float | None]]) -> pd.DataFrame:
    return pd.DataFrame(answers, columns=instrument.item_columns, dtype=float)


def test_wai_sr_item_map_is_hatcher_and_gillaspy(wai_sr):
    assert wai_sr.subscales == {"task": (1, 2, 10, 12), "bond": (3, 5, 7, 9), "goal": (4, 6, 8, 11)}
    assert wai_sr.reverse_keyed == ()
    assert (wai_sr.minimum, wai_sr.maximum) == (1, 5)
    assert wai_sr.score_range == (1, 5)  # not the 12-84 range of the 7-point form
    # A map seen in public code (1-4 goal, 5-8 task, 9-12 bond) is wrong:
    assert wai_sr.subscales["goal"] != (1, 2, 3, 4)
    assert wai_sr.item_columns[0] == "wai_sr_01" and wai_sr.item_columns[-1] == "wai_sr_12"


def test_wai_sr_hand_computed(wai_sr):
    # items:    1  2  3  4  5  6  7  8  9 10 11 12
    answers = [[5, 4, 3, 2, 3, 2, 3, 2, 3, 4, 2, 5]]
    scored = score_items(rows(wai_sr, answers), wai_sr).iloc[0]
    assert scored["task"] == pytest.approx((5 + 4 + 4 + 5) / 4)  # items 1, 2, 10, 12
    assert scored["bond"] == pytest.approx(3.0)  # items 3, 5, 7, 9
    assert scored["goal"] == pytest.approx(2.0)  # items 4, 6, 8, 11
    assert scored["total"] == pytest.approx((4.5 + 3 + 2) / 3)
    assert scored["n_answered"] == 12 and not scored["prorated"]


def test_wai_sr_prorating(wai_sr):
    one_missing = [5, 4, None, 2, 3, 2, 3, 2, 3, 4, 2, 5]  # item 3 (bond) missing
    two_missing = [5, 4, None, 2, None, 2, 3, 2, 3, 4, 2, 5]  # items 3 and 5 (bond) missing
    empty = [None] * 12
    scored = score_items(rows(wai_sr, [one_missing, two_missing, empty]), wai_sr)
    assert scored.loc[0, "bond"] == pytest.approx(3.0)  # mean of items 5, 7, 9
    assert bool(scored.loc[0, "prorated"])
    assert np.isnan(scored.loc[1, "bond"]) and np.isnan(scored.loc[1, "total"])
    assert scored.loc[1, "task"] == pytest.approx(4.5)  # other subscales still scored
    assert not scored.loc[1, "prorated"]  # no total, so nothing counted as prorated
    assert scored.loc[2, ["task", "bond", "goal", "total"]].isna().all()
    assert scored.loc[2, "n_answered"] == 0


def test_csq8_sum_and_prorating(csq8):
    full = [4, 3, 4, 3, 4, 3, 4, 3]
    one_missing = [4, 3, 4, None, 4, 3, 4, 3]
    two_missing = [4, None, 4, None, 4, 3, 4, 3]
    scored = score_items(rows(csq8, [full, one_missing, two_missing]), csq8)
    assert scored.loc[0, "total"] == 28
    assert scored.loc[1, "total"] == pytest.approx((4 + 3 + 4 + 4 + 3 + 4 + 3) / 7 * 8)
    assert bool(scored.loc[1, "prorated"])
    assert np.isnan(scored.loc[2, "total"])
    assert csq8.score_range == (8, 32)


def test_user_instrument_with_reverse_key(tmp_path):
    """The worked example of workflow/alliance/instruments/README.md."""
    spec = {
        "key": "my_alliance", "items": 6, "response": {"min": 1, "max": 7}, "reverse_keyed": [5],
        "subscales": {"bond": [1, 3, 5], "task": [2, 4, 6]}, "score": "mean",
        "total": "mean_of_subscales", "prorate": {"max_missing_per_subscale": 1},
    }
    path = tmp_path / "my_alliance.yaml"
    path.write_text(yaml.safe_dump(spec))
    instrument = load_instrument(str(path))
    scored = score_items(rows(instrument, [[7, 6, 7, None, 1, 5]]), instrument).iloc[0]
    assert scored["bond"] == pytest.approx(7.0)
    assert scored["task"] == pytest.approx(5.5)
    assert scored["total"] == pytest.approx(6.25)
    assert bool(scored["prorated"])


def test_haq_ii_style_reverse_keys(tmp_path):
    """HAq-II: 19 items 1-6, items 4, 8, 11, 16, 19 reversed as 7 - x."""
    spec = {
        "key": "haq", "items": 19, "response": {"min": 1, "max": 6},
        "reverse_keyed": [4, 8, 11, 16, 19], "subscales": {"alliance": list(range(1, 20))},
        "score": "mean", "total": "mean_of_subscales", "prorate": {"max_missing_per_subscale": 0},
    }
    path = tmp_path / "haq.yaml"
    path.write_text(yaml.safe_dump(spec))
    instrument = load_instrument(str(path))
    answers = [6.0] * 19
    for item in (4, 8, 11, 16, 19):
        answers[item - 1] = 1.0  # a consistently positive respondent
    assert score_items(rows(instrument, [answers]), instrument).loc[0, "total"] == pytest.approx(6.0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"subscales": {"a": [1, 2, 3], "b": [3, 4, 5, 6]}}, "more than one subscale"),
        ({"subscales": {"a": [1, 2], "b": [4, 5, 6]}}, "must cover items"),
        ({"reverse_keyed": [9]}, "does not exist"),
        ({"score": "median"}, "score: given 'median'; expected one of mean, sum; did you mean mean"),
        ({"response": {"min": 5, "max": 1}}, "min must be below max"),
        ({"prorate": None}, "prorate: given None; expected a map"),
        ({"items": 6.5}, "items: given 6.5; expected an integer >= 1; e.g. items: 6"),
        ({"reverse_keyd": [5]}, r"reverse_keyd: unknown key \(given \[5\]\); known keys here: key, name, .*; "
                                "did you mean reverse_keyed\\? e.g. reverse_keyed: \\[5\\]"),
        ({"response": {"min": 1, "max": "7"}}, "response.max: given '7'; expected a number"),
    ],
)
def test_malformed_instrument_is_refused(tmp_path, change, message):
    spec = {
        "key": "x", "items": 6, "response": {"min": 1, "max": 7}, "reverse_keyed": [],
        "subscales": {"a": [1, 2, 3], "b": [4, 5, 6]}, "score": "mean",
        "total": "mean_of_subscales", "prorate": {"max_missing_per_subscale": 1},
    } | change
    path = tmp_path / "x.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(InstrumentError, match=message):
        load_instrument(str(path))


def test_every_shipped_definition_has_the_form_of_the_schema():
    """The shipped definitions are read without the schema check (each job would import jsonschema for
    it), so their form is checked here."""
    folder = Path(alliance.instruments.__file__).parent
    for key in shipped_instruments():
        spec = yaml.safe_load((folder / f"{key}.yaml").read_text())
        assert schema_problems(spec, INSTRUMENT_SCHEMA) == {}, key
    assert schema_problems({"key": "x"}, INSTRUMENT_SCHEMA)  # a check that can fail


def test_a_definition_missing_fields_names_each_with_an_example(tmp_path):
    """Every missing field on its own line, with what it holds and an example, never a library's error text
    (it read "missing or malformed field (KeyError('prorate'))")."""
    path = tmp_path / "sat4.yaml"
    path.write_text("key: sat4\nitems: 4\nresponse: {min: 1, max: 5}\nsubscales: {satisfaction: [1, 2, 3]}")
    with pytest.raises(InstrumentError) as caught:
        load_instrument(str(path))
    assert str(caught.value).splitlines() == [
        f"{path} is not an instrument definition (3 problems; the fields, with an example, are in "
        "workflow/alliance/instruments/README.md):",
        "  score: missing; expected one of mean, sum; e.g. score: mean",
        "  total: missing; expected one of mean_of_subscales, sum_of_subscales; e.g. total: "
        "mean_of_subscales",
        "  prorate: missing; expected a map (key: value); e.g. prorate: {max_missing_per_subscale: 1}"]
    path.write_text("- key: sat4\n")
    with pytest.raises(InstrumentError, match="not a map of fields"):
        load_instrument(str(path))


def test_unknown_instrument_names_the_choices():
    with pytest.raises(InstrumentError, match="wai_sr"):
        load_instrument("wai_x")
    assert {"wai_sr", "csq8"} <= set(shipped_instruments())


def test_no_item_wording_is_shipped(root):
    """Only item numbers and keys: no definition holds an item text field."""
    for path in (root / "workflow/alliance/instruments").glob("*.yaml"):
        spec = yaml.safe_load(path.read_text())
        assert not {"wording", "text", "item_text", "stems"} & set(spec), path


def test_srs_decimals_and_the_cut_off_edge():
    srs = load_instrument("srs")
    assert (srs.n_items, srs.score_range, srs.integer) == (4, (0, 40), False)
    answers = [[9.1, 8.9, 9.0, 9.0],   # exactly 36: not a concern by default
               [9.0, 9.0, 9.0, 8.9],   # 35.9: a concern
               [10.0, 10.0, 10.0, None],  # prorated: 40
               [None] * 4]
    scored = score_items(rows(srs, answers), srs)
    assert scored["total"].tolist()[:3] == pytest.approx([36.0, 35.9, 40.0])
    assert scored["concern"].tolist()[:3] == [False, True, False]
    assert pd.isna(scored["concern"].iloc[3])
    inclusive = load_instrument("srs", cutoff={"inclusive": True})
    assert score_items(rows(inclusive, answers), inclusive)["concern"].tolist()[:2] == [True, True]
    stricter = load_instrument("srs", cutoff={"value": 38})
    assert score_items(rows(stricter, answers), stricter)["concern"].tolist()[2] is False


def test_shipped_haq_ii_reverses_the_negative_items():
    haq = load_instrument("haq_ii")
    assert haq.reverse_keyed == (4, 8, 11, 16, 19) and (haq.minimum, haq.maximum) == (1, 6)
    answers = [5.0] * 19
    for item in haq.reverse_keyed:
        answers[item - 1] = 2.0  # 7 - 2 = 5
    scored = score_items(rows(haq, [answers]), haq).iloc[0]
    assert scored["total"] == pytest.approx(5.0)
    answers[0] = answers[1] = None  # two missing of 19 are prorated
    assert score_items(rows(haq, [answers]), haq).loc[0, "total"] == pytest.approx(5.0)


def test_wai_s_asks_for_the_users_key(tmp_path, root):
    with pytest.raises(InstrumentError, match="fill in `subscales` and `reverse_keyed`"):
        load_instrument("wai_s")
    spec = yaml.safe_load((root / "workflow/alliance/instruments/wai_s.yaml").read_text())
    del spec["requires_user_key"]
    spec |= {"subscales": {"bond": [3, 5, 7, 9], "goal": [2, 4, 8, 12], "task": [1, 6, 10, 11]},
             "reverse_keyed": [4, 10]}
    path = tmp_path / "wai_s_mine.yaml"
    path.write_text(yaml.safe_dump(spec))
    wai_s = load_instrument(str(path))
    answers = [[7, 6, 7, 2, 7, 6, 7, 6, 7, 1, 6, 6]]
    scored = score_items(rows(wai_s, answers), wai_s).iloc[0]
    assert scored["goal"] == pytest.approx((6 + 6 + 6 + 6) / 4)  # item 4 reversed: 8 - 2
    assert scored["task"] == pytest.approx((7 + 6 + 7 + 6) / 4)  # item 10 reversed: 8 - 1
    assert wai_s.score_range == (1, 7)


def test_configured_instruments_need_distinct_keys(tmp_path, root):
    own = yaml.safe_load((root / "workflow/alliance/instruments/wai_sr.yaml").read_text())
    path = tmp_path / "same_key.yaml"
    path.write_text(yaml.safe_dump(own))
    settings = {"alliance": "wai_sr", "satisfaction": "csq8", "alliance_therapist": str(path)}
    with pytest.raises(InstrumentError, match="key of its own"):
        load_configured(settings)
    path.write_text(yaml.safe_dump(own | {"key": "wai_sr_t"}))
    loaded = load_configured(settings)
    assert loaded["therapist"].item_columns[0] == "wai_sr_t_01"
    assert load_configured(settings | {"alliance_therapist": ""})["therapist"] is None


def test_cut_off_settings_from_the_config():
    settings = {"alliance": "srs", "satisfaction": "csq8", "cutoff_value": None, "cutoff_inclusive": True}
    assert load_configured(settings)["alliance"].cutoff.inclusive
    assert load_configured(settings | {"cutoff_inclusive": None})["alliance"].cutoff.value == 36
    with pytest.raises(InstrumentError, match="has no cut-off"):
        load_configured(settings | {"alliance": "wai_sr"})
    own = load_configured(settings | {"alliance": "wai_sr", "cutoff_value": 4.0})["alliance"]
    assert own.cutoff.value == 4
    # a cut-off outside the total's range flags every total or none (a reviewer's SRS with 50)
    for value, key in ((50.0, "srs"), (-3.0, "wai_sr")):
        with pytest.raises(InstrumentError, match=f"cutoff_value {value:g} lies outside the total's range"):
            load_configured(settings | {"alliance": key, "cutoff_value": value})


def test_the_cut_off_settings_are_the_patient_rated_instruments_only(tmp_path, root):
    """A therapist-rated 1-5 form beside the SRS with cutoff_value 36 had taken that cut-off (99.96% of its
    sessions "a concern", and the Methods said so); with cutoff_inclusive alone the run stopped, blaming
    the therapist form's file. It keeps its own definition's (none)."""
    own = yaml.safe_load((root / "workflow/alliance/instruments/wai_sr.yaml").read_text())
    path = tmp_path / "wai_sr_t.yaml"
    path.write_text(yaml.safe_dump(own | {"key": "wai_sr_t"}))
    settings = {"alliance": "srs", "satisfaction": "csq8", "alliance_therapist": str(path)}
    for cutoff in ({"cutoff_value": 36.0}, {"cutoff_inclusive": True}):
        loaded = load_configured(settings | cutoff)
        assert loaded["alliance"].cutoff.value == 36 and loaded["therapist"].cutoff is None
