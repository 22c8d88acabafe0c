"""Fixtures of the degenerate-cohort tests (degenerate_checks.py): each cohort's stages and its models and
report, run once per test module that asks for them (lazily, by name)."""

from __future__ import annotations

import pytest
from degenerate import COHORTS, Stages, run_stages
from degenerate_checks import run_everything


@pytest.fixture(scope="module")
def staged(default_config, tmp_path_factory) -> dict[str, Stages]:
    """Every cohort of COHORTS through the stages, once per module (lazily, by name)."""

    class Lazy(dict):
        def __missing__(self, name: str) -> Stages:
            self[name] = run_stages(COHORTS[name](default_config), default_config,
                                    tmp_path_factory.mktemp(name))
            return self[name]

    return Lazy()


@pytest.fixture(scope="module")
def runs(staged) -> dict[str, dict]:
    """Every cohort's models, status, sensitivity analyses and report (after its stages), once per module."""

    class Lazy(dict):
        def __missing__(self, name: str) -> dict:
            self[name] = run_everything(staged[name])
            return self[name]

    return Lazy()
