"""The figures' shared style and blank figures: seaborn whitegrid, the colour-blind palette, DejaVu Sans,
an Agg canvas with constrained layout, and a figure that says in words why there is nothing to draw."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from contextlib import contextmanager

import matplotlib as mpl
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

SVG_HASHSALT = "alliance-report"  # fixed SVG ids: the same figure gives the same bytes


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


def message_figure(title: str, message: str) -> Figure:
    """A figure that says in words why there is nothing to draw."""
    with figure_style():
        fig = new_figure(8, 2.5)
        ax = fig.add_subplot()
        ax.set_axis_off()
        ax.set_title(title)
        ax.text(0.5, 0.5, textwrap.fill(message, 80), transform=ax.transAxes, ha="center", va="center",
                color="0.3")
    return fig
