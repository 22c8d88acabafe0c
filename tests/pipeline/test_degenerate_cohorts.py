"""Valid but degenerate cohorts (tests/degenerate.py) through every stage (issue 12): validate, score,
psychometrics and features, then the models, the status table, the sensitivity analyses and the report.
No stage raises, nothing the data cannot identify is given as a number, every gap says why in words, and
the report renders without NaN or a library's message."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from degenerate import COHORTS, Stages, run_stages, variant, visible_text
from figure_checks import layout_problems
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from matplotlib.text import Text

from alliance.errors import BOUNDARY, FITTED, NOT_CONVERGED, NOT_ESTIMABLE, REPORTED
from alliance.instruments import load_configured
from alliance.models import FAMILIES, fit_family
from alliance.models.effects import EFFECT_COLUMNS, effects_table, multiplicity_table
from alliance.models.plan import BY_KEY, status_table
from alliance.models.sensitivity import sensitivity_analyses
from alliance.outputs import FIGURES, PSYCHOMETRIC_TABLES
from alliance.report.analysis import sensitivity_notes
from alliance.report.document import build_report
from alliance.report.figures import make_figures
from alliance.report.measurement import measurement_section

NAN = re.compile(r"\bnan\b", re.IGNORECASE)
SOME = ["all", "none", "drawn"]  # attendance and dropout of the random clinics
LIBRARY_TEXT = re.compile(r"Traceback|Error|Exception|semopy|SolverResult|not PD|Moore-Penrose|LinAlg")


@pytest.fixture(scope="module")
def staged(default_config, tmp_path_factory) -> dict[str, Stages]:
    """Every cohort of COHORTS through the stages, once per module (lazily, by name)."""

    class Lazy(dict):
        def __missing__(self, name: str) -> Stages:
            self[name] = run_stages(COHORTS[name](default_config), default_config,
                                    tmp_path_factory.mktemp(name))
            return self[name]

    return Lazy()


def section(stages: Stages) -> dict:
    return measurement_section(stages.psychometrics, stages.rupture_shares, stages.scoring,
                               config=stages.config,
                               min_cell_size=stages.config["privacy"]["min_cell_size"], synthetic=False)


def assert_honest(stages: Stages) -> None:
    """What every run must satisfy, whatever the cohort."""
    tables = stages.psychometrics
    assert sorted(tables) == sorted(PSYCHOMETRIC_TABLES)
    icc = tables["therapist_icc"].iloc[0]
    assert icc["status"] in (FITTED, BOUNDARY, NOT_ESTIMABLE, NOT_CONVERGED)
    if icc["status"] in (NOT_ESTIMABLE, NOT_CONVERGED):
        assert np.isnan(icc[["icc", "ci_low", "ci_high", "therapist_variance"]].astype(float)).all()
    if not np.isfinite(icc["icc"]) or icc["status"] == BOUNDARY:
        assert isinstance(icc["reason"], str) and icc["reason"]
    by_sessions = tables["reliability_by_sessions"]
    if by_sessions["reliability"].isna().all():
        assert isinstance(by_sessions["reason"].iloc[0], str) and by_sessions["reason"].iloc[0]
    words = [*tables["notes"]["note"], *tables["therapist_icc"]["reason"].dropna(),
             *by_sessions["reason"].dropna()]
    assert not [text for text in words if LIBRARY_TEXT.search(text) or NAN.search(text)]
    patients = stages.validated.patients["patient_id"]
    assert sorted(stages.features["patient_id"]) == sorted(patients)
    assert stages.rupture_shares["n"].sum() == len(patients)
    text = json.dumps(section(stages), default=str)
    assert not NAN.search(text) and not LIBRARY_TEXT.search(text)
    assert ".00 to .00" not in text and "[.00, .00]" not in text


@pytest.mark.parametrize("name", list(COHORTS))
def test_stages_run_and_stay_honest(staged, name):
    assert_honest(staged[name])


# The cohorts whose figures take other paths (few patients, one line, single sessions, a 7-point form).
FIGURE_COHORTS = ["twelve_patients", "prescored_7_point_one_session", "one_patient_per_therapist",
                  "one_discipline_one_site", "monthly_contacts", "patients_without_sessions"]


@pytest.mark.parametrize("name", FIGURE_COHORTS)
def test_figures_draw_without_models(staged, name):
    """The figures stage on these features with model results that have no rows at all."""
    stages = staged[name]
    figures = make_figures(stages.session_scores, stages.features, pd.DataFrame(columns=EFFECT_COLUMNS),
                           instrument=load_configured(stages.config["instruments"])["alliance"],
                           satisfaction=load_configured(stages.config["instruments"])["satisfaction"],
                           min_cell_size=stages.config["privacy"]["min_cell_size"],
                           psychometrics=stages.psychometrics, ruptures=stages.ruptures, synthetic=False,
                           models={})
    assert tuple(figures) == FIGURES
    for figure_name, figure in figures.items():
        text = " | ".join(t.get_text() for t in figure.findobj(Text))
        assert not NAN.search(text) and not LIBRARY_TEXT.search(text)
        assert layout_problems(figure) == [], figure_name


@pytest.mark.parametrize(("name", "reason"), [
    ("one_patient_per_therapist", "one patient per therapist: the therapist variance cannot be told apart "
                                  "from the variance between patients"),
    ("two_therapists", "2 therapists: a variance between therapists needs at least 3"),
    ("two_arms_as_clusters", "2 therapists: a variance between therapists needs at least 3"),
])
def test_therapist_icc_not_estimable_with_the_reason(staged, name, reason):
    icc = staged[name].psychometrics["therapist_icc"].iloc[0]
    assert icc["status"] == NOT_ESTIMABLE and icc["reason"].startswith(reason)
    assert np.isnan(icc[["icc", "ci_low", "ci_high"]].astype(float)).all() and icc["n_boot"] == 0
    text = section(staged[name])["icc"]
    assert text.startswith(f"The therapist ICC of the patients' mean alliance is not estimable: {reason}")
    assert not re.search(r"\b0 \[0, 0\]|\.00 to \.00|0%", text)


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


def test_small_clinic_says_why_item_analyses_are_missing(staged):
    stages = staged["twelve_patients"]
    assert stages.psychometrics["cfa_fit"].empty
    measured = section(stages)
    assert "too few patients answered it by item (item-level analyses need more patients than its 12 " \
           "items)" in measured["not_possible"]
    assert any("Omega of 'total' was not estimated" in note for note in measured["notes"])
    assert measured["icc"].startswith("Therapist ICC of the patients' mean alliance:")  # 3 therapists of 4


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
    status = status_table(results)
    unreported = status[~status["status"].isin(REPORTED)]
    assert (unreported["reason"].str.len() > 10).all(), unreported
    effects = effects_table(results)
    assert np.isfinite(effects.select_dtypes("number").to_numpy(dtype=float)).all()


# ---- The models, the status table and the report (issue 12) --------------------------------------
# Each staged cohort then goes through every model family, the sensitivity analyses, the figures and the
# report, as the workflow's scripts call them: every planned model has a status, every model without an
# estimate a reason in words, no library error text and no number for what is not estimable.

LIGHT_SENSITIVITY = {"imputations": 2, "bootstrap": 10, "windows": [2]}
REPORT_LIBRARY_TEXT = re.compile(r"Error\b|Traceback|Exception|Warning:|\bnan\b|\bNaN\b|\binf\b|LinAlg|"
                          r"Singular matrix|Perfect separation|not fitted \(")


def run_everything(stages: Stages) -> dict:
    """The models, status table, sensitivity analyses, figures and report of one staged cohort."""
    workdir = stages.results
    config = stages.config
    instruments = load_configured(config["instruments"])
    covariates = config["models"]["covariates"]
    results = [fit_family(family, stages.features, covariates, sessions=stages.sessions,
                          satisfaction_range=instruments["satisfaction"].score_range,
                          early_window=config["features"]["early_window"],
                          min_clusters=config["models"]["min_clusters"]).to_dict()
               for family in FAMILIES]
    effects = effects_table(results)
    effects = pd.read_csv(pd.io.common.StringIO(effects.to_csv(index=False)))  # as the report reads it
    tables = {"patients": stages.validated.patients, "outcomes": stages.validated.outcomes,
              "session_scores": stages.session_scores, "patient_scores": stages.patient_scores}
    sensitivity, summary, _ = sensitivity_analyses(
        stages.features, covariates, config["sensitivity"] | LIGHT_SENSITIVITY,
        early_window=config["features"]["early_window"], tables=tables,
        score_range=instruments["satisfaction"].score_range, min_clusters=config["models"]["min_clusters"])
    status = status_table(results, sensitivity, summary)
    # The figures are drawn (and checked on these cohorts in test_degenerate_stages.py) but not saved:
    # the report only embeds their PNGs, so one small PNG stands for each.
    figures = make_figures(stages.session_scores, stages.features, effects,
                           instrument=instruments["alliance"], satisfaction=instruments["satisfaction"],
                           min_cell_size=config["privacy"]["min_cell_size"],
                           psychometrics=stages.psychometrics, ruptures=stages.ruptures, synthetic=False,
                           models={result["family"]: result for result in results})
    layout = {name: problems for name, figure in figures.items() if (problems := layout_problems(figure))}
    placeholder = workdir / "figure.png"
    next(iter(figures.values())).savefig(placeholder, dpi=5)
    plt.close("all")
    paths = [placeholder.with_name(f"{name}.png") for name in figures]
    for path in paths:
        path.write_bytes(placeholder.read_bytes())
    html = build_report(
        config=config, validation=stages.validation_summary, scoring=stages.scoring,
        session_scores=stages.session_scores, features=stages.features, model_results=results,
        effects=effects, multiplicity=multiplicity_table(effects), sensitivity=sensitivity,
        sensitivity_notes=sensitivity_notes(summary), psychometrics=stages.psychometrics,
        rupture_shares=stages.rupture_shares, figure_paths=paths, truth=None,
        min_cell_size=config["privacy"]["min_cell_size"], status=status)
    return {"results": results, "effects": effects, "status": status, "sensitivity": sensitivity,
            "summary": summary, "html": html, "layout": layout}


@pytest.fixture(scope="module")
def runs(staged) -> dict[str, dict]:
    """Every cohort's models, status, sensitivity analyses and report (after its stages), once per module."""

    class Lazy(dict):
        def __missing__(self, name: str) -> dict:
            self[name] = run_everything(staged[name])
            return self[name]

    return Lazy()


@pytest.mark.parametrize("name", list(COHORTS))
def test_every_degenerate_cohort_gets_a_complete_honest_report(runs, name):
    run = runs[name]
    assert run["layout"] == {}  # no figure cut off at its edge, no legend over data
    status = run["status"]
    assert set(BY_KEY) <= set(status["key"])  # every planned model has a status
    unreported = status[~status["status"].isin(["fitted", "boundary"])]
    assert (unreported["reason"].str.len() > 10).all(), unreported
    for frame in (run["effects"], run["sensitivity"]):  # estimates only, all finite
        numbers = frame.select_dtypes("number").to_numpy(dtype=float)
        assert np.isfinite(numbers).all(), name
    fitted = status[status["status"].isin(["fitted", "boundary"])]
    for _, row in run["effects"].iterrows():  # an effect row only for a model with a reported status
        match = fitted[(fitted["outcome"] == row["outcome"]) & (fitted["model"] == row["model"])]
        assert not match.empty, (name, row.to_dict())
    text = visible_text(run["html"])
    found = REPORT_LIBRARY_TEXT.search(text)
    assert not found, (name, found and text[max(0, found.start() - 300):][:600])
    for _, row in unreported.iterrows():  # each missing result is in the report with its reason
        assert row["reason"][1:] in text, (name, row["key"], row["reason"])
    html = run["html"]
    summary = visible_text(html[html.index('<section id="summary">'):html.index('<section id="methods">')])
    for key in ("H1", "H2", "H3"):  # every primary effect is in the summary, estimated or not
        assert f"{key} (" in summary


EXPECTED = {  # cohort: (planned model, status, reason or flag it must state)
    "no_satisfaction": [("H3", "not_estimable", "no satisfaction measure in the data"),
                        ("H3-ordinal", "refused", "the primary model was not fitted")],
    "no_dropout": [("H2", "not_estimable", "no patient dropped out after the early window"),
                   ("H2a", "not_estimable", "no patient dropped out"),
                   ("H2-split", "refused", "the primary model was not fitted")],
    "all_attended": [("H1", "not_estimable", "attendance takes a single value: every scheduled session "
                                             "after the early window was attended"),
                     ("H1a", "not_estimable", "attendance takes a single value: every scheduled session "
                                              "was attended")],
    "no_early_alliance": [("H1", "not_estimable",
                           "no patient has a scored alliance in the early window (sessions 1-3)"),
                          ("H2", "not_estimable",
                           "no patient has a scored alliance in the early window (sessions 1-3)")],
    "one_patient_per_therapist": [("H3", "fitted", "One patient per therapist: the therapist variance is not "
                                                   "identified; the model is ordinary least squares."),
                                  ("H1-split", "not_estimable", "one patient per therapist")],
    "two_therapists": [("H1", "fitted", "Few clusters: 2 therapists (fewer than 50)"),
                       ("H2", "fitted", "t(1) intervals"),
                       ("H1-gee", "refused", "2 therapists (fewer than 10): the GEE's robust standard error "
                                             "would rest on too few clusters"),
                       ("H1-split", "not_estimable", "2 therapists in the analysis sample")],
    "two_arms_as_clusters": [("H1", "fitted", "Few clusters: 2 therapists (fewer than 50)")],
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_the_status_names_the_data_cause(runs, name):
    status = runs[name]["status"].set_index("key")
    for key, expected_status, words in EXPECTED[name]:
        row = status.loc[key]
        assert row["status"] == expected_status, (key, row.to_dict())
        assert words in f"{row['reason']} {row['flags']}", (key, row.to_dict())
