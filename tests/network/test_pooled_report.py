"""The pooled report in every language: its forest plots cut nothing off at the figure's edge, and its table
of every pooled effect reads at 1280 px."""

from __future__ import annotations

import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from browser import check_page
from figure_checks import layout_problems

from alliance.i18n import LANGUAGES, _, use_language
from alliance.network.pooling import BELOW_MINIMUM, PER_POINT, PER_SD, pool_estimates
from alliance.network.report import CSS, TITLES, effects_table_html, forest, title_of

SITES = pd.DataFrame({"site": ["north", "south", "Hospital de Día Barcelona"],  # a long name narrows the axes
                      "status": ["pooled", "pooled", BELOW_MINIMUM], "estimate": [0.5, 0.7, np.nan],
                      "ci_low": [0.2, 0.3, np.nan], "ci_high": [0.8, 1.1, np.nan]})
POOLED = {"estimate": 0.6, "ci_low": 0.4, "ci_high": 0.8, "pi_low": 0.1, "pi_high": 1.1}


@pytest.mark.parametrize("code", LANGUAGES)
def test_every_forest_plot_title_fits_in_every_language(code):
    """The Spanish and Catalan titles run longer than the English (up to 93 characters) and wrap; in
    English they stay on one line. Without the wrap, three Spanish and three Catalan titles were cut off."""
    with use_language(code):
        figures = {key: forest(title_of(key), "log-odds", SITES, POOLED, band=(0.55, 0.4, 0.7))
                   for key in TITLES}
    problems = {key: found for key, figure in figures.items() if (found := layout_problems(figure))}
    lines = {key: figure.axes[0].get_title().count("\n") + 1 for key, figure in figures.items()}
    plt.close("all")
    assert problems == {}
    if code == "en":
        assert set(lines.values()) == {1}
    else:
        assert max(lines.values()) == 2


def pooled_row(outcome: str, model: str, predictor: str, analysis: str, estimates: list[float], *,
               scale: str = "log_odds", metric: str = PER_SD, suppressed: int = 0) -> dict:
    """A row of results/pooled/effects.csv: the sites' estimates (SE 0.1 each) pooled."""
    pooled = pool_estimates(estimates, [0.1] * len(estimates))
    return {"outcome": outcome, "model": model, "predictor": predictor, "analysis": analysis, "scale": scale,
            "metric": metric, "k_suppressed": suppressed, "k_not_estimated": 0, **pooled}


# The longest names of the pooled effects' table: outcomes, models and predictors as the workflow writes them.
EFFECTS = pd.DataFrame([
    pooled_row("attendance", "binomial_glm_cluster_therapist", "alliance_early", "primary", [0.5, 0.6, 0.7],
               metric=PER_POINT),
    pooled_row("home practice", "lmm_patient_intercept_cluster_therapist", "alliance_prev_within",
               "secondary", [0.003, 0.0032, 0.0031], scale="points"),
    pooled_row("dropout", "discrete_time_hazard_split_cluster_therapist", "alliance_prev_deviation",
               "secondary", [0.2, -0.1], suppressed=1),
    pooled_row("dropout", "cox_time_varying_split_cluster_therapist", "alliance_running_mean", "secondary",
               [-0.5, -0.6, -0.4], scale="log_hazard"),
    pooled_row("satisfaction", "lmm_therapist_intercept", "alliance_mean [physiotherapy]", "exploratory",
               [2.1, 1.4, 1.9], scale="points"),
    pooled_row("symptoms_next", "dynamic_patient_intercept_cluster_therapist",
               "symptom_improvement_between", "exploratory", [-0.2, -0.3, 0.1], scale="points"),
    pooled_row("dropout", "logistic_glm_cluster_therapist", "alliance_early_therapist", "secondary", [-1.1]),
])


def test_the_table_of_every_pooled_effect_reads_in_every_language(tmp_path):
    """The pooled report's table of every effect: 11 columns in the report's language (it once showed the
    23 columns of effects.csv under their English names and reached past a 1280-pixel screen in every
    language), estimates in APA's two decimals (more for a small non-zero one), the sites pooled of those
    that sent the effect; at 1280 px no overflow and no cell wrapping more than twice."""
    with use_language("en"):
        english = effects_table_html(EFFECTS)
    head = re.findall(r"<th>(.*?)</th>", english)
    assert head == ["Outcome", "Predictor", "Analysis", "Model", "Scale", "Sites", "Estimate [95% CI]",
                    "95% prediction interval", "tau [95% CI]", "I\u00b2 [95% CI]"]
    cells = [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", english)[1:]]
    first = EFFECTS.iloc[0]
    assert cells[0][6] == (f"{first['estimate']:.2f} [{first['ci_low']:.2f}, {first['ci_high']:.2f}]")
    assert cells[0][4] == '<span class="part">log OR</span>, <span class="part">per point</span>'
    # home practice, a share: in percentage points as in the sites' reports (it read "0.0031 points, per SD")
    assert cells[1][6].startswith("0.31 [")
    assert cells[1][4] == 'percentage points, <span class="part">per SD</span>'
    assert cells[2][5] == "2 of 3" and cells[2][7] == ""  # one site below its minimum; no PI with two
    assert cells[6][5] == "1" and cells[6][8] == cells[6][9] == ""  # one site: no tau, no I^2
    third = EFFECTS.iloc[2]  # two sites: tau and I^2 with their Q-profile CIs, wide
    assert cells[2][9] == (f"{100 * third['i2']:.0f}%<br>[{100 * third['i2_ci_low']:.0f}%, "
                           f"{100 * third['i2_ci_high']:.0f}%]")
    assert cells[2][8] == f"{third['tau']:.2f}<br>[{third['tau_ci_low']:.2f}, {third['tau_ci_high']:.2f}]"
    assert third["i2_ci_high"] > 0.95  # two sites say next to nothing about the heterogeneity
    assert "std_error" not in english and "_<wbr>" in cells[2][3]
    with use_language("es"):
        spanish = effects_table_html(EFFECTS)
    assert "<th>Estimación [IC del 95\u00a0%]</th>" in spanish and "por DE" in spanish and "2 de 3" in spanish
    assert f"{first['estimate']:.2f}".replace(".", ",") in spanish
    # in the browser the Spanish table, the wider: its headings and units are longer, the rest the same
    page = tmp_path / "es.html"
    page.write_text(f'<!DOCTYPE html><html lang="es"><head><meta charset="utf-8"><style>{CSS}</style>'
                    f"</head><body>{spanish}</body></html>")
    result = check_page(page, tmp_path / "es.png")
    assert result.overflow == [] and result.wrapped == []


def test_an_empty_q_profile_interval_is_explained_in_the_table():
    """Sites closer than chance (Q below chi^2's lower quantile) have empty Q-profile intervals, shown as 0:
    the words under a primary effect said so, the table of every pooled effect read "0.00 [0.00, 0.00]" and
    "0% [0%, 0%]" without a word. Such cells are marked and the note under the table explains them; a table
    without one has neither."""
    close = pooled_row("dropout", "cox", "alliance_prev", "secondary", [0.3, 0.3, 0.3], scale="log_hazard")
    table = effects_table_html(pd.DataFrame([EFFECTS.iloc[0].to_dict(), close]))
    cells = [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", table)[1:]]
    assert cells[1][8] == "0.00<br>[0.00, 0.00]*" and cells[1][9] == "0%<br>[0%, 0%]*"
    assert not cells[0][8].endswith("*")
    assert ("* The sites agree more closely than chance alone would make them, so the Q-profile intervals "
            "are empty (shown as 0); this does not show that the effect is the same at every site.") in table
    assert "*" not in effects_table_html(EFFECTS.iloc[[0, 3]])
    with use_language("es"):
        assert "* " + _("The sites agree more closely than chance alone would make them, so the Q-profile "
                        "intervals are empty (shown as 0); this does not show that the effect is the same at "
                        "every site.") in effects_table_html(pd.DataFrame([close]))


def test_a_prediction_interval_far_wider_than_the_sites_runs_on_past_the_axis():
    """Three sites' prediction interval on t(1) ran from -6.97 to 7.98 log-odds and shrank every site's CI
    (about 0.3 wide) to a dot (a reviewer's network check): the axis now spans the sites' and the pooled
    CIs and the benchmark, and the interval runs on past it with its ends marked; one no more than three
    times as wide is drawn whole."""
    wide = POOLED | {"pi_low": -6.97, "pi_high": 7.98}
    figure = forest("Attendance", "log-odds", SITES, wide, band=(0.55, 0.4, 0.7))
    low, high = figure.axes[0].get_xlim()
    assert -0.2 < low < 0 and 1.1 < high < 1.3  # 0 to 1.1, padded
    ends = [line for line in figure.axes[0].get_lines() if line.get_marker() in ("<", ">")]
    assert sorted(line.get_marker() for line in ends) == ["<", ">"]
    whole = forest("Attendance", "log-odds", SITES, POOLED | {"pi_low": -0.5, "pi_high": 1.6})
    low, high = whole.axes[0].get_xlim()
    assert low < -0.5 and high > 1.6
    assert not [line for line in whole.axes[0].get_lines() if line.get_marker() in ("<", ">")]
    plt.close("all")


TOGETHER = {"outcome": "attendance", "status": "fitted", "estimate": 0.62, "ci_low": 0.45, "ci_high": 1.45,
            "std_error": 0.2, "k_sites": 2, "n_patients": 812, "n_therapists": 42, "n_clusters": 41,
            "few_clusters": True,
            "sites_withheld": "Hospital de Día Barcelona: fewer therapists than its minimum cell size"}
WITHHELD = [("Hospital de Día Barcelona", "few_therapists")]  # as the bundles say it, not the CSV's words


@pytest.mark.parametrize("code", LANGUAGES)
def test_the_one_stage_analysis_is_drawn_under_the_pooled_row_and_said_in_words(code):
    """The analysis of all the sites' patients together from their sums (`one_stage.csv`) is a row of its
    own under the pooled diamond, its CI within the axis, and a sentence: its estimate, the sites it
    leaves out and why, and its t(G - 1) interval below the sites' `min_clusters` therapists; a table row
    that was not computed says why, and is not drawn."""
    from alliance.network.report import one_stage_words

    with use_language(code):
        figure = forest(title_of("attendance"), "log-odds", SITES, POOLED, together=TOGETHER)
        labels = [label.get_text() for label in figure.axes[0].get_yticklabels()]
        words = one_stage_words(TOGETHER, "log OR per point", 50, WITHHELD)
        refused = one_stage_words(TOGETHER | {"status": "not_computed", "sites_withheld": "",
                                              "reason": "the sites used different early windows"}, "", 50)
        plain = forest(title_of("attendance"), "log-odds", SITES, POOLED,
                       together=TOGETHER | {"status": "not_computed"})
        assert labels[-1] == _("one stage") and labels[-2] == _("pooled") and len(labels) == len(SITES) + 2
        assert len(plain.axes[0].get_yticklabels()) == len(SITES) + 1
    assert figure.axes[0].get_xlim()[1] > 1.45 and layout_problems(figure) == []
    plt.close("all")
    assert "0.62" in words.replace(",", ".") and "812" in words and "Hospital de Día Barcelona (" in words
    assert "t(40)" in words and "50" in words and "early windows" in refused if code == "en" else True
    if code == "en":
        assert words.startswith("All the sites' patients in one model") and "fewer therapists" in words
        assert refused == "No analysis of all the sites' patients together: the sites used different early " \
                          "windows."
    else:
        assert "patients" not in words and "fewer" not in words  # translated, the site's name kept
