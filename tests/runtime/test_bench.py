"""The benchmark's collection and its target lines (the runs themselves are `make bench`)."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd

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
    simulation_lines,
    simulation_row,
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


def made_row(replications: int, seconds: float) -> dict:
    return {"patients": 400, "therapists": 32, "effect_scale": 1.0, "replications": replications,
            "batch_size": 25, "truth_multiplier": 10, "cores": 2, "seconds": seconds,
            "seconds_per_replication": seconds / replications, "replication_job_seconds": 2.1,
            "truth_seconds": 20.0, "projected_500_seconds": seconds / replications * 500,
            "met": seconds / replications * 500 <= 600}


def test_simulation_lines_state_the_target_measured_or_projected():
    met = simulation_lines(made_row(500, 540.0))
    assert met[0] == ("- Simulation study, 500 replications of 400 patients and 32 therapists (effect scale "
                      "1), truth included: 540 s (met: at most 600 s on 2 cores).")
    assert met[1].startswith("- 1.08 s of wall time per replication on 2 cores")
    projected = simulation_lines(made_row(20, 30.0))[0]
    assert "750 s projected from 20 replications in 30 s (NOT met" in projected
    text = markdown(table(), cores=2, simulation=made_row(500, 540.0))
    assert "## Simulation study" in text and "## Targets" in text
    assert "## Simulation study" in markdown(table().iloc[:0], cores=2, simulation=made_row(500, 540.0))


def test_a_simulation_run_gives_its_row_by_hand(tmp_path):
    """The row of a run from its job benchmark files (Snakemake's: a header, then the seconds first), by
    hand: two batches of 3 and 5 s for 4 replications, truths of 7 and 1 s, 12 s of wall time. That
    `make bench` runs the target is the first run of tests/simulation/test_simulation.py, which also reads
    its row."""
    jobs = tmp_path / "results/benchmarks/simulation"
    for path, seconds in (("replications/n400_t32_e1.0/batch1.tsv", 3.0),
                          ("replications/n400_t32_e1.0/batch2.tsv", 5.0),
                          ("truth/n400_t32_e1.0.tsv", 7.0), ("truth/n200_t32_e1.0.tsv", 1.0)):
        (jobs / path).parent.mkdir(parents=True, exist_ok=True)
        (jobs / path).write_text(f"s\th:m:s\tmax_rss\n{seconds}\t0:00:0{int(seconds)}\t100\n")
    condition = {"patients": 400, "therapists": 32, "effect_scale": 1.0}
    row = simulation_row(tmp_path, 12.0, condition, replications=4, cores=2, batch_size=2,
                         truth_multiplier=10)
    assert list(row) == SIMULATION_COLUMNS
    assert row == {**condition, "replications": 4, "batch_size": 2, "truth_multiplier": 10, "cores": 2,
                   "seconds": 12.0, "seconds_per_replication": 3.0, "replication_job_seconds": 2.0,
                   "truth_seconds": 8.0, "projected_500_seconds": 1500.0, "met": False}
    assert simulation_row(tmp_path, 4.0, condition, replications=4, cores=2, batch_size=2,
                          truth_multiplier=10)["met"]  # 500 s projected: at most 600


def test_the_riclpm_is_timed_as_the_workflow_fits_it():
    """A small cohort over 4 sessions (the benchmark's 4,000 patients over 8 take about 20 s). The same
    generator's 240 patients give the symptoms' stable level a variance of -18, an improper solution that
    H4c refuses since plan version 25 (it was timed as fitted)."""
    row = run_riclpm(300, waves=4)
    assert list(row) == RICLPM_COLUMNS and row["waves"] == 4 and row["n_therapists"] == 25
    assert row["status"] == "fitted" and 250 < row["patients_fitted"] <= 300 and row["met"]
    text = markdown(pd.DataFrame(columns=COLUMNS), cores=2, riclpm=row)
    assert "## H4c's RI-CLPM alone" in text and "300 patients of 25 therapists, sessions 1 to 4" in text
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
