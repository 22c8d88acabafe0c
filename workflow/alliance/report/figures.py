"""Figures of the report: one function per figure, one shared style, deterministic files.

Figures are built on `matplotlib.figure.Figure` with an Agg canvas (no pyplot state, no display needed).
Their words are in the active language (`alliance.i18n`), their numbers written by `alliance.report.format`
and their tick labels in its decimal mark (`alliance.report.style.localise_ticks`).
"""

from __future__ import annotations

import multiprocessing
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import PercentFormatter
from scipy import stats

from alliance.i18n import N_, SOURCE_LANGUAGE, _, language
from alliance.instruments import Instrument
from alliance.io import write_atomic
from alliance.models.effects import BENCHMARKS, benchmark_comparable
from alliance.models.levels import HYPOTHESIS
from alliance.outputs import FIGURES
from alliance.report.dimensions import dimension_figure, reportable_dimensions
from alliance.report.dynamics import dynamics_figure, reportable_dynamics
from alliance.report.early_warning import early_warning_figure
from alliance.report.format import (
    format_ci,
    format_count,
    format_general,
    format_number,
    format_percent,
    format_unit,
    p_text,
)
from alliance.report.glance import glance_figure, glance_rows, short_name
from alliance.report.methods import instrument_name, subscale_label
from alliance.report.style import (
    SVG_HASHSALT,
    discipline_colours,
    figure_style,
    localise_ticks,
    message_figure,
    new_figure,
    titled,
)
from alliance.report.words import (
    analysis_word,
    discipline_name,
    family_name,
    model_short,
    outcome_name,
    predictor_label,
    reason_plain,
    source_words,
)
from alliance.scoring.scores import ALLIANCE_PREFIX, TOTAL, score_bounds, score_descriptives, scored_sessions

PNG_DPI = 200
LABEL_WIDTH = 42  # characters of a line of a forest plot's row label
HIST_BINS = 17  # bins centred on 17 equally spaced values from the scale minimum to its maximum
RELIABILITY_GUIDES = (0.80, 0.90)
EXAMPLE_PATTERNS = ("rupture_with_repair", "rupture_without_repair", "no_rupture")
EXAMPLES_PER_PATTERN = 2
MODEL_LABELS = {"correlated_factors": N_("correlated factors"), "one_factor": N_("one factor")}
KAPLAN_MEIER = "H2c"  # the key of the Kaplan-Meier analysis in the plan (alliance.models.plan)
PATTERN_LABELS = {"rupture_with_repair": N_("rupture with repair"),
                  "rupture_without_repair": N_("rupture without repair"), "no_rupture": N_("no rupture")}
TERTILE_LABELS = {"low": N_("low tertile"), "middle": N_("middle tertile"), "high": N_("high tertile")}
OUTCOME_TITLES = {"attendance": N_("Attendance"), "dropout": N_("Dropout"),
                  "satisfaction": N_("Satisfaction")}


def mean_ci(values: np.ndarray | pd.Series, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and t-based confidence interval (mean ± t(n-1) · SD / √n); NaN bounds when n < 2."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    n = len(values)
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(values.mean())
    if n < 2:
        return mean, float("nan"), float("nan")
    half = stats.t.ppf(0.5 + level / 2, n - 1) * values.std(ddof=1) / np.sqrt(n)
    return mean, float(mean - half), float(mean + half)


def grouped_mean_ci(values: pd.Series, keys, level: float = 0.95) -> pd.DataFrame:
    """`mean_ci` of `values` per group of `keys` (anything `Series.groupby` takes), vectorised over groups:
    columns mean, ci_low, ci_high and n (non-missing values), one row per group in sorted order."""
    table = values.groupby(keys, sort=True).agg(["mean", "std", "count"])
    n = table["count"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        half = stats.t.ppf(0.5 + level / 2, n - 1) * table["std"].to_numpy() / np.sqrt(n)
    half = np.where(n >= 2, half, np.nan)
    return pd.DataFrame({"mean": table["mean"], "ci_low": table["mean"] - half,
                         "ci_high": table["mean"] + half, "n": table["count"]}, index=table.index)


def trajectory_points(
    session_scores: pd.DataFrame, features: pd.DataFrame, min_cell_size: int
) -> pd.DataFrame:
    """Mean alliance total with 95% CI per discipline and session, over scored attended sessions.

    Points resting on fewer than `min_cell_size` patients are dropped. Columns: discipline, session,
    n_patients, mean, ci_low, ci_high.
    """
    scored = scored_sessions(session_scores).merge(
        features[["patient_id", "discipline"]], on="patient_id", how="inner")
    keys = [scored["discipline"], scored["session"]]
    points = grouped_mean_ci(scored[TOTAL], keys).join(
        scored.groupby(keys, sort=True)["patient_id"].nunique().rename("n_patients"))
    points = points[points["n_patients"] >= min_cell_size].reset_index()
    return points[["discipline", "session", "n_patients", "mean", "ci_low", "ci_high"]]


def alliance_trajectories(session_scores: pd.DataFrame, features: pd.DataFrame, min_cell_size: int) -> Figure:
    """Mean alliance total (95% CI) by session, one line per discipline; small cells left out (gaps)."""
    points = trajectory_points(session_scores, features, min_cell_size)
    title = _("Alliance over the course of treatment")
    if points.empty:
        return message_figure(title, _(
            "No session of any discipline has at least {n} patients with a scored alliance; nothing is "
            "shown.").format(n=format_count(min_cell_size)))
    sessions = np.sort(session_scores["session"].unique())
    disciplines = sorted(points["discipline"].unique())
    with figure_style():
        fig = new_figure(8, 5)
        ax = fig.add_subplot()
        colours = discipline_colours(disciplines)
        markers = dict(zip(colours, ["o", "s", "^", "D", "v", "P", "X"] * len(colours), strict=False))
        for discipline in disciplines:
            line = points[points["discipline"] == discipline].set_index("session").reindex(sessions)
            ax.plot(sessions, line["mean"], marker=markers[discipline], color=colours[discipline],
                    label=discipline_name(discipline))
            ax.fill_between(sessions, line["ci_low"], line["ci_high"], color=colours[discipline], alpha=0.15,
                            linewidth=0)
        ax.set(xlabel=_("Session"), ylabel=_("Alliance total (mean, 95% CI)"))
        ax.set_xticks(sessions)
        # The note and the legend outside the axes: a discipline whose alliance runs low or falls fills
        # the lower corners, and the bands reach any of them
        titled(ax, title, _("Points resting on fewer than {n} patients are not shown.").format(
            n=format_count(min_cell_size)))
        fig.legend(*ax.get_legend_handles_labels(), title=_("Discipline"), loc="outside lower center",
                   ncols=min(len(disciplines), 4))
    return fig


def subscale_distributions(session_scores: pd.DataFrame, instrument: Instrument) -> Figure:
    """Histogram per subscale and of the total over scored sessions, with ceiling share and skew."""
    scored = scored_sessions(session_scores)
    if scored.empty:
        return message_figure(instrument_name(instrument), _("No attended session has an alliance score."))
    bounds = score_bounds(instrument)
    described = score_descriptives(session_scores, instrument)
    ncols = 2
    nrows = -(-len(bounds) // ncols)
    with figure_style():
        fig = new_figure(8, 3.2 * nrows)
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        for extra in axes[len(bounds):]:
            fig.delaxes(extra)
        for ax, (column, (low, high)) in zip(axes, bounds.items(), strict=False):
            width = (high - low) / (HIST_BINS - 1)
            edges = low - width / 2 + width * np.arange(HIST_BINS + 1)
            sns.histplot(x=scored[column].dropna().to_numpy(dtype=float), bins=edges, stat="percent",
                         ax=ax, color=sns.color_palette("colorblind")[0], edgecolor="white")
            ax.axvline(high, color="0.3", linestyle=":", linewidth=1)
            row = described.loc[column]
            skew = format_number(row["skew"]) if np.isfinite(row["skew"]) else _("not estimable")
            # above the bars: the tallest bars stand at either end (a ceiling, or a clinic's low alliance)
            titled(ax, "", _("at maximum: {share}\nskew: {skew}").format(
                share=format_percent(row["ceiling_share"]), skew=skew))
            # half a bin of margin: the bars at the scale's ends stand clear of the frame
            ax.set(xlim=(edges[0] - width / 2, edges[-1] + width / 2),
                   xlabel=subscale_label(column.removeprefix(ALLIANCE_PREFIX)), ylabel=_("Sessions (%)"))
        fig.suptitle(instrument_name(instrument) + "\n"
                     + _("{n} scored sessions").format(n=format_count(len(scored))), fontsize=12,
                     fontweight="bold")
    return fig


def forest_plot(effects: pd.DataFrame) -> Figure:
    """Each effect row as r with its 95% CI, beside the alliance-outcome benchmark's band for orientation
    (the rows are not in its metric: `alliance.models.benchmarks` makes the like-for-like comparisons)."""
    title = _("Alliance effects as correlations")
    if effects.empty:
        return message_figure(title, _("No alliance effect could be estimated in these data; the report "
                                       "says why."))
    outcome_benchmark = BENCHMARKS["alliance_outcome"]
    # each part on lines of at most LABEL_WIDTH characters (longer in Spanish and Catalan)
    labels = ["\n".join(textwrap.fill(part, LABEL_WIDTH) for part in (
        f"{outcome_name(row.outcome)} ~ {predictor_label(row.predictor)}",
        f"({analysis_word(row.analysis)}; {model_short(row.model)})")) for row in effects.itertuples()]
    positions = np.arange(len(effects))[::-1]
    lines = sum(max(2, label.count("\n") + 1) for label in labels)
    with figure_style():
        fig = new_figure(8, 2.2 + 0.275 * lines)  # 0.55 in a row of two lines
        ax = fig.add_subplot()
        colours = sns.color_palette("colorblind")
        ax.axvspan(outcome_benchmark["ci_low"], outcome_benchmark["ci_high"], color=colours[2],
                   alpha=0.25, linewidth=0,
                   label=_("alliance-outcome r = {r} {ci}\n({source})").format(
                       r=format_unit(outcome_benchmark["r"], 3),
                       ci=format_ci(outcome_benchmark["ci_low"], outcome_benchmark["ci_high"], 3, unit=True),
                       source=source_words(outcome_benchmark["source"])))
        ax.axvline(outcome_benchmark["r"], color=colours[2], linewidth=1.2)
        ax.axvline(0, color="0.2", linewidth=1)
        for y, row in zip(positions, effects.itertuples(), strict=True):
            ax.errorbar(row.r, y, xerr=[[row.r - row.r_ci_low], [row.r_ci_high - row.r]], fmt="o",
                        color=colours[0], capsize=4, markersize=7,
                        label=_("estimate (95% CI)") if y == positions[0] else None)
        ax.set_yticks(positions, labels)
        ax.set_ylim(-0.7, len(effects) - 0.3)
        ax.set(xlabel=_("r (95% CI)"), title=title)
        fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=1, fontsize="small")
    return fig


def item_distributions(
    distribution: pd.DataFrame, item_stats: pd.DataFrame, instrument: Instrument
) -> Figure:
    """Share of each answer per item (stacked bars, answers as given), one panel per subscale.

    `distribution` is results/psychometrics/item_distribution.csv, `item_stats` item_statistics.csv (item
    order, subscale and the ceiling share of the keyed item, written beside each bar). Reverse-keyed items
    are marked (R). Says so in a figure when either table is empty (pre-scored data, decimal answers).
    """
    item_stats = item_stats[item_stats["role"] == "alliance"] if "role" in item_stats else item_stats
    if distribution.empty or item_stats.empty:
        return message_figure(_("Answers per item"), _(
            "Item-level answer distributions were not available: the data hold pre-scored alliance, too "
            "few questionnaires answered by item, or answers that are not whole numbers; the report says "
            "which."))
    values = list(range(int(instrument.minimum), int(instrument.maximum) + 1))
    shares = (distribution.assign(value=distribution["value"].astype(int))
              .pivot(index="item", columns="value", values="share")
              .reindex(index=item_stats["item"], columns=values).fillna(0.0))
    reverse = {instrument.item_column(i) for i in instrument.reverse_keyed}
    groups = list(item_stats.groupby("subscale", sort=False))
    colours = sns.color_palette("crest", len(values))
    with figure_style():
        fig = new_figure(8, 1.2 + 0.32 * len(item_stats) + 0.45 * len(groups))
        axes = fig.subplots(len(groups), 1, sharex=True, squeeze=False,
                            height_ratios=[len(rows) for _subscale, rows in groups]).ravel()
        for ax, (subscale, rows) in zip(axes, groups, strict=True):
            y = np.arange(len(rows))[::-1]
            left = np.zeros(len(rows))
            for value, colour in zip(values, colours, strict=True):
                width = shares.loc[rows["item"], value].to_numpy()
                ax.barh(y, width, left=left, height=0.75, color=colour, edgecolor="white", linewidth=0.5,
                        label=str(value))
                left += width
            for position, row in zip(y, rows.itertuples(), strict=True):
                ax.text(1.02, position, format_percent(row.ceiling_share, 0), va="center", ha="left",
                        fontsize="small", transform=ax.get_yaxis_transform())
            ax.set_yticks(y, [f"{item} (R)" if item in reverse else item for item in rows["item"]])
            ax.set_title(subscale_label(subscale), loc="left", fontsize="medium")
            ax.grid(axis="y", visible=False)
        # Translators: short for "at the maximum answer", above a column of percentages beside the bars
        axes[0].text(1.02, 1.02, _("at max."), transform=axes[0].transAxes, ha="left", va="bottom",
                     fontsize="small", color="0.35")
        axes[-1].set_xlim(0, 1)
        axes[-1].xaxis.set_major_formatter(PercentFormatter(1.0))
        axes[-1].set_xlabel(_("Share of answers\n(R) reverse-keyed: bars as answered, at max. after reverse "
                              "keying") if reverse else _("Share of answers"))  # two lines: long item labels
        # and 7 answers left too little width for one (a reviewer's custom 1-7 form: the label was cut)
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=len(values) + 1,
                   title=_("Answer (as given)"), title_fontsize="small")
        fig.suptitle(_("Answers per item: {instrument}").format(instrument=instrument_name(instrument)),
                     fontsize=12, fontweight="bold")
    return fig


def factor_loadings(parameters: pd.DataFrame) -> Figure:
    """Standardized loadings per item, correlated-factors model beside the one-factor model.

    `parameters` is results/psychometrics/cfa_parameters.csv; the correlated model's factor correlations
    go in the title. Items are grouped by their correlated factor when that model was fitted. Says so in
    a figure when there are no loadings.
    """
    title = _("Standardized factor loadings")
    loadings = parameters[parameters["kind"] == "loading"] if len(parameters) else parameters
    if loadings.empty:
        return message_figure(title, _("No factor model was fitted in these data; the report says why."))
    models = [model for model in MODEL_LABELS if model in set(loadings["model"])]
    by_model = {model: loadings[loadings["model"] == model].set_index("item") for model in models}
    items = by_model[models[0]].index.tolist()
    factor_of = by_model[models[0]]["factor"]
    correlations = parameters[(parameters["kind"] == "factor_correlation")
                              & (parameters["model"] == "correlated_factors")]
    values = loadings["std_loading"]
    height = 0.8 / len(models)
    y = np.arange(len(items))[::-1]
    with figure_style():
        fig = new_figure(8, 1.8 + 0.36 * len(items))
        ax = fig.add_subplot()
        colours = sns.color_palette("colorblind")
        for i, model in enumerate(models):
            positions = y + height * ((len(models) - 1) / 2 - i)
            loads = by_model[model]["std_loading"].reindex(items).to_numpy()
            bars = ax.barh(positions, loads, height=height * 0.9, color=colours[i],
                           label=_(MODEL_LABELS[model]))
            ax.bar_label(bars, labels=[format_unit(v) for v in loads], padding=2, fontsize="x-small")
        labels = [f"{item} ({subscale_label(factor_of[item])})" if len(models) > 1 else item
                  for item in items]
        ax.set_yticks(y, labels)
        ax.grid(axis="y", visible=False)
        ax.axvline(0, color="0.2", linewidth=1)
        ax.set_xlim(min(0.0, values.min() - 0.1), max(1.0, values.max() + 0.1))
        ax.set_xlabel(_("Standardized loading"))
        fig.legend(loc="outside lower center", ncols=len(models))
        fig.suptitle(title, fontsize=12, fontweight="bold")
        if len(correlations):
            separator = ", " if language() == SOURCE_LANGUAGE else "; "  # "0,50, 0,40" would be ambiguous
            pairs = separator.join(f"{subscale_label(row.factor)}-{subscale_label(row.item)} "
                                   f"{format_unit(row.std_loading)}" for row in correlations.itertuples())
            ax.set_title(textwrap.fill(_("Factor correlations: {pairs}").format(pairs=pairs), 90),
                         fontsize="small", fontweight="normal")
    return fig


def reliability_by_sessions(table: pd.DataFrame) -> Figure:
    """Reliability of a patient's mean alliance against the number of sessions averaged (Spearman-Brown),
    with reference lines at .80 and .90; `table` is results/psychometrics/reliability_by_sessions.csv."""
    title = _("Reliability of a patient's mean alliance")
    if table.empty or table["reliability"].isna().all():
        reasons = [reason for _index, row in table.iterrows() if (reason := reason_plain(row))]
        return message_figure(title, _("The single-session reliability could not be estimated: {reason}.")
                              .format(reason=reasons[0]) if reasons
                              else _("The single-session reliability could not be estimated."))
    lowest = min(float(table["reliability"].min()), RELIABILITY_GUIDES[0])
    with figure_style():
        fig = new_figure(8, 4.5)
        ax = fig.add_subplot()
        colours = sns.color_palette("colorblind")
        ax.plot(table["sessions"], table["reliability"], marker="o", color=colours[0])
        for level, style in zip(RELIABILITY_GUIDES, ("--", ":"), strict=True):
            ax.axhline(level, color="0.3", linestyle=style, linewidth=1)
            ax.text(1.0, level, f" {format_unit(level)}", transform=ax.get_yaxis_transform(), va="center",
                    ha="left", fontsize="small", color="0.3")
        ax.set_xticks(table["sessions"])
        ax.set_ylim(max(0.0, lowest - 0.1), 1.0)
        ax.set(xlabel=_("Sessions averaged"), ylabel=_("Reliability (Spearman-Brown)"), title=title)
    return fig


def rupture_trajectories(ruptures: pd.DataFrame, features: pd.DataFrame, synthetic: bool) -> Figure:
    """Example trajectories (alliance total by scored session) with ruptures and repairs marked.

    The first `EXAMPLES_PER_PATTERN` patients by id of each pattern in `EXAMPLE_PATTERNS` (`features`
    has patient_id and rupture_pattern; `ruptures` is results/features/ruptures.parquet). Individual
    data: drawn only when `synthetic`, a figure saying so otherwise.
    """
    title = _("Example alliance trajectories with ruptures and repairs")
    if not synthetic:
        return message_figure(title, _("Individual trajectories are not shown for real data (privacy); they "
                                       "are drawn for the synthetic cohort only."))
    chosen = {pattern: sorted(features.loc[features["rupture_pattern"] == pattern, "patient_id"])
              [:EXAMPLES_PER_PATTERN] for pattern in EXAMPLE_PATTERNS}
    if not any(chosen.values()):
        return message_figure(title, _("No patient's trajectory could be classified."))
    colours = sns.color_palette("colorblind")
    with figure_style():
        fig = new_figure(8, 1.2 + 2.4 * len(EXAMPLE_PATTERNS))
        axes = fig.subplots(len(EXAMPLE_PATTERNS), EXAMPLES_PER_PATTERN, sharey=True, squeeze=False)
        for ax in axes.flat:  # room for the rupture and repair markers at the extreme totals and sessions
            ax.margins(x=0.08, y=0.15)
        for row, pattern in zip(axes, EXAMPLE_PATTERNS, strict=True):
            for column, ax in enumerate(row):
                if column >= len(chosen[pattern]):
                    ax.set_axis_off()
                    continue
                patient = chosen[pattern][column]
                rows = ruptures[ruptures["patient_id"] == patient].set_index("session")
                ax.plot(rows.index, rows[TOTAL], marker="o", markersize=3, color="0.45", linewidth=1.2)
                ruptured = rows[rows["rupture"].astype(bool)]
                ax.plot(ruptured.index, ruptured[TOTAL], linestyle="none", marker="v", markersize=9,
                        color=colours[3])
                repairs = ruptured["repair_session"].dropna().astype(int).unique()
                ax.plot(repairs, rows.loc[repairs, TOTAL], linestyle="none", marker="^", markersize=9,
                        color=colours[2])
                ax.set_title(f"{patient}: {_(PATTERN_LABELS[pattern])}", fontsize="small")
                ax.set_xlabel(_("Session"))
            row[0].set_ylabel(_("Alliance total"))
        handles = [Line2D([], [], color="0.45", marker="o", markersize=3, label=_("scored session")),
                   Line2D([], [], color=colours[3], marker="v", markersize=9, linestyle="none",
                          label=_("rupture")),
                   Line2D([], [], color=colours[2], marker="^", markersize=9, linestyle="none",
                          label=_("repair (back to the pre-rupture level)"))]
        fig.legend(handles=handles, loc="outside lower center", ncols=3)
        fig.suptitle(_("Example alliance trajectories with ruptures and repairs (synthetic cohort)"),
                     fontsize=12, fontweight="bold")
    return fig


def save_figure(fig: Figure, png_path: str | Path, svg_path: str | Path) -> None:
    """Write PNG (200 dpi) and SVG with byte-identical content across runs, atomically; close `fig`. A
    figure not made by `new_figure` gets the active language's decimal mark in its tick labels here. The
    layout (constrained) is computed once, for the PNG, and kept for the SVG (a third of a save): the
    figure then has no layout engine at all, since with matplotlib's placeholder engine ("none") the SVG
    save still drew the figure once before drawing it (same bytes, 0.7 s of the 8 data figures' 1.5 s)."""
    localise_ticks(fig)
    try:
        with mpl.rc_context({"svg.hashsalt": SVG_HASHSALT, "figure.autolayout": False,
                             "figure.constrained_layout.use": False}):
            write_atomic(png_path, lambda p: fig.savefig(p, format="png", dpi=PNG_DPI,
                                                    metadata={"Software": None}))
            fig.set_layout_engine(None)  # with those two settings off: no engine ("none" keeps a placeholder)
            write_atomic(svg_path, lambda p: fig.savefig(p, format="svg", metadata={"Date": None}))
    finally:
        plt.close(fig)


_SAVING: dict[str, Figure] = {}  # the figures `save_figures` hands to its forked processes, by name


def _save_named(job: tuple[str, str | Path, str | Path]) -> None:
    name, png, svg = job
    save_figure(_SAVING[name], png, svg)


def save_figures(figures: Mapping[str, Figure], pngs: Sequence[str | Path], svgs: Sequence[str | Path],
                 workers: int = 1) -> None:
    """`save_figure` of each figure, named by the stem of its PNG path, to the PNG and SVG at the same
    position in `pngs` and `svgs`. With `workers` > 1 (the job's threads) the figures, built here, are
    rendered and written by that many forked processes: rendering is most of a figure's cost (about
    0.9 s of a report figure's 1 s) and the files are the same bytes as written in one process. Without
    fork (not on Linux or macOS) they are saved one after another."""
    jobs = [(Path(png).stem, png, svg) for png, svg in zip(pngs, svgs, strict=True)]
    if workers < 2 or len(jobs) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        for name, png, svg in jobs:
            save_figure(figures[name], png, svg)
        return
    _SAVING.update(figures)
    try:
        with multiprocessing.get_context("fork").Pool(min(workers, len(jobs))) as pool:
            pool.map(_save_named, jobs, chunksize=1)
    finally:
        _SAVING.clear()
        for fig in figures.values():
            plt.close(fig)


def kaplan_meier(curves: pd.DataFrame, logrank: dict, min_cell_size: int) -> Figure:
    """Retention after the early window by tertile of early alliance (Kaplan-Meier, 95% CI), with the
    log-rank test; each curve stops where fewer than `min_cell_size` patients remain at risk."""
    title = _("Retention after the early window by early alliance")
    shown = curves[curves["at_risk"] >= min_cell_size]
    if shown.empty:
        return message_figure(title, _("Too few patients at risk to draw retention curves."))
    with figure_style():
        fig = new_figure(8, 5)
        ax = fig.add_subplot()
        colours = sns.color_palette("colorblind")
        for i, (tertile, curve) in enumerate(shown.groupby("tertile", sort=False)):
            ax.step(curve["sessions_after_window"], curve["survival"], where="post", color=colours[i],
                    label=_(TERTILE_LABELS[tertile]) if tertile in TERTILE_LABELS
                    else _("{tertile} tertile").format(tertile=tertile))
            ax.fill_between(curve["sessions_after_window"], curve["ci_low"], curve["ci_high"], step="post",
                            color=colours[i], alpha=0.15, linewidth=0)
        ax.set(xlabel=_("Sessions after the early window"), ylabel=_("Not dropped out (Kaplan-Meier)"),
               ylim=(0, 1.02))
        # The test (under the title) and the legend sit outside the axes: the curves can fill any corner
        # of them (everyone still in treatment: the top; everyone dropped out: the bottom).
        titled(ax, title, _("log-rank χ²({df}) = {statistic}, {p}; curves end below {n} patients at "
                            "risk").format(df=format_count(logrank["df"]),
                                           statistic=format_number(logrank["statistic"]),
                                           p=p_text(logrank["p_value"]), n=format_count(min_cell_size)))
        handles, labels = ax.get_legend_handles_labels()
        fig.legend(handles, labels, title=_("Early alliance"), loc="outside lower center", ncols=len(labels))
    return fig


MARGINAL_LABELS = {
    "attendance": N_("Predicted chance of attending\na session after the early window"),
    "dropout": N_("Predicted chance of dropout\nafter the early window"),
    "satisfaction": N_("Predicted satisfaction (points)"),
}
PREDICTOR_LABELS = {"alliance_early": N_("Early alliance\n(mean total, first sessions)"),
                    "alliance_mean": N_("Mean alliance total")}


def status_reason(result: Mapping, key: str) -> str:
    """The reason recorded with the status of the planned model `key` in a family's model result, in the
    active language (`reason_plain`; "" when the result records none)."""
    return next((reason_plain(status) for status in result.get("statuses", [])
                 if status["key"] == key and status.get("reason")), "")


def _wrap_lines(text: str, width: int = 32) -> str:
    """Each line of an axis label wrapped to `width` characters (the label of a panel a third of the
    figure wide; translations run longer than the English)."""
    return "\n".join(textwrap.fill(line, width) for line in text.split("\n"))


def marginal_effects(models: Mapping[str, dict]) -> Figure:
    """Predicted outcome (95% CI) across alliance from -2 to +2 SD, one panel per primary model
    (`ModelResult.extra["marginal"]`, numeric covariates at their mean, categorical ones at their most
    frequent level)."""
    tables = [pd.DataFrame(result["extra"]["marginal"]) for result in models.values()
              if result.get("extra", {}).get("marginal")]
    if not tables:
        reasons = [f"{family_name(family)}: {reason}" for family, key in HYPOTHESIS.items()
                   if (reason := status_reason(models.get(family, {}), key))]
        return message_figure(_("Predicted outcomes across the alliance range"), _(
            "No primary model could be fitted ({reasons}).").format(reasons="; ".join(reasons)) if reasons
            else _("No primary model could be fitted."))
    with figure_style():
        fig = new_figure(max(8.0, 3.5 * len(tables)), 4.6)  # the title fits one panel; 3 print at >= 8 pt
        axes = fig.subplots(1, len(tables), squeeze=False)[0]
        colour = sns.color_palette("colorblind")[0]
        for ax, table in zip(axes, tables, strict=True):
            outcome, predictor = table["outcome"].iloc[0], table["predictor"].iloc[0]
            ax.plot(table["alliance"], table["prediction"], color=colour)
            ax.fill_between(table["alliance"], table["ci_low"], table["ci_high"], color=colour, alpha=0.2,
                            linewidth=0)
            if table["scale"].iloc[0] == "probability":
                ax.yaxis.set_major_formatter(PercentFormatter(1.0))
            ax.set(xlabel=_wrap_lines(_(PREDICTOR_LABELS[predictor]) if predictor in PREDICTOR_LABELS
                                      else predictor.replace("_", " ")),
                   ylabel=_wrap_lines(_(MARGINAL_LABELS[outcome]) if outcome in MARGINAL_LABELS else outcome),
                   title=_(OUTCOME_TITLES[outcome]) if outcome in OUTCOME_TITLES else outcome.capitalize())
        fig.suptitle(_("Predicted outcomes across the alliance range\n(-2 to +2 SD; covariates at reference "
                       "values)"), fontsize=12, fontweight="bold")
    return fig


CATERPILLAR_ROWS = 60  # therapists drawn one row each; more share a figure of this height


def therapist_caterpillar(features: pd.DataFrame, min_cell_size: int) -> Figure:
    """Each therapist's mean of their patients' mean alliance (95% CI), ranked, for therapists with at
    least `min_cell_size` patients with a score; therapists are not named (rank only)."""
    scored = features.dropna(subset=["alliance_mean"])
    title = _("Alliance by therapist")
    table = grouped_mean_ci(scored["alliance_mean"], scored["therapist_id"]).reset_index(drop=True)
    shown = table[table["n"] >= min_cell_size].sort_values("mean", kind="stable").reset_index(drop=True)
    hidden = len(table) - len(shown)
    if shown.empty:
        return message_figure(title, _("No therapist has at least {n} patients with an alliance score; "
                                       "nothing is shown.").format(n=format_count(min_cell_size)))
    with figure_style():
        dense = len(shown) > CATERPILLAR_ROWS  # a registry: a band of points, not one row each
        fig = new_figure(8, 2.0 + 0.16 * min(len(shown), CATERPILLAR_ROWS))
        ax = fig.add_subplot()
        colour = sns.color_palette("colorblind")[0]
        ranks = np.arange(1, len(shown) + 1)
        mean, low, high = (shown[c].to_numpy() for c in ("mean", "ci_low", "ci_high"))
        ax.errorbar(mean, ranks, xerr=[mean - low, high - mean], fmt="o", color=colour,
                    markersize=1.5 if dense else 4, capsize=0 if dense else 2,
                    linewidth=0.3 if dense else 1)
        ax.axvline(scored["alliance_mean"].mean(), color="0.3", linestyle="--", linewidth=1,
                   label=_("mean of all patients"))
        ax.set(xlabel=_("Therapist mean of patients' mean alliance (95% CI)"),
               ylabel=_("Therapist (ranked)"))
        ax.set_yticks([])
        # the note and the legend outside the axes: a few patients' wide intervals reach any corner
        note = _("{shown} therapists with at least {n} patients shown; {hidden} with fewer are not shown.")
        titled(ax, title, note.format(shown=format_count(len(shown)), n=format_count(min_cell_size),
                                      hidden=format_count(hidden)))
        fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center")
    return fig


def make_figures(
    session_scores: pd.DataFrame, features: pd.DataFrame, effects: pd.DataFrame, *, instrument: Instrument,
    satisfaction: Instrument, min_cell_size: int, psychometrics: Mapping[str, pd.DataFrame],
    ruptures: pd.DataFrame, synthetic: bool, models: Mapping[str, dict], dimensions: dict | None = None,
    early_warning: Mapping | None = None, dynamics: dict | None = None,
) -> dict[str, Figure]:
    """Every figure of the report, keyed by its name in `FIGURES` (in that order): `data_figures` and
    `model_figures`, which the workflow draws in two jobs (the first needs no model).

    `satisfaction` is the satisfaction instrument (its short name labels the glance figure);
    `psychometrics` holds the tables of results/psychometrics/ keyed by name (`read_tables`); `models`
    the model results by family (the dropout family's Kaplan-Meier curves, every primary model's
    predictions); `dimensions` the bond/goal/task analysis (H5; None when not run); `early_warning` the
    early-warning result and tables (None when not run); `dynamics` H4c's result (None when not run).
    """
    figures = data_figures(session_scores, features, instrument=instrument, min_cell_size=min_cell_size,
                           psychometrics=psychometrics, ruptures=ruptures, synthetic=synthetic)
    figures |= model_figures(effects, satisfaction=satisfaction, min_cell_size=min_cell_size, models=models,
                             dimensions=dimensions, dynamics=dynamics, early_warning=early_warning)
    return {name: figures[name] for name in FIGURES}


def invariance_figure(parameters: pd.DataFrame | None) -> Figure:
    """Measurement invariance across disciplines (`invariance_parameters.csv`, grouping discipline): each
    item's loading (left) and intercept (right) per discipline in the configural model, so that an item
    a discipline answers differently stands out. Says so in a figure when the models were not fitted."""
    title = _("Measurement invariance across disciplines")
    rows = (parameters[parameters["grouping"] == "discipline"] if parameters is not None and len(parameters)
            else pd.DataFrame())
    if rows.empty:
        return message_figure(title, _("The invariance models were not fitted in these data; the report says "
                                       "why."))
    items = list(dict.fromkeys(rows["item"]))
    groups = list(dict.fromkeys(rows["group"]))
    y = {item: len(items) - 1 - i for i, item in enumerate(items)}
    colours = discipline_colours(groups)
    offsets = dict(zip(groups, np.linspace(0.25, -0.25, len(groups)), strict=True))
    with figure_style():
        fig = new_figure(8, 1.8 + 0.32 * len(items))
        left, right = fig.subplots(1, 2, sharey=True)
        for row in rows.itertuples():
            for ax, value in ((left, row.loading), (right, row.intercept)):
                ax.plot(value, y[row.item] + offsets[row.group], "o", color=colours[row.group], ms=5,
                        label=discipline_name(row.group))
        factor_of = dict(zip(rows["item"], rows["factor"], strict=True))
        left.set_yticks([y[item] for item in items],
                        [f"{item} ({subscale_label(factor_of[item])})" for item in items])
        left.set_xlabel(_("Loading (first item of each dimension fixed at 1)"))
        right.set_xlabel(_("Intercept (item scale)"))
        handles, labels = left.get_legend_handles_labels()
        unique = dict(zip(labels, handles, strict=False))
        fig.legend(unique.values(), unique.keys(), loc="outside lower center", ncols=len(unique),
                   frameon=False)
        fig.suptitle(title)
    return fig


def data_figures(
    session_scores: pd.DataFrame, features: pd.DataFrame, *, instrument: Instrument, min_cell_size: int,
    psychometrics: Mapping[str, pd.DataFrame], ruptures: pd.DataFrame, synthetic: bool,
) -> dict[str, Figure]:
    """The figures of the scores, features and psychometrics: every figure but `MODEL_FIGURES`."""
    return {
        "alliance_trajectories": alliance_trajectories(session_scores, features, min_cell_size),
        "subscale_distributions": subscale_distributions(session_scores, instrument),
        "item_distributions": item_distributions(
            psychometrics["item_distribution"], psychometrics["item_statistics"], instrument),
        "factor_loadings": factor_loadings(psychometrics["cfa_parameters"]),
        "reliability_by_sessions": reliability_by_sessions(psychometrics["reliability_by_sessions"]),
        "rupture_trajectories": rupture_trajectories(ruptures, features, synthetic),
        "therapist_caterpillar": therapist_caterpillar(features, min_cell_size),
        "invariance": invariance_figure(psychometrics.get("invariance_parameters")),
    }


def model_figures(effects: pd.DataFrame, *, satisfaction: Instrument, min_cell_size: int,
                  models: Mapping[str, dict], dimensions: dict | None = None,
                  dynamics: dict | None = None, early_warning: Mapping | None = None) -> dict[str, Figure]:
    """The figures of the model results (`MODEL_FIGURES`): the report at a glance (`satisfaction`, the
    satisfaction instrument, names its outcome), the forest plot of `effects`, the dropout family's
    Kaplan-Meier curves, the primary models' predictions (`models`: the results by family), the
    bond/goal/task analysis (`dimensions`, H5), the reciprocal dynamics (`dynamics`, H4c) and the early
    warning (`early_warning`: its result and its roc, calibration, decision_curve and measures tables)."""
    warning = early_warning or {}
    dropout = models.get("dropout", {}).get("extra", {})
    km_reason = status_reason(models.get("dropout", {}), KAPLAN_MEIER)
    return {
        "at_a_glance": glance_figure(glance_rows(
            effects, [{**result, "family": family} for family, result in models.items()],
            short_name(satisfaction), min_cell_size=min_cell_size)),
        "forest_plot": forest_plot(benchmark_comparable(effects)),
        "kaplan_meier": (kaplan_meier(pd.DataFrame(dropout["kaplan_meier"]), dropout["logrank"],
                                      min_cell_size)
                         if "logrank" in dropout else
                         message_figure(_("Retention by early alliance"), _(
                             "The Kaplan-Meier curves could not be estimated: {reason}.").format(
                                 reason=km_reason) if km_reason
                             else _("The Kaplan-Meier curves could not be estimated."))),
        "marginal_effects": marginal_effects(models),
        "dimensions": dimension_figure(reportable_dimensions(dimensions, min_cell_size)),
        "dynamics": dynamics_figure(reportable_dynamics(dynamics, min_cell_size)),
        "early_warning": early_warning_figure(warning.get("result"), warning.get("roc"),
                                              warning.get("calibration"), warning.get("decision_curve"),
                                              warning.get("measures")),
    }


def power_curve(performance: pd.DataFrame, target_power: float = 0.8,
                analyses: tuple[str, ...] = ("primary",)) -> Figure:
    """Simulated power (share of 95% CIs excluding 0, with 95% Monte Carlo intervals) against the number
    of patients, one panel per effect of `analyses`, one line per effect scale and number of therapists;
    `performance` is results/simulation/performance.csv. In a null condition (effect scale 0) the line is
    the type-I error rate."""
    data = performance[performance["analysis"].isin(analyses) & performance["power"].notna()]
    if data.empty:
        return message_figure(_("Power by cohort size (simulation)"),
                              _("No effect of the analyses shown has a simulated power."))
    effects = data[["outcome", "model", "predictor"]].drop_duplicates()
    scales = sorted(data["effect_scale"].unique())
    therapists = sorted(data["therapists"].unique())
    styles = ("-", "--", ":", "-.")
    ncols = min(3, len(effects))
    nrows = -(-len(effects) // ncols)
    width = max(4.2 * ncols, 8.0)  # room for the title and the legend beside one or two panels
    with figure_style():
        fig = new_figure(width, 3.6 * nrows + 1.0)
        colours = sns.color_palette("colorblind", n_colors=max(len(scales), 3))
        axes = fig.subplots(nrows, ncols, squeeze=False, sharey=True)
        for ax, effect in zip(axes.flat, effects.itertuples(index=False), strict=False):
            rows = data[(data["outcome"] == effect.outcome) & (data["model"] == effect.model)
                        & (data["predictor"] == effect.predictor)]
            for (scale, n_t), line in rows.groupby(["effect_scale", "therapists"], sort=True):
                line = line.sort_values("patients")
                half = 1.96 * line["power_mcse"]
                yerr = [line["power"] - (line["power"] - half).clip(lower=0),
                        (line["power"] + half).clip(upper=1) - line["power"]]
                ax.errorbar(line["patients"], line["power"], yerr=yerr,
                            color=colours[scales.index(scale)], linestyle=styles[therapists.index(n_t) % 4],
                            marker="o", markersize=5, capsize=3)
            ax.axhline(target_power, color="0.3", linestyle="--", linewidth=1)
            if 0 in scales:
                ax.axhline(0.05, color="0.3", linestyle=":", linewidth=1)
            ax.set_xticks(sorted(rows["patients"].unique()))
            ax.set_ylim(0, 1.02)
            ax.yaxis.set_major_formatter(PercentFormatter(1.0))
            ax.set_title(f"{outcome_name(effect.outcome)} ~ {predictor_label(effect.predictor)}\n"
                         f"({model_short(effect.model)})",
                         fontsize="medium")
            ax.set(xlabel=_("Patients"), ylabel=_("Power (CI excludes 0)"))
        for ax in axes.flat[len(effects):]:
            ax.set_axis_off()
        handles = [Line2D([], [], color=colours[i], marker="o",
                          label=(_("effect x {scale} (null: type-I error)") if scale == 0
                                 else _("effect x {scale}")).format(scale=format_general(scale)))
                   for i, scale in enumerate(scales)]
        if len(therapists) > 1:
            handles += [Line2D([], [], color="0.3", linestyle=styles[i % 4],
                               label=_("{n} therapists").format(n=format_count(n_t)))
                        for i, n_t in enumerate(therapists)]
        handles.append(Line2D([], [], color="0.3", linestyle="--",
                              label=_("target {power}").format(power=format_percent(target_power, 0))))
        if 0 in scales:
            handles.append(Line2D([], [], color="0.3", linestyle=":", label=_(
                "{share} (nominal type-I error)").format(share=format_percent(0.05, 0))))
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), int(width // 2.8)))
        reps = int(data["n_reps"].max())
        title = (_("Power by cohort size (simulation): {therapists} therapists, {reps} replications per "
                   "condition").format(therapists=format_count(therapists[0]), reps=format_count(reps))
                 if len(therapists) == 1 else
                 _("Power by cohort size (simulation): {reps} replications per condition").format(
                     reps=format_count(reps)))
        fig.suptitle(textwrap.fill(title, int(width * 10)), fontsize=12, fontweight="bold")
    return fig
