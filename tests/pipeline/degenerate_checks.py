"""What the degenerate-cohort tests check (issue 12), shared by the two test files that split the cohorts of
tests/degenerate.py between them (test_degenerate_data.py: what the data lack; test_degenerate_clusters.py:
few or odd clusters), so that `pytest -n 2 --dist loadfile` runs the two halves side by side.

Each cohort goes through the stages (validate, score, psychometrics, features), then every model family,
the status table, the sensitivity analyses, the figures and the report, as the workflow's scripts call them:
every planned model has a status, every model without an estimate a reason in words, no library error text
and no number for what is not estimable. Both are memoised per test module (fixtures `staged` and `runs` in
conftest.py), so each cohort is run once by the file that holds it.
"""

from __future__ import annotations

import json
import re
from io import BytesIO

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from degenerate import Stages, visible_text
from figure_checks import layout_problems, tiny_png
from matplotlib.text import Text

from alliance.errors import BOUNDARY, FITTED, NOT_CONVERGED, NOT_ESTIMABLE
from alliance.i18n import suppressing_counts
from alliance.instruments import load_configured
from alliance.io import json_text
from alliance.models import FAMILIES, fit_family
from alliance.models.dimensions import dimension_analysis, dimension_item_means, dimension_tables
from alliance.models.dynamics import dynamics_analysis
from alliance.models.effects import EFFECT_COLUMNS, effects_table, multiplicity_table
from alliance.models.plan import BY_KEY, status_table
from alliance.models.sensitivity import sensitivity_analyses
from alliance.outputs import FIGURES, MODEL_FIGURES, PSYCHOMETRIC_TABLES
from alliance.prediction.decision_points import decision_rows, suppressed_flow
from alliance.prediction.early_warning import early_warning_analysis
from alliance.report.analysis import sensitivity_notes
from alliance.report.document import build_report
from alliance.report.figures import make_figures, model_figures
from alliance.report.measurement import measurement_section
from alliance.report.words import reason_words

# The two halves of COHORTS (test_degenerate_data.py, test_degenerate_clusters.py); together every cohort,
# once (checked by test_degenerate_data.py::test_the_two_files_share_out_every_cohort).
DATA_COHORTS = ["no_satisfaction", "no_dropout", "all_attended", "no_early_alliance",
                "patients_without_sessions", "monthly_contacts", "prescored_7_point_one_session"]
CLUSTER_COHORTS = ["two_therapists", "one_patient_per_therapist", "twelve_patients",
                   "one_discipline_one_site", "one_therapist"]

NAN = re.compile(r"\bnan\b", re.IGNORECASE)
LIBRARY_TEXT = re.compile(r"Traceback|Error|Exception|semopy|SolverResult|not PD|Moore-Penrose|LinAlg")


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


def figure_problems(figures: dict) -> dict[str, list[str]]:
    """Per figure, what is wrong with it: a "nan" or a library's message in its text, anything cut off at
    its edge or a legend over data (`layout_problems`); figures without a problem are left out."""
    found = {}
    for name, figure in figures.items():
        text = " | ".join(t.get_text() for t in figure.findobj(Text))
        problems = [f"text: {match.group()}" for pattern in (NAN, LIBRARY_TEXT)
                    if (match := pattern.search(text))]
        if problems := problems + layout_problems(figure):
            found[name] = problems
    return found


def assert_model_figures_draw_without_models(config: dict) -> None:
    """The figures of the models with model results that have no rows at all; they take nothing of a cohort
    but its `config` (the figures of the data take no model: `run_everything` draws and checks them for
    every cohort)."""
    instruments = load_configured(config["instruments"])
    figures = model_figures(pd.DataFrame(columns=EFFECT_COLUMNS), satisfaction=instruments["satisfaction"],
                            min_cell_size=config["privacy"]["min_cell_size"], models={})
    try:
        assert tuple(figures) == MODEL_FIGURES
        assert figure_problems(figures) == {}
    finally:
        plt.close("all")


# ---- The models, the status table and the report (issue 12) --------------------------------------

def as_written(result: dict) -> dict:
    """A job's result as its script writes it (`alliance.io.write_json`: an undefined number as null) and
    the next job reads it back."""
    return json.loads(json_text(result))


LIGHT_SENSITIVITY = {"imputations": 2, "bootstrap": 10, "windows": [2]}
LIGHT_DIMENSIONS = {"bootstrap": 20}


def dimension_result(stages: Stages) -> dict:
    """H5 (bond, goal, task) of one staged cohort, with few bootstrap draws: every part ends with a
    status, any other exception is a bug."""
    config = stages.config
    instrument = load_configured(config["instruments"])["alliance"]
    item_means = dimension_item_means(stages.validated.sessions, stages.session_scores, instrument,
                                      config["features"]["early_window"])
    return as_written(dimension_analysis(stages.features, config["models"]["covariates"],
                                         config["dimensions"] | LIGHT_DIMENSIONS, instrument=instrument,
                                         item_means=item_means))


def dynamics_result(stages: Stages) -> dict:
    """H4c (the RI-CLPM of alliance and symptoms) of one staged cohort, T from the data: it ends with a
    status, any other exception is a bug."""
    return as_written(dynamics_analysis(stages.session_scores, stages.validated.sessions,
                                        stages.validated.patients,
                                        {"waves": stages.config["models"]["riclpm_waves"]}))


REPORT_LIBRARY_TEXT = re.compile(r"Error\b|Traceback|Exception|Warning:|Estimation warning|\bnan\b|\bNaN\b|"
                                 r"\binf\b|LinAlg|Singular matrix|Perfect separation|not fitted \(")


def early_warning_result(stages: Stages) -> dict:
    """The early-warning job's work on a staged cohort (two decision points, light bootstrap), its tables
    read back from CSV as the report reads them."""
    config = stages.config
    settings = config["early_warning"] | {"decision_points": [2, 3], "bootstrap": 20,
                                          "primary_session": config["features"]["early_window"]}
    if settings["primary_session"] not in settings["decision_points"]:
        settings["decision_points"] = sorted({*settings["decision_points"], settings["primary_session"]})
    covariates = config["models"]["covariates"]
    rows, flow = decision_rows(stages.session_scores, stages.features, settings["decision_points"],
                               covariates, config["ruptures"]["c"])
    analysis = early_warning_analysis(rows, settings, covariates=covariates,
                                      instrument=load_configured(config["instruments"])["alliance"],
                                      min_cell_size=config["privacy"]["min_cell_size"], flow=flow)
    reread = {name: pd.read_csv(BytesIO(analysis[name].to_csv(index=False).encode()))
              for name in ("measures", "roc", "calibration", "decision_curve")}
    flow = suppressed_flow(flow, config["privacy"]["min_cell_size"])
    return {"result": as_written(analysis["result"]), "flow": flow, **reread}


def run_everything(stages: Stages) -> dict:
    """The models, status table, sensitivity analyses, figures and report of one staged cohort."""
    workdir = stages.results
    config = stages.config
    instruments = load_configured(config["instruments"])
    covariates = config["models"]["covariates"]
    results = [as_written(fit_family(family, stages.features, covariates, sessions=stages.sessions,
                                     satisfaction_range=instruments["satisfaction"].score_range,
                                     early_window=config["features"]["early_window"],
                                     min_clusters=config["models"]["min_clusters"]).to_dict())
               for family in FAMILIES]
    effects = effects_table(results)
    effects = pd.read_csv(pd.io.common.StringIO(effects.to_csv(index=False)))  # as the report reads it
    tables = {"patients": stages.validated.patients, "outcomes": stages.validated.outcomes,
              "session_scores": stages.session_scores, "patient_scores": stages.patient_scores}
    sensitivity, summary, _ = sensitivity_analyses(
        stages.features, covariates, config["sensitivity"] | LIGHT_SENSITIVITY,
        early_window=config["features"]["early_window"], tables=tables,
        score_range=instruments["satisfaction"].score_range, min_clusters=config["models"]["min_clusters"])
    dimensions = dimension_result(stages)
    rows = dimension_tables(dimensions)[0]
    rows.loc[rows["part"] == "H5a", "vif"] = 1.0  # a VIF belongs to the joint rows only
    assert np.isfinite(rows.select_dtypes("number").to_numpy(float)).all()
    dynamics = dynamics_result(stages)
    warning = early_warning_result(stages)
    status = status_table([*results, dimensions, dynamics], sensitivity, summary)
    # The figures are drawn and their layout checked, but not saved: the report only embeds their PNGs.
    figures = make_figures(stages.session_scores, stages.features, effects,
                           instrument=instruments["alliance"], satisfaction=instruments["satisfaction"],
                           min_cell_size=config["privacy"]["min_cell_size"],
                           psychometrics=stages.psychometrics, ruptures=stages.ruptures, synthetic=False,
                           models={result["family"]: result for result in results}, dimensions=dimensions,
                           early_warning=warning, dynamics=dynamics)
    assert tuple(figures) == FIGURES
    problems = figure_problems(figures)
    plt.close("all")
    paths = [workdir / f"{name}.png" for name in figures]
    for path in paths:
        path.write_bytes(tiny_png())
    html = build_report(
        config=config, validation=stages.validation_summary, scoring=stages.scoring,
        session_scores=stages.session_scores, features=stages.features, model_results=results,
        effects=effects, multiplicity=multiplicity_table(effects), sensitivity=sensitivity,
        sensitivity_notes=sensitivity_notes(summary), psychometrics=stages.psychometrics,
        rupture_shares=stages.rupture_shares, figure_paths=paths, truth=None,
        min_cell_size=config["privacy"]["min_cell_size"], status=status, dimensions=dimensions,
        dynamics=dynamics, early_warning=warning)
    return {"warning": warning, "results": results, "effects": effects, "status": status,
            "sensitivity": sensitivity, "summary": summary, "html": html, "figure_problems": problems,
            "min_cell_size": config["privacy"]["min_cell_size"]}


def assert_complete_honest_report(run: dict, name: str) -> None:
    assert run["figure_problems"] == {}  # no "nan" or library text, nothing cut off, no legend over data
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
    for _, row in unreported.iterrows():  # each missing result is in the report with its reason, as the
        with suppressing_counts(run["min_cell_size"]):  # report writes it: a small count as "<k"
            reason = str(reason_words(row))
        assert reason[1:] in text, (name, row["key"], reason)
    html = run["html"]
    summary = visible_text(html[html.index('<section id="summary">'):html.index('<section id="methods">')])
    for key in ("H1", "H2", "H3"):  # every primary effect is in the summary, estimated or not
        assert f"{key} (" in summary


EXPECTED = {  # cohort: (planned model, status, reason or flag it must state)
    "no_satisfaction": [("H3", "not_estimable", "no satisfaction measure in the data"),
                        ("H3-ordinal", "refused", "the primary model was not fitted")],
    "no_dropout": [("H2", "not_estimable", "no analysed patient dropped out after the early window"),
                   ("H2a", "not_estimable", "no session at risk ended in dropout"),
                   ("H2-split", "refused", "the primary model was not fitted")],
    "all_attended": [("H1", "not_estimable", "attendance takes a single value: every analysed patient "
                                             "attended every session scheduled after the early window"),
                     ("H1a", "not_estimable", "attendance takes a single value: every analysed session "
                                              "was attended")],
    "no_early_alliance": [("H1", "not_estimable",
                           "no patient has a scored alliance in the early window (sessions 1-3)"),
                          ("H2", "not_estimable",
                           "no patient has a scored alliance in the early window (sessions 1-3)"),
                          ("H4c", "not_estimable",
                           "the data do not separate the patients' stable levels from their deviations at "
                           "session 4")],
    "one_patient_per_therapist": [("H3", "fitted", "One patient per therapist: the therapist variance is not "
                                                   "identified; the model is ordinary least squares."),
                                  ("H1-split", "not_estimable", "one patient per therapist")],
    "two_therapists": [("H1", "fitted", "Few clusters: 2 therapists (fewer than 50)"),
                       ("H2", "fitted", "t(1) intervals"),
                       ("H1-gee", "refused", "2 therapists (fewer than 10): the GEE's robust standard error "
                                             "would rest on too few clusters"),
                       ("H1-split", "not_estimable", "2 therapists in the analysis sample")],
    # a solo practice (its sensitivity analyses ended in a ZeroDivisionError: every therapist resample was
    # the one therapist, an SD of 0; its REML read "the therapist variance is estimated as 0")
    "one_therapist": [("H1", "fitted", "One therapist: model-based standard errors"),
                      ("H3", "fitted", "One therapist: there is no therapist variance to estimate; the model "
                                       "is ordinary least squares."),
                      ("H1: cluster bootstrap (B = 10)", "refused",
                       "1 therapist in the analysis sample: a therapist bootstrap would draw the same "
                       "therapist every time"),
                      ("H1-split", "not_estimable", "1 therapist in the analysis sample")],
}


def assert_status_names_the_data_cause(run: dict, name: str) -> None:
    status = run["status"].set_index("key")
    for key, expected_status, words in EXPECTED[name]:
        row = status.loc[key]
        assert row["status"] == expected_status, (key, row.to_dict())
        assert words in f"{row['reason']} {row['flags']}", (key, row.to_dict())


def among(names, cohorts: list[str]) -> list[str]:
    """The names (of EXPECTED) that are in this file's half of the cohorts."""
    return [name for name in names if name in cohorts]

