"""Readers for real-world exports: CSV/TSV in any common dialect, Excel sheets, Parquet and REDCap.

Every reader returns the table as *text* (one Python `str` per cell, `None` when empty), with a header row
whose names are stripped of spaces; typing is the job of `alliance.ingest.contract`. What was detected
(format, encoding, delimiter, decimal comma, sheet) is returned in `ReadResult.info` so that the
validation summary can say it; what of it is words (the format, the encoding, the delimiter) is kept as
`alliance.i18n.Message`s too (`ReadResult.info_messages`), which the validation report writes in its
language. Settings come from the config's `data:` block (`ReadOptions.from_config`):

- `encoding`: `auto` (UTF-8, a byte-order mark stripped; UTF-16 when it starts with its byte-order mark;
  else Windows-1252 when the file uses its extra characters, else Latin-1) or any Python codec name;
- `delimiter`: `auto` (the one of `,` `;` tab `|` that splits the header into most columns and the rows
  consistently; an Excel `sep=;` first line is honoured) or one of them;
- `decimal`: `auto` (a column whose every value is a whole number or a number with a decimal comma is
  converted to a decimal point), `.` (never convert) or `,` (every `1.234,5` / `3,5` value is converted);
- `boolean_x`: `true` reads `x` as true and an empty cell as false in the boolean columns (`attended`,
  `dropout`), as in tick-box exports;
- `sheets`: Excel sheet per table, by name or 0-based position (default: the first sheet);
- `columns`: the column map, clinic name -> contract name, `all:` for every table and one map per table
  (`patients:`, `sessions:`, `outcomes:`), applied right after reading; names match exactly or, failing
  that, ignoring case, accents and repeated spaces;
- `values`: a value map per contract column, value in the export -> contract value (e.g.
  `discipline: {Psicoterapia: psychotherapy}`), applied after the column map, matched like column names;
- `redcap`: a REDCap long export (one row per record and event) turned into the three tables
  (`read_redcap`; docs/data-contract.md documents the mapping).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
import unicodedata
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path

import numpy as np
import pandas as pd

from alliance.configuration import data_problems
from alliance.errors import WHOLE_FILE, ConfigError, InputError
from alliance.i18n import N_, Message, Plural, Term
from alliance.ingest.contract import OUTCOME_COLUMNS, PATIENT_COLUMNS, REQUIRED, SESSION_COLUMNS, TABLES
from alliance.ingest.identifiers import redact_text

TEXT_FORMATS = (".csv", ".tsv", ".tab", ".txt")
EXCEL_FORMATS = (".xlsx", ".xlsm")
READERS = (*TEXT_FORMATS, ".parquet", *EXCEL_FORMATS)
DELIMITERS = {",": ",", ";": ";", "\t": "\t", "tab": "\t", "|": "|"}
# Translators: a text file's encoding guessed because the file is not UTF-8 ("latin-1 (detected: ...)").
UNDETECTED_UTF8 = N_("{encoding} (detected: not valid UTF-8)")
DELIMITER_NAMES = {",": Term("delimiter", "comma"), ";": Term("delimiter", "semicolon"),
                   "\t": Term("delimiter", "tab"), "|": Term("delimiter", "pipe")}
NA_VALUES = frozenset({"", "na", "n/a", "nan", "null", ".", "#n/a"})
BOOL_COLUMNS = {
    "patients": [c for c, k in PATIENT_COLUMNS.items() if k == "bool"],
    "sessions": [c for c, k in SESSION_COLUMNS.items() if k == "bool"],
    "outcomes": [c for c, k in OUTCOME_COLUMNS.items() if k == "bool"],
}
X_TRUE = frozenset({"x", "✓", "✔"})
AUTO_DECIMAL = re.compile(r"^[+-]?\d+(?:,\d+)?$")
COMMA_DECIMAL = re.compile(r"^[+-]?(?:\d{1,3}(?:\.\d{3})+|\d*),\d+$")
SNIFF_CHARS = 65536
SNIFF_ROWS = 200
MAX_LISTED_ROWS = 5
REDCAP_EVENT = "redcap_event_name"
REDCAP_REPEAT_INSTRUMENT = "redcap_repeat_instrument"
REDCAP_REPEAT_INSTANCE = "redcap_repeat_instance"
REDCAP_SYSTEM = (REDCAP_EVENT, REDCAP_REPEAT_INSTRUMENT, REDCAP_REPEAT_INSTANCE)


@dataclass(frozen=True)
class RedcapOptions:
    """How a REDCap long export becomes the three tables (config `data.redcap`)."""

    file: str = ""
    record_id: str = "record_id"
    patients_events: tuple[str, ...] = ()
    outcomes_events: tuple[str, ...] = ()
    session_events: str = ""
    session_instrument: str = ""


@dataclass(frozen=True)
class ReadOptions:
    """Reader settings (config `data:`); defaults detect everything that can be detected safely."""

    encoding: str = "auto"
    delimiter: str = "auto"
    decimal: str = "auto"
    boolean_x: bool = False
    sheets: Mapping[str, str | int] = field(default_factory=dict)
    columns: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    values: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    redcap: RedcapOptions = field(default_factory=RedcapOptions)

    @classmethod
    def from_config(cls, data: Mapping) -> ReadOptions:
        """Options from the config's `data` block; impossible values raise `ConfigError`."""
        problems = data_problems(data)
        if problems:
            raise ConfigError("\n".join(problems.values()))
        encoding = str(data.get("encoding", "auto") or "auto")
        delimiter = str(data.get("delimiter", "auto"))
        if delimiter != "auto" and delimiter not in DELIMITERS:
            raise ConfigError(f"data.delimiter: '{delimiter}' is not one of auto, ',', ';', tab, '|'.")
        decimal = str(data.get("decimal", "auto"))
        if decimal not in ("auto", ".", ","):
            raise ConfigError(f"data.decimal: '{decimal}' is not one of auto, '.', ','.")
        columns = dict(data.get("columns") or {})
        flat = {k: v for k, v in columns.items() if k not in ("all", *TABLES) and isinstance(v, str)}
        if flat:  # the flat form {name in the export: contract name} is the map of every table
            columns = {k: v for k, v in columns.items() if k not in flat} | {"all": flat}
        values = data.get("values") or {}
        sheets = data.get("sheets") or {}
        redcap = dict(data.get("redcap") or {})
        for key in ("patients_events", "outcomes_events"):
            redcap[key] = tuple(str(e) for e in redcap.get(key) or ())
        unknown = set(redcap) - set(RedcapOptions.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"data.redcap: unknown {'key' if len(unknown) == 1 else 'keys'} "
                              f"{', '.join(sorted(unknown))}.")
        return cls(encoding=encoding, delimiter=delimiter, decimal=decimal,
                   boolean_x=bool(data.get("boolean_x", False)), sheets=dict(sheets),
                   columns={k: dict(v) for k, v in columns.items()},
                   values={str(k): {str(a): str(b) for a, b in v.items()} for k, v in values.items()},
                   redcap=RedcapOptions(**{k: v for k, v in redcap.items() if v is not None}))


@dataclass
class ReadResult:
    """A table as text, what the reader detected (`info`), and each row's data row in the file; the entries
    of `info` that are words also as `Message`s (`info_messages`), each `info`'s text in English."""

    frame: pd.DataFrame
    info: dict
    source_rows: list[int]
    info_messages: dict[str, Message] = field(default_factory=dict)

    @classmethod
    def told(cls, frame: pd.DataFrame, info: dict, source_rows: list[int]) -> ReadResult:
        """A result from `info` whose words are `Message`s: kept as `info_messages`, their English in
        `info`."""
        messages = {key: value for key, value in info.items() if isinstance(value, Message)}
        return cls(frame, info | {key: str(value) for key, value in messages.items()}, source_rows, messages)


@dataclass
class Inputs:
    """The three tables as read (or the errors that prevented reading them)."""

    raw: dict[str, pd.DataFrame]
    files: dict[str, str]
    paths: dict[str, str]
    results: dict[str, ReadResult]
    errors: list[InputError]


# ---- Low-level: bytes to text, text to rows ------------------------------------------------------------

def decode(raw: bytes, setting: str = "auto", file: str = "") -> tuple[str, str | Message]:
    """Text of a file and the name of the encoding used, a `Message` when it says how it was chosen (see
    the module docstring for `auto`)."""
    if setting == "auto":
        if raw.startswith(codecs.BOM_UTF8):
            return (_decode(raw[len(codecs.BOM_UTF8):], "utf-8", file),
                    Message("{encoding} with byte-order mark", encoding="utf-8"))
        if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return _decode(raw, "utf-16", file), "utf-16"
        try:
            return raw.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            pass
        if any(0x80 <= b <= 0x9F for b in raw):
            try:
                return raw.decode("cp1252"), Message(UNDETECTED_UTF8, encoding="windows-1252")
            except UnicodeDecodeError:
                pass
        return raw.decode("latin-1"), Message(UNDETECTED_UTF8, encoding="latin-1")
    text = _decode(raw, setting, file)
    return text.removeprefix("\ufeff"), codecs.lookup(setting).name


def _decode(raw: bytes, encoding: str, file: str) -> str:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as err:
        raise InputError(
            Message("not valid {encoding} text (at byte {byte}). Set data.encoding to auto, or to the "
                    "encoding the file was saved in (utf-8, latin-1, windows-1252).",
                    encoding=encoding, byte=err.start + 1),
            file=file, fix=Message("set data.encoding (auto detects UTF-8, UTF-16 with BOM and Latin-1)"),
        ) from err


def sniff_delimiter(text: str, default: str = ",") -> str:
    """The delimiter among `,` `;` tab `|` that splits the header into the most columns with rows of the
    same width (at least 90% of the sampled rows); `default` for a one-column file."""
    sample = text[:SNIFF_CHARS]
    truncated = len(text) > SNIFF_CHARS
    best, best_score = default, None
    for delimiter in (",", ";", "\t", "|"):
        try:
            rows = [r for r in islice(csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter),
                                      SNIFF_ROWS) if any(c.strip() for c in r)]
        except csv.Error:
            continue
        if truncated and len(rows) > 2:
            rows = rows[:-1]
        if not rows or len(rows[0]) < 2:
            continue
        width, body = len(rows[0]), rows[1:]
        consistent = sum(len(r) == width or (len(r) > width and not any(c.strip() for c in r[width:]))
                         for r in body) / len(body) if body else 1.0
        score = (consistent >= 0.9, width, consistent)
        if best_score is None or score > best_score:
            best, best_score = delimiter, score
    return best


def _cell(value: object) -> str | None:
    text = str(value).strip()
    return None if text.lower() in NA_VALUES else text


def _clean(values: pd.Series) -> pd.Series:
    """Cells as stripped text, `None` for an empty cell or a missing-value word (`NA_VALUES`)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)  # each distinct value cleaned once
    cleaned = np.array([_cell(u) for u in uniques] + [None], dtype=object)
    return pd.Series(cleaned[codes], index=values.index, dtype=object)


def _parse(text: str, delimiter: str, file: str) -> pd.DataFrame:
    """Every record of a delimited text as a frame of text (columns 0..n-1, ragged rows padded).

    pandas' C parser reads well-formed files fast; a file it refuses (rows wider than the first) is read
    again with the csv module so that the rows at fault can be named.
    """
    if "\x00" in text:
        raise InputError(
            Message("the text contains NUL characters (a binary file, or UTF-16 without a byte-order "
                    "mark). Save it as CSV in UTF-8."), file=file, column=WHOLE_FILE,
            fix=Message("save the export as CSV (UTF-8)"))
    try:
        return pd.read_csv(io.StringIO(text), sep=delimiter, header=None, dtype=str, na_filter=False,
                           skip_blank_lines=False, engine="c", quotechar='"', doublequote=True)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except (pd.errors.ParserError, ValueError, OverflowError, csv.Error):
        pass
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    try:
        rows = list(reader)
    except csv.Error as err:
        raise InputError(
            Message("not readable as delimited text near line {line} ({error}). Check the quotes and the "
                    "delimiter (data.delimiter).", line=reader.line_num, error=redact_text(str(err))),
            file=file, column=WHOLE_FILE, fix=Message("check the quotes and data.delimiter")) from err
    return pd.DataFrame(rows, dtype=object)


def _split_header(records: pd.DataFrame, file: str) -> tuple[list, pd.DataFrame]:
    """The first record with a non-empty cell is the header; the records after it are the data rows."""
    if records.empty:
        raise InputError(Message("the file has no header row."), file=file, column=WHOLE_FILE,
                         fix=Message("export the table with a header row"))
    cleaned = pd.DataFrame({i: _clean(records.iloc[:, i]) for i in range(records.shape[1])})
    filled = np.flatnonzero(cleaned.notna().any(axis=1).to_numpy())
    if not len(filled):
        raise InputError(Message("the file has no header row."), file=file, column=WHOLE_FILE,
                         fix=Message("export the table with a header row"))
    first = int(filled[0])
    header = ["" if v is None else v for v in cleaned.iloc[first].tolist()]
    while header and header[-1] == "":  # the header ends at its last name (rows are padded to the widest)
        header.pop()
    return header, cleaned.iloc[first + 1:].reset_index(drop=True)


# ---- Building a text table -------------------------------------------------------------------------------

def _build(header: list, body: pd.DataFrame, file: str) -> tuple[pd.DataFrame, list[int]]:
    """A text frame from a header and the data rows (cleaned text): empty rows dropped, short rows
    padded, unnamed empty columns dropped; over-long rows and duplicate names are input errors."""
    names = [str(h).replace("\ufeff", "").strip() if h is not None else "" for h in header]
    width, wide = len(names), body.shape[1]
    if wide > width:
        extra = body.iloc[:, width:].notna().any(axis=1).to_numpy()
        too_long = [int(i) + 1 for i in np.flatnonzero(extra)]
        if too_long:
            listed = ", ".join(str(r) for r in too_long[:MAX_LISTED_ROWS])
            if len(too_long) > MAX_LISTED_ROWS:
                message = Message(  # more rows than are listed: always several
                    "{n} rows have more cells than the header has columns ({width}): rows {rows} and "
                    "{more} more (data rows, counting from 1 below the header). Check the delimiter "
                    "(data.delimiter), quotes around text with delimiters in it, and decimal commas.",
                    n=len(too_long), width=width, rows=listed, more=len(too_long) - MAX_LISTED_ROWS)
            else:
                message = Plural(
                    "{n} row has more cells than the header has columns ({width}): row {rows} (data rows, "
                    "counting from 1 below the header). Check the delimiter (data.delimiter), quotes around "
                    "text with delimiters in it, and decimal commas.",
                    "{n} rows have more cells than the header has columns ({width}): rows {rows} (data "
                    "rows, counting from 1 below the header). Check the delimiter (data.delimiter), quotes "
                    "around text with delimiters in it, and decimal commas.",
                    n=len(too_long), width=width, rows=listed)
            raise InputError(message, file=file, column=WHOLE_FILE, rows=too_long[:MAX_LISTED_ROWS],
                             fix=Message("quote cells that contain the delimiter, or set data.delimiter"))
    frame = pd.DataFrame({i: (body.iloc[:, i] if i < wide else pd.Series(None, index=body.index,
                                                                         dtype=object))
                          for i in range(width)}, index=body.index, dtype=object)
    present = frame.notna().any(axis=1).to_numpy() if width else np.zeros(len(frame), dtype=bool)
    source = [int(i) + 1 for i in np.flatnonzero(present)]
    frame = frame[present]
    keep, final = [], []
    for i, name in enumerate(names):
        if name == "" and frame[i].isna().all():
            continue
        keep.append(i)
        final.append(name or f"unnamed_{i + 1}")
    frame = frame[keep]
    frame.columns = final
    duplicated = sorted({n for n in final if final.count(n) > 1})
    if duplicated:
        raise InputError(
            Plural("column name {names} appears more than once. Give every column a distinct name (or map "
                   "one of them with data.columns).",
                   "column names {names} appear more than once. Give every column a distinct name (or map "
                   "one of them with data.columns).",
                   n=len(duplicated), names=", ".join(repr(d) for d in duplicated)),
            file=file, column=", ".join(duplicated), fix=Message("give every column a distinct name"))
    if not final:
        raise InputError(Message("no header row. The first row must name the columns."), file=file,
                         column=WHOLE_FILE, fix=Message("add a header row"))
    return frame.reset_index(drop=True), source


@contextmanager
def _format_library(path: Path, file: str) -> Iterator[None]:
    """What the file system or a format library (openpyxl, pyarrow) raises while opening or reading a
    file, as an input error that names the file. It wraps those calls only: the package's own parsing
    raises its own input errors, and anything else it raises is a bug that must fail loudly. The
    libraries raise many types on a malformed file (a zip error, KeyError, ValueError, their own), so
    every exception of theirs is caught here."""
    try:
        yield
    except Exception as err:
        kind, error = path.suffix.lower().lstrip("."), f"{type(err).__name__}: {redact_text(str(err))[:300]}"
        raise InputError(
            Message("could not be read as {kind} ({error}). Re-export the table (CSV in UTF-8 with a header "
                    "row is the safest).", kind=kind, error=error),
            file=file, column=WHOLE_FILE, fix=Message("re-export the table with a header row")) from err


def _read_text(path: Path, options: ReadOptions, file: str) -> tuple[list, pd.DataFrame, dict]:
    with _format_library(path, file):
        raw = path.read_bytes()
    if not raw.strip():
        raise InputError(Message("the file is empty."), file=file, column=WHOLE_FILE,
                         fix=Message("export the table with a header row"))
    text, encoding = decode(raw, options.encoding, file)
    first_line = text.split("\n", 1)[0].strip().strip('"')
    if re.fullmatch(r"sep=.", first_line):  # Excel's delimiter hint line
        delimiter = first_line[-1]
        text = text.split("\n", 1)[1] if "\n" in text else ""
        # Translators: how a text file's delimiter was chosen ("semicolon (detected)").
        how = N_("{delimiter} (from the file's sep= line)")
    elif options.delimiter != "auto":
        delimiter, how = DELIMITERS[options.delimiter], N_("{delimiter} (set in data.delimiter)")
    else:
        default = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
        delimiter, how = sniff_delimiter(text, default), N_("{delimiter} (detected)")
    header, body = _split_header(_parse(text, delimiter, file), file)
    info = {"format": Term("file format", "text"), "encoding": encoding,
            "delimiter": Message(how, delimiter=DELIMITER_NAMES.get(delimiter, repr(delimiter)))}
    return header, body, info


def _cell_text(value: object) -> str | None:
    """One Excel or Parquet cell as text: whole floats without '.0', dates as ISO, booleans as words."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, float | np.floating):
        if np.isnan(value):
            return None
        number = float(value)
        return str(int(number)) if number.is_integer() and abs(number) < 1e15 else repr(number)
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, pd.Timestamp | dt.datetime):
        stamp = pd.Timestamp(value)
        return stamp.date().isoformat() if stamp == stamp.normalize() else stamp.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else str(pd.Timestamp(value).date())
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _read_excel(path: Path, sheet: str | int | None, file: str, table: str | None = None
                ) -> tuple[list, pd.DataFrame, dict]:
    """The sheet `sheet` of a workbook (the first by default); a problem names the setting to change,
    `data.sheets.<table>` (three tables may share one workbook)."""
    import openpyxl

    key = f"data.sheets.{table}" if table else "data.sheets"

    with _format_library(path, file):
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        names = workbook.sheetnames
        if sheet is None:
            name = names[0]
        elif isinstance(sheet, int) and not isinstance(sheet, bool):
            if not 0 <= sheet < len(names):
                raise InputError(Message("there is no sheet number {sheet} (0-based); the workbook has "
                                         "{count}: {names}.", sheet=sheet, count=len(names),
                                         names=", ".join(names)),
                                 file=file,
                                 fix=Message("set {key} to a sheet name or a position from 0", key=key))
            name = names[sheet]
        else:
            matches = [n for n in names if n == str(sheet)] or [
                n for n in names if _key(n) == _key(str(sheet))]
            if not matches:
                raise InputError(Message("no sheet named '{sheet}'; the workbook has: {names}.",
                                         sheet=str(sheet), names=", ".join(names)),
                                 file=file, column=WHOLE_FILE,
                                 fix=Message("set {key} to one of the workbook's sheet names", key=key))
            name = matches[0]
        with _format_library(path, file):
            values = list(workbook[name].iter_rows(values_only=True))
        rows = [[_cell_text(v) for v in row] for row in values]
    finally:
        workbook.close()
    if not any(c is not None and str(c).strip() for row in rows for c in row):
        raise InputError(Message("sheet '{sheet}' is empty.", sheet=name), file=file, column=WHOLE_FILE,
                         fix=Message("choose the sheet with the table in {key}", key=key))
    header, body = _split_header(pd.DataFrame(rows, dtype=object), file)
    return header, body, {"format": "excel", "sheet": name}


def _read_parquet(path: Path, file: str) -> tuple[list, pd.DataFrame, dict]:
    with _format_library(path, file):
        df = pd.read_parquet(path)
    body = pd.DataFrame({i: _clean(pd.Series([_cell_text(v) for v in df.iloc[:, i].astype(object).tolist()],
                                             dtype=object)) for i in range(df.shape[1])},
                        index=range(len(df)))
    return [str(c) for c in df.columns], body, {"format": "parquet"}


def convert_decimal_comma(frame: pd.DataFrame, setting: str = "auto") -> tuple[pd.DataFrame, list[str]]:
    """Decimal commas to points: `auto` converts a column whose every value is a whole number or uses a
    decimal comma (at least one), `,` converts every `3,5` or `1.234,5` value, `.` converts nothing.
    Returns the frame and the converted columns."""
    if setting == ".":
        return frame, []
    converted = []
    out = frame.copy()
    for i, name in enumerate(frame.columns):
        codes, uniques = pd.factorize(frame.iloc[:, i], use_na_sentinel=True)
        text = [str(u) for u in uniques]
        if setting == "auto":
            if not (any("," in v for v in text) and all(AUTO_DECIMAL.match(v) for v in text)):
                continue
            change = ["," in v for v in text]
        else:
            change = [bool(COMMA_DECIMAL.match(v)) for v in text]
            if not any(change):
                continue
        fixed = [v.replace(".", "").replace(",", ".") if c else v for v, c in zip(text, change, strict=True)]
        out.iloc[:, i] = np.array([*fixed, None], dtype=object)[codes]
        converted.append(str(name))
    return out, converted


# ---- Column map and booleans -----------------------------------------------------------------------------

def _key(name: str) -> str:
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"\s+", " ", text).strip().casefold()


def unmatched_names(present: list[str], mapping: Mapping[str, str]) -> list[str]:
    """The map's names that name no column of `present`: not exactly, nor once ignoring case, accents and
    repeated spaces (`apply_column_map`'s rule)."""
    keys = [_key(name) for name in present]
    return [str(s) for s in mapping if str(s) not in present and keys.count(_key(s)) != 1]


def apply_column_map(
    frame: pd.DataFrame, table: str, columns: Mapping[str, Mapping[str, str]], *, file: str = "",
) -> tuple[pd.DataFrame, dict[str, str], list[str]]:
    """Rename the export's columns to contract names (`all` map, then the table's own map).

    Returns the frame, {new name: name in the file} and the table's own map entries not found in the file.
    Two columns that would end up with the same name are an input error.
    """
    mapping = dict(columns.get("all") or {}) | dict(columns.get(table) or {})
    if not mapping:
        return frame, {}, []
    present = [str(c) for c in frame.columns]
    by_key: dict[str, list[str]] = {}
    for name in present:
        by_key.setdefault(_key(name), []).append(name)
    renames: dict[str, str] = {}
    for source, target in mapping.items():
        if str(source) in present:
            found = str(source)
        else:
            candidates = by_key.get(_key(source), [])
            if len(candidates) != 1:
                continue
            found = candidates[0]
        if found != target:
            renames[found] = str(target)
    unmatched = unmatched_names(present, columns.get(table) or {})
    final = [renames.get(c, c) for c in present]
    clashes = sorted({n for n in final if final.count(n) > 1})
    if clashes:
        raise InputError(
            Plural("after data.columns renames, the name {names} would be given to more than one column. "
                   "Map only one column to each contract name.",
                   "after data.columns renames, the names {names} would be given to more than one column. "
                   "Map only one column to each contract name.",
                   n=len(clashes), names=", ".join(repr(c) for c in clashes)),
            file=file, column=", ".join(clashes),
            fix=Message("change data.columns so each name is used once"))
    return frame.rename(columns=renames), {new: old for old, new in renames.items()}, unmatched


def recode_values(
    frame: pd.DataFrame, values: Mapping[str, Mapping[str, str]],
) -> tuple[pd.DataFrame, list[str]]:
    """Replace export values by contract values in the mapped columns (exact match, else ignoring case,
    accents and repeated spaces). Returns the frame and the columns recoded."""
    out, recoded = frame, []
    for column, mapping in values.items():
        if column not in frame.columns or not mapping:
            continue
        lookup = {_key(a): b for a, b in mapping.items()}
        text = frame[column]
        new = text.map(lambda v, m=mapping, k=lookup: v if v is None else m.get(v, k.get(_key(v), v)))
        if out is frame:
            out = frame.copy()
        out[column] = new.astype(object)
        recoded.append(column)
    return out, recoded


def tick_box_booleans(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """`x` (or a tick) as true and an empty cell as false in the table's boolean contract columns."""
    out = frame.copy()
    for column in BOOL_COLUMNS.get(table, []):
        if column in out.columns:
            text = out[column].astype("string").str.strip().str.lower()
            out[column] = np.where(text.isna(), "false",
                                   np.where(text.isin(X_TRUE).fillna(False), "true", out[column]))
            out[column] = out[column].astype(object)
    return out


# ---- Public readers --------------------------------------------------------------------------------------

def read_table(path: str | Path) -> pd.DataFrame:
    """Read a contract table with the default reader settings (format by extension, delimiter, encoding and
    decimal comma detected); every column is text, typing is validation's job."""
    return read_export(path, options=ReadOptions()).frame


def read_export(
    path: str | Path, table: str | None = None, options: ReadOptions | None = None,
) -> ReadResult:
    """Read one export as text: format by extension, then (with `table`) the column map and tick boxes.

    Raises `InputError` (never a parser's own exception) when the file cannot be read.
    """
    options = options or ReadOptions()
    path = Path(path)
    file = str(path)
    suffix = path.suffix.lower()
    if suffix not in READERS:
        raise InputError(Message("unsupported file type '{suffix}'. Use one of {formats}.", suffix=suffix,
                                 formats=READERS),
                         file=file, column=WHOLE_FILE,
                         fix=Message("save the table as {formats}", formats=READERS))
    if not path.is_file():
        raise InputError(Message("file not found. Check the data.* paths in your config."), file=file,
                         column=WHOLE_FILE, fix=Message("check the data.* paths in your config"))
    if suffix in TEXT_FORMATS:
        header, rows, info = _read_text(path, options, file)
    elif suffix == ".parquet":
        header, rows, info = _read_parquet(path, file)
    else:
        header, rows, info = _read_excel(path, options.sheets.get(table) if table else None, file, table)
    frame, source = _build(header, rows, file)
    frame, converted = convert_decimal_comma(frame, options.decimal)
    info |= {"path": file, "rows": len(frame), "columns": len(frame.columns),
             "decimal_comma_columns": converted}
    if table is not None:
        unmatched_all = unmatched_names([str(c) for c in frame.columns], options.columns.get("all") or {})
        frame, renamed, unmatched = apply_column_map(frame, table, options.columns, file=file)
        frame, recoded = recode_values(frame, options.values)
        if options.boolean_x:
            frame = tick_box_booleans(frame, table)
        info |= {"renamed": renamed, "unmatched_column_map": unmatched, "unmatched_all_map": unmatched_all,
                 "recoded_columns": recoded}
    return ReadResult.told(frame, info, source)


def read_redcap(path: str | Path, options: ReadOptions) -> dict[str, ReadResult]:
    """The three contract tables from a REDCap long export (one row per record and event).

    - patients: the non-repeating rows of `patients_events` (when empty: every non-repeating row that is
      not a session row), one per record (the first non-empty value of each field; two different values
      for a record are an input error);
    - outcomes: the same with `outcomes_events`;
    - sessions: the rows of the repeating instrument `session_instrument` (session = repeat instance), or
      the non-repeating rows whose event name matches the regular expression `session_events` (session =
      its first group, e.g. `session_(\\d+)_arm_1`); a field mapped to `session` takes precedence;
    - `record_id` becomes `patient_id`; REDCap's event and repeat columns and the `<form>_complete`
      status columns are dropped, and so is every other field that is empty in all of a table's rows.
    """
    settings = options.redcap
    whole = read_export(path, None, replace(options, columns={}))
    df, file = whole.frame, str(path)
    rid = settings.record_id
    if rid not in df.columns:
        raise InputError(Message("no column '{column}' (the record ID). Set data.redcap.record_id to the "
                                 "name of your project's record ID field.", column=rid),
                         file=file, column=rid, fix=Message("set data.redcap.record_id"))
    missing_id = df[rid].isna()
    if missing_id.any():
        rows = [whole.source_rows[i] for i in np.flatnonzero(missing_id.to_numpy())[:MAX_LISTED_ROWS]]
        raise InputError(Plural("{n} row has no {column}.", "{n} rows have no {column}.",
                                n=int(missing_id.sum()), column=rid),
                         file=file, column=rid, rows=rows,
                         fix=Message("every row of a REDCap export needs its {column}", column=rid))
    events = df[REDCAP_EVENT] if REDCAP_EVENT in df.columns else None
    repeat = df[REDCAP_REPEAT_INSTRUMENT] if REDCAP_REPEAT_INSTRUMENT in df.columns else None
    if events is None and (settings.patients_events or settings.outcomes_events or settings.session_events):
        raise InputError(Message("no {column} column, so data.redcap.*_events cannot be used (a classic "
                                 "project: leave them empty and set data.redcap.session_instrument).",
                                 column=REDCAP_EVENT),
                         file=file, column=REDCAP_EVENT, fix=Message("set data.redcap.session_instrument"))
    plain = repeat.isna() if repeat is not None else pd.Series(True, index=df.index)
    known_events = sorted(events.dropna().unique()) if events is not None else []

    number: pd.Series | None = None
    masks: dict[str, pd.Series] = {}
    if settings.session_instrument:
        if repeat is None or REDCAP_REPEAT_INSTANCE not in df.columns:
            raise InputError(Message("no {instrument}/{instance} columns, so data.redcap.session_instrument "
                                     "cannot be used.", instrument=REDCAP_REPEAT_INSTRUMENT,
                                     instance=REDCAP_REPEAT_INSTANCE), file=file,
                             column=REDCAP_REPEAT_INSTRUMENT,
                             fix=Message("export the repeating instruments too"))
        mask = repeat == settings.session_instrument
        if settings.session_events:
            mask &= events.fillna("").str.fullmatch(settings.session_events)
        masks["sessions"] = mask.fillna(False).astype(bool)
        number = df[REDCAP_REPEAT_INSTANCE]
    elif settings.session_events:
        pattern = re.compile(settings.session_events)
        masks["sessions"] = plain & events.fillna("").str.fullmatch(pattern).astype(bool)
        if pattern.groups:
            number = events.fillna("").str.extract(pattern, expand=False)
            number = number.iloc[:, 0] if isinstance(number, pd.DataFrame) else number
    else:
        raise InputError(Message("set data.redcap.session_events (event names of the sessions) or "
                                 "data.redcap.session_instrument (a repeating instrument) to find the "
                                 "sessions."),
                         file=file, column=REDCAP_EVENT, fix=Message("set data.redcap.session_events"))
    for table, names in (("patients", settings.patients_events), ("outcomes", settings.outcomes_events)):
        masks[table] = plain & (events.isin(names) if names else ~masks["sessions"])
    results = {}
    for table in TABLES:
        mask = masks[table].to_numpy(dtype=bool)
        part = df[mask].reset_index(drop=True)
        source = [whole.source_rows[i] for i in np.flatnonzero(mask)]
        if part.empty:
            if known_events:
                message = Message("no rows for the {table} table with the data.redcap settings (events in "
                                  "the file: {events}).", table=table, events=", ".join(known_events[:10]))
            else:
                message = Message("no rows for the {table} table with the data.redcap settings (events in "
                                  "the file: none).", table=table)
            raise InputError(message, file=file, column=REDCAP_EVENT,
                             fix=Message("set data.redcap to select the {table} rows", table=table))
        drop = [c for c in part.columns if c in REDCAP_SYSTEM or str(c).endswith("_complete")]
        part = part.drop(columns=drop)
        if table == "sessions" and number is not None:
            part.insert(1, "__session__", number[mask].reset_index(drop=True))
        elif table != "sessions":
            part, source = _collapse(part, source, rid, file, table)
        keep = {rid, "__session__", *REQUIRED[table]} | set((options.columns.get(table) or {}).values())
        part = part[[c for c in part.columns if c in keep or part[c].notna().any()]]
        unmatched_all = unmatched_names([str(c) for c in part.columns], options.columns.get("all") or {})
        part, renamed, unmatched = apply_column_map(part, table, options.columns, file=file)
        if "patient_id" not in part.columns and rid in part.columns:
            part = part.rename(columns={rid: "patient_id"})
            renamed["patient_id"] = rid
        if "__session__" in part.columns:
            if "session" in part.columns:
                part = part.drop(columns="__session__")
            else:
                part = part.rename(columns={"__session__": "session"})
        part, recoded = recode_values(part, options.values)
        if options.boolean_x:
            part = tick_box_booleans(part, table)
        read = whole.info | whole.info_messages
        info = {**{k: v for k, v in read.items() if k not in ("rows", "columns")},
                "format": Message("REDCap long export ({format})", format=read["format"]), "rows": len(part),
                "columns": len(part.columns), "renamed": renamed, "unmatched_column_map": unmatched,
                "unmatched_all_map": unmatched_all, "recoded_columns": recoded,
                "redcap_rows": int(mask.sum())}
        results[table] = ReadResult.told(part, info, source)
    return results


def _collapse(part: pd.DataFrame, source: list[int], rid: str, file: str,
              table: str) -> tuple[pd.DataFrame, list[int]]:
    """One row per record: the first non-empty value of each field; conflicting values are an error."""
    if not part[rid].duplicated().any():
        return part, source
    grouped = part.groupby(rid, sort=False)
    conflicts = grouped.nunique(dropna=True) > 1
    if conflicts.to_numpy().any():
        columns = [str(c) for c in conflicts.columns[conflicts.any()]]
        records = [str(r) for r in conflicts.index[conflicts.any(axis=1)][:MAX_LISTED_ROWS]]
        raise InputError(
            Plural("for the {table} table, record {records} has different values of {columns} in "
                   "different events. Restrict data.redcap.{table}_events to the event that holds them.",
                   "for the {table} table, records {records} have different values of {columns} in "
                   "different events. Restrict data.redcap.{table}_events to the event that holds them.",
                   n=len(records), table=table, records=", ".join(records), columns=", ".join(columns)),
            file=file, column=", ".join(columns), fix=Message("set data.redcap.{table}_events", table=table))
    first = grouped.first().reset_index()
    positions = part.reset_index(drop=True).groupby(rid, sort=False).head(1).index
    first = first[list(part.columns)]
    return first.astype(object).where(first.notna(), None), [source[i] for i in positions]


def load_inputs(data: Mapping) -> Inputs:
    """Read the three tables as configured (`data:` block): each file, or the REDCap export.

    Errors are collected (one per unreadable file), not raised, so that one pass reports them all.
    """
    options = ReadOptions.from_config(data)
    raw, files, paths, results, errors = {}, {}, {}, {}, []
    if options.redcap.file:
        path = options.redcap.file
        for table in TABLES:
            files[table], paths[table] = f"{path} [{table}]", path
        try:
            results = read_redcap(path, options)
        except InputError as err:
            errors.append(err)
    else:
        configured = {table: str(data[table]) for table in TABLES}
        for table, path in configured.items():
            shared = list(configured.values()).count(path) > 1  # one workbook, three sheets
            files[table], paths[table] = (f"{path} [{table}]" if shared else path), path
            try:
                results[table] = read_export(path, table, options)
            except InputError as err:
                errors.append(err)
    raw = {table: result.frame for table, result in results.items()}
    return Inputs(raw, files, paths, results, errors)
