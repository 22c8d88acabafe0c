"""The workflow's configuration: checked against its JSON schema, defaults filled, problems in words.

`check_config` fills the schema's defaults exactly as `snakemake.utils.validate(config, schema)` does (the
recipe of the jsonschema FAQ: a property's default is set before the property is validated), but reports
every problem at once, one line each: the dotted key, what was given, what is expected, a did-you-mean
suggestion when a name is close, and an example, instead of the first problem and the whole schema.
"""

from __future__ import annotations

import codecs
import copy
import difflib
import json
import os
import re
import reprlib
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from alliance.errors import ConfigError

if TYPE_CHECKING:
    from jsonschema import ValidationError
    from jsonschema.protocols import Validator

TYPES = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "true or false",
         "object": "a map (key: value)", "array": "a list", "null": "null"}
BOUNDS = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}
SHORT = reprlib.Repr()
SHORT.maxstring = SHORT.maxother = 40
SHORT.maxlist = SHORT.maxdict = 4
SHORT.maxlevel = 2
# jsonschema imports its optional IRI format checker, this package, when it is itself imported, and the
# package compiles 39 grammars as it is imported: 2.7 s at the start of every run (Snakemake imports
# jsonschema too, through nbformat, after the Snakefile has checked the config). The config schema uses no
# "format", so jsonschema is imported with the package hidden (`_jsonschema`).
IRI_CHECKER = "rfc3987_syntax"


def check_config(config: dict, schema_path: str | Path) -> dict:
    """Check `config` against the schema at `schema_path`, fill in the schema's defaults (in place, as
    snakemake's `validate` does, so that `workflow.config` sees them) and return `config`.

    Every problem raises one `ConfigError` with one line per problem (see `describe_error`).
    """
    schema = yaml.safe_load(Path(schema_path).read_text(encoding="utf-8"))
    problems = schema_problems(config, schema)
    # the data settings the schema cannot see, with its own problems (a key it already names is left to it)
    problems |= {key: line for key, line in data_problems(config.get("data") or {}).items()
                 if not any(key == known or key.startswith(f"{known}.") for known in problems)}
    if not problems:  # the values that depend on each other, once each has the right form
        problems = cross_key_problems(config)
    if problems:
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        raise ConfigError("\n".join([f"Invalid config ({count}; every key, with its description and "
                                     f"default, is in {schema_path}):",
                                     *(f"  {line}" for line in problems.values())]))
    return config


SYNTHETIC = "data/synthetic"  # the default data: the cohort the workflow draws (rule synthesize)


def uses_synthetic_cohort(config: Mapping) -> bool:
    """Whether the configured data are the synthetic cohort the workflow draws (its patients table, and
    no REDCap export)."""
    data = config["data"]
    return (os.path.normpath(data["patients"]) == os.path.normpath(f"{SYNTHETIC}/patients.csv")
            and not data.get("redcap", {}).get("file"))


def sessions_planned_problem(shortest: int, early_window: int) -> str | None:
    """Why `synthetic.sessions_planned` cannot start at `shortest` with this early window, or None."""
    if shortest >= early_window + 2:
        return None
    return (f"synthetic.sessions_planned starts at {shortest}; it must be at least early_window + 2 = "
            f"{early_window + 2} so that dropout after the early window is possible")


def primary_decision_point(early_warning: Mapping, early_window: int) -> int:
    """The early warning's primary decision point: `early_warning.primary_session` when a number; with
    auto, the early window where it is one of `decision_points`, else the decision point nearest to it (the
    later of two as near), so that a changed early window needs no other key changed."""
    if early_warning["primary_session"] != "auto":
        return int(early_warning["primary_session"])
    points = sorted(int(k) for k in early_warning["decision_points"])
    return min(points, key=lambda k: (abs(k - early_window), -k))


def cross_key_problems(config: Mapping) -> dict[str, str]:
    """Problems of values that are valid alone but not together, by dotted key, one line each: checked
    with the config, so that a run stops at once rather than in the job that uses them. The synthetic
    block is checked only when the data are the synthetic cohort (another data set does not use it)."""
    problems: dict[str, str] = {}
    warning = config["early_warning"]
    points = sorted(int(k) for k in warning["decision_points"])
    if warning["primary_session"] != "auto" and int(warning["primary_session"]) not in points:
        problems["early_warning.primary_session"] = (
            f"early_warning.primary_session is {warning['primary_session']}, not one of early_warning."
            f"decision_points ({', '.join(map(str, points))}): add it to them, choose one of them, or "
            "write auto (the early window, or the decision point nearest to it)")
    if uses_synthetic_cohort(config):
        shortest, longest = config["synthetic"]["sessions_planned"]
        problem = sessions_planned_problem(shortest, config["features"]["early_window"])
        if problem is None and longest < shortest:
            problem = (f"synthetic.sessions_planned is [{shortest}, {longest}]; the shortest planned course "
                       f"comes first, e.g. [{shortest}, {max(shortest, 16)}]")
        if problem:
            problems["synthetic.sessions_planned"] = problem
    return problems


DATA_TABLES = ("patients", "sessions", "outcomes")  # the contract's tables (`alliance.ingest.contract`)


def data_problems(data: Mapping) -> dict[str, str]:
    """Problems of the `data` block that its schema cannot see, by dotted key, one line each: an encoding
    Python does not know, a column map mixing the flat and the per-table forms or mapping to no name, a
    value map that is not a map, a REDCap event pattern that is not a regular expression. Checked with the
    schema (`check_config`, all at once), so that the run stops before any job (the validation job had stopped
    on them, leaving the previous run's validation report in place), and by the readers
    (`alliance.ingest.readers.ReadOptions.from_config`). A value of another type is the schema's to name."""
    problems: dict[str, str] = {}
    if not isinstance(data, Mapping):
        return problems
    encoding = str(data.get("encoding", "auto") or "auto")
    if encoding != "auto":
        try:
            codecs.lookup(encoding)
        except LookupError:
            problems["data.encoding"] = (f"data.encoding: unknown encoding '{encoding}'. Use auto, utf-8, "
                                         "latin-1 or windows-1252.")
    columns = data.get("columns") or {}
    columns = dict(columns) if isinstance(columns, Mapping) else {}  # another type: the schema says so
    scopes = ("all", *DATA_TABLES)
    flat = {k: v for k, v in columns.items() if k not in scopes and isinstance(v, str)}
    scoped = [k for k in scopes if columns.get(k)]
    if flat and scoped:
        problems["data.columns"] = (
            f"data.columns: given both names ({', '.join(map(repr, flat))}) and per-table maps "
            f"({', '.join(scoped)}); expected one form: move the names under all: (every table) or under "
            "patients:/sessions:/outcomes:.")
    for scope, mapping in columns.items():
        if scope in flat:
            continue
        if scope not in scopes or not isinstance(mapping, Mapping):
            problems[f"data.columns.{scope}"] = (
                f"data.columns.{scope}: use all, patients, sessions or outcomes, each a map from the name in "
                "your export to the contract name, or a flat map of names for every table.")
            continue
        for source, target in mapping.items():
            if not isinstance(target, str) or not target.strip():
                problems[f"data.columns.{scope}"] = (f"data.columns.{scope}: '{source}' must map to a "
                                                     "column name.")
    values = data.get("values") or {}
    for column, mapping in (values.items() if isinstance(values, Mapping) else ()):
        if not isinstance(mapping, Mapping):
            problems[f"data.values.{column}"] = (f"data.values.{column}: a map from the value in your export "
                                                 "to the contract value.")
    sheets = data.get("sheets") or {}
    for table in (sheets if isinstance(sheets, Mapping) else ()):
        if table not in DATA_TABLES:
            problems[f"data.sheets.{table}"] = f"data.sheets.{table}: use patients, sessions or outcomes."
    redcap = data.get("redcap") or {}
    pattern = redcap.get("session_events") if isinstance(redcap, Mapping) else None
    if isinstance(pattern, str) and pattern:
        try:
            re.compile(pattern)
        except re.error as err:
            problems["data.redcap.session_events"] = (f"data.redcap.session_events: not a regular expression "
                                                      f"({err}).")
    return problems


def check_config_or_exit(config: dict, schema_path: str | Path) -> dict:
    """`check_config` for the Snakefile: problems go to stderr (no traceback) and the run exits with 1."""
    try:
        return check_config(config, schema_path)
    except ConfigError as err:
        print(f"\n{err}\n", file=sys.stderr)
        sys.exit(1)


def schema_problems(instance: dict, schema: Mapping) -> dict[str, str]:
    """Every problem of `instance` against `schema`, one line each by dotted key (`describe_error`), the
    schema's defaults filled in `instance` as they are checked."""
    problems: dict[str, str] = {}
    for error in _validator(schema).iter_errors(instance):
        # First problem per key: a missing required key is then also its default, failing again.
        problems.setdefault(dotted(error.absolute_path), describe_error(error, schema))
    return problems


def describe_error(error: ValidationError, schema: Mapping) -> str:
    """One line: `key.path: given <value>; expected <what>; did you mean <name>? e.g. <key>: <example>`."""
    path = list(error.absolute_path)
    key = path[-1] if path else None
    parent = _subschema(schema, path[:-1])
    known = list(parent.get("properties", {}))
    if error.validator == "additionalProperties":
        line = f"unknown key (given {SHORT.repr(error.instance)}); known keys here: {', '.join(known)}"
        node: Mapping = {}
    elif error.validator == "required":
        node = parent["properties"][key]
        line = f"missing; expected {expected(node)}"
    else:
        node = error.schema
        line = f"given {SHORT.repr(error.instance)}; expected {expected(node) or error.message}"
    guess = None
    if error.validator == "enum" and isinstance(error.instance, str):
        guess = _closest(error.instance, [v for v in node["enum"] if isinstance(v, str)])
    elif isinstance(key, str) and key not in known:
        guess = _closest(key, known)
        if guess:
            key, node = guess, parent["properties"][guess]
    if guess:
        line += f"; did you mean {guess}?"
    example = _example(node)
    if example is not None:
        label = f"{key}: " if isinstance(key, str) else ""
        line += f"{' ' if guess else '; '}e.g. {label}{_yaml(example)}"
    return f"{dotted(path)}: {line}"


def expected(schema: Mapping) -> str:
    """What a schema accepts, in words (e.g. "an integer >= 1", "one of sd, reliable_change", for a choice
    of schemas "auto or an integer >= 3")."""
    if "oneOf" in schema:
        return " or ".join(expected(option).removeprefix("one of ") for option in schema["oneOf"])
    if "enum" in schema:
        return "one of " + ", ".join(
            json.dumps(v) if isinstance(v, str) and not re.fullmatch(r"\w+", v) else _yaml(v)
            for v in schema["enum"])
    types = schema.get("type", [])
    words = []
    for kind in [types] if isinstance(types, str) else types:
        text = TYPES[kind]
        if kind in ("integer", "number"):
            bounds = " and ".join(f"{op} {schema[k]}" for k, op in BOUNDS.items() if k in schema)
            text = f"{text} {bounds}" if bounds else text
        elif kind == "string":
            if schema.get("minLength") == 1:
                text = "a non-empty string"
            if "pattern" in schema:
                text += f" matching {schema['pattern']}"
        elif kind == "array":
            low, high = schema.get("minItems"), schema.get("maxItems")
            if low is not None and low == high:
                text += f" of {low} items"
            elif low is not None:
                text += f" of at least {low} item{'s' if low > 1 else ''}"
            if isinstance(schema.get("items"), Mapping):
                text += f", each {expected(schema['items'])}"
        elif kind == "object" and isinstance(schema.get("additionalProperties"), Mapping):
            text += f", each value {expected(schema['additionalProperties'])}"
        words.append(text)
    return (", or " if any(" and " in w or "," in w for w in words) else " or ").join(words)


def dotted(path: Sequence[str | int]) -> str:
    """A key path as written in the messages: `data.columns.all`, `privacy.allow_columns[0].reason`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text or "(the whole config)"


def _jsonschema():
    """The jsonschema package, imported (when it is not yet) without its optional IRI format checker
    (`IRI_CHECKER`): a None in `sys.modules` fails the checker's import as if it were not installed, so
    that jsonschema has no "iri" format, which no schema here uses."""
    hidden = IRI_CHECKER not in sys.modules
    if hidden:
        sys.modules[IRI_CHECKER] = None
    try:
        import jsonschema
    finally:
        if hidden:
            del sys.modules[IRI_CHECKER]
    return jsonschema


def _validator(schema: Mapping) -> Validator:
    """The validator of the schema's draft, extended to fill defaults and to report a missing or unknown
    key at the key's own path."""
    jsonschema = _jsonschema()
    validators, ValidationError = jsonschema.validators, jsonschema.ValidationError
    base = validators.validator_for(schema)
    check_properties = base.VALIDATORS["properties"]
    check_additional = base.VALIDATORS["additionalProperties"]

    def properties(validator, properties, instance, schema) -> Iterator[ValidationError]:
        if validator.is_type(instance, "object"):
            for name, sub in properties.items():
                if "default" in sub:
                    instance.setdefault(name, copy.deepcopy(sub["default"]))
        yield from check_properties(validator, properties, instance, schema)

    def additional(validator, allowed, instance, schema) -> Iterator[ValidationError]:
        if allowed is not False or not validator.is_type(instance, "object"):
            yield from check_additional(validator, allowed, instance, schema)
            return
        patterns = schema.get("patternProperties", {})
        for name in instance:
            if name not in schema.get("properties", {}) and not any(re.search(p, name) for p in patterns):
                yield ValidationError(f"unknown key {name!r}", path=[name], instance=instance[name])

    def required(validator, required, instance, schema) -> Iterator[ValidationError]:
        if validator.is_type(instance, "object"):
            for name in required:
                if name not in instance:
                    yield ValidationError(f"{name!r} is missing", path=[name])

    extended = validators.extend(
        base, {"properties": properties, "additionalProperties": additional, "required": required})
    return extended(schema)


def _subschema(schema: Mapping, path: Sequence[str | int]) -> Mapping:
    """The part of the schema that describes the value at `path` ({} where it describes none)."""
    for part in path:
        if isinstance(part, int):
            schema = schema.get("items", {})
        elif part in schema.get("properties", {}):
            schema = schema["properties"][part]
        else:
            extra = schema.get("additionalProperties")
            schema = extra if isinstance(extra, Mapping) else {}
    return schema


def _closest(name: str, names: Sequence[str]) -> str | None:
    """The one of `names` closest to a misspelt `name`, if any is close (difflib's ratio >= 0.6)."""
    return next(iter(difflib.get_close_matches(name, names, n=1)), None)


def _example(schema: Mapping) -> Any:
    """An example value from the schema: its default (unless empty), first example or first enum value."""
    if "default" in schema and schema["default"] not in ({}, [], ""):
        return schema["default"]
    for key in ("examples", "enum"):
        if schema.get(key):
            return schema[key][0]
    return None


def _yaml(value: Any) -> str:
    """A value as it would be written in the YAML config, on one line."""
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=sys.maxsize)
    return text.strip().removesuffix("\n...")
