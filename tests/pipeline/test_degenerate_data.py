"""Valid but degenerate cohorts (tests/degenerate.py) through every stage (issue 12), the half whose data
lack something (an outcome, sessions, early answers, item answers, weekly contacts): validate, score,
psychometrics and features, then the models, the status table, the sensitivity analyses and the report.
No stage raises, nothing the data cannot identify is given as a number, every gap says why in words, and
the report renders without NaN or a library's message. The other half: test_degenerate_clusters.py; the
checks themselves: degenerate_checks.py."""

from __future__ import annotations

import pytest
from degenerate import COHORTS
from degenerate_checks import (
    CLUSTER_COHORTS,
    DATA_COHORTS,
    EXPECTED,
    among,
    assert_complete_honest_report,
    assert_honest,
    assert_model_figures_draw_without_models,
    assert_status_names_the_data_cause,
    section,
)

from alliance.errors import NOT_ESTIMABLE


def test_the_two_files_share_out_every_cohort():
    assert sorted(DATA_COHORTS + CLUSTER_COHORTS) == sorted(COHORTS)
    assert set(EXPECTED) <= set(COHORTS)


@pytest.mark.parametrize("name", DATA_COHORTS)
def test_stages_run_and_stay_honest(staged, name):
    assert_honest(staged[name])


def test_the_models_figures_draw_without_any_model(default_config):
    """Drawn with no model result at all (the data's figures are drawn and checked for every cohort, with
    its models, by `run_everything`)."""
    assert_model_figures_draw_without_models(default_config)


def test_prescored_seven_point_form_with_one_session_per_patient(staged):
    stages = staged["prescored_7_point_one_session"]
    assert not stages.scoring["alliance"]["item_level"]
    assert stages.features["alliance_mean"].dropna().between(1, 7).all()
    assert stages.features["alliance_mean"].dropna().gt(5).any()  # on the 7-point scale, not 1-5
    by_sessions = stages.psychometrics["reliability_by_sessions"]
    assert by_sessions["reliability"].isna().all() and (by_sessions["status"] == NOT_ESTIMABLE).all()
    measured = section(stages)
    assert measured["sessions"] == (
        "The single-session reliability of the alliance total could not be estimated: one session per "
        "patient: the patient variance cannot be told apart from the variance between sessions.")
    assert measured["not_possible"].endswith("(wai_s7) were not possible: the data hold pre-scored totals, "
                                             "not item answers.")
    assert not measured["fit"] and not measured["item_level"]


def test_no_satisfaction_measure(staged):
    stages = staged["no_satisfaction"]
    assert stages.features["satisfaction"].isna().all()
    assert ("Item-level psychometrics of the satisfaction measure (csq8) were not possible: no "
            "questionnaire was answered by item.") in section(stages)["notes"]


def test_patients_without_sessions_keep_their_rows(staged):
    stages = staged["patients_without_sessions"]
    assert stages.validation_summary["patients_without_sessions"] == 10
    assert (stages.features["sessions_scheduled"] == 0).sum() == 10
    assert stages.psychometrics["therapist_icc"].iloc[0]["n_patients"] <= 110


def test_no_early_alliance_no_dropout_and_all_attended(staged):
    assert staged["no_early_alliance"].features["alliance_early"].isna().all()
    assert staged["no_early_alliance"].features["alliance_mean"].notna().any()
    assert not staged["no_dropout"].features["dropout"].any()
    attended = staged["all_attended"].features
    assert (attended["sessions_attended"] == attended["sessions_scheduled"]).all()


@pytest.mark.parametrize("name", DATA_COHORTS)
def test_every_degenerate_cohort_gets_a_complete_honest_report(runs, name):
    assert_complete_honest_report(runs[name], name)


@pytest.mark.parametrize("name", among(EXPECTED, DATA_COHORTS))
def test_the_status_names_the_data_cause(runs, name):
    assert_status_names_the_data_cause(runs[name], name)
