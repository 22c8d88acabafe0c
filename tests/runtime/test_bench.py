"""The benchmark's collection and its target lines (the runs themselves are `make bench`)."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from alliance.runtime.bench import (
    COLUMNS,
    EARLY_WARNING_COLUMNS,
    POOLING_COLUMNS,
    RICLPM_COLUMNS,
    SIMULATION_COLUMNS,
    collect,
    markdown,
    run_early_warning,
    run_riclpm,
    run_simulation,
    simulation_lines,
    targets,
)
from alliance.runtime.runlog import PEAK_MEMORY


def table() -> pd.DataFrame:
    rows = []
    for n, scale in ((1000, 1.0), (10000, 3.0), (100000, 30.0)):
        rows += [[n, n // 12, n * 12, "synthesize", 2 * scale, 100 * scale],
                 [n, n // 12, n * 12, "validate", 1 * scale, 50 * scale],
                 [n, n // 12, n * 12, "end_to_end", 20 * scale, 100 * scale]]
    return pd.DataFrame(rows, columns=COLUMNS)


def test_targets_state_each_check():
    lines = targets(table())
    assert lines[0] == "- 100,000 patients end to end: 600 s (met: at most 600 s)."
    assert lines[1] == ("- Largest rule peak memory: 3000 MB (synthesize at 100,000 patients; met: at most "
                        "4096 MB).")
    assert lines[2] == "- 10,000 versus 1,000 patients: 3.0 times the time (met: at most 12)."
    assert lines[3] == "- 100,000 versus 10,000 patients: 10.0 times the time (met: at most 12)."
    slow = table()
    slow.loc[slow["rule"] == "end_to_end", "seconds"] *= [1, 1, 2]
    assert "NOT met" in targets(slow)[0] and "20.0 times the time (NOT met" in targets(slow)[3]


def test_markdown_has_the_targets_and_one_column_per_size():
    text = markdown(table(), cores=2)
    assert "## Targets" in text and "--cores 2" in text
    assert "s @ 100,000" in text and "MB @ 1,000" in text


def test_collect_reads_benchmark_files_and_logged_peaks(tmp_path):
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "logs").mkdir()
    row = "3.63\t0:00:03\t854.43\t1\t1\t1\t0\t0\t90\t3\n"
    for rule in ("score", "validate"):
        (tmp_path / "benchmarks" / f"{rule}.tsv").write_text(header + row)
    (tmp_path / "logs" / "score.log").write_text(f"INFO alliance: done\nINFO alliance: {PEAK_MEMORY} 1210\n")
    rows = collect(tmp_path)
    assert rows.to_dict(orient="records") == [
        {"rule": "score", "seconds": 3.63, "max_rss_mb": 1210.0},  # the kernel's peak, from the log
        {"rule": "validate", "seconds": 3.63, "max_rss_mb": 854.43}]  # no logged peak: Snakemake's


def test_jobs_log_their_peak_memory(tmp_path):
    log = tmp_path / "job.log"
    script = (f"from alliance.runtime.runlog import start_log; start_log({str(log)!r}); "
              "x = bytearray(200 * 1024 * 1024)")
    subprocess.run([sys.executable, "-c", script], check=True)
    (line,) = [line for line in log.read_text().splitlines() if PEAK_MEMORY in line]
    assert float(line.split(PEAK_MEMORY)[1]) > 200


def simulation_row(replications: int, seconds: float) -> dict:
    return {"patients": 400, "therapists": 32, "effect_scale": 1.0, "replications": replications,
            "batch_size": 25, "truth_multiplier": 10, "cores": 2, "seconds": seconds,
            "seconds_per_replication": seconds / replications, "replication_job_seconds": 2.1,
            "truth_seconds": 20.0, "projected_500_seconds": seconds / replications * 500,
            "met": seconds / replications * 500 <= 600}


def test_simulation_lines_state_the_target_measured_or_projected():
    met = simulation_lines(simulation_row(500, 540.0))
    assert met[0] == ("- Simulation study, 500 replications of 400 patients and 32 therapists (effect scale "
                      "1), truth included: 540 s (met: at most 600 s on 2 cores).")
    assert met[1].startswith("- 1.08 s of wall time per replication on 2 cores")
    projected = simulation_lines(simulation_row(20, 30.0))[0]
    assert "750 s projected from 20 replications in 30 s (NOT met" in projected
    text = markdown(table(), cores=2, simulation=simulation_row(500, 540.0))
    assert "## Simulation study" in text and "## Targets" in text
    assert "## Simulation study" in markdown(table().iloc[:0], cores=2, simulation=simulation_row(500, 540.0))


@pytest.mark.slow
def test_run_simulation_times_the_simulation_target(root, tmp_path):
    row = run_simulation(root, tmp_path / "simulation", 2, cores=2, truth_multiplier=2,
                         condition={"patients": 60, "therapists": 6, "effect_scale": 1.0})
    assert list(row) == SIMULATION_COLUMNS
    assert row["replications"] == 2 and row["patients"] == 60 and row["truth_multiplier"] == 2
    assert row["replication_job_seconds"] > 0 and 0 < row["truth_seconds"] < row["seconds"]
    assert row["projected_500_seconds"] == pytest.approx(row["seconds"] * 250)
    out = tmp_path / "simulation/results/simulation"
    assert (out / "performance.csv").exists() and len(list((out / "replications").rglob("*.csv"))) == 1


def test_the_riclpm_is_timed_as_the_workflow_fits_it():
    """A small cohort over 4 sessions (the benchmark's 4,000 patients over 8 take about 20 s)."""
    row = run_riclpm(240, waves=4)
    assert list(row) == RICLPM_COLUMNS and row["waves"] == 4 and row["n_therapists"] == 20
    assert row["status"] == "fitted" and 200 < row["patients_fitted"] <= 240 and row["met"]
    text = markdown(pd.DataFrame(columns=COLUMNS), cores=2, riclpm=row)
    assert "## H4c's RI-CLPM alone" in text and "240 patients of 20 therapists, sessions 1 to 4" in text
    assert "(target 120 s: met)" in text


def test_the_pooling_step_states_its_target():
    """The pooling step's line (the step itself pools bundles of a workflow run: `make bench`)."""
    row = dict(zip(POOLING_COLUMNS, (10, 39, 14.1, True), strict=True))
    text = markdown(pd.DataFrame(columns=COLUMNS), cores=2, pooling=row)
    assert "## Pooling across sites" in text
    assert "10 site bundles, 39 effects pooled with the pooled report: 14.1 s (target 20 s: met)." in text


def test_the_early_warning_is_timed_as_its_job_runs_it():
    """A small cohort (the benchmark's 10,000 patients take about 15 s)."""
    row = run_early_warning(360)
    assert list(row) == EARLY_WARNING_COLUMNS and row["n_therapists"] == 30 and row["decision_points"] == 5
    assert 1000 < row["rows"] < 5 * 360 and row["met"]
    text = markdown(pd.DataFrame(columns=COLUMNS), cores=2, early_warning=row)
    assert "## The early-warning analysis alone" in text and "360 patients of 30 therapists" in text
    assert "(target 30 s: met)" in text
