"""Fixtures shared by every stage's tests: the repository root, the default config, a small synthetic block
and the shipped instruments. Helpers shared by several folders sit beside this file (`browser.py`,
`degenerate.py`); reference data sit beside the tests that use them (`<stage>/data/`)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

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
