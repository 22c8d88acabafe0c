"""The Methods section as Markdown for a manuscript: every heading of the report's section, and the full
reference of each work the text cites, and of no other."""

from __future__ import annotations

import copy

from alliance.instruments import load_configured
from alliance.report.methods import REFERENCES, methods_markdown, methods_section


def markdown(config):
    paragraphs = methods_section(config, [], {"statsmodels": "0.15.0"})
    return paragraphs, methods_markdown(paragraphs, load_configured(config["instruments"]))


def test_headings_text_and_the_references_cited(default_config):
    paragraphs, text = markdown(default_config)
    assert text.startswith("# Methods\n\n## Measures\n\n")
    for paragraph in paragraphs:
        assert f"## {paragraph['heading']}\n\n{paragraph['text']}\n" in text
    references = text[text.index("## References"):].splitlines()[2:]
    assert references == sorted(references) and len(references) == len(set(references))
    cited = {key for key in REFERENCES if key in " ".join(p["text"] for p in paragraphs)}
    assert {f"- {REFERENCES[key]}" for key in cited} == set(references)
    # the default instruments (WAI-SR, CSQ-8), the small-cluster and FDR methods, both benchmarks, software
    for key in ("Hatcher & Gillaspy (2006)", "Larsen et al. (1979)", "Mancl & DeRouen (2001)",
                "Bell & McCaffrey (2002)", "Benjamini & Hochberg (1995)", "Sharf, Primavera & Diener (2010)",
                "Fluckiger, Del Re, Wampold & Horvath (2018)", "Mölder et al. (2021)"):
        assert key in cited, key
    assert not any("Luborsky" in line for line in references)  # HAq-II is not configured


def test_a_user_instrument_is_listed_for_the_author_to_complete(default_config, tmp_path):
    spec = (tmp_path / "mine.yaml")
    spec.write_text("key: mine\nname: Clinic alliance form\ncitation: Our clinic (2026)\nitems: 3\n"
                    "response: {min: 1, max: 5}\nsubscales: {bond: [1], goal: [2], task: [3]}\n"
                    "score: mean\ntotal: mean_of_subscales\nprorate: {max_missing_per_subscale: 0}\n")
    config = copy.deepcopy(default_config)
    config["instruments"]["alliance"] = str(spec)
    _, text = markdown(config)
    assert ("- Clinic alliance form: Our clinic (2026) (a user-defined instrument; complete this reference)"
            in text)
    assert "Hatcher" not in text
