"""Checks of a drawn figure's layout: no text cut off at the figure's edge, no legend over data; and a tiny
PNG that stands for a figure where only its file is needed."""

from __future__ import annotations

from functools import cache
from io import BytesIO

import matplotlib.image
import numpy as np
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

TOLERANCE = 1.0  # display pixels


@cache
def tiny_png() -> bytes:
    """A valid 2 x 2 PNG: the report only embeds the figures' PNG files, so one small PNG stands for each
    where the figures themselves are drawn and checked elsewhere (or are not what a test is about)."""
    buffer = BytesIO()
    matplotlib.image.imsave(buffer, np.zeros((2, 2)), format="png")
    return buffer.getvalue()


def layout_problems(fig: Figure) -> list[str]:
    """Every axes (with its ticks, labels and title), figure legend, text or title that reaches beyond the
    figure, and every legend drawn inside an axes that covers one of its data points or bars, one line
    each (empty when the layout is clean)."""
    # The layout as a draw leaves it (layout engine, ticks, titles, legends) at the figure's dpi, without
    # rasterising the pixels: every box below is the same as after `fig.canvas.draw()`, in less time.
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    edge = fig.bbox.padded(TOLERANCE)
    problems = []
    drawn = [(f"axes {ax.get_title() or ax.get_xlabel()!r} (ticks, labels, title)",
              ax.get_tightbbox(renderer)) for ax in fig.axes if ax.get_visible()]
    drawn += [(f"figure legend {legend.get_texts()[0].get_text()[:30]!r}", legend.get_window_extent(renderer))
              for legend in fig.legends if legend.get_texts()]
    drawn += [(f"text {text.get_text()[:40]!r}", text.get_window_extent(renderer))
              for text in fig.texts if text.get_visible() and text.get_text().strip()]
    if fig._suptitle is not None and fig._suptitle.get_text():
        drawn.append(("the title", fig._suptitle.get_window_extent(renderer)))
    for what, box in drawn:
        inside = edge.contains(box.x0, box.y0) and edge.contains(box.x1, box.y1) if box is not None else True
        if box is not None and box.width and not inside:
            problems.append(f"cut off at the figure's edge: {what}")
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is None or not legend.get_visible():
            continue
        box = legend.get_window_extent(renderer)
        if _covers_data(ax, box):
            problems.append(f"legend over data in {ax.get_title() or 'an axes'!r}")
    return problems


def _covers_data(ax, box: Bbox) -> bool:
    """Whether `box` (display coordinates) holds a data vertex of a line or scatter, or overlaps a bar."""
    points = [line.get_transform().transform(line.get_xydata()) for line in ax.get_lines()
              if line.get_visible() and line.get_transform() == ax.transData and len(line.get_xydata())]
    points += [c.get_offset_transform().transform(c.get_offsets()) for c in ax.collections
               if c.get_visible() and len(c.get_offsets()) and c.get_offset_transform() == ax.transData]
    for xy in points:
        xy = xy[np.isfinite(xy).all(axis=1)]
        if ((xy[:, 0] > box.x0) & (xy[:, 0] < box.x1) & (xy[:, 1] > box.y0) & (xy[:, 1] < box.y1)).any():
            return True
    renderer = ax.figure.canvas.get_renderer()
    return any(patch.get_visible() and patch.get_transform() != ax.transAxes
               and box.overlaps(patch.get_window_extent(renderer).shrunk(0.98, 0.98))
               for patch in ax.patches)
