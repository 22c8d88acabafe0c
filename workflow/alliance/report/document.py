"""The self-contained HTML report: one file, figures embedded, no timestamps (byte-identical re-runs).

`build_report` turns the pipeline's outputs (summaries, tables, model results, effect rows, figure PNGs)
into display-ready values (formatted in the section modules, in Python) and renders
`templates/report.html` (jinja2, autoescaped). Nothing is estimated here: numbers come from the effect
rows and the summaries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import jinja2
import pandas as pd
import yaml
from markupsafe import Markup

from alliance.i18n import (
    N_,
    SOURCE_LANGUAGE,
    _,
    language,
    ngettext,
    pgettext,
    suppressing_counts,
    use_language,
)
from alliance.instruments import load_configured
from alliance.models.effects import BENCHMARKS
from alliance.models.plan import status_table
from alliance.outputs import FIGURES
from alliance.report.analysis import (
    analysis_sections,
    benchmark_sentences,
    covariates_left_out,
    primary_summary,
    sensitivity_rows,
    status_rows,
    truth_rows,
)
from alliance.report.cohort import alliance_section, cohort_section, family_name, input_tables
from alliance.report.dimensions import dimension_section, reportable_dimensions
from alliance.report.downloads import add_csv_downloads
from alliance.report.dynamics import dynamics_section, reportable_dynamics
from alliance.report.early_warning import early_warning_section
from alliance.report.figures import EXAMPLES_PER_PATTERN
from alliance.report.format import (
    format_ci,
    format_count,
    format_number,
    format_percent,
    format_unit,
    label_cell,
    word_cell,
)
from alliance.report.glance import caveat_marks, glance_rows, glance_table, short_name
from alliance.report.measurement import highest_level, means_caveat, measurement_section
from alliance.report.methods import methods_section, named_works, not_estimated
from alliance.report.provenance import embed_png, provenance, shown_provenance
from alliance.report.references import cited_references, cited_text, reference_item
from alliance.report.words import reason_words, source_words

ANALYSIS_PLAN = "../ANALYSIS_PLAN.md"  # relative to results/report.html
# Where the reference list goes: it holds the works the rendered text cites, so it is filled in after
# rendering (`alliance.report.references`).
REFERENCES_SLOT = Markup("<!-- the works cited: alliance.report.references -->")


FIGURE_CAPTIONS = {
    "at_a_glance": N_("The primary effects and symptom improvement per SD of alliance with 95% CIs: odds "
                      "ratios (no effect at 1) and points (no effect at 0); below, the statistics that "
                      "share a published benchmark's metric beside it (its 95% CI as a band where "
                      "published)."),
    "invariance": N_("Each alliance item's loading and intercept per discipline in the configural model of "
                     "the invariance analysis: an item one discipline answers differently stands apart."),
    "dynamics": N_("H4c: the within-patient lagged effects of the RI-CLPM as a path diagram, each with its "
                   "95% CI (robust to the therapist level); solid arrows where the CI excludes 0."),
    "alliance_trajectories": N_("Mean alliance total (95% CI) by session and discipline, over attended, "
                                "scored sessions. Points resting on fewer than {k} patients are not shown."),
    "subscale_distributions": N_("Distributions of the alliance subscales and total over scored sessions, "
                                 "with the share at the scale maximum (ceiling) and the skew."),
    "forest_plot": N_("Alliance effects as correlations (95% CI). Band: alliance-outcome benchmark r = {r} "
                      "{ci} ({source}), for orientation only: these r are adjusted, partial or latent "
                      "correlations, not the benchmark's metric (the comparisons below are)."),
    "item_distributions": N_("Share of each answer per alliance item (as answered), by subscale, on each "
                             "patient's first scored questionnaire; beside each bar, the share at the scale "
                             "maximum."),
    "factor_loadings": N_("Standardized loadings of the correlated-factors model (when fitted) beside the "
                          "one-factor model (ML confirmatory factor analysis of each patient's first "
                          "questionnaire complete on all items); factor correlations above the plot."),
    "reliability_by_sessions": N_("Reliability of a patient's mean alliance total against the number of "
                                  "sessions averaged (Spearman-Brown from the single-session patient ICC); "
                                  "reference lines at {low} and {high}."),
    "rupture_trajectories": N_("Alliance total by scored session for example patients of the synthetic "
                               "cohort (the first {examples} by id of each rupture pattern). Triangles "
                               "down: ruptures; triangles up: the session where the total returned to its "
                               "pre-rupture level (repair)."),
    "marginal_effects": N_("Predicted outcome of each primary model (95% CI) across alliance from -2 to +2 "
                           "SD, with numeric covariates at their mean and categorical ones at their most "
                           "frequent level (therapist random effects at zero for the mixed model)."),
    "therapist_caterpillar": N_("Each therapist's mean of their patients' mean alliance (95% CI), ranked "
                                "and not named; therapists with fewer than {k} patients with a score are "
                                "not shown."),
    "dimensions": N_("Left: each of the alliance's dimensions (bond, goals, tasks) alone as r (95% CI), in "
                     "each outcome's own model. Right: its share of what the three explain together "
                     "(general dominance, with 95% CIs from a therapist bootstrap); the dashed line marks "
                     "equal shares."),
    "early_warning": N_("Early warning at the primary decision point, from out-of-fold predictions only "
                        "(each patient's risk from models fitted without their therapist): left, "
                        "discrimination (ROC curves of the two models; the cut-off rules as points); middle, "
                        "calibration (observed against predicted dropout in groups of patients; the dotted "
                        "line is perfect calibration); right, the decision curve (net benefit of alerting by "
                        "each model and rule against alerting everyone or no one; the vertical line is the "
                        "alert threshold; a gap in a curve leaves out thresholds whose alerts would give a "
                        "count below the minimum cell size away)."),
    "kaplan_meier": N_("Retention after the early window by tertile of early alliance (Kaplan-Meier with "
                       "95% CIs, landmark at the end of the early window); curves stop where fewer than "
                       "{k} patients remain at risk."),
}


REVERSE_KEYED_CAPTION = N_("Reverse-keyed items are marked R; their share at the maximum is after reverse "
                           "keying.")


def figure_captions(min_cell_size: int) -> dict[str, str]:
    """Caption of each figure in the active language, with the suppression threshold and the benchmarks
    filled in."""
    outcome = BENCHMARKS["alliance_outcome"]
    values = {
        "k": format_count(min_cell_size), "r": format_unit(outcome["r"], 3),
        "ci": format_ci(outcome["ci_low"], outcome["ci_high"], 3, unit=True),
        "source": source_words(outcome["source"]),
        "examples": format_count(EXAMPLES_PER_PATTERN), "low": format_unit(0.80), "high": format_unit(0.90),
    }
    return {name: _(text).format(**values) for name, text in FIGURE_CAPTIONS.items()}


def therapists_text(n: int) -> str:
    """ "1 therapist", "12 therapists", in the active language."""
    return _("1 therapist") if n == 1 else _("{n} therapists").format(n=format_count(n))


def build_report(
    *,
    config: dict, validation: dict, scoring: dict, session_scores: pd.DataFrame, features: pd.DataFrame,
    model_results: list[dict], effects: pd.DataFrame, psychometrics: Mapping[str, pd.DataFrame],
    rupture_shares: pd.DataFrame, figure_paths: Sequence[str | Path], truth: dict | None = None,
    min_cell_size: int, multiplicity: pd.DataFrame | None = None, sensitivity: pd.DataFrame | None = None,
    sensitivity_notes: Sequence[str] = (), status: pd.DataFrame | None = None,
    dimensions: dict | None = None,
    dynamics: dict | None = None,
    early_warning: Mapping | None = None,
) -> str:
    """The report as one self-contained HTML string (figures as data URIs, no timestamps), in the language
    of `config["report"]["language"]` (English when not set).

    `psychometrics` holds the tables of results/psychometrics/ keyed by name; example trajectories are
    shown only with `truth` (the synthetic cohort); `early_warning` holds the early-warning result and its
    measures and flow tables (never the patient list).
    """
    # every count of patients or sessions in the words of a reason or note (`Count`) of 1 to k - 1 as "<k"
    with use_language(config.get("report", {}).get("language", SOURCE_LANGUAGE)), \
            suppressing_counts(min_cell_size):
        return _build_report(
            config=config, validation=validation, scoring=scoring, session_scores=session_scores,
            features=features, model_results=model_results, effects=effects, psychometrics=psychometrics,
            rupture_shares=rupture_shares, figure_paths=figure_paths, truth=truth,
            min_cell_size=min_cell_size, multiplicity=multiplicity, sensitivity=sensitivity,
            sensitivity_notes=sensitivity_notes, status=status, dimensions=dimensions, dynamics=dynamics,
            early_warning=early_warning)


def _build_report(
    *,
    config: dict, validation: dict, scoring: dict, session_scores: pd.DataFrame, features: pd.DataFrame,
    model_results: list[dict], effects: pd.DataFrame, psychometrics: Mapping[str, pd.DataFrame],
    rupture_shares: pd.DataFrame, figure_paths: Sequence[str | Path], truth: dict | None,
    min_cell_size: int, multiplicity: pd.DataFrame | None, sensitivity: pd.DataFrame | None,
    sensitivity_notes: Sequence[str], status: pd.DataFrame | None, dimensions: dict | None,
    dynamics: dict | None, early_warning: Mapping | None,
) -> str:
    figures = {Path(path).stem: embed_png(path) for path in figure_paths}
    missing = [name for name in FIGURES if name not in figures]
    if missing:
        raise ValueError(f"figure PNGs missing for: {', '.join(missing)}")
    captions = figure_captions(min_cell_size)
    invariance = highest_level(psychometrics.get("invariance"))
    captions["alliance_trajectories"] += " " + means_caveat(invariance)
    provenance_info = shown_provenance(provenance(config, validation))
    early_window = config["features"]["early_window"]
    status = status_table(model_results) if status is None else status
    instruments = load_configured(config["instruments"])
    satisfaction = instruments["satisfaction"]
    if instruments["alliance"].reverse_keyed:  # the WAI-SR has none: the caption says nothing of them
        captions["item_distributions"] += " " + _(REVERSE_KEYED_CAPTION)
    glance = glance_rows(effects, model_results, short_name(satisfaction), min_cell_size=min_cell_size,
                         multiplicity=multiplicity)
    context = {
        "glance": glance_table(glance),
        "glance_notes": caveat_marks(glance)[1],
        "summary": primary_summary(status, effects, early_window, min_cell_size=min_cell_size),
        "status": status_rows(status),
        "cohort": cohort_section(session_scores, features, model_results, scoring=scoring,
                                 min_cell_size=min_cell_size),
        "tables": input_tables(validation),
        "data_warnings": [reason_words(w, "report_message") for w in validation.get("warnings", [])],
        "alliance": alliance_section(session_scores, scoring, config),
        "measurement": measurement_section(psychometrics, rupture_shares, scoring, config=config,
                                           min_cell_size=min_cell_size,
                                           synthetic=truth is not None),
        "methods": methods_section(config, model_results, provenance_info["versions"],
                                   synthetic=truth is not None,
                                   unestimated=not_estimated(status, early_warning)),
        "analyses": analysis_sections(model_results, effects, early_window, min_cell_size=min_cell_size,
                                      multiplicity=multiplicity, status=status,
                                      invariance=invariance,
                                      left_out=covariates_left_out(model_results,
                                                                   config["models"]["covariates"])),
        "sensitivity": (None if sensitivity is None else {
            "rows": sensitivity_rows(sensitivity, min_cell_size), "notes": list(sensitivity_notes)}),
        "dimensions": dimension_section(reportable_dimensions(dimensions, min_cell_size), status),
        "dynamics": dynamics_section(reportable_dynamics(dynamics, min_cell_size), effects, status,
                                     multiplicity),
        "early_warning": early_warning_section(*(None if early_warning is None else early_warning.get(key)
                                                 for key in ("result", "measures", "flow")),
                                               min_cell_size=min_cell_size, early_window=early_window),
        "benchmarks": benchmark_sentences(model_results, min_cell_size=min_cell_size),
        "truth": truth_rows(truth, effects) if truth else None,
        "n_therapists": therapists_text(features["therapist_id"].nunique()),
        "figures": {name: {"src": figures[name], "caption": captions[name]} for name in FIGURES},
        "plan": ANALYSIS_PLAN,
        "provenance": provenance_info,
        # a clinic's own data: without the synthetic cohort's settings, which do not enter its run
        "config_yaml": yaml.safe_dump({key: value for key, value in config.items()
                                       if truth or key != "synthetic"}, sort_keys=True, allow_unicode=True),
        "min_cell_size": min_cell_size,
        "language": language(),
    }
    html = _environment().get_template("report.html").render(**context, references=REFERENCES_SLOT)
    if html.count(REFERENCES_SLOT) != 1:
        raise ValueError("the report template must hold the reference list's slot once")
    cited = cited_references(cited_text(html), named_works(instruments, config))
    listed = "\n".join(map(reference_item, cited))
    return add_csv_downloads(html.replace(REFERENCES_SLOT, listed))


def _environment() -> jinja2.Environment:
    """The report's templates, with gettext (`_("...")`, `{% trans %}`) in the active language."""
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("alliance.report", "templates"), autoescape=True,
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        extensions=["jinja2.ext.i18n"],
    )
    environment.install_gettext_callables(gettext=_, ngettext=ngettext, pgettext=pgettext, newstyle=True)
    # numbers written in the template's own sentences, and the families' names
    environment.globals.update(format_count=format_count, format_number=format_number,
                               format_percent=format_percent, format_unit=format_unit,
                               family_name=family_name, label_cell=label_cell,
                               word_cell=word_cell)
    return environment
