"""The validation report: one self-contained HTML page of what the ingest stage read, refused and warned.

The page is written in the active language (`alliance.i18n.use_language`), the problems and warnings too,
from the ingest stage's messages (`Problem.message_message` and `fix_message`, a warning's
`message_message`, with exact counts), and how each file was read (`ReadResult.info_messages`); in English
they are the ingest stage's text, as on the console. A problem without a message (an error raised outside
the ingest stage) stays English, marked as such (`foreign`).
"""

from __future__ import annotations

from pathlib import Path

import jinja2
from markupsafe import Markup

from alliance.errors import WHOLE_FILE
from alliance.i18n import N_, SOURCE_LANGUAGE, Message, _, language, ngettext, pgettext, read_message
from alliance.ingest.contract import KEY, TABLES
from alliance.ingest.identifiers import KINDS
from alliance.ingest.validation import ValidationOutcome
from alliance.report.format import foreign, format_count, format_value

TEMPLATES = Path(__file__).parent / "templates"

# The kinds of identifying data the ingest stage refuses (`alliance.ingest.validation.REFUSED`), as the page
# says them; any other wording is shown as the ingest stage wrote it.
REFUSED = N_("names, e-mail addresses, phone numbers, street addresses and postcodes, dates of birth and "
             "other exact dates, national identity numbers (Spanish DNI/NIE, NHS, US SSN), medical record "
             "numbers and free-text notes")


def warning_kind(kind: str) -> str:
    """A warning's kind in a table cell: its code (the key in validation_summary.json that
    docs/data-contract.md lists) in English, a short phrase in Spanish or Catalan."""
    # Translators: the kinds of data warnings, as codes (docs/data-contract.md, "Warnings"): a short phrase
    # each, in a table cell of the validation page.
    kinds = {"no_scored_session": pgettext("warning kind", "no_scored_session"),
             "therapist_one_patient": pgettext("warning kind", "therapist_one_patient"),
             "session_gaps": pgettext("warning kind", "session_gaps"),
             "sessions_after_dropout": pgettext("warning kind", "sessions_after_dropout"),
             "patient_without_outcome": pgettext("warning kind", "patient_without_outcome"),
             "k_anonymity": pgettext("warning kind", "k_anonymity"),
             "column_map_unused": pgettext("warning kind", "column_map_unused")}
    return kinds.get(kind, kind)


def _words(message: Message | None, english: str) -> str | Markup:
    """A problem's or a warning's text in the active language from its message; its `english` in English
    (the ingest stage's text, as on the console) or without a message (marked as English, `foreign`)."""
    if message is None or language() == SOURCE_LANGUAGE:
        return foreign(english)
    return message.render(format_value)


def _read(info: dict, messages: dict[str, Message], key: str) -> str:
    """How a file was read (`key` of its `info`: format, encoding, delimiter) in the active language: its
    message, or as the reader wrote it (a name: excel, utf-8)."""
    return messages[key].render(format_value) if key in messages else info.get(key, "")


def _rows_text(problem_rows: list[int], keys: list[str], n: int) -> str:
    if not n:
        return ""
    # Translators: a data row of a file and the patient code on it ("12 (patient_id P07)").
    listed = ", ".join(_("{row} ({key_column} {key})").format(row=row, key_column=KEY, key=key) if key
                       else f"{row}" for row, key in zip(problem_rows, keys, strict=True))
    if n > len(problem_rows):
        # Translators: the rows of a problem: the first few listed, then how many more ("3, 8 and 12 more").
        return _("{rows} and {n} more").format(rows=listed, n=format_count(n - len(problem_rows)))
    return listed


def _environment() -> jinja2.Environment:
    """The page's template, with gettext (`_("...")`, `pgettext`) in the active language."""
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                                     autoescape=jinja2.select_autoescape(["html"]),
                                     undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                                     extensions=["jinja2.ext.i18n"])
    environment.install_gettext_callables(gettext=_, ngettext=ngettext, pgettext=pgettext, newstyle=True)
    return environment


def render_validation_report(outcome: ValidationOutcome) -> str:
    """The self-contained HTML validation report (no timestamps: byte-identical for the same inputs), in the
    active language."""
    inputs = outcome.inputs
    files = []
    for table in TABLES:
        result = inputs.results.get(table)
        info, messages = (result.info, result.info_messages) if result else ({}, {})
        files.append({
            "table": table, "file": inputs.files.get(table, ""),
            "read": bool(result),
            "format": _read(info, messages, "format"), "encoding": _read(info, messages, "encoding"),
            "delimiter": _read(info, messages, "delimiter"), "sheet": info.get("sheet", ""),
            "rows": format_count(info["rows"]) if "rows" in info else "",
            "columns": format_count(info["columns"]) if "columns" in info else "",
            "decimal": ", ".join(info.get("decimal_comma_columns", [])),
            "renamed": [(old, new) for new, old in info.get("renamed", {}).items()],
            "recoded": ", ".join(info.get("recoded_columns", [])),
        })
    tables = {table: info | {"rows": format_count(info["rows"])}
              for table, info in (outcome.validated.summary["tables"] if outcome.validated else {}).items()}
    problems = [{"file": p.file, "column": _(WHOLE_FILE) if p.column == WHOLE_FILE else p.column,
                 "message": _words(p.message_message, p.message), "fix": _words(p.fix_message, p.fix),
                 "rows": _rows_text(p.rows, p.keys, p.n_rows)} for p in outcome.problems]
    warnings = [w | {"message": _words(read_message(w.get("message_message")), w["message"]),
                     "count": format_count(w["count"]), "kind": warning_kind(w["kind"])}
                for w in outcome.warnings]
    privacy = outcome.privacy
    refused = privacy.get("refused", "")
    anonymity = privacy.get("k_anonymity", {})
    shown_anonymity = anonymity | {name: format_count(anonymity[name]) for name in
                                   ("k", "combinations", "rare_combinations", "patients_in_rare")
                                   if name in anonymity}
    return _environment().get_template("validation.html").render(
        passed=outcome.passed, problems=problems, warnings=warnings, files=files, tables=tables,
        privacy=privacy, anonymity=shown_anonymity,
        refused=_(REFUSED) if refused == REFUSED else foreign(refused), kinds=KINDS, language=language(),
        problem_count=format_count(len(outcome.problems)), warning_count=format_count(len(outcome.warnings)),
    )
