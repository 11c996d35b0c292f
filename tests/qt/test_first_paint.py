"""A newly shown tab's plots paint for the first time one per event-loop turn, in order; an export in
the meantime still shows every plot drawn."""

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QHBoxLayout, QWidget

from lab_app.qt import first_paint
from lab_app.qt.widgets.export import grab_widget, rgba_array


class _Paints(QObject):
    """The order in which the watched viewports get paint events."""

    def __init__(self, views):
        super().__init__()
        self.order: list[int] = []
        self._index = {v.viewport(): i for i, v in enumerate(views)}
        for vp in self._index:
            vp.installEventFilter(self)

    def eventFilter(self, obj, event):  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.Paint and obj in self._index:
            self.order.append(self._index[obj])
        return False


def _host(qtbot, n=3):
    host = QWidget()
    row = QHBoxLayout(host)
    plots = []
    for i in range(n):
        plot = pg.PlotWidget(title=f"plot {i}")
        plot.plot(np.arange(20.0), np.arange(20.0) * (i + 1), pen=pg.mkPen("y", width=3))
        row.addWidget(plot)
        plots.append(plot)
    qtbot.addWidget(host)
    host.resize(900, 300)
    return host, plots


def test_plots_paint_first_one_per_turn_in_order(qtbot):
    host, plots = _host(qtbot)
    paints = _Paints(plots)
    first_paint.stagger_first_paint(plots)
    first_paint.stagger_first_paint(plots[1:])       # asked twice (nested pages): still once each
    assert first_paint.waiting() == 3 and not any(p.updatesEnabled() for p in plots)
    host.show()
    qtbot.waitExposed(host)
    qtbot.waitUntil(lambda: first_paint.waiting() == 0, timeout=5000)
    assert all(p.updatesEnabled() for p in plots)
    firsts = list(dict.fromkeys(paints.order))     # each plot's first paint, in the order they came
    assert firsts == [0, 1, 2]


def test_an_export_while_plots_wait_shows_them_drawn(qtbot):
    host, plots = _host(qtbot, n=2)
    host.show()
    qtbot.waitExposed(host)
    drawn = rgba_array(grab_widget(host))
    first_paint.stagger_first_paint(plots)         # as a tab just built and shown
    assert first_paint.waiting() == 2
    grabbed = rgba_array(grab_widget(host))
    assert first_paint.waiting() == 0 and all(p.updatesEnabled() for p in plots)
    yellow = (grabbed[..., 0] > 200) & (grabbed[..., 1] > 200) & (grabbed[..., 2] < 80)
    assert yellow.sum() > 200                      # the curves are in the image
    assert np.array_equal(grabbed, drawn)


def test_a_plot_deleted_while_it_waits_is_skipped(qtbot):
    host, plots = _host(qtbot, n=2)
    first_paint.stagger_first_paint(plots)
    plots[0].setParent(None)
    plots[0].deleteLater()
    qtbot.wait(50)
    host.show()
    qtbot.waitUntil(lambda: first_paint.waiting() == 0, timeout=5000)
    assert plots[1].updatesEnabled()


def test_a_turn_that_has_drawn_enough_paints_no_plot_and_each_paint_is_charged(qtbot, monkeypatch):
    from lab_app.qt import turn_budget

    host, plots = _host(qtbot, 2)
    spent = [True]
    charged = []
    monkeypatch.setattr(turn_budget, "over", lambda: spent[0])
    monkeypatch.setattr(turn_budget, "charge", charged.append)
    first_paint.stagger_first_paint(plots)
    host.show()
    qtbot.waitExposed(host)
    qtbot.wait(100)                      # many turns, each over budget: nothing painted yet
    assert first_paint.waiting() == 2 and not any(p.updatesEnabled() for p in plots) and charged == []
    spent[0] = False
    qtbot.waitUntil(lambda: first_paint.waiting() == 0, timeout=5000)
    assert all(p.updatesEnabled() for p in plots)
    assert len([c for c in charged if c > 0]) >= 2   # each plot's first paint, charged to its turn


def test_plots_on_a_sub_tab_page_paint_first_one_per_turn_when_the_page_is_first_shown(qtbot):
    """A tab switches to its sub-tab of plots (as the 3D tab's demo does): the page's plots wait and
    paint one per turn from the page's first show, not all in the window's repaint."""
    from PySide6.QtWidgets import QTabWidget

    from lab_app.qt.widgets.axis_cache import plots_of

    page, plots = _host(qtbot)
    tabs = QTabWidget()
    qtbot.addWidget(tabs)
    tabs.addTab(QWidget(), "first")
    tabs.addTab(page, "plots")
    tabs.resize(900, 340)
    tabs.show()
    qtbot.waitExposed(tabs)
    assert first_paint.stagger_on_first_show(tabs, plots_of) == 1     # the hidden page only
    assert first_paint.waiting() == 0 and all(p.updatesEnabled() for p in plots)
    paints = _Paints(plots)
    tabs.setCurrentWidget(page)
    assert first_paint.waiting() == 3 and not any(p.updatesEnabled() for p in plots)
    qtbot.waitUntil(lambda: first_paint.waiting() == 0, timeout=5000)
    assert list(dict.fromkeys(paints.order)) == [0, 1, 2]
    tabs.setCurrentIndex(0)
    tabs.setCurrentWidget(page)                                         # shown again: nothing held
    assert first_paint.waiting() == 0
