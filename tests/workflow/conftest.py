"""Fixtures of the whole-workflow tests: one run of the small default cohort per test module."""

from __future__ import annotations

import pytest
from workflow_runs import DEFAULT_RUN, run_workflow


@pytest.fixture(scope="module")
def default_run(root, tmp_path_factory):
    """The workflow on the small default cohort, run once per test module that uses it (modules run in
    parallel, each with its own copy)."""
    work = tmp_path_factory.mktemp("default_run")
    done = run_workflow(root, work, DEFAULT_RUN)
    assert done.returncode == 0, done.stderr[-3000:]
    return work
