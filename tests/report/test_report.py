"""The HTML report: sections, self-containment, suppression, APA numbers, determinism; its helpers."""

import base64
import copy
import re
from html import unescape

import numpy as np
import pandas as pd
import pytest
import yaml
from degenerate import visible_text
from report_inputs import EFFECTS, model_results, status

from alliance.i18n import use_language
from alliance.models.effects import multiplicity_table
from alliance.outputs import FIGURES
from alliance.report.analysis import apa_row, sensitivity_notes, status_rows
from alliance.report.cohort import ceiling_text, flow_steps
from alliance.report.document import build_report
from alliance.report.downloads import table_csv
from alliance.report.format import (
    estimate_digits,
    format_ci,
    format_count,
    format_number,
    format_p,
    format_percent,
    format_unit,
    p_text,
    word_cell,
)
from alliance.report.measurement import sessions_text
from alliance.report.methods import methods_section
from alliance.report.provenance import git_commit, provenance
from alliance.report.words import predictor_definitions, predictor_label, shown_count

SECTION_IDS = ["contents", "summary", "methods", "cohort-flow", "alliance-scores", "measurement", "analyses",
               "analysis-adherence", "analysis-dropout", "analysis-satisfaction", "predictions", "benchmarks",
               "limitations", "provenance"]


def test_format_p_apa():
    assert format_p(0.0004) == "< .001"
    assert format_p(0.001) == ".001"
    assert format_p(0.01234) == ".012"
    assert format_p(0.5) == ".500"
    assert format_p(float("nan")) == "NA"
    assert p_text(0.0004) == "p < .001"
    assert p_text(0.04) == "p = .040"
    # no p reads 1.000 (a reviewer read "p = 1.000" in a pooled report's heterogeneity)
    assert (format_p(0.9994), format_p(0.9995), format_p(1.0)) == (".999", "> .999", "> .999")
    assert p_text(0.99996) == "p > .999" and p_text(0.99996, "q") == "q > .999"


def test_number_helpers():
    assert format_number(1.3642) == "1.36"
    assert format_number(-0.0001) == "0.00"
    assert format_number(float("inf")) == "NA"
    assert format_unit(0.2602) == ".26"
    assert format_unit(-0.2602) == "-.26"
    assert format_unit(0.278, 3) == ".278"
    assert format_unit(1.0) == "1.00"
    assert format_ci(0.1462, 0.2421, unit=True) == "[.15, .24]"
    assert format_ci(-0.78, -0.19) == "[-0.78, -0.19]"
    assert format_count(3885) == "3,885"
    assert format_percent(0.1234) == "12.3%"


def test_estimates_never_show_a_nonzero_value_as_zero():
    assert estimate_digits(1.3642) == 2 and estimate_digits(-0.019) == 2 and estimate_digits(0.005) == 2
    assert estimate_digits(0.0031) == 4 and estimate_digits(-0.00048) == 5 and estimate_digits(0.004999) == 4
    assert estimate_digits(0.0) == 2 and estimate_digits(float("nan")) == 2 and estimate_digits(0.031, 1) == 3
    assert format_number(0.0031, estimate_digits(0.0031)) == "0.0031"


def test_a_bound_of_an_interval_that_excludes_the_null_never_reads_as_the_null():
    """A reviewer's ceiling cohort: "(95% CI -0.71 to 0.00, p = .047) ... the CI excludes zero", and at a
    glance an odds ratio "(95% CI 0.49 to 1.00)". The bound takes the digits that tell it from the null."""
    from alliance.report.format import bound_digits
    from alliance.report.words import effect_summary

    assert bound_digits(-0.71, -0.0048, 2) == (2, 4) and bound_digits(-0.71, 0.2, 2) == (2, 2)
    assert bound_digits(0.49, 0.9952, 2, null=1.0) == (2, 4)
    assert bound_digits(0.49, 0.98, 2, null=1.0) == (2, 2)
    row = pd.Series({"outcome": "dropout", "predictor": "alliance_early", "scale": "log_odds",
                     "estimate": -0.36, "ci_low": -0.71, "ci_high": -0.0048, "p_value": 0.047, "r": -0.15,
                     "r_ci_low": -0.29, "r_ci_high": -0.0026, "n_obs": 180, "n_patients": 180,
                     "n_therapists": 16})
    assert "(95% CI -0.71 to -0.0048, p = .047)" in effect_summary(row, 3)


def test_share_outcomes_are_in_percentage_points():
    row = pd.Series({"analysis": "secondary", "outcome": "home practice", "predictor": "alliance_between",
                     "scale": "points", "estimate": 0.1148, "std_error": 0.0049, "ci_low": 0.1047,
                     "ci_high": 0.1248, "p_value": 1e-9, "r": 0.57, "r_ci_low": 0.52, "r_ci_high": 0.62,
                     "n_obs": 2827, "n_patients": 387, "n_therapists": 32})
    cells = apa_row(row, early_window=3, min_cell_size=10)
    assert (cells["scale"], cells["estimate"], cells["se"], cells["ci"]) == (
        "percentage points", "11.48", "0.49", "[10.47, 12.48]")
    tiny = apa_row(pd.Series({**row.to_dict(), "outcome": "symptoms_next", "estimate": 0.0005,
                              "std_error": 0.0025, "ci_low": -0.0045, "ci_high": 0.0055}),
                   early_window=3, min_cell_size=10)
    assert (tiny["scale"], tiny["estimate"], tiny["se"], tiny["ci"]) == ("points", "0.00050", "0.0025",
                                                                          "[-0.0045, 0.0055]")
    # a tiny estimate with a wide interval: the SE and CI with the decimals of their own size (a reviewer's
    # "log HR 0.00053 0.21927 [-0.94292, 0.94399]")
    wide = apa_row(pd.Series({**row.to_dict(), "outcome": "dropout", "scale": "log_hazard",
                              "estimate": 0.00053, "std_error": 0.21927, "ci_low": -0.94292,
                              "ci_high": 0.94399}), early_window=3, min_cell_size=10)
    assert (wide["estimate"], wide["se"], wide["ci"]) == ("0.00053", "0.22", "[-0.94, 0.94]")


TRUTH = {"effects": [
    {"outcome": "attendance", "predictor": "alliance_early", "scale": "log_odds", "generating": 0.3,
     "estimand": 0.30, "estimand_se": 0.01},
]}


def test_report_has_every_section(inputs):
    html = build_report(**inputs)
    for section in SECTION_IDS:
        assert f'id="{section}"' in html, section
    assert 'id="truth"' not in html and "Synthetic demonstration data" not in html
    # the effect tables' r of a linear model is a standardised slope, not bounded by 1: said under them
    assert "for points, the standardised slope, which can pass \u00b11" in unescape(html)
    assert "Seed (synthetic cohort)" not in html  # a clinic's data were drawn with no seed of ours
    for hypothesis in ("H1", "H2", "H3"):
        assert f"ANALYSIS_PLAN.md, {hypothesis}" in html
    assert "Zilcha-Mano" in html
    assert "y ~ alliance_early_z" in html
    assert "The covariate x was left out: it takes a single value." in html


def test_report_is_self_contained(inputs):
    html = build_report(**inputs)
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", html)
    assert not re.search(r"<(?:script|link)\b", html)
    # every figure but the example trajectories, which are drawn for the synthetic cohort only
    assert html.count('src="data:image/png;base64,') == len(FIGURES) - 1
    assert build_report(**inputs, truth=TRUTH).count('src="data:image/png;base64,') == len(FIGURES)


def test_report_suppresses_small_counts(inputs):
    html = build_report(**inputs)
    # nutrition (3 patients) is below 5; osteopathy (7), the next smallest, is hidden as well
    assert "<td>nutrition</td><td class=\"num\">&lt;5</td>" in html
    assert "<td>osteopathy</td><td class=\"num\">suppressed</td>" in html
    assert "<td>physiotherapy</td><td class=\"num\">10</td>" in html
    assert "&#34;&lt;5&#34;" in html  # the rule is stated


def test_per_discipline_counts_cannot_be_recovered_from_the_models_total():
    """An audit's H1 table (minimum 10): 245 patients in the primary row, 39, 38, 70 and 89 in four
    disciplines and "suppressed" for the fifth gave its 9 patients away by subtraction. The next smallest
    discipline's counts are withheld too (its estimate stays); other models and the primary row keep
    theirs."""
    from alliance.report.analysis import apa_row, withheld_counts

    def row(predictor, n, model="glm", analysis="exploratory"):
        return {"outcome": "attendance", "model": model, "analysis": analysis, "predictor": predictor,
                "scale": "log_odds", "estimate": 0.3, "std_error": 0.1, "ci_low": 0.1, "ci_high": 0.5,
                "p_value": 0.01, "r": 0.1, "r_ci_low": 0.0, "r_ci_high": 0.2, "n_obs": 7 * n,
                "n_patients": n, "n_therapists": 3}

    rows = pd.DataFrame([row("alliance_early", 245, analysis="primary"),
                         *(row(f"alliance_early [{d}]", n) for d, n in
                           (("nutrition", 39), ("osteopathy", 38), ("other", 9), ("physiotherapy", 70),
                            ("psychotherapy", 89))),
                         *(row(f"alliance_early [{d}]", n, model="gee") for d, n in (("a", 40), ("b", 50)))])
    assert withheld_counts(rows, 10) == {2}  # osteopathy, the smallest of the others
    osteopathy = apa_row(rows.loc[2], 3, 10, counts_withheld=True)
    assert (osteopathy["n_patients"], osteopathy["n_obs"], osteopathy["n_therapists"]) == ("suppressed",) * 3
    assert osteopathy["estimate"] == "0.30"
    assert apa_row(rows.loc[3], 3, 10)["n_patients"] == "<10"
    assert withheld_counts(rows.drop(index=3), 10) == set()  # nothing hidden, nothing to protect


def test_report_formats_p_values_apa(inputs):
    html = build_report(**inputs)
    assert '<td class="num">&lt; .001</td>' in html
    assert '<td class="num">.012</td>' in html
    assert '<td class="num">.500</td>' in html
    assert "p = .012" in html


def test_the_item_figure_caption_speaks_of_reverse_keys_only_when_the_instrument_has_them(inputs, root,
                                                                                          tmp_path):
    """The WAI-SR has no reverse-keyed item; the caption said "(after reverse keying; reverse-keyed items
    marked R)" all the same. A user's form of it with item 4 reverse-keyed gets the sentence."""
    assert "Reverse-keyed items are marked R" not in build_report(**inputs)
    spec = yaml.safe_load((root / "workflow/alliance/instruments/wai_sr.yaml").read_text())
    (tmp_path / "wai_sr.yaml").write_text(yaml.safe_dump(spec | {"reverse_keyed": [4]}))
    config = copy.deepcopy(inputs["config"])
    config["instruments"]["alliance"] = str(tmp_path / "wai_sr.yaml")
    assert "Reverse-keyed items are marked R" in build_report(**inputs | {"config": config})


def test_report_is_deterministic(inputs):
    assert build_report(**inputs) == build_report(**inputs)


def test_report_truth_table(inputs):
    html = build_report(**inputs, truth=TRUTH)
    assert 'id="truth"' in html and "Seed (synthetic cohort)" in html
    # said before any number: the first thing under "At a glance"
    glance = html[html.index('<section id="glance">'):]
    assert glance.index("Synthetic demonstration data.") < glance.index("<figure")
    assert "0.300 (0.010)" in html  # estimand (MC SE)
    assert '<td class="num">1.20</td>' in html  # (0.36 - 0.30) / 0.05 SEs


def measurement(html: str) -> str:
    return html.split('<section id="measurement">')[1].split("</section>")[0]


def test_report_measurement_section(inputs):
    html = build_report(**inputs)
    assert html.index('id="alliance-scores"') < html.index('id="measurement"') < html.index('id="analyses"')
    assert '<a href="#measurement">Measurement</a>' in html
    section = measurement(html)
    assert "first scored questionnaire" in section
    assert '<td class="num">.85 [.82, .87]</td><td class="num">.85</td>' in section  # alpha [CI], omega
    assert '<td class="num">.93</td>' in section and "not converged" not in section
    assert "<td>wai_sr_12</td><td>task</td>" in section and '<td class="num">.65</td>' in section
    assert ('<td>One factor</td><td class="num">17</td><td class="num">296.23</td><td class="num">54</td>'
            in section)
    assert '<td class="num">.995</td>' in section and "<td>CFI, RMSEA, SRMR</td>" in section
    # each model's status: the correlated-factors model was fitted with a variance at its bound
    assert '<td class="num">.058</td><td>fitted</td>' in section
    assert '<td class="num">.025</td><td>fitted (a parameter at its boundary)</td>' in section
    assert "Hu &amp; Bentler, 1999" in section and "guides, not rules" in section
    # a lower bound of .0045 is not written ".00" (a reviewer: "CI .00 to .14" read as reaching 0)
    assert "Therapist ICC of the patients&#39; mean alliance: .06 (95% CI .0045 to .14" in section
    assert "share of alliance variance" in section and "Baldwin, Wampold &amp; Imel, 2007" in section
    assert "reliability of .71" in section and ".80 with 2 sessions and .90 with 4 sessions" in section
    # one session is "1 session" (a reviewer's report read "reaches .80 with 1 sessions"), in es and ca too
    by_sessions = pd.DataFrame({"sessions": [1, 2], "session_icc": [0.85, 0.85], "reliability": [0.85, 0.92],
                                "status": ["reported", "reported"], "reason": ["", ""]})
    assert sessions_text(by_sessions).endswith("reaches .80 with 1 session and .90 with 2 sessions.")
    with use_language("es"):
        assert "0,80 con 1 sesión y 0,90 con 2 sesiones" in sessions_text(by_sessions)
    assert ".90 not within 1 session" in sessions_text(by_sessions.iloc[:1])
    assert "at least c = 2.0 SDs" in section and "within the next 3 scored sessions" in section
    assert "depend heavily on the criterion" in section
    for share in ("74.5%", "10.7%", "14.7%"):
        assert share in section
    assert "total: a note from semopy" in section
    # A run without the invariance table: nothing to show, and comparisons of means say it was not tested.
    assert "Highest level that holds" not in section
    assert "whether the disciplines&#39; means can be compared is not known" in html
    assert "agreement" not in section.lower()  # no therapist ratings
    assert "not shown for real data" in section
    for name in ("item_distributions", "factor_loadings", "reliability_by_sessions"):
        assert f'id="figure-{name}"' in section
    assert 'id="figure-rupture_trajectories"' not in section
    assert 'id="figure-rupture_trajectories"' in measurement(build_report(**inputs, truth=TRUTH))


def test_report_measurement_not_possible_for_prescored_alliance(inputs):
    inputs["scoring"]["alliance"]["item_level"] = False
    empty = ("reliability", "item_statistics", "item_distribution", "cfa_fit", "cfa_parameters")
    inputs["psychometrics"] |= {name: pd.DataFrame(columns=inputs["psychometrics"][name].columns)
                                for name in empty}
    html = build_report(**inputs)
    section = measurement(html)
    assert "Item-level psychometrics (reliability, item statistics, factor structure and answer " \
           "distributions) were not possible" in section
    assert "<caption>Reliability" not in section and "<caption>Item statistics" not in section
    assert 'id="figure-item_distributions"' not in html and 'id="figure-factor_loadings"' not in html
    assert "Therapist ICC" in section and "reliability of .71" in section
    # the missing-data table: no item answers, every session pre-scored (a reviewer's pre-scored report read
    # "Attended sessions with an alliance questionnaire 0 (0.0%)" beside "Attended sessions scored 3,460")
    inputs["scoring"]["alliance"] |= {"sessions_with_answers": 0, "sessions_pre_scored": 56}
    html = build_report(**inputs)
    assert re.search(r"Attended sessions with alliance item answers</t[dh]>\s*<td[^>]*>0 \(0\.0%\)", html)
    assert re.search(r"Attended sessions with a pre-scored alliance score</t[dh]>\s*<td[^>]*>56 \(100", html)


def test_report_measurement_decimal_answers(inputs):
    inputs["psychometrics"]["item_distribution"] = pd.DataFrame(columns=["item", "value", "n", "share"])
    section = measurement(build_report(**inputs))
    assert "whole-number answers only" in section
    assert 'id="figure-item_distributions"' not in section and 'id="figure-factor_loadings"' in section


def test_report_measurement_suppresses_small_pattern_counts(inputs):
    inputs["rupture_shares"]["n"] = [12, 6, 3, 1]  # 1 and 3 below 5; shares would reveal them
    section = measurement(build_report(**inputs))
    assert '<td>Rupture with repair</td><td class="num">&lt;5</td><td class="num">not shown</td>' in section
    assert '<td>Not classifiable</td><td class="num">&lt;5</td>' in section
    assert '<td>No rupture</td><td class="num">12</td><td class="num">not shown</td>' in section
    assert "would reveal a suppressed count" in section
    inputs["rupture_shares"]["n"] = [12, 7, 9, 3]  # one small count: the next smallest is hidden too
    section = measurement(build_report(**inputs))
    assert '<td>Not classifiable</td><td class="num">&lt;5</td>' in section
    assert '<td>Rupture without repair</td><td class="num">suppressed</td>' in section


def test_report_measurement_agreement_and_reliable_change(inputs):
    inputs["psychometrics"]["agreement"] = pd.DataFrame([{
        "n_pairs": 50, "n_patients": 12, "patient_level_r": 0.85, "patient_level_ci_low": 0.75,
        "patient_level_ci_high": 0.91, "patient_level_status": "fitted", "patient_level_reason": "",
        "rm_r": 0.4, "rm_ci_low": 0.1, "rm_ci_high": 0.63, "rm_df": 37, "rm_n_patients": 12,
        "rm_status": "fitted", "rm_reason": "", "mean_difference": 1.02, "sd_between": 0.2,
        "sd_within": 0.224, "sd_difference": 0.3, "loa_low": 0.432, "loa_high": 1.608, "loa_status": "fitted",
        "loa_reason": ""}])
    inputs["config"]["ruptures"] = {"criterion": "reliable_change", "c": 2.0, "repair_window": 2,
                                    "reliability": None}
    section = measurement(build_report(**inputs))
    assert '<td class="num">.85 [.75, .91]</td>' in section
    assert ('<td class="num">.40 [.10, .63], df = 37 (12 patients with 2+ sessions rated by both)</td>'
            in section)
    assert ('<td class="num">[0.43, 1.61] (SD of a difference 0.30; between patients 0.20, within 0.22)</td>'
            in section)
    assert "r = .93 (the alpha of the total in this sample)" in section
    assert "within the next 2 scored sessions" in section


def test_report_needs_every_figure(inputs):
    inputs["figure_paths"] = inputs["figure_paths"][:2]
    with pytest.raises(ValueError, match="forest_plot, item_distributions"):
        build_report(**inputs)


def test_provenance(inputs):
    prov = provenance(inputs["config"], inputs["validation"])
    assert prov["seed"] == 123
    assert prov["inputs"]["patients"]["sha256"] == "ab" * 32
    assert {"snakemake", "pandas", "numpy", "scipy", "statsmodels", "pandera", "matplotlib", "seaborn",
            "pyarrow", "jinja2", "alliance"} <= set(prov["versions"])
    assert isinstance(prov["commit"], str) and prov["commit"]


def test_git_commit_outside_a_repository(tmp_path):
    assert git_commit(tmp_path) == "unknown"




def test_report_lists_ignored_columns_by_file_name_only(inputs):
    html = build_report(**inputs)
    assert "room" in html and "p.csv" in html
    assert "/secure/" not in html.split('id="provenance"')[0]  # full paths only in provenance


def test_report_dropout_section_has_the_log_rank_test_and_curves(inputs):
    section = build_report(**inputs).split('id="analysis-dropout"')[1].split("</section>")[0]
    assert "log-rank χ²(2) = 12.05, p = .002" in section
    assert 'id="figure-kaplan_meier"' in section


def test_report_shows_q_values_level_tests_and_hides_small_groups(inputs):
    results = model_results()
    extra_rows = [
        {**EFFECTS.iloc[0].to_dict(), "predictor": "alliance_early_patient", "analysis": "secondary",
         "p_value": 0.02},
        {**EFFECTS.iloc[0].to_dict(), "predictor": "alliance_early [nutrition]", "analysis": "exploratory",
         "n_patients": 3, "estimate": 0.777},
    ]
    results[0]["effects"] += extra_rows
    results[0]["extra"]["level_tests"] = {
        "therapist_vs_patient": {"statistic": 0.38, "df": 1, "p_value": 0.536, "therapist_reliability": 0.48,
                                 "therapist_f": 2.0412, "therapist_f_df": [31, 368], "therapist_f_p": 0.0012}}
    effects = pd.concat([EFFECTS, pd.DataFrame(extra_rows)], ignore_index=True)
    multiplicity = multiplicity_table(effects)
    html = build_report(**inputs | {"model_results": results, "effects": effects,
                                    "multiplicity": multiplicity})
    section = html[html.index('id="analysis-adherence"'):html.index('id="analysis-dropout"')]
    # the split row by its short label, the predictor defined once below the table
    # each part of the label stays on one line (report.format.label_cell)
    assert ('<td><span class="part">early alliance</span>, <span class="part">patient deviation</span></td>'
            in section)
    assert "<em>early alliance</em>: early alliance (mean total over scored sessions 1 to 3)" in section
    # and the scale (log OR: a log odds ratio) never breaks in a narrow (printed) column
    assert '<td><span class="part">log OR</span></td>' in section and "log-odds" not in section
    assert re.search(r"was -?\d\.\d+ on the log odds ratio scale \(95% CI", html)  # the summary's words
    # each model in words first, its code name only as the key of effects.csv
    assert re.search(r"<li>Model: binomial GLM [^<]*; <code>binomial_glm_cluster_therapist</code> in "
                     r"effects.csv</li>", section)
    assert str(word_cell("a<b log-odds x")) == 'a&lt;b <span class="part">log-odds</span> x'
    # a secondary family of one: q = p = .020
    assert '<td class="num">.020</td><td class="num">.020</td>' in section
    assert "0.78" not in section and "suppressed (&lt;5 patients)" in section
    assert ("χ²(1) = 0.38, p = .536. The therapist means differ beyond chance, F(31, 368) = 2.04, "
            "p = .001, and are shrunken for their reliability (mean .48), which reduces the attenuation "
            "of the therapist-level slope.") in visible_text(section)
    # only a statistic in the benchmark's own metric gets a verdict; the effect rows get none
    benchmarks = visible_text(html[html.index('id="benchmarks"'):html.index("</section>",
                                                                            html.index('id="benchmarks"'))])
    assert ("d, early alliance of completers minus dropouts (pooled SD): 0.62 [0.21, 1.03] (18 patients), "
            "compatible with the benchmark 0.55 (Sharf, Primavera & Diener, 2010; 11 studies).") \
        in benchmarks
    assert benchmarks.count("compatible with") == 1 and "None is the metric of a benchmark" in benchmarks
    results[1]["extra"].pop("benchmark")
    html = build_report(**inputs | {"model_results": results, "effects": effects,
                                    "multiplicity": multiplicity})
    assert "Neither benchmark&#39;s metric could be computed" in html


def test_every_table_can_be_downloaded_as_csv(inputs):
    html = build_report(**inputs)
    tables = html.count("<table")
    links = re.findall(r'<a download="([^"]+)" href="data:text/csv;charset=utf-8;base64,([^"]+)"', html)
    assert tables > 5 and len(links) == tables
    names = [name for name, _ in links]
    assert len(set(names)) == len(names)
    # the cohort table as shown: suppressed counts stay suppressed in the CSV
    texts = [base64.b64decode(data).decode() for _, data in links]
    cohort = next(t for t in texts if "nutrition" in t)
    assert "nutrition,<5" in cohort and "osteopathy,suppressed" in cohort


def test_table_csv_reads_header_body_and_caption():
    text, caption = table_csv("<table><caption>Flow  of\n patients</caption><thead><tr><th>Step</th>"
                              "<th>n</th></tr></thead><tbody><tr><td>a, b</td><td class='num'>1,234</td>"
                              "</tr><tr><td>&lt;5 &amp; c</td><td><em>x</em> y</td></tr></tbody></table>")
    assert caption == "Flow of patients"
    assert text == 'Step,n\n"a, b","1,234"\n<5 & c,x y\n'


def test_flow_and_missing_data_counts_are_suppressed():
    flow = [{"step": "patients in the cohort", "n": 400}, {"step": "excluded: a", "n": 24},
            {"step": "excluded: b", "n": 6}, {"step": "excluded: c", "n": 0}, {"step": "analysed", "n": 370},
            {"step": "home practice: excluded sessions: d", "n": 3}]
    assert flow_steps(flow, 10) == [
        ("patients in the cohort", "400"), ("excluded: a", "suppressed"), ("excluded: b", "<10"),
        ("excluded: c", "0"), ("analysed", "370"), ("home practice: excluded sessions: d", "<10")]
    assert shown_count(7, 10, of=400) == "<10" and shown_count(12, 10, of=400) == "12 (3.0%)"
    # A reviewer's dropout flow: the patients' exclusions 0, 0, 7, 0 between 350 and 343 analysed gave the 7
    # away, as the secondary cell was taken among the sessions' exclusions (one table with the patients')
    # and none of the patients' other cells was above 0. Now each unit is its own table, and a 0 is
    # suppressed where no other cell is left.
    flow = [{"step": "patients in the cohort", "n": 350}, {"step": "excluded: no outcome recorded", "n": 0},
            {"step": "excluded: no scored alliance in the early window", "n": 7},
            {"step": "excluded: missing a covariate value", "n": 0}, {"step": "analysed", "n": 343},
            {"step": "sessions of patients with an outcome", "n": 3494},
            {"step": "excluded sessions: no outcome recorded", "n": 0},
            {"step": "excluded sessions: a completer's last scheduled session", "n": 300},
            {"step": "excluded sessions: no earlier scored session", "n": 489},
            {"step": "sessions at risk analysed", "n": 2705}]
    # the 350 and 343 still told that the patients' exclusions summed to 7: the analysed read "more than"
    assert [n for _, n in flow_steps(flow, 10)] == [
        "350", "suppressed", "<10", "0", "more than 340", "3,494", "0", "300", "489", "2,705"]
    # An audit's flow (minimum 10): 260 in the cohort, 251, 0 and 0 excluded, "<10" analysed gave the 9
    # away; a suppressed analysed count joins its exclusions' table, so that one of them is withheld too
    small = [{"step": "patients in the cohort", "n": 260},
             {"step": "excluded: no satisfaction score", "n": 251},
             {"step": "excluded: no scored alliance session", "n": 0},
             {"step": "excluded: missing a covariate value", "n": 0}, {"step": "analysed", "n": 9}]
    assert [n for _, n in flow_steps(small, 10)] == ["260", "suppressed", "0", "0", "<10"]
    # A reviewer's clinic: 60 in the cohort, two exclusions "<10", 58 analysed: their sum, 2, told each was
    # 1. A zero beside them is now "<10" too (still true), or else the smallest other count is suppressed;
    # all k - 1 alike; a sum that tells neither cell (1 and 2) stays as it was
    def counts(ns, cohort=60):
        steps = [{"step": "patients in the cohort", "n": cohort}]
        steps += [{"step": f"excluded: {i}", "n": n} for i, n in enumerate(ns)]
        steps += [{"step": "analysed", "n": cohort - sum(ns)}]
        return [n for _, n in flow_steps(steps, 10)][1:-1]

    assert counts([1, 1, 0]) == ["<10", "<10", "<10"]
    assert counts([1, 1, 0, 0]) == ["<10", "<10", "<10", "0"]
    assert counts([1, 1, 25]) == ["<10", "<10", "suppressed"]
    assert counts([9, 9, 0]) == ["<10", "<10", "<10"]
    assert counts([1, 2, 0]) == ["<10", "<10", "0"]
    assert counts([1, 1]) == ["<10", "<10"]  # nothing else to withhold: as one exclusion (plan section 8)
    # a reviewer's bundle: 68 in the cohort, 67 analysed, the exclusions "<10" and "suppressed": the two
    # counts told that one patient was excluded. The analysed read "more than" the cohort - k
    bundle = [{"step": "patients in the cohort", "n": 68}, {"step": "excluded: a", "n": 1},
              {"step": "excluded: b", "n": 0}, {"step": "analysed", "n": 67}]
    assert [n for _, n in flow_steps(bundle, 10)] == ["68", "<10", "suppressed", "more than 58"]
    bundle[1]["n"], bundle[3]["n"] = 12, 56
    assert [n for _, n in flow_steps(bundle, 10)] == ["68", "12", "0", "56"]
    # a count of an exclusion table with the language's thousands separator, as every other count (a
    # reviewer found "1169" beside "3.880" in Spanish)
    flow[8]["n"] = 1169
    with use_language("es"):
        shown = [n for _, n in flow_steps(flow, 10)]
        assert shown[8] == "1.169" and shown[5] == "3.494"
        from alliance.report.cohort import shown_value

        assert [shown_value(v) for v in ("1169", "<10", "0")] == ["1.169", "<10", "0"]


def test_methods_describe_instruments_models_and_software(inputs):
    html = build_report(**inputs)
    methods = html[html.index('id="methods"'):html.index('id="cohort-flow"')]
    assert "Working Alliance Inventory" in methods and "task: items 1, 2, 10, 12" in methods
    assert "Client Satisfaction Questionnaire" in methods
    assert "scored sessions 1 to 3" in methods and "2 within-patient SDs" in methods
    assert "Primary: attendance (binomial GLM); dropout (logistic GLM); satisfaction" in methods
    # the covariates the families recorded (baseline severity here), and the configured one none used
    assert "Covariates: baseline severity (numeric ones z-scored)" in methods
    assert "The configured covariate discipline was left out of every model" in methods
    assert "fewer than 5 patients" in methods
    assert "statsmodels " in methods and "lifelines " in methods


def test_sensitivity_section_and_ceiling_sentence(inputs):
    table = pd.concat([EFFECTS.assign(variant="complete cases (primary)"),
                       EFFECTS.assign(variant="early window k = 2", analysis="sensitivity", n_patients=3)])
    results = model_results()
    results[2]["extra"]["ceiling"] = {"share_at_maximum": 0.2, "maximum": 32.0, "ceiling_effect": True,
                                      "n": 300, "n_at_maximum": 60}
    result_json = {"notes": ["Other early windows do not change satisfaction."],
                   "failures": [{"variant": "bootstrap", "outcome": "dropout", "reason": "singular"}],
                   "multiple_imputation": {"imputed": ["satisfaction"],
                                           "pooled": {"satisfaction": {"m": 20, "lambda": 0.16}}}}
    html = build_report(**inputs | {"model_results": results, "sensitivity": table,
                                    "sensitivity_notes": sensitivity_notes(result_json)})
    section = html[html.index('<section id="sensitivity">'):html.index('<section id="predictions">')]
    assert section.count("complete cases (primary)") == 3
    assert section.count("suppressed (&lt;5 patients)") == 3  # k = 2 rows rest on 3 patients
    assert "Not fitted: bootstrap / dropout: singular" in section
    assert "fraction of missing information 0.16" in section
    assert "20.0% of the analysed patients are at the maximum total (32); a ceiling effect" in html
    assert 'id="sensitivity"' not in build_report(**inputs)


def test_data_warnings_show_the_suppressed_message(inputs):
    validation = inputs["validation"] | {"warnings": [
        {"kind": "no_scored_session", "message": "3 patients have no scored alliance session",
         "report_message": "<5 patients have no scored alliance session", "rows": [7, 9, 11]}]}
    html = build_report(**inputs | {"validation": validation})
    assert "&lt;5 patients have no scored alliance session" in html
    assert "3 patients" not in html
    assert "nothing to warn about" in build_report(**inputs)


def test_an_early_window_of_one_session_is_worded_as_one_session(default_config):
    """Early alliance over sessions 1 to 1 is "the total at session 1", in the definitions and the methods."""
    assert predictor_definitions(["alliance_early"], 1) == [("early alliance",
                                                             "early alliance (the total at session 1)")]
    assert predictor_definitions(["alliance_early"], 3)[0][1] == (
        "early alliance (mean total over scored sessions 1 to 3)")
    config = default_config | {"features": default_config["features"] | {"early_window": 1}}
    text = " ".join(p["text"] for p in methods_section(config, [], {"statsmodels": "0.15.0"}))
    assert "Early alliance is the total at session 1;" in text and "1 to 1" not in text
    with use_language("es"):
        definition = predictor_definitions(["alliance_early"], 1)[0][1]
        assert definition == "alianza temprana (el total de la sesión 1)"


def test_predictor_labels_are_short_and_defined_once():
    assert predictor_label("alliance_early") == "early alliance"
    assert predictor_label("alliance_early_therapist") == "early alliance, therapist mean"
    assert predictor_label("alliance_mean [nutrition]") == "mean alliance, nutrition"
    assert predictor_definitions(["alliance_early", "alliance_early_patient", "alliance_early [osteopathy]",
                                  "alliance_mean"], early_window=3) == [
        ("early alliance", "early alliance (mean total over scored sessions 1 to 3)"),
        ("mean alliance", "mean alliance over all scored sessions")]


def test_status_reasons_and_flags_are_footnotes_each_once():
    flag = "Few clusters: 6 therapists (fewer than 50); jackknife (CR3) standard errors."
    status = pd.DataFrame({
        "hypothesis": ["H1", "H2", "H3"], "title": ["a", "b", "c"], "analysis": ["primary"] * 3,
        "status": ["fitted", "not_estimable", "fitted"],
        "reason": ["", "no patient dropped out", ""], "flags": [flag, flag, ""]})
    table = status_rows(status)
    assert [(r["status"], r["mark"]) for r in table["rows"]] == [("fitted", "a"), ("not estimable", "b,a"),
                                                                 ("fitted", "")]
    assert table["footnotes"] == [("a", flag), ("b", "No patient dropped out.")]


INVARIANCE = pd.DataFrame({
    "grouping": ["discipline"] * 3, "level": ["configural", "metric", "scalar"], "n": [300] * 3,
    "n_groups": [3] * 3, "groups": ["psychotherapy; physiotherapy; nutrition"] * 3,
    "left_out": ["osteopathy"] * 3,
    "chisq": [90.1, 120.2, 190.3], "df": [153, 171, 189], "chisq_scaled": [88.4, 118.9, 185.5],
    "scaling_factor": [1.02, 1.01, 1.03], "cfi": [0.991, 0.975, 0.951], "rmsea": [0.03, 0.045, 0.06],
    "delta_chisq": [float("nan"), 30.1, 70.1], "delta_df": [float("nan"), 18, 18],
    "pvalue_diff": [float("nan"), 0.04, 0.0001], "delta_cfi": [float("nan"), -0.016, -0.024],
    "delta_rmsea": [float("nan"), 0.015, 0.015], "retained": [None, False, False],
    "highest_level": ["configural"] * 3, "status": ["fitted"] * 3, "reason": [""] * 3,
    "reason_message": [""] * 3})


def test_report_carries_the_invariance_verdict_to_every_comparison_across_disciplines(inputs):
    """Configural only: the measurement section says so, the disciplines' means are marked not
    comparable (trajectory figure) and a comparison of slopes across disciplines not interpretable."""
    results = copy.deepcopy(inputs["model_results"])  # the inputs share their dicts with other tests
    results[0]["extra"].setdefault("level_tests", {})["equal_slopes_by_discipline"] = {
        "df": 2, "statistic": 3.1, "p_value": 0.21}
    html = build_report(**inputs | {"model_results": results,
                                    "psychometrics": inputs["psychometrics"] | {"invariance": INVARIANCE}})
    section = visible_text(measurement(html))
    assert "Measurement invariance across disciplines" in section
    assert ("Highest level that holds: configural invariance (3 groups, 300 patients): neither the "
            "alliance's slopes nor its means can be compared across the disciplines") in section
    assert "Left out (fewer patients than the minimum), so not tested: osteopathy." in section
    # the discipline in the report's language (a reviewer read "osteopathy" in a Spanish report)
    spanish = visible_text(build_report(**inputs | {
        "model_results": results, "psychometrics": inputs["psychometrics"] | {"invariance": INVARIANCE},
        "config": inputs["config"] | {"report": {"language": "es"}}}))
    assert "osteopatía." in spanish and "osteopathy" not in spanish
    assert "-.016" in section and "-.024" in section and "-0.016" not in section and "88.40" in section
    text = visible_text(html)
    assert ("Scalar invariance across disciplines does not hold (configural only): the disciplines' means "
            "are not comparable.") in text
    assert ("Test that the alliance slopes are equal across disciplines (Wald): χ²(2) = 3.10, p = .210. "
            "Measurement invariance across disciplines holds only at the configural level") in text
    assert "so this comparison of slopes is not interpretable" in text


def test_the_invariance_models_patients_do_not_tell_a_left_out_groups_size():
    """173 patients complete on the alliance items, 168 in the models: the site left out held 5 (a
    reviewer's probe). Beside a group left out, the models' patients read "more than" complete - k."""
    from alliance.report.measurement import invariance_view

    table = INVARIANCE.assign(n=168)
    (view,) = invariance_view(table, 10, complete=173)
    assert "(3 groups, more than 163 patients)" in view["verdict"]
    (view,) = invariance_view(table, 10, complete=190)
    assert "(3 groups, 168 patients)" in view["verdict"]
    (view,) = invariance_view(table.assign(left_out=""), 10, complete=173)  # none left out: the 5 are
    assert "(3 groups, 168 patients)" in view["verdict"]  # patients without a group, told nowhere else


def test_report_shows_why_invariance_was_not_estimable_in_the_reports_language(inputs):
    from alliance.i18n import Plural, Term, message_text

    reason = Plural("{n} group of {groups} with at least {size} patients with every item answered: "
                    "invariance compares two or more",
                    "{n} groups of {groups} with at least {size} patients with every item answered: "
                    "invariance compares two or more",
                    n=1, groups=Term("grouping", "disciplines"), size=30)
    table = pd.DataFrame([{"grouping": "discipline", "status": "not_estimable", "reason": str(reason),
                           "reason_message": message_text(reason)}], columns=INVARIANCE.columns)
    html = build_report(**inputs | {"psychometrics": inputs["psychometrics"] | {"invariance": table},
                                    "config": inputs["config"] | {"report": {"language": "es"}}})
    section = visible_text(measurement(html))
    assert ("No estimable: 1 grupo de disciplinas con al menos 30 pacientes con todos los ítems respondidos: "
            "la invarianza compara dos o más.") in section
    assert "Invarianza de medida entre disciplinas" in section and "patients" not in section


@pytest.mark.parametrize("code", ["en", "es", "ca"])
def test_the_report_spells_fluckiger_with_its_umlaut(inputs, code):
    """Flückiger et al. (2018), the alliance-outcome benchmark: the benchmark's source, the Methods and the
    references as published; never "Fluckiger" (a reviewer found both spellings in one report)."""
    html = build_report(**inputs | {"config": inputs["config"] | {"report": {"language": code}}})
    assert f'<html lang="{code}">' in html
    text = unescape(re.sub(r'(src|href)="data:[^"]*"', "", html))
    assert "Flückiger" in text and "Fluckiger" not in text


def test_a_column_the_data_do_not_have_gets_no_table_of_patients(inputs):
    """Without a site column (validation adds it empty) the report has no "Patients by site" table of one
    "(missing)" row; the disciplines' table stays. The input tables list the absent column."""
    features = inputs["features"]
    features = features.assign(site=pd.Series(pd.NA, index=features.index, dtype="string"))
    html = build_report(**inputs | {"features": features})
    assert "Patients by discipline" in html and "Patients by site" not in html
    assert '<th scope="row">Sites</th>' not in html  # nor 0 sites in the overview (a reviewer's report)
    with_sites = build_report(**inputs)
    assert "Patients by site" in with_sites
    assert '<th scope="row">Sites</th><td class="num">2</td>' in with_sites


def test_a_count_that_leaves_few_of_its_total_reads_more_than(inputs):
    """All but 3 of 20 patients dropped out (a reviewer's clinic: 197 of 200): "17 (85.0%)" of the 20 with
    an outcome told that 3 stayed, below k = 5. It reads "more than 15", without a share."""
    dropout = pd.array([i >= 3 for i in range(20)], dtype="boolean")
    html = build_report(**inputs | {"features": inputs["features"].assign(dropout=dropout)})
    shown = re.search(r"Dropouts \(of patients with a recorded outcome\)</t[dh]>\s*<td[^>]*>([^<]*)<", html)
    assert shown.group(1) == "more than 15"
    dropout = pd.array([i >= 8 for i in range(20)], dtype="boolean")
    html = build_report(**inputs | {"features": inputs["features"].assign(dropout=dropout)})
    shown = re.search(r"Dropouts \(of patients with a recorded outcome\)</t[dh]>\s*<td[^>]*>([^<]*)<", html)
    assert shown.group(1) == "12 (60.0%)"


def test_the_missing_data_table_tells_unscorable_satisfaction_from_none(inputs):
    """Satisfaction answered with too many items missing is counted apart, where there is any; its count
    and the missing with nothing answered sum to the missing shown, so when the latter is 1 to k - 1 the
    former is withheld."""
    row = r"Satisfaction answered but unscorable \(too many items missing\)</t[dh]>\s*<td[^>]*>([^<]*)<"

    def shown(missing: int, unscorable: int) -> str | None:
        satisfaction = inputs["scoring"]["satisfaction"] | {"scored_from_items": 20 - missing,
                                                            "missing": missing, "unscorable": unscorable}
        html = build_report(**inputs | {"scoring": inputs["scoring"] | {"satisfaction": satisfaction}})
        found = re.search(row, html)
        return found and found.group(1)

    assert shown(5, 0) is None
    assert shown(12, 6) == "6"
    assert shown(12, 2) == "&lt;5"
    assert shown(12, 9) == "suppressed"  # 3 with nothing answered
    assert shown(12, 12) == "12"


def test_the_missing_data_table_counts_satisfaction_missing_among_dropouts(inputs):
    """Satisfaction asked at the end of treatment is missing for the patients who left, so H3 rests on
    completers (the plan says the report counts them): 5 of 5 dropouts, 1 of 15 others (shown as <5). The
    two sum to the missing satisfaction, which the table shows (6): the 5 is withheld too (it was shown,
    "5 (100.0%)", and gave the 1 away); so is the sessions' scored count beside a hidden unscorable one."""
    html = build_report(**inputs)
    assert re.search(r"Satisfaction missing among dropouts</t[dh]>\s*<td[^>]*>suppressed<", html)
    assert re.search(r"Satisfaction missing among patients who did not drop out</t[dh]>\s*<td[^>]*>&lt;5<",
                     html)
    features = inputs["features"].assign(satisfaction=np.nan)  # no satisfaction measure: no split
    assert "missing among dropouts" not in build_report(**inputs | {"features": features})
    # 3 dropouts (below 5), every one without satisfaction, and 3 of the 17 others: a share would give a
    # group's size away (the other's is the cohort's minus it); the counts are shown without shares
    dropout = pd.array([i in (0, 4, 8) for i in range(20)], dtype="boolean")
    features = inputs["features"].assign(dropout=dropout)
    html = build_report(**inputs | {"features": features})
    for group in ("dropouts", "patients who did not drop out"):
        assert re.search(rf"missing among {group}</t[dh]>\s*<td[^>]*>&lt;5<", html), group
    html = build_report(**inputs | {"features": features.assign(satisfaction=20.0)})
    for group in ("dropouts", "patients who did not drop out"):
        assert re.search(rf"missing among {group}</t[dh]>\s*<td[^>]*>0<", html), group  # no "0 (0.0%)"
    # 6 of 7 dropouts without satisfaction: "6 (85.7%)" told that 1 dropout answered (a reviewer's probe
    # read "27 (96.4%)"); both groups' counts are withheld, as they sum to the missing satisfaction shown
    dropout = pd.array([i < 7 for i in range(20)], dtype="boolean")
    satisfaction = pd.Series([np.nan] * 6 + [20.0] * 14)
    html = build_report(**inputs | {"features": inputs["features"].assign(dropout=dropout,
                                                                          satisfaction=satisfaction)})
    for group in ("dropouts", "patients who did not drop out"):
        assert re.search(rf"missing among {group}</t[dh]>\s*<td[^>]*>suppressed<", html), group
    scoring = copy.deepcopy(inputs["scoring"])
    scoring["alliance"] |= {"sessions_scored": 53, "sessions_unscorable": 3}  # 56 answered
    html = build_report(**inputs | {"scoring": scoring})
    assert re.search(r"Attended sessions scored</t[dh]>\s*<td[^>]*>suppressed<", html)
    assert re.search(r"Questionnaires unscorable \(too many items missing\)</t[dh]>\s*<td[^>]*>&lt;5<", html)


def test_small_counts_of_the_sentences_and_an_effect_on_few_patients_are_hidden_in_the_report(inputs):
    """Found by an audit with a minimum cell size of 10: the log-rank sentence's "8 dropouts", the summary's
    "(9 observations of 9 patients ...)" with its estimate, the at-a-glance row of that estimate, and a
    ceiling note's "of the 9 analysed patients", all beside tables that withheld them. Here with a minimum
    of 5: 3 dropouts, and satisfaction (H3) on 4 patients."""
    from alliance.i18n import suppressing_counts
    from alliance.models.satisfaction import ceiling_notes
    from alliance.report.format import format_value

    results = copy.deepcopy(inputs["model_results"])
    dropout = next(r for r in results if r["family"] == "dropout")
    dropout["extra"]["logrank"] |= {"events": 3, "n_patients": 245}
    (note,) = ceiling_notes({"outside_range": 0, "n": 4, "n_at_maximum": 0, "share_at_maximum": 0.0,
                             "ceiling_effect": False, "floor_effect": False, "maximum": 32})
    satisfaction = next(r for r in results if r["family"] == "satisfaction")
    satisfaction |= {"notes": [str(note)], "notes_message": [note.to_json()]}
    effects = inputs["effects"].copy()
    h3 = (effects["outcome"] == "satisfaction") & (effects["analysis"] == "primary")
    estimate = effects.loc[h3, "estimate"].iloc[0]
    effects.loc[effects["outcome"] == "satisfaction", ["n_patients", "n_obs"]] = 4
    html = build_report(**inputs | {"model_results": results, "effects": effects})
    text = visible_text(html)
    assert "245 patients, <5 dropouts" in text and "3 dropouts" not in text
    with suppressing_counts(5):
        written = note.render(format_value)
        assert written.startswith("Of the <5 analysed patients, 0 (0.0%) are at the maximum")
    summary = html.split('id="summary"')[1].split("</section>")[0] if 'id="summary"' in html else text
    assert "The estimate is withheld: it rests on fewer than 5 patients (the minimum cell size)." in text
    assert "4 observations" not in text and "of 4 patients" not in text
    assert f"{estimate:.2f}" not in summary
    assert "Satisfaction: suppressed (<5 patients)." in text  # the at-a-glance row


def test_item_and_reliability_statistics_on_fewer_questionnaires_than_the_minimum_are_withheld():
    """An audit's satisfaction items answered by 9 patients (minimum 10): "<10" beside "at maximum 11.1%,
    22.2%, 33.3%" (1, 2 and 3 of 9) and a mean of 2.89 (26 / 9) gave the count and the answers away, and so
    did alpha on "<10" questionnaires. The statistics of such a row are withheld with its count; a row
    of 0 or of 10 keeps them."""
    from alliance.report.measurement import item_rows, reliability_rows

    items = pd.DataFrame({"role": "satisfaction", "instrument": "csq8", "item": ["csq8_01", "csq8_02"],
                          "subscale": "total", "n": [9, 90], "mean": 2.89, "sd": 0.78, "floor_share": 0.0,
                          "ceiling_share": [1 / 9, 10 / 90], "skew": -0.2, "corrected_r_subscale": 0.6,
                          "corrected_r_total": 0.6})
    small, enough = item_rows(items, set(), 10)
    assert small["n"] == "<10"
    assert {small[c] for c in ("mean", "sd", "ceiling", "r_subscale", "r_total")} == {""}
    assert enough["mean"] == "2.89" and enough["ceiling"] == "11.1%"  # 10 of 90
    reliability = pd.DataFrame({"role": "satisfaction", "instrument": "csq8", "scale": "total", "n": [9, 0],
                                "n_items": 8, "alpha": [0.63, np.nan], "alpha_ci_low": [0.10, np.nan],
                                "alpha_ci_high": [0.90, np.nan], "omega": [0.64, np.nan],
                                "floor_share": 0.0, "ceiling_share": 0.1, "skew": 0.1})
    small, none = reliability_rows(reliability, 10)
    assert {small[c] for c in ("alpha", "omega", "floor", "ceiling", "skew")} == {""}
    assert none["n"] == "0" and none["alpha"] == "NA"


def test_a_share_that_gives_a_small_count_away_is_withheld(inputs):
    """A reviewer's report read "at maximum 1.7%" of 356 questionnaires (6) and "6.8%" of 88 (6), and its
    ceiling check "6.3% of the analysed patients are at the maximum total" of 95 beside a note that hid the
    6 as "<10". A share of 1 to k - 1 of the counted, or leaving that few, is withheld in the tables, with a
    note, and said as "fewer than k" in the sentence; 0%, 100% and shares of k or more stay."""
    from alliance.report.measurement import item_rows, reliability_rows

    reliability = pd.DataFrame({"role": ["alliance", "satisfaction", "alliance"], "instrument": "wai_sr",
                                "scale": "total", "n": [356, 88, 356], "n_items": 12, "alpha": 0.9,
                                "alpha_ci_low": 0.85, "alpha_ci_high": 0.93, "omega": 0.9,
                                "floor_share": [0.0, 0.0, 350 / 356], "ceiling_share": [6 / 356, 6 / 88, 1.0],
                                "skew": 0.1})
    shown = reliability_rows(reliability, 10)
    assert [row["ceiling"] for row in shown] == ["withheld", "withheld", "100.0%"]
    assert [row["floor"] for row in shown] == ["0.0%", "0.0%", "withheld"]  # 350 of 356 leaves 6
    items = pd.DataFrame({"role": "alliance", "instrument": "wai_sr", "item": ["wai_sr_01", "wai_sr_02"],
                          "subscale": "task", "n": 356, "mean": 3.9, "sd": 0.8, "floor_share": 0.0,
                          "ceiling_share": [9 / 356, 10 / 356], "skew": -0.2, "corrected_r_subscale": 0.6,
                          "corrected_r_total": 0.6})
    assert [row["ceiling"] for row in item_rows(items, set(), 10)] == ["withheld", "2.8%"]
    note = "Withheld: a share at the minimum or maximum of fewer than 5 questionnaires"
    tables = inputs["psychometrics"]
    none = {"reliability": tables["reliability"].assign(floor_share=0.0, ceiling_share=0.0),
            "item_statistics": tables["item_statistics"].assign(ceiling_share=0.0)}
    assert note not in build_report(**inputs | {"psychometrics": tables | none})
    small = none["reliability"].copy()
    small.loc[0, "ceiling_share"] = 1 / small.loc[0, "n"]
    assert note in build_report(**inputs | {"psychometrics": tables | none | {"reliability": small}})
    results = model_results()
    for n, at_maximum, words in (
            (95, 4, "fewer than 5 of the analysed patients are at the maximum total (32); no ceiling effect"),
            (20, 4, "fewer than 5 of the analysed patients are at the maximum total (32), yet at least 15% "
                    "of so few: a ceiling effect"),
            (20, 17, "all but fewer than 5 of the analysed patients are at the maximum total (32); a ceiling "
                     "effect")):
        results[2]["extra"]["ceiling"] = {"share_at_maximum": at_maximum / n, "maximum": 32.0, "n": n,
                                          "n_at_maximum": at_maximum, "ceiling_effect": at_maximum / n > 0.15}
        html = build_report(**inputs | {"model_results": results})  # minimum cell size 5
        sentence = html[html.index("Ceiling check"):][:300]
        assert words in sentence and f"{100 * at_maximum / n:.1f}%" not in sentence, sentence
    html = build_report(**inputs | {"model_results": results,
                                    "config": inputs["config"] | {"report": {"language": "es"}}})
    assert "todos los pacientes analizados salvo menos de 5 tienen el total máximo" in html

def test_a_therapist_icc_on_fewer_patients_than_the_minimum_is_withheld():
    """The ICC of 9 patients of 3 therapists (minimum 10) had read "0.20 (<10 patients of 3 therapists)": a
    statistic on fewer than k patients, and its therapists bound them. It is withheld; 10 patients keep it."""
    from alliance.report.measurement import icc_text

    icc = pd.DataFrame({"icc": [0.2], "ci_low": [np.nan], "ci_high": [np.nan], "n_patients": [9],
                        "n_therapists": [3], "n_boot": [0], "status": ["fitted"], "reason": [""],
                        "reason_message": [""]})
    assert icc_text(icc, 10) == ("The therapist ICC of the patients' mean alliance is withheld: it rests on "
                                 "fewer than 10 patients (the minimum cell size).")
    shown = icc_text(icc.assign(n_patients=10), 10)
    assert shown.startswith("Therapist ICC of the patients' mean alliance: .20 (10 patients of 3 therapists)")


def test_a_small_count_in_a_models_note_or_reason_is_hidden_in_the_report(inputs):
    """A note and a reason made with `Count`s (3 patients at the maximum, 2 patients recorded) are written
    with their counts in the results (English) and as "<5" in the report (minimum cell size 5), the
    share of the hidden count too."""
    from alliance.i18n import Count, Message, Plural, message_text
    from alliance.models.satisfaction import ceiling_notes

    (note,) = ceiling_notes({"outside_range": 0, "n": 20, "n_at_maximum": 3, "share_at_maximum": 0.15,
                             "ceiling_effect": False, "floor_effect": False, "maximum": 32})
    reason = Plural("{variable} is recorded for {n} patient only", "{variable} is recorded for {n} patients "
                    "only", variable=Message("alliance"), n=Count(2))
    assert str(note) == "Of the 20 analysed patients, 3 (15.0%) are at the maximum satisfaction score (32)."
    (most,) = ceiling_notes({"outside_range": 0, "n": 20, "n_at_maximum": 18, "share_at_maximum": 0.9,
                             "ceiling_effect": False, "floor_effect": False, "maximum": 32})
    results = copy.deepcopy(inputs["model_results"])
    satisfaction = next(r for r in results if r["family"] == "satisfaction")
    satisfaction |= {"notes": [str(note)], "notes_message": [note.to_json()]}
    status = inputs["status"].copy()
    row = status["key"] == "H3-ordinal"
    status.loc[row, ["status", "reason", "reason_message"]] = ["not_estimable", str(reason),
                                                              message_text(reason)]
    text = visible_text(build_report(**inputs | {"model_results": results, "status": status}))
    assert "Of the 20 analysed patients, <5 are at the maximum satisfaction score (32)." in text
    assert "Alliance is recorded for <5 patients only." in text
    assert "3 (15.0%)" not in text and "recorded for 2 patient" not in text
    # 18 of 20 at the maximum told that 2 were not (a reviewer's probe read "95 (96.9%) of the 98")
    satisfaction |= {"notes": [str(most)], "notes_message": [most.to_json()]}
    text = visible_text(build_report(**inputs | {"model_results": results, "status": status}))
    assert "Of the 20 analysed patients, more than 15 are at the maximum satisfaction score (32)." in text
    assert "18 (90.0%)" not in text


def test_two_footnote_marks_of_an_effect_are_told_apart(inputs):
    """An effect whose model is at a boundary and flagged has two footnotes: its marks read "a,b" (a
    reviewer read "sensitivity<sup>ba</sup>" as a note "ba" that does not exist)."""
    table = inputs["status"].copy()
    table.loc[table["key"] == "H1", ["status", "reason", "flags"]] = [
        "boundary", "the working correlation is held at 0, its boundary",
        "Few clusters: 2 therapists (fewer than 50)."]
    html = build_report(**inputs | {"status": table})
    section = html[html.index('id="analysis-adherence"'):]
    assert "<sup>a,b</sup>" in section[:section.index("</table>")]
    assert "<sup>ab</sup>" not in html and "<sup>ba</sup>" not in html


def test_the_answers_in_words_come_first(inputs):
    """The plain sentence of each outcome opens the report, before the figure and the table (a reviewer's
    first screen at 1280 x 800 held the banner and the figure only), and prints unbroken."""
    html = build_report(**inputs)
    glance = html[html.index('<section id="glance">'):html.index("</section>")]
    answers = glance[glance.index('<div class="answers">'):glance.index("</div>")]
    assert answers.count("<p>") == glance.count("<p>") - ("synthetic" in glance) >= 3
    assert glance.index('<div class="answers">') < glance.index('id="figure-at_a_glance"') < glance.index(
        '<table class="glance">')
    assert ".answers, table.glance { break-inside: avoid; }" in html


def test_the_simulation_coverage_is_said_to_be_that_designs_for_a_clinics_data(inputs):
    """The limitations quote the simulation study's coverage at 400 patients and 32 therapists; beside a
    clinic's own data (no truth table) they say that these rates are that design's and how to get the
    clinic's own (a reviewer's report of 150 patients and 12 therapists read them as its own)."""
    words = "These rates are that design's, not a measure of this clinic's intervals"
    clinic = build_report(**inputs | {"truth": None})
    synthetic = build_report(**inputs | {"truth": {"effects": [], "n_patients": 400}})
    assert words in clinic and words not in synthetic
    # nor does its configuration list the synthetic cohort's settings (planted effects and all)
    assert "\nsynthetic:\n" not in clinic and "(the synthetic block) are left out" not in synthetic
    assert "\nsynthetic:\n" in synthetic and "(the synthetic block) are left out" in clinic


def test_the_status_rows_of_h5_name_their_outcome():
    """H5's four parts are planned per outcome: sixteen rows whose titles were four blocks alike (a reviewer
    could not tell which outcome's part was at its boundary). Each row names its outcome."""
    from alliance.report.analysis import status_rows

    rows = [row for row in status_rows(status())["rows"] if row["hypothesis"] == "H5"]
    titles = [row["title"] for row in rows]
    assert len(titles) == len(set(titles)) == 16
    assert "the three alliance dimensions as latent variables: symptom improvement" in titles
    assert all(row["title"].count(":") == 1 for row in status_rows(status())["rows"]
               if row["hypothesis"] == "H5")


def test_the_alliance_descriptives_withhold_a_share_of_few_sessions(inputs):
    """The descriptives over scored sessions show each score's share at the maximum: 2 of 56 sessions
    ("3.6%") would give a count below k = 5 away, so it reads "withheld", with the note; 0 stays."""
    scores = inputs["session_scores"].copy()
    columns = ["alliance_task", "alliance_bond", "alliance_goal", "alliance_total"]
    scored = scores.index[scores["alliance_total"].notna()]
    scores.loc[scored, columns] = 3.0
    scores.loc[scored[:2], "alliance_total"] = 5.0
    html = build_report(**inputs | {"session_scores": scores})
    table = html[html.index("Descriptives over scored sessions"):]
    table = table[:table.index("<figure")]
    assert "withheld" in table and "3.6%" not in table and "0.0%" in table
    assert "Withheld: a share at the minimum or maximum of fewer than 5 questionnaires" in table


def test_the_limitations_cite_only_the_ceiling_shares_the_table_shows():
    """The Limitations' ceiling shares had been formatted raw: "0.1% to 20.0% of scored sessions on a
    subscale" beside a table that withholds the 0.1% (3 of 2,984 sessions). They cite the highest
    subscale's share and the total's as the table shows them, and none where either is withheld."""
    described = pd.DataFrame({"ceiling_share": [3 / 2984, 0.2, 0.12, 0.033], "n": [2984] * 4},
                             index=["alliance_task", "alliance_bond", "alliance_goal", "alliance_total"])
    assert ceiling_text(described, 10) == "up to 20.0% of scored sessions on a subscale and 3.3% on the total"
    assert ceiling_text(described.assign(ceiling_share=[0.2, 0.3, 0.2, 5 / 2984]), 10) == ""
    assert ceiling_text(described.assign(ceiling_share=[0.2, 0.3, 0.2, 5 / 2984]), None) == (
        "up to 30.0% of scored sessions on a subscale and 0.2% on the total")
