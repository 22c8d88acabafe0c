"""Figures of the report: one function per figure, one shared style, deterministic files.

Figures are built on `matplotlib.figure.Figure` with an Agg canvas (no pyplot state, no display needed).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy import stats

from alliance.instruments import Instrument
from alliance.io import write_atomic
from alliance.models.effects import BENCHMARKS, dropout_benchmark_r
from alliance.scores import ALLIANCE_PREFIX, TOTAL, score_bounds, score_descriptives, scored_sessions

FIGURES = ("alliance_trajectories", "subscale_distributions", "forest_plot")
SVG_HASHSALT = "alliance-report"
PNG_DPI = 200
HIST_BINS = 17  # bins centred on 17 equally spaced values from the scale minimum to its maximum


def style_rc() -> dict:
    """The shared style: seaborn whitegrid, colour-blind palette, readable DejaVu Sans fonts."""
    return {
        **sns.axes_style("whitegrid"),
        **sns.plotting_context("notebook", font_scale=1.0),
        "axes.prop_cycle": mpl.cycler(color=sns.color_palette("colorblind")),
        "font.family": "sans-serif",
        "font.sans-serif": ["DejaVu Sans"],
        "axes.titlesize": 12,
        "axes.titleweight": "bold",
        "legend.frameon": False,
        "svg.hashsalt": SVG_HASHSALT,
    }


@contextmanager
def figure_style() -> Iterator[None]:
    """Apply the shared style while a figure is drawn."""
    with mpl.rc_context(style_rc()):
        yield


def new_figure(width: float, height: float) -> Figure:
    """An empty figure with an Agg canvas and constrained layout."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


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


def trajectory_points(
    session_scores: pd.DataFrame, features: pd.DataFrame, min_cell_size: int
) -> pd.DataFrame:
    """Mean alliance total with 95% CI per discipline and session, over scored attended sessions.

    Points resting on fewer than `min_cell_size` patients are dropped. Columns: discipline, session,
    n_patients, mean, ci_low, ci_high.
    """
    scored = scored_sessions(session_scores).merge(
        features[["patient_id", "discipline"]], on="patient_id", how="inner")
    rows = []
    for (discipline, session), group in scored.groupby(["discipline", "session"], sort=True):
        n_patients = group["patient_id"].nunique()
        if n_patients < min_cell_size:
            continue
        mean, low, high = mean_ci(group[TOTAL])
        rows.append({"discipline": discipline, "session": session, "n_patients": n_patients,
                     "mean": mean, "ci_low": low, "ci_high": high})
    return pd.DataFrame(rows, columns=["discipline", "session", "n_patients", "mean", "ci_low", "ci_high"])


def alliance_trajectories(session_scores: pd.DataFrame, features: pd.DataFrame, min_cell_size: int) -> Figure:
    """Mean alliance total (95% CI) by session, one line per discipline; small cells left out (gaps)."""
    points = trajectory_points(session_scores, features, min_cell_size)
    sessions = np.sort(session_scores["session"].unique())
    disciplines = sorted(points["discipline"].unique())
    with figure_style():
        fig = new_figure(8, 5)
        ax = fig.add_subplot()
        colours = sns.color_palette("colorblind", len(disciplines))
        markers = ["o", "s", "^", "D", "v", "P", "X"]
        for i, discipline in enumerate(disciplines):
            line = points[points["discipline"] == discipline].set_index("session").reindex(sessions)
            ax.plot(sessions, line["mean"], marker=markers[i % len(markers)], color=colours[i],
                    label=discipline)
            ax.fill_between(sessions, line["ci_low"], line["ci_high"], color=colours[i], alpha=0.15,
                            linewidth=0)
        ax.set(xlabel="Session", ylabel="Alliance total (mean, 95% CI)",
               title="Alliance over the course of treatment")
        ax.set_xticks(sessions)
        ax.annotate(f"Points resting on fewer than {min_cell_size} patients are not shown.",
                    xy=(0, 0), xycoords="axes fraction", xytext=(0, -42), textcoords="offset points",
                    fontsize="small", color="0.35", va="top")
        if disciplines:
            ax.legend(title="Discipline", loc="lower right")
    return fig


def subscale_distributions(session_scores: pd.DataFrame, instrument: Instrument) -> Figure:
    """Histogram per subscale and of the total over scored sessions, with ceiling share and skew."""
    bounds = score_bounds(instrument)
    described = score_descriptives(session_scores, instrument)
    scored = scored_sessions(session_scores)
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
            ax.text(0.03, 0.95, f"at maximum: {row['ceiling_share']:.1%}\nskew: {row['skew']:.2f}",
                    transform=ax.transAxes, va="top", ha="left", fontsize="small",
                    bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "0.8"})
            ax.set(xlim=(edges[0], edges[-1]), xlabel=column.removeprefix(ALLIANCE_PREFIX),
                   ylabel="Sessions (%)")
        fig.suptitle(f"{instrument.name}\n{len(scored):,} scored sessions", fontsize=12,
                     fontweight="bold")
    return fig


def forest_plot(effects: pd.DataFrame) -> Figure:
    """Each effect row as r with its 95% CI, beside the meta-analytic benchmarks."""
    outcome_benchmark = BENCHMARKS["alliance_outcome"]
    dropout_benchmark = BENCHMARKS["alliance_dropout"]
    labels = [f"{row.outcome} ~ {row.predictor} ({row.analysis})" for row in effects.itertuples()]
    positions = np.arange(len(effects))[::-1]
    with figure_style():
        fig = new_figure(8, 2.2 + 0.55 * len(effects))
        ax = fig.add_subplot()
        colours = sns.color_palette("colorblind")
        ax.axvspan(outcome_benchmark["ci_low"], outcome_benchmark["ci_high"], color=colours[2],
                   alpha=0.25, linewidth=0,
                   label=f"alliance-outcome r = {outcome_benchmark['r']:.3f} "
                         f"[{outcome_benchmark['ci_low']:.3f}, {outcome_benchmark['ci_high']:.3f}]"
                         f"\n({outcome_benchmark['source']})")
        ax.axvline(outcome_benchmark["r"], color=colours[2], linewidth=1.2)
        ax.axvline(0, color="0.2", linewidth=1)
        for y, row in zip(positions, effects.itertuples(), strict=True):
            ax.errorbar(row.r, y, xerr=[[row.r - row.r_ci_low], [row.r_ci_high - row.r]], fmt="o",
                        color=colours[0], capsize=4, markersize=7,
                        label="estimate (95% CI)" if y == positions[0] else None)
        dropout_rows = positions[(effects["outcome"] == "dropout").to_numpy()]
        if len(dropout_rows):
            ax.plot(np.full(len(dropout_rows), dropout_benchmark_r()), dropout_rows, linestyle="none",
                    marker="D", markersize=8, markerfacecolor="white", markeredgecolor=colours[3],
                    markeredgewidth=1.8,
                    label=f"dropout benchmark d = {dropout_benchmark['d']:.2f} as r = "
                          f"{dropout_benchmark_r():.3f}\n({dropout_benchmark['source']})")
        ax.set_yticks(positions, labels)
        ax.set_ylim(-0.7, len(effects) - 0.3)
        ax.set(xlabel="r (95% CI)", title="Alliance effects as correlations")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncols=1, fontsize="small")
    return fig


def save_figure(fig: Figure, png_path: str | Path, svg_path: str | Path) -> None:
    """Write PNG (200 dpi) and SVG with byte-identical content across runs, atomically; close `fig`."""
    try:
        with mpl.rc_context({"svg.hashsalt": SVG_HASHSALT}):
            write_atomic(png_path, lambda p: fig.savefig(p, format="png", dpi=PNG_DPI,
                                                    metadata={"Software": None}))
            write_atomic(svg_path, lambda p: fig.savefig(p, format="svg", metadata={"Date": None}))
    finally:
        plt.close(fig)


def make_figures(
    session_scores: pd.DataFrame, features: pd.DataFrame, effects: pd.DataFrame, instrument: Instrument,
    min_cell_size: int,
) -> dict[str, Figure]:
    """Every figure of the report, keyed by its name in `FIGURES`."""
    return {
        "alliance_trajectories": alliance_trajectories(session_scores, features, min_cell_size),
        "subscale_distributions": subscale_distributions(session_scores, instrument),
        "forest_plot": forest_plot(effects),
    }
