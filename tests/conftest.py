"""Shared fixtures: the repository root, the default config and small synthetic cohorts."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from workflow_runs import SMALL, run_workflow

from alliance.instruments import load_instrument

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def default_config() -> dict:
    return yaml.safe_load((ROOT / "config.yaml").read_text())


@pytest.fixture
def synthetic_cfg(default_config) -> dict:
    """The default synthetic block, smaller (a copy each test may change)."""
    cfg = copy.deepcopy(default_config["synthetic"])
    cfg.update(n_patients=200, n_therapists=16, truth_multiplier=5)
    return cfg


@pytest.fixture(scope="session")
def wai_sr():
    return load_instrument("wai_sr")


@pytest.fixture(scope="session")
def csq8():
    return load_instrument("csq8")


@pytest.fixture(scope="module")
def default_run(root, tmp_path_factory):
    """The workflow on the small default cohort, run once per test module that uses it (modules run in
    parallel, each with its own copy)."""
    work = tmp_path_factory.mktemp("default_run")
    done = run_workflow(root, work, SMALL)
    assert done.returncode == 0, done.stderr[-3000:]
    return work
