"""The report at a glance: the primary effects and the key secondary one in one figure, one table and one
plain-language sentence per outcome (ANALYSIS_PLAN.md, sections 5 and 6).

Each effect is shown per SD of alliance on the scale a clinician reads: an odds ratio for attendance and
dropout, points of the questionnaire for satisfaction and symptom improvement. Benchmarks are drawn only
where the metric is the benchmark's own (the like-for-like comparisons of `alliance.models.benchmarks`:
Sharf et al.'s d for dropout, Flückiger et al.'s r for symptom improvement); the per-SD effects have no
published counterpart and get none.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from alliance.errors import REFUSED, REPORTED
from alliance.i18n import N_, Message, _
from alliance.ingest.privacy import is_reportable
from alliance.instruments import Instrument
from alliance.models.benchmarks import withheld
from alliance.models.effects import ADJUSTED_FAMILIES
from alliance.models.plan import BY_KEY
from alliance.report.format import (
    bound_digits,
    estimate_digits,
    foreign,
    format_ci,
    format_estimate,
    format_number,
    format_p,
    format_percent,
    format_unit,
    interval_digits,
    is_number,
    p_text,
)
from alliance.report.style import figure_style, message_figure, new_figure
from alliance.report.words import (
    fill,
    footnote_mark,
    hypothesis_role,
    reason_text,
    reason_words,
    source_words,
    status_word,
    suppressed_effect,
)

GLANCE_KEYS = ("H1", "H2", "H3", "H4")  # the three primary effects and the key secondary one
FAMILY_OF = {"H1": "adherence", "H2": "dropout", "H3": "satisfaction", "H4": "symptoms"}
LABELS = {"H1": N_("Attendance"), "H2": N_("Dropout"), "H3": N_("Satisfaction"),
          "H4": N_("Symptom improvement")}
METRICS = {"H1": "odds ratio", "H2": "odds ratio", "H3": "points", "H4": "points"}  # as planned
METRIC_WORDS = {"odds ratio": N_("odds ratio"), "points": N_("points")}
PANELS = {"odds ratio": N_("Odds ratio per SD of alliance"), "points": N_("Points per SD of alliance")}
NULLS = {"odds ratio": 1.0, "points": 0.0}  # each metric's value of no effect
BENCHMARK_PANEL = N_("Like-for-like benchmark comparisons")
NOT_RUN = Message("its model family was not run")  # the reason of an effect whose family was not run

# The effect of each glance row in plain words: (better alliance, higher; lower; no clear difference).
SENTENCES = {
    "H1": (N_("Patients with a better alliance attended more of their later sessions: odds ratio {estimate} "
              "per SD of alliance (95% CI {low} to {high})."),
           N_("Patients with a better alliance attended fewer of their later sessions: odds ratio {estimate} "
              "per SD of alliance (95% CI {low} to {high})."),
           N_("Attendance did not clearly differ with the alliance: odds ratio {estimate} per SD of alliance "
              "(95% CI {low} to {high}).")),
    "H2": (N_("Patients with a better alliance dropped out more often: odds ratio {estimate} per SD of "
              "alliance (95% CI {low} to {high})."),
           N_("Patients with a better alliance dropped out less often: odds ratio {estimate} per SD of "
              "alliance (95% CI {low} to {high})."),
           N_("Dropout did not clearly differ with the alliance: odds ratio {estimate} per SD of alliance "
              "(95% CI {low} to {high}).")),
    # Translators: {instrument} is the satisfaction questionnaire's short name, e.g. CSQ-8.
    "H3": (N_("Patients with a better alliance were more satisfied: {estimate} {instrument} points per SD of "
              "alliance (95% CI {low} to {high})."),
           N_("Patients with a better alliance were less satisfied: {estimate} {instrument} points per SD of "
              "alliance (95% CI {low} to {high})."),
           N_("Satisfaction did not clearly differ with the alliance: {estimate} {instrument} points per SD "
              "of alliance (95% CI {low} to {high}).")),
    "H4": (N_("Patients with a better alliance improved more: {estimate} points of symptom improvement per "
              "SD of alliance (95% CI {low} to {high})."),
           N_("Patients with a better alliance improved less: {estimate} points of symptom improvement per "
              "SD of alliance (95% CI {low} to {high})."),
           N_("Symptom improvement did not clearly differ with the alliance: {estimate} points of symptom "
              "improvement per SD of alliance (95% CI {low} to {high}).")),
}

# What a clinical lead reads of an odds ratio: the model's predicted rates one SD either side of the
# average alliance (`ModelResult.extra["marginal"]`, the figure of predicted outcomes).
PREDICTED = {
    "H1": N_("Predicted share of the later sessions attended: {below} one SD below the average alliance, "
             "{above} one SD above (numeric covariates at their mean, categorical ones at their most "
             "frequent level)."),
    "H2": N_("Predicted dropout: {below} one SD below the average alliance, {above} one SD above (numeric "
             "covariates at their mean, categorical ones at their most frequent level)."),
}


def predicted_rates(result: Mapping | None) -> tuple[float, float] | None:
    """The model's predicted probability at alliance -1 and +1 SD (its marginal predictions), or None
    without them."""
    table = pd.DataFrame((result or {}).get("extra", {}).get("marginal") or [])
    if table.empty or not (table["scale"] == "probability").all():
        return None
    at = {side: table.loc[np.isclose(table["alliance_z"], side), "prediction"] for side in (-1.0, 1.0)}
    if any(values.empty for values in at.values()):
        return None
    return float(at[-1.0].iloc[0]), float(at[1.0].iloc[0])


# A like-for-like benchmark comparison in a cell, by its verdict (`alliance.models.benchmarks`).
BENCHMARK_CELLS = {
    "compatible with": N_("{symbol} = {estimate} {ci}, compatible with {benchmark} ({source})"),
    "smaller than": N_("{symbol} = {estimate} {ci}, smaller than {benchmark} ({source})"),
    "larger than": N_("{symbol} = {estimate} {ci}, larger than {benchmark} ({source})"),
    "opposite to": N_("{symbol} = {estimate} {ci}, in the direction opposite to {benchmark} ({source})"),
}


def glance_rows(effects: pd.DataFrame, model_results: Sequence[Mapping], satisfaction_label: str, *,
                min_cell_size: int, multiplicity: pd.DataFrame | None = None) -> list[dict]:
    """One row per effect of `GLANCE_KEYS`: hypothesis, label, status, the estimate per SD of alliance on
    its display scale (`metric`: odds ratio or points; NaN when not estimated), its 95% CI and p, the
    like-for-like benchmark comparison of its family where one exists, and a plain-language `sentence`.
    The status is the one its family recorded (`ModelResult.statuses`); a family that was not run
    leaves its effect `refused`. `satisfaction_label` names the satisfaction measure (e.g. "CSQ-8"). An
    effect resting on fewer than `min_cell_size` patients shows no numbers, as in the effect tables:
    `hidden` says so (None otherwise) and its estimate and benchmark comparison are left out. A secondary
    effect carries its false-discovery-rate q from `multiplicity` (`q_value`; NaN without it), which the
    plan (section 6) puts beside every secondary p."""
    recorded = {status["key"]: status for result in model_results for status in result.get("statuses", [])}
    benchmarks = {result["family"]: result.get("extra", {}).get("benchmark") for result in model_results}
    results = {result["family"]: result for result in model_results}
    rows = []
    for key in GLANCE_KEYS:
        planned = BY_KEY[key]
        state = recorded.get(key, {"status": REFUSED, "reason": str(NOT_RUN),
                                   "reason_message": NOT_RUN.to_json()})
        row = {"key": key, "hypothesis": planned.hypothesis, "analysis": planned.analysis,
               "label": _(LABELS[key]), "status": state["status"], "reason": state["reason"],
               "reason_message": state.get("reason_message"),
               "metric": METRICS[key], "estimate": np.nan, "ci_low": np.nan, "ci_high": np.nan,
               "p_value": np.nan, "q_value": np.nan, "benchmark": benchmarks.get(FAMILY_OF[key]),
               "hidden": None,
               "predicted": None, "caveats": []}
        if state["status"] in REPORTED:
            effect = effects[(effects["analysis"] == planned.analysis)
                             & (effects["outcome"] == planned.outcome) & (effects["model"] == planned.model)
                             & (effects["predictor"] == planned.predictors[0])].iloc[0]
            scale = np.exp if effect["scale"] == "log_odds" else float
            if row["benchmark"] and withheld(row["benchmark"], min_cell_size):
                row["benchmark"] = None  # the benchmark sentences say why (`benchmark_sentences`)
            if is_reportable(int(effect["n_patients"]), min_cell_size):
                # the model's flags (few events, complete cases, few clusters) and a boundary fit's reason,
                # as the Summary gives them: the first screen had stated a result without them
                row["caveats"] = [text for text in (
                    reason_words(state) if state["status"] == "boundary" else "",
                    reason_words(state, "flags") if state.get("flags") else "") if text]
                # the predicted rates describe an effect the CI tells from none: beside "did not clearly
                # differ" (OR 2.79, 95% CI 0.00 to 1309281509.37, a reviewer's probe) 14% and 57% misled
                distinct = effect["ci_low"] > 0 or effect["ci_high"] < 0
                row.update(estimate=scale(effect["estimate"]),
                           ci_low=scale(effect["ci_low"]), ci_high=scale(effect["ci_high"]),
                           p_value=effect["p_value"], q_value=q_value(multiplicity, effect),
                           predicted=(predicted_rates(results.get(FAMILY_OF[key]))
                                                                 if key in PREDICTED and distinct else None))
            else:
                row.update(benchmark=None,
                           hidden=suppressed_effect(min_cell_size))
        row["sentence"] = glance_sentence(row, satisfaction_label)
        rows.append(row)
    return rows


def short_name(instrument: Instrument) -> str:
    """An instrument's short name: the abbreviation in the parentheses of its name ("CSQ-8"), or the
    name."""
    inside = re.search(r"\(([^()]+)\)\s*$", instrument.name)
    return inside.group(1) if inside else instrument.name


def glance_sentence(row: Mapping, satisfaction_label: str) -> str:
    """The effect of one glance row in plain words, with its direction only where the CI excludes no
    effect."""
    if row["status"] not in REPORTED:
        return fill(_("{label}: no estimate ({status}). {reason}"), label=row["label"],
                    status=status_word(row["status"]), reason=reason_text(row))
    if row["hidden"]:
        return fill(_("{label}: {hidden}."), label=row["label"], hidden=row["hidden"])
    null = NULLS[row["metric"]]
    low_digits, high_digits = bound_digits(row["ci_low"], row["ci_high"],
                                          interval_digits(row["ci_low"], row["ci_high"]), null)
    clear = row["ci_low"] > null or row["ci_high"] < null
    higher, lower, unclear = SENTENCES[row["key"]]
    message = (higher if row["estimate"] > null else lower) if clear else unclear
    # elided as the report's other sentences are (Catalan "d'1,29", a reviewer read "de 1,29")
    sentence = fill(_(message), estimate=format_number(row["estimate"], estimate_digits(row["estimate"])),
                    low=format_number(row["ci_low"], low_digits),
                    high=format_number(row["ci_high"], high_digits), instrument=satisfaction_label)
    if row.get("predicted") is None:
        return sentence
    below, above = row["predicted"]
    return " ".join([sentence, fill(_(PREDICTED[row["key"]]), below=format_percent(below, 0),
                                    above=format_percent(above, 0))])


def caveat_marks(rows: Sequence[Mapping]) -> tuple[list[str], list[tuple[str, str]]]:
    """Each glance row's footnote marks ("a,b") for its caveats (`glance_rows`), and the notes under the
    table, (mark, text), each text once."""
    notes: dict[str, str] = {}
    marks = [",".join(notes.setdefault(text, footnote_mark(len(notes)))
                      for text in row.get("caveats", [])) for row in rows]
    return marks, [(mark, text) for text, mark in notes.items()]


def q_value(multiplicity: pd.DataFrame | None, effect: Mapping) -> float:
    """The false-discovery-rate q of a secondary or exploratory `effect` in `multiplicity` (its row with the
    same outcome, model, predictor and analysis); NaN for a primary effect or without the table."""
    if multiplicity is None or effect["analysis"] not in ADJUSTED_FAMILIES:
        return float("nan")
    match = multiplicity[np.logical_and.reduce([multiplicity[k] == effect[k] for k in
                                                ("outcome", "model", "predictor", "analysis")])]
    return float(match["q_value"].iloc[0]) if len(match) else float("nan")


def glance_table(rows: Sequence[Mapping]) -> list[dict]:
    """The glance rows as table cells: hypothesis, outcome, estimate [CI] with its caveats' footnote marks
    (`caveat_marks`), p, benchmark comparison."""
    cells = []
    marks, _notes = caveat_marks(rows)
    for row, mark in zip(rows, marks, strict=True):
        reported = row["status"] in REPORTED and not row["hidden"]
        bench = row["benchmark"]
        cells.append({
            "hypothesis": row["hypothesis"], "outcome": row["label"],
            "analysis": hypothesis_role(row["analysis"]),
            "metric": _(METRIC_WORDS[row["metric"]]) if reported else "",
            # an odds ratio's bound never "1.00" in a CI that excludes 1 (0.70 [0.49, 1.00] at p = .047)
            "estimate": (format_estimate(row["estimate"], row["ci_low"], row["ci_high"],
                                         null=NULLS[row["metric"]])
                         if reported else row["hidden"] or status_word(row["status"])),
            "marks": mark if reported else "",
            "p": format_p(row["p_value"]) if reported else "",
            "q": p_text(row["q_value"], "q") if reported and is_number(row["q_value"]) else "",
            "benchmark": _benchmark_cell(bench) if bench else "",
            "sentence": row["sentence"],
        })
    return cells


def _benchmark_cell(bench: Mapping) -> str:
    """A like-for-like comparison in one cell: "d = 0.75 [0.50, 1.00] vs 0.55 (Sharf et al. 2010)"."""
    unit = bench["benchmark"] == "alliance_outcome"
    value = format_unit if unit else format_number
    symbol = "r" if unit else "d"
    reference = value(bench["benchmark_value"])
    if is_number(bench["benchmark_ci_low"]):  # as published, with its CI's digits (.278 [.256, .299])
        reference = (value(bench["benchmark_value"], 3) + " "
                     + format_ci(bench["benchmark_ci_low"], bench["benchmark_ci_high"], 3, unit=unit))
    values = {"symbol": symbol, "estimate": value(bench["estimate"]), "benchmark": reference,
              "source": source_words(bench["source"], studies=False),
              "ci": format_ci(bench["ci_low"], bench["ci_high"], unit=unit)}
    if bench["verdict"] in BENCHMARK_CELLS:
        return _(BENCHMARK_CELLS[bench["verdict"]]).format(**values)
    return fill(_("{symbol} = {estimate} {ci}, {verdict} {benchmark} ({source})"),
                verdict=foreign(bench["verdict"]), **values)


def glance_figure(rows: Sequence[Mapping]) -> Figure:
    """The glance rows as dots with 95% CIs: one panel per display scale (odds ratios on a log axis with
    the no-effect line at 1; points with it at 0) and one for the like-for-like benchmark comparisons,
    with the benchmark's value (and its CI as a band, where published). An effect without an estimate is
    listed with its status in words instead of a dot."""
    panels = [(metric, [r for r in rows if r["metric"] == metric]) for metric in PANELS]
    panels = [(metric, members) for metric, members in panels if members]
    benchmarks = [r for r in rows if r["benchmark"]]
    if not panels:
        return message_figure(_("At a glance"), _("No effect of the analysis plan could be listed."))
    heights = [len(members) for _, members in panels] + ([len(benchmarks)] if benchmarks else [])
    colours = sns.color_palette("colorblind")
    with figure_style():
        fig = new_figure(8, 1.3 + 0.62 * sum(heights) + 0.5 * len(heights))
        axes = fig.subplots(len(heights), 1, squeeze=False, height_ratios=[h + 0.6 for h in heights]).ravel()
        for ax, (metric, members) in zip(axes, panels, strict=False):
            null = NULLS[metric]
            _dots(ax, members, null, colours[0])
            if metric == "odds ratio":
                _odds_ratio_axis(ax)
            ax.set_title(_(PANELS[metric]), loc="left", fontsize=11)
        if benchmarks:
            ax = axes[-1]
            comparisons = [{**r["benchmark"], "label": f"{r['label']} ({'r' if _is_r(r) else 'd'})",
                            "status": "fitted"} for r in benchmarks]
            _dots(ax, comparisons, 0.0, colours[0], benchmark_colour=colours[2])
            ax.set_title(_(BENCHMARK_PANEL), loc="left", fontsize=11)
        handles = [Line2D([], [], marker="o", linestyle="none", color=colours[0],
                          label=_("estimate (95% CI)"))]
        if benchmarks:
            handles.append(Patch(color=colours[2], alpha=0.3,
                                 label=_("published benchmark (95% CI where published)")))
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize="small")
    return fig


ODDS_RATIO_TICKS = (0.1, 0.2, 0.33, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0)  # pairs equally far from 1


def _odds_ratio_axis(ax) -> None:
    """A log axis for odds ratios, symmetric about 1 (an odds ratio and its inverse equally far), with
    round ticks labelled as numbers."""
    low, high = ax.get_xlim()
    reach = max(abs(np.log(max(low, 1e-3))), abs(np.log(high)), np.log(1.25)) * 1.1
    ax.set_xscale("log")
    ax.set_xlim(np.exp(-reach), np.exp(reach))
    ticks = [tick for tick in ODDS_RATIO_TICKS if np.exp(-reach) <= tick <= np.exp(reach)]
    ax.set_xticks(ticks, [format_number(tick) for tick in ticks])
    ax.set_xticks([], minor=True)


def _is_r(row: Mapping) -> bool:
    return row["benchmark"]["benchmark"] == "alliance_outcome"


def _dots(ax, members: Sequence[Mapping], null: float, colour, benchmark_colour=None) -> None:
    """One row per member: its estimate with the 95% CI (or its status in words), the no-effect line at
    `null` and, with `benchmark_colour`, each member's benchmark as a tick with its CI band."""
    positions = np.arange(len(members))[::-1]
    ax.axvline(null, color="0.25", linewidth=1)
    for y, row in zip(positions, members, strict=True):
        if row["status"] in REPORTED and not row.get("hidden"):
            ax.errorbar(row["estimate"], y, xerr=[[row["estimate"] - row["ci_low"]],
                                                  [row["ci_high"] - row["estimate"]]],
                        fmt="o", color=colour, capsize=4, markersize=7)
        else:
            shown = row.get("hidden") or _("no estimate: {status}").format(status=status_word(row["status"]))
            ax.text(0.5, y, shown,
                    transform=ax.get_yaxis_transform(),
                    ha="center", va="center", color="0.35", fontsize="small")
        if benchmark_colour is not None:
            if is_number(row["benchmark_ci_low"]):
                ax.fill_betweenx([y - 0.3, y + 0.3], row["benchmark_ci_low"], row["benchmark_ci_high"],
                                 color=benchmark_colour, alpha=0.3, linewidth=0)
            ax.plot([row["benchmark_value"]] * 2, [y - 0.3, y + 0.3], color=benchmark_colour, linewidth=2)
    ax.set_yticks(positions, [row["label"] for row in members])
    ax.set_ylim(-0.6, len(members) - 0.4)
    ax.grid(axis="y", visible=False)
