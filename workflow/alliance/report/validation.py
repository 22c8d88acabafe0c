"""The validation report: one self-contained HTML page of what the ingest stage read, refused and warned."""

from __future__ import annotations

from pathlib import Path

import jinja2

from alliance.ingest.contract import KEY, TABLES
from alliance.ingest.identifiers import KINDS
from alliance.ingest.validation import ValidationOutcome

TEMPLATES = Path(__file__).parent / "templates"


def _rows_text(problem_rows: list[int], keys: list[str], n: int) -> str:
    if not n:
        return ""
    listed = ", ".join(f"{row}" + (f" ({KEY} {key})" if key else "")
                       for row, key in zip(problem_rows, keys, strict=True))
    more = f" and {n - len(problem_rows)} more" if n > len(problem_rows) else ""
    return f"{listed}{more}"


def render_validation_report(outcome: ValidationOutcome) -> str:
    """The self-contained HTML validation report (no timestamps: byte-identical for the same inputs)."""
    inputs = outcome.inputs
    files = []
    for table in TABLES:
        result = inputs.results.get(table)
        info = result.info if result else {}
        files.append({
            "table": table, "file": inputs.files.get(table, ""),
            "read": bool(result),
            "format": info.get("format", ""), "encoding": info.get("encoding", ""),
            "delimiter": info.get("delimiter", ""), "sheet": info.get("sheet", ""),
            "rows": info.get("rows", ""), "columns": info.get("columns", ""),
            "decimal": ", ".join(info.get("decimal_comma_columns", [])),
            "renamed": [(old, new) for new, old in info.get("renamed", {}).items()],
            "recoded": ", ".join(info.get("recoded_columns", [])),
        })
    tables = outcome.validated.summary["tables"] if outcome.validated else {}
    problems = [{"file": p.file, "column": p.column, "message": p.message, "fix": p.fix,
                 "rows": _rows_text(p.rows, p.keys, p.n_rows)} for p in outcome.problems]
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                                     autoescape=jinja2.select_autoescape(["html"]),
                                     undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return environment.get_template("validation.html").render(
        passed=outcome.passed, problems=problems, warnings=outcome.warnings, files=files,
        tables=tables, privacy=outcome.privacy, kinds=KINDS,
    )
