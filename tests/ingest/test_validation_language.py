"""The validation page's problems, warnings and how each file was read in the report's language (issue 15):
each problem's message and fix, each warning and the reader's format, encoding and delimiter are `Message`s
made where they are found, written in Spanish or Catalan on the page; in English the page, the problems, the
reading in validation_summary.json and the console are the ingest stage's text as before."""

from __future__ import annotations

import ast
import re
from html import unescape
from pathlib import Path

import pytest

from alliance.errors import InputError, Problem
from alliance.i18n import PACKAGE_DIR, Message, read_message, use_language
from alliance.ingest.readers import read_export
from alliance.ingest.validation import ValidationOutcome, console_summary, run_validation
from alliance.report.format import format_count
from alliance.report.validation import render_validation_report

SPAN = re.compile(r'<span lang="en">(.*?)</span>', re.S)
# Words of English prose that Spanish and Catalan text does not contain (tests/report/test_language.py).
ENGLISH = re.compile(r"\b(the|of|and|with|is|are|was|were|for|from|not|which|this|that|each|than|"
                     r"when|where|who|have|been|between|after|before|only)\b")
SESSIONS = 1200  # rows of the sessions file, each with a symptoms value that is not a number


@pytest.fixture(scope="module")
def instruments(wai_sr, csq8) -> dict:
    return {"alliance": wai_sr, "satisfaction": csq8, "therapist": None}


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def unreadable(tmp_path: Path) -> dict:
    """Three files none of which can be read: a row wider than the header, a missing file, a JSON file."""
    return {"patients": write(tmp_path / "p.csv", "a,b\n1,2,3\n"), "sessions": str(tmp_path / "missing.csv"),
            "outcomes": write(tmp_path / "o.json", "{}")}


def contract_breaches(tmp_path: Path, instruments: dict) -> dict:
    """Three readable files that break the contract: an e-mail column in patients; in sessions a
    non-numeric alliance item, non-numeric symptoms in every row and an unknown patient; no dropout in
    outcomes."""
    items = instruments["alliance"].item_columns
    sessions = [f"P1,{s},1,{'abc' if s == 1 else ''}," + ",".join("" for _ in items[1:]) + ",x"
                for s in range(1, SESSIONS)] + ["P9,1,1," + ",".join("" for _ in items) + ",1"]
    return {
        "patients": write(tmp_path / "patients.csv", "patient_id,therapist_id,sessions_planned,email\n"
                                                      "P1,T1,6,a@b.com\nP2,T2,8,c@d.org\n"),
        "sessions": write(tmp_path / "sessions.csv", f"patient_id,session,attended,{','.join(items)},"
                                                     "symptoms\n" + "\n".join(sessions) + "\n"),
        "outcomes": write(tmp_path / "outcomes.csv", "patient_id,satisfaction\nP1,20\nP2,\n"),
    }


def with_warnings(tmp_path: Path, instruments: dict) -> dict:
    """Valid files with warnings: a patient without a scored session, therapists with one patient each."""
    items, csq = instruments["alliance"].item_columns, instruments["satisfaction"].item_columns
    return {
        "patients": write(tmp_path / "patients.csv", "patient_id,therapist_id,sessions_planned\nP1,T1,6\n"
                                                      "P2,T2,8\n"),
        "sessions": write(tmp_path / "sessions.csv", f"patient_id,session,attended,{','.join(items)}\n"
                                                     f"P1,1,1,{','.join('4' for _ in items)}\n"
                                                     f"P2,1,0,{','.join('' for _ in items)}\n"),
        "outcomes": write(tmp_path / "outcomes.csv", f"patient_id,dropout,{','.join(csq)}\n"
                                                     f"P1,0,{','.join('3' for _ in csq)}\n"
                                                     f"P2,1,{','.join('' for _ in csq)}\n"),
    }


def page(outcome: ValidationOutcome, code: str) -> str:
    with use_language(code):
        return render_validation_report(outcome)


def english_prose(html: str, tmp_path: Path) -> list[str]:
    """The page's visible lines with English words, leaving out code, the file paths and text marked
    lang="en"."""
    html = re.sub(r"<(style|code)\b[^>]*>.*?</\1>", "", html.replace(str(tmp_path), ""), flags=re.S)
    text = unescape(re.sub(r"<[^>]+>", "\n", SPAN.sub("", html)))
    return [line.strip() for line in text.splitlines() if ENGLISH.search(line)]


# ---- English: the ingest stage's text, unchanged ----------------------------------------------------------

def test_the_english_problems_are_the_ingest_stages_text_as_before(tmp_path, instruments):
    """The English of each problem, its console lines and its row on the English page are those written
    before the problems were messages."""
    data = unreadable(tmp_path)
    outcome = run_validation(data, {}, instruments)
    assert [(p.column, p.message, p.fix) for p in outcome.problems] == [
        ("(whole file)", "1 row has more cells than the header has columns (2): row 1 (data rows, "
         "counting from 1 below the header). Check the delimiter (data.delimiter), quotes around text with "
         "delimiters in it, and decimal commas.",
         "quote cells that contain the delimiter, or set data.delimiter"),
        ("(whole file)", "file not found. Check the data.* paths in your config.",
         "check the data.* paths in your config"),
        ("(whole file)", "unsupported file type '.json'. Use one of .csv, .tsv, .tab, .txt, .parquet, .xlsx, "
         ".xlsm.", "save the table as .csv, .tsv, .tab, .txt, .parquet, .xlsx, .xlsm"),
    ]
    html = page(outcome, "en")
    broken = data["sessions"].replace("/", "/<wbr>")  # a path may break after each slash
    assert (f"<tr><td><code>{broken}</code></td><td><code>(whole file)</code></td><td>file not "
            "found. Check the data.* paths in your config.</td>\n<td></td><td>check the data.* paths in your "
            "config</td></tr>") in html
    assert 'lang="en"' not in html.replace('<html lang="en">', "")

    outcome = run_validation(contract_breaches(tmp_path, instruments), {}, instruments)
    found = {(Path(p.file).name, p.column): (p.message, p.fix) for p in outcome.problems}
    assert found[("patients.csv", "email")] == (
        "looks like an e-mail address; identifying data are refused",
        "remove the column from the export (pseudonymous codes only), rename it if it holds no identifying "
        "data, or list it in privacy.allow_columns with a reason")
    assert found[("sessions.csv", "symptoms")] == (
        f"{SESSIONS - 1} values that are not numbers (e.g. 'x')",  # no thousands separator, as before
        "use plain numbers with a decimal point; leave a cell empty when it is missing")
    assert found[("sessions.csv", "wai_sr_01")] == (
        "1 value that is not a number (e.g. 'abc')",
        "use plain numbers with a decimal point; leave a cell empty when it is missing")
    assert found[("outcomes.csv", "dropout")] == (
        "required column is missing", "add the column; outcomes needs patient_id, dropout")
    missing = next(p for p in outcome.problems if p.column == "patient_id")
    assert missing.format() == (
        f"- {tmp_path / 'sessions.csv'}, column 'patient_id': 1 row names a patient not in "
        f"{tmp_path / 'patients.csv'}\n    rows {SESSIONS} (patient_id P9) (data rows, counting from 1 below "
        "the header)\n    fix: add the patient to the patients table or remove these rows")
    assert missing.format() in console_summary(outcome, "report.html")
    html = page(outcome, "en")
    assert f"<td>{SESSIONS - 1} values that are not numbers (e.g. &#39;x&#39;)</td>" in html
    assert 'lang="en"' not in html.replace('<html lang="en">', "")


def test_every_problem_of_the_ingest_stage_is_a_message(tmp_path, instruments):
    """Each problem found while reading and validating keeps its message and fix as `Message`s whose
    English is the problem's text (one source, so the two cannot drift)."""
    for data in (unreadable(tmp_path), contract_breaches(tmp_path, instruments)):
        problems = run_validation(data, {}, instruments).problems
        assert problems
        for problem in problems:
            assert isinstance(problem.message_message, Message) and isinstance(problem.fix_message, Message)
            assert (str(problem.message_message), str(problem.fix_message)) == (problem.message, problem.fix)


def test_every_input_error_and_problem_of_the_ingest_code_is_made_from_messages():
    """Every `InputError` and `Problem` the ingest modules make is given `Message`s (`Problem.told`, or the
    messages of an `InputError`), never text: none is left for the page to show in English."""
    text_made = []
    for path in sorted((PACKAGE_DIR / "ingest").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None)
            text = (ast.Constant, ast.JoinedStr, ast.BinOp)
            if name == "InputError":
                fix = next((k.value for k in node.keywords if k.arg == "fix"), None)
                if isinstance(node.args[0], text) or fix is None or isinstance(fix, text):
                    text_made.append(f"{path.name}:{node.lineno}")
            elif name == "Problem" and len(node.args) < 9:  # without its messages
                text_made.append(f"{path.name}:{node.lineno}")
    assert text_made == []


def test_an_input_error_made_from_messages():
    error = InputError(Message("sheet '{sheet}' is empty.", sheet="Hoja1"), file="x.xlsx", column="c",
                       fix=Message("choose the sheet with the table in data.sheets"))
    assert str(error) == "x.xlsx: sheet 'Hoja1' is empty."
    assert error.fix == "choose the sheet with the table in data.sheets"
    assert error.message_message == Message("sheet '{sheet}' is empty.", sheet="Hoja1")
    plain = InputError("bundle.zip: not a readable bundle zip", file="bundle.zip", fix="share again")
    assert (str(plain), plain.fix, plain.message_message, plain.fix_message) == (
        "bundle.zip: not a readable bundle zip", "share again", None, None)


# ---- Spanish and Catalan --------------------------------------------------------------------------------

UNREADABLE = {
    "es": ["(todo el archivo)", "no se encuentra el archivo. Compruebe las rutas data.* de la configuración.",
           "compruebe las rutas data.* de la configuración",
           "tipo de archivo no admitido: '.json'. Use uno de estos: .csv, .tsv, .tab, .txt, .parquet, .xlsx, "
           ".xlsm.", "guarde la tabla como .csv, .tsv, .tab, .txt, .parquet, .xlsx, .xlsm",
           "1 fila tiene más celdas que columnas tiene la cabecera (2): fila 1 (filas de datos",
           "ponga entre comillas las celdas que contienen el delimitador, o indique data.delimiter"],
    "ca": ["(tot el fitxer)", "no es troba el fitxer. Comproveu els camins data.* de la configuració.",
           "comproveu els camins data.* de la configuració",
           "tipus de fitxer no admès: '.json'. Utilitzeu-ne un d'aquests: .csv, .tsv, .tab, .txt, .parquet, "
           ".xlsx, .xlsm.", "deseu la taula com a .csv, .tsv, .tab, .txt, .parquet, .xlsx, .xlsm",
           "1 fila té més cel·les que columnes té la capçalera (2): fila 1 (files de dades",
           "poseu entre cometes les cel·les que contenen el delimitador, o indiqueu data.delimiter"],
}
BREACHES = {
    "es": ["parece una dirección de correo electrónico; no se aceptan datos identificativos",
           "elimine la columna de la exportación (solo códigos seudónimos)",
           "{n} valores que no son números (p. ej., 'x')", "1 valor que no es un número (p. ej., 'abc')",
           "use números sin formato con punto decimal; deje la celda vacía cuando falte el dato",
           "1 fila nombra a un paciente que no está en {patients}",
           "añada el paciente a la tabla patients o elimine estas filas",
           "falta una columna obligatoria", "añada la columna; outcomes necesita patient_id, dropout"],
    "ca": ["sembla una adreça de correu electrònic; no s'accepten dades identificatives",
           "elimineu la columna de l'exportació (només codis pseudònims)",
           "{n} valors que no són nombres (p. ex., 'x')", "1 valor que no és un nombre (p. ex., 'abc')",
           "utilitzeu nombres sense format amb punt decimal; deixeu la cel·la buida quan falti la dada",
           "1 fila esmenta un pacient que no és a {patients}",
           "afegiu el pacient a la taula patients o elimineu aquestes files",
           "falta una columna obligatòria", "afegiu la columna; outcomes necessita patient_id, dropout"],
}


@pytest.mark.parametrize("code", ["es", "ca"])
def test_problems_that_stop_the_reading_are_in_the_pages_language(tmp_path, instruments, code):
    """No file could be read: every problem and fix is translated, nothing is left marked English."""
    outcome = run_validation(unreadable(tmp_path), {}, instruments)
    html = page(outcome, code)
    text = unescape(html)
    assert [phrase for phrase in UNREADABLE[code] if phrase not in text] == []
    assert [p.message for p in outcome.problems if p.message in text] == []
    assert [p.fix for p in outcome.problems if p.fix in text] == []
    assert "(whole file)" not in text and SPAN.findall(html) == []  # was 6: each problem's message and fix
    assert english_prose(html, tmp_path) == []


@pytest.mark.parametrize("code", ["es", "ca"])
def test_problems_with_the_contract_are_in_the_pages_language(tmp_path, instruments, code):
    """The contract's problems are translated, with the data (columns, files, values quoted from the
    file) as they are and counts as the language writes them; nothing is left in English."""
    data = contract_breaches(tmp_path, instruments)
    outcome = run_validation(data, {}, instruments)
    html = page(outcome, code)
    text = unescape(html)
    with use_language(code):
        n = format_count(SESSIONS - 1)
    expected = [phrase.format(n=n, patients=data["patients"]) for phrase in BREACHES[code]]
    assert [phrase for phrase in expected if phrase not in text] == []
    assert [p.message for p in outcome.problems if p.message in text] == []
    assert [p.fix for p in outcome.problems if p.fix in text] == []
    assert "values that are not numbers" not in text and "identifying data are refused" not in text
    # was 16: 2 per problem (message and fix) and 2 per file read (its format and delimiter)
    assert len(outcome.problems) == 5 and SPAN.findall(html) == []
    assert english_prose(html, tmp_path) == []


@pytest.mark.parametrize("code", ["es", "ca"])
def test_warnings_are_in_the_pages_language_with_exact_counts(tmp_path, instruments, code):
    """The validation page stays at the clinic: a warning gives its exact count (not "<k" as in the
    report), in the page's language; its English `message` is unchanged."""
    outcome = run_validation(with_warnings(tmp_path, instruments), {"min_cell_size": 10}, instruments)
    assert outcome.passed
    kinds = {w["kind"]: w for w in outcome.warnings}
    assert kinds["no_scored_session"]["message"] == (
        "1 patient has no scored alliance session (no attended session with an alliance score); models "
        "of alliance leave them out")
    assert all(str(read_message(w["message_message"])) == w["message"] for w in outcome.warnings)
    assert outcome.summary()["warnings"] == outcome.warnings
    html = page(outcome, code)
    text = unescape(html)
    assert {"es": "1 paciente sin ninguna sesión con la alianza puntuada",
            "ca": "1 pacient sense cap sessió amb l'aliança puntuada"}[code] in text
    assert {"es": "2 terapeutas con un solo paciente",
            "ca": "2 terapeutes amb un sol pacient"}[code] in text
    assert "(s)" not in text and "(es)" not in text and "(ns)" not in text
    assert "<10" not in text and [w["message"] for w in outcome.warnings if w["message"] in text] == []
    assert SPAN.findall(html) == []  # was 8: the 2 warnings, and the format and delimiter of each file
    assert english_prose(html, tmp_path) == []
    english = page(outcome, "en")
    assert "1 patient has no scored alliance session" in english
    assert "Passed with 2 warnings:" in english and "(s)" not in english
    # the kind of each warning: a phrase in the page's language (it was the English code), the code in English
    for kind, words in {"no_scored_session": {"es": "sin sesión puntuada", "ca": "sense sessió puntuada"},
                        "therapist_one_patient": {"es": "terapeuta con un solo paciente",
                                                  "ca": "terapeuta amb un sol pacient"}}.items():
        assert f"<tr><td>{words[code]}</td>" in html and f"<td>{kind}</td>" not in html
        assert f"<tr><td>{kind}</td>" in page(outcome, "en")


def warnings_of(tmp_path: Path, instruments: dict, patients: int, min_cell_size: int = 10) -> dict:
    """The data warnings of `patients` valid patients, each alone with a therapist, none with a scored
    session, each a dropout with an outcome row but the first two, and two attended sessions at or past their
    last planned one, numbered 1 and 3 (session 2 without a row); by kind."""
    items, csq = instruments["alliance"].item_columns, instruments["satisfaction"].item_columns
    tmp_path.mkdir()
    ids = [f"P{i}" for i in range(1, patients + 1)]
    empty = ",".join("" for _ in items)
    data = {
        "patients": write(tmp_path / "patients.csv", "patient_id,therapist_id,sessions_planned\n"
                          + "".join(f"{p},T{p},1\n" for p in ids)),
        "sessions": write(tmp_path / "sessions.csv", f"patient_id,session,attended,{','.join(items)}\n"
                          + "".join(f"{p},1,1,{empty}\n{p},3,1,{empty}\n" for p in ids)),
        "outcomes": write(tmp_path / "outcomes.csv", f"patient_id,dropout,{','.join(csq)}\n"
                          + "".join(f"{p},1,{','.join('3' for _ in csq)}\n" for p in ids[2:])),
    }
    outcome = run_validation(data, {"min_cell_size": min_cell_size}, instruments)
    assert outcome.passed
    return {w["kind"]: w for w in outcome.warnings}


@pytest.mark.parametrize(("code", "one", "several", "suppressed"), [
    ("en", ["1 patient has no scored alliance session", "1 therapist has a single patient",
            "1 patient has no row in the outcomes table", "models of alliance leave them out",
            "1 patient's session numbers skip 1 number between 1 and their last"],
     ["4 patients have no scored alliance session", "4 therapists have a single patient",
      "2 patients recorded as dropouts attended their last planned session or later (4 session rows)",
      "2 patients have no row in the outcomes table",
      "4 patients' session numbers skip 4 numbers between 1 and their last"],
     ["<10 patients have no scored alliance session", "<10 therapists have a single patient",
      "<10 patients recorded as dropouts attended their last planned session or later (<10 session rows)",
      "<10 patients' session numbers skip <10 numbers"]),
    ("es", ["1 paciente sin ninguna sesión con la alianza puntuada", "1 terapeuta con un solo paciente",
            "1 paciente sin fila en la tabla de desenlaces", "los modelos de la alianza no lo incluyen",
            "la numeración de sesiones de 1 paciente salta 1 número"],
     ["4 pacientes sin ninguna sesión con la alianza puntuada", "4 terapeutas con un solo paciente",
      "2 pacientes registrados como abandono asistieron a su última sesión prevista o a una posterior "
      "(4 filas de sesiones)", "2 pacientes sin fila en la tabla de desenlaces",
      "la numeración de sesiones de 4 pacientes salta 4 números"],
     ["<10 pacientes sin ninguna sesión", "<10 terapeutas con un solo paciente",
      "<10 pacientes registrados como abandono", "(<10 filas de sesiones)",
      "la numeración de sesiones de <10 pacientes salta <10 números"]),
    ("ca", ["1 pacient sense cap sessió amb l'aliança puntuada", "1 terapeuta amb un sol pacient",
            "1 pacient sense cap fila a la taula de desenllaços", "els models de l'aliança no l'inclouen",
            "la numeració de sessions d'1 pacient salta 1 número"],
     ["4 pacients sense cap sessió amb l'aliança puntuada", "4 terapeutes amb un sol pacient",
      "2 pacients registrats com a abandonament van assistir a la seva última sessió prevista o a una de "
      "posterior (4 files de sessions)", "2 pacients sense cap fila a la taula de desenllaços",
      "la numeració de sessions de 4 pacients salta 4 números"],
     ["<10 pacients sense cap sessió", "<10 terapeutes amb un sol pacient",
      "<10 pacients registrats com a abandonament", "(<10 files de sessions)",
      "la numeració de sessions de <10 pacients salta <10 números"]),
])
def test_the_data_warnings_have_singular_and_plural_forms(tmp_path, instruments, code, one, several,
                                                          suppressed):
    """A clinician writes "1 paciente" and "4 pacientes", not "paciente(s)": each data warning is a plural
    message chosen by its count; a count the report suppresses ("<10") takes the plural form."""
    def written(warnings: dict, key: str) -> str:
        with use_language(code):
            return " | ".join(read_message(w[key]).render() for w in warnings.values())

    single = written(warnings_of(tmp_path / "one", instruments, 1), "message_message")
    four = warnings_of(tmp_path / "four", instruments, 4)
    plural = written(four, "message_message")
    shown = written(four, "report_message_message")
    assert [phrase for phrase in one if phrase not in single] == []
    assert [phrase for phrase in several if phrase not in plural] == []
    assert [phrase for phrase in suppressed if phrase not in shown] == []
    for text in (single, plural, shown):
        assert not re.search(r"\((s|es|ns)\)|\w\(", text), text


def test_a_problem_without_a_message_stays_english_marked_as_such(tmp_path, instruments):
    """A problem made from text alone (an error raised outside the ingest stage) is shown as written."""
    outcome = run_validation(unreadable(tmp_path), {}, instruments)
    outcome.problems = [Problem("f.csv", "c", "something unreadable", "do this")]
    html = page(outcome, "es")
    assert SPAN.findall(html) == ["something unreadable", "do this"]


# ---- How each file was read -----------------------------------------------------------------------------

def dialects(tmp_path: Path, instruments: dict) -> dict:
    """The files of `with_warnings` as clinics export them: patients with semicolons, a decimal comma and a
    byte-order mark, sessions tab-delimited, outcomes with Excel's sep= line."""
    data = with_warnings(tmp_path, instruments)
    (tmp_path / "patients.csv").write_text("patient_id;therapist_id;sessions_planned;baseline_severity\n"
                                           "P1;T1;6;20,5\nP2;T2;8;17\n", encoding="utf-8-sig")
    sessions = Path(data["sessions"]).read_text(encoding="utf-8").replace(",", "\t")
    return data | {"sessions": write(tmp_path / "sessions.tsv", sessions),
                   "outcomes": write(tmp_path / "outcomes.csv",
                                     "sep=,\n" + Path(data["outcomes"]).read_text(encoding="utf-8"))}


READ = {
    "en": ["<td>text</td><td>utf-8 with byte-order mark</td><td>semicolon (detected)</td>",
           "<td>text</td><td>utf-8</td><td>tab (detected)</td>",
           "<td>text</td><td>utf-8</td><td>comma (from the file&#39;s sep= line)</td>"],
    "es": ["<td>texto</td><td>utf-8 con marca de orden de bytes</td><td>punto y coma (detectado)</td>",
           "<td>texto</td><td>utf-8</td><td>tabulador (detectado)</td>",
           "<td>texto</td><td>utf-8</td><td>coma (de la línea sep= del archivo)</td>"],
    "ca": ["<td>text</td><td>utf-8 amb marca d&#39;ordre de bytes</td><td>punt i coma (detectat)</td>",
           "<td>text</td><td>utf-8</td><td>tabulador (detectat)</td>",
           "<td>text</td><td>utf-8</td><td>coma (de la línia sep= del fitxer)</td>"],
}


@pytest.mark.parametrize("code", ["en", "es", "ca"])
def test_how_each_file_was_read_is_in_the_pages_language(tmp_path, instruments, code):
    """The format, encoding and delimiter of each file (semicolons and a decimal comma, tabs, a sep= line)
    are written in the page's language, none marked English; in English, and in validation_summary.json,
    they are the reader's text as before."""
    outcome = run_validation(dialects(tmp_path, instruments), {}, instruments)
    assert outcome.passed, outcome.problems
    html = page(outcome, code)
    assert [row for row in READ[code] if row not in html] == []
    assert "<td>baseline_severity</td>" in html  # the column whose decimal commas were converted
    assert SPAN.findall(html) == [] and (code == "en" or english_prose(html, tmp_path) == [])
    reading = outcome.summary()["reading"]
    assert [(reading[t]["format"], reading[t]["encoding"], reading[t]["delimiter"]) for t in reading] == [
        ("text", "utf-8 with byte-order mark", "semicolon (detected)"), ("text", "utf-8", "tab (detected)"),
        ("text", "utf-8", "comma (from the file's sep= line)")]


@pytest.mark.parametrize("code", ["es", "ca"])
def test_an_excel_file_and_a_delimiter_set_in_the_config(tmp_path, instruments, code):
    """An Excel sheet's format is its name, not marked English; a delimiter set in data.delimiter is said in
    the page's language."""
    import openpyxl

    data = with_warnings(tmp_path, instruments)
    book = openpyxl.Workbook()
    book.active.title = "Pacientes"
    for row in (["patient_id", "therapist_id", "sessions_planned"], ["P1", "T1", 6], ["P2", "T2", 8]):
        book.active.append(row)
    book.save(tmp_path / "patients.xlsx")
    for table in ("sessions", "outcomes"):
        write(Path(data[table]), Path(data[table]).read_text(encoding="utf-8").replace(",", "|"))
    outcome = run_validation(data | {"patients": str(tmp_path / "patients.xlsx"), "delimiter": "|"}, {},
                             instruments)
    assert outcome.passed, outcome.problems
    html = page(outcome, code)
    assert "<td>excel</td><td></td><td></td><td>Pacientes</td>" in html
    pipe = {"es": "<td>texto</td><td>utf-8</td><td>barra vertical (indicado en data.delimiter)</td>",
            "ca": "<td>text</td><td>utf-8</td><td>barra vertical (indicat a data.delimiter)</td>"}[code]
    assert html.count(pipe) == 2
    assert SPAN.findall(html) == [] and english_prose(html, tmp_path) == []
    assert "<td>text</td><td>utf-8</td><td>pipe (set in data.delimiter)</td>" in page(outcome, "en")


def test_the_readers_words_are_messages_whose_english_is_the_info():
    """Each word of `ReadResult.info` (format, encoding, delimiter) is a `Message` whose English is the
    info's text, one source for the summary and the page; names (excel, utf-16) stay text."""
    result = read_export(Path(__file__).parent / "data/exports/clinica_es/pacientes.csv")
    assert set(result.info_messages) == {"format", "encoding", "delimiter"}
    assert {key: str(message) for key, message in result.info_messages.items()} == {
        "format": "text", "encoding": "latin-1 (detected: not valid UTF-8)",
        "delimiter": "semicolon (detected)"}
    assert {key: result.info[key] for key in result.info_messages} == {
        key: str(message) for key, message in result.info_messages.items()}
    with use_language("es"):
        assert [m.render() for m in result.info_messages.values()] == [
            "texto", "latin-1 (detectado: no es UTF-8 válido)", "punto y coma (detectado)"]
    with use_language("ca"):
        assert [m.render() for m in result.info_messages.values()] == [
            "text", "latin-1 (detectat: no és UTF-8 vàlid)", "punt i coma (detectat)"]


@pytest.mark.slow
def test_the_tables_of_files_stay_in_the_text_column(tmp_path, instruments):
    """The tables naming files (files read, warnings), in Spanish (the longest headings) and with the long
    path of a clinic's export folder, stay in the page's text column at 1280 px: a path breaks after each
    slash (`<wbr>`, which adds no character to the copied text). Unbroken, the warnings' path ran past the
    window, and the files table about 100 px past the column with the default run's short paths."""
    from browser import check_page

    folder = tmp_path / "datos_clinicos" / "exportacion_2026_noviembre" / "fisioterapia_y_psicoterapia"
    folder.mkdir(parents=True)
    data = dialects(folder, instruments)
    outcome = run_validation(data, {"min_cell_size": 10}, instruments)
    assert outcome.passed and outcome.warnings
    html = page(outcome, "es")
    (tmp_path / "page.html").write_text(html, encoding="utf-8")
    result = check_page(tmp_path / "page.html", tmp_path / "page.png", height=2000)
    assert result.console == [] and result.overflow == [] and result.past_text == []
    cells = [unescape(cell.replace("<wbr>", "")) for cell in re.findall(r"<td><code>(.*?)</code></td>", html)]
    files = [cell for cell in cells if "/" in cell]
    assert files[:3] == [data[table] for table in ("patients", "sessions", "outcomes")]
    assert set(files[3:]) <= set(data.values()) and len(files) > 3  # the warnings' files
