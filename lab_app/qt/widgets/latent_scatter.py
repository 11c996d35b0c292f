"""LatentScatter: a 2D scatter of 10^5 points coloured by class, drawn as one raster image.

pyqtgraph's ScatterPlotItem.setData builds per-point records and QPainter fragments, far too slow
for tens of thousands of points redrawn every training step (``python -m benchmarks scatter_frame``
compares the two; the README has its figures). So this widget rasterises the points itself: each
point is mapped to the device-pixel grid of the current view, class colours are written into an RGBA
buffer by numpy fancy indexing, and one ImageItem whose rect equals the view range shows the buffer. Panning, zooming or resizing schedules
one re-render (coalesced through a zero-interval single-shot timer), so a burst of range changes costs
one frame. No graphics item is created per frame.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, QTimer, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from lab_app.io.atomic import atomic_save, atomic_write_text
from lab_app.qt.widgets.export import ExportableView
from lab_app.qt.widgets.plots import plot_widget

# tab20 reordered so the first ten are tab10: the first classes get the most distinct colours.
CLASS_COLORS: np.ndarray = np.array(
    [
        (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
        (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
        (174, 199, 232), (255, 187, 120), (152, 223, 138), (255, 152, 150), (197, 176, 213),
        (196, 156, 148), (247, 182, 210), (199, 199, 199), (219, 219, 141), (158, 218, 229),
    ],
    dtype=np.uint8,
)
UNLABELLED_COLOR = (90, 90, 90)  # labels < 0 ("noise", "unknown")

HOVER_RADIUS_PX = 8.0
STAMP_PAD = 3  # >= hi - lo of the largest stamp (4 px: offsets -1..2), see render_now


def class_color(index: int) -> tuple[int, int, int]:
    """RGB of class ``index``; the palette repeats after 20 classes, negative labels are grey."""
    if index < 0:
        return UNLABELLED_COLOR
    r, g, b = CLASS_COLORS[index % len(CLASS_COLORS)]
    return int(r), int(g), int(b)


def stamp_offsets(size: int) -> list[tuple[int, int]]:
    """Pixel offsets that draw one point of ``size`` px: a square up to 3 px, a disc-like 4x4 beyond."""
    lo, hi = -((size - 1) // 2), size // 2
    offsets = [(dx, dy) for dy in range(lo, hi + 1) for dx in range(lo, hi + 1)]
    if size >= 4:  # drop the corners so big points look round, not square
        corners = {(lo, lo), (lo, hi), (hi, lo), (hi, hi)}
        offsets = [o for o in offsets if o not in corners]
    return offsets


def finite_bounds(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(min, max) over the finite rows of ``xy`` (N, 2), or None when there are none."""
    # Per-column reductions on strided views beat xy.min(axis=0), which walks (N, 2) row by row.
    lo = np.array([xy[:, 0].min(), xy[:, 1].min()]) if len(xy) else None
    hi = np.array([xy[:, 0].max(), xy[:, 1].max()]) if len(xy) else None
    if lo is not None and np.isfinite(lo).all() and np.isfinite(hi).all():
        return lo, hi
    finite = xy[np.isfinite(xy).all(axis=1)]  # rare: NaN/inf present, take the slow masked path
    if len(finite) == 0:
        return None
    return finite.min(axis=0), finite.max(axis=0)


def present_labels(labels: np.ndarray) -> np.ndarray:
    """Sorted distinct labels; bincount instead of np.unique (a sort) when the range is small."""
    if len(labels) == 0:
        return labels
    lo, hi = int(labels.min()), int(labels.max())
    if hi - lo > 1_000_000:
        return np.unique(labels)
    return np.flatnonzero(np.bincount(labels - lo)) + lo


class LatentScatter(ExportableView):
    """Scatter of ``(N, 2)`` points coloured by integer label, fast for N >= 100k.

    Signals: ``hovered(index)`` when the point under the mouse changes (-1: none within 8 px),
    ``clicked(index)`` on a left click (-1: empty space).
    """

    hovered = Signal(int)
    clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None, point_size: int = 2, opacity: float = 1.0):
        super().__init__(parent)
        self.plot_widget = plot_widget()
        self.plot_item = self.plot_widget.getPlotItem()
        self.view_box = self.plot_item.getViewBox()
        self.view_box.disableAutoRange()

        # The raster does not count for auto-range (its rect *is* the view range: a feedback loop);
        # an invisible two-point curve spanning the data does, so pyqtgraph's "A" button and
        # "View All" menu entry range to the data like for any other item.
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.view_box.addItem(self.image_item, ignoreBounds=True)
        self._bounds_item = pg.PlotCurveItem(pen=pg.mkPen(0, 0, 0, 0))
        self.view_box.addItem(self._bounds_item)
        self._hover_marker = pg.ScatterPlotItem(size=10, pen=pg.mkPen("w", width=1.5), brush=None)
        self._hover_marker.setZValue(10)
        self.view_box.addItem(self._hover_marker, ignoreBounds=True)

        self.legend_label = QLabel()
        self.legend_label.setWordWrap(True)
        self.legend_label.hide()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.plot_widget, 1)
        layout.addWidget(self.legend_label)

        self._xy = np.zeros((0, 2), np.float32)
        self._labels: np.ndarray | None = None
        self._class_names: list[str] = []
        self._point_rgba = np.zeros(0, np.uint32)  # packed RGBA per point, computed once per setData
        self._point_size = int(np.clip(point_size, 1, 4))
        self._buffer = np.zeros((0, 0, 4), np.uint8)  # what the image item shows
        self._canvas = np.zeros((0, 0), np.uint32)  # the same, padded, as packed RGBA
        self._data_bounds: tuple[np.ndarray, np.ndarray] | None = None  # finite (min, max) of xy
        self._has_ranged = False
        self._hover_index = -1
        # Hover: the view of the last render (x0, x1, y0, y1, width, height) and a KD-tree over the
        # points' pixel positions in it, built lazily on the first hover after a render, since
        # building it (tens of ms for 10^5 points) every frame would cost more than the render.
        self._render_view: tuple[float, float, float, float, int, int] | None = None
        self._tree = None
        self._tree_index: np.ndarray | None = None
        self.last_render_ms = 0.0

        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.setInterval(0)
        self._render_timer.timeout.connect(self.render_now)
        self.view_box.sigRangeChanged.connect(self._schedule_render)
        self.view_box.sigResized.connect(self._schedule_render)
        scene = self.plot_widget.scene()
        scene.sigMouseMoved.connect(self._on_mouse_moved)
        scene.sigMouseClicked.connect(self._on_mouse_clicked)
        self.set_opacity(opacity)

    # ----------------------------------------------------------------- data
    def setData(self, xy, labels=None, class_names=None, follow: bool = False) -> None:
        """Show ``xy`` (N, 2) coloured by ``labels`` (N,) ints; ``class_names[i]`` names label i.

        The first call ranges the view to the data; later calls keep the user's zoom unless
        ``follow`` is true. Non-finite points are kept (indices stay aligned) but not drawn.
        """
        xy = np.asarray(xy, dtype=np.float32)
        if xy.ndim != 2 or xy.shape[1] != 2:
            raise ValueError(f"xy must have shape (N, 2), got {xy.shape}")
        if labels is not None:
            labels = np.asarray(labels).astype(np.int64, copy=False).reshape(-1)
            if len(labels) != len(xy):
                raise ValueError(f"{len(labels)} labels for {len(xy)} points")
        same_classes = (
            labels is not None and self._labels is not None and np.array_equal(labels, self._labels)
            and (class_names is None or list(class_names) == self._class_names)
        )
        self._xy = xy
        self._labels = labels
        if not same_classes:  # during training only the coordinates move: skip colours and legend
            self._point_rgba = self._pack_colors(labels, len(xy))
            self._update_legend(labels, class_names)
        self._data_bounds = finite_bounds(xy)
        self._update_bounds_item()
        self._tree = None
        if self._hover_index >= len(xy):  # indices name samples: a hovered sample stays hovered
            self._set_hover(-1)
        if follow or not self._has_ranged:
            self.auto_range()  # emits sigRangeChanged -> schedules the render
        self._schedule_render()

    def data(self) -> tuple[np.ndarray, np.ndarray | None]:
        """The points and labels currently shown."""
        return self._xy, self._labels

    def clear(self) -> None:
        self.setData(np.zeros((0, 2), np.float32))

    def auto_range(self) -> None:
        """Fit the view to the finite points (a little padding so edge points stay visible)."""
        if self._data_bounds is None:
            return
        lo, hi = (b.astype(float) for b in self._data_bounds)
        span = np.maximum(hi - lo, 1e-6)
        lo, hi = lo - 0.02 * span, hi + 0.02 * span  # padding explicit: setRange's default is view-size based
        self.view_box.setRange(xRange=(lo[0], hi[0]), yRange=(lo[1], hi[1]), padding=0.0)
        self._has_ranged = True

    def set_point_size(self, size: int) -> None:
        """Point size in device pixels, 1 to 4."""
        self._point_size = int(np.clip(size, 1, 4))
        self._schedule_render()

    def set_opacity(self, opacity: float) -> None:
        """Opacity of all points (0..1); applied to the image item, so no re-render."""
        self.image_item.setOpacity(float(np.clip(opacity, 0.0, 1.0)))

    # --------------------------------------------------------------- render
    def _schedule_render(self, *_args) -> None:
        self._render_timer.start()  # restarting an active single-shot timer coalesces the burst

    def render_now(self) -> float:
        """Rasterise the points for the current view range and size now; returns the time in ms."""
        start = time.perf_counter()
        self._render_timer.stop()
        (x0, x1), (y0, y1) = self.view_box.viewRange()
        dpr = self.plot_widget.devicePixelRatioF()
        size = self.view_box.size()
        width, height = max(1, round(size.width() * dpr)), max(1, round(size.height() * dpr))
        self._render_view = (x0, x1, y0, y1, width, height)
        self._tree = None

        # Draw into a canvas padded by STAMP_PAD px on each side, so stamps of points near the edge need
        # no per-offset bounds test: one "inside" filter, then one scatter per stamp offset.
        pad = STAMP_PAD
        padded_w, padded_h = width + 2 * pad, height + 2 * pad
        if self._canvas.shape != (padded_h, padded_w):
            self._canvas = np.zeros((padded_h, padded_w), np.uint32)
            self._buffer = np.zeros((height, width, 4), np.uint8)
        else:
            self._canvas.fill(0)
        # float64 so deep zooms into float32 data still place points on the right pixel;
        # row 0 is y0 because the image rect starts at y0.
        px = np.subtract(self._xy[:, 0], x0, dtype=np.float64) * (width / (x1 - x0))
        py = np.subtract(self._xy[:, 1], y0, dtype=np.float64) * (height / (y1 - y0))
        # NaN and inf compare False, so non-finite points drop out here; so do points far outside
        # (deep zoom), before the int cast could overflow.
        # Keep the points whose stamp touches the view: offsets span [lo, hi], so a point at pixel p
        # covers p+lo .. p+hi. With STAMP_PAD >= hi - lo every stamp index stays inside the canvas.
        offsets = stamp_offsets(self._point_size)
        lo = min(min(o) for o in offsets)
        hi = max(max(o) for o in offsets)
        visible = np.flatnonzero((px >= -hi) & (px < width - lo) & (py >= -hi) & (py < height - lo))
        col = (px[visible] + pad).astype(np.int32)  # truncation == floor: the values are >= 0 here
        row = (py[visible] + pad).astype(np.int32)
        base = row * padded_w + col
        colors = self._point_rgba[visible]
        canvas = self._canvas.reshape(-1)
        for dx, dy in offsets:
            canvas[base + (dy * padded_w + dx)] = colors
        self._buffer.view(np.uint32)[:, :, 0] = self._canvas[pad:-pad, pad:-pad]

        self.image_item.setImage(self._buffer, autoLevels=False)
        self.image_item.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
        if self._hover_index >= 0:  # the hovered point may have moved with the new data
            self._update_hover_marker()
        self.last_render_ms = (time.perf_counter() - start) * 1000.0
        return self.last_render_ms

    def rendered_rgba(self) -> np.ndarray:
        """The last rendered raster, (H, W, 4) uint8, row 0 at the bottom of the view (y0)."""
        return self._buffer

    def view_to_pixel(self, x: float, y: float) -> tuple[int, int]:
        """(row, col) of the raster pixel that holds view point (x, y) in the last render."""
        if self._render_view is None:
            raise RuntimeError("nothing rendered yet")
        x0, x1, y0, y1, width, height = self._render_view
        return int(np.floor((y - y0) * height / (y1 - y0))), int(np.floor((x - x0) * width / (x1 - x0)))

    # ---------------------------------------------------------------- hover
    def index_at(self, x: float, y: float, radius_px: float = HOVER_RADIUS_PX) -> int:
        """Index of the point nearest to view point (x, y) within ``radius_px`` pixels, else -1.

        Distances are measured in screen pixels, not data units, so "near" means the same thing
        whatever the zoom and aspect ratio.
        """
        tree = self._hover_tree()
        if tree is None:
            return -1
        x0, x1, y0, y1, width, height = self._render_view
        query = ((x - x0) * width / (x1 - x0), (y - y0) * height / (y1 - y0))
        dpr = self.plot_widget.devicePixelRatioF()
        dist, k = tree.query(query, k=1, distance_upper_bound=radius_px * dpr)
        if not np.isfinite(dist):
            return -1
        return int(self._tree_index[k])

    def _hover_tree(self):
        if self._render_view is None or len(self._xy) == 0:
            return None
        if self._tree is None:
            from scipy.spatial import cKDTree  # imported on first hover: keeps widget import light

            x0, x1, y0, y1, width, height = self._render_view
            pixel_xy = (self._xy.astype(np.float64) - (x0, y0)) * (width / (x1 - x0), height / (y1 - y0))
            finite = np.flatnonzero(np.isfinite(pixel_xy).all(axis=1))
            if len(finite) == 0:
                return None
            self._tree_index = finite
            self._tree = cKDTree(pixel_xy[finite])
        return self._tree

    def _on_mouse_moved(self, scene_pos) -> None:
        if not self.view_box.sceneBoundingRect().contains(scene_pos):
            self._set_hover(-1)
            return
        p = self.view_box.mapSceneToView(scene_pos)
        self._set_hover(self.index_at(p.x(), p.y()))

    def _on_mouse_clicked(self, event) -> None:
        if event.button() != pg.QtCore.Qt.MouseButton.LeftButton or event.double():
            return
        scene_pos = event.scenePos()
        if not self.view_box.sceneBoundingRect().contains(scene_pos):
            return
        p = self.view_box.mapSceneToView(scene_pos)
        self.clicked.emit(self.index_at(p.x(), p.y()))

    def _set_hover(self, index: int) -> None:
        if index == self._hover_index:
            return
        self._hover_index = index
        self._update_hover_marker()
        self.hovered.emit(index)

    def _update_hover_marker(self) -> None:
        i = self._hover_index
        if 0 <= i < len(self._xy):
            self._hover_marker.setData(pos=self._xy[i : i + 1])
        else:
            self._hover_marker.setData(pos=np.zeros((0, 2)))

    # --------------------------------------------------------------- colour
    def _pack_colors(self, labels: np.ndarray | None, n: int) -> np.ndarray:
        """Per-point RGBA packed into uint32 (memory order R, G, B, A), via a per-label lookup."""
        if labels is None or n == 0:
            lut_index = np.zeros(n, np.int64)
            n_lut = 1
        else:
            n_lut = int(max(labels.max(), 0)) + 1
            lut_index = np.where(labels < 0, n_lut, labels)  # the extra last entry is "unlabelled"
        lut = np.empty((n_lut + 1, 4), np.uint8)
        for k in range(n_lut):
            lut[k, :3] = class_color(k)
        lut[n_lut, :3] = UNLABELLED_COLOR
        lut[:, 3] = 255
        return lut.view(np.uint32).reshape(-1)[lut_index]

    def _update_legend(self, labels: np.ndarray | None, class_names) -> None:
        if labels is None or len(labels) == 0:
            self._class_names = list(class_names or [])
            self.legend_label.hide()
            return
        present = present_labels(labels)
        names = list(class_names) if class_names is not None else []
        self._class_names = names
        shown = [k for k in range(len(names))] if names else [int(k) for k in present if k >= 0]
        parts = []
        for k in shown:
            r, g, b = class_color(k)
            name = names[k] if k < len(names) else str(k)
            parts.append(f"<span style='color:#{r:02x}{g:02x}{b:02x}'>&#9632;</span>&nbsp;{name}")
        if (present < 0).any():
            r, g, b = UNLABELLED_COLOR
            parts.append(f"<span style='color:#{r:02x}{g:02x}{b:02x}'>&#9632;</span>&nbsp;unlabelled")
        html = " &nbsp; ".join(parts)
        if html != self.legend_label.text():  # the same classes every frame: no relayout
            self.legend_label.setText(html)
        self.legend_label.setVisible(bool(parts))

    def legend_entries(self) -> list[tuple[str, tuple[int, int, int]]]:
        """(name, RGB) of each class in the legend."""
        if self._labels is None:
            return []
        if self._class_names:
            return [(name, class_color(k)) for k, name in enumerate(self._class_names)]
        return [(str(int(k)), class_color(int(k))) for k in present_labels(self._labels) if k >= 0]

    def _update_bounds_item(self) -> None:
        if self._data_bounds is None:
            self._bounds_item.setData([], [])
            return
        lo, hi = self._data_bounds
        self._bounds_item.setData([lo[0], hi[0]], [lo[1], hi[1]])

    # --------------------------------------------------------------- export
    def before_export(self) -> None:
        if self._render_timer.isActive():
            self.render_now()

    def export_data(self, path: str | Path) -> Path:
        """Write the points: ``.npy`` as (N, 3) float32 [x, y, label], otherwise CSV x,y,label,class."""
        path = Path(path)
        labels = self._labels if self._labels is not None else np.full(len(self._xy), -1)
        if path.suffix.lower() == ".npy":
            table = np.column_stack([self._xy, labels.astype(np.float32)]).astype(np.float32)
            return atomic_save(path, lambda tmp: np.save(tmp, table), suffix=".npy")
        names = self._class_names
        lines = ["x,y,label,class"]
        for (x, y), k in zip(self._xy.tolist(), labels.tolist(), strict=True):
            name = names[k] if 0 <= k < len(names) else ""
            lines.append(f"{x:.7g},{y:.7g},{k},{_csv_field(name)}")
        atomic_write_text(path, "\n".join(lines) + "\n")
        return path


def _csv_field(text: str) -> str:
    if any(c in text for c in ',"\n'):
        return '"' + text.replace('"', '""') + '"'
    return text
