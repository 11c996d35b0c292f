"""Plots of the distribution-transforms tab: a 2D model view (data, samples, warped Z grid, a field
or posterior ellipses), the paintable target plot, and the forward/reverse KL panel."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from lab_app.qt.widgets.export import ExportableView
from lab_app.qt.widgets.plots import plot_widget


def polylines(lines: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(L, P, 2) polylines -> x, y, connect for one PlotCurveItem (no segment between lines)."""
    n_lines, p, _ = lines.shape
    connect = np.ones((n_lines, p), bool)
    connect[:, -1] = False
    flat = lines.reshape(-1, 2)
    return flat[:, 0], flat[:, 1], connect.ravel()


class ModelView(ExportableView):
    """Data (grey), model samples (coloured), g's image of the Z grid, and optionally the
    discriminator's field (an ImageItem behind everything) and decoded posterior ellipses."""

    def __init__(self, title: str, color, parent: QWidget | None = None):
        super().__init__(parent)
        self.plot_widget = plot_widget(title=title)
        self.plot_item = self.plot_widget.getPlotItem()
        self.view_box = self.plot_item.getViewBox()
        self.view_box.setAspectLocked(True)
        cmap = pg.colormap.get("CET-D1")
        self.field_item = pg.ImageItem(axisOrder="row-major")
        self.field_item.setLookupTable(cmap.getLookupTable(nPts=256))
        self.field_item.setOpacity(0.55)
        self.field_item.setZValue(-10)
        self.view_box.addItem(self.field_item, ignoreBounds=True)
        self.data_item = pg.ScatterPlotItem(size=2, pen=None, brush=pg.mkBrush(150, 150, 150, 90))
        self.samples_item = pg.ScatterPlotItem(size=3, pen=None, brush=pg.mkBrush(*color, 170))
        self.grid_item = pg.PlotCurveItem(pen=pg.mkPen(255, 255, 255, 150, width=1))
        self.ellipse_item = pg.PlotCurveItem(pen=pg.mkPen(255, 220, 60, 230, width=2))
        self.anchor_item = pg.ScatterPlotItem(size=9, symbol="x", pen=pg.mkPen(255, 220, 60, width=2))
        for item in (self.data_item, self.grid_item, self.samples_item, self.ellipse_item, self.anchor_item):
            self.view_box.addItem(item)
        self.field: np.ndarray | None = None
        self.grid_lines: np.ndarray | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.plot_widget)

    def set_target(self, data: np.ndarray, extent: tuple) -> None:
        self.data_item.setData(pos=data)
        x0, x1, y0, y1 = extent
        self.extent = extent
        self.field_item.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
        self.view_box.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)

    def set_frame(self, samples: np.ndarray, grid: np.ndarray, field=None, ellipses=None, anchors=None) -> None:
        self.samples_item.setData(pos=samples)
        self.grid_lines = grid
        x, y, connect = polylines(grid)
        self.grid_item.setData(x, y, connect=connect)
        if field is not None:
            self.field = field
            # symmetric about 1/2 (D undecided), stretched so a trained, nearly undecided D still shows
            r = max(float(np.abs(field - 0.5).max()), 0.05)
            self.field_item.setImage(field, autoLevels=False, levels=(0.5 - r, 0.5 + r))
            self.field_range = (0.5 - r, 0.5 + r)
        if ellipses is not None:
            ex, ey, ec = polylines(ellipses)
            self.ellipse_item.setData(ex, ey, connect=ec)
            self.anchor_item.setData(pos=anchors)

    def samples(self) -> np.ndarray:
        x, y = self.samples_item.getData()
        return np.stack([x, y], 1)



class PaintPlot(ExportableView):
    """The target's points; with painting on, press-and-drag adds points under the mouse."""

    painted = Signal()             # the mouse was released after adding points

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.plot_widget = plot_widget(title="target (or paint your own)")
        self.view_box = self.plot_widget.getPlotItem().getViewBox()
        self.view_box.setAspectLocked(True)
        self.view_box.setRange(xRange=(-3, 3), yRange=(-3, 3), padding=0)
        self.item = pg.ScatterPlotItem(size=3, pen=None, brush=pg.mkBrush(120, 200, 255, 160))
        self.view_box.addItem(self.item)
        self.points: list[tuple[float, float]] = []
        self.painting = False
        self._down = False
        self.plot_widget.viewport().installEventFilter(self)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.plot_widget)

    def set_painting(self, on: bool) -> None:
        self.painting = on
        self.view_box.setMouseEnabled(x=not on, y=not on)
        if on:
            self.view_box.setRange(xRange=(-3, 3), yRange=(-3, 3), padding=0)
            self.item.setData(pos=np.array(self.points, np.float32).reshape(-1, 2))

    def show_points(self, data: np.ndarray, extent: tuple | None = None) -> None:
        self.item.setData(pos=data)
        if extent is not None:
            self.view_box.setRange(xRange=extent[:2], yRange=extent[2:], padding=0)

    def add_point(self, x: float, y: float) -> None:
        self.points.append((x, y))
        self.item.setData(pos=np.array(self.points, np.float32))

    def clear_points(self) -> None:
        self.points.clear()
        self.item.setData(pos=np.zeros((0, 2), np.float32))

    def eventFilter(self, obj, ev) -> bool:  # noqa: N802 (Qt naming)
        if not self.painting:
            return False
        kind = ev.type()
        if kind in (ev.Type.MouseButtonPress, ev.Type.MouseMove) and (
                kind == ev.Type.MouseMove and self._down or
                kind == ev.Type.MouseButtonPress and ev.button() == Qt.MouseButton.LeftButton):
            self._down = True
            p = self.view_box.mapSceneToView(self.plot_widget.mapToScene(ev.position().toPoint()))
            self.add_point(float(p.x()), float(p.y()))
            return True
        if kind == ev.Type.MouseButtonRelease and self._down:
            self._down = False
            self.painted.emit()
            return True
        return False



class KLPanel(ExportableView):
    """p(x) of the bimodal target and the Gaussians fitted by forward and reverse KL."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.plot_widget = plot_widget(title="one Gaussian fitted to a bimodal p")
        self.plot_item = self.plot_widget.getPlotItem()
        self.plot_item.setMouseEnabled(x=False, y=False)
        self.legend = self.plot_item.addLegend(offset=(5, 5))
        self.p_item = self.plot_item.plot(pen=pg.mkPen(200, 200, 200, width=2), fillLevel=0,
                                          brush=pg.mkBrush(200, 200, 200, 50), name="target p")
        self.forward_item = self.plot_item.plot(pen=pg.mkPen(90, 170, 255, width=2), name="forward KL(p||q)")
        self.reverse_item = self.plot_item.plot(pen=pg.mkPen(255, 120, 80, width=2), name="reverse KL(q||p)")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.plot_widget)

    def set_fits(self, x, p, q_forward, q_reverse) -> None:
        self.p_item.setData(x, p)
        self.forward_item.setData(x, q_forward)
        self.reverse_item.setData(x, q_reverse)
        self.plot_item.setXRange(float(x[0]), float(x[-1]), padding=0)
        self.plot_item.setYRange(0, max(float(np.max(p)), float(np.max(q_reverse))) * 1.45, padding=0)

