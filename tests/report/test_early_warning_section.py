"""The report's early-warning section from hand-set results: the plain sentence in each case, the two
cut-offs side by side, suppressed counts, the reasons, the figure, and the section in Spanish."""

from __future__ import annotations

import numpy as np
import pandas as pd

from alliance.i18n import use_language
from alliance.report.early_warning import early_warning_figure, early_warning_section, verdict_sentence


def measures(auc=(0.64, 0.58, 0.71)) -> pd.DataFrame:
    rows = []
    for strategy in ("alliance", "alliance_covariates", "conventional_cutoff", "clinic_cutoff"):
        values = {"sensitivity": (0.6, 0.5, 0.7), "specificity": (0.6, 0.55, 0.65), "ppv": (0.25, 0.2, 0.3),
                  "alerts_per_100": (44, 39, 50), "net_benefit": (0.04, 0.005, 0.076)}
        if not strategy.endswith("cutoff"):
            values |= {"auc": auc, "calibration_slope": (0.73, 0.43, 1.18),
                       "calibration_intercept": (0.0, -0.38, 0.3), "brier": (0.14, 0.11, 0.17)}
        rows += [{"validation": "therapist_cv", "session": 3, "strategy": strategy, "measure": measure,
                  "estimate": e, "ci_low": lo, "ci_high": hi, "n": 380, "dropouts": 67, "threshold": 0.176}
                 for measure, (e, lo, hi) in values.items()]
    return pd.DataFrame(rows)


def result(actionable=True, discriminates=True) -> dict:
    return {"primary_session": 3, "thresholds": {"3": 0.176}, "clinic_cutoffs": {"3": [3.5, 3.9]},
            "conventional_cutoff": {"value": 36.0, "inclusive": False},
            "statuses": [{"key": "early_warning/therapist_cv/6/alliance", "status": "not_estimable",
                          "reason": "no patient in treatment at session 6 dropped out",
                          "reason_message": {"template": "no patient in treatment at session {session} "
                                                         "dropped out", "values": {"session": 6}}}],
            "verdict": {"session": 3, "assessed": True, "actionable": actionable,
                        "auc_ci_excludes_half": discriminates}}


FLOW = pd.DataFrame({"session": [3], "in_treatment": [pd.NA], "no_alliance_score": [pd.NA], "at_risk": [380],
                     "dropped_out": [67]})  # as written: 386 in treatment would give the hidden 6 away


def test_the_verdict_in_plain_words():
    assert verdict_sentence(result()).startswith("At session 3 the alliance so far told patients")
    # the verdict compares the net benefit's estimate with the defaults (prediction.early_warning.verdict):
    # the sentence says so and claims nothing of its CI
    assert "an estimated net benefit above that of alerting everyone or no one" in verdict_sentence(result())
    chance = verdict_sentence(result(actionable=False, discriminates=False))
    assert chance == ("At this clinic the alliance alone does not predict dropout well enough to act on: at "
                      "session 3 its AUC's 95% CI includes .5 (no better than chance).")
    assert "no more good than alerting everyone or no one" in verdict_sentence(result(actionable=False))
    assert "could not be assessed" in verdict_sentence({"primary_session": 3, "verdict": {"assessed": False}})


def test_the_section_sets_the_cutoffs_side_by_side():
    section = early_warning_section(result(), measures(), FLOW, min_cell_size=10)
    rules = [row["rule"] for row in section["cutoffs"]]
    assert rules == ["Conventional cut-off", "Clinic's own cut-off"]
    assert section["cutoffs"][0]["definition"] == "a total below 36"  # the setting as written
    chosen = "a total at or below each fold's cut-off (3.50 to 3.90)"
    assert section["cutoffs"][1]["definition"] == chosen
    same = result() | {"clinic_cutoffs": {"3": [33.0] * 5}}  # a reviewer's "(33.00 to 33.00)"
    assert early_warning_section(same, measures(), FLOW)["cutoffs"][1]["definition"] == (
        "a total at or below 33.00, the cut-off chosen in every fold")
    assert section["threshold"] == "17.6%"
    assert section["flow"] == (
        "At session 3: 380 patients analysed, of whom 67 dropped out; fewer than 10 patients in treatment "
        "had no alliance score yet and were left out (how many were in treatment is not shown, so that "
        "this count cannot be worked out).")
    # and why its patients and dropouts are not H2's (a reader compared 67 dropouts with H2's 57)
    assert section["versus_h2"] == ""  # without the early window
    versus = early_warning_section(result(), measures(), FLOW, min_cell_size=10, early_window=3)["versus_h2"]
    assert versus == ("These are not H2's patients and dropouts: H2 analyses the patients with a scored "
                      "alliance in sessions 1 to 3 whose treatment went on after session 3; here every "
                      "patient in treatment at session 3 with a score by then counts, one who leaves right "
                      "after it included.")
    one = early_warning_section(result(), measures(), FLOW, min_cell_size=10, early_window=1)["versus_h2"]
    assert "with a scored alliance in session 1 whose treatment went on after session 1;" in one
    with use_language("ca"):
        one = early_warning_section(result(), measures(), FLOW, min_cell_size=10, early_window=1)
        assert "amb una aliança puntuada a la sessió 1 el tractament" in one["versus_h2"]
    shown = FLOW.assign(in_treatment=400, no_alliance_score=20)  # nothing hidden
    assert early_warning_section(result(), measures(), shown, min_cell_size=10)["flow"].startswith(
        "At session 3: 400 patients in treatment, 20 of them without an alliance score yet (left out), 380")
    # a sentence of its own: capitalised (it read "not estimable: ...")
    assert section["not_estimated"] == ["Not estimable: No patient in treatment at session 6 dropped out."]
    assert section["conventional"] is True
    without = result() | {"conventional_cutoff": None}  # the WAI-SR: its table is the clinic's cut-off's
    clinic_only = measures()[lambda m: m["strategy"] != "conventional_cutoff"]
    alone = early_warning_section(without, clinic_only, FLOW, min_cell_size=10)
    assert alone["conventional"] is False
    assert [row["rule"] for row in alone["cutoffs"]] == ["Clinic's own cut-off"]
    assert section["rows"][0]["auc"] == ".64 [.58, .71]" and len(section["rows"]) == 4
    assert early_warning_section(None, None)["available"] is False


def test_a_measure_without_an_interval_says_why():
    """A CI of NaN, NaN (fewer than half of the bootstrap draws gave the measure: a calibration slope in
    draws whose risks separate the outcomes) reads "(no CI)", explained once under the tables; once
    "[NA, NA]", with no reason."""
    table = measures()
    slope = (table["strategy"] == "alliance") & (table["measure"] == "calibration_slope")
    table.loc[slope, ["estimate", "ci_low", "ci_high"]] = [0.08, float("nan"), float("nan")]
    section = early_warning_section(result(), table, FLOW, min_cell_size=10)
    assert section["rows"][0]["slope"] == "0.08 (no CI)"
    assert section["rows"][1]["slope"] == "0.73 [0.43, 1.18]"
    assert section["no_ci"].startswith("(no CI): fewer than half of the therapist bootstrap draws")
    assert early_warning_section(result(), measures(), FLOW, min_cell_size=10)["no_ci"] == ""
    with use_language("es"):
        spanish = early_warning_section(result(), table, FLOW, min_cell_size=10)
    assert spanish["rows"][0]["slope"] == "0,08 (sin IC)" and spanish["no_ci"].startswith("(sin IC): menos")


def test_the_section_in_spanish():
    with use_language("es"):
        section = early_warning_section(result(actionable=False, discriminates=False), measures(), FLOW)
    assert section["verdict"].startswith("En este centro, la alianza por sí sola no predice el abandono")
    assert section["rows"][0]["auc"] == "0,64 [0,58; 0,71]"


def test_the_figure_has_three_panels_or_says_why_not():
    roc = pd.DataFrame({"session": 3, "strategy": ["alliance"] * 3 + ["alliance_covariates"] * 3,
                        "false_positive_rate": [0, 0.5, 1] * 2, "true_positive_rate": [0, 0.7, 1] * 2})
    calibration = pd.DataFrame({"session": 3, "strategy": ["alliance", "alliance_covariates"], "bin": 1,
                                "n": 380, "predicted": 0.18, "observed": 0.18})
    curve = pd.DataFrame({"session": 3, "threshold": 0.1, "net_benefit": [0.05, 0.03, 0.08, 0.0],
                          "strategy": ["alliance", "clinic_cutoff", "alert_all", "alert_none"]})
    fig = early_warning_figure(result(), roc, calibration, curve, measures())
    assert len(fig.axes) == 3 and fig.axes[2].get_title() == "Decision curve"
    # one entry per strategy; a rule drawn as a point (ROC) and as a dashed curve (decision) shows both
    legend = fig.legends[0]
    styles = {text.get_text(): (handle.get_marker(), handle.get_linestyle())
              for text, handle in zip(legend.get_texts(), legend.legend_handles, strict=True)}
    assert styles == {"Alliance so far": ("o", "-"), "Alliance and covariates": ("o", "-"),
                      "Conventional cut-off": ("s", "None"), "Clinic's own cut-off": ("D", "--"),
                      "Alert everyone": ("None", ":"),
                      "Alert no one": ("None", "-")}  # the zero line, solid grey
    assert len(early_warning_figure(None, None, None, None, None).axes) == 1


def test_withheld_alerts_read_withheld_with_the_reason():
    """The analysis took out the alerts' measures of the clinic's cut-off (all of them) and of the "alliance"
    model (`result["withheld"]`: a group of its table of alerts had 1 to k - 1 patients): their cells read
    "withheld", the rule keeps its row in both tables, a note says why once, the verdict does not point to
    a net benefit the table does not show, and the figure leaves the rule's point off the ROC."""
    keep = ~(((measures()["strategy"] == "alliance") & ~measures()["measure"].isin(
        ["auc", "calibration_slope", "calibration_intercept", "brier"]))
        | (measures()["strategy"] == "clinic_cutoff"))
    table = measures()[keep]
    withheld = result() | {"withheld": [["therapist_cv", 3, "alliance"],
                                        ["therapist_cv", 3, "clinic_cutoff"]]}
    withheld["verdict"] |= {"net_benefit_withheld": True}
    section = early_warning_section(withheld, table, FLOW, min_cell_size=10)
    rows = {row["strategy"]: row for row in section["rows"]}
    assert list(rows) == ["Alliance so far", "Alliance and covariates", "Conventional cut-off",
                          "Clinic's own cut-off"]
    assert rows["Alliance so far"]["auc"] == ".64 [.58, .71]"  # the risks' measures stay
    for name in ("Alliance so far", "Clinic's own cut-off"):
        assert [rows[name][m] for m in ("sensitivity", "specificity", "ppv", "alerts", "net_benefit")] == [
            "withheld"] * 5
    assert rows["Alliance and covariates"]["sensitivity"] == "60% [50%, 70%]"
    cutoffs = {row["rule"]: row for row in section["cutoffs"]}
    assert cutoffs["Clinic's own cut-off"]["ppv"] == "withheld"
    assert cutoffs["Conventional cut-off"]["ppv"] == "25% [20%, 30%]"
    assert section["withheld"].startswith(
        "Withheld: at the alert threshold fewer than 10 patients (but some) were")
    assert early_warning_section(result(), measures(), FLOW, min_cell_size=10)["withheld"] == ""
    assert "the table below withholds it" in section["verdict"] and "95% CI" not in section["verdict"]
    with use_language("ca"):
        catalan = early_warning_section(withheld, table, FLOW, min_cell_size=10)
    assert catalan["cutoffs"][1]["ppv"] != "withheld" and "withheld" not in catalan["withheld"]
    roc = pd.DataFrame({"session": 3, "strategy": ["alliance"] * 3, "false_positive_rate": [0, 0.5, 1],
                        "true_positive_rate": [0, 0.7, 1]})
    calibration = pd.DataFrame({"session": 3, "strategy": ["alliance"], "bin": 1, "n": 380, "predicted": 0.18,
                                "observed": 0.18})
    # the model's curve without its threshold .2 (left out by the analysis): a gap there, not a straight line
    curve = pd.DataFrame({"session": 3, "threshold": [0.1, 0.3, 0.1, 0.2, 0.3],
                          "net_benefit": [0.05, 0.01, 0.0, 0.0, 0.0],
                          "strategy": ["alliance_covariates"] * 2 + ["alert_none"] * 3})
    fig = early_warning_figure(withheld, roc, calibration, curve, table)
    labels = [text.get_text() for text in fig.legends[0].get_texts()]
    assert "Clinic's own cut-off" not in labels and "Conventional cut-off" in labels
    drawn = {line.get_label(): line.get_ydata() for line in fig.axes[2].get_lines()}
    np.testing.assert_array_equal(drawn["Alliance and covariates"], [0.05, np.nan, 0.01])


def test_dropouts_that_leave_few_who_stayed_are_withheld_as_more_than():
    """194 analysed, of whom 191 dropped out (a reviewer's clinic where all but 3 of 200 left), told that 3
    stayed. The flow as written withholds the dropouts with the stayed, and the sentence says "more than
    184"; dropouts fewer than k still read "fewer than 10"."""
    from alliance.prediction.decision_points import suppressed_flow

    def sentence(dropped_out: int) -> str:
        flow = pd.DataFrame({"session": [3], "in_treatment": [200], "no_alliance_score": [0],
                             "at_risk": [194], "dropped_out": [dropped_out]})
        written = suppressed_flow(flow, 10)
        assert bool(written["suppressed"].iloc[0]) == (dropped_out != 100)
        return early_warning_section(result(), measures(), written, min_cell_size=10)["flow"]

    assert sentence(191) == ("At session 3: 200 patients in treatment, 0 of them without an alliance score "
                             "yet (left out), 194 analysed, of whom more than 184 dropped out.")
    assert sentence(4).endswith("194 analysed, of whom fewer than 10 dropped out.")
    assert sentence(100).endswith("194 analysed, of whom 100 dropped out.")


def test_the_predictors_that_entered_and_why():
    """The default run's case: 4 parameters allowed at session 3 (other counts at other decision points);
    each fitted model names what entered and what was left out. A fixed number says it is the
    configuration's, and where nothing was left out that every candidate entered; one parameter is
    singular; a model not fitted (`no_covariate`) is not listed; a run before the budget (no `entered`)
    and a decision point not analysed say nothing."""
    candidates = {"alliance": ["alliance_mean", "alliance_last", "alliance_change", "rupture_so_far",
                               "alliance_n_scored"],
                  "alliance_covariates": ["alliance_mean", "baseline_severity", "discipline",
                                          "sessions_remaining", "alliance_last", "alliance_change",
                                          "rupture_so_far", "alliance_n_scored"]}
    entered = {"alliance": candidates["alliance"][:4],
               "alliance_covariates": candidates["alliance_covariates"][:2]}
    budgeted = result() | {"predictors": candidates, "max_parameters": "auto",
                           "parameters_allowed": {"2": 3, "3": 4, "4": 4, "6": 2}, "entered": {"3": entered}}
    text = early_warning_section(budgeted, measures(), FLOW)["predictors"]
    assert text == (
        "Predictors: the patients analysed at session 3 and their dropouts support 4 predictor parameters "
        "(a category of L levels counts L - 1; Riley et al., 2020), so the predictors entered in the plan's "
        "order until the next would have exceeded them (the first in any case). Alliance so far: the mean of "
        "the totals so far, the last total, the change since the first total and a rupture so far (left out: "
        "the number of scored sessions); Alliance and covariates: the mean of the totals so far and baseline "
        "severity (left out: discipline, the sessions remaining, the last total, the change since the first "
        "total, a rupture so far and the number of scored sessions). At the other decision points the "
        "parameters allowed differ, and with them the predictors (result.json): 3 at session 2 and 2 at "
        "session 6.")
    every = budgeted | {"max_parameters": 20, "parameters_allowed": {"3": 20}, "entered": {"3": candidates}}
    fixed = early_warning_section(every, measures(), FLOW)["predictors"]
    assert fixed.startswith(
        "Predictors: the configuration allows 20 predictor parameters at a decision point "
        "(early_warning.max_parameters), so every candidate entered. Alliance so far: the mean of the totals "
        "so far, the last total, the change since the first total, a rupture so far and the number of scored "
        "sessions; Alliance and covariates:")
    one = budgeted | {"parameters_allowed": {"3": 1}, "entered": {"3": {"alliance": ["alliance_mean"]}}}
    assert early_warning_section(one, measures(), FLOW)["predictors"] == (
        "Predictors: the patients analysed at session 3 and their dropouts support 1 predictor parameter (a "
        "category of L levels counts L - 1; Riley et al., 2020), so the predictors entered in the plan's "
        "order until the next would have exceeded them (the first in any case). Alliance so far: the mean of "
        "the totals so far (left out: the last total, the change since the first total, a rupture so far and "
        "the number of scored sessions).")
    assert early_warning_section(result(), measures(), FLOW)["predictors"] == ""
    assert early_warning_section(budgeted | {"entered": {}}, measures(), FLOW)["predictors"] == ""
    with use_language("es"):
        spanish = early_warning_section(budgeted, measures(), FLOW)["predictors"]
    assert spanish.startswith("Predictores: los pacientes analizados en la sesión 3 y sus abandonos "
                              "admiten 4 parámetros de predictores")
    assert "(quedan fuera: discipline" not in spanish and "gravedad" in spanish
    assert spanish.endswith("3 en la sesión 2 y 2 en la sesión 6.")
