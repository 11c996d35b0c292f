"""StickyRange: auto-range for a plot that grows point by point, changing the view only in steps.

pyqtgraph's auto-range fits the data exactly, so on a live curve every new step (or new lowest loss)
moves the range, and every range change re-lays both axes (tick values, texts measured and drawn,
the grid) on the UI thread, for every plot at every point. A StickyRange is an invisible item in
the plot whose data bounds hold the data with room to grow: x up to half as far again as the data
spans, y a quarter of the span beyond each end. Auto-range sees those bounds, so the view changes
only when the data leaves them, a few times over a run. The person's zoom, pan and the plot's "A"
button behave as before: auto-range itself is pyqtgraph's.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF

#: x: the data's span times this (a run of steps grows to the right)
X_ROOM = 1.5
#: y: this fraction of the data's span beyond its lowest and highest values
Y_ROOM = 0.25


def grown(bounds: tuple[float, float] | None, lo: float, hi: float, axis: int) -> tuple[float, float] | None:
    """The bounds that hold data spanning ``lo..hi``: ``bounds`` itself while they hold it, else new
    ones with room (None: no finite data)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return bounds
    if bounds is not None and bounds[0] <= lo and hi <= bounds[1]:
        return bounds
    span = hi - lo
    if axis == 0:
        return lo, lo + (X_ROOM * span if span > 0 else 1.0)
    pad = Y_ROOM * span if span > 0 else max(0.1 * abs(hi), 1e-3)
    return lo - pad, hi + pad


class StickyRange(pg.GraphicsObject):
    """Add to a PlotItem (``plot_item.addItem``) and call ``fit(xs, ys)`` with the data in view
    coordinates (log10 where the axis is logarithmic) before or after each redraw."""

    def __init__(self):
        super().__init__()
        self.bounds: list[tuple[float, float] | None] = [None, None]
        self.changes = 0   # how often the bounds moved (each is one re-layout of the axes)

    def fit(self, xs: np.ndarray, ys: np.ndarray) -> None:
        for axis, values in ((0, xs), (1, ys)):
            finite = values[np.isfinite(values)] if len(values) else values
            if not len(finite):
                continue
            new = grown(self.bounds[axis], float(finite.min()), float(finite.max()), axis)
            if new != self.bounds[axis]:
                self.bounds[axis] = new
                self.changes += 1
                self.informViewBoundsChanged()

    def reset(self) -> None:
        self.bounds = [None, None]
        self.informViewBoundsChanged()

    # --- what the ViewBox reads ---------------------------------------------------------------------
    def dataBounds(self, ax: int, frac: float = 1.0, orthoRange=None):
        return self.bounds[ax]

    def boundingRect(self) -> QRectF:
        return QRectF()   # draws nothing

    def paint(self, painter, option, widget=None) -> None:
        pass
