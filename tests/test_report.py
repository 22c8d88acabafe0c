"""The HTML report: sections, self-containment, suppression, APA numbers, determinism; its helpers."""

import re

import pandas as pd
import pytest

from alliance.figures import FIGURES, new_figure, save_figure
from alliance.report import build_report, git_commit, provenance
from alliance.report.format import (
    format_ci,
    format_count,
    format_number,
    format_p,
    format_percent,
    format_unit,
    p_text,
)

SECTION_IDS = ["contents", "summary", "cohort-flow", "alliance-scores", "analyses", "analysis-adherence",
               "analysis-dropout", "analysis-satisfaction", "benchmarks", "limitations", "provenance"]


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
    results = []
    for family, row in zip(["adherence", "dropout", "satisfaction"], EFFECTS.to_dict("records"), strict=True):
        results.append({
            "family": family, "effects": [row],
            "flow": [{"step": "patients in the cohort", "n": 20}, {"step": "excluded: something", "n": 2},
                     {"step": "analysed", "n": 18}],
            "notes": ["Covariate 'x' has a single value and was dropped."] if family == "dropout" else [],
            "extra": {"formula": f"y ~ {row['predictor']}_z", "covariates": ["baseline_severity"]},
        })
    return results


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
        "privacy": {"min_cell_size": 5},
        "synthetic": {"seed": 123},
    }
    validation = {"inputs": {"patients": {"path": "p.csv", "sha256": "ab" * 32}},
                  "tables": {"patients": {"file": "/secure/p.csv", "rows": 40, "ignored_columns": ["room"],
                                          "absent_optional_columns": []}}}
    scoring = {
        "alliance": {"name": "WAI-SR", "citation": "Hatcher & Gillaspy (2006)",
                     "subscales": {"task": [1, 2, 10, 12], "bond": [3, 5, 7, 9], "goal": [4, 6, 8, 11]},
                     "sessions_attended": 56, "sessions_with_answers": 56, "sessions_scored": 56,
                     "sessions_prorated": 3, "sessions_unscorable": 0,
                     "answers_on_missed_sessions_ignored": 0},
        "satisfaction": {"patients": 20, "scored_from_items": 15, "pre_scored": 0, "prorated": 1,
                         "missing": 5},
    }
    return {"config": config, "validation": validation, "scoring": scoring,
            "session_scores": sessions_table(), "features": features_table(),
            "model_results": model_results(), "effects": EFFECTS, "figure_paths": figure_paths,
            "min_cell_size": 5}


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
    assert html.count('src="data:image/png;base64,') == len(FIGURES)


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


def test_report_needs_every_figure(inputs):
    inputs["figure_paths"] = inputs["figure_paths"][:2]
    with pytest.raises(ValueError, match="forest_plot"):
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
