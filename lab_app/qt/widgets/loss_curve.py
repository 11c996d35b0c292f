"""LossCurve: named training metrics plotted against step while a run goes on.

Each metric gets one PlotDataItem, created when the metric is first drawn and then only fed new
data with setData. A curve's item and legend entry cost a few milliseconds to make, and a loaded
run's history or a run's first point brings several metrics at once: a redraw makes new items for
``PART_S`` at most and leaves the rest to the next turns of the event loop (a history of nine
metrics drawn in one go held the UI thread for tens of milliseconds); ``flush`` draws all at once.
Values live in numpy buffers that double when full, so appending is amortised O(1)
and no Python list is converted to an array on every redraw.

Appends are drawn at most every ``REDRAW_MS`` (plus a stagger between curves, ``STAGGER_MS``): a run
reports a point per step, tens a second, and each redraw of a plot whose range moves re-lays both axes
(tick texts measured and drawn) on the UI thread. ``item``, ``flush`` and export bring the curves up
to date at once. A redraw due in a turn of the event loop that has spent its drawing budget waits for
the next (lab_app/qt/turn_budget.py), and what it spends counts against its turn. The view follows
the data in steps (StickyRange), not at every point, and fits the data exactly once points stop
coming (``SETTLE_MS``) or a whole history is shown at once.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QVBoxLayout, QWidget

from lab_app.io.atomic import atomic_write_text
from lab_app.qt import turn_budget
from lab_app.qt.widgets.export import ExportableView
from lab_app.qt.widgets.latent_scatter import class_color
from lab_app.qt.widgets.plots import plot_widget
from lab_app.qt.widgets.sticky_range import StickyRange

_instances = itertools.count()
#: Redraw intervals of successive curves differ by this much (ms): see LossCurve.__init__.
STAGGER_MS = 12
#: UI-thread time a redraw spends making new curves' items before it leaves the rest to the next turn.
PART_S = 0.004


class _Series:
    """One metric's (step, value) history in a growable buffer and the item that draws it (None until
    it is first drawn)."""

    def __init__(self, item: pg.PlotDataItem | None = None, capacity: int = 256):
        self.item = item
        self.steps = np.empty(capacity, np.float64)
        self.values = np.empty(capacity, np.float64)
        self.count = 0

    def append(self, step: float, value: float) -> None:
        if self.count == len(self.steps):
            self.steps = np.concatenate([self.steps, np.empty_like(self.steps)])
            self.values = np.concatenate([self.values, np.empty_like(self.values)])
        self.steps[self.count] = step
        self.values[self.count] = value
        self.count += 1

    def extend(self, steps, values) -> None:
        """Append many points at once (one copy, not a Python call per point)."""
        steps, values = np.asarray(steps, np.float64), np.asarray(values, np.float64)
        need = self.count + len(steps)
        if need > len(self.steps):
            size = max(need, 2 * len(self.steps))
            self.steps = np.concatenate([self.steps[: self.count], np.empty(size - self.count)])
            self.values = np.concatenate([self.values[: self.count], np.empty(size - self.count)])
        self.steps[self.count:need] = steps
        self.values[self.count:need] = values
        self.count = need

    def data(self) -> tuple[np.ndarray, np.ndarray]:
        return self.steps[: self.count], self.values[: self.count]


def history_columns(points) -> dict[str, tuple[list, list]]:
    """Many ``(step, metrics)`` points (a run's history) as one ``(steps, values)`` column per metric,
    in the order the metrics first appear: one pass, so a caller that draws the metrics on several
    plots splits the columns by name rather than every point."""
    columns: dict[str, tuple[list, list]] = {}
    for step, metrics in points:
        for name, value in metrics.items():
            column = columns.get(name)
            if column is None:
                column = columns[name] = ([], [])
            column[0].append(step)
            column[1].append(value)
    return columns


class LossCurve(ExportableView):
    """Curves of named metrics over training steps, with a legend and optional log-scaled y."""

    # Where the legend sits: top right suits a falling loss, bottom right a rising score (mAP, accuracy).
    LEGEND_OFFSETS = {"top right": (-10, 10), "bottom right": (-10, -10)}
    #: About the longest a new point waits before it is drawn; points in between are drawn together.
    REDRAW_MS = 150
    #: No new point for this long after a redraw: the run has stopped, paused or reports seldom (then
    #: exact fitting costs little), and the view drops the room it kept.
    SETTLE_MS = 400

    def __init__(self, parent: QWidget | None = None, title: str = "", y_label: str = "",
                 log_y: bool = False, legend_corner: str = "top right"):
        super().__init__(parent)
        self.plot_widget = plot_widget(title=title or None)
        self.plot_item = self.plot_widget.getPlotItem()
        self.plot_item.setLabel("bottom", "step")
        if y_label:
            self.plot_item.setLabel("left", y_label)
        self.plot_item.showGrid(x=True, y=True, alpha=0.2)
        # In the corner the curves leave empty, on a translucent panel so the lines under it still show.
        if legend_corner not in self.LEGEND_OFFSETS:
            raise ValueError(f"legend_corner: one of {sorted(self.LEGEND_OFFSETS)}, not {legend_corner!r}")
        self.legend = self.plot_item.addLegend(offset=self.LEGEND_OFFSETS[legend_corner],
                                               brush=pg.mkBrush(0, 0, 0, 150),
                                               labelTextSize="8pt", verSpacing=-6)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot_widget)
        self.range = StickyRange()
        self.plot_item.addItem(self.range)
        self._series: dict[str, _Series] = {}
        self._stale: set[str] = set()   # metrics with points not drawn yet
        self._redraw = QTimer(self)
        self._redraw.setSingleShot(True)
        # Several curves fed by one event would redraw in the same event-loop turn, one long paint of
        # them all; a few ms apart, each is its own short paint.
        self._redraw.setInterval(self.REDRAW_MS + STAGGER_MS * (next(_instances) % 5))
        self._redraw.timeout.connect(self._draw_part)
        self._more = QTimer(self)      # new curves left over by a redraw: the next turn
        self._more.setSingleShot(True)
        self._more.setInterval(0)
        self._more.timeout.connect(self._draw_part)
        self._settle = QTimer(self)
        self._settle.setSingleShot(True)
        self._settle.setInterval(self.SETTLE_MS)
        self._settle.timeout.connect(self.range.reset)
        self._whole_history = False
        self._held: list[pg.PlotDataItem] = []   # a history's new curves, hidden until it is all drawn
        self._log_y = False
        self.set_log_y(log_y)

    def append(self, step: float, metrics: Mapping[str, float]) -> None:
        """Add one point per metric at ``step``; a metric seen for the first time gets a new curve.
        The point is drawn within ``REDRAW_MS``, with the others that came meanwhile."""
        for name, value in metrics.items():
            series = self._series.get(name)
            if series is None:
                series = self._add_series(name)
            series.append(float(step), float(value))
            self._stale.add(name)
        if self._stale and not self._redraw.isActive():
            self._redraw.start()

    def flush(self) -> None:
        """Draw every point appended since the last redraw, every new curve included."""
        self._draw(None)

    def _draw_part(self) -> None:
        if turn_budget.over():   # this turn has drawn enough (a drain, repaints): the curves a turn later
            self._more.start()
            return
        with turn_budget.drawing():   # new data: items, downsampling, the range; charged to the turn
            self._draw(PART_S)

    def _draw(self, part_s: float | None) -> None:
        """Draw what is stale; with ``part_s``, make new items for that long at most (at least one)
        and leave the curves still without one to the next turn."""
        self._redraw.stop()
        self._more.stop()
        t0, made, drawn = time.perf_counter(), 0, False
        for name in [n for n in self._series if n in self._stale]:   # in the order metrics appeared
            series = self._series[name]
            if series.item is None:
                if part_s is not None and made and time.perf_counter() - t0 > part_s:
                    break
                series.item = self._make_item(name)
                made += 1
                if self._whole_history:
                    # hidden until the whole history has its curves: the plot repaints once with
                    # all of them, not once per turn with the curves made so far (a few thousand
                    # points each: about as long a repaint as the budget of a turn, each time)
                    series.item.setVisible(False)
                    self._held.append(series.item)
            series.item.setData(*series.data())
            self._stale.discard(name)
            drawn = True
        if drawn:
            self._fit_range()
            self._settle.start()
        if self._stale:
            self._more.start()
        elif self._whole_history:   # a finished history, all drawn: shown, fitted exactly
            self._whole_history = False
            for item in self._held:
                item.setVisible(True)
            self._held.clear()
            self._settle.stop()
            self.range.reset()

    def _fit_range(self) -> None:
        xs, ys = [], []
        for series in self._series.values():
            steps, values = series.data()
            if self._log_y:   # the view's y is log10 of the values
                with np.errstate(divide="ignore", invalid="ignore"):
                    values = np.log10(values)
            xs.append(steps)
            ys.append(values)
        if xs:
            self.range.fit(np.concatenate(xs), np.concatenate(ys))

    def before_export(self) -> None:
        self.flush()

    def extend(self, points) -> None:
        """Add many ``(step, metrics)`` points (a loaded run's history) and redraw each curve once:
        ``append`` per point redraws every curve every time, and replaying a checkpoint's few
        thousand points that way held the UI thread for seconds."""
        self.extend_columns(history_columns(points))

    def extend_columns(self, columns: Mapping[str, tuple]) -> None:
        """``extend`` with the history already split per metric, ``{name: (steps, values)}``
        (``history_columns``), in the order the curves should be made."""
        for name, (steps, values) in columns.items():
            series = self._series.get(name) or self._add_series(name)
            series.extend(steps, values)
            self._stale.add(name)
        if self._stale:
            self._whole_history = True   # fitted exactly once drawn
            self._redraw.stop()
            self._more.start()   # drawn from the next turn on, a few new curves a turn

    def _add_series(self, name: str) -> _Series:
        series = self._series[name] = _Series()   # its item when it is first drawn (_make_item)
        return series

    def _make_item(self, name: str) -> pg.PlotDataItem:
        color = class_color(list(self._series).index(name))
        item = self.plot_item.plot(name=name, pen=pg.mkPen(color, width=2))
        # Long runs: draw only what is in view, decimated with peak-keeping so spikes stay visible.
        item.setClipToView(True)
        item.setDownsampling(auto=True, method="peak")
        # Non-finite values (a diverged metric, log10 of <= 0 in log mode) break the line, not erase it.
        item.opts["connect"] = "finite"
        # Five loss terms stacked in one column covered half a small plot: two columns from four on.
        self.legend.setColumnCount(2 if len(self._series) >= 4 else 1)
        return item

    def names(self) -> list[str]:
        """Metric names in the order they first appeared."""
        return list(self._series)

    def series(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) appended for ``name`` (views of the buffers: copy before keeping)."""
        return self._series[name].data()

    def item(self, name: str) -> pg.PlotDataItem:
        """The curve that draws ``name``, with every point appended so far."""
        self.flush()
        return self._series[name].item

    def clear(self) -> None:
        """Forget every series and remove its curve and legend entry (a new run starts empty)."""
        for name, series in self._series.items():
            if series.item is not None:
                self.legend.removeItem(name)
                self.plot_item.removeItem(series.item)
        self._series.clear()
        self._stale.clear()
        self._redraw.stop()
        self._more.stop()
        self._settle.stop()
        self._whole_history = False
        self._held.clear()
        self.range.reset()

    def set_log_y(self, on: bool) -> None:
        """Log-scaled y axis: losses spanning decades read better in log space."""
        self._log_y = bool(on)
        self.plot_item.setLogMode(x=False, y=self._log_y)
        self.range.reset()
        if self._settle.isActive():   # points are still coming: room again, in the new scale
            self._fit_range()


    def export_data(self, path: str | Path) -> Path:
        """CSV in long form, one row per point: ``metric,step,value`` (metrics may have different steps)."""
        lines = ["metric,step,value"]
        for name, series in self._series.items():
            steps, values = series.data()
            field = '"' + name.replace('"', '""') + '"' if any(c in name for c in ',"\n') else name
            lines.extend(f"{field},{s:.10g},{v:.10g}" for s, v in zip(steps.tolist(), values.tolist(),
                                                                     strict=True))
        path = Path(path)
        atomic_write_text(path, "\n".join(lines) + "\n")
        return path
