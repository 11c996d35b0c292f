"""GridAxis (lab_app/qt/widgets/grid_axis.py): grid lines drawn as one stretched strip, the same pixels
pyqtgraph's line-by-line drawing gives."""

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QPointF
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QTransform

from lab_app.qt.widgets import grid_axis
from lab_app.qt.widgets.grid_axis import GridAxis, grid_strip
from lab_app.qt.widgets.plots import plot_widget


def _pixels(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_ARGB32)
    return np.array(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())


def _cosmetic(color: QColor, width: float = 1.0, style=None) -> QPen:
    pen = QPen(color)
    pen.setCosmetic(True)
    pen.setWidthF(width)
    if style is not None:
        pen.setStyle(style)
    return pen


def _grid_plot(qtbot, make, size, x_range, y_range):
    w = make()
    qtbot.addWidget(w)
    w.resize(*size)
    item = w.getPlotItem()
    item.showGrid(x=True, y=True, alpha=0.2)
    item.setLabel("bottom", "step")
    x = np.arange(400.0)
    item.plot(x, np.exp(-x / 90), pen=pg.mkPen((255, 120, 0), width=2))
    item.setXRange(*x_range, padding=0)
    item.setYRange(*y_range, padding=0)
    w.show()
    qtbot.waitExposed(w)
    return w


@pytest.mark.parametrize("size,x_range,y_range", [
    ((500, 300), (0, 400), (0, 1)),
    ((733, 411), (-3.3, 517.7), (0.013, 1.07)),
    ((301, 207), (0, 1e5), (-1, 1)),
])
def test_a_grid_plot_looks_exactly_as_pyqtgraph_draws_it(qtbot, size, x_range, y_range):
    mine = _grid_plot(qtbot, plot_widget, size, x_range, y_range)
    theirs = _grid_plot(qtbot, pg.PlotWidget, size, x_range, y_range)
    assert isinstance(mine.getPlotItem().getAxis("bottom"), GridAxis)
    a, b = _pixels(mine.grab().toImage()), _pixels(theirs.grab().toImage())
    assert a.shape == b.shape
    assert np.array_equal(a, b)
    theirs.getPlotItem().showGrid(x=False, y=False)   # the comparison covers the grid's pixels
    bare = _pixels(theirs.grab().toImage())
    assert (a != bare).sum() > 2000


def test_the_grid_goes_through_one_strip_per_axis(qtbot, monkeypatch):
    made = []
    real = grid_axis.grid_strip

    def spy(lines, vertical, *args):
        out = real(lines, vertical, *args)
        made.append((vertical, len(lines), out is not None))
        return out

    monkeypatch.setattr(grid_axis, "grid_strip", spy)
    w = _grid_plot(qtbot, plot_widget, (500, 300), (0, 400), (0, 1))
    w.grab()
    assert {(v, ok) for v, _, ok in made} == {(True, True), (False, True)}
    assert all(n > 5 for _, n, _ in made)   # the axis's many lines, each in the strip
    made.clear()
    w.getPlotItem().showGrid(x=False, y=False)
    w.grab()
    assert made == []   # no grid: pyqtgraph's own ticks


@pytest.mark.parametrize("scale", [1.0, 1.25, 2.0])
@pytest.mark.parametrize("offset", [0.0, 0.3, 0.5, 0.77])
@pytest.mark.parametrize("vertical", [True, False])
def test_a_strip_lights_the_pixels_the_lines_would(scale, offset, vertical):
    rng = np.random.default_rng(int(scale * 100 + offset * 10))
    positions = 2.0 + 5.0 * np.arange(25) + rng.uniform(0.0, 3.0, 25)   # distinct lines, as an axis's are
    colors = [QColor(220, 220, 220, a) for a in (51, 25, 12)]
    lines = []
    for i, x in enumerate(positions):
        p1, p2 = (QPointF(x, -60.0), QPointF(x, 0.0)) if vertical else (QPointF(-60.0, x), QPointF(0.0, x))
        lines.append((_cosmetic(colors[i % 3]), p1, p2))
    images = []
    for use_strip in (False, True):
        image = QImage(260, 260, QImage.Format.Format_RGB32)
        image.fill(QColor(30, 60, 90))
        painter = QPainter(image)
        # item -> device: the given scale and offset across the lines, about 70 px along them
        along = 70.0 * scale + offset / 3
        if vertical:
            painter.setTransform(QTransform(scale, 0, 0, scale, offset, along))
        else:
            painter.setTransform(QTransform(scale, 0, 0, scale, along, offset))
        if use_strip:
            strip = grid_strip(lines, vertical, scale, offset, along)
            assert strip is not None
            painter.drawImage(*strip)
        else:
            for pen, p1, p2 in lines:
                painter.setPen(pen)
                painter.drawLine(p1, p2)
        painter.end()
        images.append(_pixels(image))
    assert np.array_equal(images[0], images[1])


def test_lines_a_strip_cannot_hold_are_left_to_pyqtgraph():
    color = QColor(200, 200, 200, 60)
    vertical = [(QPointF(x, -50.0), QPointF(x, 0.0)) for x in (3.0, 9.5, 20.0)]
    assert grid_strip([(_cosmetic(color), *p) for p in vertical], True) is not None
    wide = [(_cosmetic(color, 2.0), *p) for p in vertical]
    dashed = [(_cosmetic(color, 1.0, pg.QtCore.Qt.PenStyle.DashLine), *p) for p in vertical]
    uneven = [(_cosmetic(color), QPointF(x, -50.0 + x), QPointF(x, 0.0)) for x in (3.0, 9.5)]
    slanted = [(_cosmetic(color), QPointF(3.0, -50.0), QPointF(4.0, 0.0))]
    for lines in (wide, dashed, uneven, slanted, []):
        assert grid_strip(lines, True) is None


def test_a_wide_grid_pen_is_drawn_as_pyqtgraph_draws_it(qtbot):
    shots = []
    for make in (plot_widget, pg.PlotWidget):
        w = _grid_plot(qtbot, make, (400, 260), (0, 400), (0, 1))
        for name in ("left", "bottom"):
            w.getPlotItem().getAxis(name).setTickPen(pg.mkPen((200, 200, 200), width=3))
        shots.append(_pixels(w.grab().toImage()))
    assert np.array_equal(*shots)
