"""The figures' shared style and blank figures: seaborn whitegrid, the colour-blind palette, DejaVu Sans,
an Agg canvas with constrained layout, and a figure that says in words why there is nothing to draw.

A figure made with `new_figure` in Spanish or Catalan writes its numeric tick labels with a decimal comma
(0,5; 12,5 %), whatever formatter an axis has when it is drawn (`localise_ticks`); an English figure is a
plain `Figure`, drawn as before.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import matplotlib as mpl
import seaborn as sns
from matplotlib import ticker
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from alliance.i18n import SOURCE_LANGUAGE, language
from alliance.ingest import DISCIPLINES
from alliance.report.format import figure_numbers

SVG_HASHSALT = "alliance-report"  # fixed SVG ids: the same figure gives the same bytes
# The formatters that write numbers; tick labels given as text (FixedFormatter, categories) are left alone.
NUMERIC_FORMATTERS = (ticker.ScalarFormatter, ticker.LogFormatter, ticker.PercentFormatter,
                      ticker.FormatStrFormatter, ticker.StrMethodFormatter, ticker.EngFormatter,
                      ticker.LogitFormatter)


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
    """Apply the shared style while a figure is drawn; the numbers written meanwhile (annotations, labels)
    have the minus sign of the tick labels (`format.figure_numbers`)."""
    with mpl.rc_context(style_rc()), figure_numbers():
        yield


def decimal_comma(label: str) -> str:
    """A tick label written with a decimal point, with a decimal comma: "0.5" -> "0,5", "12.5%" ->
    "12,5 %" (a no-break space before the percent sign, as `format.format_percent`); in mathtext
    ("$...$", log axes) the comma is braced so that it is not spaced as punctuation."""
    if label.startswith("$"):
        return label.replace(".", "{,}")
    text = label.replace(".", ",")
    return text[:-1] + "\u00a0%" if text.endswith("%") and not text.endswith("\u00a0%") else text


class DecimalCommaFormatter(ticker.Formatter):
    """Another formatter's tick labels (and offset) with a decimal comma (`decimal_comma`)."""

    def __init__(self, inner: ticker.Formatter):
        self.inner = inner

    def set_axis(self, axis) -> None:
        super().set_axis(axis)
        self.inner.set_axis(axis)

    def set_locs(self, locs) -> None:
        self.inner.set_locs(locs)

    def __call__(self, x, pos=None) -> str:
        return decimal_comma(self.inner(x, pos))

    def format_ticks(self, values) -> list[str]:
        return [decimal_comma(label) for label in self.inner.format_ticks(values)]

    def get_offset(self) -> str:
        return decimal_comma(self.inner.get_offset())

    def format_data(self, value) -> str:
        return decimal_comma(self.inner.format_data(value))

    def format_data_short(self, value) -> str:
        return decimal_comma(self.inner.format_data_short(value))


def localise_ticks(fig: Figure, code: str | None = None) -> None:
    """Give every numeric tick formatter (major and minor, x and y) of `fig`'s axes the decimal mark of
    language `code` (the active language by default): a decimal comma but in English, where nothing
    changes. Idempotent; the axes keep their default-formatter flags, so that a later change of scale
    still installs the scale's own formatter (localised at the next draw)."""
    if (code or language()) == SOURCE_LANGUAGE:
        return
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for which in ("major", "minor"):
                formatter = getattr(axis, f"get_{which}_formatter")()
                wrapped = isinstance(formatter, DecimalCommaFormatter)
                if wrapped or not isinstance(formatter, NUMERIC_FORMATTERS):
                    continue
                default = getattr(axis, f"isDefault_{which[:3]}fmt")
                getattr(axis, f"set_{which}_formatter")(DecimalCommaFormatter(formatter))
                setattr(axis, f"isDefault_{which[:3]}fmt", default)


class LocalisedFigure(Figure):
    """A figure of a report in another language than English: its tick labels get that language's decimal
    mark (`localise_ticks`) each time it is drawn (shown, saved), whatever formatters were set after it
    was made."""

    def __init__(self, *args, language_code: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.language_code = language_code

    def draw(self, renderer) -> None:
        localise_ticks(self, self.language_code)
        super().draw(renderer)


def new_figure(width: float, height: float) -> Figure:
    """An empty figure with an Agg canvas and constrained layout; in the active language's decimal mark
    (a `LocalisedFigure` but in English)."""
    code = language()
    fig = (Figure(figsize=(width, height), layout="constrained") if code == SOURCE_LANGUAGE
           else LocalisedFigure(figsize=(width, height), layout="constrained", language_code=code))
    FigureCanvasAgg(fig)
    return fig


def discipline_colours(shown: Iterable[str] = ()) -> dict[str, tuple[float, float, float]]:
    """One colour per discipline, the same in every figure whichever disciplines it shows: the colour-blind
    palette in the data contract's order, then any other group of `shown` (a test's "A") in sorted order."""
    names = [*DISCIPLINES, *sorted(set(shown) - set(DISCIPLINES))]
    return dict(zip(names, sns.color_palette("colorblind", len(names)), strict=True))


def titled(ax: Axes, title: str, note: str) -> None:
    """`title` over `ax` with `note` in small grey type between them: a note or a test placed where no
    data can cover it (inside the axes, any corner can hold data)."""
    lines = note.count("\n") + 1
    ax.set_title(title, pad=8 + 12 * lines)
    ax.annotate(note, xy=(0.5, 1), xycoords="axes fraction", xytext=(0, 5), textcoords="offset points",
                ha="center", va="bottom", fontsize="small", color="0.3")


def message_figure(title: str, message: str) -> Figure:
    """A figure that says in words why there is nothing to draw (`title` and `message` already in the
    report's language)."""
    with figure_style():
        fig = new_figure(8, 2.5)
        ax = fig.add_subplot()
        ax.set_axis_off()
        ax.set_title(title)
        ax.text(0.5, 0.5, textwrap.fill(message, 80), transform=ax.transAxes, ha="center", va="center",
                color="0.3")
    return fig
