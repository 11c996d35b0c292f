"""scene_settle: new data that moves a plot's auto-range paints the plot once, with the new range
(pyqtgraph alone resolves the range inside the paint and paints the plot again straight after)."""

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication

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
