"""The report's Methods section, written from the configuration, the instruments and the fitted models
(so that it always describes what was run, in the order of ANALYSIS_PLAN.md), in the active language; the
shipped instruments under their published names in that language (`instrument_name`), the works cited
and their references as published."""

from __future__ import annotations

from collections.abc import Mapping

from alliance.i18n import N_, _, ngettext, pgettext
from alliance.instruments import PUBLISHED_NAMES, Instrument, load_configured
from alliance.models.common import MIN_CLUSTERS
from alliance.models.effects import BENCHMARKS
from alliance.report.format import format_count, format_general, format_number, format_percent, format_unit
from alliance.report.words import fill, model_short, outcome_name, parenthetical, source_words, variable_name

ANALYSIS_ORDER = ("primary", "secondary", "exploratory", "sensitivity")
# The works the Methods text cites, as cited there, with their full references (APA) for methods.md.
REFERENCES = {
    "Hatcher & Gillaspy (2006)": "Hatcher, R. L., & Gillaspy, J. A. (2006). Development and validation of a "
                                 "revised short version of the Working Alliance Inventory. *Psychotherapy "
                                 "Research, 16*(1), 12-25.",
    "Tracey & Kokotovic (1989)": "Tracey, T. J., & Kokotovic, A. M. (1989). Factor structure of the Working "
                                 "Alliance Inventory. *Psychological Assessment, 1*(3), 207-210.",
    "Duncan et al. (2003)": "Duncan, B. L., Miller, S. D., Sparks, J. A., Claud, D. A., Reynolds, L. R., "
                            "Brown, J., & Johnson, L. D. (2003). The Session Rating Scale: Preliminary "
                            "psychometric properties of a \"working\" alliance measure. *Journal of Brief "
                            "Therapy, 3*(1), 3-12.",
    "Luborsky et al. (1996)": "Luborsky, L., Barber, J. P., Siqueland, L., Johnson, S., Najavits, L. M., "
                              "Frank, A., & Daley, D. (1996). The Revised Helping Alliance Questionnaire "
                              "(HAq-II). *Journal of Psychotherapy Practice and Research, 5*(3), 260-271.",
    "Larsen et al. (1979)": "Larsen, D. L., Attkisson, C. C., Hargreaves, W. A., & Nguyen, T. D. (1979). "
                            "Assessment of client/patient satisfaction: Development of a general scale. "
                            "*Evaluation and Program Planning, 2*(3), 197-207.",
    "Mancl & DeRouen (2001)": "Mancl, L. A., & DeRouen, T. A. (2001). A covariance estimator for GEE with "
                              "improved small-sample properties. *Biometrics, 57*(1), 126-134.",
    "Bell & McCaffrey (2002)": "Bell, R. M., & McCaffrey, D. F. (2002). Bias reduction in standard errors "
                               "for linear regression with multi-stage samples. *Survey Methodology, 28*(2), "
                               "169-181.",
    "Cameron & Miller (2015)": "Cameron, A. C., & Miller, D. L. (2015). A practitioner's guide to "
                               "cluster-robust inference. *Journal of Human Resources, 50*(2), 317-372.",
    "Benjamini & Hochberg (1995)": "Benjamini, Y., & Hochberg, Y. (1995). Controlling the false discovery "
                                   "rate: A practical and powerful approach to multiple testing. *Journal of "
                                   "the Royal Statistical Society: Series B, 57*(1), 289-300.",
    "Rubin (1987)": "Rubin, D. B. (1987). *Multiple imputation for nonresponse in surveys*. Wiley.",
    "McKelvey & Zavoina (1975)": "McKelvey, R. D., & Zavoina, W. (1975). A statistical model for the "
                                 "analysis of ordinal level dependent variables. *Journal of Mathematical "
                                 "Sociology, 4*(1), 103-120.",
    "Chinn (2000)": "Chinn, S. (2000). A simple method for converting an odds ratio to effect size for use "
                    "in meta-analysis. *Statistics in Medicine, 19*(22), 3127-3131.",
    "Flückiger, Del Re, Wampold & Horvath (2018)": (
        "Flückiger, C., Del Re, A. C., Wampold, B. E., & Horvath, A. O. (2018). The alliance in adult "
        "psychotherapy: A meta-analytic synthesis. *Psychotherapy, 55*(4), 316-340."),
    "Sharf, Primavera & Diener (2010)": (
        "Sharf, J., Primavera, L. H., & Diener, M. J. (2010). Dropout and therapeutic alliance: A "
        "meta-analysis of adult individual psychotherapy. *Psychotherapy: Theory, Research, Practice, "
        "Training, 47*(4), 637-645."),
    "Mölder et al. (2021)": "Mölder, F., Jablonski, K. P., Letcher, B., Hall, M. B., Tomkins-Tinch, C. H., "
                            "Sochat, V., ... Köster, J. (2021). Sustainable data analysis with Snakemake. "
                            "*F1000Research, 10*, 33.",
    "Seabold & Perktold (2010)": (
        "Seabold, S., & Perktold, J. (2010). Statsmodels: Econometric and statistical modeling with Python. "
        "*Proceedings of the 9th Python in Science Conference*, 92-96."),
}


# A narrative citation: the authors, then the year in parentheses ("Hatcher & Gillaspy (2006)").
def cited_name(name: str, citation: str) -> str:
    """An instrument's name with its citation in one pair of parentheses (APA): "Working Alliance
    Inventory - Short Revised (client; Hatcher & Gillaspy, 2006)", "Session Rating Scale (SRS v3; Duncan et
    al., 2003)", "Our scale (our own form)"; the name alone without a citation."""
    cited = parenthetical(citation)
    if not cited:
        return name
    if name.endswith(")") and "(" in name:  # a parenthesis of its own ("(client)"): the citation joins it
        return f"{name[:-1]}; {cited})"
    return f"{name} ({cited})"


def cites(text: str, citation: str) -> bool:
    """Whether `text` cites a work cited as `citation` (narrative) in either form: "Hatcher & Gillaspy
    (2006)" or, inside parentheses, "Hatcher & Gillaspy, 2006"."""
    return bool(citation) and (citation in text or parenthetical(citation) in text)


ROLE_LABELS = {"alliance": N_("Patient-rated alliance"), "satisfaction": N_("Satisfaction"),
               "therapist": N_("Therapist-rated alliance")}
HEADINGS = {"measures": N_("Measures"), "features": N_("Alliance features"), "models": N_("Models"),
            "missing": N_("Missing data and multiplicity"), "effect_sizes": N_("Effect sizes"),
            "disclosure": N_("Disclosure control"), "software": N_("Software")}
# The rupture threshold's unit per criterion, after "a drop of at least c".
THRESHOLDS = {"sd": N_("within-patient SDs"), "reliable_change": N_("x SE_diff"),
              "prior_diff": N_("x the larger SD of the patient's earlier and the other patients' "
                               "session-to-session differences")}


def _analysis_heading(name: str) -> str:
    """An analysis of the plan, capitalised, as it heads the list of the models it fitted."""
    labels = {"primary": pgettext("analyses", "Primary"), "secondary": pgettext("analyses", "Secondary"),
              "exploratory": pgettext("analyses", "Exploratory"),
              "sensitivity": pgettext("analyses", "Sensitivity")}
    return labels.get(name, name.capitalize())


def published_name(name: str) -> str:
    """A shipped instrument's name (as its definition spells it) as published in the active language; any
    other name as it is."""
    return _(name) if name in PUBLISHED_NAMES.values() else name


def instrument_name(instrument: Instrument) -> str:
    """An instrument's name in the active language: a shipped instrument's published name, any other
    (a user's definition, or a shipped one renamed) as its definition spells it."""
    shipped = PUBLISHED_NAMES.get(instrument.key)
    return _(shipped) if shipped == instrument.name else instrument.name


def subscale_label(name: str) -> str:
    """A subscale's (or factor's) name in the active language: the names of the shipped instruments'
    subscales translated, any other name as defined."""
    labels = {
        # Translators: subscales of the Working Alliance Inventory (Bordin), the total score, the one factor
        "task": pgettext("subscale", "task"), "bond": pgettext("subscale", "bond"),
        "goal": pgettext("subscale", "goal"), "total": pgettext("subscale", "total"),
        "general": pgettext("subscale", "general"), "satisfaction": pgettext("subscale", "satisfaction"),
    }
    return labels.get(name, name)


def _scoring(instrument: Instrument) -> str:
    """How the subscales and the total are scored, in words."""
    subscales = "; ".join(_("{name}: items {items}").format(name=subscale_label(name),
                                                            items=", ".join(map(str, items)))
                          for name, items in instrument.subscales.items())
    rules = {("mean", "mean_of_subscales"): _(
                 "subscales ({subscales}) scored as the mean of their items, the total as the mean of "
                 "subscales"),
             ("mean", "sum_of_subscales"): _(
                 "subscales ({subscales}) scored as the mean of their items, the total as the sum of "
                 "subscales"),
             ("sum", "mean_of_subscales"): _(
                 "subscales ({subscales}) scored as the sum of their items, the total as the mean of "
                 "subscales"),
             ("sum", "sum_of_subscales"): _(
                 "subscales ({subscales}) scored as the sum of their items, the total as the sum of "
                 "subscales")}
    return rules[(instrument.score, instrument.total)].format(subscales=subscales)


def instrument_sentence(role: str, instrument: Instrument) -> str:
    """One instrument: name, citation, items and range, subscales with their item numbers, scoring;
    `role` is the instrument's role label, already in the report's language."""
    low, high = instrument.score_range
    # Translators: {name} is the name with its citation ("... (client; Hatcher & Gillaspy, 2006)").
    sentences = [fill(_("{role}: {name}, {n} items answered {minimum} to {maximum}; {scoring} (range {low} "
                        "to {high})."),
        role=role, name=cited_name(instrument_name(instrument), instrument.citation),
        n=instrument.n_items, minimum=format_general(instrument.minimum),
        maximum=format_general(instrument.maximum), scoring=_scoring(instrument), low=format_general(low),
        high=format_general(high))]
    sentences.append(fill(ngettext("A subscale with more than {n} missing item is not scored; otherwise "
                                   "missing items are prorated.",
                                   "A subscale with more than {n} missing items is not scored; otherwise "
                                   "missing items are prorated.", instrument.max_missing_per_subscale),
                          n=instrument.max_missing_per_subscale))
    sentences.append(_("Items {items} are reverse-keyed ({minimum} + {maximum} - answer).").format(
        items=", ".join(map(str, instrument.reverse_keyed)), minimum=format_general(instrument.minimum),
        maximum=format_general(instrument.maximum))
        if instrument.reverse_keyed else _("No item is reverse-keyed."))
    if instrument.cutoff is not None:
        rule = (_("A total at or below {value} is flagged as a concern.") if instrument.cutoff.inclusive
                else _("A total below {value} is flagged as a concern."))
        sentences.append(rule.format(value=format_general(instrument.cutoff.value)))
    return " ".join(sentences)


def methods_section(config: Mapping, model_results: list[dict], versions: Mapping[str, str]) -> list[dict]:
    """Paragraphs of the Methods section: a heading and its text each."""
    instruments = load_configured(config["instruments"])
    k = config["features"]["early_window"]
    ruptures = config["ruptures"]
    measures = [instrument_sentence(_(ROLE_LABELS["alliance"]), instruments["alliance"]),
                instrument_sentence(_(ROLE_LABELS["satisfaction"]), instruments["satisfaction"])]
    if instruments.get("therapist") is not None:
        measures.append(instrument_sentence(_(ROLE_LABELS["therapist"]), instruments["therapist"]))
    models = []
    for analysis in ANALYSIS_ORDER:
        rows = [(result["family"], row) for result in model_results for row in result["effects"]
                if row["analysis"] == analysis]
        seen = list(dict.fromkeys((outcome_name(row["outcome"]), model_short(row["model"]))
                                  for _family, row in rows))
        if seen:
            listed = "; ".join(f"{outcome} ({label})" for outcome, label in seen)
            # Translators: an analysis of the plan (Primary, Secondary...) and the outcomes (models) it fitted
            models.append(_("{analysis}: {models}.").format(analysis=_analysis_heading(analysis),
                                                            models=listed))
    # Translators: no covariate is configured
    covariates = (", ".join(map(variable_name, config["models"]["covariates"]))
                  or pgettext("covariates", "none"))
    benchmark = BENCHMARKS["alliance_outcome"]
    software = ", ".join(f"{name} {version}" for name, version in versions.items())
    criterion = ruptures["criterion"].replace("_", " ")
    dropout = BENCHMARKS["alliance_dropout"]
    features = _(
        "Early alliance is the mean total over the scored sessions 1 to {k}; outcomes of the early-alliance "
        "models are counted after that window, and session-level models use only the alliance measured at an "
        "earlier session (no look-ahead). Within- and between-patient alliance are separated by person-mean "
        "centring. Ruptures: a drop of at least {c} {threshold} between consecutive scored sessions "
        "({criterion} criterion), repaired when the total returns to its earlier level within {window} "
        "scored sessions.").format(k=k, c=format_general(ruptures["c"]),
                                   threshold=_(THRESHOLDS[ruptures["criterion"]]), criterion=criterion,
                                   window=ruptures["repair_window"])
    modelling = _(
        "Every model is described in ANALYSIS_PLAN.md with its estimand, formula, clustering and "
        "missing-data rule. Covariates: {covariates} (numeric ones z-scored). Standard errors are clustered "
        "by therapist (the linear mixed models also have a therapist or patient random intercept); with "
        "fewer than {clusters} therapists, clustered standard errors are small-sample corrected "
        "(bias-reduced for logistic models, Mancl & DeRouen, 2001; jackknife for linear ones, Bell & "
        "McCaffrey, 2002) and intervals and p-values use Student's t on (therapists - 1) degrees of freedom "
        "(Cameron & Miller, 2015); each such result is flagged. A model the data cannot support is not "
        "estimated and its reason is given (Models of the analysis plan).").format(
        covariates=covariates, clusters=config["models"].get("min_clusters", MIN_CLUSTERS))
    missing = _(
        "Each model uses complete cases after the exclusions counted in its flow (multiple imputation is a "
        "sensitivity analysis). Primary hypotheses are tested at the two-sided {alpha} level; p-values of "
        "the secondary and of the exploratory effects are adjusted by the Benjamini-Hochberg false-discovery "
        "rate within each family (q; Benjamini & Hochberg, 1995). Multiple imputation pools by Rubin's "
        "rules (Rubin, 1987).").format(alpha=format_percent(0.05, 0))
    effect_sizes = _(
        "Effects are per SD of alliance with 95% CIs whose standard errors include the sampling variance of "
        "that SD (delta method), and converted to r (points: the standardised slope; log-odds: d = b "
        "sqrt(3) / pi, Chinn, 2000, and log-hazard: d = b sqrt(6) / pi, each then as the latent correlation "
        "r = d / sqrt(d^2 + 1), McKelvey & Zavoina, 1975). These r are not the benchmarks' "
        "metrics; the benchmarks are compared with statistics in their own metric: the alliance-outcome "
        "benchmark r = {r} ({r_source}) with the bivariate r of early alliance and symptom improvement, the "
        "dropout benchmark d = {d} ({d_source}) with the standardised difference in early alliance between "
        "completers and dropouts.").format(r=format_unit(benchmark["r"], 3),
                                           r_source=source_words(benchmark["source"]),
                                           d=format_number(dropout["d"], 2),
                                           d_source=source_words(dropout["source"]))
    disclosure = _(
        "Counts and per-group statistics resting on fewer than {n} patients are suppressed, with secondary "
        "suppression where a total would reveal them.").format(
        n=format_count(config["privacy"]["min_cell_size"]))
    run = _(
        "Python; {software}. The whole run is a Snakemake workflow (Mölder et al., 2021), the models are "
        "statsmodels' (Seabold & Perktold, 2010); results/manifest.json lists every output with its "
        "hash.").format(software=software)
    return [
        {"heading": _(HEADINGS["measures"]), "text": " ".join(measures)},
        {"heading": _(HEADINGS["features"]), "text": features},
        {"heading": _(HEADINGS["models"]), "text": " ".join([modelling, *models])},
        {"heading": _(HEADINGS["missing"]), "text": missing},
        {"heading": _(HEADINGS["effect_sizes"]), "text": effect_sizes},
        {"heading": _(HEADINGS["disclosure"]), "text": disclosure},
        {"heading": _(HEADINGS["software"]), "text": run},
    ]


def methods_markdown(paragraphs: list[dict], instruments: Mapping[str, Instrument | None]) -> str:
    """The Methods section as Markdown for a manuscript (`results/methods.md`): the report's paragraphs
    under their headings, then the full reference of every work the text cites (as published, in
    English). An instrument from a user's definition, whose full reference the pipeline does not hold, is
    listed by its name and citation, to be completed by hand."""
    text = " ".join(paragraph["text"] for paragraph in paragraphs)
    lines = ["# " + _("Methods"), ""]
    for paragraph in paragraphs:
        lines += [f"## {paragraph['heading']}", "", paragraph["text"], ""]
    cited = [reference for key, reference in REFERENCES.items() if cites(text, key)]
    cited += [_("{name}: {citation} (a user-defined instrument; complete this reference)").format(
                  name=instrument.name, citation=instrument.citation)
              for instrument in instruments.values() if instrument is not None
              and instrument.citation not in REFERENCES
              and (instrument.citation in text or cites(text, instrument.citation))]
    lines += ["## " + _("References"), "", *(f"- {reference}" for reference in sorted(cited)), ""]
    return "\n".join(lines)
