"""Measurement on the synthetic cohort: reliability, factor structure, variance components, ruptures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import semopy
import yaml

from alliance.features.build import criterion_alpha
from alliance.features.ruptures import detect_ruptures
from alliance.i18n import read_message, use_language
from alliance.ingest.contract import validate_tables
from alliance.instruments import load_configured
from alliance.io import as_stored, write_csv
from alliance.measurement.psychometrics import cfa_compare
from alliance.measurement.tables import (
    alliance_total_alpha,
    first_questionnaires,
    measurement_tables,
    total_alpha,
)
from alliance.report.format import format_value
from alliance.scoring.scores import score_sessions
from alliance.simulation.synthetic import generate_cohort

SETTINGS = {"bootstrap": 50, "seed": 3, "max_sessions": 6}
INSTRUMENTS = load_configured({"alliance": "wai_sr", "satisfaction": "csq8"})


def validated(cohort):
    raw = dict(zip(("patients", "sessions", "outcomes"), cohort[:3], strict=True))
    return validate_tables(raw, {k: f"{k}.csv" for k in raw}, INSTRUMENTS["alliance"],
                           satisfaction=INSTRUMENTS["satisfaction"])


@pytest.fixture(scope="module")
def measured(default_config):
    cfg = default_config["synthetic"] | {"n_patients": 1200, "n_therapists": 60, "seed": 4}
    v = validated(generate_cohort(cfg, 3, np.random.default_rng(cfg["seed"])))
    scores = score_sessions(v.sessions, INSTRUMENTS["alliance"])
    return v, scores, measurement_tables(v.patients, v.sessions, v.outcomes, session_scores=scores,
                                         instruments=INSTRUMENTS, settings=SETTINGS)


def test_one_questionnaire_per_patient(measured):
    v, scores, _ = measured
    first = first_questionnaires(v.sessions, scores)
    assert first["patient_id"].is_unique
    scored = scores[scores["alliance_total"].notna() & scores["attended"]]
    earliest = scored.groupby("patient_id")["session"].min()
    assert (first.set_index("patient_id")["session"] == earliest.loc[first["patient_id"]]).all()


def test_known_structure_is_recovered(measured):
    _, _, tables = measured
    alliance = tables["reliability"][tables["reliability"]["role"] == "alliance"]
    reliability = alliance.set_index("scale")
    assert list(reliability.index) == ["task", "bond", "goal", "total"]
    satisfaction = tables["reliability"][tables["reliability"]["role"] == "satisfaction"].iloc[0]
    assert satisfaction["instrument"] == "csq8" and satisfaction["n_items"] == 8
    assert (reliability["alpha"] > 0.75).all() and reliability.loc["total", "alpha"] > 0.88
    assert total_alpha(tables["reliability"]) == pytest.approx(reliability.loc["total", "alpha"])
    fit = tables["cfa_fit"].set_index("model")
    # Three correlated dimensions were generated: that model fits, the single factor fits worse.
    assert fit.loc["correlated_factors", "cfi"] > 0.95 > fit.loc["one_factor", "cfi"]
    assert fit.loc["correlated_factors", "srmr"] < fit.loc["one_factor", "srmr"]
    params = tables["cfa_parameters"]
    correlations = params[(params["model"] == "correlated_factors")
                          & (params["kind"] == "factor_correlation")]["std_loading"]
    assert len(correlations) == 3 and correlations.between(0.6, 0.92).all()


def test_variance_components(measured):
    _, _, tables = measured
    icc = tables["therapist_icc"].iloc[0]
    # Generated: 10% of the latent between-patient variance; session noise dilutes observed means.
    assert 0.02 < icc["icc"] < 0.15 and icc["ci_low"] < icc["icc"] < icc["ci_high"]
    assert icc["status"] == "fitted" and icc["reason"] == ""
    by_sessions = tables["reliability_by_sessions"]
    assert by_sessions["reliability"].is_monotonic_increasing
    assert 0.5 < by_sessions["reliability"].iloc[0] < 0.9
    assert tables["agreement"].empty  # no therapist rater configured


def test_the_alpha_of_the_total_alone_is_the_reliability_tables(measured):
    """The features' reliable-change criterion computes the alpha of the total alone (without the rest of
    the psychometrics): exactly the reliability table's, also where the table has none."""
    v, scores, tables = measured
    alliance = INSTRUMENTS["alliance"]
    assert alliance_total_alpha(v.sessions, scores, alliance) == total_alpha(tables["reliability"])
    assert alliance_total_alpha(v.sessions, scores.assign(alliance_n_answered=0), alliance) is None


def test_the_rupture_criterion_reads_the_alpha_as_the_table_stores_it(measured, tmp_path):
    """The features job's alpha (no `ruptures.reliability`) is the one reliability.csv holds, to the bit;
    with a configured reliability or another criterion there is none."""
    v, scores, tables = measured
    alliance = INSTRUMENTS["alliance"]
    write_csv(tables["reliability"], tmp_path / "reliability.csv")
    stored = total_alpha(pd.read_csv(tmp_path / "reliability.csv"))
    reliable_change = {"criterion": "reliable_change"}
    assert criterion_alpha(reliable_change, v.sessions, scores, alliance) == stored
    assert stored != total_alpha(tables["reliability"])  # the rounding matters: the check can fail
    assert criterion_alpha({**reliable_change, "reliability": 0.9}, v.sessions, scores, alliance) is None
    assert criterion_alpha({"criterion": "prior_diff"}, v.sessions, scores, alliance) is None


def test_as_stored_is_a_csv_round_trip(tmp_path):
    values = np.random.default_rng(3).normal(scale=10.0 ** np.arange(-8, 9), size=(40, 17)).ravel()
    write_csv(pd.DataFrame({"x": values}), tmp_path / "x.csv")
    assert [as_stored(x) for x in values] == pd.read_csv(tmp_path / "x.csv")["x"].tolist()


def test_the_one_factor_model_of_the_items_is_fitted_once(measured, monkeypatch):
    """The omega of the alliance total and the factor comparison's one-factor model are the same model of
    the same rows: fitted once, with the tables of a fit of each."""
    v, scores, tables = measured
    fitted = []
    fit = semopy.Model.fit
    monkeypatch.setattr(semopy.Model, "fit", lambda model, *args, **kwargs: fitted.append(1) or fit(
        model, *args, **kwargs))
    again = measurement_tables(v.patients, v.sessions, v.outcomes, session_scores=scores,
                               instruments=INSTRUMENTS, settings=SETTINGS)
    # omegas of 4 alliance scales and the CSQ-8 total; the correlated-factors model; not the one-factor again
    assert len(fitted) == 6
    pd.testing.assert_frame_equal(again["reliability"], tables["reliability"])
    alone, _ = cfa_compare(first_questionnaires(v.sessions, scores), INSTRUMENTS["alliance"])
    pd.testing.assert_frame_equal(again["cfa_fit"], alone)


def test_prescored_data_have_no_item_level_psychometrics(measured):
    v, scores, _ = measured
    no_items = scores.assign(alliance_n_answered=0)
    tables = measurement_tables(v.patients, v.sessions, v.outcomes, session_scores=no_items,
                                instruments=INSTRUMENTS, settings=SETTINGS)
    assert set(tables["reliability"]["role"]) == {"satisfaction"} and tables["cfa_fit"].empty
    notes = tables["notes"]
    assert list(notes.columns) == ["topic", "note", "note_message"] and notes["topic"].iloc[0] == "alliance"
    assert notes["note"].iloc[0] == ("Item-level psychometrics of the alliance measure (wai_sr) were not "
                                     "possible: no questionnaire was answered by item.")
    # and in the report's language, from its message
    with use_language("ca"):
        words = read_message(notes["note_message"].iloc[0]).render(format_value)
    assert words == ("No va ser possible l'anàlisi psicomètrica per ítem de la mesura d'aliança (wai_sr): "
                     "cap qüestionari no es va respondre ítem per ítem.")
    assert total_alpha(tables["reliability"]) is None  # only the satisfaction instrument has items
    assert not tables["therapist_icc"].empty  # variance components need only the totals


def test_planted_ruptures_are_recovered(default_config):
    """Large planted drops over small noise: the reliable-change criterion finds them at their sessions."""
    cfg = default_config["synthetic"] | {"n_patients": 400, "seed": 8}
    cfg["alliance"] = cfg["alliance"] | {"rupture_rate": 0.05, "rupture_size": 2.5, "session_sd": 0.05,
                                         "item_sd": 0.15, "growth_sd": 0.0}
    cohort = generate_cohort(cfg, 3, np.random.default_rng(cfg["seed"]))
    planted = cohort[3]
    v = validated(cohort)
    scores = score_sessions(v.sessions, INSTRUMENTS["alliance"])
    found = detect_ruptures(scores, criterion="reliable_change", reliability=0.9)
    found["previous"] = found.groupby("patient_id")["session"].shift()
    changes = found[found["drop"].notna()]
    # A planted rupture shows at the first scored session at or after it.
    shown = changes.merge(planted.rename(columns={"session": "planted"}), on="patient_id")
    shown = shown[(shown["planted"] > shown["previous"]) & (shown["planted"] <= shown["session"])]
    with_rupture = changes.set_index(["patient_id", "session"]).index.isin(
        shown.set_index(["patient_id", "session"]).index)
    detected = changes["rupture"].to_numpy()
    assert with_rupture.sum() > 50
    assert detected[with_rupture].mean() > 0.9  # recall
    assert with_rupture[detected].mean() > 0.9  # precision


def test_agreement_says_why_with_few_sessions_rated_by_both(measured, tmp_path, root):
    """A therapist form rated at two sessions: the agreement table has its row, each part not estimable
    with its reason (it had been left empty, so the report said nothing at all)."""
    v, _, _ = measured
    spec = yaml.safe_load((root / "workflow/alliance/instruments/wai_sr.yaml").read_text())
    (tmp_path / "wai_sr_t.yaml").write_text(yaml.safe_dump(spec | {"key": "wai_sr_t"}))
    instruments = load_configured({"alliance": "wai_sr", "satisfaction": "csq8",
                                   "alliance_therapist": str(tmp_path / "wai_sr_t.yaml")})
    sessions = v.sessions.copy()
    for column in instruments["therapist"].item_columns:
        sessions[column] = np.nan
        sessions.loc[sessions.index[:2], column] = 4.0
    scores = score_sessions(sessions, instruments["alliance"], instruments["therapist"])
    assert scores["therapist_alliance_total"].notna().sum() <= 2
    (row,) = measurement_tables(v.patients, sessions, v.outcomes, session_scores=scores,
                                instruments=instruments, settings=SETTINGS)["agreement"].to_dict("records")
    assert row["rm_status"] == "not_estimable" and row["patient_level_status"] == "not_estimable"
    assert row["rm_reason"].startswith("fewer than 3 patients have two or more sessions rated by both")
