"""Valid but degenerate cohorts (tests/degenerate.py) through every stage (issue 12), the half with few or odd
clusters (two therapists, two arms, one patient per therapist, a clinic of twelve, one discipline and one
site) and random small clinics: validate, score, psychometrics and features, then the models, the status
table, the sensitivity analyses and the report. No stage raises, nothing the data cannot identify is given
as a number, every gap says why in words, and the report renders without NaN or a library's message. The
other half: test_degenerate_data.py; the checks themselves: degenerate_checks.py."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
from degenerate import run_stages, variant
from degenerate_checks import (
    CLUSTER_COHORTS,
    EXPECTED,
    among,
    assert_complete_honest_report,
    assert_honest,
    assert_status_names_the_data_cause,
    dimension_result,
    dynamics_result,
    section,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alliance.errors import NOT_ESTIMABLE, REPORTED
from alliance.models import FAMILIES, fit_family
from alliance.models.effects import effects_table
from alliance.models.plan import status_table

SOME = ["all", "none", "drawn"]  # attendance and dropout of the random clinics


@pytest.mark.parametrize("name", CLUSTER_COHORTS)
def test_stages_run_and_stay_honest(staged, name):
    assert_honest(staged[name])


@pytest.mark.parametrize(("name", "reason"), [
    ("one_patient_per_therapist", "one patient per therapist: the therapist variance cannot be told apart "
                                  "from the variance between patients"),
    ("two_therapists", "2 therapists: a variance between therapists needs at least 3"),
    ("one_therapist", "a single therapist: there is no variance between therapists"),
])
def test_therapist_icc_not_estimable_with_the_reason(staged, name, reason):
    icc = staged[name].psychometrics["therapist_icc"].iloc[0]
    assert icc["status"] == NOT_ESTIMABLE and icc["reason"].startswith(reason)
    assert np.isnan(icc[["icc", "ci_low", "ci_high"]].astype(float)).all() and icc["n_boot"] == 0
    text = section(staged[name])["icc"]
    assert text.startswith(f"The therapist ICC of the patients' mean alliance is not estimable: {reason}")
    assert not re.search(r"\b0 \[0, 0\]|\.00 to \.00|0%", text)


def test_small_clinic_says_why_item_analyses_are_missing(staged):
    stages = staged["twelve_patients"]
    assert stages.psychometrics["cfa_fit"].empty
    measured = section(stages)
    assert "too few patients answered it by item (item-level analyses need more patients than its 12 " \
           "items)" in measured["not_possible"]
    assert any("Omega of 'total' was not estimated" in note for note in measured["notes"])
    assert measured["icc"].startswith("Therapist ICC of the patients' mean alliance:")  # 3 therapists of 4


@settings(max_examples=12, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(therapists=st.integers(1, 4), per_therapist=st.integers(1, 3), missing=st.floats(0, 1),
       attendance=st.sampled_from(SOME), dropout=st.sampled_from(SOME), seed=st.integers(0, 2**16))
def test_random_degenerate_clinics_never_raise(default_config, therapists, per_therapist, missing, attendance,
                                               dropout, seed):
    cohort = variant(default_config, therapists, per_therapist, missing, attendance, dropout, seed)
    with tempfile.TemporaryDirectory() as work:
        stages = run_stages(cohort, default_config, Path(work))
    assert_honest(stages)
    icc = stages.psychometrics["therapist_icc"].iloc[0]
    if therapists < 3 or per_therapist == 1:
        assert icc["status"] == NOT_ESTIMABLE
    # The models too: every planned model ends with a status, a reason in words when it has no estimate,
    # and finite numbers where it has one (any other exception is a bug and fails the test).
    results = [fit_family(family, stages.features, ["baseline_severity", "discipline"],
                          sessions=stages.sessions, early_window=3).to_dict() for family in FAMILIES]
    status = status_table([*results, dimension_result(stages), dynamics_result(stages)])
    unreported = status[~status["status"].isin(REPORTED)]
    assert (unreported["reason"].str.len() > 10).all(), unreported
    effects = effects_table(results)
    assert np.isfinite(effects.select_dtypes("number").to_numpy(dtype=float)).all()


@pytest.mark.parametrize("name", CLUSTER_COHORTS)
def test_every_degenerate_cohort_gets_a_complete_honest_report(runs, name):
    assert_complete_honest_report(runs[name], name)


@pytest.mark.parametrize("name", among(EXPECTED, CLUSTER_COHORTS))
def test_the_status_names_the_data_cause(runs, name):
    assert_status_names_the_data_cause(runs[name], name)
