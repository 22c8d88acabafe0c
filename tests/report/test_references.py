"""The reference list: every work the report can cite has its full reference, and a text's list holds
exactly the works it cites (a reviewer found the report citing twenty works with no reference list)."""

from __future__ import annotations

import re
from html import unescape
from importlib import resources

import yaml
from citations import citations

from alliance.i18n import read_catalogue, use_language
from alliance.instruments import load_instrument, shipped_instruments
from alliance.models.effects import BENCHMARKS
from alliance.report.references import (
    REFERENCES,
    cited_references,
    cited_text,
    reference_html,
    reference_item,
    visible_text,
)
from alliance.report.words import local_authors, parenthetical


def test_citations_are_found_in_both_forms_and_only_there():
    text = ("as Hatcher & Gillaspy (2006) showed (r = .278; Flückiger, Del Re, Wampold & Horvath, 2018; 295 "
            "studies), after Gumz et al., 2012, and (Zilcha-Mano et al., 2015); 400 patients, 2026 sessions")
    assert citations(text) == {"Hatcher & Gillaspy (2006)", "Flückiger, Del Re, Wampold & Horvath (2018)",
                               "Gumz et al. (2012)", "Zilcha-Mano et al. (2015)"}


def test_spanish_and_catalan_join_the_authors_as_apa_s_adaptation_does():
    """APA's Spanish adaptation joins the last two authors with "y" ("e" before the sound i, RAE), Catalan
    with "i"; English keeps "&", the reference list keeps the works as published. The texts so cited in
    each language still list their works; the catalogues hold no "&" between authors."""
    assert local_authors("Baldwin, Wampold & Imel (2007)", "es") == "Baldwin, Wampold e Imel (2007)"
    assert local_authors("Hu &amp; Bentler, 1999", "es") == "Hu y Bentler, 1999"  # in a message's HTML
    assert local_authors("Hatcher & Gillaspy (2006)", "ca") == "Hatcher i Gillaspy (2006)"
    assert local_authors("Hatcher & Gillaspy (2006)", "en") == "Hatcher & Gillaspy (2006)"
    # an English "Hi-" keeps its h ("y Hill"), a particle starts a surname ("y de Vries")
    assert local_authors("Lord & Hill; Smith & de Vries", "es") == "Lord y Hill; Smith y de Vries"
    with use_language("es"):
        assert parenthetical("Hatcher & Gillaspy (2006)") == "Hatcher y Gillaspy, 2006"
    assert parenthetical("Hatcher & Gillaspy (2006)") == "Hatcher & Gillaspy, 2006"
    for text in ("como mostraron Hatcher y Gillaspy (2006)", "(Hatcher i Gillaspy, 2006)",
                 "(Baldwin, Wampold e Imel, 2007)", "(Hatcher & Gillaspy, 2006)"):
        assert cited_references(text), text
    assert cited_references("(Hatcher o Gillaspy, 2006)") == []
    for code in ("es", "ca"):
        joined = [message.id for message in read_catalogue(code) if message.id and not isinstance(
            message.string, tuple) and re.search(r"\w (?:&|&amp;) [A-Z]", message.string)]
        assert joined == [], (code, joined[:2])


def test_every_work_the_report_can_cite_has_its_full_reference():
    """Every citation in the message catalogue (all text the report, its Methods and the pooled report can
    show), in the benchmarks' sources and in the shipped instruments' definitions is a key of REFERENCES:
    a sentence that gains a citation without a reference fails here."""
    texts = [unescape(text) for message in read_catalogue("es") if message.id
             for text in (message.id if isinstance(message.id, tuple) else (message.id,))]
    texts += [benchmark["source"] for benchmark in BENCHMARKS.values()]
    shipped = resources.files("alliance.instruments")  # as written: the WAI-S needs a user's key to load
    texts += [yaml.safe_load(shipped.joinpath(f"{key}.yaml").read_text()).get("citation", "")
              for key in shipped_instruments()]
    cited = set().union(*map(citations, texts))
    assert len(cited) >= 30 and "Terwee et al. (2007)" in cited and "Duncan et al. (2003)" in cited
    assert sorted(cited - set(REFERENCES)) == []
    # and each reference is the work its key names: first author's surname and year
    for key, reference in REFERENCES.items():
        first, year = re.split(r"[,& ]", key)[0], key[-5:-1]
        assert reference.startswith(first) and f"({year})" in reference, key


def test_a_text_lists_exactly_the_works_it_cites_in_alphabetical_order():
    text = ("(Mölder et al., 2021) and Hatcher & Gillaspy (2006); then (Baldwin, Wampold & Imel, 2007) and "
            "(Baldwin & Imel, 2013). Hatcher alone, or Rubin 1987 without APA's parentheses, cite nothing.")
    assert cited_references(text) == [REFERENCES["Baldwin & Imel (2013)"],
                                      REFERENCES["Baldwin, Wampold & Imel (2007)"],
                                      REFERENCES["Hatcher & Gillaspy (2006)"],
                                      REFERENCES["Mölder et al. (2021)"]]
    assert cited_references("") == [] and cited_references(text + text) == cited_references(text)
    assert parenthetical("Mölder et al. (2021)") in text


def test_a_user_instrument_without_a_reference_is_listed_to_be_completed(tmp_path):
    spec = tmp_path / "mine.yaml"
    spec.write_text("key: mine\nname: Clinic alliance form\ncitation: Our clinic (2026)\nitems: 3\n"
                    "response: {min: 1, max: 5}\nsubscales: {bond: [1], goal: [2], task: [3]}\n"
                    "score: mean\ntotal: mean_of_subscales\nprorate: {max_missing_per_subscale: 0}\n")
    mine, wai = load_instrument(spec), load_instrument("wai_sr")
    works = [(mine.name, mine.citation), (wai.name, wai.citation), ("PHQ-9", "")]
    listed = cited_references("the form (Our clinic, 2026) and the WAI-SR (Hatcher & Gillaspy, 2006)", works)
    assert listed == [
        "Clinic alliance form: Our clinic (2026) (a user-defined instrument; complete this reference)",
        REFERENCES["Hatcher & Gillaspy (2006)"]]
    assert cited_references("no citation", works) == []
    with use_language("es"):
        assert "complete esta referencia" in cited_references("(Our clinic, 2026)", works)[0]


def test_visible_text_is_what_a_reader_sees():
    html = ("<p>Hatcher &amp; Gillaspy\n  (2006)</p><script>var x = 'Rubin (1987)';</script>"
            "<style>p::after { content: 'Chinn (2000)'; }</style><img alt='Bordin (1979)'><td>r = .278</td>")
    assert visible_text(html) == "Hatcher & Gillaspy (2006) r = .278"
    assert cited_references(visible_text(html)) == [REFERENCES["Hatcher & Gillaspy (2006)"]]
    # the configuration printed in the report is a setting, not a citation of its text: a symptom measure's
    # citation configured for a clinic without symptom scores is not listed
    work = ("PHQ-9", "Kroenke, Spitzer & Williams (2001)")
    dumped = html + "<pre>symptom_measure:\n  citation: Kroenke, Spitzer & Williams (2001)</pre>"
    assert "Kroenke" in visible_text(dumped) and "Kroenke" not in cited_text(dumped)
    assert cited_references(cited_text(dumped), [work]) == [REFERENCES["Hatcher & Gillaspy (2006)"]]


def test_a_reference_in_html_keeps_its_italics_and_escapes_the_rest():
    assert reference_html(REFERENCES["Duncan et al. (2003)"]).endswith(
        'properties of a "working" alliance measure. <em>Journal of Brief Therapy, 3</em>(1), 3-12.')
    assert reference_html("A & B <b>. *T*") == "A &amp; B &lt;b&gt;. <em>T</em>"
    # a published reference is English in any report; a user's instrument to complete is not
    assert reference_item(REFERENCES["Rubin (1987)"]) == (
        '<li lang="en">Rubin, D. B. (1987). <em>Multiple imputation for nonresponse in surveys</em>. '
        "Wiley.</li>")
    assert reference_item("Form: Ours (2026) (complete)") == "<li>Form: Ours (2026) (complete)</li>"
