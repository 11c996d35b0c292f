"""The 3D tab's representations part: the same object as multi-view depth images (with view
pooling), a voxel grid, points, and a k-nearest-neighbour graph, side by side. Each panel is a 2D
pyqtgraph plot through one fixed oblique camera and redraws live when its slider moves."""

from __future__ import annotations

from functools import partial

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QLabel, QSlider, QVBoxLayout, QWidget

from lab_app.core.tiling import tile
from lab_app.qt.widgets.export import ExportableView
from lab_app.qt.widgets.plots import add_plot
from lab_app.qt.worker import TaskRunner
from lab_app.topics.pointcloud import representations as rep

IDEA = (
    "<b>Four ways to feed one object to a network.</b> <i>Views</i>: render K depth images and pool a "
    "CNN's per-view features with max (MVCNN). <i>Voxels</i>: an r&times;r&times;r occupancy grid for 3D "
    "convolutions; memory and compute grow with r<sup>3</sup> while the surface fills only ~r<sup>2</sup> "
    "cells. <i>Points</i>: the raw set (PointNet). <i>Graph</i>: join each point to its k nearest "
    "neighbours (DGCNN, graph/mesh networks).")


PARTS = ("views", "voxels", "graph")


def _human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def _slider(lo: int, hi: int, value: int) -> QSlider:
    s = QSlider(Qt.Orientation.Horizontal)
    s.setRange(lo, hi)
    s.setValue(value)
    return s


#: Depth shading in a few shared brushes, not one per point: pyqtgraph renders each distinct brush
#: into its symbol atlas, so a brush per point made every redraw of the 1,024 points a stall (seen in
#: ``ui_stalls --trace``). 32 steps of brightness read as a smooth gradient.
_SHADES = np.linspace(0.0, 1.0, 32)
_POINT_BRUSHES = [pg.mkBrush(int(60 + 195 * d), int((60 + 195 * d) * 0.8), 90, 255) for d in _SHADES]
_VOXEL_BRUSHES = [pg.mkBrush(int((70 + 185 * d) * 0.5), int((70 + 185 * d) * 0.8), int(70 + 185 * d), 255)
                  for d in _SHADES]


def _shaded(depth: np.ndarray, brushes: list) -> list:
    """The brush of each depth in [0, 1] (1 = near: brightest)."""
    steps = np.clip(np.rint(np.asarray(depth) * (len(brushes) - 1)), 0, len(brushes) - 1).astype(int)
    return [brushes[k] for k in steps]


class RepresentationsPanel(ExportableView):
    def __init__(self, runner: TaskRunner, parent: QWidget | None = None):
        super().__init__(parent)
        self.runner = runner
        self.runner.finished.connect(self._on_computed)
        self._cloud: np.ndarray | None = None      # the cloud asked for (drawn once computed)
        self._wanted: set[str] = set()
        self.points: np.ndarray | None = None      # the cloud drawn
        self.multiview: rep.MultiView | None = None
        self.voxels: rep.Voxels | None = None
        self.edges = np.zeros((0, 2), np.int64)

        idea = QLabel(IDEA)
        idea.setWordWrap(True)
        idea.setStyleSheet("QLabel { background:#1d2330; color:#dfe6f3; padding:6px; border-radius:4px; }")
        self.glw = pg.GraphicsLayoutWidget()
        self.view_plot = self._plot(0, "Multi-view depth (K views + pooled)")
        self.voxel_plot = self._plot(1, "Voxels")
        self.point_plot = self._plot(2, "Points")
        self.graph_plot = self._plot(3, "k-NN graph")
        self.view_image = pg.ImageItem(axisOrder="row-major")
        self.view_image.setLookupTable(pg.colormap.get("magma").getLookupTable(nPts=256))
        self.view_plot.addItem(self.view_image)
        self.voxel_item = pg.ScatterPlotItem(symbol="s", pxMode=False, pen=pg.mkPen(20, 20, 30, 160))
        self.voxel_plot.addItem(self.voxel_item)
        self.point_item = pg.ScatterPlotItem(size=3, pen=None)
        self.point_plot.addItem(self.point_item)
        self.edge_item = pg.PlotDataItem(connect="pairs", pen=pg.mkPen(120, 170, 230, 110, width=1))
        self.graph_plot.addItem(self.edge_item)
        self.node_item = pg.ScatterPlotItem(size=3, pen=None, brush=pg.mkBrush(240, 240, 250))
        self.graph_plot.addItem(self.node_item)

        self.views_slider = _slider(1, 12, 6)
        self.res_slider = _slider(4, 64, 16)
        self.k_slider = _slider(1, 24, 6)
        self.views_label, self.voxel_label, self.point_label, self.graph_label = (QLabel() for _ in range(4))
        controls = QGridLayout()
        for col, (name, slider, label) in enumerate((
                ("Views K", self.views_slider, self.views_label), ("Resolution r", self.res_slider, self.voxel_label),
                (None, None, self.point_label), ("Neighbours k", self.k_slider, self.graph_label))):
            if slider is not None:
                controls.addWidget(QLabel(name), 0, 2 * col)
                controls.addWidget(slider, 0, 2 * col + 1)
            label.setWordWrap(True)
            label.setAlignment(Qt.AlignmentFlag.AlignTop)
            controls.addWidget(label, 1, 2 * col, 1, 2)
        self.views_slider.valueChanged.connect(lambda *_: self._want("views"))
        self.res_slider.valueChanged.connect(lambda *_: self._want("voxels"))
        self.k_slider.valueChanged.connect(lambda *_: self._want("graph"))

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(idea)
        lay.addWidget(self.glw, 1)
        lay.addLayout(controls)

    def _plot(self, col: int, title: str) -> pg.PlotItem:
        p = add_plot(self.glw, row=0, col=col, title=title)
        p.setAspectLocked(True)
        p.hideAxis("left")
        p.hideAxis("bottom")
        p.setMouseEnabled(x=False, y=False)
        p.hideButtons()
        return p

    # --- data ------------------------------------------------------------------------------------------
    # The representations are computed in the panel's runner (representations.compute); a slider asks
    # for its part again. Parts still wanted are asked for together, so a newer run that cancels an
    # older one (latest wins) still makes what the older one would have.
    def set_cloud(self, points: np.ndarray) -> None:
        """Show a normalised cloud (N, 3) in all four representations (computed in the runner)."""
        self._cloud = np.asarray(points, np.float32)
        self._wanted = set(PARTS)
        self._compute()

    def _want(self, part: str) -> None:
        if self._cloud is None:
            return
        self._wanted.add(part)
        self._compute()

    def _compute(self) -> None:
        self.runner.start(partial(rep.compute, self._cloud, frozenset(self._wanted), self.views_slider.value(),
                                  self.res_slider.value(), self.k_slider.value()), label="representations")

    def _on_computed(self, result) -> None:
        if not isinstance(result, rep.Computed) or not _same(result.points, self._cloud):
            return
        self._wanted -= result.parts
        if not _same(self.points, result.points):
            self._draw_points(result)
        if result.multiview is not None:
            self._draw_views(result.multiview)
        if result.voxels is not None:
            self._draw_voxels(result)
        if result.edges is not None:
            self._draw_graph(result.edges)

    def _draw_points(self, c: rep.Computed) -> None:
        self.points, self.xy, self.depth = c.points, c.xy, c.depth
        order = np.argsort(self.depth)           # far first: near points paint over far ones
        self.point_item.setData(pos=self.xy[order], brush=_shaded(self.depth[order], _POINT_BRUSHES))
        self.point_label.setText(f"{len(self.points):,} points x 3 floats = {_human_bytes(self.points.nbytes)}; "
                                 "unordered, no grid")
        self.node_item.setData(pos=self.xy)
        for p in (self.point_plot, self.graph_plot, self.voxel_plot):
            p.setRange(xRange=(-1.05, 1.05), yRange=(-1.05, 1.05), padding=0)

    def _draw_views(self, mv: rep.MultiView) -> None:
        self.multiview = mv
        k = len(mv.depths)
        images = np.concatenate([mv.depths, mv.pooled[None]])
        columns = int(np.ceil(np.sqrt(len(images))))
        self.view_image.setImage(tile(images, columns, gap=2, fill=-0.2), levels=(-0.2, 1.0), autoLevels=False)
        h, w = self.view_image.image.shape
        self.view_plot.setRange(xRange=(0, w), yRange=(0, h), padding=0.02)
        self.view_plot.getViewBox().invertY(True)
        self.views_label.setText(f"{k} views of {mv.depths.shape[1]}x{mv.depths.shape[2]} every "
                                 f"{360 / k:.0f} deg; last tile: view pooling (max over the {k})")

    def _draw_voxels(self, c: rep.Computed) -> None:
        self.voxels = vox = c.voxels
        order = np.argsort(c.voxel_depth)
        self.voxel_item.setData(pos=c.voxel_xy[order], size=vox.size * 1.05,
                                brush=_shaded(c.voxel_depth[order], _VOXEL_BRUSHES))
        gflop = 2 * vox.conv_flops() / 1e9
        self.voxel_label.setText(
            f"r = {vox.resolution}: {vox.occupied:,} of {vox.cells:,} cells occupied "
            f"({vox.occupied / vox.cells:.1%}); dense grid {_human_bytes(vox.dense_bytes())}; "
            f"one 3x3x3 conv 32->32: {gflop:.2f} GFLOP (~r^3)")

    def _draw_graph(self, edges: np.ndarray) -> None:
        self.edges = edges
        seg = self.xy[edges.reshape(-1)]
        self.edge_item.setData(seg[:, 0], seg[:, 1])
        k = self.k_slider.value()
        self.graph_label.setText(f"k = {k}: {len(edges):,} edges between {len(self.points):,} points "
                                 "(KD-tree)")


def _same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    """The same cloud: the worker process hands back a copy of the points it was given."""
    return a is b or (a is not None and b is not None and a.shape == b.shape and np.array_equal(a, b))
