"""The data contract: the three input tables, their validation, and the identifying-data guard.

Column definitions live here once (docs/data-contract.md documents them for users). Validation collects every
problem in one pass and raises a single `ValidationError` that names file, column, rows and fix.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow
import pyarrow.compute as pc

from alliance.configuration import DATA_TABLES
from alliance.errors import ROW_KEY, Problem, ValidationError
from alliance.i18n import Message, Plural
from alliance.ingest import DISCIPLINES
from alliance.ingest.identifiers import examples as quoted_examples
from alliance.ingest.identifiers import find_identifiers
from alliance.instruments import PUBLISHED_NAMES, Instrument
from alliance.instruments.items import prescored_columns

TABLES = DATA_TABLES
KEY = ROW_KEY  # "patient_id"
MAX_LISTED_ROWS = 5

# Column -> kind; "id" and "text" are strings, "bool" accepts 1/0, true/false, yes/no.
PATIENT_COLUMNS = {
    "patient_id": "id",
    "therapist_id": "id",
    "site": "text",
    "discipline": "text",
    "age_band": "text",
    "gender": "text",
    "baseline_severity": "number",
    "sessions_planned": "integer",
}
SESSION_COLUMNS = {
    "patient_id": "id",
    "session": "integer",
    "attended": "bool",
    "home_practice": "number",
    "symptoms": "number",  # optional symptom score at the session, higher = worse
}
OUTCOME_COLUMNS = {"patient_id": "id", "dropout": "bool", "satisfaction": "number"}
REQUIRED = {
    "patients": ("patient_id", "therapist_id", "sessions_planned"),
    "sessions": ("patient_id", "session", "attended"),
    "outcomes": ("patient_id", "dropout"),
}
# English, Spanish and Catalan (compared in lower case, Unicode NFC); REDCap labels checked/unchecked.
TRUE_WORDS = {"1", "1.0", "true", "t", "yes", "y", "sí", "si", "s", "verdadero", "v", "cert", "checked"}
ARROW_STRING = "string[pyarrow]"
FALSE_WORDS = {"0", "0.0", "false", "f", "no", "n", "falso", "fals", "unchecked"}

# Identifying data: names and contents are checked by alliance.ingest.identifiers (re-exported here).
REFUSED_FIX = Message("remove the column from the export (pseudonymous codes only), rename it if it holds no "
                      "identifying data, or list it in privacy.allow_columns with a reason")


def refused(file: str, column: str, kind: str, mapped_to: str = "") -> Problem:
    """The problem of a column that looks identifying: `kind` of identifier (`alliance.ingest.identifiers`),
    found by its name mapped to the contract column `mapped_to` (by `data.columns`) when given."""
    if mapped_to:
        message = Message("looks like {kind} by its name (mapped to {column}); identifying data are refused",
                          kind=Message(kind), column=mapped_to)
    else:
        message = Message("looks like {kind}; identifying data are refused", kind=Message(kind))
    return Problem.told(file, column, message, REFUSED_FIX)


@dataclass
class Validated:
    """The three typed tables and a summary of what validation saw."""

    patients: pd.DataFrame
    sessions: pd.DataFrame
    outcomes: pd.DataFrame
    summary: dict


def contract_columns(
    table: str, alliance: Instrument, satisfaction: Instrument, *, therapist: Instrument | None = None
) -> dict[str, str]:
    """Contract columns of a table with their kinds: item columns and pre-scored alliance included."""
    if table == "patients":
        return dict(PATIENT_COLUMNS)
    if table == "sessions":
        items = alliance.item_columns + (therapist.item_columns if therapist else [])
        return SESSION_COLUMNS | dict.fromkeys(items + prescored_columns(alliance), "number")
    return OUTCOME_COLUMNS | dict.fromkeys(satisfaction.item_columns, "number")



def _rows(mask: pd.Series, df: pd.DataFrame) -> tuple[list[int], list[str], int]:
    index = np.flatnonzero(mask.to_numpy())
    listed = index[:MAX_LISTED_ROWS]
    keys = (
        [str(df[KEY].iloc[i]) if pd.notna(df[KEY].iloc[i]) else "" for i in listed]
        if KEY in df.columns
        else [""] * len(listed)
    )
    return [int(i) + 1 for i in listed], keys, len(index)


def _parse_bool(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Booleans from 1/0, true/false, yes/no (any case); returns the parsed values and a bad-value mask."""
    text = values.astype(ARROW_STRING).str.strip().str.lower().str.normalize("NFC")
    parsed = pd.Series(pd.NA, index=values.index, dtype="boolean")
    parsed[text.isin(TRUE_WORDS).fillna(False)] = True
    parsed[text.isin(FALSE_WORDS).fillna(False)] = False
    bad = values.notna() & parsed.isna()
    return parsed, bad


def _coerce(
    df: pd.DataFrame, columns: dict[str, str], file: str, problems: list[Problem],
    reported: set[tuple[str, int]],
) -> pd.DataFrame:
    """Type the contract columns; values that cannot be typed become problems (and `reported` cells)."""
    out = pd.DataFrame(index=df.index)
    for column, kind in columns.items():
        if column not in df.columns:
            out[column] = pd.Series(np.nan if kind in ("number", "integer") else pd.NA,
                                    index=df.index, dtype=_dtype(kind))
            continue
        raw = df[column]
        typed = _already_typed(raw, kind)
        if typed is not None:
            out[column] = typed
            continue
        text = raw.astype(ARROW_STRING).str.strip()  # Arrow strings: vectorised string functions
        if kind in ("id", "text"):
            out[column] = text.mask(text == "").astype("string")
            continue
        if kind == "bool":
            parsed, bad = _parse_bool(raw)
            fix = Message("use 1/0, true/false or yes/no; for tick boxes (x, or an empty cell for no) set "
                          "data.boolean_x: true")
        else:
            parsed = _to_float(text)
            bad = (text != "").fillna(False) & parsed.isna()
            fix = Message("use plain numbers with a decimal point; leave a cell empty when it is missing")
        if bad.any():
            rows, keys, n = _rows(bad, df)
            examples = quoted_examples(raw[bad].astype(str).unique())
            what = (Plural("{n} value that is not a boolean (e.g. {examples})",
                           "{n} values that are not booleans (e.g. {examples})", n=n, examples=examples)
                    if kind == "bool" else
                    Plural("{n} value that is not a number (e.g. {examples})",
                           "{n} values that are not numbers (e.g. {examples})", n=n, examples=examples))
            problems.append(Problem.told(file, column, what, fix, rows, keys, n))
            reported.update((column, int(i)) for i in np.flatnonzero(bad.to_numpy()))
        out[column] = parsed.astype(_dtype(kind)) if kind != "integer" else parsed.astype(float)
    return out


NUMBER_DTYPES = ("float64", "Float64", "int64", "Int64")  # exact in float64, as through their text


def _already_typed(raw: pd.Series, kind: str) -> pd.Series | None:
    """A number or boolean column that arrives typed (the simulation study's generated tables; files are
    read as text) as `_coerce` would type it, or None to go through text. Float64 and 64-bit integer
    values are the numbers their shortest text gives back; booleans and 0/1 integers the booleans their
    text ("True", "1", ...) parses to. Such columns hold nothing to report."""
    dtype = str(raw.dtype)
    if kind in ("number", "integer") and dtype in NUMBER_DTYPES:
        return raw.astype(float)
    if kind == "bool" and (dtype in ("bool", "boolean")
                           or (dtype in NUMBER_DTYPES[2:] and raw.dropna().isin((0, 1)).all())):
        return raw.astype("boolean")
    return None


def _to_float(text: pd.Series) -> pd.Series:
    """Numbers from stripped text, empty text missing; text that is not a number becomes NaN. Arrow's cast
    parses a million values in a tenth of a second; when any value is not a number, pandas finds which."""
    values = pyarrow.array(text.array)
    values = pc.if_else(pc.equal(values, ""), pyarrow.scalar(None, pyarrow.string()), values)
    try:
        return pd.Series(pc.cast(values, pyarrow.float64()).to_numpy(zero_copy_only=False), index=text.index)
    except pyarrow.ArrowInvalid:
        return pd.to_numeric(text, errors="coerce").astype(float)


def _dtype(kind: str) -> str:
    return {"id": "string", "text": "string", "bool": "boolean"}.get(kind, "float64")


def _schema(
    table: str, alliance: Instrument, satisfaction: Instrument, therapist: Instrument | None
) -> pa.DataFrameSchema:
    whole = pa.Check(lambda s: (s % 1 == 0) | s.isna(), name="whole_number")
    finite = pa.Check(lambda s: np.isfinite(s) | s.isna(), name="finite")
    columns = {
        "patients": {
            "patient_id": pa.Column("string", nullable=False, unique=True),
            "therapist_id": pa.Column("string", nullable=False),
            "discipline": pa.Column("string", pa.Check.isin(DISCIPLINES), nullable=True),
            "sessions_planned": pa.Column(float, [pa.Check.ge(1), whole], nullable=False),
        },
        "sessions": {
            "patient_id": pa.Column("string", nullable=False),
            "session": pa.Column(float, [pa.Check.ge(1), whole], nullable=False),
            "attended": pa.Column("boolean", nullable=False),
            "home_practice": pa.Column(float, pa.Check.in_range(0, 1), nullable=True),
            "symptoms": pa.Column(float, finite, nullable=True),
            **_item_columns(alliance, whole),
            **(_item_columns(therapist, whole) if therapist else {}),
            **{f"alliance_{name}": pa.Column(float, pa.Check.in_range(*alliance.subscale_range(name)),
                                             nullable=True) for name in alliance.subscales},
            "alliance_total": pa.Column(float, pa.Check.in_range(*alliance.score_range), nullable=True),
        },
        "outcomes": {
            "patient_id": pa.Column("string", nullable=False, unique=True),
            "dropout": pa.Column("boolean", nullable=False),
            "satisfaction": pa.Column(
                float, pa.Check.in_range(*satisfaction.score_range), nullable=True
            ),
            **_item_columns(satisfaction, whole),
        },
    }[table]
    unique = ["patient_id", "session"] if table == "sessions" else None
    return pa.DataFrameSchema(columns, unique=unique, strict=False)


# An age, not a band: a number, with or without a unit ("34", "34.5", "34 años", "34 years", "34a").
AN_AGE = r"\d+(?:[.,]\d+)?\s*(?:years?|yrs?|y|años|anys|ans|a)?\.?"


def _ignore_missed_answers(sessions: pd.DataFrame, alliance: Instrument,
                           therapist: Instrument | None) -> dict[str, int]:
    """Blank, in place, the questionnaire answers (the alliance's items and pre-scored scores, the therapist
    form's items) of the sessions marked not attended: they are ignored (docs/data-contract.md), so they
    are neither scored nor range-checked (an export that codes a form not filled in as 9 or 0 had been
    refused for them). Returns, per form ("alliance", "therapist"), the sessions whose answers were so
    ignored, which the report's missing-data table counts."""
    forms = {"alliance": [*alliance.item_columns, *prescored_columns(alliance)],
             "therapist": list(therapist.item_columns) if therapist else []}
    if "attended" not in sessions:
        return dict.fromkeys(forms, 0)
    missed = sessions["attended"].eq(False).fillna(False).to_numpy(dtype=bool)
    counts = {}
    for form, columns in forms.items():
        present = [c for c in columns if c in sessions]
        answered = sessions[present].notna().any(axis=1).to_numpy(dtype=bool) if present else missed & False
        counts[form] = int((missed & answered).sum())
        if present and counts[form]:
            sessions.loc[missed, present] = np.nan
    return counts


def _item_columns(instrument: Instrument, whole: pa.Check) -> dict[str, pa.Column]:
    checks = [pa.Check.in_range(instrument.minimum, instrument.maximum)]
    if instrument.integer:
        checks.append(whole)
    return {c: pa.Column(float, checks, nullable=True) for c in instrument.item_columns}


FIXES = {
    "not_nullable": Message("fill in every row; this column is required"),
    "field_uniqueness": Message("each value may appear once; remove or merge the duplicate rows"),
    "multiple_fields_uniqueness": Message("each (patient_id, session) pair may appear once; remove "
                                          "duplicates"),
    "isin": Message("use one of: {values}", values=DISCIPLINES),
    "greater_than_or_equal_to": Message("values must be at least 1"),
    "in_range": Message("values must lie in the instrument's range (coded by option value)"),
    "whole_number": Message("use whole numbers (item answers and counts cannot have decimals)"),
    "finite": Message("use finite numbers (no inf or -inf); leave a cell empty when it is missing"),
}
OTHER_FIX = Message("correct the values")


def _score_fix(column: str, instrument: Instrument, low: float, high: float, items: int | None) -> Message:
    """The fix for a pre-scored column out of its range: the range, and how the instrument is scored
    here (a mean of item answers, with the number to divide a summed score by where there is one)."""
    name = Message(PUBLISHED_NAMES[instrument.key]) if instrument.key in PUBLISHED_NAMES else instrument.name
    words = dict(column=column, low=low, high=high, instrument=name)
    if instrument.score != "mean":
        return Message("a pre-scored {column} must lie in {low:g} to {high:g}, the sum of its items' "
                       "answers on {instrument}'s scale", **words)
    if items is None:
        return Message("a pre-scored {column} must lie in {low:g} to {high:g}: {instrument} is scored here "
                       "as the mean of item answers, not their sum", **words)
    return Message("a pre-scored {column} must lie in {low:g} to {high:g}: {instrument} is scored here as "
                   "the mean of item answers, not their sum (divide a summed score by its {items} items)",
                   items=items, **words)


def range_fixes(alliance: Instrument, satisfaction: Instrument) -> dict[str, Message]:
    """For each pre-scored column whose range the contract checks (the alliance's subscales and total, the
    satisfaction total), the fix that names its range and its scoring: a summed WAI-SR total (12-60) in
    `alliance_total` otherwise read only "values must lie in the instrument's range"."""
    fixes = {}
    for name, items in alliance.subscales.items():
        fixes[f"alliance_{name}"] = _score_fix(f"alliance_{name}", alliance, *alliance.subscale_range(name),
                                               len(items))
    sizes = {len(items) for items in alliance.subscales.values()}
    equal = alliance.total == "mean_of_subscales" and len(sizes) == 1
    fixes["alliance_total"] = _score_fix("alliance_total", alliance, *alliance.score_range,
                                         sum(len(items) for items in alliance.subscales.values()) if equal
                                         else None)
    fixes["satisfaction"] = _score_fix("satisfaction", satisfaction, *satisfaction.score_range, None)
    # a share, not a questionnaire's answer (the instrument's fix had been given for it)
    fixes["home_practice"] = Message("home_practice is the share of the home practice done, from 0 to 1 "
                                     "(3 of 4 exercises = 0.75); divide a percentage by 100")
    return fixes


def _check_schema(
    df: pd.DataFrame, schema: pa.DataFrameSchema, file: str, problems: list[Problem],
    reported: set[tuple[str, int]], fixes: Mapping[str, Message],
) -> None:
    """Range, set, uniqueness and completeness checks; cells already reported as untypeable are skipped.
    `fixes`: a column's own fix for a range check (`range_fixes`)."""
    try:
        schema.validate(df, lazy=True)
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases
        cases = cases[cases["index"].notna()] if cases["index"].notna().any() else cases
        cells = zip(cases["column"].astype(str), cases["index"].fillna(-1).astype(int), strict=True)
        seen = [cell in reported for cell in cells]
        cases = cases[~np.array(seen, dtype=bool)]
        for (column, check), group in cases.groupby(["column", "check"], sort=True, dropna=False):
            name = str(check).split("(")[0]
            mask = pd.Series(df.index.isin(group["index"].dropna().astype(int)), index=df.index)
            rows, keys, n = _rows(mask, df)
            failing = group["failure_case"]
            values = quoted_examples(failing.map(_as_written).unique())
            if name == "not_nullable":
                message = Plural("{n} row fails check {check} (empty cells)",
                                 "{n} rows fail check {check} (empty cells)", n=n or len(group),
                                 check=str(check))
            else:
                message = _failed_check(str(check), n or len(group), values)
            fix = fixes.get(str(column)) if name == "in_range" else None
            if str(column) == "session" and name == "greater_than_or_equal_to" and (
                    pd.to_numeric(failing, errors="coerce") == 0).any():
                fix = ZERO_BASED_FIX
            problems.append(Problem.told(file, str(column), message, fix or FIXES.get(name, OTHER_FIX), rows,
                                         keys, n))


ZERO_BASED_FIX = Message("number the sessions from 1 (the first session is 1): an export that numbers them "
                         "from 0 needs 1 added to every session number")
CHECK_ARGUMENTS = re.compile(r"-?\d+(?:\.\d+)?")


def _as_written(value: object) -> str:
    """A failing value as a file would hold it: a whole number without ".0" (pandas reads 0 as 0.0)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _failed_check(check: str, n: int, examples: str) -> Plural:
    """`n` rows failing a pandera check (`in_range(1.0, 4.0)`, `greater_than_or_equal_to(1)`, ...), in
    words; a check without words here by its name."""
    name, _, arguments = check.partition("(")
    numbers = [float(x) for x in CHECK_ARGUMENTS.findall(arguments)]
    if name == "in_range" and len(numbers) == 2:
        return Plural("{n} row has a value outside {low:g} to {high:g} (e.g. {examples})",
                      "{n} rows have values outside {low:g} to {high:g} (e.g. {examples})", n=n,
                      low=numbers[0], high=numbers[1], examples=examples)
    if name == "greater_than_or_equal_to" and len(numbers) == 1:
        return Plural("{n} row has a value below {minimum:g} (e.g. {examples})",
                      "{n} rows have values below {minimum:g} (e.g. {examples})", n=n, minimum=numbers[0],
                      examples=examples)
    if name == "isin":
        return Plural("{n} row has a value that is not allowed (e.g. {examples})",
                      "{n} rows have values that are not allowed (e.g. {examples})", n=n, examples=examples)
    if name == "whole_number":
        return Plural("{n} row has a value that is not a whole number (e.g. {examples})",
                      "{n} rows have values that are not whole numbers (e.g. {examples})", n=n,
                      examples=examples)
    return Plural("{n} row fails check {check} (e.g. {examples})", "{n} rows fail check {check} (e.g. "
                  "{examples})", n=n, check=check, examples=examples)


def code_form(codes: pd.Series) -> pd.Series:
    """Codes as compared for a hint only (never to match rows): lower case, without spaces, hyphens, dots,
    underscores or leading zeros ("P-0012 " and "p12" alike)."""
    return codes.astype(str).str.casefold().str.replace(r"[\s\-_.]", "", regex=True).str.replace(
        r"(?<![0-9])0+(?=[0-9])", "", regex=True)


def validate_tables(
    raw: dict[str, pd.DataFrame],
    files: dict[str, str],
    alliance: Instrument,
    *,
    satisfaction: Instrument,
    therapist: Instrument | None = None,
    allow_columns: Mapping[str, Collection[str]] | None = None,
    checks: bool = True,
) -> Validated:
    """Check the three raw tables against the contract and return them typed.

    Every problem in every table is collected before a single `ValidationError` is raised. Columns
    outside the contract are dropped (and listed in the summary); identifying columns are refused unless
    `allow_columns` (table -> column names, the config's `privacy.allow_columns`) lists them.
    `therapist` is an optional therapist-rated alliance instrument whose items are also in `sessions`.
    Without `checks`, the identifying-data scan and the schema's range, set, uniqueness and completeness
    checks are skipped: for tables that cannot fail them (the simulation study's, from the synthetic
    generator, whose cohorts pass them by construction); the typed tables are the same.
    """
    problems: list[Problem] = []
    typed: dict[str, pd.DataFrame] = {}
    summary: dict = {"tables": {}}
    keys_hidden: set[str] = set()  # files whose patient_id looks identifying: rows are listed without it
    fixes = range_fixes(alliance, satisfaction)
    for table in TABLES:
        df, file = raw[table].reset_index(drop=True), files[table]
        columns = contract_columns(table, alliance, satisfaction, therapist=therapist)
        allowed = (allow_columns or {}).get(table, ())
        for column, kind in find_identifiers(df, id_columns=("patient_id", "therapist_id"),
                                             allowed=allowed) if checks else ():
            keys_hidden.update([file] if column == KEY else [])
            problems.append(refused(file, column, kind))
        duplicated = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
        if duplicated:
            problems.extend(Problem.told(file, column, Message("the column name appears more than once"),
                                         Message("give every column a distinct name"))
                            for column in duplicated)
            continue
        for column in REQUIRED[table]:
            if column not in df.columns:
                problems.append(Problem.told(
                    file, column, Message("required column is missing"),
                    Message("add the column; {table} needs {columns}", table=table, columns=REQUIRED[table]),
                ))
        if any(p.file == file and p.message.startswith("required") for p in problems):
            continue
        rated = therapist.item_columns if therapist is not None and table == "sessions" else []
        if rated and not set(rated) & set(df.columns):
            # configured but absent: the report had said "no questionnaire was answered by item"
            problems.append(Problem.told(
                file, rated[0],
                Message("instruments.alliance_therapist is set ({key}), but the table has none of its item "
                        "columns ({first} to {last})", key=therapist.key, first=rated[0], last=rated[-1]),
                Message("add the therapists' ratings as those columns, or remove "
                        "instruments.alliance_therapist from the configuration")))
        reported: set[tuple[str, int]] = set()
        typed[table] = _coerce(df, columns, file, problems, reported)
        ignored = _ignore_missed_answers(typed[table], alliance, therapist) if table == "sessions" else None
        if checks:
            _check_schema(typed[table], _schema(table, alliance, satisfaction, therapist), file, problems,
                          reported, fixes)
        summary["tables"][table] = {
            "file": file,
            "rows": len(df),
            "ignored_columns": sorted(str(c) for c in df.columns if c not in columns),
            "absent_optional_columns": sorted(c for c in columns if c not in df.columns),
        } | ({"answers_on_missed_sessions_ignored": ignored} if ignored is not None else {})
    if "patients" in typed and "age_band" in typed["patients"]:
        ages = typed["patients"]["age_band"].astype("string").str.strip()
        exact = ages.str.lower().str.fullmatch(AN_AGE).fillna(False).astype(bool)
        if exact.any():  # an exact age is a finer quasi-identifier than the contract allows
            rows, keys, n = _rows(exact, typed["patients"])
            problems.append(Problem.told(
                files["patients"], "age_band",
                Plural("{n} row gives an age, not an age band", "{n} rows give an age, not an age band", n=n),
                Message("write the band the age falls in (e.g. 30-39), as the clinic groups ages; an exact "
                        "age identifies more than a band"), rows, keys, n))
    if "patients" in typed:
        known = set(typed["patients"]["patient_id"].dropna())
        alike = set(code_form(typed["patients"]["patient_id"].dropna()))
        for table in ("sessions", "outcomes"):
            if table in typed:
                unknown = typed[table]["patient_id"].notna() & ~typed[table]["patient_id"].isin(known)
                if unknown.any():
                    rows, keys, n = _rows(unknown, typed[table])
                    written = code_form(typed[table].loc[unknown, "patient_id"]).isin(alike).all()
                    problems.append(Problem.told(
                        files[table], "patient_id",
                        Plural("{n} row names a patient not in {file}",
                               "{n} rows name a patient not in {file}", n=n, file=files["patients"]),
                        Message("each of these codes is a patient of {file} written another way (upper or "
                                "lower case, spaces, hyphens or leading zeros): write the codes the same way "
                                "in every table", file=files["patients"]) if written else
                        Message("add the patient to the patients table or remove these rows"), rows, keys, n,
                    ))
    for problem in problems:
        if problem.file in keys_hidden:
            problem.keys = [""] * len(problem.rows)
    if problems:
        raise ValidationError(problems)
    for table in TABLES:
        for column, kind in contract_columns(table, alliance, satisfaction, therapist=therapist).items():
            if kind == "integer":
                typed[table][column] = typed[table][column].astype("int64")
    patients = typed["patients"]
    no_outcome = ~patients["patient_id"].isin(typed["outcomes"]["patient_id"])
    summary["patients_without_outcome"] = int(no_outcome.sum())
    summary["patients_without_sessions"] = int(
        (~patients["patient_id"].isin(typed["sessions"]["patient_id"])).sum()
    )
    return Validated(
        typed["patients"].reset_index(drop=True),
        typed["sessions"].sort_values(["patient_id", "session"], kind="stable").reset_index(drop=True),
        typed["outcomes"].reset_index(drop=True),
        summary,
    )
