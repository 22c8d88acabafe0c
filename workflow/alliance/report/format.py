"""Number formatting for the report, in the report's language (`alliance.i18n.language`).

English follows APA style: a decimal point, no leading zero for values bounded by 1 (.27, p < .001),
thousands separated by commas. Spanish and Catalan write numbers as a reader in Spain expects: a decimal
comma, the leading zero kept (0,27, p < 0,001), thousands separated by points (Babel's locale data), and
the bounds of an interval separated by a semicolon ([0,12; 0,34]), as a comma would be ambiguous. Rounding
is the same in every language.

A fit's reasons, notes, flags and flow, and the data warnings, are messages (`alliance.i18n.Message`)
written in the report's language, their numbers as above (`format_value`); text still in English (a
record written without its message, the validation page's problems, an instrument's name) is marked as
such in a report of another language (`foreign`).

Numbers written into a figure (`figure_numbers`, entered by `style.figure_style`) have a negative sign as
the minus sign U+2212, as matplotlib writes its tick labels; a table, a sentence and a CSV keep the
hyphen-minus.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np
from markupsafe import Markup, escape

from alliance.i18n import SOURCE_LANGUAGE, english_number, language

MINUS = "\u2212"  # the minus sign, as matplotlib writes negative tick labels (axes.unicode_minus)
_in_figure: ContextVar[bool] = ContextVar("figure_numbers", default=False)


@contextmanager
def figure_numbers() -> Iterator[None]:
    """Write every number inside the block as figure text: a negative one with the minus sign (`MINUS`),
    as the figure's tick labels have it, not the hyphen-minus of the report's tables and CSV files."""
    token = _in_figure.set(True)
    try:
        yield
    finally:
        _in_figure.reset(token)


def _signed(text: str) -> str:
    """A written number with its leading hyphen-minus as the minus sign inside `figure_numbers`."""
    return MINUS + text[1:] if text.startswith("-") and _in_figure.get() else text


def _localised(text: str) -> str:
    """A number written with a decimal point, in the active language's decimal mark (and, in a figure,
    its minus sign: `figure_numbers`)."""
    return _signed(text if language() == SOURCE_LANGUAGE else text.replace(".", ","))


def format_general(value: float) -> str:
    """A number in its shortest form (`:g`: 32, 32.5, 1e-05), in the active language's decimal mark: a
    setting or a score range as written, not an estimate."""
    return _localised(f"{value:g}")


def is_number(value: float | None) -> bool:
    """Whether `value` is a finite number: not None (an undefined number is null in the results' JSON,
    `alliance.io.json_text`) and not NaN or infinite."""
    return value is not None and bool(np.isfinite(value))


def format_number(value: float, digits: int = 2) -> str:
    """Fixed decimals; "NA" for a missing value; no negative zero."""
    if not is_number(value):
        return "NA"
    text = f"{value:.{digits}f}"
    return _localised(text[1:] if text.startswith("-") and float(text) == 0 else text)


def estimate_digits(value: float, digits: int = 2) -> int:
    """The decimals to show an estimate with: `digits` (APA), or as many as give it two significant digits
    when `digits` would show a non-zero value as 0.00 (0.0031, -0.00048)."""
    if not is_number(value) or value == 0 or abs(value) >= 0.5 * 10.0**-digits:
        return digits
    return 1 - int(np.floor(np.log10(abs(value))))


def interval_digits(low: float, high: float, digits: int = 2) -> int:
    """The decimals of an interval's bounds (or of an SE, given as -se, se): `digits`, or as many as
    `estimate_digits` gives its half-width, so that an interval of a tiny effect is not [0.00, 0.00] while
    one of an estimate of 0.00053 is not [-0.94292, 0.94399]."""
    if not (is_number(low) and is_number(high)):
        return digits
    return estimate_digits((high - low) / 2, digits)


def format_unit(value: float, digits: int = 2) -> str:
    """A number bounded by 1 (r, p): without the leading zero in English (APA: .27, -.26), with it in
    Spanish and Catalan (0,27)."""
    text = format_number(value, digits)
    if language() == SOURCE_LANGUAGE and text.startswith(("0.", "-0.", MINUS + "0.")):
        return text.replace("0.", ".", 1)
    return text


def format_p(p: float) -> str:
    """APA p-value: "< .001", "> .999" where three decimals would read 1.000 (no p is 1), else three
    decimals (without the leading zero in English)."""
    if not is_number(p):
        return "NA"
    if p < 0.001:
        return "< " + format_unit(0.001, 3)
    return "> " + format_unit(0.999, 3) if p >= 0.9995 else format_unit(p, 3)


def p_text(p: float, symbol: str = "p") -> str:
    """p in running text: "p < .001", "p = .012" or "p > .999" (`symbol` "q" for a false-discovery-rate
    q)."""
    formatted = format_p(p)
    return f"{symbol} {formatted}" if formatted.startswith(("<", ">")) else f"{symbol} = {formatted}"


def bound_digits(low: float, high: float, digits: int = 2, null: float = 0.0) -> tuple[int, int]:
    """The decimals of a CI's two bounds: `digits`, or as many as `estimate_digits` gives a bound's distance
    from `null` where `digits` would show it as the null in an interval that excludes it ("-.47 to -.0044":
    "-.47 to .00" reads as reaching 0; an odds ratio's "0.49 to 1.00" beside "the CI excludes no effect")."""
    if not (is_number(low) and is_number(high)) or low <= null <= high:
        return digits, digits
    return estimate_digits(low - null, digits), estimate_digits(high - null, digits)


def format_ci(low: float, high: float, digits: int = 2, *, unit: bool = False, percent: bool = False,
              null: float = 0.0) -> str:
    """A confidence interval, "[low, high]" ("[low; high]" where the decimal mark is a comma), of numbers,
    of numbers bounded by 1 (`unit`) or of shares as percentages (`percent`); a bound of an interval that
    excludes the `null` (0; an odds ratio's 1) is never shown as the null (`bound_digits`)."""
    fmt = format_percent if percent else format_unit if unit else format_number
    separator = ", " if language() == SOURCE_LANGUAGE else "; "
    low_digits, high_digits = (digits, digits) if percent else bound_digits(low, high, digits, null)
    return f"[{fmt(low, low_digits)}{separator}{fmt(high, high_digits)}]"


def format_estimate(estimate: float, low: float, high: float, separator: str = " ", *,
                    null: float = 0.0) -> str:
    """An estimate and its CI ("0.47 [0.12, 0.83]"): the estimate never 0.00 when it is not 0
    (`estimate_digits`), the bounds with the decimals the interval's width needs (`interval_digits`),
    a bound never shown as the `null` (an odds ratio's 1) of an interval that excludes it."""
    return (f"{format_number(estimate, estimate_digits(estimate))}{separator}"
            f"{format_ci(low, high, interval_digits(low, high), null=null)}")


def format_count(n: float) -> str:
    """An integer count with thousands separators."""
    if language() == SOURCE_LANGUAGE:
        return f"{int(n):,}"
    from babel.numbers import format_decimal

    return format_decimal(int(n), locale=language())


def format_percent(share: float, digits: int = 1) -> str:
    """A share as a percentage."""
    if not is_number(share):
        return "NA"
    sign = "%" if language() == SOURCE_LANGUAGE else "\u00a0%"  # 12.5% in English, 12,5 % (no break) in es
    return f"{format_number(100 * share, digits)}{sign}"


def count_with_share(n: int, of: int) -> str:
    """ "n (x%)" of a denominator."""
    return f"{format_count(n)} ({format_percent(n / of)})" if of else format_count(n)


def format_value(value: float, spec: str = "") -> str:
    """A number of a message (`alliance.i18n.Message.render`) as the report writes it: with the message's
    format spec (`alliance.i18n.english_number`) in the active language's decimal mark, leading zero kept
    in Spanish and Catalan, a percentage (`%`) with a no-break space before its sign there (as
    `format_percent`); an integer without a spec with thousands separators (`format_count`)."""
    if isinstance(value, int) and not spec:
        return format_count(value)
    if language() == SOURCE_LANGUAGE:
        return _signed(english_number(value, spec))
    text = _localised(format(value, spec[:-1] + "f" if spec.endswith("u") else spec))
    return text.replace("%", "\u00a0%") if spec.endswith("%") else text


def label_cell(label: str) -> Markup:
    """A table cell's label whose comma-separated parts each stay on one line ("early alliance," /
    "therapist mean"): a narrow column breaks it between its parts, not after every word (class `part`,
    `white-space: nowrap` in the report's style)."""
    return Markup(", ").join(Markup('<span class="part">{}</span>').format(part)
                             for part in str(label).split(", "))


def word_cell(text: str) -> Markup:
    """A table cell's text whose hyphenated words never break at their hyphen ("log-" / "odds" in a
    narrow printed column): each is a `part` (`white-space: nowrap`); other words wrap as usual."""
    return Markup(" ").join(Markup('<span class="part">{}</span>').format(word) if "-" in word
                            else escape(word) for word in str(text).split(" "))


def foreign(text: str) -> str | Markup:
    """English text written where a fit or a check happened (a model's note, a validation message), in a
    report of another language: marked `lang="en"` so that readers, screen readers and the
    language test know it is English; as it is in an English report."""
    if not text or language() == SOURCE_LANGUAGE:
        return text
    return Markup('<span lang="en">{}</span>').format(text)
