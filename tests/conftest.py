"""Fixtures shared by every stage's tests: the repository root, the default config, a small synthetic block
and the shipped instruments. Helpers shared by several folders sit beside this file (`browser.py`,
`degenerate.py`); reference data sit beside the tests that use them (`<stage>/data/`)."""

from __future__ import annotations

import os

# One BLAS thread per test process, set before numpy loads OpenBLAS: `make test` already runs one worker per
# core, and OpenBLAS's own threads on top of them made the in-process model fits about a quarter slower
# (tests/models/test_dimensions.py: 36.7 s of CPU with OpenBLAS's default, 25.7 s with one thread). The
# workflow runs the tests start get one thread per job from Snakemake, as `make run` does.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import copy  # noqa: E402 (after the thread limit)
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import yaml  # noqa: E402

from alliance.instruments import load_instrument  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# `make test` runs the files on 2 workers (`-n 2 --dist loadfile --no-loadscope-reorder`), each file whole on
# one worker, handed out in collection order as a worker runs low. The longest files first, so that the short
# ones fill in at the end (left in pytest's order, xdist would hand out the files with the most tests first
# and these, with few tests each, last). Measured on 2 cores, longest first; then every other file with a
# test marked slow, then the rest, each group in pytest's order.
LONGEST_FIRST = (
    "tests/workflow/test_workflow.py",
    "tests/pipeline/test_degenerate_data.py",
    "tests/pipeline/test_degenerate_clusters.py",
    "tests/workflow/test_workflow_instruments.py",
    "tests/simulation/test_simulation.py",
    "tests/ingest/test_fuzz.py",
    "tests/workflow/test_workflow_exports.py",
    "tests/workflow/test_workflow_inputs.py",
)


def pytest_collection_modifyitems(config, items):
    slow = {item.path for item in items if item.get_closest_marker("slow")}

    def rank(item) -> int:
        path = item.path.relative_to(ROOT).as_posix() if item.path.is_relative_to(ROOT) else ""
        if path in LONGEST_FIRST:
            return LONGEST_FIRST.index(path)
        return len(LONGEST_FIRST) + (item.path not in slow)

    items.sort(key=rank)  # stable: each file's tests keep their order


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
