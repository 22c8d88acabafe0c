"""The simulation study: conditions, seeds, performance by hand, recovery, and the workflow target."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from alliance.ingest.readers import read_table
from alliance.io import write_csv
from alliance.runtime.bench import SIMULATION_COLUMNS, simulation_row, timed_run
from alliance.simulation import study as sim
from alliance.simulation.conditions import replication_batches
from alliance.simulation.synthetic import generate_cohort

SNAKEMAKE = Path(sys.executable).parent / "snakemake"


# ---- Conditions and seeds ------------------------------------------------------------------------


def test_condition_grid_is_sorted_deduplicated_and_readable():
    grid = sim.condition_grid({"patients": [400, 200, 400], "therapists": [32],
                               "effect_scale": [1, 0.5, 0, 0.25]})
    assert list(grid.columns) == ["condition", "patients", "therapists", "effect_scale"]
    assert list(grid["condition"]) == [
        "n200_t32_e0.0", "n200_t32_e0.25", "n200_t32_e0.5", "n200_t32_e1.0",
        "n400_t32_e0.0", "n400_t32_e0.25", "n400_t32_e0.5", "n400_t32_e1.0"]
    assert grid.loc[7].to_dict() == {"condition": "n400_t32_e1.0", "patients": 400, "therapists": 32,
                                     "effect_scale": 1.0}
    assert sim.condition_id(1000, 8, 1.5) == "n1000_t8_e1.5"
    assert [sim.format_scale(v) for v in (2, 0.1, 1e-5)] == ["2.0", "0.1", "0.00001"]
    with pytest.raises(ValueError, match="at least one value"):
        sim.condition_grid({"patients": [], "therapists": [32], "effect_scale": [1.0]})


def test_replication_batches_cover_every_replication_once_in_order():
    assert replication_batches(7, 3) == {1: range(1, 4), 2: range(4, 7), 3: range(7, 8)}
    assert replication_batches(10, 25) == {1: range(1, 11)}
    assert replication_batches(4, 1) == {i: range(i, i + 1) for i in range(1, 5)}
    assert [r for batch in replication_batches(500, 25).values() for r in batch] == list(range(1, 501))


def test_seeds_are_stable_distinct_and_independent_of_python_hash():
    digest = hashlib.sha256(b"n400_t32_e1.0").digest()
    assert sim.stable_hash("n400_t32_e1.0") == int.from_bytes(digest[:8], "big") == 17943037227363286093
    draw = lambda seq: int(np.random.default_rng(seq).integers(0, 2**31))  # noqa: E731
    assert draw(sim.replication_seed(20261127, "n400_t32_e1.0", 1)) == 1035208297
    assert draw(sim.truth_seed(20261127, "n400_t32_e1.0")) == 562462599
    states = {(c, r): tuple(sim.replication_seed(1, c, r).generate_state(4))
              for c in ("n200_t32_e1.0", "n400_t32_e1.0") for r in (1, 2)}
    states["truth"] = tuple(sim.truth_seed(1, "n200_t32_e1.0").generate_state(4))
    assert len(set(states.values())) == 5
    again = sim.replication_seed(1, "n200_t32_e1.0", 2)
    assert tuple(again.generate_state(4)) == states[("n200_t32_e1.0", 2)]
    # The same in a process with another hash seed than this one's (one start: it imports the study, 4 s)
    code = "from alliance.simulation.study import stable_hash; print(stable_hash('n400_t32_e1.0'))"
    other = "2" if os.environ.get("PYTHONHASHSEED") == "1" else "1"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONHASHSEED": other})
    assert out.stdout.strip() == "17943037227363286093"


def test_condition_synthetic_scales_every_alliance_effect(default_config):
    synthetic = default_config["synthetic"] | {"symptoms": {"enabled": True, "rate": 0.15,
                                                            "within_points_per_sd": -1.0}}
    cfg = sim.condition_synthetic(synthetic, {"patients": 250, "therapists": 20, "effect_scale": 0.5})
    assert (cfg["n_patients"], cfg["n_therapists"]) == (250, 20)
    assert cfg["effects"] == {"attendance_log_odds_per_sd": 0.15, "dropout_log_odds_per_sd": -0.275,
                              "satisfaction_points_per_sd": 0.75, "satisfaction_bond_points_per_sd": 0.0,
                              "satisfaction_goal_points_per_sd": 0.5, "satisfaction_task_points_per_sd": 0.5,
                              "dropout_bond_log_odds_per_sd": 0.0, "dropout_goal_log_odds_per_sd": 0.0,
                              "dropout_task_log_odds_per_sd": 0.0}
    assert cfg["symptoms"] == {"enabled": True, "rate": 0.15, "within_points_per_sd": -0.5}
    assert cfg["alliance"] == synthetic["alliance"] and cfg["outcomes"] == synthetic["outcomes"]
    assert synthetic["effects"]["dropout_log_odds_per_sd"] == -0.55  # the input is not changed
    null = sim.condition_synthetic(synthetic, {"patients": 250, "therapists": 20, "effect_scale": 0})
    assert set(null["effects"].values()) == {0.0}
    assert sim.generating_effect("dropout", "alliance_early", "log_odds", effects=cfg["effects"]) == -0.275
    assert np.isnan(sim.generating_effect("dropout", "alliance_prev", "log_hazard", effects=cfg["effects"]))


# ---- Performance by hand -------------------------------------------------------------------------


def _rep(condition, replication, estimate, se, low, high, status="ok", outcome="dropout"):
    return {"condition": condition, "replication": replication, "family": "dropout", "outcome": outcome,
            "model": "logistic", "predictor": "alliance_early", "analysis": "primary", "scale": "log_odds",
            "estimate": estimate, "std_error": se, "ci_low": low, "ci_high": high, "status": status}


def _truth(condition, patients, effect_scale, estimate, status="ok"):
    return {"condition": condition, "patients": patients, "therapists": 10, "effect_scale": effect_scale,
            "family": "dropout", "outcome": "dropout", "model": "logistic", "predictor": "alliance_early",
            "analysis": "primary", "scale": "log_odds", "estimate": estimate, "std_error": 0.01,
            "generating": 0.25 * effect_scale, "status": status}


def hand_made() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Condition A: estimand 0.2, four usable replications, one whose model did not converge (its row
    has its status and no estimate) and one with no row for the effect. Condition B: a null condition
    whose truth failed."""
    reps = pd.DataFrame([
        _rep("A", 1, 0.1, 0.1, -0.1, 0.3),
        _rep("A", 2, 0.3, 0.2, 0.1, 0.5),
        _rep("A", 3, 0.2, 0.1, 0.0, 0.4),
        _rep("A", 4, 0.4, 0.2, 0.25, 0.55),
        _rep("A", 5, np.nan, np.nan, np.nan, np.nan, status="not_estimable", outcome=np.nan),
        _rep("A", 6, np.nan, np.nan, np.nan, np.nan, status="not_converged"),
        _rep("B", 1, 0.0, 0.1, -0.2, 0.2),
        _rep("B", 2, 0.3, 0.1, 0.1, 0.5),
    ])
    truth = pd.DataFrame([_truth("A", 100, 1.0, 0.2), _truth("B", 100, 0.0, np.nan, status="failed")])
    return reps, truth


def test_a_non_finite_estimate_or_se_counts_as_failed():
    """A fitted row with an SE of NaN or an estimate of inf is a failure, excluded (plan section 9): it had
    been used, giving a mean estimate of inf and counting its NaN CI as not covering."""
    reps, truth = hand_made()
    reps = pd.concat([reps, pd.DataFrame([_rep("A", 7, 0.2, np.nan, np.nan, np.nan),
                                          _rep("A", 8, np.inf, 0.1, -1.0, 1.0)])], ignore_index=True)
    a = sim.summarise(reps, truth).set_index("condition").loc["A"]
    assert (a["n_reps"], a["n_failed"], a["n_used"]) == (8, 4, 4)
    assert a["mean_estimate"] == pytest.approx(0.25) and a["coverage"] == pytest.approx(0.75)


def test_summarise_by_hand():
    reps, truth = hand_made()
    perf = sim.summarise(reps, truth)
    assert list(perf.columns) == sim.PERFORMANCE_COLUMNS
    a = perf.set_index("condition").loc["A"]
    assert (a["n_reps"], a["n_failed"], a["n_nonconverged"], a["n_used"]) == (6, 2, 1, 4)
    assert (a["estimand"], a["generating"], a["truth_status"]) == (0.2, 0.25, "ok")
    sd = np.sqrt((0.15**2 + 0.05**2 + 0.05**2 + 0.15**2) / 3)  # 0.12910
    rmse = np.sqrt((0.01 + 0.01 + 0 + 0.04) / 4)  # errors -0.1, 0.1, 0, 0.2
    expected = {
        "mean_estimate": 0.25, "bias": 0.05, "bias_mcse": sd / 2, "relative_bias": 0.25,
        "relative_bias_mcse": sd / 2 / 0.2, "empirical_sd": sd, "empirical_sd_mcse": sd / np.sqrt(6),
        "mean_se": 0.15, "se_ratio": 0.15 / sd, "rmse": rmse,
        # MCSE of the MSE: sqrt(sum((e^2 - MSE)^2) / (n (n - 1))), then the delta method for its root.
        "rmse_mcse": np.sqrt((0.005**2 * 2 + 0.015**2 + 0.025**2) / 12) / (2 * rmse),
        # Covered: [-.1, .3], [.1, .5], [0, .4]; not [.25, .55]. Excluding 0: the 2nd and 4th only
        # (a bound at exactly 0 does not exclude it).
        "coverage": 0.75, "coverage_mcse": np.sqrt(0.75 * 0.25 / 4),
        "power": 0.5, "power_mcse": 0.25,
    }
    for name, value in expected.items():
        assert a[name] == pytest.approx(value, rel=1e-12), name
    assert sd == pytest.approx(0.1290994, abs=1e-7)
    b = perf.set_index("condition").loc["B"]
    assert b["truth_status"] == "failed" and np.isnan(b["estimand"]) and np.isnan(b["coverage"])
    assert np.isnan(b["bias"]) and np.isnan(b["relative_bias"])
    assert (b["n_used"], b["n_failed"], b["power"]) == (2, 0, 0.5)  # the type-I error of a null condition
    assert b["mean_estimate"] == pytest.approx(0.15)


def test_relative_bias_is_empty_in_a_null_condition():
    reps = pd.DataFrame([_rep("N", 1, 0.1, 0.1, -0.1, 0.3), _rep("N", 2, -0.1, 0.1, -0.3, 0.1)])
    truth = pd.DataFrame([_truth("N", 100, 0.0, 0.02)])
    row = sim.summarise(reps, truth).iloc[0]
    assert row["bias"] == pytest.approx(-0.02) and np.isnan(row["relative_bias"])
    assert (row["coverage"], row["power"]) == (1.0, 0.0)


def test_sample_size_finds_the_smallest_condition_or_says_none_does():
    rows = []
    for patients, power_a, power_b in ((100, 0.50, 0.10), (200, 0.85, 0.20), (400, 0.95, 0.30)):
        for predictor, power in (("a", power_a), ("b", power_b)):
            rows.append({"condition": f"n{patients}", "patients": patients, "therapists": 10,
                         "effect_scale": 1.0, "family": "f", "outcome": "o", "model": "m",
                         "predictor": predictor, "analysis": "primary", "scale": "points",
                         "power": power, "power_mcse": 0.01})
    rows.append(rows[0] | {"condition": "null", "effect_scale": 0.0, "power": 0.9})
    table = sim.sample_size(pd.DataFrame(rows), target_power=0.8)
    assert list(table.columns) == sim.SAMPLE_SIZE_COLUMNS
    assert len(table) == 2  # the null condition is not a planning question
    a, b = table.iloc[0], table.iloc[1]
    assert (a["predictor"], a["reached"], a["condition"], a["patients"], a["therapists"], a["power"]) == (
        "a", True, "n200", 200, 10, 0.85)
    assert (b["reached"], b["condition"], b["best_condition"], b["best_power"]) == (False, "", "n400", 0.30)
    assert pd.isna(b["patients"]) and "No condition of the grid reaches 80% power" in b["note"]


def test_power_curve_draws_one_panel_per_primary_effect():
    from alliance.report.figures import power_curve

    rows = [{"condition": f"n{n}_e{e}", "patients": n, "therapists": 32, "effect_scale": e,
             "outcome": outcome, "model": "m", "predictor": "x", "analysis": analysis,
             "power": power, "power_mcse": 0.02, "n_reps": 100}
            for outcome, analysis in (("attendance", "primary"), ("dropout", "primary"),
                                      ("session", "secondary"))
            for n, e, power in ((200, 0.0, 0.05), (400, 0.0, 0.04), (200, 1.0, 0.6), (400, 1.0, 0.9))]
    fig = power_curve(pd.DataFrame(rows), target_power=0.8)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title().split("\n")[0] for ax in panels] == ["attendance ~ x", "dropout ~ x"]
    assert len(panels[0].lines) >= 4  # two effect scales, the target and the 5% guide
    assert "100 replications" in fig._suptitle.get_text()
    empty = power_curve(pd.DataFrame(rows).assign(analysis="secondary"))
    assert "No effect" in empty.axes[0].texts[0].get_text()


# ---- One cohort analysed as the workflow does ----------------------------------------------------


@pytest.fixture
def small_cohort(synthetic_cfg):
    cfg = synthetic_cfg | {"n_patients": 120, "n_therapists": 12}
    return generate_cohort(cfg, 3, np.random.default_rng(3))[:3]


def test_features_in_memory_equal_the_workflow_files(small_cohort, default_config, tmp_path):
    """The workflow writes the cohort as CSV and validates what it reads back; the simulation validates
    the generated tables directly. Both give the same features."""
    settings = {"early_window": 3, "ruptures": default_config["ruptures"]}
    direct = sim.cohort_features(*small_cohort, **settings)
    read = []
    for name, table in zip(("patients", "sessions", "outcomes"), small_cohort, strict=True):
        write_csv(table, tmp_path / f"{name}.csv")
        read.append(read_table(tmp_path / f"{name}.csv"))
    via_files = sim.cohort_features(*read, **settings)
    for name in ("patients", "sessions"):
        pd.testing.assert_frame_equal(direct[name], via_files[name])


def test_a_model_that_cannot_be_fitted_is_recorded_with_its_status(small_cohort, default_config):
    """No patient dropped out: the dropout models have no estimate; each of their predictors gets a row
    with the fit's own status and reason (not parsed from notes), and the other families are unchanged."""
    patients, sessions, outcomes = small_cohort
    table = sim.analyse_cohort(patients, sessions, outcomes.assign(dropout=0), early_window=3,
                               covariates=["baseline_severity"], ruptures=default_config["ruptures"])
    family = table[table["family"] == "dropout"]
    levels = family[family["predictor"].str.endswith(("_therapist", "_patient"))]
    assert (levels["status"] == "refused").all() and len(levels) == 2  # the split of an unfitted primary
    dropout = family[family["analysis"] != "secondary"].set_index("model")
    assert dropout.loc["logistic_glm_cluster_therapist", "status"] == "not_estimable"
    assert dropout.loc["logistic_glm_cluster_therapist", "error"] == ("no analysed patient dropped out "
                                                                       "after the early window")
    assert dropout.loc["logistic_glm_cluster_therapist", "predictor"] == "alliance_early"
    assert np.isnan(dropout["estimate"].astype(float)).all()
    others = table[table["family"] != "dropout"]
    assert set(others["family"]) == set(sim.FAMILIES) - {"dropout"}
    ok = others[others["status"] == "ok"]
    assert np.isfinite(ok[["estimate", "std_error"]].astype(float)).all().all()
    assert {"attendance", "satisfaction"} <= set(ok["outcome"])


def test_a_fit_that_does_not_converge_counts_as_nonconverged(small_cohort, default_config, monkeypatch):
    """A fit that raises `not_converged` is counted by `summarise` in n_nonconverged and n_failed."""
    from alliance.errors import NOT_CONVERGED, NotEstimable
    from alliance.i18n import Message
    from alliance.models import satisfaction

    def no_convergence(design):
        raise NotEstimable(Message("the REML search did not converge"), NOT_CONVERGED)

    monkeypatch.setattr(satisfaction, "fit_therapist_intercept_lmm", no_convergence)
    monkeypatch.setitem(sim.FAMILIES, "satisfaction", satisfaction.fit_satisfaction)
    table = sim.analyse_cohort(*small_cohort, early_window=3, covariates=["baseline_severity"],
                               ruptures=default_config["ruptures"])
    row = table[(table["outcome"] == "satisfaction") & (table["analysis"] == "primary")].iloc[0]
    assert (row["status"], row["error"]) == ("not_converged", "the REML search did not converge")
    reps = table.assign(condition="A", replication=1)
    truth = pd.DataFrame([{**row[["family", "outcome", "model", "predictor", "analysis"]].to_dict(),
                           "condition": "A", "patients": 100, "therapists": 10, "effect_scale": 1.0,
                           "scale": "points", "estimate": 1.5, "std_error": 0.01, "generating": 1.5,
                           "status": "ok"}])
    perf = sim.summarise(reps, truth)
    primary = perf[(perf["outcome"] == "satisfaction") & (perf["analysis"] == "primary")].iloc[0]
    assert (primary["n_failed"], primary["n_nonconverged"], primary["n_used"]) == (1, 1, 0)


def test_replication_is_deterministic_and_has_its_columns(default_config):
    condition = {"condition": "n100_t10_e1.0", "patients": 100, "therapists": 10, "effect_scale": 1.0}
    kwargs = {"seed": 7, "early_window": 3, "covariates": ["baseline_severity", "discipline"],
              "ruptures": default_config["ruptures"]}
    first = sim.run_replication(default_config["synthetic"], condition, 2, **kwargs)
    again = sim.run_replication(default_config["synthetic"], condition, 2, **kwargs)
    other = sim.run_replication(default_config["synthetic"], condition, 3, **kwargs)
    assert list(first.columns) == sim.REPLICATION_COLUMNS
    pd.testing.assert_frame_equal(first, again)
    assert not first["estimate"].equals(other["estimate"])
    assert set(first["condition"]) == {"n100_t10_e1.0"} and set(first["replication"]) == {2}
    primary = first[first["analysis"] == "primary"].set_index("outcome")
    assert list(primary.index) == ["attendance", "dropout", "satisfaction"]
    assert (primary["n_patients"] <= 100).all()


@pytest.mark.slow
def test_recovery_mean_estimate_near_the_estimand(default_config):
    """A few replications at a small size: each primary mean estimate lies within 3 Monte Carlo SEs
    (of the mean and of the estimand) of the estimand, and the estimand near its generating value."""
    condition = {"condition": "n300_t24_e1.0", "patients": 300, "therapists": 24, "effect_scale": 1.0}
    kwargs = {"seed": 11, "early_window": 3, "covariates": ["baseline_severity", "discipline"],
              "ruptures": default_config["ruptures"]}
    reps = pd.concat([sim.run_replication(default_config["synthetic"], condition, r, **kwargs)
                      for r in range(1, 7)], ignore_index=True)
    truth = sim.condition_truth(default_config["synthetic"], condition, truth_multiplier=5, **kwargs)
    perf = sim.summarise(reps, truth)
    primary = perf[perf["analysis"] == "primary"].set_index("outcome")
    assert list(primary.index) == ["attendance", "dropout", "satisfaction"]
    assert (primary["n_failed"] == 0).all() and (primary["n_used"] == 6).all()
    tolerance = 3 * np.sqrt(primary["bias_mcse"] ** 2 + primary["estimand_se"] ** 2)
    assert (primary["bias"].abs() < tolerance).all(), primary[["estimand", "mean_estimate", "bias_mcse"]]
    # The estimand is the same model in a large population: near the generating coefficient.
    assert ((primary["estimand"] - primary["generating"]).abs() < 0.35 * primary["generating"].abs()).all()
    assert (primary["se_ratio"] > 0.4).all() and (primary["se_ratio"] < 2.5).all()


# ---- The workflow target -------------------------------------------------------------------------


TINY = {
    "simulation": {"replications": 2, "seed": 5, "patients": [80, 120], "therapists": [8],
                   "effect_scale": [1.0], "truth_multiplier": 3, "target_power": 0.8},
    "synthetic": {"n_patients": 120, "n_therapists": 12, "truth_multiplier": 2, "seed": 5},
    "psychometrics": {"bootstrap": 20},
}
OUTPUTS = ("performance.csv", "sample_size.csv", "power_curve.png", "power_curve.svg")


def run_snakemake(root: Path, work: Path, *targets: str) -> subprocess.CompletedProcess:
    (work / "test_config.yaml").write_text(yaml.safe_dump(TINY))
    return subprocess.run(
        [str(SNAKEMAKE), *targets, "--snakefile", str(root / "Snakefile"), "--directory", str(work),
         "--cores", "2", "--configfile", str(work / "test_config.yaml")],
        capture_output=True, text=True, timeout=900,
    )


def digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_simulation_target(root, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    # The first run as `make bench` times it (alliance.runtime.bench: the target from scratch), and its row.
    wall = timed_run(root, first, "simulation", TINY, cores=2)
    row = simulation_row(first, wall, {"patients": 80, "therapists": 8, "effect_scale": 1.0}, replications=2,
                         cores=2, batch_size=25, truth_multiplier=3)
    assert list(row) == SIMULATION_COLUMNS and row["seconds"] == wall
    assert row["replication_job_seconds"] > 0 and 0 < row["truth_seconds"] < row["seconds"]
    out = first / "results/simulation"
    # Same config, another directory: the summary, sample sizes and figures are byte-identical. The
    # replications and estimands are copied (their determinism is checked in-process above: the jobs
    # only write what `run_replication` and `condition_truth` return), so only the summary jobs re-run.
    for folder in ("replications", "truth"):
        shutil.copytree(out / folder, second / "results/simulation" / folder)
    done = run_snakemake(root, second, "simulation")
    assert done.returncode == 0, done.stderr[-3000:]
    assert not (second / "results/benchmarks/simulation/replications").exists()  # none re-ran
    for name in OUTPUTS:
        assert (out / name).stat().st_size > 500, name
    # 2 conditions x 2 replications: one batch per condition (simulation.batch_size 25), both replications
    batches = sorted((out / "replications").rglob("*.csv"))
    assert [p.relative_to(out / "replications").as_posix() for p in batches] == [
        "n120_t8_e1.0/batch1.csv", "n80_t8_e1.0/batch1.csv"]
    assert all(pd.read_csv(p)["replication"].drop_duplicates().tolist() == [1, 2] for p in batches)
    assert sorted(p.stem for p in (out / "truth").glob("*.csv")) == ["n120_t8_e1.0", "n80_t8_e1.0"]
    assert not (first / "results/effects.csv").exists()  # the default target is not run
    assert digests(out) == digests(second / "results/simulation")

    perf = pd.read_csv(out / "performance.csv")
    assert list(perf.columns) == sim.PERFORMANCE_COLUMNS
    assert list(perf["condition"].unique()) == ["n80_t8_e1.0", "n120_t8_e1.0"]
    assert (perf["n_reps"] == 2).all() and (perf["n_used"] + perf["n_failed"] == 2).all()
    primary = perf[perf["analysis"] == "primary"].set_index(["patients", "outcome"])
    assert {"attendance", "dropout", "satisfaction"} <= set(primary.index.get_level_values("outcome"))
    assert (primary["truth_status"] != "failed").all() and primary["estimand"].notna().all()
    usable = primary[primary["n_used"] == 2]
    assert usable[["mean_estimate", "bias", "empirical_sd", "mean_se", "rmse"]].notna().all().all()
    assert primary["coverage"].dropna().isin([0, 0.5, 1]).all()
    assert primary["power"].dropna().isin([0, 0.5, 1]).all()
    assert np.sign(primary.xs("satisfaction", level="outcome")["estimand"]).tolist() == [1, 1]
    assert (primary["generating"].dropna().abs() > 0).all()
    sizes = pd.read_csv(out / "sample_size.csv")
    assert list(sizes.columns) == sim.SAMPLE_SIZE_COLUMNS and (sizes["effect_scale"] == 1).all()
    assert sizes["note"].notna().all()
