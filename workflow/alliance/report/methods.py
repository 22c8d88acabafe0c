"""The report's Methods section, written from the configuration, the instruments and the fitted models
(so that it always describes what was run, in the order of ANALYSIS_PLAN.md)."""

from __future__ import annotations

from collections.abc import Mapping

from alliance.instruments import Instrument, load_configured
from alliance.models.common import MIN_CLUSTERS
from alliance.models.effects import BENCHMARKS, model_label
from alliance.report.format import format_count

ANALYSIS_ORDER = ("primary", "secondary", "exploratory", "sensitivity")


def instrument_sentence(role: str, instrument: Instrument) -> str:
    """One instrument: name, citation, items and range, subscales with their item numbers, scoring."""
    subscales = "; ".join(f"{name}: items {', '.join(map(str, items))}"
                          for name, items in instrument.subscales.items())
    low, high = instrument.score_range
    reverse = (f" Items {', '.join(map(str, instrument.reverse_keyed))} are reverse-keyed "
               f"({instrument.minimum:g} + {instrument.maximum:g} - answer)."
               if instrument.reverse_keyed else " No item is reverse-keyed.")
    cutoff = ""
    if instrument.cutoff is not None:
        rule = "at or below" if instrument.cutoff.inclusive else "below"
        cutoff = f" A total {rule} {instrument.cutoff.value:g} is flagged as a concern."
    return (f"{role}: {instrument.name} ({instrument.citation}), {instrument.n_items} items answered "
            f"{instrument.minimum:g} to {instrument.maximum:g}; subscales ({subscales}) scored as the "
            f"{instrument.score} of their items, the total as the {instrument.total.replace('_', ' ')} "
            f"(range {low:g} to {high:g}). A subscale with more than {instrument.max_missing_per_subscale} "
            f"missing item(s) is not scored; otherwise missing items are prorated.{reverse}{cutoff}")


def methods_section(config: Mapping, model_results: list[dict], versions: Mapping[str, str]) -> list[dict]:
    """Paragraphs of the Methods section: a heading and its text each."""
    instruments = load_configured(config["instruments"])
    k = config["features"]["early_window"]
    ruptures = config["ruptures"]
    measures = [instrument_sentence("Patient-rated alliance", instruments["alliance"]),
                instrument_sentence("Satisfaction", instruments["satisfaction"])]
    if instruments.get("therapist") is not None:
        measures.append(instrument_sentence("Therapist-rated alliance", instruments["therapist"]))
    models = []
    for analysis in ANALYSIS_ORDER:
        rows = [(result["family"], row) for result in model_results for row in result["effects"]
                if row["analysis"] == analysis]
        seen = list(dict.fromkeys((row["outcome"], model_label(row["model"])) for _, row in rows))
        if seen:
            listed = "; ".join(f"{outcome} ({label})" for outcome, label in seen)
            models.append(f"{analysis.capitalize()}: {listed}.")
    covariates = ", ".join(config["models"]["covariates"]) or "none"
    benchmark = BENCHMARKS["alliance_outcome"]
    software = ", ".join(f"{name} {version}" for name, version in versions.items())
    threshold = {"sd": "within-patient SDs", "reliable_change": "x SE_diff",
                 "prior_diff": "x the larger SD of the patient's earlier and the other patients' "
                               "session-to-session differences"}[ruptures["criterion"]]
    criterion = ruptures["criterion"].replace("_", " ")
    dropout = BENCHMARKS["alliance_dropout"]
    return [
        {"heading": "Measures", "text": " ".join(measures)},
        {"heading": "Alliance features",
         "text": f"Early alliance is the mean total over the scored sessions 1 to {k}; outcomes of the "
                 "early-alliance models are counted after that window, and session-level models use only "
                 "the alliance measured at an earlier session (no look-ahead). Within- and between-patient "
                 "alliance are separated by person-mean centring. Ruptures: a drop of at least "
                 f"{ruptures['c']:g} {threshold} between consecutive scored sessions ({criterion} "
                 "criterion), repaired when the total returns to its earlier level within "
                 f"{ruptures['repair_window']} scored sessions."},
        {"heading": "Models",
         "text": "Every model is described in ANALYSIS_PLAN.md with its estimand, formula, clustering and "
                 f"missing-data rule. Covariates: {covariates} (numeric ones z-scored). Standard errors are "
                 "clustered by therapist (the linear mixed models also have a therapist or patient random "
                 "intercept); with fewer than "
                 f"{config['models'].get('min_clusters', MIN_CLUSTERS)} therapists, clustered standard "
                 "errors are small-sample corrected (bias-reduced for logistic models, jackknife for linear "
                 "ones) and intervals and p-values use Student's t on (therapists - 1) degrees of freedom; "
                 "each such result is flagged. "
                 "A model the data cannot support is not estimated and its reason is given (Models of the "
                 "analysis plan). " + " ".join(models)},
        {"heading": "Missing data and multiplicity",
         "text": "Each model uses complete cases after the exclusions counted in its flow (multiple "
                 "imputation is a sensitivity analysis). Primary hypotheses are tested at the two-sided 5% "
                 "level; p-values of the secondary and of the exploratory effects are adjusted by the "
                 "Benjamini-Hochberg false-discovery rate within each family (q)."},
        {"heading": "Effect sizes",
         "text": "Effects are per SD of alliance with 95% CIs whose standard errors include the sampling "
                 "variance of that SD (delta method), and converted to r (points: the standardised slope; "
                 "log-odds: via d = b sqrt(3) / pi; log-hazard: via d = b sqrt(6) / pi). These r are not "
                 "the benchmarks' metrics; the benchmarks are compared with statistics in their own metric: "
                 "the alliance-outcome benchmark "
                 f"r = {benchmark['r']:.3f} ({benchmark['source']}) with the bivariate r of early alliance "
                 "and symptom improvement, the dropout benchmark "
                 f"d = {dropout['d']:.2f} ({dropout['source']}) with the standardised difference in early "
                 "alliance between completers and dropouts."},
        {"heading": "Disclosure control",
         "text": f"Counts and per-group statistics resting on fewer than "
                 f"{format_count(config['privacy']['min_cell_size'])} patients are suppressed, with "
                 "secondary suppression where a total would reveal them."},
        {"heading": "Software", "text": f"Python; {software}. The whole run is a Snakemake workflow; "
                                        "results/manifest.json lists every output with its hash."},
    ]
