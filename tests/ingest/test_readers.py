"""Readers for real-world exports: encodings, delimiters, decimal commas, booleans, column and value maps,
Excel sheets, Parquet, REDCap long exports, and the validation step built on them (report, warnings)."""

from __future__ import annotations

import codecs
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from alliance.errors import ConfigError, InputError, ValidationError
from alliance.ingest.contract import validate_tables
from alliance.ingest.readers import (
    ReadOptions,
    apply_column_map,
    convert_decimal_comma,
    decode,
    load_inputs,
    read_export,
    read_redcap,
    read_table,
    sniff_delimiter,
)
from alliance.ingest.validation import console_summary, run_validation
from alliance.report.validation import render_validation_report

EXPORTS = Path(__file__).parent / "data" / "exports"
TABLES = ("patients", "sessions", "outcomes")


def fixture_config(folder: str, name: str = "config.yaml") -> dict:
    """A fixture's config with its paths made absolute."""
    base = EXPORTS / folder
    config = yaml.safe_load((base / name).read_text(encoding="utf-8"))
    data = config["data"]
    for table in TABLES:
        if table in data:
            data[table] = str(base / data[table])
    if data.get("redcap", {}).get("file"):
        data["redcap"]["file"] = str(base / data["redcap"]["file"])
    return config


FILES = {table: f"{table}.csv" for table in TABLES}


def small_tables(wai_sr, csq8) -> dict[str, pd.DataFrame]:
    """Three small valid tables as text."""
    patients = pd.DataFrame({"patient_id": ["P1", "P2"], "therapist_id": ["T1", "T2"],
                             "sessions_planned": ["6", "8"]})
    sessions = pd.DataFrame({"patient_id": ["P1", "P2"], "session": ["1", "1"], "attended": ["1", "0"]})
    for column in wai_sr.item_columns:
        sessions[column] = ["4", None]
    outcomes = pd.DataFrame({"patient_id": ["P1", "P2"], "dropout": ["0", "1"]})
    for column in csq8.item_columns:
        outcomes[column] = ["3", None]
    return {"patients": patients, "sessions": sessions, "outcomes": outcomes}


@pytest.fixture(scope="module")
def instruments():
    from alliance.instruments import load_instrument

    return {"alliance": load_instrument("wai_sr"), "satisfaction": load_instrument("csq8"), "therapist": None}


# ---- Encodings --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("raw", "setting", "text", "used"),
    [
        ("Código;Sí".encode(), "auto", "Código;Sí", "utf-8"),
        (codecs.BOM_UTF8 + "Código;Sí".encode(), "auto", "Código;Sí", "utf-8 with byte-order mark"),
        ("Código;Sí".encode("latin-1"), "auto", "Código;Sí", "latin-1 (detected: not valid UTF-8)"),
        ("Sí;€ “x”".encode("cp1252"), "auto", "Sí;€ “x”", "windows-1252 (detected: not valid UTF-8)"),
        ("Código\tSí".encode("utf-16"), "auto", "Código\tSí", "utf-16"),
        (codecs.BOM_UTF8 + b"a,b", "utf-8", "a,b", "utf-8"),
        ("Año".encode("latin-1"), "latin-1", "Año", "iso8859-1"),
    ],
)
def test_decode(raw, setting, text, used):
    decoded, encoding = decode(raw, setting)
    assert (decoded, str(encoding)) == (text, used)  # a Message where it says how it was chosen


def test_a_wrong_explicit_encoding_is_an_input_error():
    with pytest.raises(InputError, match=r"not valid utf-8 text .* data\.encoding"):
        decode("Año".encode("latin-1"), "utf-8", "p.csv")


def test_unknown_encoding_is_a_config_error():
    with pytest.raises(ConfigError, match=r"data\.encoding"):
        ReadOptions.from_config({"encoding": "klingon"})


# ---- Delimiters and dialects ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "delimiter"),
    [
        ("a,b,c\n1,2,3\n", ","),
        ("a;b;c\n1,5;2,25;3\n4;5,5;6\n", ";"),  # decimal commas do not fool it
        ("a\tb\n1,5\t2\n", "\t"),
        ("a|b|c\n1|2|3\n", "|"),
        ('name,"x;y",z\n1,"2;3",4\n', ","),  # delimiters inside quotes
        ("single\n1\n2\n", ","),
    ],
)
def test_sniff_delimiter(text, delimiter):
    assert sniff_delimiter(text) == delimiter


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_csv_with_excel_sep_line_crlf_blank_rows_and_trailing_delimiters(tmp_path):
    text = 'sep=;\r\nid;score;;\r\nP1;1,5;;\r\n;;;\r\n\r\nP2;2;;\r\n'
    result = read_export(write(tmp_path / "t.csv", text))
    assert list(result.frame.columns) == ["id", "score"]
    assert result.frame.to_dict("list") == {"id": ["P1", "P2"], "score": ["1.5", "2"]}
    assert result.source_rows == [1, 4]  # data rows of the file, blank ones counted
    assert "from the file's sep= line" in result.info["delimiter"]
    assert result.info["decimal_comma_columns"] == ["score"]


def test_missing_value_words_and_spaces(tmp_path):
    result = read_export(write(tmp_path / "t.tsv", "a\tb\n NA \t x \nn/a\t#N/A\n.\tz\n0\tNULL\n"))
    assert result.frame["a"].tolist() == [None, None, "0"]  # the row of missing values is dropped
    assert result.frame["b"].tolist() == ["x", "z", None]
    assert result.source_rows == [1, 3, 4]


def test_quoted_cells_with_newlines_and_delimiters(tmp_path):
    result = read_export(write(tmp_path / "t.csv", 'id,txt\nP1,"a, b\nc"\nP2,"say ""hi"""\n'))
    assert result.frame["txt"].tolist() == ["a, b\nc", 'say "hi"']


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("\n\n  \n", "the file is empty"),
        ("a,b\n1,2,3\n4,5\n", "more cells than the header"),
        ("a,a\n1,2\n", "column name 'a' appears more than once"),
        ("a,b\n1,\x002\n", "NUL characters"),
    ],
)
def test_malformed_text_files_are_input_errors(tmp_path, text, message):
    with pytest.raises(InputError, match=message):
        read_export(write(tmp_path / "t.csv", text))


def test_too_long_rows_are_listed(tmp_path):
    with pytest.raises(InputError) as caught:
        read_export(write(tmp_path / "t.csv", "a,b\n1,2\n1,2,3\n4,5\n6,7,8\n"))
    assert caught.value.rows == [2, 4] and "rows 2, 4" in str(caught.value)


def test_unsupported_and_missing_files(tmp_path):
    with pytest.raises(InputError, match="unsupported file type"):
        read_export(tmp_path / "p.json")
    with pytest.raises(InputError, match="file not found"):
        read_export(tmp_path / "missing.csv")
    with pytest.raises(InputError, match="could not be read as xlsx"):
        read_export(write(tmp_path / "broken.xlsx", "not a zip"))
    with pytest.raises(InputError, match="could not be read as parquet"):
        read_export(write(tmp_path / "broken.parquet", "PAR1 nothing"))


# ---- Decimal commas -------------------------------------------------------------------------------------

def test_decimal_comma_auto_converts_only_numeric_columns():
    frame = pd.DataFrame({"a": ["1,5", "2", None], "b": ["1,5", "x", None], "c": ["1.5", "2", "3"],
                          "d": ["1,234.5", "2", None]}, dtype=object)
    out, converted = convert_decimal_comma(frame, "auto")
    assert converted == ["a"]
    assert out["a"].tolist() == ["1.5", "2", None] and out["b"].tolist() == ["1,5", "x", None]
    assert out["d"].tolist() == ["1,234.5", "2", None]


def test_decimal_comma_explicit_handles_thousands_points():
    frame = pd.DataFrame({"a": ["1.234,5", "3,25", "7", "x"]}, dtype=object)
    assert convert_decimal_comma(frame, ",")[0]["a"].tolist() == ["1234.5", "3.25", "7", "x"]
    assert convert_decimal_comma(frame, ".")[0]["a"].tolist() == ["1.234,5", "3,25", "7", "x"]


# ---- Booleans ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("word", "value"),
    [("Sí", True), ("si", True), ("SI", True), ("sí", True), ("yes", True), ("Verdadero", True),
     ("cert", True), ("TRUE", True), ("1", True), ("checked", True),
     ("No", False), ("falso", False), ("Fals", False), ("0", False), ("false", False), ("n", False)],
)
def test_boolean_words_in_english_spanish_and_catalan(word, value, wai_sr, csq8):
    raw = small_tables(wai_sr, csq8)
    raw["sessions"].loc[0, "attended"] = word
    assert validate_tables(raw, FILES, wai_sr, satisfaction=csq8).sessions["attended"].iloc[0] == value


def test_tick_box_booleans(tmp_path):
    path = write(tmp_path / "s.csv", "patient_id,session,attended,other\nP1,1,x,\nP1,2,,\nP1,3,X,\n")
    frame = read_export(path, "sessions", ReadOptions(boolean_x=True)).frame
    assert frame["attended"].tolist() == ["true", "false", "true"]
    assert frame["other"].tolist() == [None, None, None]  # only the contract's boolean columns
    assert read_export(path, "sessions").frame["attended"].tolist() == ["x", None, "X"]


# ---- Column and value maps ------------------------------------------------------------------------------

def test_column_map_all_then_table_exact_then_loose():
    frame = pd.DataFrame(columns=["Código Paciente", "Terapeuta ", "Sesión", "otra"])
    columns = {"all": {"codigo  paciente": "patient_id", "Sesión": "session"},
               "patients": {"Terapeuta ": "therapist_id", "Ausente": "site", "Sesión": "sessions_planned"}}
    out, renamed, unmatched = apply_column_map(frame, "patients", columns)
    assert list(out.columns) == ["patient_id", "therapist_id", "sessions_planned", "otra"]
    assert renamed == {"patient_id": "Código Paciente", "therapist_id": "Terapeuta ",
                       "sessions_planned": "Sesión"}
    assert unmatched == ["Ausente"]


def test_column_map_that_gives_two_columns_one_name_is_an_input_error():
    frame = pd.DataFrame(columns=["Paciente", "patient_id"])
    with pytest.raises(InputError, match="more than one column"):
        apply_column_map(frame, "patients", {"patients": {"Paciente": "patient_id"}})


@pytest.mark.parametrize(
    "data",
    [{"columns": {"Paciente": "patient_id", "patients": {"a": "b"}}},  # a flat map mixed with a scope
     {"columns": {"patients": {"a": ""}}}, {"delimiter": ":"}, {"decimal": ";"}, {"sheets": {"visits": 0}},
     {"redcap": {"event": "x"}},
     {"redcap": {"session_events": "("}}, {"values": {"discipline": "psychotherapy"}}],
)
def test_impossible_reader_settings_are_config_errors(data):
    with pytest.raises(ConfigError, match="data\\."):
        ReadOptions.from_config(data)


# ---- The Spanish clinic export (hand-written fixture) ------------------------------------------------------

def test_spanish_clinic_export_reads_and_validates(instruments):
    config = fixture_config("clinica_es")
    outcome = run_validation(config["data"], {"min_cell_size": 10}, instruments)
    assert outcome.passed, outcome.problems
    reading = outcome.summary()["reading"]
    assert reading["patients"]["encoding"] == "latin-1 (detected: not valid UTF-8)"
    assert reading["sessions"]["encoding"] == "utf-8 with byte-order mark"
    assert all(reading[t]["delimiter"] == "semicolon (detected)" for t in TABLES)
    assert reading["patients"]["decimal_comma_columns"] == ["Gravedad inicial"]
    v = outcome.validated
    assert v.patients["baseline_severity"].tolist()[:2] == [20.5, 17.0]
    assert np.isnan(v.patients["baseline_severity"].iloc[2])
    assert v.patients["discipline"].tolist() == ["psychotherapy", "psychotherapy", "physiotherapy",
                                                 "physiotherapy", "nutrition", "osteopathy"]
    assert v.sessions["attended"].tolist() == [True, True, False, True, True, True, False, True, True,
                                               True, True]
    assert v.sessions["home_practice"].dropna().tolist() == [0.5, 0.25, 1.0]
    assert v.outcomes["dropout"].tolist() == [False, True, False, True, False, False]
    assert v.sessions["wai_sr_12"].iloc[1] == 5.0


def test_problems_name_the_column_as_in_the_file_and_its_row(tmp_path, instruments):
    config = fixture_config("clinica_es")
    text = (EXPORTS / "clinica_es/sesiones.csv").read_bytes().decode("utf-8-sig")
    lines = text.split("\r\n")
    lines[3] = lines[3].replace(";No;", ";Quizás;")  # P-001, session 3
    lines.insert(2, ";;;;;;;;;;;;;;;")  # an empty row before it: skipped, but counted (data row 4)
    write(tmp_path / "sesiones.csv", "\r\n".join(lines))
    config["data"]["sessions"] = str(tmp_path / "sesiones.csv")
    outcome = run_validation(config["data"], {}, instruments)
    assert not outcome.passed
    (problem,) = outcome.problems
    assert problem.column == "Asistió → attended"
    assert problem.rows == [4] and problem.keys == ["P-001"]


# ---- Excel and Parquet ---------------------------------------------------------------------------------

def workbook(path: Path, sheets: dict[str, list[list]]) -> Path:
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def test_excel_sheets_by_name_and_position(tmp_path, instruments):
    import datetime as dt

    items = [f"WAI {i}" for i in range(1, 13)]
    path = workbook(tmp_path / "export.xlsx", {
        "Notas": [["nothing here"]],
        "Pacientes": [[], ["Paciente", "Terapeuta", "Sesiones previstas", "Gravedad"],
                      ["P1", "T1", 6, 20.5], ["P2", "T1", 8.0, None]],
        "Sesiones": [["Paciente", "Sesión", "Asistió", *items],
                     ["P1", 1, True, *[4] * 12], ["P2", 1, "No", *[None] * 12]],
        "Resultados": [["Paciente", "Abandono", "Alta"], ["P1", False, dt.datetime(2024, 3, 1)],
                       ["P2", "Sí", None]],
    })
    data = {table: str(path) for table in TABLES} | {
        "sheets": {"patients": "pacientes", "sessions": "Sesiones", "outcomes": 3},
        "columns": {"all": {"Paciente": "patient_id"},
                    "patients": {"Terapeuta": "therapist_id", "Sesiones previstas": "sessions_planned",
                                 "Gravedad": "baseline_severity"},
                    "sessions": {"Sesión": "session", "Asistió": "attended",
                                 **{f"WAI {i}": f"wai_sr_{i:02d}" for i in range(1, 13)}},
                    "outcomes": {"Abandono": "dropout"}},
    }
    inputs = load_inputs(data)
    assert not inputs.errors
    assert inputs.results["patients"].info["sheet"] == "Pacientes"
    assert inputs.raw["patients"]["sessions_planned"].tolist() == ["6", "8"]
    assert inputs.raw["patients"]["baseline_severity"].tolist() == ["20.5", None]
    assert inputs.raw["outcomes"]["Alta"].tolist() == ["2024-03-01", None]
    assert inputs.files["patients"] == f"{path} [patients]"  # one workbook: tables told apart
    outcome = run_validation(data, {}, instruments)
    (problem,) = outcome.problems  # the exact date is refused, never quoted
    assert problem.column == "Alta" and "exact date" in problem.message
    assert "2024" not in render_validation_report(outcome)


def test_missing_sheet_lists_the_sheets(tmp_path):
    path = workbook(tmp_path / "x.xlsx", {"Uno": [["a"], [1]], "Dos": [["b"], [2]]})
    with pytest.raises(InputError, match="no sheet named 'Tres'; the workbook has: Uno, Dos"):
        read_export(path, "patients", ReadOptions(sheets={"patients": "Tres"}))
    with pytest.raises(InputError, match="no sheet number 5") as error:
        read_export(path, "sessions", ReadOptions(sheets={"sessions": 5}))
    # the setting to change, of the table it reads (three tables may share one workbook)
    assert error.value.fix == "set data.sheets.sessions to a sheet name or a position from 0"
    assert read_export(path, "patients", ReadOptions(sheets={"patients": 1})).frame["b"].tolist() == ["2"]


def test_parquet_columns_become_text(tmp_path):
    frame = pd.DataFrame({"i": pd.array([1, None], dtype="Int64"), "f": [0.1 + 0.2, np.nan],
                          "b": [True, False], "s": ["x", None], "w": [4.0, 5.0]})
    frame.to_parquet(tmp_path / "t.parquet", index=False)
    out = read_export(tmp_path / "t.parquet").frame
    assert out.to_dict("list") == {"i": ["1", None], "f": [repr(0.1 + 0.2), None], "b": ["true", "false"],
                                   "s": ["x", None], "w": ["4", "5"]}
    assert float(out["f"].iloc[0]) == 0.1 + 0.2  # exact round trip


def test_read_table_delegates_to_the_readers(tmp_path):
    write(tmp_path / "p.csv", "patient_id;score\nP1;1,5\n", "latin-1")
    assert read_table(tmp_path / "p.csv").to_dict("list") == {"patient_id": ["P1"], "score": ["1.5"]}


# ---- REDCap -----------------------------------------------------------------------------------------------

def test_redcap_longitudinal_export(instruments):
    config = fixture_config("redcap", "config_long.yaml")
    options = ReadOptions.from_config(config["data"])
    tables = read_redcap(config["data"]["redcap"]["file"], options)
    patients, sessions, outcomes = (tables[t].frame for t in TABLES)
    assert patients["patient_id"].tolist() == ["1", "2", "3", "4"]
    assert patients["site"].tolist() == ["north", "north", "south", "south"]
    assert sessions[["patient_id", "session"]].values.tolist() == [
        ["1", "1"], ["1", "2"], ["1", "3"], ["2", "1"], ["2", "2"], ["3", "1"], ["4", "1"], ["4", "2"]]
    assert "redcap_event_name" not in sessions and "session_complete" not in sessions
    assert outcomes["dropout"].tolist() == ["0", "1", "0", "0"]
    assert tables["sessions"].source_rows == [2, 3, 4, 7, 8, 11, 14, 15]  # rows of the export
    outcome = run_validation(config["data"], {}, instruments)
    assert outcome.passed, outcome.problems
    assert outcome.validated.sessions["home_practice"].dropna().tolist() == [0.5, 0.75, 0.25]
    assert outcome.summary()["tables"]["patients"]["file"].endswith("redcap_long.csv [patients]")


def test_redcap_classic_project_with_a_repeating_session_instrument(instruments):
    config = fixture_config("redcap", "config_repeating.yaml")
    outcome = run_validation(config["data"], {}, instruments)
    assert outcome.passed, outcome.problems
    sessions = outcome.validated.sessions
    assert sessions[["patient_id", "session"]].values.tolist() == [
        ["A01", 1], ["A01", 2], ["A02", 1], ["A03", 1], ["A03", 2]]
    assert outcome.validated.outcomes["dropout"].tolist() == [False, True, False]


def test_redcap_mapping_errors(tmp_path):
    config = fixture_config("redcap", "config_long.yaml")
    data = config["data"]
    with pytest.raises(InputError, match="session_events"):
        read_redcap(data["redcap"]["file"], ReadOptions.from_config(
            data | {"redcap": data["redcap"] | {"session_events": ""}}))
    with pytest.raises(InputError, match=r"no rows for the patients table .* baseline_arm_1"):
        read_redcap(data["redcap"]["file"], ReadOptions.from_config(
            data | {"redcap": data["redcap"] | {"patients_events": ["screening_arm_1"]}}))
    # Patient fields in two events with different values cannot be merged.
    text = (EXPORTS / "redcap/redcap_long.csv").read_text().replace(
        "1,end_arm_1,,,north,,", "1,end_arm_1,,,north,t09,")
    write(tmp_path / "r.csv", text)
    with pytest.raises(InputError, match="record 1 has different values of therapist"):
        read_redcap(tmp_path / "r.csv", ReadOptions.from_config(
            data | {"redcap": data["redcap"] | {"file": str(tmp_path / "r.csv"), "patients_events": []}}))


# ---- The validation step: every problem in one pass, warnings, the report --------------------------------

def test_every_unreadable_file_is_reported_in_one_pass(tmp_path, instruments):
    write(tmp_path / "p.csv", "a,b\n1,2,3\n")
    data = {"patients": str(tmp_path / "p.csv"), "sessions": str(tmp_path / "missing.csv"),
            "outcomes": str(tmp_path / "o.json")}
    outcome = run_validation(data, {}, instruments)
    assert [p.file for p in outcome.problems] == [data[t] for t in TABLES]
    text = console_summary(outcome, "report.html")
    assert "3 problems" in text and "(s)" not in text and "more cells" in text and "not found" in text
    assert "unsupported" in text and "Validation report: report.html" in text
    html = render_validation_report(outcome)
    assert "Failed with 3 problems" in html and "(s)" not in html and "not read" in html


def synthetic_export(tmp_path: Path, synthetic_cfg: dict, **changes) -> dict:
    from alliance.simulation.synthetic import synthesize

    patients, sessions, outcomes, _ = synthesize(synthetic_cfg | changes, 3, ["baseline_severity"])
    data = {}
    for name, table in zip(TABLES, (patients, sessions, outcomes), strict=True):
        table.to_csv(tmp_path / f"{name}.csv", index=False)
        data[name] = str(tmp_path / f"{name}.csv")
    return data


def test_warnings_do_not_stop_the_run(tmp_path, synthetic_cfg, instruments):
    data = synthetic_export(tmp_path, synthetic_cfg)
    patients = pd.read_csv(data["patients"], dtype=str)
    sessions = pd.read_csv(data["sessions"], dtype=str)
    outcomes = pd.read_csv(data["outcomes"], dtype=str)
    # A new patient with a therapist of their own and no scored session, recorded as a dropout although
    # the last planned session was attended.
    new = patients.iloc[[0]].assign(patient_id="NEW", therapist_id="T-NEW", sessions_planned="2")
    rows = sessions.iloc[[0, 1]].assign(patient_id="NEW", session=["1", "2"], attended="1")
    items = [c for c in rows.columns if c.startswith("wai_sr_")]
    rows[items] = np.nan
    pd.concat([patients, new]).to_csv(data["patients"], index=False)
    pd.concat([sessions, rows]).to_csv(data["sessions"], index=False)
    pd.concat([outcomes, outcomes.iloc[[0]].assign(patient_id="NEW", dropout="1")]).to_csv(
        data["outcomes"], index=False)
    outcome = run_validation(data, {"min_cell_size": 10}, instruments)
    assert outcome.passed, outcome.problems
    kinds = {w["kind"]: w for w in outcome.warnings}
    assert {"no_scored_session", "therapist_one_patient", "sessions_after_dropout"} <= set(kinds)
    last_row = len(patients) + 1  # the new patient's data row in the patients file
    for kind in ("no_scored_session", "therapist_one_patient", "sessions_after_dropout"):
        assert kinds[kind]["count"] == 1 and kinds[kind]["rows"] == [last_row], kind
        assert kinds[kind]["report_message"].startswith("<10 "), kind
        assert kinds[kind]["message"].startswith("1 "), kind
    summary = outcome.summary()
    assert summary["warnings"] == outcome.warnings
    assert set(summary["warnings"][0]) == {"kind", "table", "file", "column", "count", "rows", "rows_file",
                                           "message", "message_message", "report_message",
                                           "report_message_message"}
    html = render_validation_report(outcome)
    assert "Passed with" in html and "therapist_one_patient" in html


def test_an_entry_of_the_map_of_every_table_that_no_file_has_is_warned_about(tmp_path, synthetic_cfg,
                                                                             instruments):
    """`data.columns.all` (or the flat form) names a column no table has: warned about, as a table's own map
    is (a misspelt optional column had been dropped without a word); one that a single table has is not."""
    data = synthetic_export(tmp_path, synthetic_cfg)
    for form in ({"all": {"Sitio": "site", "session": "session"}}, {"Sitio": "site", "session": "session"}):
        outcome = run_validation(data | {"columns": form}, {"min_cell_size": 10}, instruments)
        unused = [w for w in outcome.warnings if w["kind"] == "column_map_unused"]
        assert [w["message"] for w in unused] == [
            "data.columns.all maps a column 'Sitio' that none of the files has"], form


def test_a_misspelt_column_map_is_named_in_the_fix_of_the_missing_column(tmp_path, synthetic_cfg,
                                                                        instruments):
    """The files call the patient code "Código paciente" and the map says "Codigo pacient": the missing
    patient_id's fix names the map's entry (it had read "add the column")."""
    data = synthetic_export(tmp_path, synthetic_cfg)
    for table in ("patients", "sessions", "outcomes"):
        frame = pd.read_csv(data[table], dtype=str).rename(columns={"patient_id": "Código paciente"})
        frame.to_csv(data[table], index=False)
    outcome = run_validation(data | {"columns": {"all": {"Codigo pacient": "patient_id"}}},
                             {"min_cell_size": 10}, instruments)
    fixes = {p.fix for p in outcome.problems if p.column == "patient_id"}
    assert fixes == {"data.columns maps 'Codigo pacient' to patient_id, but the file has no column 'Codigo "
                     "pacient': write it as the file's header does"}


def test_a_session_number_without_a_row_is_warned_about(tmp_path, synthetic_cfg, instruments):
    """An export of attended sessions only leaves the missed ones' numbers without a row: they would count
    neither as attended nor as missed, so attendance would read better than it was."""
    data = synthetic_export(tmp_path, synthetic_cfg)
    outcome = run_validation(data, {"min_cell_size": 10}, instruments)
    assert "session_gaps" not in {w["kind"] for w in outcome.warnings}  # the generator lists every session
    sessions = pd.read_csv(data["sessions"], dtype=str)
    patients = pd.read_csv(data["patients"], dtype=str)
    numbers = sessions["session"].astype(int)
    counts = sessions.groupby("patient_id")["session"].transform("size")
    first, second = (patients.loc[patients["patient_id"].isin(sessions.loc[counts >= 4, "patient_id"]),
                                  "patient_id"].iloc[:2])
    gone = ((sessions["patient_id"] == first) & numbers.isin([2, 3])) | (
        (sessions["patient_id"] == second) & (numbers == 1))  # two in the middle; one before the first row
    sessions[~gone].to_csv(data["sessions"], index=False)
    outcome = run_validation(data, {"min_cell_size": 10}, instruments)
    assert outcome.passed, outcome.problems
    (warning,) = [w for w in outcome.warnings if w["kind"] == "session_gaps"]
    rows = sorted(int(i) + 1 for i in patients.index[patients["patient_id"].isin([first, second])])
    assert (warning["table"], warning["column"], warning["count"], warning["rows"]) == (
        "sessions", "session", 2, rows)
    # the rows are the patients file's, and the record says so (its `file` is the sessions file)
    assert (warning["file"], warning["rows_file"]) == (data["sessions"], data["patients"])
    assert warning["message"] == (
        "2 patients' session numbers skip 3 numbers between 1 and their last: a session without a row counts "
        "neither as attended nor as missed; list a session the patient did not attend with attended = 0 (one "
        "the clinic cancelled can stay out; rows listed are rows of the patients file)")
    assert warning["report_message"].startswith("<10 patients' session numbers skip <10 numbers")


def test_the_validation_report_in_english_is_unchanged(tmp_path, instruments):
    write(tmp_path / "p.csv", "a,b\n1,2,3\n")
    data = {"patients": str(tmp_path / "p.csv"), "sessions": str(tmp_path / "missing.csv"),
            "outcomes": str(tmp_path / "o.json")}
    html = render_validation_report(run_validation(data, {}, instruments))
    assert '<html lang="en">' in html and "<h1>Input validation</h1>" in html
    assert '<span lang="en">' not in html
    assert "<title>Input validation: failed</title>" in html and "<th>decimal comma converted in</th>" in html


@pytest.mark.parametrize(("code", "words"), [
    ("es", ("Validación de los datos de entrada", "No superada, con 3 problemas", "Archivos leídos",
            "Problemas", "Privacidad", "no leído")),
    ("ca", ("Validació de les dades d'entrada", "No superada, amb 3 problemes", "Fitxers llegits",
            "Problemes", "Privadesa", "no llegit")),
])
def test_the_validation_report_in_spanish_and_catalan(tmp_path, instruments, code, words):
    """The page speaks the report's language, the problems found too (test_validation_language.py): nothing
    is marked English."""
    from alliance.i18n import use_language

    write(tmp_path / "p.csv", "a,b\n1,2,3\n")
    data = {"patients": str(tmp_path / "p.csv"), "sessions": str(tmp_path / "missing.csv"),
            "outcomes": str(tmp_path / "o.json")}
    outcome = run_validation(data, {}, instruments)
    with use_language(code):
        html = render_validation_report(outcome)
    assert f'<html lang="{code}">' in html
    assert all(word in html for word in words), [word for word in words if word not in html]
    assert "Failed with" not in html and "Files read" not in html
    assert [p.message for p in outcome.problems if p.message in html.replace("&#39;", "'")] == []
    assert 'lang="en"' not in html
    assert "e-mail addresses" not in html  # the kinds of identifying data refused, translated


@pytest.mark.parametrize("code", ["es", "ca"])
def test_a_passed_validation_report_in_spanish_and_catalan(tmp_path, synthetic_cfg, instruments, code):
    from alliance.i18n import use_language
    from alliance.report.format import format_count

    outcome = run_validation(synthetic_export(tmp_path, synthetic_cfg), {"min_cell_size": 10}, instruments)
    assert outcome.passed
    with use_language(code):
        html = render_validation_report(outcome)
        sessions = format_count(outcome.validated.summary["tables"]["sessions"]["rows"])
    assert "Superada" in html and "Passed" not in html and "<code>results/validated/</code>" in html
    # counts as the language writes them
    assert f'<td class="num">{sessions}</td>' in html and "." in sessions
    assert ("k-anonimato" if code == "es" else "k-anonimat") in html and "quasi-identifiers site" not in html


def test_k_anonymity_warning_uses_k_or_the_min_cell_size(tmp_path, synthetic_cfg, instruments):
    data = synthetic_export(tmp_path, synthetic_cfg)
    patients = pd.read_csv(data["patients"], dtype=str)
    patients["gender"] = np.where(np.arange(len(patients)) == 0, "x", "f")
    patients.to_csv(data["patients"], index=False)
    outcome = run_validation(data, {"min_cell_size": 5}, instruments)
    (warning,) = [w for w in outcome.warnings if w["kind"] == "k_anonymity"]
    anonymity = outcome.privacy["k_anonymity"]
    assert anonymity["k"] == 5 and "gender" in anonymity["columns"]
    assert anonymity["rare_combinations"] >= 1 and warning["count"] == anonymity["patients_in_rare"]
    none = run_validation(data, {"min_cell_size": 5, "k_anonymity": 1}, instruments)
    assert not [w for w in none.warnings if w["kind"] == "k_anonymity"]


def test_validation_error_text_is_unchanged_for_direct_callers(wai_sr, csq8):
    raw = small_tables(wai_sr, csq8)
    raw["sessions"].loc[0, "attended"] = "maybe"
    with pytest.raises(ValidationError, match="'maybe'"):
        validate_tables(raw, FILES, wai_sr, satisfaction=csq8)
