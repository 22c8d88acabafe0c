"""The languages of the report: one gettext message catalogue per language, and the active language.

English is the source language (the messages in the code and templates); Spanish and Catalan come from
`i18n/es.po` and `i18n/ca.po`, read with Babel when the report is built (no compiled `.mo` files are
kept). A run writes its report in `report.language`: the report job sets it with `use_language`, and every
message is looked up when it is shown (`_`), so that code marking a message at import time uses `N_` and
translates it where it is used.

`python -m alliance.i18n` re-extracts the messages of the package (Python and the report templates) and
merges them into the catalogues: a new message is added untranslated, a changed one is flagged fuzzy, a
removed one dropped; `tests/report/test_language.py` fails until every message is translated.

A foundation module: it imports nothing of the project, so that any stage can mark its messages.
"""

from __future__ import annotations

import gettext
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from functools import cache
from io import BytesIO
from pathlib import Path

LANGUAGES = ("en", "es", "ca")
SOURCE_LANGUAGE = "en"
LOCALE_DIR = Path(__file__).parent
PACKAGE_DIR = Path(__file__).parents[1]
# What `python -m alliance.i18n` reads: the package's Python code and the report templates.
METHOD_MAP = [("**.py", "python"), ("**/templates/**.html", "jinja2.ext:babel_extract")]
KEYWORDS = {"_": None, "N_": None, "gettext": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2)}
# Fixed catalogue dates: the files change only when their messages do.
CATALOGUE_DATE = datetime(2026, 12, 2)

_language: ContextVar[str] = ContextVar("report_language", default=SOURCE_LANGUAGE)


def language() -> str:
    """The active language (`use_language`), English unless set."""
    return _language.get()


@contextmanager
def use_language(code: str) -> Iterator[None]:
    """Write every message inside the block in `code` (one of `LANGUAGES`)."""
    if code not in LANGUAGES:
        raise ValueError(f"unknown report language {code!r}: one of {', '.join(LANGUAGES)}")
    token = _language.set(code)
    try:
        yield
    finally:
        _language.reset(token)


@cache
def translations(code: str) -> gettext.NullTranslations:
    """The catalogue of language `code`, compiled in memory from `i18n/<code>.po`; untranslated and
    fuzzy messages fall back to English."""
    if code == SOURCE_LANGUAGE:
        return gettext.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with open(LOCALE_DIR / f"{code}.po", "rb") as file:
        catalog = read_po(file, locale=code)
    compiled = BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def _(message: str) -> str:
    """`message` in the active language."""
    return translations(language()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form of a message for `n`, in the active language."""
    return translations(language()).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    """`message` in the active language, told apart from the same English words elsewhere by `context`."""
    return translations(language()).pgettext(context, message)


def N_(message: str) -> str:
    """Mark `message` for the catalogue without translating it: it is translated (`_`) where it is shown."""
    return message


# ---- Keeping the catalogues in step with the code ---------------------------------------------------


def extract_messages():
    """Every message the package marks, as a Babel catalogue template (no source locations: the
    catalogues change only when the messages do)."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract_from_dir

    template = Catalog(project="alliance", creation_date=CATALOGUE_DATE, revision_date=CATALOGUE_DATE,
                       fuzzy=False)
    for _filename, _lineno, message, comments, context in extract_from_dir(
        PACKAGE_DIR, method_map=METHOD_MAP, keywords=KEYWORDS, comment_tags=("Translators:",),
        strip_comment_tags=True,
    ):
        template.add(message, None, auto_comments=comments, context=context)
    return template


def read_catalogue(code: str):
    """The catalogue of language `code` as Babel reads it."""
    from babel.messages.pofile import read_po

    with open(LOCALE_DIR / f"{code}.po", "rb") as file:
        return read_po(file, locale=code)


def write_catalogue(catalog, code: str) -> None:
    """Write a catalogue to `i18n/<code>.po`, sorted, without source locations."""
    from babel.messages.pofile import write_po

    catalog.revision_date = CATALOGUE_DATE
    buffer = BytesIO()
    write_po(buffer, catalog, width=100, sort_output=True, include_lineno=False, include_previous=False,
             ignore_obsolete=True)
    (LOCALE_DIR / f"{code}.po").write_bytes(buffer.getvalue())


def update_catalogues() -> dict[str, int]:
    """Merge the extracted messages into every catalogue; the number of messages still to translate (new,
    changed or empty) per language."""
    from babel.messages.catalog import Catalog

    template = extract_messages()
    untranslated = {}
    for code in LANGUAGES:
        if code == SOURCE_LANGUAGE:
            continue
        path = LOCALE_DIR / f"{code}.po"
        catalog = read_catalogue(code) if path.exists() else Catalog(
            locale=code, project="alliance", version="0.1", creation_date=CATALOGUE_DATE, fuzzy=False,
            header_comment=f"# The report's messages in {code} (alliance).", msgid_bugs_address="",
            last_translator="alliance contributors", language_team=f"alliance ({code})")
        catalog.update(template, no_fuzzy_matching=False)
        write_catalogue(catalog, code)
        untranslated[code] = sum(1 for m in catalog if m.id and (m.fuzzy or not m.string))
    return untranslated

