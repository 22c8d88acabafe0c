"""The report's section on bond, goals or tasks (H5): the planned contrast in words, the table, the
caveats and the reasons of the parts not estimated, and a figure readable in print."""

from __future__ import annotations

import copy

import pandas as pd
from figure_checks import layout_problems
from report_inputs import DIMENSIONS_RESULT, report_inputs, status
from test_figures import smallest_printed_size

from alliance.i18n import use_language
from alliance.report.dimensions import dimension_figure, dimension_section, reportable_dimensions
from alliance.report.document import build_report


def test_the_section_says_which_dimension_carries_each_outcome():
    section = dimension_section(DIMENSIONS_RESULT, status())
    assert section["sentences"] == [
        "Satisfaction: agreement on goals and tasks carried more of what the alliance explains than the bond "
        "(difference in shares .20, 95% CI .05 to .33).",
        "Satisfaction, latent dimensions: the outcome weighted the three dimensions unequally (test of equal "
        "paths: score statistic 12.50 on 2 df, p = .005 by wild bootstrap, q = .010 over the outcomes; goals "
        "and tasks minus bond 0.38, 95% CI 0.13 to 0.62).",
        # the planned contrast only: a reviewer's SRS cohort read "no dimension clearly carried more than the
        # others" where the table's task-minus-goal CI excluded 0
        "Dropout: agreement on goals and tasks carried neither clearly more nor clearly less of what the "
        "alliance explains than the bond (difference in shares .05, 95% CI -.20 to .25; each pair of "
        "dimensions is compared in the table of differences)."]
    # the pairs and the planned contrast with their CIs, and the fit the shares divide (a reviewer's report
    # pointed to a table of pairs it did not have); dropout's three dimensions add almost nothing
    assert section["differences"] == [
        {"outcome": "satisfaction", "pairs": [".22 [.07, .37]", ".18 [.03, .33]", "-.04 [-.19, .11]"],
         "contrast": ".20 [.05, .33]", "explained": ".213"},
        {"outcome": "dropout", "pairs": [".03 [-.12, .18]", ".07 [-.08, .22]", ".04 [-.11, .19]"],
         "contrast": ".05 [-.20, .25]", "explained": ".00040"}]
    rows = pd.DataFrame(section["rows"])
    assert len(rows) == 6 and list(rows["dimension"][:3]) == ["bond", "goal", "task"]
    assert rows.loc[0, "alone"] == "1.20 [1.00, 1.40]" and rows.loc[0, "joint"] == "0.20 [0.00, 0.40]"
    assert rows.loc[0, "share"] == ".20 [.10, .30]" and rows.loc[0, "vif"] == "2.6"
    assert rows.loc[3, "joint"] == "NA" and rows.loc[3, "alpha"] == "NA"  # dropout: alone only here
    assert any("the difference between the bond and goal scores has a reliability of .62 (below .70)" in c
               for c in section["caveats"])
    assert any("correlate .72 to .74" in c for c in section["caveats"])
    no_latent = copy.deepcopy(DIMENSIONS_RESULT)
    no_latent["outcomes"]["satisfaction"]["latent"] |= {
        "declared": False,
        "equal_paths": {"score": 1.62, "df": 2, "p": 0.45, "q": 0.45, "draws": 9999, "weights": "Rademacher"}}
    # the planned contrast of the paths is reported whatever the test says (the plan; it had been left out
    # where the test declared nothing), and where its CI excludes 0 the sentence says how to read it
    assert dimension_section(no_latent, status())["sentences"][1] == (
        "Satisfaction, latent dimensions: no dimension-specific effect was declared (test of equal paths: "
        "score statistic 1.62 on 2 df, p = .450 by wild bootstrap, q = .450 over the outcomes), although the "
        "planned "
        "contrast, goals and tasks minus bond, 0.38, 95% CI 0.13 to 0.62, excludes 0 before that "
        "adjustment: a lead for the hypothesis of the plan, not a finding.")
    no_latent["outcomes"]["satisfaction"]["latent"]["contrast"] |= {"ci_low": -0.1}
    assert dimension_section(no_latent, status())["sentences"][1] == (
        "Satisfaction, latent dimensions: no dimension-specific effect could be told apart from the general "
        "alliance (test of equal paths: score statistic 1.62 on 2 df, p = .450 by wild bootstrap, q = .450 "
        "over the outcomes; goals and tasks minus bond 0.38, 95% CI -0.10 to 0.62).")
    assert dimension_section(no_latent, status())["latent"][0]["contrast"] == "0.38 [-0.10, 0.62]"
    # the shares' contrast and the latent test disagree: said, both ways (the agreeing default says nothing)
    assert not any("the two analyses differ" in sentence for sentence in section["sentences"])
    assert dimension_section(no_latent, status())["sentences"][2].startswith(
        "Satisfaction: the two analyses differ. The shares divide what the observed dimension scores explain")
    unclear = copy.deepcopy(DIMENSIONS_RESULT)
    unclear["outcomes"]["satisfaction"]["importance"]["rows"][-1] |= {"ci_low": -0.05}
    assert dimension_section(unclear, status())["sentences"][2].startswith(
        "Satisfaction: the two analyses differ. The latent model, which separates the general alliance")
    latent = section["latent"]
    assert latent == [{"outcome": "satisfaction", "bond": "-0.10 [-0.30, 0.10]", "goal": "0.30 [0.10, 0.50]",
                       "task": "0.25 [0.05, 0.45]", "contrast": "0.38 [0.13, 0.62]",
                       "test": "12.50 (.005; .010)", "fit": ".991, .041"}]
    assert section["reliability"] == [{"outcome": "satisfaction", "bond": ".90 [.88, .92]",
                                       "goal": ".90 [.88, .92]", "task": ".90 [.88, .92]",
                                       "differences": [".62", ".64", ".71"]}]
    assert section["limit"] == ".70"
    # every part not estimable in this test's status table, for every outcome with the same reason: each
    # part said once, with its four outcomes
    assert len(section["not_estimated"]) == 4
    # (the outcomes in words: a reviewer's Spanish report read "H5d-attendance, H5d-dropout, ...")
    assert section["not_estimated"][3] == (
        "H5d (the three alliance dimensions as latent variables), attendance, dropout, satisfaction, symptom "
        "improvement: not estimable. No such data in this test.")
    assert section["not_estimated"][0].startswith("H5a (each alliance dimension alone (bond, goal, task)), "
                                                  "attendance, dropout")
    with use_language("es"):
        spanish = dimension_section(DIMENSIONS_RESULT, status())["not_estimated"][3]
    assert spanish.startswith("H5d (") and "asistencia, abandono, satisfacción" in spanish


def test_the_section_in_spanish():
    with use_language("es"):
        section = dimension_section(DIMENSIONS_RESULT, status())
    assert section["sentences"][0].startswith("Satisfacción: ")
    assert "0,20" in section["sentences"][0]
    assert section["latent"][0]["test"] == "12,50 (0,005; 0,010)"


def test_the_figure_is_readable_in_print_and_says_why_when_empty():
    figure = dimension_figure(DIMENSIONS_RESULT)
    assert layout_problems(figure) == []
    assert smallest_printed_size(figure) >= 7
    # a percentile bootstrap interval need not contain its estimate (two therapists: four distinct draws)
    outside = copy.deepcopy(DIMENSIONS_RESULT)
    outside["outcomes"]["dropout"]["importance"]["rows"][0] |= {"ci_low": 0.1, "ci_high": 0.3 - 1e-15}
    assert layout_problems(dimension_figure(outside)) == []
    empty = dimension_figure(None)
    texts = " ".join(t.get_text() for t in empty.findobj(lambda a: hasattr(a, "get_text")))
    assert "could not be related to any outcome" in texts


def test_an_instrument_without_the_dimensions_is_said_in_one_line():
    """HAq-II (issue 16: "instruments without the three dimensions say so in one line"): a reviewer's report
    repeated the reason 16 times under the section's introduction, tables' captions and an empty figure."""
    table = status()
    h5 = table["hypothesis"] == "H5"
    table.loc[h5, ["status", "reason"]] = ["refused", "the alliance instrument (Helping Alliance "
                                           "Questionnaire II) does not score Bordin's bond, goal and task "
                                           "dimensions"]
    table.loc[h5, "reason_message"] = None
    empty = {"effects": [], "outcomes": {}, "statuses": []}
    section = dimension_section(empty, table)
    assert section["none"] == (
        "None of H5's analyses is possible in these data: the alliance instrument (Helping Alliance "
        "Questionnaire II) does not score Bordin's bond, goal and task dimensions.")
    assert section["not_estimated"] == [] and section["rows"] == []
    with use_language("es"):
        assert dimension_section(empty, table)["none"].startswith("Ninguno de los análisis de H5 es posible")
    assert dimension_section(DIMENSIONS_RESULT, status())["none"] == ""  # estimates: the whole section


def test_single_item_dimensions_say_why_they_have_no_reliability():
    """The SRS's dimensions have one item each: a reviewer's report showed a reliability table of "NA [NA,
    NA]" without a word; now one line says why, in the report's language, and the table is left out, as
    is the main table's column of alphas (a Spanish report of an unseen generator's SRS cohort read "NA"
    in every row)."""
    single = copy.deepcopy(DIMENSIONS_RESULT)
    for detail in single["outcomes"].values():
        if "reliability" in detail:
            for values in detail["reliability"]["dimensions"].values():
                values |= {"alpha": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"),
                           "n_items": 1, "low": False, "reason": "one item: no internal consistency"}
            for values in detail["reliability"]["differences"].values():
                values |= {"reliability": float("nan"), "low": False}
    section = dimension_section(single, status())
    assert section["reliability"] == []
    assert section["alpha"] is False and dimension_section(DIMENSIONS_RESULT, status())["alpha"] is True
    line = ("The dimensions' reliability, and that of their differences, could not be estimated: one item: "
            "no internal consistency.")
    assert section["caveats"].count(line) == 1
    with use_language("ca"):
        assert ("No s'ha pogut estimar la fiabilitat de les dimensions ni la de les seves diferències: un "
                "sol ítem: sense consistència interna.") in dimension_section(single, status())["caveats"]
    caveats = dimension_section(DIMENSIONS_RESULT, status())["caveats"]
    assert not any("could not be estimated" in caveat for caveat in caveats)


def test_without_shares_the_table_has_no_column_of_na(tmp_path):
    """H5c refused for every outcome (fewer than 10 therapists, a reviewer's clinic) had left the share
    column "NA" in every row; the column and its note are left out, its reason being among the models not
    estimated."""
    refused = copy.deepcopy(DIMENSIONS_RESULT)
    for detail in refused["outcomes"].values():
        detail.pop("importance", None)
    section = dimension_section(refused, status())
    assert section["share"] is False and {row["share"] for row in section["rows"]} == {"NA"}
    assert dimension_section(DIMENSIONS_RESULT, status())["share"] is True
    inputs = report_inputs(tmp_path)
    assert "Share [95% CI]" in build_report(**inputs)
    html = build_report(**inputs | {"dimensions": refused})
    assert "Share [95% CI]" not in html and "Share: general dominance" not in html


def test_a_single_item_dimension_beside_others_says_why_it_has_no_alpha():
    """A custom form whose goal and task have one item each beside a three-item bond (a reviewer's probe):
    its rows read "NA [NA; NA]" and "NA" without a word; they give the reason."""
    mixed = copy.deepcopy(DIMENSIONS_RESULT)
    for detail in mixed["outcomes"].values():
        if "reliability" in detail:
            for dimension in ("goal", "task"):
                detail["reliability"]["dimensions"][dimension] |= {
                    "alpha": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"), "n_items": 1,
                    "low": False, "reason": "one item: no internal consistency"}
    section = dimension_section(mixed, status())
    (row, *_rest) = section["reliability"]
    assert row["goal"] == row["task"] == "one item: no internal consistency" and "[" in row["bond"]
    assert {r["alpha"] for r in section["rows"]
            if r["dimension"] in ("goal", "task") and r["outcome"] == "satisfaction"} == {
        "one item: no internal consistency"}
    with use_language("es"):
        (row, *_rest) = dimension_section(mixed, status())["reliability"]
    assert row["goal"] == "un solo ítem: sin consistencia interna"


def test_an_item_in_no_dimension_is_said():
    """The SRS's overall item (4) is none of Bordin's dimensions: the section says it is in the total but
    in no dimension score (it was left out without a word); a form whose items all map says nothing."""
    srs = DIMENSIONS_RESULT | {"instrument": "Session Rating Scale (SRS v3)", "unmapped_items": [4]}
    line = ("Session Rating Scale (SRS v3): item 4 belongs to none of the three dimensions; it counts in the "
            "alliance total but in no dimension score.")
    assert dimension_section(srs, status())["caveats"][0] == line
    two = srs | {"unmapped_items": [4, 7]}
    assert dimension_section(two, status())["caveats"][0].startswith(
        "Session Rating Scale (SRS v3): items 4, 7 belong to none")
    with use_language("es"):
        assert dimension_section(srs, status())["caveats"][0] == (
            "Escala de Valoración de la Sesión (SRS v3): el ítem 4 no pertenece a ninguna de las tres "
            "dimensiones; cuenta en el total de la alianza, pero en ninguna puntuación de dimensión.")
    wai = DIMENSIONS_RESULT | {"instrument": "WAI-SR", "unmapped_items": []}
    assert not any("belong" in caveat for caveat in dimension_section(wai, status())["caveats"])


def test_a_reliability_below_the_limit_is_shown_below_it():
    """A reviewer read "a reliability of 0.70 (below 0.70)": the value gets the digits that show it below."""
    from alliance.report.dimensions import below_limit

    assert [below_limit(v) for v in (0.55, 0.698, 0.6995, 0.69949)] == [".55", ".698", ".6995", ".699"]


def test_an_outcome_on_fewer_patients_than_the_minimum_cell_size_is_withheld():
    """An audit's H5 table showed satisfaction's dimension effects on 9 patients (minimum 10), beside effect
    tables that withheld H3 itself: the outcome's effects, shares, latent model and figure row are left
    out, and a caveat says why; the other outcomes stay."""
    small = copy.deepcopy(DIMENSIONS_RESULT)
    for row in small["effects"]:
        if row["outcome"] == "satisfaction":
            row["n_patients"] = 9
    kept = reportable_dimensions(small, 10)
    assert kept["withheld"] == ["satisfaction"] and "satisfaction" not in kept["outcomes"]
    section = dimension_section(kept, status())
    rows = pd.DataFrame(section["rows"])
    assert set(rows["outcome"]) == {"dropout"} and not any("Satisfaction" in s for s in section["sentences"])
    assert "Withheld for satisfaction: the estimates rest on fewer patients than the minimum cell size." in (
        section["caveats"])
    fig = dimension_figure(kept)
    labels = [t.get_text() for ax in fig.axes for t in ax.get_yticklabels()]
    assert labels and not any("Satisfaction" in label for label in labels)
    assert reportable_dimensions(DIMENSIONS_RESULT, 10) is DIMENSIONS_RESULT  # 18 patients each: all kept


def test_a_bound_of_an_interval_that_excludes_zero_never_reads_zero():
    """A reviewer's null cohort read "the bond carried more ... (difference in shares -.26, 95% CI -.47 to
    .00)": the bound was -.0044, so the decision (the CI excludes 0) was right and the text looked wrong."""
    close = copy.deepcopy(DIMENSIONS_RESULT)
    close["outcomes"]["dropout"]["importance"]["rows"][-1] |= {"estimate": -0.26, "ci_low": -0.47,
                                                              "ci_high": -0.0044}
    assert dimension_section(close, status())["sentences"][2] == (
        "Dropout: the bond carried more of what the alliance explains than agreement on goals and tasks "
        "(difference in shares -.26, 95% CI -.47 to -.0044).")
    assert dimension_section(close, status())["differences"][1]["contrast"] == "-.26 [-.47, -.0044]"


def test_a_reliability_below_the_limit_reads_below_it_in_the_table_too():
    """The words said "goals minus bond ... .696 (below .70)" beside a table cell of ".70": the table now
    shows the digits that keep it below .70, as the words do; one at or above keeps two."""
    close = copy.deepcopy(DIMENSIONS_RESULT)
    outcome = next(name for name, detail in close["outcomes"].items() if "reliability" in detail)
    first = next(iter(close["outcomes"][outcome]["reliability"]["differences"].values()))
    first |= {"reliability": 0.696, "low": True}
    rows = dimension_section(close, status())["reliability"]
    assert rows[0]["differences"][0] == ".696"
    assert ".696 (below .70)" in " ".join(map(str, dimension_section(close, status())["caveats"]))
    first |= {"reliability": 0.7049, "low": False}
    assert dimension_section(close, status())["reliability"][0]["differences"][0] == ".70"


def test_the_two_panels_end_ticks_stand_apart():
    """The left panel's last tick label and the right panel's first ("0.6" and "0.0") nearly touched on the
    default run, both at their axis's edge. A label reaches half its width beyond its axis, so the panels
    are now further apart than the widest tick label (they were 21 px apart at 100 dpi, the label 38)."""
    fig = dimension_figure(DIMENSIONS_RESULT)
    fig.set_dpi(100)
    fig.canvas.draw()
    left, right = fig.axes[:2]
    widest = max(label.get_window_extent().width
                 for label in [*left.get_xticklabels(), *right.get_xticklabels()] if label.get_text())
    assert right.get_window_extent().x0 - left.get_window_extent().x1 > widest
