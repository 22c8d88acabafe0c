"""Valid degenerate cohorts through the models, the status table and the report (issue 12).

Each cohort of `degenerate.COHORTS` is run through the first stages in-process (`degenerate.run_stages`),
then every model family, the sensitivity analyses, the figures and the report, as the workflow's scripts
call them. Every run must give a complete report in which every planned model has a status, every model
without an estimate a reason in words, no library error text and no number for what is not estimable.
"""

from __future__ import annotations

import re
from html import unescape

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from degenerate import COHORTS, run_stages

from alliance.figures import make_figures
from alliance.instruments import load_configured
from alliance.models import FAMILIES, fit_family
from alliance.models.effects import effects_table, multiplicity_table
from alliance.models.plan import BY_KEY, status_table
from alliance.models.sensitivity import sensitivity_analyses
from alliance.report import build_report, sensitivity_notes

LIGHT_SENSITIVITY = {"imputations": 2, "bootstrap": 10, "windows": [2]}
LIBRARY_TEXT = re.compile(r"Error\b|Traceback|Exception|Warning:|\bnan\b|\bNaN\b|\binf\b|LinAlg|"
                          r"Singular matrix|Perfect separation|not fitted \(")


def run_everything(cohort, default_config, workdir) -> dict:
    """The models, status table, sensitivity analyses, figures and report of one cohort."""
    stages = run_stages(cohort, default_config, workdir)
    config = stages.config
    instruments = load_configured(config["instruments"])
    covariates = config["models"]["covariates"]
    results = [fit_family(family, stages.features, covariates, stages.sessions,
                          instruments["satisfaction"].score_range,
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
    figures = make_figures(stages.session_scores, stages.features, effects, instruments["alliance"],
                           config["privacy"]["min_cell_size"], stages.psychometrics, stages.ruptures, False,
                           {result["family"]: result for result in results})
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
            "summary": summary, "html": html}


@pytest.fixture(scope="module")
def runs(default_config, tmp_path_factory) -> dict[str, dict]:
    return {name: run_everything(build(default_config), default_config, tmp_path_factory.mktemp(name))
            for name, build in COHORTS.items()}


def visible_text(html: str) -> str:
    """The report's text without its embedded images, CSV downloads and configuration dump."""
    html = re.sub(r'(src|href)="data:[^"]*"', "", html)
    html = re.sub(r"<pre[^>]*>.*?</pre>", "", html, flags=re.S)
    return unescape(re.sub(r"<[^>]+>", " ", html))


@pytest.mark.parametrize("name", list(COHORTS))
def test_every_degenerate_cohort_gets_a_complete_honest_report(runs, name):
    run = runs[name]
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
    assert not LIBRARY_TEXT.search(text), (name, LIBRARY_TEXT.search(text).group(0),
                                           text[max(0, LIBRARY_TEXT.search(text).start() - 300):][:600])
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
    "two_therapists": [("H1", "fitted", "Few clusters: 2 therapists (fewer than 20)"),
                       ("H2", "fitted", "t(1) intervals")],
    "two_arms_as_clusters": [("H1", "fitted", "Few clusters: 2 therapists (fewer than 20)")],
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_the_status_names_the_data_cause(runs, name):
    status = runs[name]["status"].set_index("key")
    for key, expected_status, words in EXPECTED[name]:
        row = status.loc[key]
        assert row["status"] == expected_status, (key, row.to_dict())
        assert words in f"{row['reason']} {row['flags']}", (key, row.to_dict())
