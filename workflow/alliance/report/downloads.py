"""Every table of the report downloadable as CSV from the page itself (no script, works offline).

After rendering, each `<table>` is read back (the cells as shown, so suppressed counts stay suppressed)
and a link with the table as a `data:text/csv` URI is placed under it.
"""

from __future__ import annotations

import base64
import csv
import io
import re
import unicodedata
from html import escape
from html.parser import HTMLParser

from alliance.i18n import _

TABLE = re.compile(r"<table\b.*?</table>", re.DOTALL)


class _TableReader(HTMLParser):
    """Rows of cell texts of one table, and its caption."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self.caption = ""
        self._cell: list[str] | None = None
        self._in_caption = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "caption":
            self._in_caption = True

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self.rows:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "caption":
            self._in_caption = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        elif self._in_caption:
            self.caption += data


def table_csv(table_html: str) -> tuple[str, str]:
    """The CSV text of one rendered table (header and body rows as shown) and its caption."""
    reader = _TableReader()
    reader.feed(table_html)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(row for row in reader.rows if row)
    return buffer.getvalue(), " ".join(reader.caption.split())


def _file_name(caption: str, index: int) -> str:
    plain = unicodedata.normalize("NFKD", caption).encode("ascii", "ignore").decode()  # "anàlisi": "analisi"
    slug = re.sub(r"[^a-z0-9]+", "_", plain.lower()).strip("_")[:60]
    return f"table_{index:02d}_{slug or 'table'}.csv"


def add_csv_downloads(html: str) -> str:
    """The report with a "Download as CSV" link under every table."""
    index = 0

    def link(match: re.Match) -> str:
        nonlocal index
        index += 1
        text, caption = table_csv(match.group(0))
        uri = "data:text/csv;charset=utf-8;base64," + base64.b64encode(text.encode()).decode()
        name = _file_name(caption, index)
        label = escape(_("Download this table as CSV"))
        return (f'{match.group(0)}\n<p class="download"><a download="{escape(name)}" href="{uri}">'
                f"{label}</a></p>")

    return TABLE.sub(link, html)
