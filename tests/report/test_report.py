"""The HTML report: sections, self-containment, suppression, APA numbers, determinism; its helpers."""

import base64
import re

import pandas as pd
import pytest
from degenerate import visible_text

from alliance.models.effects import multiplicity_table
from alliance.models.plan import PLANNED
from alliance.outputs import FIGURES
from alliance.report.analysis import apa_row, sensitivity_notes, status_rows
from alliance.report.cohort import flow_steps
from alliance.report.document import build_report
from alliance.report.downloads import table_csv
from alliance.report.figures import new_figure, save_figure
from alliance.report.format import (
    estimate_digits,
    format_ci,
    format_count,
    format_number,
    format_p,
    format_percent,
    format_unit,
    p_text,
)
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
    assert (tiny["scale"], tiny["estimate"], tiny["se"], tiny["ci"]) == ("points", "0.00050", "0.00250",
                                                                          "[-0.00450, 0.00550]")


def sessions_table():
    rows = []
    for i in range(20):
        for session in (1, 2, 3):
            attended = not (i % 5 == 0 and session == 3)
            total = 3.0 + (i % 5) * 0.5 if attended else float("nan")
            rows.append({"patient_id": f"P{i:02d}", "session": session, "attended": attended,
                         "alliance_task": total, "alliance_bond": total, "alliance_goal": total,
                         "alliance_total": total, "alliance_n_answered": 12 if attended else 0,
                         "alliance_prorated": False})
    return pd.DataFrame(rows)


def features_table():
    disciplines = ["physiotherapy"] * 10 + ["nutrition"] * 3 + ["osteopathy"] * 7
    return pd.DataFrame({
        "patient_id": [f"P{i:02d}" for i in range(20)],
        "therapist_id": [f"T{i % 4}" for i in range(20)],
        "site": ["S1"] * 12 + ["S2"] * 8,
        "discipline": disciplines,
        "dropout": pd.array([i % 4 == 0 for i in range(20)], dtype="boolean"),
    })


EFFECTS = pd.DataFrame({
    "outcome": ["attendance", "dropout", "satisfaction"],
    "model": ["binomial_glm_cluster_therapist", "logistic_glm_cluster_therapist", "lmm_therapist_intercept"],
    "predictor": ["alliance_early", "alliance_early", "alliance_mean"],
    "scale": ["log_odds", "log_odds", "points"],
    "estimate": [0.36, -0.49, 1.36], "std_error": [0.05, 0.15, 0.2], "ci_low": [0.27, -0.78, 0.97],
    "ci_high": [0.45, -0.19, 1.76], "p_value": [3.5e-14, 0.01234, 0.5],
    "r": [0.19, -0.26, 0.36], "r_ci_low": [0.15, -0.4, 0.25], "r_ci_high": [0.24, -0.11, 0.46],
    "n_obs": [50, 18, 15], "n_patients": [18, 18, 15], "n_therapists": [4, 4, 4],
    "analysis": ["primary"] * 3,
})


def model_results():
    """Three families' results, each with the status of its planned models: the primary fitted, the
    others not estimable (as with data that hold only the primary outcomes)."""
    results = []
    for family, row in zip(["adherence", "dropout", "satisfaction"], EFFECTS.to_dict("records"), strict=True):
        results.append({
            "family": family, "effects": [row],
            "flow": [{"step": "patients in the cohort", "n": 20}, {"step": "excluded: something", "n": 2},
                     {"step": "analysed", "n": 18}],
            "notes": ["Covariate 'x' has a single value and was dropped."] if family == "dropout" else [],
            "extra": {"formula": f"y ~ {row['predictor']}_z", "covariates": ["baseline_severity"]},
            "statuses": [{"key": p.key, "status": "fitted" if p.analysis == "primary" else "not_estimable",
                          "reason": "" if p.analysis == "primary" else "no such data in this test",
                          "flags": ""} for p in PLANNED if p.family == family],
        })
    results.append({"family": "symptoms", "effects": [], "flow": [], "notes": [], "extra": {},
                    "statuses": [{"key": p.key, "status": "not_estimable",
                                  "reason": "no symptom scores in the data", "flags": ""}
                                 for p in PLANNED if p.family == "symptoms"]})
    results[1]["extra"] |= {"kaplan_meier": [], "logrank": {"statistic": 12.05, "df": 2, "p_value": 0.0024,
                                                           "n_patients": 18, "events": 4},
                            "benchmark": DROPOUT_BENCHMARK}
    return results


DROPOUT_BENCHMARK = {  # as alliance.models.benchmarks.dropout_comparison writes it
    "benchmark": "alliance_dropout", "metric": "d, early alliance of completers minus dropouts (pooled SD)",
    "estimate": 0.62, "ci_low": 0.21, "ci_high": 1.03, "n": 18, "benchmark_value": 0.55,
    "benchmark_ci_low": float("nan"), "benchmark_ci_high": float("nan"), "verdict": "compatible with",
    "source": "Sharf, Primavera & Diener (2010), 11 studies"}


def psychometrics():
    """Small results/psychometrics tables as the psychometrics rule writes them (WAI-SR, 12 items)."""
    items = [f"wai_sr_{i:02d}" for i in range(1, 13)]
    subscale = {1: "task", 2: "task", 10: "task", 12: "task", 3: "bond", 5: "bond", 7: "bond", 9: "bond",
                4: "goal", 6: "goal", 8: "goal", 11: "goal"}
    loadings = [("one_factor", "loading", "general", item, 0.7) for item in items] + [
        ("correlated_factors", "loading", subscale[i], items[i - 1], 0.8) for i in range(1, 13)] + [
        ("correlated_factors", "factor_correlation", "goal", "bond", 0.81)]
    return {
        "reliability": pd.DataFrame({
            "role": "alliance", "instrument": "wai_sr", "scale": ["task", "bond", "goal", "total"],
            "n": [18, 19, 19, 17], "n_items": [4, 4, 4, 12],
            "alpha": [0.8499, 0.846, 0.871, 0.9253], "alpha_ci_low": [0.823, 0.82, 0.848, 0.913],
            "alpha_ci_high": [0.873, 0.87, 0.89, 0.936], "omega": [0.85, 0.846, 0.871, 0.9253],
            "omega_converged": [True, True, True, False], "floor_share": [0.0] * 4,
            "ceiling_share": [0.0638, 0.0722, 0.085, 0.0169], "skew": [-0.33, -0.39, -0.37, -0.32]}),
        "item_statistics": pd.DataFrame({
            "role": "alliance", "instrument": "wai_sr", "item": items,
            "subscale": [subscale[i] for i in range(1, 13)], "n": 19, "mean": 3.88,
            "sd": 0.779, "floor_share": 0.0, "ceiling_share": 0.2117, "skew": -0.28,
            "corrected_r_subscale": 0.6705, "corrected_r_total": 0.6478}),
        "item_distribution": pd.DataFrame({"item": items, "value": 5, "n": 19, "share": 1.0}),
        "cfa_fit": pd.DataFrame({
            "model": ["one_factor", "correlated_factors"], "n": [17, 17], "chi2": [296.226, 61.7299],
            "dof": [54, 51], "p_value": [3.9e-35, 0.144], "cfi": [0.8968, 0.9954], "tli": [0.8739, 0.9941],
            "rmsea": [0.1123, 0.0243], "srmr": [0.0577, 0.0245], "aic": [8296.4, 8067.9],
            "bic": [8389.4, 8172.6], "converged": [True, True]}),
        "cfa_parameters": pd.DataFrame(loadings, columns=["model", "kind", "factor", "item", "std_loading"]),
        "therapist_icc": pd.DataFrame([{
            "icc": 0.05998, "ci_low": 0.0045, "ci_high": 0.1372, "therapist_variance": 0.017,
            "residual_variance": 0.266, "n_patients": 20, "n_therapists": 4, "n_boot": 200,
            "converged": True}]),
        "reliability_by_sessions": pd.DataFrame({
            "sessions": [1, 2, 3, 4], "reliability": [0.7085, 0.8294, 0.8794, 0.9067],
            "session_icc": 0.7085}),
        "agreement": pd.DataFrame(),
        "notes": pd.DataFrame({"note": ["total: a note from semopy"]}),
    }


RUPTURE_SHARES = pd.DataFrame({
    "pattern": ["no_rupture", "rupture_without_repair", "rupture_with_repair", "not_classifiable"],
    "n": [9, 5, 5, 1], "share": [9 / 19, 5 / 19, 5 / 19, float("nan")],
    "larsson_2018": [0.745, 0.107, 0.147, float("nan")],
})


@pytest.fixture
def inputs(tmp_path):
    figure_paths = []
    for name in FIGURES:
        fig = new_figure(2, 2)
        fig.add_subplot().plot([0, 1], [0, 1])
        save_figure(fig, tmp_path / f"{name}.png", tmp_path / f"{name}.svg")
        figure_paths.append(str(tmp_path / f"{name}.png"))
    config = {
        "data": {"patients": "data/synthetic/patients.csv"},
        "instruments": {"alliance": "wai_sr", "satisfaction": "csq8"},
        "features": {"early_window": 3},
        "ruptures": {"criterion": "sd", "c": 2.0, "repair_window": 3, "reliability": None},
        "privacy": {"min_cell_size": 5},
        "models": {"covariates": ["baseline_severity", "discipline"]},
        "synthetic": {"seed": 123},
    }
    validation = {"inputs": {"patients": {"path": "p.csv", "sha256": "ab" * 32}},
                  "tables": {"patients": {"file": "/secure/p.csv", "rows": 40, "ignored_columns": ["room"],
                                          "absent_optional_columns": []}}}
    scoring = {
        "alliance": {"name": "WAI-SR", "citation": "Hatcher & Gillaspy (2006)", "item_level": True,
                     "subscales": {"task": [1, 2, 10, 12], "bond": [3, 5, 7, 9], "goal": [4, 6, 8, 11]},
                     "sessions_attended": 56, "sessions_with_answers": 56, "sessions_scored": 56,
                     "sessions_prorated": 3, "sessions_unscorable": 0,
                     "answers_on_missed_sessions_ignored": 0},
        "satisfaction": {"patients": 20, "scored_from_items": 15, "pre_scored": 0, "prorated": 1,
                         "missing": 5},
    }
    return {"config": config, "validation": validation, "scoring": scoring,
            "session_scores": sessions_table(), "features": features_table(),
            "model_results": model_results(), "effects": EFFECTS, "psychometrics": psychometrics(),
            "rupture_shares": RUPTURE_SHARES.copy(), "figure_paths": figure_paths, "min_cell_size": 5}


TRUTH = {"effects": [
    {"outcome": "attendance", "predictor": "alliance_early", "scale": "log_odds", "generating": 0.3,
     "estimand": 0.30, "estimand_se": 0.01},
]}


def test_report_has_every_section(inputs):
    html = build_report(**inputs)
    for section in SECTION_IDS:
        assert f'id="{section}"' in html, section
    assert 'id="truth"' not in html
    for hypothesis in ("H1", "H2", "H3"):
        assert f"ANALYSIS_PLAN.md, {hypothesis}" in html
    assert "Zilcha-Mano" in html
    assert "y ~ alliance_early_z" in html
    assert "single value and was dropped" in html


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


def test_report_formats_p_values_apa(inputs):
    html = build_report(**inputs)
    assert '<td class="num">&lt; .001</td>' in html
    assert '<td class="num">.012</td>' in html
    assert '<td class="num">.500</td>' in html
    assert "p = .012" in html


def test_report_is_deterministic(inputs):
    assert build_report(**inputs) == build_report(**inputs)


def test_report_truth_table(inputs):
    html = build_report(**inputs, truth=TRUTH)
    assert 'id="truth"' in html
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
    assert '<td class="num">.93 (not converged)</td>' in section
    assert "<td>wai_sr_12</td><td>task</td>" in section and '<td class="num">.65</td>' in section
    assert ('<td>One factor</td><td class="num">17</td><td class="num">296.23</td><td class="num">54</td>'
            in section)
    assert '<td class="num">.995</td>' in section and "<td>CFI, RMSEA, SRMR</td>" in section
    assert "Hu &amp;\nBentler, 1999" in section and "guides, not rules" in section
    assert "Therapist ICC of the patients&#39; mean alliance: .06 (95% CI .00 to .14" in section
    assert "share of alliance variance" in section and "Baldwin, Wampold &amp; Imel 2007" in section
    assert "reliability of .71" in section and ".80 with 2 sessions and .90 with 4 sessions" in section
    assert "at least c = 2.0 SDs" in section and "within the next 3 scored sessions" in section
    assert "depend heavily on the criterion" in section
    for share in ("74.5%", "10.7%", "14.7%"):
        assert share in section
    assert "total: a note from semopy" in section
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
    assert "log-rank chi2(2) = 12.05, p = .002" in section
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
    assert "<td>early alliance, patient deviation</td>" in section
    assert "<em>early alliance</em>: early alliance (mean total over scored sessions 1 to 3)" in section
    # a secondary family of one: q = p = .020
    assert '<td class="num">.020</td><td class="num">.020</td>' in section
    assert "0.78" not in section and "suppressed (&lt;5 patients)" in section
    assert ("chi2(1) = 0.38, p = .536. The therapist means differ beyond chance (F(31, 368) = 2.04, "
            "p = .001) and are shrunken for their reliability (mean .48)") in visible_text(section)
    # only a statistic in the benchmark's own metric gets a verdict; the effect rows get none
    benchmarks = visible_text(html[html.index('id="benchmarks"'):html.index("</section>",
                                                                            html.index('id="benchmarks"'))])
    assert ("D, early alliance of completers minus dropouts (pooled SD): 0.62 [0.21, 1.03] (18 patients), "
            "compatible with the benchmark 0.55 (Sharf, Primavera & Diener (2010), 11 studies).") \
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


def test_methods_describe_instruments_models_and_software(inputs):
    html = build_report(**inputs)
    methods = html[html.index('id="methods"'):html.index('id="cohort-flow"')]
    assert "Working Alliance Inventory" in methods and "task: items 1, 2, 10, 12" in methods
    assert "Client Satisfaction Questionnaire" in methods
    assert "scored sessions 1 to 3" in methods and "2 within-patient SDs" in methods
    assert "Primary: attendance (binomial glm); dropout (logistic glm); satisfaction" in methods
    assert "baseline_severity, discipline" in methods and "fewer than 5 patients" in methods
    assert "statsmodels " in methods and "lifelines " in methods


def test_sensitivity_section_and_ceiling_sentence(inputs):
    table = pd.concat([EFFECTS.assign(variant="complete cases (primary)"),
                       EFFECTS.assign(variant="early window k = 2", analysis="sensitivity", n_patients=3)])
    results = model_results()
    results[2]["extra"]["ceiling"] = {"share_at_maximum": 0.2, "maximum": 32.0, "ceiling_effect": True}
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
        {"kind": "no_scored_session", "message": "3 patient(s) have no scored alliance session",
         "report_message": "<5 patient(s) have no scored alliance session", "rows": [7, 9, 11]}]}
    html = build_report(**inputs | {"validation": validation})
    assert "&lt;5 patient(s) have no scored alliance session" in html
    assert "3 patient(s)" not in html
    assert "nothing to warn about" in build_report(**inputs)


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
