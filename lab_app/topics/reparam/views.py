"""Views of the reparameterization tab (Qt): estimator histograms, the simplex, code grid + decoded images."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from lab_app.core.tiling import tile
from lab_app.qt.widgets.export import ExportableView
from lab_app.qt.widgets.latent_scatter import class_color
from lab_app.qt.widgets.plots import add_plot, plot_widget
from lab_app.topics.reparam import task

CLASS_COLORS = [(214, 39, 40), (44, 160, 44), (31, 119, 180)]  # simplex corners 0, 1, 2


class EstimatorPlots(ExportableView):
    """Three plots: histograms of single-sample estimates (with each mean and the exact gradient),
    variance of the M-sample average vs M (log-log), and the race L(theta_t)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.layout_widget = pg.GraphicsLayoutWidget()
        self.hist_plot = add_plot(
            self.layout_widget, row=0, col=0, colspan=2, title="single-sample gradient estimates"
        )
        self.hist_plot.addLegend(offset=(-10, 10))
        self.hist_plot.setLabel("left", "density")
        self.var_plot = add_plot(self.layout_widget, row=1, col=0, title="variance of the M-sample mean")
        self.var_plot.setLogMode(x=True, y=True)
        self.var_plot.setLabel("bottom", "samples M")
        self.race_plot = add_plot(self.layout_widget, row=1, col=1, title="race: true L(theta_t)")
        self.race_plot.setLabel("bottom", "gradient step")
        self.race_plot.addLegend(offset=(-10, 10))
        for p in (self.hist_plot, self.var_plot, self.race_plot):
            p.showGrid(x=True, y=True, alpha=0.2)
        self.exact_line = pg.InfiniteLine(
            angle=90, pen=pg.mkPen("w", width=3), label="exact", labelOpts={"position": 0.95, "color": "w"}
        )
        self.hist_plot.addItem(self.exact_line)
        self.hist_items: dict[str, pg.PlotDataItem] = {}
        self.mean_lines: dict[str, pg.InfiniteLine] = {}
        self.var_items: dict[str, pg.PlotDataItem] = {}
        self.race_items: dict[str, pg.PlotDataItem] = {}
        self.frame: task.EstimatorFrame | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.layout_widget)

    def _color(self, name: str):
        order = ("REINFORCE", "REINFORCE + baseline", "pathwise", "Gumbel-Softmax", "straight-through")
        return class_color(order.index(name)) if name in order else (230, 230, 230)

    def show_frame(self, frame: task.EstimatorFrame) -> None:
        self.frame = frame
        for name in list(self.hist_items):
            if name not in frame.names:  # an estimator switched off: remove its items
                self.hist_plot.removeItem(self.hist_items.pop(name))
                self.hist_plot.legend.removeItem(name)
                self.hist_plot.removeItem(self.mean_lines.pop(name))
                self.var_plot.removeItem(self.var_items.pop(name))
        for i, name in enumerate(frame.names):
            color = self._color(name)
            if name not in self.hist_items:
                self.hist_items[name] = self.hist_plot.plot(
                    name=name,
                    stepMode="center",
                    fillLevel=0,
                    pen=pg.mkPen(color, width=2),
                    brush=pg.mkBrush(*color, 60),
                )
                self.mean_lines[name] = pg.InfiniteLine(
                    angle=90, pen=pg.mkPen(color, width=1.5, style=Qt.PenStyle.DashLine)
                )
                self.hist_plot.addItem(self.mean_lines[name])
                self.var_items[name] = self.var_plot.plot(
                    pen=pg.mkPen(color, width=2), symbol="o", symbolSize=5, symbolBrush=color, symbolPen=None
                )
            self.hist_items[name].setData(frame.edges, frame.counts[i])
            self.mean_lines[name].setValue(float(frame.means[i]))
            ok = np.isfinite(frame.variance_curves[i]) & (frame.variance_curves[i] > 0)
            self.var_items[name].setData(frame.sizes[ok].astype(float), frame.variance_curves[i][ok])
        self.exact_line.setValue(frame.exact)
        self.hist_plot.setLabel(
            "bottom", f"{frame.label}   (dashed: mean of n = {frame.n:,}; white: exact {frame.exact:.4g})"
        )
        self.hist_plot.setXRange(frame.edges[0], frame.edges[-1], padding=0.02)
        self.hist_plot.enableAutoRange(axis="y")

    def show_race(self, frame: task.RaceFrame) -> None:
        for name in list(self.race_items):
            if name not in frame.curves:
                self.race_plot.removeItem(self.race_items.pop(name))
                self.race_plot.legend.removeItem(name)
        for name, curve in frame.curves.items():
            if name not in self.race_items:
                exact = name == "exact gradient"
                pen = (
                    pg.mkPen("w", width=2, style=Qt.PenStyle.DashLine)
                    if exact
                    else pg.mkPen(self._color(name), width=2)
                )
                self.race_items[name] = self.race_plot.plot(name=name, pen=pen)
            self.race_items[name].setData(frame.steps.astype(float), curve)


class SimplexView(ExportableView):
    """The 2-simplex: corners are the one-hot classes; samples as a scatter coloured by their Gumbel-max
    class; the probabilities p = softmax(theta) as a draggable target (dragging sets the logits)."""

    probs_dragged = Signal(object)  # (3,) barycentric point under the target

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.plot_widget = plot_widget(title="Gumbel-Softmax samples on the simplex")
        plot = self.plot_widget.getPlotItem()
        plot.setAspectLocked(True)
        plot.hideAxis("left")
        plot.hideAxis("bottom")
        outline = np.vstack([task.CORNERS, task.CORNERS[:1]])
        plot.plot(outline[:, 0], outline[:, 1], pen=pg.mkPen((200, 200, 200), width=2))
        self.brushes = [pg.mkBrush(*c, 110) for c in CLASS_COLORS]
        # One scatter per Gumbel-max class, each with its one brush: a list of per-point brushes made
        # pyqtgraph style every point in Python on each redraw (tens of ms for 3,000 points, at every
        # step of a drag of the target or of the tau slider).
        self.scatters = [pg.ScatterPlotItem(size=4, pen=None, brush=b) for b in self.brushes]
        for scatter in self.scatters:
            plot.addItem(scatter)
        self._order = np.zeros(0, dtype=np.int64)   # sample index of each drawn point, class by class
        self.soft_mean = pg.ScatterPlotItem(size=14, symbol="x", pen=pg.mkPen("y", width=2), brush=None)
        plot.addItem(self.soft_mean)
        offsets = [(-0.06, -0.06), (0.06, -0.06), (0, 0.07)]
        for k, (corner, offset) in enumerate(zip(task.CORNERS, offsets, strict=True)):
            label = pg.TextItem(f"class {k}", color=CLASS_COLORS[k], anchor=(0.5, 0.5))
            label.setPos(corner[0] + offset[0], corner[1] + offset[1])
            plot.addItem(label)
        self.target = pg.TargetItem(
            pos=(0.5, 0.29),
            size=16,
            pen=pg.mkPen("w", width=2),
            movable=True,
            label="p = softmax(theta)",
            labelOpts={"color": "w", "offset": (12, -12)},
        )
        plot.addItem(self.target)
        self.target.sigPositionChanged.connect(self._on_drag)
        plot.setXRange(-0.12, 1.12)
        plot.setYRange(-0.12, 0.98)
        self._moving = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot_widget)

    def show_samples(self, samples: task.SimplexSamples, tau: float, hard: bool) -> None:
        xy = task.simplex_xy(samples.soft)
        classes = np.asarray(samples.hard)
        self._order = np.argsort(classes, kind="stable")
        for k, scatter in enumerate(self.scatters):
            points = xy[classes == k]
            scatter.setData(points[:, 0], points[:, 1])
        mean = task.simplex_xy(samples.soft_mean[None])[0]
        self.soft_mean.setData([mean[0]], [mean[1]])
        self._moving = True
        self.target.setPos(*task.simplex_xy(samples.probs[None])[0])
        self._moving = False
        what = (
            "straight-through: one-hot forward values" if hard else f"Gumbel-Softmax samples, tau = {tau:.3g}"
        )
        self.plot_widget.getPlotItem().setTitle(f"{what} (x: mean)")

    def clear_samples(self) -> None:
        for scatter in self.scatters:
            scatter.setData([], [])
        self._order = np.zeros(0, dtype=np.int64)

    def drawn_xy(self) -> np.ndarray:
        """The drawn points in the samples' order."""
        drawn = np.concatenate([np.column_stack(s.getData()) for s in self.scatters]).reshape(-1, 2)
        out = np.empty_like(drawn)
        out[self._order] = drawn
        return out

    def _on_drag(self) -> None:
        if not self._moving:
            pos = self.target.pos()
            self.probs_dragged.emit(task.xy_to_probs(np.array([pos.x(), pos.y()])))


class CodeGrid(ExportableView):
    """The categorical code as an N x K grid (one lit cell per variable); clicking cell (n, k) sets
    variable n to class k. Beside it: the image decoded from the code, and that code with the selected
    variable set to each of the K classes."""

    cell_clicked = Signal(int, int)  # variable, class

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        # Two layout widgets in a stretch 3:2 column: code + decoded image on top, the K variations below.
        self.layout_widget = pg.GraphicsLayoutWidget()
        self.layout_widget.addLabel("code (click a cell)", row=0, col=0)
        self.layout_widget.addLabel("decoded image", row=0, col=1)
        self.grid_view = self.layout_widget.addViewBox(row=1, col=0, lockAspect=True, invertY=True)
        self.grid_image = pg.ImageItem()
        self.grid_view.addItem(self.grid_image)
        self.decoded_view = self.layout_widget.addViewBox(row=1, col=1, lockAspect=True, invertY=True)
        self.decoded_image = pg.ImageItem()
        self.decoded_view.addItem(self.decoded_image)
        self.strip_widget = pg.GraphicsLayoutWidget()
        self.strip_label = self.strip_widget.addLabel("the selected variable set to each class", row=0, col=0)
        self.strip_view = self.strip_widget.addViewBox(row=1, col=0, lockAspect=True, invertY=True)
        self.strip_image = pg.ImageItem()
        self.strip_view.addItem(self.strip_image)
        for view in (self.grid_view, self.decoded_view, self.strip_view):
            view.setMouseEnabled(False, False)
        self.grid_image.mouseClickEvent = self._click
        self.code = np.zeros(0, np.int64)
        self.classes = 0
        self.selected = 0
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.layout_widget, 3)
        layout.addWidget(self.strip_widget, 2)

    def set_code(self, code: np.ndarray, classes: int, selected: int) -> None:
        self.code, self.classes, self.selected = np.asarray(code).copy(), classes, selected
        cells = np.full((len(code), classes), 0.15)
        cells[selected] = 0.35  # the selected variable's row
        cells[np.arange(len(code)), code] = 1.0
        self.grid_image.setImage(cells.T, levels=(0, 1))  # ImageItem is (x, y): x = class, y = variable
        self.grid_view.autoRange(padding=0.02)
        self.strip_label.setText(f"variable {selected} set to class 0 .. {classes - 1}")

    def set_images(self, image: np.ndarray, variations: np.ndarray) -> None:
        self.decoded_image.setImage(image.T, levels=(0, 1))
        # One row of K images with a 1-pixel gap; a row of 10 at 8x8 reads better as 2 rows of 5.
        k = len(variations)
        sheet = tile(variations, columns=k if k <= 6 else (k + 1) // 2)
        self.strip_sheet = sheet
        self.strip_image.setImage(sheet.T, levels=(0, 1))
        self.decoded_view.autoRange(padding=0.02)
        self.strip_view.autoRange(padding=0.02)

    def _click(self, ev) -> None:
        pos = ev.pos()
        k, n = int(pos.x()), int(pos.y())
        if 0 <= n < len(self.code) and 0 <= k < self.classes:
            ev.accept()
            self.cell_clicked.emit(n, k)
