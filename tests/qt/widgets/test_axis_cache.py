"""cache_axes: every axis of the plots under a widget paints from a pixmap cache, and the plots look
exactly as they did without it."""

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QGraphicsItem, QHBoxLayout, QWidget

from lab_app.qt.widgets.axis_cache import cache_axes
from lab_app.qt.widgets.export import grab_widget, rgba_array


def _pixels(widget) -> np.ndarray:
    return rgba_array(grab_widget(widget))


def test_every_axis_is_cached_once_and_draws_the_same_pixels(qtbot):
    host = QWidget()
    row = QHBoxLayout(host)
    plots = []
    for i in range(2):
        plot = pg.PlotWidget(title=f"plot {i}")
        plot.showGrid(x=True, y=True, alpha=0.3)
        plot.plot(np.arange(50), np.sin(np.arange(50) / 5), pen="y")
        row.addWidget(plot)
        plots.append(plot)
    qtbot.addWidget(host)
    host.resize(700, 300)
    host.show()
    qtbot.waitExposed(host)
    qtbot.wait(50)
    before = _pixels(host)
    sides = ("left", "bottom", "top", "right")
    axes = [p.getPlotItem().getAxis(side) for p in plots for side in sides]
    assert cache_axes(host) == len(axes) == 8 and cache_axes(host) == 0
    assert all(a.cacheMode() == QGraphicsItem.CacheMode.DeviceCoordinateCache for a in axes)
    host.update()
    qtbot.wait(50)
    assert np.array_equal(_pixels(host), before)
    plots[0].setXRange(0, 20)            # a new range: the cached axis is drawn anew, not stale
    qtbot.wait(50)
    cached = _pixels(host)
    assert not np.array_equal(cached, before)
    for a in axes:
        a.setCacheMode(QGraphicsItem.CacheMode.NoCache)
    host.update()
    qtbot.wait(50)
    assert np.array_equal(_pixels(host), cached)
