"""The validation step: read the inputs as configured, check them against the data contract and the privacy
rules in one pass, and collect warnings (`alliance.report.validation` renders them as the validation
report).

`run_validation` never raises for a problem with the data: every problem (unreadable file, identifying
column, contract violation) becomes a `Problem` of the returned `ValidationOutcome`, so that the report and
the console list them all. Warnings do not stop the run; each is a dict

    {kind, table, file, column, count, rows, message, message_message, report_message,
     report_message_message}

where `rows` are data rows of the file (counting from 1 below the header, at most 5), `message` states the
exact count (for the data manager, in English as on the console; as data in `message_message`, an
`alliance.i18n.Message` `to_json`, which the validation report writes in its language) and
`report_message` the same with a count below `privacy.min_cell_size` shown as "<k" (safe to print in the
report), in English, and as data in `report_message_message`, which the report writes in its language.
Messages never quote a value; a problem's message and fix are `Message`s too (`Problem.told`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from alliance.errors import WHOLE_FILE, ConfigError, InputError
from alliance.i18n import Message, Plural
from alliance.ingest.contract import (
    KEY,
    MAX_LISTED_ROWS,
    TABLES,
    Problem,
    Validated,
    ValidationError,
    refused,
    validate_tables,
)
from alliance.ingest.identifiers import find_identifiers, name_kind
from alliance.ingest.privacy import k_anonymity
from alliance.ingest.readers import Inputs, ReadOptions, load_inputs
from alliance.instruments import Instrument
from alliance.instruments.items import ALLIANCE_PREFIX, score_rater
from alliance.io import sha256_file

SUPPRESSED = ("n", "sessions")  # counts of patients or sessions in warnings: "<k" in report_message
REFUSED = ("names, e-mail addresses, phone numbers, street addresses and postcodes, dates of birth and "
           "other exact dates, national identity numbers (Spanish DNI/NIE, NHS, US SSN), medical record "
           "numbers and free-text notes")


@dataclass
class ValidationOutcome:
    """Everything the validation step found: problems (the run stops), warnings (it goes on)."""

    inputs: Inputs
    problems: list[Problem]
    warnings: list[dict] = field(default_factory=list)
    validated: Validated | None = None
    privacy: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """Whether the tables may be written: no problem at all."""
        return self.validated is not None and not self.problems

    def error(self) -> ValidationError:
        """The problems as one `ValidationError` (its text is the console summary)."""
        return ValidationError(self.problems)

    def summary(self) -> dict:
        """The content of `validation_summary.json` (passed runs only)."""
        if not self.passed:
            raise ValueError("validation failed: there is no summary to write")
        reading = {table: {k: v for k, v in result.info.items() if k != "path"}
                   for table, result in self.inputs.results.items()}
        return self.validated.summary | {
            "inputs": {table: {"path": path, "sha256": sha256_file(path)}
                       for table, path in self.inputs.paths.items()},
            "reading": reading,
            "warnings": self.warnings,
            "privacy": self.privacy,
        }


def allow_list(privacy: Mapping) -> list[dict]:
    """The config's `privacy.allow_columns`: entries {table, column, reason}, each checked."""
    entries = []
    for i, entry in enumerate(privacy.get("allow_columns") or []):
        where = f"privacy.allow_columns[{i}]"
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where}: use {{table: ..., column: ..., reason: ...}}.")
        table, column, reason = entry.get("table"), entry.get("column"), entry.get("reason")
        if table not in TABLES:
            raise ConfigError(f"{where}.table: '{table}' is not one of {', '.join(TABLES)}.")
        if not isinstance(column, str) or not column:
            raise ConfigError(f"{where}.column: name the column (as in the file or its contract name).")
        if not isinstance(reason, str) or not reason.strip():
            raise ConfigError(f"{where}.reason: say why the column holds no identifying data.")
        entries.append({"table": table, "column": column, "reason": reason.strip()})
    return entries


def _input_problem(err: InputError, fallback: str) -> Problem:
    """The problem of a file that could not be read, with the error's messages (`InputError`)."""
    file = err.file or fallback
    message = str(err).removeprefix(f"{file}: ")
    fix = err.fix_message or (None if err.fix else Message("see the message"))
    rows = list(err.rows)
    return Problem(file, err.column or WHOLE_FILE, message, str(fix) if fix else err.fix, rows,
                   [""] * len(rows), len(rows), err.message_message, fix)


def _locate(problem: Problem, table: str, inputs: Inputs) -> Problem:
    """A contract problem with rows as data rows of the file and mapped columns named as in the file."""
    result = inputs.results[table]
    source = result.source_rows
    rows = [source[r - 1] if 0 < r <= len(source) else r for r in problem.rows]
    original = result.info.get("renamed", {}).get(problem.column)
    column = f"{original} → {problem.column}" if original else problem.column
    return replace(problem, column=column, rows=rows)


def _unmatched_map_fix(problem: Problem, table: str, inputs: Inputs,
                       columns: Mapping[str, Mapping[str, str]]) -> Problem:
    """A missing required column that the column map maps from a name the file lacks: the fix names that
    entry (a reviewer's misspelt "Codigo pacient" had read "add the column", the map's own warning held
    back until the problems are fixed)."""
    if problem.message != "required column is missing":
        return problem
    info = inputs.results[table].info
    unmatched = {*info.get("unmatched_column_map", []), *info.get("unmatched_all_map", [])}
    mapping = dict(columns.get("all") or {}) | dict(columns.get(table) or {})
    sources = [source for source, target in mapping.items()
               if target == problem.column and source in unmatched]
    if not sources:
        return problem
    fix = Message("data.columns maps '{source}' to {column}, but the file has no column '{source}': write it "
                  "as the file's header does", source=sources[0], column=problem.column)
    return replace(problem, fix=str(fix), fix_message=fix)


def run_validation(
    data: Mapping, privacy: Mapping, instruments: Mapping[str, Instrument | None],
) -> ValidationOutcome:
    """Read (`data` config block), check and summarise the three tables; see the module docstring."""
    inputs = load_inputs(data)
    entries = allow_list(privacy)
    allowed: dict[str, set[str]] = {table: set() for table in TABLES}
    for entry in entries:
        allowed[entry["table"]].add(entry["column"])
    problems = [_input_problem(err, "input") for err in inputs.errors]
    for table, result in inputs.results.items():
        renamed = result.info.get("renamed", {})
        allowed[table] |= {new for new, old in renamed.items() if old in allowed[table]}
        for new, old in renamed.items():
            kind = name_kind(old)
            if kind and new not in allowed[table] and name_kind(new) is None:
                problems.append(refused(inputs.files[table], old, kind, mapped_to=new))
    k = privacy.get("k_anonymity") or privacy.get("min_cell_size", 10)
    outcome = ValidationOutcome(inputs, problems, privacy={
        "allowed_columns": entries,
        "refused": REFUSED,
        "k_anonymity": {"k": int(k), "columns": [], "combinations": 0, "rare_combinations": 0,
                        "patients_in_rare": 0},
    })
    if len(inputs.results) < len(TABLES):
        for table, result in inputs.results.items():  # still name identifying columns of readable tables
            for column, kind in find_identifiers(result.frame, (KEY, "therapist_id"), allowed[table]):
                problems.append(refused(inputs.files[table], column, kind))
        return outcome
    try:
        validated = validate_tables(inputs.raw, inputs.files, instruments["alliance"],
                                    satisfaction=instruments["satisfaction"],
                                    therapist=instruments.get("therapist"),
                                    allow_columns=allowed)
    except ValidationError as err:
        by_file = {file: table for table, file in inputs.files.items()}
        columns = ReadOptions.from_config(data).columns
        problems.extend(_unmatched_map_fix(_locate(p, by_file[p.file], inputs), by_file[p.file], inputs,
                                           columns) if p.file in by_file else p for p in err.problems)
        return outcome
    if problems:
        return outcome
    outcome.validated = validated
    outcome.privacy["k_anonymity"] = k_anonymity(validated.patients, int(k))
    outcome.warnings = data_warnings(validated, inputs, instruments, k=int(k),
                                     min_cell_size=int(privacy.get("min_cell_size", 10)))
    return outcome


def _warning(kind: str, table: str, inputs: Inputs, column: str, count: int, rows: list[int],
             message: Callable[..., Message], min_cell_size: int, rows_table: str | None = None,
             **values: object) -> dict:
    """One warning: `message(n=count, **values)`, the message made from the count `n` and the other
    `values` (a `Plural` chosen by `n`, its English marked where it is called); the report's copy with a
    small count as "<k" (`SUPPRESSED`; a count so shown takes the plural form). `rows` are rows of
    `rows_table`'s file (`rows_file`; by default the table's own): a warning about patients of the sessions
    or outcomes lists the patients file's rows."""
    exact = {"n": count} | values
    shown = {name: (f"<{min_cell_size}" if name in SUPPRESSED and 0 < value < min_cell_size else value)
             for name, value in exact.items()}
    written, report = message(**exact), message(**shown)
    return {"kind": kind, "table": table, "file": inputs.files[table], "column": column, "count": int(count),
            "rows": rows, "rows_file": inputs.files[rows_table or table], "message": str(written),
            "message_message": written.to_json(), "report_message": str(report),
            "report_message_message": report.to_json()}


def _patient_rows(mask: pd.Series, inputs: Inputs) -> list[int]:
    source = inputs.results["patients"].source_rows
    return [source[i] for i in np.flatnonzero(mask.to_numpy())[:MAX_LISTED_ROWS]]


def data_warnings(
    validated: Validated, inputs: Inputs, instruments: Mapping[str, Instrument | None], *, k: int,
    min_cell_size: int,
) -> list[dict]:
    """Warnings about valid data that deserve a look (see docs/data-contract.md, "Warnings")."""
    patients, sessions, outcomes = validated.patients, validated.sessions, validated.outcomes
    warnings = []
    args = {"inputs": inputs, "min_cell_size": min_cell_size}

    attended = sessions["attended"].astype(bool)
    alliance = score_rater(sessions, instruments["alliance"], ALLIANCE_PREFIX, attended=attended)
    scored = set(sessions.loc[alliance[f"{ALLIANCE_PREFIX}total"].notna(), KEY])
    none = ~patients[KEY].isin(scored)
    if none.any():
        warnings.append(_warning(
            "no_scored_session", "patients", column=KEY, count=int(none.sum()),
            rows=_patient_rows(none, inputs),
            message=lambda **values: Plural(
                "{n} patient has no scored alliance session (no attended session with an alliance score); "
                "models of alliance leave them out",
                "{n} patients have no scored alliance session (no attended session with an alliance score); "
                "models of alliance leave them out", **values), **args))

    per_therapist = patients.groupby("therapist_id")[KEY].transform("size")
    alone = per_therapist == 1
    if alone.any():
        warnings.append(_warning(
            "therapist_one_patient", "patients", column="therapist_id", count=int(alone.sum()),
            rows=_patient_rows(alone, inputs),
            message=lambda **values: Plural(
                "{n} therapist has a single patient; therapist-level estimates (therapist share of alliance "
                "variance, therapist means) rest on one patient each",
                "{n} therapists have a single patient; therapist-level estimates (therapist share of "
                "alliance variance, therapist means) rest on one patient each", **values), **args))

    # a session number without a row: 1..last per patient, (patient, session) being unique
    numbers = sessions.groupby(KEY)["session"].agg(["max", "size"])
    skipped = (numbers["max"] - numbers["size"]).reindex(patients[KEY]).fillna(0)
    gaps = (skipped > 0).to_numpy()
    if gaps.any():
        warnings.append(_warning(
            "session_gaps", "sessions", column="session", count=int(gaps.sum()),
            rows_table="patients", rows=_patient_rows(pd.Series(gaps), inputs),
            message=lambda sessions, **values: Plural(
                "{n} patient's session numbers skip {sessions} between 1 and their last: a session without a "
                "row counts neither as attended nor as missed; list a session the patient did not attend "
                "with attended = 0 (one the clinic cancelled can stay out; rows listed are rows of the "
                "patients file)",
                "{n} patients' session numbers skip {sessions} between 1 and their last: a session without a "
                "row counts neither as attended nor as missed; list a session the patient did not attend "
                "with attended = 0 (one the clinic cancelled can stay out; rows listed are rows of the "
                "patients file)",
                sessions=Plural("{n} number", "{n} numbers", n=sessions), **values),
            sessions=int(skipped.sum()), **args))

    dropouts = set(outcomes.loc[outcomes["dropout"].fillna(False).astype(bool), KEY])
    planned = sessions[KEY].map(patients.set_index(KEY)["sessions_planned"])
    after = sessions[KEY].isin(dropouts) & sessions["attended"].fillna(False).astype(bool) & (
        sessions["session"] >= planned)
    if after.any():
        who = patients[KEY].isin(set(sessions.loc[after, KEY]))
        warnings.append(_warning(
            "sessions_after_dropout", "sessions", column="attended", count=int(who.sum()),
            rows_table="patients", rows=_patient_rows(who, inputs),
            message=lambda sessions, **values: Plural(
                "{n} patient recorded as a dropout attended their last planned session or later "
                "({sessions}); check dropout in the outcomes and sessions_planned (rows listed are rows of "
                "the patients file)",
                "{n} patients recorded as dropouts attended their last planned session or later "
                "({sessions}); check dropout in the outcomes and sessions_planned (rows listed are rows of "
                "the patients file)",
                sessions=Plural("{n} session row", "{n} session rows", n=sessions), **values),
            sessions=int(after.sum()), **args))

    no_outcome = ~patients[KEY].isin(outcomes[KEY])
    if no_outcome.any():
        warnings.append(_warning(
            "patient_without_outcome", "outcomes", column=KEY, count=int(no_outcome.sum()),
            rows_table="patients", rows=_patient_rows(no_outcome, inputs),
            message=lambda **values: Plural(
                "{n} patient has no row in the outcomes table; dropout and satisfaction models leave them "
                "out (rows listed are rows of the patients file)",
                "{n} patients have no row in the outcomes table; dropout and satisfaction models leave them "
                "out (rows listed are rows of the patients file)", **values), **args))

    anonymity = k_anonymity(patients, k)
    if anonymity["rare_combinations"]:
        warnings.append(_warning(
            "k_anonymity", "patients", column=", ".join(anonymity["columns"]),
            count=anonymity["patients_in_rare"], rows=[],
            message=lambda combos, total, **values: Plural(
                "{combinations} of {columns} are shared by fewer than k = {k} patients ({n} patient in "
                "them): such a patient may be recognisable from these columns; consider coarser groups "
                "(wider age bands, merged sites)",
                "{combinations} of {columns} are shared by fewer than k = {k} patients ({n} patients in "
                "them): such patients may be recognisable from these columns; consider coarser groups "
                "(wider age bands, merged sites)",
                # "3 of 51 combinations" (of the values of the columns): the plural chosen by the total
                combinations=Plural("{combos} of {n} combination", "{combos} of {n} combinations", n=total,
                                    combos=combos), **values),
            combos=anonymity["rare_combinations"], total=anonymity["combinations"],
            columns=anonymity["columns"], k=k, **args))

    for table, result in inputs.results.items():
        for source in result.info.get("unmatched_column_map", []):
            warnings.append(_warning(
                "column_map_unused", table, column=source, count=0, rows=[],
                message=lambda **values: Message(
                    "data.columns.{name} maps a column '{source}' that the file does not have", **values),
                name=table, source=source, **args))
    # an entry of the map of every table (`all:`, or the flat form) that no table has: a misspelt optional
    # column would otherwise be dropped without a word
    lists = [result.info.get("unmatched_all_map") for result in inputs.results.values()]
    if lists and all(found is not None for found in lists):
        for source in [s for s in lists[0] if all(s in other for other in lists[1:])]:
            warnings.append(_warning(
                "column_map_unused", "patients", column=source, count=0, rows=[],
                message=lambda **values: Message(
                    "data.columns.all maps a column '{source}' that none of the files has", **values),
                source=source, **args))
    return warnings


def console_summary(outcome: ValidationOutcome, report: str) -> str:
    """A few lines for the console: the verdict, counts, warnings and where the report is."""
    if not outcome.passed:
        return f"{outcome.error()}\n\nValidation report: {report}"
    rows = ", ".join(f"{info['rows']} {table}" for table, info in outcome.validated.summary["tables"].items())
    lines = [f"Input validation passed ({rows} rows)."]
    lines += [f"  warning: {w['message']}" for w in outcome.warnings]
    lines.append(f"Validation report: {report}")
    return "\n".join(lines)
