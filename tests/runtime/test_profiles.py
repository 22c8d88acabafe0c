"""The Snakemake profiles (profiles/default, profiles/slurm) and the rules' portable resources.

The profiles are read the way Snakemake reads them (its own profile parser, YTE templating included), every
key must be an option of the installed Snakemake and SLURM executor plugin, and the workflow is loaded
through Snakemake's API to check that every rule that runs a job declares `mem_mb` and `runtime`, and that
both grow with the retry attempt. The real cluster run is `make test-slurm` (tests/slurm/run.sh).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from snakemake.cli import get_argument_parser
from snakemake.profiles import ProfileConfigFileParser

ROOT = Path(__file__).resolve().parents[2]
PROFILES = {name: ROOT / "profiles" / name / "config.yaml" for name in ("default", "slurm")}
YTE_KEYS = {"__use_yte__", "__definitions__"}  # consumed by YTE, not Snakemake options
ENV_VARS = ("ALLIANCE_SLURM_PARTITION", "ALLIANCE_SLURM_ACCOUNT")
CASES = [(size, attempt) for size in (1, 1000) for attempt in (1, 2)]  # input MB, retry attempt


def snakemake_view(name: str) -> dict:
    """The profile as Snakemake turns it into command-line values (YTE evaluated, mappings flattened)."""
    with PROFILES[name].open() as stream:
        return dict(ProfileConfigFileParser().parse(stream))


@pytest.fixture
def clean_env(monkeypatch):
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_profile_is_yaml_and_every_entry_is_commented(name):
    text = PROFILES[name].read_text()
    parsed = yaml.safe_load(text)
    assert isinstance(parsed, dict) and parsed
    lines = text.splitlines()
    keys = [(i, line) for i, line in enumerate(lines) if re.match(r"^\s*[A-Za-z_][\w-]*:", line)]
    assert len(keys) >= 5
    for i, line in keys:
        key = line.strip().split(":")[0]
        if key == "__definitions__":  # explained with __use_yte__, just above it
            continue
        previous = next(lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip())
        if line.startswith(" ") and previous.startswith("?if "):
            continue  # a conditional entry: the comment stands above its ?if line
        assert previous.startswith("#"), f"{name}: '{key}' has no comment line above it"


def test_slurm_profile_names_the_executor_squeue_status_and_retries(clean_env):
    view = snakemake_view("slurm")
    assert view["executor"] == "slurm"
    # sacct fails without SLURM's accounting database, and the run would then wait forever.
    assert view["slurm-status-command"] == "squeue"
    assert int(view["slurm-init-seconds-before-status-checks"]) <= 10
    assert int(view["retries"]) >= 1
    assert int(view["jobs"]) >= 1
    assert int(view["latency-wait"]) >= 10
    resources = dict(entry.split("=", 1) for entry in view["default-resources"])
    assert int(resources["mem_mb"]) > 0 and int(resources["runtime"]) > 0
    # Without the environment variables, no partition or account: SLURM's defaults apply.
    assert "slurm_partition" not in resources and "slurm_account" not in resources


def test_slurm_partition_and_account_come_from_the_environment(clean_env):
    clean_env.setenv("ALLIANCE_SLURM_PARTITION", "short")
    clean_env.setenv("ALLIANCE_SLURM_ACCOUNT", "lab-42")
    resources = dict(entry.split("=", 1) for entry in snakemake_view("slurm")["default-resources"])
    # Quoted, so that Snakemake evaluates them as strings.
    assert resources["slurm_partition"] == "'short'"
    assert resources["slurm_account"] == "'lab-42'"
    assert int(resources["mem_mb"]) > 0


def test_slurm_profile_groups_the_replications(workflow_rules, clean_env):
    components = dict(entry.split("=", 1) for entry in snakemake_view("slurm")["group-components"])
    group = workflow_rules["simulation_replication"]["group"]
    assert group == "simulation"
    batch_size = yaml.safe_load((ROOT / "config.yaml").read_text())["simulation"]["batch_size"]
    # a handful of cluster jobs, not one per replication: at least 50 replications in each
    assert int(components[group]) * batch_size >= 50
    # Only the replications are grouped: the other rules stay one job each.
    assert {name for name, rule in workflow_rules.items() if rule["group"]} == {"simulation_replication"}


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_profile_key_is_a_snakemake_option(name, clean_env):
    options = {option for action in get_argument_parser()._actions for option in action.option_strings}
    keys = set(yaml.safe_load(PROFILES[name].read_text())) - YTE_KEYS
    unknown = {key for key in keys if f"--{key}" not in options}
    assert not unknown, f"{name}: not options of this Snakemake and its plugins: {unknown}"


def test_the_default_profile_sets_no_key_of_the_slurm_profile(clean_env):
    # profiles/default is applied as the workflow profile on top of --profile profiles/slurm and would win.
    default, slurm = (set(yaml.safe_load(PROFILES[name].read_text())) for name in ("default", "slurm"))
    assert not default & slurm, default & slurm
    assert snakemake_view("default")["cores"] == "all"


@pytest.fixture(scope="module")
def workflow_rules(tmp_path_factory) -> dict[str, dict]:
    """Every rule of the workflow, loaded through Snakemake's API: group, and mem_mb and runtime evaluated
    for an input of 1 MB and of 1000 MB at attempts 1 and 2 (None where the rule declares none)."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import OutputSettings, ResourceSettings

    cwd = os.getcwd()
    rules = {}
    try:
        with SnakemakeApi(OutputSettings()) as api:
            workflow = api.workflow(
                resource_settings=ResourceSettings(),
                snakefile=ROOT / "Snakefile",
                workdir=tmp_path_factory.mktemp("profiles"),
            )._workflow
            condition = next(iter(workflow.globals["SIMULATION_CONDITIONS"]))
            wildcards = SimpleNamespace(condition=condition, batch="1")
            for rule in workflow.rules:
                values = {}
                for resource in ("mem_mb", "runtime"):
                    declared = rule.resources.get(resource)
                    if declared is None or not declared.is_evaluable():  # absent, or a constant
                        constant = None if declared is None else declared.value
                        values[resource] = None if constant is None else dict.fromkeys(CASES, constant)
                        continue
                    values[resource] = {
                        (size, attempt): declared.evaluate(
                            wildcards=wildcards,
                            input=SimpleNamespace(size_mb=size),
                            attempt=attempt,
                            threads=1,
                            rulename=rule.name,
                        ).value
                        for size, attempt in CASES
                    }
                rules[rule.name] = {
                    "has_job": bool(rule.output),
                    "group": rule._group,  # Rule.group reads None outside cluster or dry runs
                    **values,
                }
    finally:
        os.chdir(cwd)
    return rules


def test_every_rule_declares_mem_mb_and_runtime(workflow_rules):
    # every rule was loaded: the default run's seven jobs, the feedback pages, the simulation's, the targets
    assert len(workflow_rules) >= 14
    for name, rule in workflow_rules.items():
        if not rule["has_job"]:  # `all`, `simulation`: targets only, no job runs
            continue
        for resource in ("mem_mb", "runtime"):
            values = rule[resource]
            assert values is not None, f"rule {name} declares no {resource}"
            assert all(isinstance(v, int) and v > 0 for v in values.values()), (name, resource, values)


def test_resources_grow_with_the_attempt_and_the_input(workflow_rules):
    grows_with_input = set()
    for name, rule in workflow_rules.items():
        if not rule["has_job"]:
            continue
        for resource in ("mem_mb", "runtime"):
            values = rule[resource]
            for size in (1, 1000):
                assert values[(size, 2)] > values[(size, 1)], f"{name}: {resource} ignores the attempt"
            assert values[(1000, 1)] >= values[(1, 1)], f"{name}: {resource} shrinks with the input"
            if values[(1000, 1)] > values[(1, 1)]:
                grows_with_input.add(name)
    # Every rule of the main workflow that reads data files grows with them.
    assert {"validate", "features", "psychometrics", "fit_models", "report"} <= grows_with_input
