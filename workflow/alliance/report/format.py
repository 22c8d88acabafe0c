"""Number formatting for the report (APA style: no leading zero for values bounded by 1)."""

from __future__ import annotations

import numpy as np


def format_number(value: float, digits: int = 2) -> str:
    """Fixed decimals; "NA" for a missing value; no negative zero."""
    if value is None or not np.isfinite(value):
        return "NA"
    text = f"{value:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def estimate_digits(value: float, digits: int = 2) -> int:
    """The decimals to show an estimate with: `digits` (APA), or as many as give it two significant digits
    when `digits` would show a non-zero value as 0.00 (0.0031, -0.00048)."""
    if value is None or not np.isfinite(value) or value == 0 or abs(value) >= 0.5 * 10.0**-digits:
        return digits
    return 1 - int(np.floor(np.log10(abs(value))))


def format_unit(value: float, digits: int = 2) -> str:
    """A number bounded by 1 (r, p) without the leading zero, APA style: .27, -.26."""
    text = format_number(value, digits)
    if text.startswith(("0.", "-0.")):
        return text.replace("0.", ".", 1)
    return text


def format_p(p: float) -> str:
    """APA p-value: "< .001", else three decimals without the leading zero."""
    if p is None or not np.isfinite(p):
        return "NA"
    return "< .001" if p < 0.001 else format_unit(p, 3)


def p_text(p: float) -> str:
    """p in running text: "p < .001" or "p = .012"."""
    formatted = format_p(p)
    return f"p {formatted}" if formatted.startswith("<") else f"p = {formatted}"


def format_ci(low: float, high: float, digits: int = 2, *, unit: bool = False) -> str:
    """A confidence interval, "[low, high]"."""
    fmt = format_unit if unit else format_number
    return f"[{fmt(low, digits)}, {fmt(high, digits)}]"


def format_count(n: float) -> str:
    """An integer count with thousands separators."""
    return f"{int(n):,}"


def format_percent(share: float, digits: int = 1) -> str:
    """A share as a percentage."""
    return "NA" if not np.isfinite(share) else f"{100 * share:.{digits}f}%"


def count_with_share(n: int, of: int) -> str:
    """ "n (x%)" of a denominator."""
    return f"{format_count(n)} ({format_percent(n / of)})" if of else format_count(n)
