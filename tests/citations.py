"""Citations as the report writes them, and the reference list of a rendered report, for the tests."""

from __future__ import annotations

import re

# A citation: authors (capitalised surnames, "Del Re", "Zilcha-Mano", "et al."), then the year in
# parentheses or after a comma: "Hatcher & Gillaspy (2006)", "(Terwee et al., 2007)".
SURNAME = r"[A-Z][\w'\-]+(?: [A-Z][\w'\-]+)?"
CITATION = re.compile(rf"(?P<authors>{SURNAME}(?:, {SURNAME})*(?:,? & {SURNAME})?(?: et al\.)?)"
                      r"(?:,? \(|, )(?P<year>(?:19|20)\d\d[a-z]?)\b")
SECTION = re.compile(r'<section id="references">.*?</section>', re.S)


def citations(text: str) -> set[str]:
    """Every citation in `text`, in the narrative form `alliance.report.references.REFERENCES` is keyed
    by ("Terwee et al. (2007)")."""
    return {f"{found['authors']} ({found['year']})" for found in CITATION.finditer(text)}


def reference_list(html: str) -> tuple[list[str], str]:
    """The items of a rendered report's reference list (as HTML) and the report without that section."""
    section = SECTION.search(html)
    assert section is not None, "the report has no reference list"
    return re.findall(r"<li[^>]*>(.*?)</li>", section.group(0)), html[:section.start()] + html[section.end():]
