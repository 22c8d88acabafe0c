"""The Methods section as Markdown for a manuscript: every heading of the report's section, and the full
reference of each work the text cites, and of no other."""

from __future__ import annotations

import copy
import re

import numpy as np
import pandas as pd
import pytest
from markupsafe import Markup

from alliance.i18n import Message, Term, use_language
from alliance.instruments import load_configured
from alliance.models.common import labelled, notes_record, resolve_covariates
from alliance.report.analysis import covariates_left_out, sensitivity_notes
from alliance.report.measurement import measurement_section
from alliance.report.methods import cited_name, instrument_name, methods_markdown, methods_section
from alliance.report.references import REFERENCES, cited_references, cites
from alliance.report.words import notes_words, parenthetical, source_words


def markdown(config):
    paragraphs = methods_section(config, [], {"statsmodels": "0.15.0"})
    return paragraphs, methods_markdown(paragraphs, load_configured(config["instruments"]))


def test_headings_text_and_the_references_cited(default_config):
    paragraphs, text = markdown(default_config)
    assert text.startswith("# Methods\n\n## Measures\n\n")
    for paragraph in paragraphs:
        assert f"## {paragraph['heading']}\n\n{paragraph['text']}\n" in text
    references = text[text.index("## References"):].splitlines()[2:]
    body = " ".join(p["text"] for p in paragraphs)
    cited = {key for key in REFERENCES if cites(body, key)}
    assert references == [f"- {reference}" for reference in cited_references(body)]  # alphabetical
    assert {f"- {REFERENCES[key]}" for key in cited} == set(references)
    # the default instruments (WAI-SR, CSQ-8), the small-cluster and FDR methods, both benchmarks, software
    for key in ("Hatcher & Gillaspy (2006)", "Larsen et al. (1979)", "Mancl & DeRouen (2001)",
                "Bell & McCaffrey (2002)", "Benjamini & Hochberg (1995)", "Sharf, Primavera & Diener (2010)",
                "Flückiger, Del Re, Wampold & Horvath (2018)", "Mölder et al. (2021)"):
        assert key in cited, key
    assert not any("Luborsky" in line for line in references)  # HAq-II is not configured


def with_user_instrument(default_config: dict, tmp_path, key: str) -> dict:
    """The default config with a user-defined 3-item alliance instrument of `key`, "Clinic alliance form"."""
    spec = tmp_path / "mine.yaml"
    spec.write_text(f"key: {key}\nname: Clinic alliance form\ncitation: Our clinic (2026)\nitems: 3\n"
                    "response: {min: 1, max: 5}\nsubscales: {bond: [1], goal: [2], task: [3]}\n"
                    "score: mean\ntotal: mean_of_subscales\nprorate: {max_missing_per_subscale: 0}\n")
    config = copy.deepcopy(default_config)
    config["instruments"]["alliance"] = str(spec)
    return config


def test_a_user_instrument_is_listed_for_the_author_to_complete(default_config, tmp_path):
    config = with_user_instrument(default_config, tmp_path, "mine")
    _, text = markdown(config)
    assert ("- Clinic alliance form: Our clinic (2026) (a user-defined instrument; complete this reference)"
            in text)
    assert "Hatcher" not in text


def test_a_narrative_citation_in_parentheses_is_written_the_apa_way():
    """ "Hatcher & Gillaspy (2006)" inside parentheses is "Hatcher & Gillaspy, 2006" (a reviewer found
    "(client) (Hatcher & Gillaspy (2006))"); a citation of another form is kept as given, without error."""
    assert parenthetical("Hatcher & Gillaspy (2006)") == "Hatcher & Gillaspy, 2006"
    assert parenthetical("Duncan et al. (2003)") == "Duncan et al., 2003"
    assert parenthetical("Smith (2020a)") == "Smith, 2020a"
    assert parenthetical("Roe (in press)") == "Roe, in press"
    for kept in ("our own form", "Smith 2020", "Smith, 2020", "(2006)", "Manual (v2) and notes", ""):
        assert parenthetical(kept) == kept
    assert (cited_name("Working Alliance Inventory - Short Revised (client)", "Hatcher & Gillaspy (2006)")
            == "Working Alliance Inventory - Short Revised (client; Hatcher & Gillaspy, 2006)")
    assert (cited_name("Session Rating Scale", "Duncan et al. (2003)")
            == "Session Rating Scale (Duncan et al., 2003)")
    assert cited_name("Our scale", "our own form") == "Our scale (our own form)"


def test_a_benchmark_source_in_parentheses_is_written_the_apa_way():
    """A benchmark's source is cited inside parentheses ("r = .278 (Flückiger ... (2018), 295 studies)" was
    a reviewer's find): the year after a comma, the studies after a semicolon, in each language."""
    source = "Flückiger, Del Re, Wampold & Horvath (2018), 295 studies"
    assert source_words(source) == "Flückiger, Del Re, Wampold & Horvath, 2018; 295 studies"
    assert source_words(source, studies=False) == "Flückiger, Del Re, Wampold & Horvath, 2018"
    assert source_words("Sharf, Primavera & Diener (2010)") == "Sharf, Primavera & Diener, 2010"
    assert source_words("a clinic's own audit") == "a clinic's own audit"
    with use_language("es"):
        assert source_words("Sharf, Primavera & Diener (2010), 1200 studies") == (
            "Sharf, Primavera y Diener, 2010; 1.200 estudios")  # APA's Spanish adaptation joins with "y"
    assert cited_name("Our scale", "") == "Our scale"
    assert cites("... (client; Hatcher & Gillaspy, 2006), 12 items", "Hatcher & Gillaspy (2006)")
    assert not cites("Hatcher & Gillaspy, 2006", "") and not cites("nothing cited", "Rubin (1987)")


@pytest.mark.parametrize("code", ["en", "es", "ca"])
def test_the_instrument_is_cited_once_without_nested_parentheses(default_config, code):
    with use_language(code):
        paragraphs, text = markdown(default_config)
    measures = paragraphs[0]["text"]
    joined = {"en": "&", "es": "y", "ca": "i"}[code]  # APA's "&" as each language writes it
    assert f"; Hatcher {joined} Gillaspy, 2006)" in measures and "Gillaspy (2006))" not in measures
    assert "Larsen et al., 1979)" in measures
    assert not re.search(r"\([^()]*\([^()]*\)[^()]*\)", measures.split(". ")[0]), measures
    assert REFERENCES["Hatcher & Gillaspy (2006)"] in text and REFERENCES["Larsen et al. (1979)"] in text
    # every work the Methods cite inside parentheses, once ("(Rubin, 1987)", not "(Rubin (1987))"), the
    # benchmarks' sources too ("(Sharf, Primavera & Diener, 2010; 11 studies)")
    body = " ".join(p["text"] for p in paragraphs)
    for key in REFERENCES:
        assert key not in body, key
    for key in ("Mancl & DeRouen, 2001", "Bell & McCaffrey, 2002;", "(Cameron & Miller, 2015)",
                "Benjamini & Hochberg, 1995)", "(Rubin, 1987)", "(Mölder et al., 2021)",
                "(Seabold & Perktold, 2010)", "Chinn, 2000,", "McKelvey & Zavoina, 1975)"):
        assert key.replace("&", joined) in body, key
    for source in (rf"\(Sharf, Primavera {joined} Diener, 2010; 11 \w+\)",
                   rf"\(Flückiger, Del Re, Wampold {joined} Horvath, 2018; 295 \w+\)"):
        assert re.search(source, body), source


def test_no_benchmark_or_reference_misspells_fluckiger(default_config):
    paragraphs, text = markdown(default_config)
    assert "Fluckiger" not in text and "Flückiger, C., Del Re" in text
    assert "Flückiger, Del Re, Wampold & Horvath, 2018" in " ".join(p["text"] for p in paragraphs)


# Common English words ("per" is Catalan too): a Methods text in another language has none outside its
# references (as published).
ENGLISH = re.compile(r"\b(the|of|and|with|is|are|for|from|not|by|which|this|that|each|than|items|answered)\b")


@pytest.mark.parametrize(("code", "names", "headings"), [
    ("es", ["Inventario de Alianza de Trabajo, versión breve revisada (WAI-SR; Hatcher y Gillaspy, 2006)",
            "Cuestionario de Satisfacción del Cliente (CSQ-8; Larsen et al., 1979)"],
     ["# Métodos", "## Referencias"]),
    ("ca", ["Inventari d'Aliança de Treball, versió breu revisada (WAI-SR; Hatcher i Gillaspy, 2006)",
            "Qüestionari de Satisfacció del Client (CSQ-8; Larsen et al., 1979)"],
     ["# Mètodes", "## Referències"]),
])
def test_methods_in_spanish_and_catalan(default_config, code, names, headings):
    english_paragraphs, english_text = markdown(default_config)
    with use_language(code):
        paragraphs, text = markdown(default_config)
    body = " ".join(f"{p['heading']} {p['text']}" for p in paragraphs)
    for name in names:  # the instruments under their published names, with their citations
        assert name in paragraphs[0]["text"]
    assert "Working Alliance Inventory" not in body and "Client Satisfaction" not in body
    assert not ENGLISH.search(body), ENGLISH.search(body)
    for heading in headings:
        assert f"{heading}\n" in text
    assert len(paragraphs) == len(english_paragraphs)
    # the same works cited, with their references as published (in English)
    references = text[text.index(headings[1]):].splitlines()[2:]
    assert references == english_text[english_text.index("## References"):].splitlines()[2:]
    assert "r = 0,278" in body and "r = .278" not in body  # numbers in the language's decimal mark
    # a number and its percent sign never split over two lines (a reader saw "IC del 95" end a line)
    assert "IC del 95\u00a0%" in body and "5\u00a0%" in body and not re.search(r"\d %", body)


def test_methods_in_english_are_unchanged(default_config):
    paragraphs, text = markdown(default_config)
    assert paragraphs[0]["heading"] == "Measures"
    assert paragraphs[0]["text"].startswith(
        "Patient-rated alliance: Working Alliance Inventory - Short Revised (client; Hatcher & Gillaspy, "
        "2006), 12 items answered 1 to 5; subscales (task: items 1, 2, 10, 12; bond: items 3, 5, 7, 9; "
        "goal: items 4, 6, 8, 11) scored as the mean of their items, the total as the mean of subscales "
        "(range 1 to 5). A subscale with more than 1 missing item is not scored; otherwise missing items "
        "are prorated. No item is reverse-keyed. Satisfaction: Client Satisfaction Questionnaire (CSQ-8; "
        "Larsen et al., 1979)")
    assert "the two-sided 5% level" in text and "r = .278 (Flückiger" in text and "r = 0.278" not in text
    assert text.startswith("# Methods\n\n## Measures\n\n")


def test_a_user_instrument_keeps_its_name_in_spanish(default_config, tmp_path):
    config = with_user_instrument(default_config, tmp_path, "wai_sr")  # a shipped key, the user's own name
    with use_language("es"):
        paragraphs, text = markdown(config)
        instrument = load_configured(config["instruments"])["alliance"]
        assert instrument_name(instrument) == "Clinic alliance form"  # a shipped key, another name
    assert "Clinic alliance form (Our clinic, 2026)" in paragraphs[0]["text"]
    assert ("- Clinic alliance form: Our clinic (2026) (instrumento definido por el usuario; complete esta "
            "referencia)") in text


def test_measurement_texts_in_spanish_mark_the_analyses_english(inputs):
    """The Measurement section (alliance.report.measurement): its sentences in Spanish with decimal commas,
    the reasons and notes the analyses wrote kept in English and marked so."""
    icc = inputs["psychometrics"]["therapist_icc"].assign(reason="estimated at the boundary")
    with use_language("es"):
        section = measurement_section(inputs["psychometrics"] | {"therapist_icc": icc},
                                      inputs["rupture_shares"], inputs["scoring"], config=inputs["config"],
                                      min_cell_size=5, synthetic=False)
    assert section["icc"].startswith("CCI de terapeuta de la alianza media de los pacientes: 0,06 (IC del "
                                     "95\u00a0%: ")
    assert section["icc"].endswith('(Baldwin, Wampold e Imel, 2007). <span lang="en">Estimated at the '
                                   'boundary.</span>')
    assert "0,80 con 2 sesiones y 0,90 con 4 sesiones" in section["sessions"]
    assert section["notes"] == [Markup('<span lang="en">total: a note from semopy</span>')]
    assert section["criterion"].startswith("Una ruptura es un descenso de la puntuación total de alianza")
    assert {row["pattern"] for row in section["patterns"]} <= {"Sin ruptura", "Ruptura con reparación",
                                                               "Ruptura sin reparación", "No clasificable"}
    assert "tareas" in {row["subscale"] for row in section["item_rows"]}
    assert section["fit"][0]["model"] in {"Un factor", "Factores correlacionados"}


SYMPTOMS_FITTED = [{"family": "symptoms", "effects": [
    {"analysis": "secondary", "outcome": "symptom_improvement", "model": "ols_cluster_therapist"}]}]


def test_the_symptom_measure_is_named_as_configured_or_said_unnamed(default_config):
    """The Measures paragraph names the symptom measure when a symptom model was fitted (a reviewer could
    not tell what "symptoms" measured): as configured with its citation, listed to be completed; the
    synthetic cohort's score; or the column, with the setting that names it."""
    def measures(config, results=SYMPTOMS_FITTED, synthetic=False):
        return methods_section(config, results, {"statsmodels": "0.15.0"}, synthetic=synthetic)[0]["text"]

    assert "Symptoms:" not in measures(default_config, results=[])
    assert "Symptoms:" not in measures(default_config, results=[{"family": "symptoms", "effects": []}])
    assert measures(default_config, synthetic=True).endswith(
        "Symptoms: the synthetic cohort's session symptom score (higher scores mean more symptoms).")
    unnamed = measures(default_config)
    assert "the measure is not named (report.symptom_measure in the configuration)" in unnamed
    named = copy.deepcopy(default_config)
    named["report"]["symptom_measure"] = {"name": "Patient Health Questionnaire-9 (PHQ-9)",
                                          "citation": "Kroenke, Spitzer & Williams (2001)"}
    text = measures(named)
    assert ("Symptoms: Patient Health Questionnaire-9 (PHQ-9; Kroenke, Spitzer & Williams, 2001), scored at "
            "each session (higher scores mean more symptoms).") in text
    paragraphs = methods_section(named, SYMPTOMS_FITTED, {"statsmodels": "0.15.0"})
    markdown_text = methods_markdown(paragraphs, load_configured(named["instruments"]), named)
    assert ("- Patient Health Questionnaire-9 (PHQ-9): Kroenke, Spitzer & Williams (2001) (a user-defined "
            "instrument; complete this reference)") in markdown_text
    with use_language("es"):
        assert "Síntomas: la puntuación de síntomas por sesión de la cohorte sintética" in measures(
            default_config, synthetic=True)


def test_the_covariates_are_those_the_models_used(default_config):
    """Covariates configured but absent from the data (every family recorded none) are named as left out,
    not listed as used; where some family used them, or no family recorded any, the configured ones."""
    def modelling(results):
        paragraphs = methods_section(default_config, results, {"statsmodels": "0.15.0"})
        return next(p["text"] for p in paragraphs if "ANALYSIS_PLAN.md" in p["text"])

    none = [{"family": family, "effects": [], "extra": {"formula": "y ~ x", "covariates": []}}
            for family in ("adherence", "dropout", "satisfaction")]
    text = modelling(none)
    assert "Covariates: none (numeric ones z-scored)." in text
    assert text.endswith("The configured covariates baseline severity, discipline were left out of every "
                         "model: each is absent from the data or has a single value.")
    one = [result | {"extra": {"covariates": ["baseline_severity"]}} for result in none[:1]] + none[1:]
    text = modelling(one)
    assert "Covariates: baseline severity (numeric ones z-scored)." in text
    assert text.endswith("The configured covariate discipline was left out of every model: it is absent from "
                         "the data or has a single value.")
    assert "left out" not in modelling([]) and "Covariates: baseline severity, discipline" in modelling([])
    with use_language("es"):
        assert modelling(none).endswith("cada una falta en los datos o tiene un único valor.")


def test_a_covariate_left_out_of_every_model_is_said_once_with_its_reason_from_the_data(default_config):
    """A configured covariate no model used is named once in the methods with the reason its models' notes
    give (not a column, no value, a single value); the families' and the sensitivity analyses' notes then
    leave it out, while a covariate left out of one model only keeps that model's note."""
    features = pd.DataFrame({"baseline_severity": [np.nan] * 3, "discipline": ["nutrition"] * 3,
                             "age_band": ["18-29", "30-44", "30-44"]})
    _used, cohort_notes = resolve_covariates(features, ["baseline_severity", "discipline", "site"])
    assert [str(note) for note in cohort_notes] == [
        "The covariate baseline_severity was left out: no patient has a value.",
        "The covariate discipline was left out: it takes a single value.",
        "The covariate site was left out: it is not a column of the data."]
    _used, one_model = resolve_covariates(features.iloc[1:], ["age_band"])  # one value in a model's rows
    notes = [*cohort_notes, *labelled(one_model, Term("model label", "Proportional-odds model"))]
    results = [{"family": family, "effects": [], "extra": {"formula": "y ~ x", "covariates": ["age_band"]},
                **notes_record(notes)} for family in ("adherence", "dropout", "satisfaction")]
    config = copy.deepcopy(default_config)
    config["models"]["covariates"] = ["baseline_severity", "discipline", "site", "age_band"]
    left_out = covariates_left_out(results, config["models"]["covariates"])
    assert list(left_out) == ["baseline_severity", "discipline", "site"]

    def modelling():
        return next(p["text"] for p in methods_section(config, results, {"statsmodels": "0.15.0"})
                    if "ANALYSIS_PLAN.md" in p["text"])

    assert "Covariates: age band (numeric ones z-scored)." in modelling()
    assert modelling().endswith(
        "The configured covariate baseline severity was left out of every model: no patient has a value. "
        "The configured covariate discipline was left out of every model: it takes a single value. "
        "The configured covariate site was left out of every model: it is not a column of the data.")
    assert notes_words(results[0], left_out=left_out) == [
        "Proportional-odds model: The covariate age_band was left out: it takes a single value."]
    assert len(notes_words(results[0])) == 4
    label = "complete cases (primary) / dropout"
    sensitivity = notes_record(cohort_notes) | {
        "fit_notes": {label: [str(note) for note in cohort_notes]},
        "fit_notes_message": {label: [note.to_json() for note in cohort_notes]}}
    assert sensitivity_notes(sensitivity, left_out) == [] and len(sensitivity_notes(sensitivity)) == 6
    # a refit's note that a family's notes already say (the complete-case refit repeats its primary's)
    rounded = Message("{n} prorated totals were rounded to the nearest point.", n=18)
    repeated = {"fit_notes": {label: [str(rounded)]}, "fit_notes_message": {label: [rounded.to_json()]}}
    assert len(sensitivity_notes(repeated)) == 1
    assert sensitivity_notes(repeated, said=[rounded.to_json()]) == []
    with use_language("es"):
        assert modelling().endswith("La covariable configurada centro se dejó fuera de todos los modelos: "
                                    "no es una columna de los datos.")


def test_the_methods_describe_h5_h4c_and_the_early_warning_with_their_settings(default_config):
    """methods.md had no word on bond, goals and tasks (H5), the RI-CLPM (H4c) or the early warning,
    although the report shows all three; each now has its paragraph, with the run's own settings and the
    works it cites. An instrument without the three dimensions (HAq-II) has no H5 paragraph."""
    config = copy.deepcopy(default_config)
    config["dimensions"] |= {"bootstrap": 150, "latent_bootstrap": 4999}
    config["early_warning"] |= {"decision_points": [4, 2], "folds": 4, "bootstrap": 120}
    paragraphs, text = markdown(config)
    by_heading = {p["heading"]: p["text"] for p in paragraphs}
    assert "150 therapist bootstrap draws" in by_heading["Bond, goals and tasks"]
    assert "(4,999 draws; Kline & Santos, 2012)" in by_heading["Bond, goals and tasks"]
    assert by_heading["Reciprocal dynamics"].startswith("A random-intercept cross-lagged panel model")
    warning = by_heading["Early warning of dropout"]
    assert warning.startswith("At sessions 2, 4, the risk") and "4-fold cross-validation" in warning
    assert "from 120 therapist bootstrap draws" in warning
    assert "logistic regression whose penalty is chosen by an inner cross-validation" in warning
    config["early_warning"]["penalty"] = 0.5  # a fixed C had been described as chosen by cross-validation
    fixed = {p["heading"]: p["text"] for p in markdown(config)[0]}["Early warning of dropout"]
    assert "logistic regression with the penalty fixed by the configuration (C = 0.5), in two models" in fixed
    assert "inner cross-validation" not in fixed
    # how many predictors enter: Riley et al.'s criteria by default, the configuration's number when set
    assert "supported their parameters by two criteria (Riley et al., 2020)" in warning
    assert "Riley, R. D., Ensor, J." in text[text.index("## References"):]
    config["early_warning"]["max_parameters"] = 6
    capped = {p["heading"]: p["text"] for p in markdown(config)[0]}["Early warning of dropout"]
    assert ("entered each model in that order (the first in any case) up to 6 predictor parameters "
            "(early_warning.max_parameters)") in capped and "Riley" not in capped
    references = text[text.index("## References"):]
    for author in ("Budescu, D. V. (1993)", "Azen, R., & Traxel, N. (2009)", "Kline, P., & Santos, A.",
                   "Hamaker, E. L.", "Vickers, A. J., & Elkin, E. B.", "Harrell, F. E. (2015)",
                   "Lord, F. M."):
        assert author in references, author
    config["instruments"]["alliance"] = "haq_ii"
    assert "Bond, goals and tasks" not in {p["heading"] for p in markdown(config)[0]}


def test_the_methods_say_which_models_look_ahead_and_which_standard_errors_are_corrected(default_config):
    """The Methods had said that every session-level model uses only earlier sessions and that every
    clustered SE is small-sample corrected with few therapists (a reviewer's reading against the plan):
    H1a, H1b, H4a and H4b centre on the patient's mean over the whole treatment, H2d looks ahead under the
    patient-SD criterion, the Cox and proportional-odds models keep CR1, and each discipline's slope is on
    its own therapists - 1."""
    _paragraphs, text = markdown(default_config)
    assert "session-level models use only the alliance measured at an earlier session" not in text
    assert "(H2a, H2b, H2d) use only what was measured before each session (no look-ahead)" in text
    assert "(H1a, H1b, H4a, H4b) separate within- and between-patient alliance by centring on the " in text
    assert "the Cox and proportional-odds models, for which no such correction is available" in text
    assert "on t with its own therapists - 1 degrees of freedom, whatever the number of therapists" in text
    assert "looks ahead" not in text
    config = copy.deepcopy(default_config)
    config["ruptures"]["criterion"] = "sd"
    assert "so H2d's rupture indicator looks ahead." in markdown(config)[1]


def test_one_reverse_keyed_item_reads_in_the_singular():
    """A clinic's form with one reverse-keyed item read "Los ítems 5 son inversos" (a reviewer's probe)."""
    from dataclasses import replace

    from alliance.instruments import load_instrument
    from alliance.report.methods import instrument_sentence

    haq = load_instrument("haq_ii")
    one = replace(haq, reverse_keyed=(4,))
    plural = "Items 4, 8, 11, 16, 19 are reverse-keyed (1 + 6 - answer)."
    assert plural in instrument_sentence("Alliance", haq)
    assert "Item 4 is reverse-keyed (1 + 6 - answer)." in instrument_sentence("Alliance", one)
    with use_language("es"):
        assert "El ítem 4 es inverso (1 + 6 − respuesta)." in instrument_sentence("Alianza", one)
    with use_language("ca"):
        assert "L'ítem 4 és invers (1 + 6 − resposta)." in instrument_sentence("Aliança", one)


def test_a_random_intercept_at_its_boundary_is_said_in_the_methods(default_config):
    """Every report of a reviewer's cohorts said H3's therapist variance was estimated as 0, so that the
    model reduced to ordinary least squares, while the Methods named a linear mixed model only."""
    from alliance.i18n import message_text
    from alliance.models.random_intercept import BOUNDARY_WORDS

    words = BOUNDARY_WORDS["therapist_id"]  # the reason as the fit records it: its message, not its English
    boundary = {"key": "H3", "status": "boundary", "reason": str(words),
                "reason_message": message_text(words)}
    other = {"key": "H1", "status": "boundary", "reason": str(words), "reason_message": ""}  # another cause
    results = [{"family": "satisfaction", "extra": {}, "effects": [], "notes": [], "statuses": [boundary]},
               {"family": "adherence", "extra": {}, "effects": [], "notes": [], "statuses": [other]}]
    text = " ".join(p["text"] for p in methods_section(default_config, results, {}))
    assert ("Here the random-intercept variance of H3 was estimated as 0 (its boundary), so that model "
            "reduces to ordinary least squares with the clustered standard errors above.") in text
    plain = " ".join(p["text"] for p in methods_section(default_config, [], {}))
    assert "Here the random-intercept variance" not in plain


def test_the_methods_say_which_exploratory_analyses_these_data_could_not_support(default_config):
    """A reviewer's clinic of 4 therapists: the Methods described the RI-CLPM "fitted by full-information
    maximum likelihood", H5's bootstraps and the early warning's cross-validation, beside a report that
    said each was not estimable. Each paragraph now ends with the reason where its analyses were not
    estimated; where they were, it says nothing more."""
    from alliance.report.methods import not_estimated

    status = pd.DataFrame([
        {"key": "H4c", "status": "not_estimable", "reason": "4 therapists (fewer than 10): too few clusters "
                                                           "for cluster-robust standard errors"},
        {"key": "H5c", "status": "fitted", "reason": ""},
        {"key": "H5d", "status": "not_estimable", "reason": "4 therapists in the analysis sample"}])
    warning = {"result": {"primary_session": 3, "statuses": [
        {"key": "early_warning/therapist_cv/3/alliance", "status": "refused",
         "reason": "fewer than 10 of the patients in treatment at session 3 dropped out"},
        {"key": "early_warning/therapist_cv/3/alliance_covariates", "status": "refused",
         "reason": "fewer than 10 of the patients in treatment at session 3 dropped out"}]}}
    reasons = not_estimated(status, warning)
    assert reasons == {
        "dimensions": ["H5d, 4 therapists in the analysis sample"],
        "dynamics": ["H4c, 4 therapists (fewer than 10): too few clusters for cluster-robust standard "
                     "errors"],
        "early_warning": ["fewer than 10 of the patients in treatment at session 3 dropped out"]}
    texts = {p["heading"]: p["text"] for p in methods_section(default_config, [], {}, unestimated=reasons)}
    assert any(text.endswith("Not estimated in these data: H4c, 4 therapists (fewer than 10): too few "
                             "clusters for cluster-robust standard errors.") for text in texts.values())
    plain = " ".join(p["text"] for p in methods_section(default_config, [], {}))
    assert "Not estimated in these data" not in plain
    assert not_estimated(status.assign(status="fitted"), None) == {}
