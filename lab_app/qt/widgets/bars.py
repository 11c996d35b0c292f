"""Bars: class probabilities (or any named values) as one bar chart that updates in place.

One BarGraphItem is created once and fed with setOpts; the value labels are one PointLabels item
(lab_app/qt/widgets/point_labels.py) given new texts and points, so a classifier's output can be
redrawn 30 times a second without creating graphics items.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QVBoxLayout, QWidget

from lab_app.io.atomic import atomic_write_text
from lab_app.qt.widgets.export import ExportableView
from lab_app.qt.widgets.latent_scatter import class_color
from lab_app.qt.widgets.plots import plot_widget
from lab_app.qt.widgets.point_labels import PointLabels

BAR_COLOR = (110, 140, 180)
HIGHLIGHT_COLOR = class_color(1)  # orange: stands out against the muted blue bars
BAR_THICKNESS = 0.8


class Bars(ExportableView):
    """Named values as bars; ``orientation`` is "horizontal" (names on the left) or "vertical"."""

    def __init__(self, parent: QWidget | None = None, orientation: str = "horizontal",
                 value_format: str = "{:.2f}", title: str = ""):
        super().__init__(parent)
        if orientation not in ("horizontal", "vertical"):
            raise ValueError(f"orientation must be 'horizontal' or 'vertical', not {orientation!r}")
        self.orientation = orientation
        self.value_format = value_format
        self.plot_widget = plot_widget(title=title or None)
        self.plot_item = self.plot_widget.getPlotItem()
        self.plot_item.setMouseEnabled(x=False, y=False)  # a fixed chart: dragging it only loses bars
        self.plot_item.hideButtons()
        self.plot_item.setMenuEnabled(False)
        self.view_box = self.plot_item.getViewBox()
        if self.horizontal:
            self.view_box.invertY(True)  # first name at the top, read like a list
            self.bar_item = pg.BarGraphItem(x0=0, y=[], height=BAR_THICKNESS, width=[], brushes=[])
            self.name_axis = self.plot_item.getAxis("left")
        else:
            self.bar_item = pg.BarGraphItem(x=[], y0=0, width=BAR_THICKNESS, height=[], brushes=[])
            self.name_axis = self.plot_item.getAxis("bottom")
        self.plot_item.addItem(self.bar_item)
        self.value_item = PointLabels(color=(220, 220, 220))
        self.value_item.setZValue(10)
        self.plot_item.addItem(self.value_item, ignoreBounds=True)
        self._names: list[str] = []
        self._tick_names: list[str] | None = None
        self._values = np.zeros(0)
        self._highlight: int | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot_widget)

    @property
    def horizontal(self) -> bool:
        return self.orientation == "horizontal"

    def set_values(self, names: Sequence[str], values, highlight: int | str | None = None) -> None:
        """Show ``values[i]`` as the bar named ``names[i]``; ``highlight`` (index or name) stands out.

        Typical use: class probabilities with the true class highlighted.
        """
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        names = [str(n) for n in names]
        if len(names) != len(values):
            raise ValueError(f"{len(names)} names for {len(values)} values")
        if isinstance(highlight, str):
            highlight = names.index(highlight) if highlight in names else None
        if highlight is not None and not 0 <= highlight < len(values):
            highlight = None
        self._names, self._values, self._highlight = names, values, highlight

        positions = np.arange(len(values), dtype=np.float64)
        drawn = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)  # a NaN bar draws as empty
        brushes = [pg.mkBrush(HIGHLIGHT_COLOR if i == highlight else BAR_COLOR) for i in range(len(values))]
        if self.horizontal:
            self.bar_item.setOpts(y=positions, width=drawn, brushes=brushes)
        else:
            self.bar_item.setOpts(x=positions, height=drawn, brushes=brushes)
        if names != self._tick_names:  # re-laying out the axis only when the names change
            self.name_axis.setTicks([list(enumerate(names))])
            self._tick_names = names
        self._update_value_labels(positions, values, drawn)
        self._update_range(drawn)

    def _update_value_labels(self, positions: np.ndarray, values: np.ndarray, drawn: np.ndarray) -> None:
        # Labels sit just past the bar's end: left-anchored for positive bars, right for negative.
        texts = [self.value_format.format(v) for v in values]
        if self.horizontal:
            points = list(zip(drawn, positions, strict=True))
            anchors = [(0.0, 0.5) if end >= 0 else (1.0, 0.5) for end in drawn]
        else:
            points = list(zip(positions, drawn, strict=True))
            anchors = [(0.5, 1.0) if end >= 0 else (0.5, 0.0) for end in drawn]
        self.value_item.set_labels(points, texts, anchors)

    def _update_range(self, drawn: np.ndarray) -> None:
        """Value axis from min(0, values) to max(1, values) plus room for labels: probabilities keep a
        fixed [0, 1] scale, so bar lengths compare across updates."""
        lo = min(0.0, float(drawn.min())) if len(drawn) else 0.0
        hi = max(1.0, float(drawn.max())) if len(drawn) else 1.0
        span = hi - lo
        value_range = (lo - (0.15 * span if lo < 0 else 0.0), hi + 0.15 * span)
        name_range = (-0.6, max(len(drawn), 1) - 0.4)
        if self.horizontal:
            self.view_box.setRange(xRange=value_range, yRange=name_range, padding=0)
        else:
            self.view_box.setRange(xRange=name_range, yRange=value_range, padding=0)

    def names(self) -> list[str]:
        return list(self._names)

    def values(self) -> np.ndarray:
        return self._values.copy()

    def bar_lengths(self) -> np.ndarray:
        """The bar lengths as drawn by the BarGraphItem (for checks and tests)."""
        key = "width" if self.horizontal else "height"
        return np.asarray(self.bar_item.opts[key], dtype=np.float64)

    def highlighted(self) -> int | None:
        return self._highlight

    def value_labels(self) -> list[str]:
        """Texts of the visible value labels, in bar order."""
        return self.value_item.texts()


    def export_data(self, path: str | Path) -> Path:
        """CSV ``name,value`` in bar order."""
        def field(text: str) -> str:
            return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text

        lines = ["name,value"] + [f"{field(n)},{v:.10g}" for n, v in zip(self._names, self._values.tolist(),
                                                                            strict=True)]
        path = Path(path)
        atomic_write_text(path, "\n".join(lines) + "\n")
        return path
