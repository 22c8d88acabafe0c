"""The report's Methods section, written from the configuration, the instruments and the fitted models
(so that it always describes what was run, in the order of ANALYSIS_PLAN.md), in the active language; the
shipped instruments under their published names in that language (`instrument_name`), the works cited
and their references as published."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
from markupsafe import Markup

from alliance.errors import REPORTED
from alliance.i18n import N_, Message, _, ngettext, pgettext, read_message
from alliance.instruments import PUBLISHED_NAMES, Instrument, load_configured
from alliance.models.common import MIN_CLUSTERS
from alliance.models.effects import BENCHMARKS
from alliance.models.random_intercept import BOUNDARY_WORDS
from alliance.report.analysis import covariates_left_out
from alliance.report.format import (
    format_count,
    format_general,
    format_number,
    format_percent,
    format_unit,
    format_value,
)
from alliance.report.references import cited_references
from alliance.report.words import (
    fill,
    join,
    model_short,
    outcome_name,
    parenthetical,
    reason_words,
    source_words,
    variable_name,
)

ANALYSIS_ORDER = ("primary", "secondary", "exploratory", "sensitivity")


# A narrative citation: the authors, then the year in parentheses ("Hatcher & Gillaspy (2006)").
def cited_name(name: str | Markup, citation: str) -> str | Markup:
    """An instrument's name with its citation in one pair of parentheses (APA): "Working Alliance
    Inventory - Short Revised (client; Hatcher & Gillaspy, 2006)", "Session Rating Scale (SRS v3; Duncan et
    al., 2003)", "Our scale (our own form)"; the name alone without a citation. A name in HTML (a user's
    name marked English, `report.format.foreign`) stays HTML, the citation escaped beside it."""
    cited = parenthetical(citation)
    if not cited:
        return name
    if isinstance(name, Markup):
        return Markup("{} ({})").format(name, cited)
    if name.endswith(")") and "(" in name:  # a parenthesis of its own ("(client)"): the citation joins it
        return f"{name[:-1]}; {cited})"
    return f"{name} ({cited})"


ROLE_LABELS = {"alliance": N_("Patient-rated alliance"), "satisfaction": N_("Satisfaction"),
               "therapist": N_("Therapist-rated alliance")}
HEADINGS = {"measures": N_("Measures"), "features": N_("Alliance features"), "models": N_("Models"),
            "missing": N_("Missing data and multiplicity"), "effect_sizes": N_("Effect sizes"),
            "dimensions": N_("Bond, goals and tasks"), "dynamics": N_("Reciprocal dynamics"),
            "early_warning": N_("Early warning of dropout"), "disclosure": N_("Disclosure control"),
            "software": N_("Software")}
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
    sentences.append(ngettext("Item {items} is reverse-keyed ({minimum} + {maximum} - answer).",
                              "Items {items} are reverse-keyed ({minimum} + {maximum} - answer).",
                              len(instrument.reverse_keyed)).format(
        items=", ".join(map(str, instrument.reverse_keyed)), minimum=format_general(instrument.minimum),
        maximum=format_general(instrument.maximum))
        if instrument.reverse_keyed else _("No item is reverse-keyed."))
    if instrument.cutoff is not None:
        rule = (_("A total at or below {value} is flagged as a concern.") if instrument.cutoff.inclusive
                else _("A total below {value} is flagged as a concern."))
        sentences.append(rule.format(value=format_general(instrument.cutoff.value)))
    return " ".join(sentences)


def named_works(instruments: Mapping[str, Instrument | None], config: Mapping | None = None
                ) -> list[tuple[str, str]]:
    """(name, citation) of every measure the run names: the configured instruments and, in `config`, the
    symptom measure (`cited_references` lists one whose citation it holds no reference for)."""
    works = [(instrument.name, instrument.citation) for instrument in instruments.values()
             if instrument is not None]
    symptoms = symptom_measure(config) if config is not None else ("", "")
    return [*works, symptoms] if symptoms[0] else works


def symptom_measure(config: Mapping) -> tuple[str, str]:
    """The name and citation of the symptom measure (`report.symptom_measure`), empty when not named."""
    measure = config.get("report", {}).get("symptom_measure") or {}
    return str(measure.get("name") or ""), str(measure.get("citation") or "")


def symptom_sentence(config: Mapping, model_results: list[dict], synthetic: bool = False) -> str:
    """The symptom measure of the Measures paragraph, when a symptom model was fitted: its name and
    citation as configured, the synthetic cohort's score, or the column, with where to name it."""
    if not any(result["effects"] for result in model_results if result["family"] == "symptoms"):
        return ""
    name, citation = symptom_measure(config)
    if name:
        return _("Symptoms: {measure}, scored at each session (higher scores mean more symptoms).").format(
            measure=cited_name(name, citation))
    if synthetic:
        return _("Symptoms: the synthetic cohort's session symptom score (higher scores mean more symptoms).")
    return _("Symptoms: the score in the sessions table's symptoms column (higher scores mean more "
             "symptoms); the measure is not named (report.symptom_measure in the configuration).")


def early_warning_settings(config: Mapping) -> dict[str, str]:
    """The early warning's decision points, folds, bootstrap draws, penalty and predictor entry as the
    Methods write them (a fixed C had been described as chosen by cross-validation)."""
    settings = config["early_warning"]
    points = [format_count(k) for k in sorted(int(k) for k in settings["decision_points"])]
    penalty = settings.get("penalty", "cv")
    chosen = (_("whose penalty is chosen by an inner cross-validation grouped by therapist")
              if penalty == "cv" else _("with the penalty fixed by the configuration (C = {c})").format(
                  c=format_general(float(penalty))))
    allowed = settings.get("max_parameters", "auto")
    entry = (_("The predictors entered each model in that order (the first in any case) for as long as "
               "each decision point's patients and dropouts supported their parameters by two criteria "
               "(Riley et al., 2020): an expected shrinkage of at least 0.9 and an optimism of at most 0.05 "
               "in Nagelkerke's R\u00b2, the anticipated Cox-Snell R\u00b2 taken as 15% of its maximum; "
               "\"alliance and covariates\" was not fitted where no covariate fitted beside the mean.")
             if allowed == "auto" else
             _("The predictors entered each model in that order (the first in any case) up to {allowed} "
               "predictor parameters (early_warning.max_parameters); \"alliance and covariates\" was not "
               "fitted where no covariate fitted beside the mean.").format(
                 allowed=format_count(int(allowed))))
    return {"points": join(points, ", "), "folds": format_count(settings["folds"]),
            "draws": format_count(settings["bootstrap"]), "penalty": chosen, "entry": entry}


# The rupture criteria (config ruptures.criterion) in words, not as their code names ("criterio prior diff").
CRITERION_NAMES = {"prior_diff": N_("prior-difference"), "sd": N_("patient-SD"),
                   "reliable_change": N_("reliable-change")}


def not_estimated(status: pd.DataFrame | None, early_warning: Mapping | None) -> dict[str, list[Markup]]:
    """Why the exploratory analyses the Methods describe were not estimated in these data, by paragraph
    (dimensions: H5c and H5d; dynamics: H4c; early warning: its primary decision point's models), in the
    active language, so that the Methods do not describe as done what the run could not do (a reviewer's
    4-therapist clinic read "fitted by full-information maximum likelihood" beside "H4c: not
    estimable")."""
    reasons: dict[str, list[Markup]] = {}
    if status is not None and not status.empty:
        rows = status.set_index("key")
        for part, keys in (("dimensions", ("H5c", "H5d")), ("dynamics", ("H4c",))):
            reasons[part] = [Markup("{}, {}").format(key, reason_words(rows.loc[key])) for key in keys
                             if key in rows.index and rows.loc[key, "status"] not in REPORTED]
    if early_warning is not None:
        result = early_warning.get("result", {})
        primary = f"/{result.get('primary_session')}/"
        found = [s for s in result.get("statuses", []) if primary in s["key"] and s["key"].count("/") == 3]
        if found and all(s["status"] not in REPORTED for s in found):
            reasons["early_warning"] = [Markup("{}").format(reason_words(found[0]))]
    return {part: found for part, found in reasons.items() if found}


def methods_section(config: Mapping, model_results: list[dict], versions: Mapping[str, str],
                    synthetic: bool = False, *, unestimated: Mapping[str, list[Markup]] | None = None
                    ) -> list[dict]:
    """Paragraphs of the Methods section: a heading and its text each (`synthetic`: the data are the
    synthetic cohort; `unestimated`: `not_estimated`'s reasons, each said after its paragraph)."""
    unestimated = unestimated or {}

    def said(part: str, text: str) -> str:
        if part not in unestimated:
            return text
        return text + " " + fill(_("Not estimated in these data: {reasons}."),
                                 reasons=Markup("; ").join(unestimated[part]))  # a reason marked English

    instruments = load_configured(config["instruments"])
    k = config["features"]["early_window"]
    ruptures = config["ruptures"]
    measures = [instrument_sentence(_(ROLE_LABELS["alliance"]), instruments["alliance"]),
                instrument_sentence(_(ROLE_LABELS["satisfaction"]), instruments["satisfaction"])]
    if instruments.get("therapist") is not None:
        measures.append(instrument_sentence(_(ROLE_LABELS["therapist"]), instruments["therapist"]))
    if symptoms := symptom_sentence(config, model_results, synthetic):
        measures.append(symptoms)
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
    configured = list(config["models"]["covariates"])
    left_out = covariates_left_out(model_results, configured)
    # Translators: no covariate is configured, or none is in the data
    covariates = (", ".join(variable_name(name) for name in configured if name not in left_out)
                  or pgettext("covariates", "none"))
    benchmark = BENCHMARKS["alliance_outcome"]
    software = ", ".join(f"{name} {version}" for name, version in versions.items())
    criterion = (_(CRITERION_NAMES[ruptures["criterion"]]) if ruptures["criterion"] in CRITERION_NAMES
                 else ruptures["criterion"])
    dropout = BENCHMARKS["alliance_dropout"]
    # Translators: early alliance ("Early alliance is {early}; ..."), over one session or several.
    early = ngettext("the total at session {k}", "the mean total over the scored sessions 1 to {k}",
                     k).format(k=k)
    features = _(
        "Early alliance is {early}; outcomes of the early-alliance models are counted after that window. The "
        "dropout models of the sessions at risk (H2a, H2b, H2d) use only what was measured before each "
        "session (no look-ahead); the session-level models of attendance, home practice and symptoms (H1a, "
        "H1b, H4a, H4b) separate within- and between-patient alliance by centring on the patient's mean over "
        "all scored sessions, which describes patients rather than predicting. Ruptures: a drop of at least "
        "{c} {threshold} between consecutive scored sessions ({criterion} criterion), repaired when the "
        "total returns to its earlier level within {window} scored sessions.").format(
        early=early, c=format_general(ruptures["c"]),
                                   threshold=_(THRESHOLDS[ruptures["criterion"]]), criterion=criterion,
                                   window=ruptures["repair_window"])
    if ruptures["criterion"] == "sd":  # the patient's whole series sets the threshold (plan, H2d)
        features += " " + _("With the patient-SD criterion a rupture is judged against the patient's whole "
                            "series of totals, so H2d's rupture indicator looks ahead.")
    modelling = _(
        "Every model is described in ANALYSIS_PLAN.md with its estimand, formula, clustering and "
        "missing-data rule. Covariates: {covariates} (numeric ones z-scored). Standard errors are clustered "
        "by therapist (the linear mixed models also have a therapist or patient random intercept); with "
        "fewer than {clusters} therapists, clustered standard errors are small-sample corrected "
        "(bias-reduced for logistic models, Mancl & DeRouen, 2001; jackknife for linear ones, Bell & "
        "McCaffrey, 2002; the Cox and proportional-odds models, for which no such correction is available, "
        "keep the usual clustered standard errors) and intervals and p-values use Student's t on "
        "(therapists - 1) degrees of freedom (Cameron & Miller, 2015); each such result is flagged. Each "
        "discipline's slope in the moderation models has its intervals and p-values on t with its own "
        "therapists - 1 degrees of freedom, whatever the number of therapists. A model the data cannot "
        "support is not "
        "estimated and its reason is given (Models of the analysis plan).").format(
        covariates=covariates, clusters=config["models"].get("min_clusters", MIN_CLUSTERS))
    # the random intercepts the data put at their boundary (a reviewer read "satisfaction (linear mixed
    # model)" of a run whose every report said the model had reduced to ordinary least squares)
    reduced = sorted({status["key"] for result in model_results for status in result.get("statuses", [])
                      if status["status"] == "boundary"
                      and read_message(status.get("reason_message")) in BOUNDARY_WORDS.values()})
    if reduced:
        modelling += " " + fill(_("Here the random-intercept variance of {models} was estimated as 0 (its "
                                  "boundary), so that model reduces to ordinary least squares with the "
                                  "clustered standard errors above."), models=", ".join(reduced))
    for name, reason in left_out.items():
        if reason is not None:
            modelling += " " + fill(_("The configured covariate {covariate} was left out of every model: "
                                      "{reason}."), covariate=variable_name(name),
                                    reason=Message.from_json(reason).render(format_value))
    unexplained = [name for name, reason in left_out.items() if reason is None]
    if unexplained:
        modelling += " " + ngettext(
            "The configured covariate {covariates} was left out of every model: it is absent from the data "
            "or has a single value.",
            "The configured covariates {covariates} were left out of every model: each is absent from the "
            "data or has a single value.", len(unexplained)).format(
            covariates=", ".join(map(variable_name, unexplained)))
    missing = _(
        "Each model uses complete cases after the exclusions counted in its flow (multiple imputation is a "
        "sensitivity analysis). Primary hypotheses are tested at the two-sided {alpha} level; p-values of "
        "the secondary and of the exploratory effects are adjusted by the Benjamini-Hochberg false-discovery "
        "rate within each family (q; Benjamini & Hochberg, 1995). Multiple imputation pools by Rubin's "
        "rules (Rubin, 1987).").format(alpha=format_percent(0.05, 0))
    effect_sizes = _(
        "Effects are per SD of alliance with 95% CIs whose standard errors include the sampling variance of "
        "that SD (delta method), and converted to r (points: the standardised slope; log odds ratios: d = "
        "b sqrt(3) / pi, Chinn, 2000, and log hazard ratios: d = b sqrt(6) / pi, each then as the latent "
        "correlation r = d / sqrt(d^2 + 1), McKelvey & Zavoina, 1975). These r are not the benchmarks' "
        "metrics; the benchmarks are compared with statistics in their own metric: the alliance-outcome "
        "benchmark r = {r} ({r_source}) with the bivariate r of early alliance and symptom improvement, the "
        "dropout benchmark d = {d} ({d_source}) with the standardised difference in early alliance between "
        "completers and dropouts.").format(r=format_unit(benchmark["r"], 3),
                                           r_source=source_words(benchmark["source"]),
                                           d=format_number(dropout["d"], 2),
                                           d_source=source_words(dropout["source"]))
    dimensions = _(
        "Each alliance dimension (Bordin, 1979: bond, goals, tasks) was related to each outcome alone and "
        "with the other two (with variance inflation factors), and its share of what the three explain "
        "together beyond the covariates was estimated by general dominance weights (Budescu, 1993; Azen & "
        "Budescu, 2003; McFadden's R^2 for attendance and dropout, Azen & Traxel, 2009), with percentile 95% "
        "CIs from {draws} therapist bootstrap draws. A correlated-factors model of the item means regressed "
        "each outcome on the three latent dimensions; the test that it weights them equally has its p from "
        "a wild score bootstrap over therapists ({latent} draws; Kline & Santos, 2012), adjusted over the "
        "outcomes by the Benjamini-Hochberg false-discovery rate. The reliability of each dimension and of "
        "their differences (Lord & Novick, 1968) is reported beside them.").format(
        draws=format_count(config["dimensions"]["bootstrap"]),
        latent=format_count(config["dimensions"]["latent_bootstrap"]))
    dynamics = _(
        "A random-intercept cross-lagged panel model (Hamaker et al., 2015) of the alliance and the symptom "
        "score over the early sessions separates each patient's stable level from their session-to-session "
        "deviations, and estimates how a deviation in one predicts the other at the next session; it is "
        "fitted by full-information maximum likelihood with standard errors robust to the therapist level.")
    early_warning = _(
        "At sessions {points}, the risk of dropping out after session k was predicted from what is known at "
        "k, by L2-penalised logistic regression {penalty}, in two models: \"alliance so far\" (the mean of "
        "the totals, the last total, their change, a rupture so far and their number) and \"alliance and "
        "covariates\" (the mean, the covariates, the sessions remaining, then the other four). {entry} "
        "Every measure is out of sample: {folds}-fold cross-validation grouped by therapist (and, with "
        "several sites, each site held out in turn). The area under the ROC curve, calibration intercept and "
        "slope, the Brier score and, at the alert threshold, sensitivity, specificity, positive predictive "
        "value, alerts per 100 patients and net benefit (Vickers & Elkin, 2006) are reported with 95% CIs "
        "from {draws} therapist bootstrap draws, the AUC's refitting the models in each draw (Harrell, "
        "2015); the instrument's conventional cut-off is set beside the clinic's own, chosen in the training "
        "folds only.").format(**early_warning_settings(config))
    disclosure = _(
        "Counts and per-group statistics resting on fewer than {n} patients are suppressed, with secondary "
        "suppression where a total of the same table would reveal them; counts of different tables are "
        "not checked against each other.").format(
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
        *([{"heading": _(HEADINGS["dimensions"]), "text": said("dimensions", dimensions)}]
          if instruments["alliance"].dimensions else []),
        {"heading": _(HEADINGS["dynamics"]), "text": said("dynamics", dynamics)},
        {"heading": _(HEADINGS["early_warning"]), "text": said("early_warning", early_warning)},
        {"heading": _(HEADINGS["disclosure"]), "text": disclosure},
        {"heading": _(HEADINGS["software"]), "text": run},
    ]


def methods_markdown(paragraphs: list[dict], instruments: Mapping[str, Instrument | None],
                     config: Mapping | None = None) -> str:
    """The Methods section as Markdown for a manuscript (`results/methods.md`): the report's paragraphs
    under their headings, then the full reference of every work the text cites (as published, in
    English). An instrument from a user's definition, whose full reference the pipeline does not hold, is
    listed by its name and citation, to be completed by hand."""
    text = " ".join(paragraph["text"] for paragraph in paragraphs)
    lines = ["# " + _("Methods"), ""]
    for paragraph in paragraphs:
        lines += [f"## {paragraph['heading']}", "", paragraph["text"], ""]
    cited = cited_references(text, named_works(instruments, config))
    lines += ["## " + _("References"), "", *(f"- {reference}" for reference in cited), ""]
    return "\n".join(lines)
