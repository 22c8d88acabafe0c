"""The benchmark's collection and its target lines (the runs themselves are `make bench`)."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd

from alliance.runtime.bench import COLUMNS, collect, markdown, targets
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
