"""The config schema (every key described with a default, the default config valid) and the messages of
`alliance.configuration` for a config that fails it."""

from __future__ import annotations

import copy
import re
import shlex
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from snakemake.cli import get_argument_parser
from snakemake.utils import validate as snakemake_validate

from alliance.configuration import check_config, primary_decision_point, uses_synthetic_cohort
from alliance.errors import ConfigError
from alliance.ingest.readers import ReadOptions


def walk(schema: dict, path: str = "config"):
    for name, sub in schema.get("properties", {}).items():
        yield f"{path}.{name}", sub
        yield from walk(sub, f"{path}.{name}")


def test_every_key_has_a_description_and_a_default(root):
    schema = yaml.safe_load((root / "workflow/schemas/config.schema.yaml").read_text())
    keys = list(walk(schema))
    assert len(keys) > 40
    for path, sub in keys:
        assert sub.get("description"), f"{path} has no description"
        assert "default" in sub, f"{path} has no default"


def test_default_config_is_valid(root):
    schema = yaml.safe_load((root / "workflow/schemas/config.schema.yaml").read_text())
    config = yaml.safe_load((root / "config.yaml").read_text())
    jsonschema.validate(config, schema)
    bad = config | {"privacy": {"min_cell_size": 0}}
    try:
        jsonschema.validate(bad, schema)
    except jsonschema.ValidationError as err:
        assert "min_cell_size" in err.json_path
    else:
        raise AssertionError("min_cell_size 0 was accepted")


# ---- alliance.configuration: every problem on one line, defaults filled as snakemake's validate does ----

SCHEMA = "workflow/schemas/config.schema.yaml"


def problems(root, default_config, **changes) -> list[str]:
    """The problem lines of the default config with `changes` merged into its blocks."""
    config = copy.deepcopy(default_config)
    for block, values in changes.items():
        config[block] = config[block] | values if isinstance(values, dict) else values
    with pytest.raises(ConfigError) as caught:
        check_config(config, root / SCHEMA)
    header, *lines = str(caught.value).splitlines()
    assert header.startswith(f"Invalid config ({len(lines)} problem")
    return [line.strip() for line in lines]


def test_the_planned_course_is_checked_against_the_early_window_with_the_config(root, default_config):
    """Valid alone, not together: the run stops at the config check, not in the job that draws the cohort
    (the cohort's generator says the same for a direct call)."""
    synthetic = default_config["synthetic"]
    assert problems(root, default_config, synthetic=synthetic | {"sessions_planned": [4, 10]}) == [
        "synthetic.sessions_planned starts at 4; it must be at least early_window + 2 = 5 so that dropout "
        "after the early window is possible"]
    assert problems(root, default_config, synthetic=synthetic | {"sessions_planned": [6, 16]},
                    features={"early_window": 5}) == [
        "synthetic.sessions_planned starts at 6; it must be at least early_window + 2 = 7 so that dropout "
        "after the early window is possible"]
    assert problems(root, default_config, synthetic=synthetic | {"sessions_planned": [9, 7]}) == [
        "synthetic.sessions_planned is [9, 7]; the shortest planned course comes first, e.g. [9, 16]"]
    config = copy.deepcopy(default_config)
    config["synthetic"]["sessions_planned"] = [5, 5]  # the edge: early window 3 + 2, one course length
    assert check_config(config, root / SCHEMA)["synthetic"]["sessions_planned"] == [5, 5]
    for data in ({"patients": "clinic/patients.csv"}, {"redcap": {"file": "clinic/export.csv"}}):
        config = copy.deepcopy(default_config)  # other data: the synthetic block is not used
        config["synthetic"]["sessions_planned"] = [3, 10]
        config["data"] |= data
        check_config(config, root / SCHEMA)
        assert not uses_synthetic_cohort(config)
    config["data"] = default_config["data"] | {"patients": "./data/synthetic/patients.csv"}
    assert uses_synthetic_cohort(config)  # the same file, written another way



def test_the_primary_decision_point_follows_the_early_window_or_is_checked_with_the_config(root,
                                                                                          default_config):
    """auto takes the early window where it is a decision point, else the nearest one (the later of two as
    near), so that changing features.early_window alone never stops a run; a number that is not a decision
    point stops the run at the config check, not in the early-warning job after the models."""
    warning = default_config["early_warning"]  # decision points 2 to 6
    assert [primary_decision_point(warning, k) for k in (1, 2, 3, 6, 7, 12)] == [2, 2, 3, 6, 6, 6]
    assert primary_decision_point(warning | {"decision_points": [2, 4]}, 3) == 4
    assert primary_decision_point(warning | {"primary_session": 5}, 3) == 5
    check_config(copy.deepcopy(default_config) | {"features": {"early_window": 1}}, root / SCHEMA)
    assert problems(root, default_config, early_warning=warning | {"primary_session": 8}) == [
        "early_warning.primary_session is 8, not one of early_warning.decision_points (2, 3, 4, 5, 6): add "
        "it to them, choose one of them, or write auto (the early window, or the decision point nearest to "
        "it)"]

def test_the_data_settings_the_schema_cannot_see_stop_the_run_before_any_job(root, default_config):
    """An encoding Python does not know, a column map of both forms, a REDCap pattern that is not a regular
    expression: told at the config check, all at once (they had stopped the validation job, leaving an
    earlier run's validation report in place); the readers refuse them alike."""
    data = default_config["data"] | {
        "encoding": "utf-9", "columns": {"Paciente": "patient_id", "sessions": {"Sesión": "session"}},
        "redcap": {"session_events": "visit_("}}
    found = problems(root, default_config, data=data)
    assert found[0] == "data.encoding: unknown encoding 'utf-9'. Use auto, utf-8, latin-1 or windows-1252."
    assert found[1].startswith("data.columns: given both names ('Paciente') and per-table maps (sessions)")
    assert found[2].startswith("data.redcap.session_events: not a regular expression (missing ), "
                               "unterminated subpattern")
    with pytest.raises(ConfigError, match="unknown encoding 'utf-9'"):
        ReadOptions.from_config(data)
    # beside a problem the schema finds, at once (they had come in a second round)
    both = problems(root, default_config, data=data | {"delimiter": "#"})
    assert any(line.startswith("data.delimiter:") for line in both)
    assert any(line.startswith("data.encoding: unknown encoding 'utf-9'") for line in both)


def test_misspelt_key_gets_the_known_keys_and_a_suggestion(root, default_config):
    assert problems(root, default_config, models={"covariate": ["discipline"]}) == [
        "models.covariate: unknown key (given ['discipline']); known keys here: covariates, min_clusters, "
        "riclpm_waves; did you mean covariates? e.g. covariates: [baseline_severity, discipline]"]


def test_wrong_type(root, default_config):
    assert problems(root, default_config, features={"early_window": "three"}) == [
        "features.early_window: given 'three'; expected an integer >= 1; e.g. early_window: 3"]


def test_value_outside_the_enum(root, default_config):
    assert problems(root, default_config, ruptures={"criterion": "2sd"}) == [
        "ruptures.criterion: given '2sd'; expected one of prior_diff, sd, reliable_change; did you mean sd? "
        "e.g. criterion: prior_diff"]
    assert problems(root, default_config, data={"delimiter": ":"}) == [
        "data.delimiter: given ':'; expected one of auto, \",\", \";\", \"\\t\", tab, \"|\"; "
        "e.g. delimiter: auto"]


def test_number_below_the_minimum(root, default_config):
    assert problems(root, default_config, privacy={"min_cell_size": 0}) == [
        "privacy.min_cell_size: given 0; expected an integer >= 1; e.g. min_cell_size: 10"]


def test_every_problem_is_listed_once(root, default_config):
    assert problems(root, default_config, ruptures={"reliability": 1.0},
                    privacy={"allow_columns": [{"table": "patients", "column": "ref"}]}) == [
        "ruptures.reliability: given 1.0; expected a number >= 0 and < 1, or null",
        "privacy.allow_columns[0].reason: missing; expected a non-empty string",
    ]


def test_the_message_is_short_and_has_no_schema(root, default_config):
    with pytest.raises(ConfigError) as caught:
        check_config(copy.deepcopy(default_config) | {"modles": {}}, root / SCHEMA)
    message = str(caught.value)
    assert "modles: unknown key (given {}); known keys here: data, instruments," in message
    assert "did you mean models?" in message
    assert "properties" not in message and len(message.splitlines()) == 2


def test_defaults_are_filled_as_snakemake_validate_fills_them(root, default_config):
    for config in (default_config, {}, {"data": {"columns": {"Código paciente": "patient_id"}}}):
        ours, theirs = copy.deepcopy(config), copy.deepcopy(config)
        snakemake_validate(theirs, str(root / SCHEMA))
        assert check_config(ours, root / SCHEMA) is ours
        assert ours == theirs
    assert ours["models"] == {"covariates": ["baseline_severity", "discipline"], "min_clusters": 50,
                              "riclpm_waves": "auto"}
    assert ours["data"]["columns"]["all"] == {}


def test_a_flat_column_map_is_the_map_of_every_table(root, default_config):
    names = {"Código paciente": "patient_id", "Terapeuta": "therapist_id"}
    flat, scoped = copy.deepcopy(default_config), copy.deepcopy(default_config)
    flat["data"]["columns"] = default_config["data"]["columns"] | names  # as merged over config.yaml
    scoped["data"]["columns"] = {"all": names}
    check_config(flat, root / SCHEMA)
    check_config(scoped, root / SCHEMA)
    assert ReadOptions.from_config(flat["data"]) == ReadOptions.from_config(scoped["data"])
    assert ReadOptions.from_config({"columns": names}).columns == {"all": names}


def test_a_column_map_cannot_mix_the_two_forms():
    with pytest.raises(ConfigError) as caught:
        ReadOptions.from_config({"columns": {"Código paciente": "patient_id",
                                             "patients": {"Terapeuta": "therapist_id"}, "sessions": {}}})
    assert str(caught.value) == (
        "data.columns: given both names ('Código paciente') and per-table maps (patients); expected one "
        "form: move the names under all: (every table) or under patients:/sessions:/outcomes:.")


def test_a_misspelt_table_in_the_column_map(root, default_config):
    assert problems(root, default_config, data={"columns": {"patient": {"Terapeuta": "therapist_id"}}}) == [
        "data.columns.patient: given {'Terapeuta': 'therapist_id'}; expected a string; "
        "did you mean patients?"]


def test_snakemake_prints_only_the_problem(root, tmp_path):
    (tmp_path / "bad.yaml").write_text("models:\n  covariate: [discipline]\n")
    done = subprocess.run(
        [str(Path(sys.executable).parent / "snakemake"), "--snakefile", str(root / "Snakefile"),
         "--directory", str(tmp_path), "-n", "--configfile", str(tmp_path / "bad.yaml")],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 1
    line = ("  models.covariate: unknown key (given ['discipline']); known keys here: covariates, "
            "min_clusters, riclpm_waves")
    assert line in done.stderr
    assert '"properties"' not in done.stderr and "$schema" not in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) < 15


def test_every_configuration_key_is_documented(root):
    """docs/configuration.md has a row for every key of the schema (the schema is the authority)."""
    schema = yaml.safe_load((root / "workflow/schemas/config.schema.yaml").read_text())
    docs = (root / "docs/configuration.md").read_text()

    def keys(node: dict, prefix: str = "") -> list[str]:
        found = []
        for name, child in node.get("properties", {}).items():
            dotted = f"{prefix}{name}"
            nested = child.get("properties") if isinstance(child, dict) else None
            found += keys(child, f"{dotted}.") if nested else [dotted]
        return found

    def documented(key: str) -> bool:  # its own row, or the row of the map it belongs to (data.columns)
        parts = key.split(".")
        return any(f"| `{'.'.join(parts[:n])}` |" in docs for n in range(len(parts), 1, -1))

    listed = keys(schema)
    assert len(listed) > 80 and "report.pdf" in listed and "simulation.batch_size" in listed
    assert [key for key in listed if not documented(key)] == []


def test_config_yaml_and_the_docs_give_the_schema_defaults(root):
    """config.yaml sets every key to its schema default, and docs/configuration.md's default column says it
    (the schema and the page gave 0.0 for the planted goal and task satisfaction effects of H5, which
    config.yaml, the base of every run, sets to 1.0)."""
    schema = yaml.safe_load((root / "workflow/schemas/config.schema.yaml").read_text())
    config = yaml.safe_load((root / "config.yaml").read_text())
    docs = (root / "docs/configuration.md").read_text()

    def defaults(node: dict, prefix: str = "") -> dict:
        found = {}
        for name, child in node.get("properties", {}).items():
            dotted = f"{prefix}{name}"
            if isinstance(child, dict) and child.get("properties"):
                found |= defaults(child, f"{dotted}.")
            elif isinstance(child, dict) and "default" in child:
                found[dotted] = child["default"]
        return found

    def value(key: str):
        node = config
        for part in key.split("."):
            node = node.get(part, "(not in config.yaml)") if isinstance(node, dict) else node
        return node

    found = defaults(schema)
    assert len(found) > 80
    differ = {key: (default, value(key)) for key, default in found.items() if value(key) != default}
    assert {key for key in differ if not key.startswith("data.sheets.")} == set()  # sheets: Excel only
    assert all(value(key) == "(not in config.yaml)" for key in differ)
    rows = dict(re.findall(r"^\| `([\w.]+)` \| [^|]* \| ([^|]*) \|", docs, flags=re.MULTILINE))
    for key in ("synthetic.effects.satisfaction_goal_points_per_sd", "features.early_window"):
        assert rows[key].strip() == f"`{found[key]}`", key


def test_a_choice_of_schemas_is_said_in_words(root, default_config):
    """`models.riclpm_waves` is auto or an integer >= 3 (a oneOf): the message says so, not jsonschema's
    "is not valid under any of the given schemas"."""
    config = copy.deepcopy(default_config)
    config["models"]["riclpm_waves"] = 2
    with pytest.raises(ConfigError) as error:
        check_config(config, root / "workflow/schemas/config.schema.yaml")
    assert "models.riclpm_waves: given 2; expected auto or an integer >= 3; e.g. riclpm_waves: auto" in str(
        error.value)


@pytest.mark.parametrize("given", [0, "all", 2.5])
def test_the_early_warning_parameter_limit_is_auto_or_a_whole_number(root, default_config, given):
    """`early_warning.max_parameters`: auto or an integer >= 1; anything else stops the run in words."""
    config = copy.deepcopy(default_config)
    config["early_warning"]["max_parameters"] = given
    with pytest.raises(ConfigError) as error:
        check_config(config, root / "workflow/schemas/config.schema.yaml")
    expected = f"early_warning.max_parameters: given {given!r}; expected auto or an integer >= 1"
    assert expected in str(error.value)
    config["early_warning"]["max_parameters"] = 3
    assert check_config(config, root / "workflow/schemas/config.schema.yaml")["early_warning"][
        "max_parameters"] == 3


def test_make_passes_the_config_file_without_swallowing_the_targets(root):
    """`make run CONFIG=my.yaml SNAKEMAKE_ARGS=<target>`: Snakemake's --configfile takes any number of
    files, so `--configfile my.yaml <target>` read the target as a second config file (FileNotFoundError);
    the Makefile passes `--configfile=my.yaml`, after which the target is a target."""
    done = subprocess.run(["make", "-n", "run", "CONFIG=my.yaml", "SNAKEMAKE_ARGS=results/effects.csv"],
                          cwd=root, capture_output=True, text=True, check=True)
    (command,) = [line for line in done.stdout.splitlines() if "snakemake --cores" in line]
    arguments = get_argument_parser().parse_args(shlex.split(command)[1:])
    assert arguments.configfile == [Path("my.yaml")] and arguments.targets == ["results/effects.csv"]
