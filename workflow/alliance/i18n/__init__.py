"""The languages of the report: one gettext message catalogue per language, and the active language.

English is the source language (the messages in the code and templates); Spanish and Catalan come from
`i18n/es.po` and `i18n/ca.po`, read with Babel when the report is built (no compiled `.mo` files are
kept). A run writes its report in `report.language`: the report job sets it with `use_language`, and every
message is looked up when it is shown (`_`), so that code marking a message at import time uses `N_` and
translates it where it is used.

A sentence made where it happens and shown later, in another process, is a `Message`: its English
template (marked for the catalogue: `Message("...")`, `Plural("...", "...", n=...)`, `Term("context",
"...")`) and its values (numbers, names kept verbatim, nested messages), stored as data (`to_json`,
`Message.from_json`) and written in the active language when shown (`render`); `str()` is its English.
A model's reasons are such messages (`alliance.errors.NotEstimable`).

`python -m alliance.i18n` re-extracts the messages of the package (Python and the report templates) and
merges them into the catalogues: a new message is added untranslated, a changed one is flagged fuzzy, a
removed one dropped; `tests/report/test_language.py` fails until every message is translated.

A foundation module: it imports nothing of the project, so that any stage can mark its messages.
"""

from __future__ import annotations

import gettext
import json
import numbers
import re
import string
from collections.abc import Callable, Iterator, Mapping, Sequence
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
KEYWORDS = {"_": None, "N_": None, "gettext": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2),
            "Message": None, "Plural": (1, 2), "Term": ((1, "c"), 2)}
# Fixed catalogue dates: the files change only when their messages do.
CATALOGUE_DATE = datetime(2026, 12, 2)

_language: ContextVar[str] = ContextVar("report_language", default=SOURCE_LANGUAGE)
_min_cell_size: ContextVar[int | None] = ContextVar("min_cell_size", default=None)
COUNT_CONTEXT = "count"  # the context of a `Count`, kept in its JSON data


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


@contextmanager
def suppressing_counts(min_cell_size: int) -> Iterator[None]:
    """Write every `Count` of 1 to `min_cell_size` - 1 inside the block as "<k" (the report's disclosure
    rule), its share too."""
    token = _min_cell_size.set(min_cell_size)
    try:
        yield
    finally:
        _min_cell_size.reset(token)


def suppressed_count(count: object) -> str | None:
    """ "<k" for a count of 1 to k - 1 while `suppressing_counts(k)` is active; else None."""
    k = _min_cell_size.get()
    return f"<{k}" if k is not None and isinstance(count, int | float) and 0 < count < k else None


def complement_suppressed(count: object, of: object) -> Message | None:
    """ "more than of - k" for a count of `of` that leaves 1 to k - 1 of them while `suppressing_counts(k)`
    is active (95 of 98 at the maximum told that 3 were not); else None."""
    k = _min_cell_size.get()
    if k is None or not isinstance(count, int | float) or not isinstance(of, int | float):
        return None
    # `alliance.ingest.privacy.discloses` for a count of k or more (one below k is "<k"), written out: the
    # foundations import no stage (tests/test_layout.py)
    return Message("more than {n}", n=int(of) - k) if count >= k and 0 < of - count < k else None


def active_min_cell_size() -> int | None:
    """The k of the active `suppressing_counts(k)`, None outside it."""
    return _min_cell_size.get()


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


# ---- Messages made where they happen, written when they are shown ---------------------------------------

_FORMATTER = string.Formatter()
# Catalan elides "de" and "el" before a vowel or a silent h and a vowel: "de aliança" is "d'aliança".
# A value said with a vowel first: a word, or a number read "u" or "onze" (1, 1,5, 11; not 10 or 1.000)
_ELIDED = {"ca": (re.compile(r"(?:^|(?<=[\s(]))(de|el) $", re.I),
                  re.compile(r"h?[aeiouàèéíïòóúü]|11?(?:,\d+)?(?![\d.])", re.I), {"de": "d'", "el": "l'"})}


def english_number(value: float, spec: str) -> str:
    """A number of a message as its English template writes it: Python's format `spec`, or `spec` ending
    in `u` for a number bounded by 1 in fixed point without its leading zero (APA: ".123" for ".3u")."""
    if spec.endswith("u"):
        text = format(value, spec[:-1] + "f")
        return text.replace("0.", ".", 1) if text.startswith(("0.", "-0.")) else text
    return format(value, spec)


def _stored(value: object) -> object:
    """A value of a message as it is kept: a Message, an int, a float, a tuple of values, or else text."""
    if isinstance(value, Message | str):
        return value
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, list | tuple):
        return tuple(_stored(item) for item in value)
    return str(value)


class Message:
    """A sentence in words set where it happens (e.g. why a model could not be fitted) and written in the
    report's language where it is shown.

    `template` is the English, marked for the catalogue (`Message("only {n} patients ...", n=3)`), with
    named placeholders, a number's with its format spec (`{value:.2f}`, and `u` for `english_number`).
    A value is a number (written as the language writes numbers), text kept as it is (a column, an
    instrument's name), a nested message (a word such as an outcome, `Term`) or a tuple of these (joined
    by commas). `str()` is the English; `render` the active language; `to_json` and `from_json` the data.
    """

    __slots__ = ("context", "plural", "template", "values")

    def __init__(self, template: str, /, **values: object) -> None:
        self.template, self.plural, self.context = template, "", ""
        self.values: dict[str, object] = {name: _stored(value) for name, value in values.items()}

    @classmethod
    def join(cls, parts: Sequence[Message], separator: str) -> Message:
        """`parts` in one message, separated by `separator` (punctuation: it is not translated)."""
        joined = cls(separator.join(f"{{part{i}}}" for i in range(len(parts))))
        joined.values = {f"part{i}": part for i, part in enumerate(parts)}
        return joined

    def render(self, number: Callable[[float, str], str] = english_number) -> str:
        """The message in the active language (`use_language`), nested messages too, each number written by
        `number(value, spec)`, a word before a value elided where the language does so (`_elided`)."""
        if self.context == COUNT_CONTEXT and (hidden := suppressed_count(self.values["n"])) is not None:
            return hidden
        if self.context == COUNT_CONTEXT and (
                rest := complement_suppressed(self.values["n"], self.values.get("of"))) is not None:
            return rest.render(number)
        catalogue = translations(language())
        if self.plural:
            template = catalogue.ngettext(self.template, self.plural, _count(self.values["n"]))
        elif self.context:
            template = catalogue.pgettext(self.context, self.template)
        else:
            template = catalogue.gettext(self.template)
        parts = []
        for text, name, spec, _conversion in _FORMATTER.parse(template):
            value = "" if name is None else _written(self.values[name], spec or "", number)
            parts.append(_elided(text, value))
            parts.append(value)
        return "".join(parts)

    def __str__(self) -> str:
        with use_language(SOURCE_LANGUAGE):
            return self.render()

    def __repr__(self) -> str:
        return f"Message({str(self)!r})"

    def _key(self) -> tuple:
        return self.template, self.plural, self.context, tuple(sorted(self.values.items()))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Message) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def to_json(self) -> dict:
        """The message as JSON-ready data (nested messages as such dicts, tuples as lists)."""
        data: dict = {"template": self.template, "values": {k: _json(v) for k, v in self.values.items()}}
        if self.plural:
            data["plural"] = self.plural
        if self.context:
            data["context"] = self.context
        return data

    @classmethod
    def from_json(cls, data: Mapping) -> Message:
        """The message `to_json` wrote."""
        message = cls(data["template"])
        message.plural, message.context = data.get("plural", ""), data.get("context", "")
        message.values = {name: _from_json(value) for name, value in data["values"].items()}
        return message


class Plural(Message):
    """A message with a singular and a plural template, chosen by its value `n` (as `ngettext`); an `n`
    given as text (a small count shown as "<10") takes the plural form ("<10 patients")."""

    __slots__ = ()

    def __init__(self, singular: str, plural: str, /, n: int, **values: object) -> None:
        super().__init__(singular, n=n, **values)
        self.plural = plural


class Count(Message):
    """A count of patients or sessions in a message, with its share of `of` when given ("24 (8.2%)"):
    written as "<k" for 1 to k - 1 inside `suppressing_counts(k)` (the report), so that no reason or note
    gives a small count away; as the number elsewhere (results tables, logs)."""

    __slots__ = ()

    def __init__(self, n: int, of: int | None = None) -> None:
        if of:  # `of` kept: a count that leaves 1 to k - 1 of them is "more than of - k" (its share too)
            super().__init__("{n} ({share:.1%})", n=n, share=n / of, of=of)
        else:
            super().__init__("{n}", n=n)
        self.context = COUNT_CONTEXT


class Term(Message):
    """A word or phrase without values, told apart from the same English elsewhere by `context` (as
    `pgettext`): an outcome, a predictor, a variable of a model."""

    __slots__ = ()

    def __init__(self, context: str, text: str, /) -> None:
        super().__init__(text)
        self.context = context


def message_text(message: Message | Mapping | None) -> str:
    """A message (or its `to_json` data) as one line of JSON text for a table cell, keys sorted; "" for
    None."""
    if message is None:
        return ""
    data = message.to_json() if isinstance(message, Message) else message
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def read_message(value: object) -> Message | None:
    """The message a record holds: its `to_json` data, or that as JSON text (`message_text`); None when
    the record has none (None, "", or NaN from a CSV cell)."""
    if isinstance(value, Mapping):
        return Message.from_json(value)
    if isinstance(value, str) and value:
        return Message.from_json(json.loads(value))
    return None


def _count(n: object) -> int:
    """The number that chooses a plural message's form: `n`, or for a count shown as text ("<10") one that
    every language writes in the plural form (2)."""
    if isinstance(n, Message) and n.context == COUNT_CONTEXT:  # a `Count`, or its JSON data read back
        hidden = (suppressed_count(n.values["n"]) is not None
                  or complement_suppressed(n.values["n"], n.values.get("of")) is not None)
        return 2 if hidden else int(n.values["n"])
    return int(n) if isinstance(n, int | float) else 2


def _elided(text: str, value: str) -> str:
    """`text`, the words before a value written into a message, with its last word elided before the value
    where the active language does so (Catalan: "de" + "aliança" is "d'aliança"; `_ELIDED`)."""
    if language() not in _ELIDED:
        return text
    word, sound, elided = _ELIDED[language()]
    found = word.search(text)
    if not found or not sound.match(value):
        return text
    form = elided[found.group(1).lower()]
    return text[:found.start()] + (form.capitalize() if found.group(1)[0].isupper() else form)


def elided_format(template: str, /, **values: object) -> str:
    """`template.format(**values)` with the word before a value elided where the active language does so
    (`_elided`: Catalan "de 1,38" is "d'1,38"), for text written outside a `Message`."""
    parts = []
    for text, name, spec, conversion in _FORMATTER.parse(template):
        parts.append(text)
        if name is not None:
            value = _FORMATTER.convert_field(_FORMATTER.get_field(name, (), values)[0], conversion)
            written = _FORMATTER.format_field(value, spec or "")
            parts[-1] = _elided(text, written)
            parts.append(written)
    return "".join(parts)


def _written(value: object, spec: str, number: Callable[[float, str], str]) -> str:
    if isinstance(value, Message):
        return value.render(number)
    if isinstance(value, tuple):
        return ", ".join(_written(item, spec, number) for item in value)
    if isinstance(value, int | float):
        return number(value, spec)
    return format(value, spec)


def _json(value: object) -> object:
    if isinstance(value, Message):
        return value.to_json()
    return [_json(item) for item in value] if isinstance(value, tuple) else value


def _from_json(value: object) -> object:
    if isinstance(value, dict):
        return Message.from_json(value)
    return tuple(_from_json(item) for item in value) if isinstance(value, list) else value


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
        untranslated[code] = sum(1 for m in catalog if m.id and (m.fuzzy or not all(
            m.string if isinstance(m.string, tuple) else (m.string,))))
    return untranslated

