"""pyqtgraph plots made in pieces, with a build pause between them (lab_app/qt/staged.py).

A ``pg.PlotWidget`` is one call of 12-17 ms on these machines (its ViewBox, four axes, the PlotItem's
options form and title, the GraphicsView and its scene), and in the window, with a run's threads
beside it, 20-40 ms: a tab's build slice holds at least one whole plot, so each plot of a tab shown
for the first time was a frame the window missed (``ui_stalls``: the language and pyramids tabs'
builds made five of their ten late ticks each). ``plot_widget`` and ``add_plot`` make the same
objects pyqtgraph's constructors make, the ViewBox and the axes first, then the PlotItem around
them, then the widget, and call ``build_pause()`` before each piece and after the last (the
caller's code before and after the plot are parts of their own). Outside a staged build the pauses do nothing.
"""

from __future__ import annotations

import pyqtgraph as pg

from lab_app.qt.staged import build_pause


def _plot_item(title: str | None, **kwargs) -> pg.PlotItem:
    build_pause()   # the caller's code before the plot is a part of its own too
    view_box = pg.ViewBox()
    build_pause()
    axes = {}
    for pair in (("left", "bottom"), ("top", "right")):
        axes.update({name: pg.AxisItem(name) for name in pair})
        build_pause()
    item = pg.PlotItem(title=title, viewBox=view_box, axisItems=axes, **kwargs)
    for name in ("top", "right"):   # every axis passed in is shown (setAxisItems); pyqtgraph's own hide
        item.hideAxis(name)
    build_pause()
    return item


def plot_widget(title: str | None = None, parent=None, **kwargs) -> pg.PlotWidget:
    """``pg.PlotWidget(parent, title=title, **kwargs)``, in pieces."""
    widget = pg.PlotWidget(parent, plotItem=_plot_item(title, **kwargs))
    build_pause()
    return widget


def add_plot(layout: pg.GraphicsLayoutWidget, row: int | None = None, col: int | None = None,
             rowspan: int = 1, colspan: int = 1, title: str | None = None, **kwargs) -> pg.PlotItem:
    """``layout.addPlot(row, col, rowspan, colspan, title=title, **kwargs)``, in pieces."""
    item = _plot_item(title, **kwargs)
    layout.addItem(item, row=row, col=col, rowspan=rowspan, colspan=colspan)
    build_pause()
    return item
