"""The report at a glance: hand-made effect rows on their display scale, sentences by direction and CI,
benchmark cells, and a figure that lists an effect without an estimate instead of drawing it."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from alliance.i18n import suppressing_counts
from alliance.models.plan import BY_KEY
from alliance.report.analysis import benchmark_sentences
from alliance.report.glance import glance_figure, glance_rows, glance_table

# as the dropout family's result.json holds it: Sharf et al. publish no CI, an undefined number is null
SHARF = {"benchmark": "alliance_dropout", "benchmark_value": 0.55, "benchmark_ci_low": None,
         "benchmark_ci_high": None, "estimate": 0.75, "ci_low": 0.5, "ci_high": 1.0, "n": 370,
         "metric": "d", "source": "Sharf, Primavera & Diener (2010), 11 studies",
         "verdict": "compatible with"}
FLUCKIGER = {"benchmark": "alliance_outcome", "benchmark_value": 0.278, "benchmark_ci_low": 0.256,
             "benchmark_ci_high": 0.299, "estimate": 0.05, "ci_low": -0.05, "ci_high": 0.15, "n": 300,
             "metric": "r", "source": "Flückiger, Del Re, Wampold & Horvath (2018), 295 studies",
             "verdict": "below"}


def effect(key: str, estimate: float, low: float, high: float, scale: str) -> dict:
    planned = BY_KEY[key]
    return {"analysis": planned.analysis, "outcome": planned.outcome, "model": planned.model,
            "predictor": planned.predictors[0], "scale": scale, "estimate": estimate, "ci_low": low,
            "ci_high": high, "p_value": 0.01, "n_patients": 300}


@pytest.fixture
def inputs():
    statuses = {"adherence": [{"key": "H1", "status": "fitted", "reason": ""}],
                "dropout": [{"key": "H2", "status": "fitted", "reason": ""}],
                "satisfaction": [{"key": "H3", "status": "not_estimable",
                                  "reason": "no patient has a satisfaction score"}],
                "symptoms": [{"key": "H4", "status": "fitted", "reason": ""}]}
    effects = pd.DataFrame([
        effect("H1", math.log(2.0), math.log(1.5), math.log(2.5), "log_odds"),
        effect("H2", -math.log(2.0), -math.log(4.0), math.log(1.1), "log_odds"),
        effect("H4", 1.5, 0.5, 2.5, "points"),
        # rows the glance must not pick: another analysis and another predictor of the same outcome
        {**effect("H1", 9.0, 8.0, 10.0, "log_odds"), "analysis": "sensitivity"},
        {**effect("H1", 9.0, 8.0, 10.0, "log_odds"), "predictor": "alliance_early_patient"},
    ])
    models = [{"family": "adherence", "extra": {}}, {"family": "dropout", "extra": {"benchmark": SHARF}},
              {"family": "satisfaction", "extra": {}},
              {"family": "symptoms", "extra": {"benchmark": FLUCKIGER}}]
    return effects, [{**model, "statuses": statuses[model["family"]]} for model in models]


def test_rows_are_on_the_display_scale_with_their_status(inputs):
    rows = glance_rows(*inputs, satisfaction_label="CSQ-8", min_cell_size=10)
    assert [r["key"] for r in rows] == ["H1", "H2", "H3", "H4"]
    h1, h2, h3, h4 = rows
    assert (h1["metric"], h1["estimate"], h1["ci_low"], h1["ci_high"]) == pytest.approx(
        ("odds ratio", 2.0, 1.5, 2.5))
    assert h2["estimate"] == pytest.approx(0.5) and h2["ci_high"] == pytest.approx(1.1)
    assert h3["status"] == "not_estimable" and np.isnan(h3["estimate"])
    assert (h4["metric"], h4["estimate"], h4["analysis"]) == ("points", 1.5, "secondary")
    assert h2["benchmark"] is SHARF and h1["benchmark"] is None


def test_a_d_of_few_dropouts_is_withheld_in_the_glance_and_the_benchmark_sentences(inputs):
    """d and its CI give the number of dropouts away (tests/models/test_inference.py): with 6 of 370 the
    glance leaves the comparison out and the benchmark sentence says why, without d's numbers."""
    effects, models = inputs
    metric = "d, early alliance of completers minus dropouts (pooled SD)"  # as the dropout family names it
    few = [{**model, "extra": {"benchmark": SHARF | {"n_dropouts": 6, "metric": metric}}}
           if model["family"] == "dropout" else model for model in models]
    h2 = glance_rows(effects, few, satisfaction_label="CSQ-8", min_cell_size=10)[1]
    assert h2["benchmark"] is None and h2["estimate"] == pytest.approx(0.5)  # the odds ratio stays
    with suppressing_counts(10):
        sentence, *_ = benchmark_sentences(few, min_cell_size=10)
    assert sentence == (f"{metric}: withheld, as it rests on fewer than 10 patients, dropouts or "
                        "completers, whose number its value and CI would give away (benchmark 0.55, "
                        "Sharf, Primavera & Diener, 2010; 11 studies).")
    many = [{**model, "extra": {"benchmark": SHARF | {"n_dropouts": 60}}} if model["family"] == "dropout"
            else model for model in models]
    assert glance_rows(effects, many, satisfaction_label="CSQ-8", min_cell_size=10)[1]["benchmark"]
    assert "0.75 [0.50, 1.00]" in benchmark_sentences(many, min_cell_size=10)[0]


def test_sentences_say_the_direction_only_when_the_ci_excludes_no_effect(inputs):
    rows = glance_rows(*inputs, satisfaction_label="CSQ-8", min_cell_size=10)
    h1, h2, h3, h4 = (r["sentence"] for r in rows)
    assert h1 == ("Patients with a better alliance attended more of their later sessions: odds ratio 2.00 "
                  "per SD of alliance (95% CI 1.50 to 2.50).")
    assert h2 == ("Dropout did not clearly differ with the alliance: odds ratio 0.50 per SD of alliance "
                  "(95% CI 0.25 to 1.10).")
    assert h3 == "Satisfaction: no estimate (not estimable). No patient has a satisfaction score."
    assert h4 == ("Patients with a better alliance improved more: 1.50 points of symptom improvement per SD "
                  "of alliance (95% CI 0.50 to 2.50).")
    # Catalan elides "de" before a number read with a vowel, as the report's other sentences do (a
    # reviewer read "odds ratio de 1,29" at a glance beside "d'1,29" in the summary)
    from alliance.i18n import use_language

    effects, models = inputs
    effects = effects.copy()
    effects.loc[0, ["estimate", "ci_low", "ci_high"]] = [math.log(1.29), math.log(1.1), math.log(1.5)]
    with use_language("ca"):
        odds = [r["sentence"] for r in glance_rows(effects, models, satisfaction_label="CSQ-8",
                                                   min_cell_size=10)]
    assert "odds ratio d'1,29 per DE" in odds[0] and "odds ratio de 0,50" in odds[1]


def test_table_cells_and_like_for_like_benchmarks(inputs):
    cells = glance_table(glance_rows(*inputs, satisfaction_label="CSQ-8", min_cell_size=10))
    assert cells[0]["estimate"] == "2.00 [1.50, 2.50]" and cells[0]["benchmark"] == ""
    # an odds ratio whose CI just excludes 1: never "[0.49, 1.00]" beside "the CI excludes 1" (a reviewer's
    # probe; the sentence had the bound's decimals, the table not)
    effects, models = inputs
    near = effects.copy()
    near.loc[near["outcome"] == "dropout", ["estimate", "ci_low", "ci_high"]] = [
        math.log(0.70), math.log(0.4912), math.log(0.9962)]
    cell = glance_table(glance_rows(near, models, satisfaction_label="CSQ-8", min_cell_size=10))[1]
    assert cell["estimate"] == "0.70 [0.49, 0.9962]"
    assert cells[1]["benchmark"] == ("d = 0.75 [0.50, 1.00], compatible with 0.55 "
                                     "(Sharf, Primavera & Diener, 2010)")
    assert cells[2]["estimate"] == "not estimable" and cells[2]["p"] == "" and cells[2]["metric"] == ""
    # the benchmark as published, .278 with its CI's three decimals (a reviewer read ".28 [.256, .299]")
    assert cells[3]["benchmark"] == ("r = .05 [-.05, .15], below .278 [.256, .299] "
                                     "(Flückiger, Del Re, Wampold & Horvath, 2018)")
    # an effect wholly on the other side of 0 (dropouts with the better alliance) is not "smaller than"
    rows = glance_rows(*inputs, satisfaction_label="CSQ-8", min_cell_size=10)
    rows[1]["benchmark"] = rows[1]["benchmark"] | {"estimate": -0.91, "ci_low": -1.17, "ci_high": -0.65,
                                                   "verdict": "opposite to"}
    assert glance_table(rows)[1]["benchmark"] == (
        "d = -0.91 [-1.17, -0.65], in the direction opposite to 0.55 (Sharf, Primavera & Diener, 2010)")


def test_figure_has_a_panel_per_scale_and_one_for_the_benchmarks(inputs):
    fig = glance_figure(glance_rows(*inputs, satisfaction_label="CSQ-8", min_cell_size=10))
    odds, points, bench = fig.axes
    assert [t.get_text() for t in odds.get_yticklabels()] == ["Attendance", "Dropout"]
    assert odds.get_xscale() == "log" and odds.get_xlim()[0] < 0.25 and odds.get_xlim()[1] > 4
    assert [t.get_text() for t in points.get_yticklabels()] == ["Satisfaction", "Symptom improvement"]
    assert any("no estimate: not estimable" in t.get_text() for t in points.texts)
    assert [t.get_text() for t in bench.get_yticklabels()] == ["Dropout (d)", "Symptom improvement (r)"]
    assert len(bench.collections) >= 1  # Flückiger's CI band; Sharf's value has none


def test_figure_without_benchmarks_or_estimates(inputs):
    effects, models = inputs
    plain = [{**m, "extra": {}} for m in models]
    rows = glance_rows(effects, plain, satisfaction_label="CSQ-8", min_cell_size=10)
    assert len(glance_figure(rows).axes) == 2
    rows = glance_rows(effects.iloc[:0], [], satisfaction_label="CSQ-8", min_cell_size=10)  # no family run
    assert {(r["status"], r["reason"]) for r in rows} == {("refused", "its model family was not run")}
    fig = glance_figure(rows)
    odds, points = fig.axes  # the planned scales, each effect listed with its status
    assert [t.get_text() for t in odds.get_yticklabels()] == ["Attendance", "Dropout"]
    assert [t.get_text() for t in points.texts] == ["no estimate: not run"] * 2


def test_a_models_flags_and_boundary_reach_the_glance(inputs):
    """The glance stated H1 and H2 without their model's flags (few events per coefficient, complete
    cases) or a boundary fit's reason, which the Summary gives (a reviewer's reading): each now has a
    footnote mark in the table and its text once under it."""
    from alliance.errors import status_record
    from alliance.i18n import Message, use_language
    from alliance.report.glance import caveat_marks

    effects, models = inputs
    few = Message("Few events: {events} dropouts for {k} coefficients.", events=40, k=6)
    from alliance.models.random_intercept import BOUNDARY_WORDS

    boundary = BOUNDARY_WORDS["therapist_id"]
    models[1]["statuses"] = [status_record("H2", "fitted", flags=[few])]
    models[0]["statuses"] = [status_record("H1", "boundary", boundary, flags=[few])]
    rows = glance_rows(effects, models, satisfaction_label="CSQ-8", min_cell_size=10)
    marks, notes = caveat_marks(rows)
    assert marks == ["a,b", "b", "", ""]
    assert notes == [("a", str(boundary)), ("b", "Few events: 40 dropouts for 6 coefficients.")]
    cells = glance_table(rows)
    assert [c["marks"] for c in cells] == ["a,b", "b", "", ""]
    with use_language("es"):  # in the report's language, from the messages
        assert caveat_marks(glance_rows(effects, models, satisfaction_label="CSQ-8",
                                        min_cell_size=10))[1][0][1] != notes[0][1]


def test_an_effect_on_fewer_patients_than_the_minimum_cell_size_shows_no_number(inputs):
    """H2 on 9 patients (the effect tables withhold it): no estimate, CI, p or benchmark comparison in the
    rows, the table, the sentence or the figure; they had all been shown beside the table's "suppressed"."""
    effects, models = inputs
    effects = effects.assign(n_patients=np.where(effects["outcome"] == "dropout", 9, 300))
    rows = glance_rows(effects, models, satisfaction_label="CSQ-8", min_cell_size=10)
    h2 = rows[1]
    assert h2["status"] == "fitted" and np.isnan(h2["estimate"]) and h2["benchmark"] is None
    assert h2["hidden"] == "suppressed (<10 patients)" and rows[0]["hidden"] is None
    assert h2["sentence"] == "Dropout: suppressed (<10 patients)."
    cell = glance_table(rows)[1]
    assert (cell["estimate"], cell["p"], cell["benchmark"], cell["metric"]) == (
        "suppressed (<10 patients)", "", "", "")
    fig = glance_figure(rows)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "suppressed (<10 patients)" in texts and len(fig.axes) == 3  # the benchmark panel: H4 only
    plt.close(fig)


def test_an_odds_ratio_comes_with_the_predicted_rates_a_clinician_reads(inputs):
    """The dropout sentence gives the model's predicted dropout one SD either side of the average alliance
    (its marginal predictions, as the figure of predicted outcomes draws them): a clinical lead reads
    "27% ... 7%" more readily than an odds ratio of 0.45. Without predictions the sentence is as before;
    points (satisfaction, symptoms) need none. An effect whose CI includes no effect gets none either (a
    reviewer's probe: "did not clearly differ", OR 2.79 [0.00, 1309281509.37], then "14% ... 57%")."""
    effects, models = inputs
    grid = [{"alliance_z": round(z, 1), "prediction": 0.4 - 0.1 * z, "scale": "probability"}
            for z in np.arange(-2, 2.05, 0.1)]
    models[1] = models[1] | {"extra": models[1]["extra"] | {"marginal": grid}}
    h2 = glance_rows(effects, models, satisfaction_label="CSQ-8", min_cell_size=10)[1]
    assert h2["predicted"] is None and h2["sentence"].endswith("(95% CI 0.25 to 1.10).")
    distinct = effects.copy()
    distinct.loc[1, "ci_high"] = math.log(0.9)
    h2 = glance_rows(distinct, models, satisfaction_label="CSQ-8", min_cell_size=10)[1]
    assert h2["predicted"] == pytest.approx((0.5, 0.3))
    assert h2["sentence"].endswith("(95% CI 0.25 to 0.90). Predicted dropout: 50% one SD below the average "
                                   "alliance, 30% one SD above (numeric covariates at their mean, "
                                   "categorical ones at their most frequent level).")
    h1 = glance_rows(*inputs, satisfaction_label="CSQ-8", min_cell_size=10)[0]
    assert h1["predicted"] is None and h1["sentence"].endswith("(95% CI 1.50 to 2.50).")


def test_a_secondary_effect_shows_its_false_discovery_rate_q_beside_its_p(inputs):
    """Section 6 puts the BH q beside every secondary p: the glance's H4 row showed p alone (a reviewer);
    the primary rows keep p alone, and without the multiplicity table nothing is invented."""
    effects, models = inputs
    h4 = effects[effects["analysis"] == "secondary"].iloc[0]
    multiplicity = pd.DataFrame([{**{k: h4[k] for k in ("outcome", "model", "predictor", "analysis")},
                                  "q_value": 0.0004},
                                 {"outcome": "dropout", "model": "cox", "predictor": "alliance_prev",
                                  "analysis": "secondary", "q_value": 0.2}])
    cells = glance_table(glance_rows(effects, models, satisfaction_label="CSQ-8", min_cell_size=10,
                                     multiplicity=multiplicity))
    assert [c["q"] for c in cells] == ["", "", "", "q < .001"]
    assert cells[3]["p"] == ".010"
    plain = glance_table(glance_rows(effects, models, satisfaction_label="CSQ-8", min_cell_size=10))
    assert [c["q"] for c in plain] == ["", "", "", ""]
