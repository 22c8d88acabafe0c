"""Measurement on the synthetic cohort: reliability, factor structure, variance components, ruptures."""

from __future__ import annotations

import numpy as np
import pytest

from alliance.features.ruptures import detect_ruptures
from alliance.ingest.contract import validate_tables
from alliance.instruments import load_configured
from alliance.measurement.tables import first_questionnaires, measurement_tables, total_alpha
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


def test_prescored_data_have_no_item_level_psychometrics(measured):
    v, scores, _ = measured
    no_items = scores.assign(alliance_n_answered=0)
    tables = measurement_tables(v.patients, v.sessions, v.outcomes, session_scores=no_items,
                                instruments=INSTRUMENTS, settings=SETTINGS)
    assert set(tables["reliability"]["role"]) == {"satisfaction"} and tables["cfa_fit"].empty
    notes = tables["notes"]
    assert list(notes.columns) == ["topic", "note"] and notes["topic"].iloc[0] == "alliance"
    assert notes["note"].iloc[0] == ("Item-level psychometrics of the alliance measure (wai_sr) were not "
                                     "possible: no questionnaire was answered by item.")
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
