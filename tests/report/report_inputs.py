"""The report's test inputs: a small set of pipeline outputs with hand-set effects, model results and
psychometric tables (`report_inputs`: the keyword arguments of `build_report`)."""

from pathlib import Path

import numpy as np
import pandas as pd
from figure_checks import tiny_png

from alliance.models.common import notes_record, resolve_covariates
from alliance.models.dimensions import DIMENSIONS
from alliance.models.plan import PLANNED, status_table
from alliance.outputs import FIGURES


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
        # asked at the end of treatment: missing for every dropout and for one patient who stayed
        "satisfaction": [np.nan if i % 4 == 0 or i == 1 else 20.0 + i % 9 for i in range(20)],
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


SINGLE_VALUE_NOTE = resolve_covariates(pd.DataFrame({"x": [1.0, 1.0]}), ["x"])[1]  # "The covariate x ..."


def model_results():
    """Three families' results, each with the status of its planned models: the primary fitted, the
    others not estimable (as with data that hold only the primary outcomes)."""
    results = []
    for family, row in zip(["adherence", "dropout", "satisfaction"], EFFECTS.to_dict("records"), strict=True):
        results.append({
            "family": family, "effects": [row],
            "flow": [{"step": "patients in the cohort", "n": 20}, {"step": "excluded: something", "n": 2},
                     {"step": "analysed", "n": 18}],
            **notes_record(SINGLE_VALUE_NOTE * (family == "dropout")),
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


def status():
    """The status table of the families' results and of H5 (bond, goal, task), not estimable here."""
    dimensions = {"family": "dimensions", "statuses": [
        {"key": p.key, "status": "not_estimable", "reason": "no such data in this test", "flags": ""}
        for p in PLANNED if p.family == "dimensions"]}
    dynamics = {"family": "dynamics", "statuses": [
        {"key": "H4c", "status": "not_estimable", "reason": "no such data in this test", "flags": ""}]}
    return status_table([*model_results(), dimensions, dynamics])


def _effect(outcome, part, dimension, estimate, scale, **extra):
    return {"part": part, "dimension": dimension, "outcome": outcome, "model": "m", "predictor": "x",
            "scale": scale, "estimate": estimate, "std_error": 0.1, "ci_low": estimate - 0.2,
            "ci_high": estimate + 0.2, "p_value": 0.04, "r": estimate / 4, "r_ci_low": (estimate - 0.2) / 4,
            "r_ci_high": (estimate + 0.2) / 4, "n_obs": 18, "n_patients": 18, "n_therapists": 6,
            "analysis": "exploratory", **extra}


def _shares(bond, goal, task, contrast):
    rows = [{"term": d, "estimate": v, "ci_low": v - 0.1, "ci_high": v + 0.1}
            for d, v in (("bond", bond), ("goal", goal), ("task", task))]
    pairs = [{"term": name, "estimate": v, "ci_low": v - 0.15, "ci_high": v + 0.15}
             for name, v in (("goal_minus_bond", goal - bond), ("task_minus_bond", task - bond),
                             ("task_minus_goal", task - goal))]
    return [*rows, *pairs, {"term": "goal_task_minus_bond", "estimate": contrast[0], "ci_low": contrast[1],
                            "ci_high": contrast[2]}]


# A bond/goal/task result (H5) as alliance.models.dimensions writes it: satisfaction with goals and tasks
# ahead of the bond, dropout without a clear difference and a difference score of low reliability.
DIMENSIONS_RESULT = {
    "family": "dimensions",
    "effects": [*(_effect("satisfaction", "H5a", d, v, "points") for d, v in (("bond", 1.2), ("goal", 1.5),
                                                                              ("task", 1.4))),
                *(_effect("satisfaction", "H5b", d, v, "points", vif=2.6) for d, v in (("bond", 0.2),
                                                                                     ("goal", 0.7),
                                                                                     ("task", 0.6))),
                *(_effect("dropout", "H5a", d, v, "log_odds") for d, v in (("bond", -0.5), ("goal", -0.6),
                                                                           ("task", -0.6)))],
    "outcomes": {
        "satisfaction": {"hypothesis": "H3", "correlations": {"bond_goal": 0.74, "bond_task": 0.72,
                                                             "goal_task": 0.73},
                         "vif": {"bond": 2.6, "goal": 2.7, "task": 2.5},
                         "reliability": {
                             "dimensions": {d: {"alpha": 0.9, "ci_low": 0.88, "ci_high": 0.92, "low": False}
                                            for d in DIMENSIONS},
                             "differences": {"goal_minus_bond": {"reliability": 0.62, "low": True},
                                             "task_minus_bond": {"reliability": 0.64, "low": True},
                                             "task_minus_goal": {"reliability": 0.71, "low": False}}},
                         "importance": {"rows": _shares(0.2, 0.42, 0.38, (0.2, 0.05, 0.33)),
                                        "explained": 0.213, "fit_index": "R2"},
                         "latent": {  # as alliance.models.dimensions.dimension_analysis returns it
                             "model": "correlated_factors_sem_cluster_robust", "n": 320, "n_therapists": 32,
                             "paths": {d: {"estimate": v, "se": 0.1, "ci_low": v - 0.2, "ci_high": v + 0.2}
                                       for d, v in (("bond", -0.1), ("goal", 0.3), ("task", 0.25))},
                             "contrast": {"estimate": 0.375, "se": 0.12, "ci_low": 0.13, "ci_high": 0.62},
                             "equal_paths": {"score": 12.5, "df": 2, "p": 0.0052, "q": 0.0104, "draws": 9999,
                                             "weights": "Rademacher"},
                             "declared": True,
                             "correlations": {"bond_goal": 0.81, "bond_task": 0.8, "goal_task": 0.79},
                             "fit": {"cfi": 0.991, "rmsea": 0.041}}},
        "dropout": {"hypothesis": "H2",
                    "importance": {"rows": _shares(0.3, 0.33, 0.37, (0.05, -0.2, 0.25)), "explained": 0.0004,
                                  "fit_index": "McFadden R2"}},
    },
    "statuses": [],
}


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
            "floor_share": [0.0] * 4,
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
            "bic": [8389.4, 8172.6], "status": ["fitted", "boundary"]}),
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


def report_inputs(tmp_path: Path) -> dict:
    """The keyword arguments of `build_report`, with placeholder figures written to `tmp_path`."""
    figure_paths = []
    for name in FIGURES:  # the report embeds each figure's PNG file, whatever it shows
        (tmp_path / f"{name}.png").write_bytes(tiny_png())
        figure_paths.append(str(tmp_path / f"{name}.png"))
    config = {
        "data": {"patients": "data/synthetic/patients.csv"},
        "instruments": {"alliance": "wai_sr", "satisfaction": "csq8"},
        "features": {"early_window": 3},
        "ruptures": {"criterion": "sd", "c": 2.0, "repair_window": 3, "reliability": None},
        "privacy": {"min_cell_size": 5},
        "models": {"covariates": ["baseline_severity", "discipline"]},
        "dimensions": {"bootstrap": 200, "latent_bootstrap": 9999},
        "early_warning": {"decision_points": [2, 3, 4, 5, 6], "folds": 5, "bootstrap": 200},
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
            "model_results": model_results(), "status": status(), "dimensions": DIMENSIONS_RESULT,
            "effects": EFFECTS,
            "psychometrics": psychometrics(),
            "rupture_shares": RUPTURE_SHARES.copy(), "figure_paths": figure_paths, "min_cell_size": 5}
