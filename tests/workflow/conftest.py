"""Fixtures of the whole-workflow tests: one run of the small default cohort per test module."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from workflow_runs import DEFAULT_RUN, run_workflow, workflow_command, write_config


@dataclass
class Interrupted:
    """The default run, killed mid-way and restarted: where it ran and what the kill left."""

    work: Path
    killed_while_running: bool  # the run had not ended when it was killed
    report_after_kill: bool  # results/report.html existed after the kill
    unreadable: list[str]  # the parquet tables left by the kill that could not be read (none: atomic writes)


@pytest.fixture(scope="module")
def interrupted(root, tmp_path_factory) -> Interrupted:
    """The workflow on the small default cohort, once per test module that uses it (modules run in parallel,
    each with its own copy): started in an empty folder, its whole process group killed once the first
    scores are written, then finished with `--unlock` and `--rerun-incomplete`. That it equals an
    uninterrupted run, output for output, is checked against the re-run of `make reproduce`
    (test_workflow.py): so one restarted run serves every test that reads the default run's outputs."""
    work = tmp_path_factory.mktemp("default_run")
    results = work / "results"
    write_config(work, DEFAULT_RUN)
    process = subprocess.Popen(workflow_command(root, work), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    marker = results / "scores/session_scores.parquet"
    deadline = time.monotonic() + 600
    while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    running = process.poll() is None
    if running:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    unreadable = []
    for table in sorted(results.glob("**/*.parquet")):
        try:
            pd.read_parquet(table)
        except Exception as error:  # recorded: the test asserts there is none
            unreadable.append(f"{table.relative_to(results)}: {error!r}")
    killed = Interrupted(work, running, (results / "report.html").exists(), unreadable)
    for extra in ("--unlock", "--rerun-incomplete"):
        done = run_workflow(root, work, DEFAULT_RUN, extra)
        assert done.returncode == 0, done.stderr[-3000:]
    return killed


@pytest.fixture(scope="module")
def default_run(interrupted) -> Path:
    """The folder of the default run (finished after the kill of `interrupted`)."""
    return interrupted.work
