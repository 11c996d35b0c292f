"""scene_settle: new data that moves a plot's auto-range paints the plot once, with the new range
(pyqtgraph alone resolves the range inside the paint and paints the plot again straight after)."""

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication

from lab_app.qt import turn_budget
from lab_app.qt.widgets import scene_settle


class PaintCounter(QObject):
    def __init__(self, widget):
        super().__init__()
        self.count = 0
        widget.installEventFilter(self)

    def eventFilter(self, obj, event):  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.Paint:
            self.count += 1
        return False


def settle(qtbot, rounds: int = 6) -> None:
    for _ in range(rounds):
        QApplication.processEvents()
        qtbot.wait(5)


@pytest.mark.parametrize("grid", [False, True])
def test_new_data_paints_its_plot_once_with_the_new_range(qtbot, grid):
    assert scene_settle.install() and scene_settle.install()    # once, and again is harmless
    view = pg.PlotWidget(title="loss")
    view.setLabel("left", "loss")
    view.showGrid(x=grid, y=grid)
    qtbot.addWidget(view)
    x = np.arange(200.0)
    curve = view.plot(x, 3 * x)                      # y up to 597: three-digit tick labels
    view.resize(400, 300)
    view.show()
    qtbot.waitExposed(view)
    settle(qtbot)
    counter = PaintCounter(view.viewport())
    for k in (1, 2, 3):   # the range grows, the labels keep their width (no new layout of the axes)
        counter.count = 0
        top = 3 * 199 * (1 + 0.15 * k)
        curve.setData(x, 3 * x * (1 + 0.15 * k))
        settle(qtbot)
        assert counter.count == 1
        (x0, x1), (y0, y1) = view.getViewBox().viewRange()
        assert x0 <= 0 and x1 >= 199 and y1 >= top           # drawn with the range of the new data
        assert view.getAxis("left").range[1] >= top


def test_a_pyqtgraph_without_prepare_for_paint_is_left_as_it_is(monkeypatch):
    """Should a later pyqtgraph drop the hook, nothing is patched (every queued call would fail)."""
    monkeypatch.setattr(scene_settle, "_installed", False)
    monkeypatch.delattr(pg.GraphicsScene, "prepareForPaint")
    before = pg.GraphicsScene.__dict__.get("event")
    assert scene_settle.install() is False
    assert pg.GraphicsScene.__dict__.get("event") is before and not scene_settle._installed


def test_a_hidden_plot_leaves_its_range_until_it_is_shown(qtbot, monkeypatch):
    """Live data on a tab that is not on screen does not settle ranges at every update (nothing is
    painted there); shown again, the plot is drawn with the range of its data."""
    from PySide6.QtWidgets import QLabel, QTabWidget

    assert scene_settle.install()
    settled = []
    update = pg.ViewBox.updateAutoRange
    monkeypatch.setattr(pg.ViewBox, "updateAutoRange", lambda vb: (settled.append(vb), update(vb))[1])
    tabs = QTabWidget()
    qtbot.addWidget(tabs)
    view = pg.PlotWidget()
    tabs.addTab(view, "plot")
    tabs.addTab(QLabel("another tab"), "other")
    x = np.arange(50.0)
    curve = view.plot(x, x)
    tabs.show()
    qtbot.waitExposed(tabs)
    settle(qtbot)
    tabs.setCurrentIndex(1)
    settle(qtbot)
    settled.clear()
    for k in range(1, 6):
        curve.setData(x, x * 10 * k)
        settle(qtbot, 2)
    assert settled == []
    tabs.setCurrentIndex(0)
    settle(qtbot)
    assert settled and view.getViewBox().viewRange()[1][1] >= 49 * 50


def _four_plots_changed_at_once(qtbot, monkeypatch, budget_s: float):
    """Four plots in a window, given new data in one slot; the event-loop turn of each plot's paint
    (a zero-delay timer counts the turns) and the plots."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QGridLayout, QWidget

    assert scene_settle.install()
    monkeypatch.setattr(turn_budget, "BUDGET_S", budget_s)
    window = QWidget()
    qtbot.addWidget(window)
    grid = QGridLayout(window)
    x = np.arange(100.0)
    plots = [pg.PlotWidget(title=f"plot {i}") for i in range(4)]
    curves = []
    for i, plot in enumerate(plots):
        grid.addWidget(plot, i // 2, i % 2)
        curves.append(plot.plot(x, x))
    window.resize(600, 500)
    window.show()
    qtbot.waitExposed(window)
    settle(qtbot)
    turn = [0]
    painted = {i: [] for i in range(4)}

    class Recorder(QObject):
        def eventFilter(self, obj, event):  # noqa: N802 - Qt override
            if event.type() == QEvent.Type.Paint:
                painted[obj.index].append(turn[0])
            return False

    recorder = Recorder()
    for i, plot in enumerate(plots):
        plot.viewport().index = i
        plot.viewport().installEventFilter(recorder)
    counter = QTimer()
    counter.timeout.connect(lambda: turn.__setitem__(0, turn[0] + 1))
    counter.start(0)
    for k, curve in enumerate(curves):
        curve.setData(x, x * (5 + k))
    qtbot.waitUntil(lambda: all(painted.values()) and all(p.updatesEnabled() for p in plots), timeout=5000)
    settle(qtbot)
    counter.stop()
    for k, plot in enumerate(plots):   # every plot drawn with the range of its new data
        assert plot.getViewBox().viewRange()[1][1] >= 99 * (5 + k)
    return painted


def test_a_turn_that_has_painted_enough_leaves_the_next_plots_to_later_turns(qtbot, monkeypatch):
    """Once a turn's repaints have spent the budget, the other plots changed in it wait: each is
    painted once, in a turn of its own, after the first."""
    painted = _four_plots_changed_at_once(qtbot, monkeypatch, 1e-9)
    turns = sorted(t[0] for t in painted.values())
    assert all(len(t) == 1 for t in painted.values()), painted
    assert len(set(turns)) == 4, painted


def test_within_the_budget_the_plots_repaint_in_the_same_turn(qtbot, monkeypatch):
    painted = _four_plots_changed_at_once(qtbot, monkeypatch, 60.0)
    assert len({t[0] for t in painted.values()}) == 1, painted
