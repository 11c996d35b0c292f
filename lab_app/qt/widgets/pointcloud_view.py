"""PointCloudView: a 3D point cloud in a pyqtgraph 3D view (gl_window.py), fast enough for millions of points.

Why it is shaped like this (measured under Xvfb + Mesa llvmpipe, see benchmarks/gl_frame.py):
- GLScatterPlotItem uploads its arrays to VBOs once, on the first paint after ``setData``; later frames
  only re-issue one glDrawArrays. So every item is created once and fed float32 C-contiguous arrays.
- On software GL the per-frame cost grows with the number of vertices drawn, so a big cloud keeps a
  random permutation of its points: the FULL item draws all of them, the LOD item draws the first
  ``lod_points`` of the same permuted arrays (a contiguous prefix, i.e. a uniform random subsample,
  no copy). While the user drags, scrolls or ``orbit()`` is called, only the LOD item is visible; a
  single-shot timer shows the full item again once the interaction settles.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph.opengl as gl
from OpenGL import GL
from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QVector3D
from PySide6.QtWidgets import QVBoxLayout, QWidget

from lab_app.core.colormaps import height_colors, permute_rows
from lab_app.io.atomic import atomic_path
from lab_app.qt.widgets.export import ExportableView, rgba_array, save_qimage
from lab_app.qt.widgets.gl_window import GLHost

# Points are opaque and depth-tested: pyqtgraph's default 'additive' mode would saturate dense clouds
# to white and ignore occlusion.
_CLOUD_GL = "opaque"
# The highlight overlay ignores depth so critical points stay visible through the cloud.
_OVERLAY_GL = {
    GL.GL_DEPTH_TEST: False,
    GL.GL_BLEND: True,
    GL.GL_CULL_FACE: False,
    "glBlendFunc": (GL.GL_SRC_ALPHA, GL.GL_ONE_MINUS_SRC_ALPHA),
}

#: Points drawn at full detail on software OpenGL (about 0.4 s a frame with llvmpipe on 2 cores).
SOFTWARE_STILL_POINTS = 1_000_000

_INTERACTION_EVENTS = {QEvent.Type.MouseButtonPress, QEvent.Type.MouseMove, QEvent.Type.Wheel,
                       QEvent.Type.KeyPress}


def as_rgba(colors: np.ndarray, n: int) -> np.ndarray:
    """Per-point colours as float32 C-contiguous (n, 4), the layout GLScatterPlotItem's VBO expects."""
    colors = np.asarray(colors, dtype=np.float32)
    if colors.ndim != 2 or colors.shape[0] != n or colors.shape[1] not in (3, 4):
        raise ValueError(f"colors must be ({n}, 3) or ({n}, 4), got {colors.shape}")
    if colors.shape[1] == 4:
        return np.ascontiguousarray(colors)
    rgba = np.ones((n, 4), dtype=np.float32)
    rgba[:, :3] = colors
    return rgba


def lod_order(n: int, seed: int = 0) -> np.ndarray:
    """A fixed random permutation of range(n): any prefix of it is a uniform random subsample."""
    return np.random.default_rng(seed).permutation(n)


def bounding_sphere(points: np.ndarray) -> tuple[np.ndarray, float]:
    """Centre and radius of the sphere around the axis-aligned bounding box (cheap, and close enough)."""
    if len(points) == 0:
        return np.zeros(3, dtype=np.float32), 1.0
    # Column by column: a reduction over axis 0 of an (N, 3) array is strided and ~7x slower.
    lo = np.array([points[:, i].min() for i in range(3)])
    hi = np.array([points[:, i].max() for i in range(3)])
    radius = float(np.linalg.norm(hi - lo)) / 2.0
    return (lo + hi) / 2.0, max(radius, 1e-6)


class _Settle(QObject):
    """Event filter on the GL view: any mouse or key interaction tells the owner to go low-detail."""

    def __init__(self, owner: PointCloudView):
        super().__init__(owner)
        self._owner = owner

    def eventFilter(self, obj, event):
        kind = event.type()
        if kind in _INTERACTION_EVENTS:
            # A move without buttons is hover, not a drag (tracking is off by default, but be explicit).
            if kind != QEvent.Type.MouseMove or event.buttons() != Qt.MouseButton.NoButton:
                self._owner._begin_interaction()
        return False


class PointCloudView(ExportableView):
    """A 3D scatter of one cloud, with level of detail while interacting, a highlight overlay and export."""

    def __init__(self, parent: QWidget | None = None, *, lod_points: int = 150_000, point_size: float = 2.0,
                 settle_ms: int = 250, background=(20, 20, 26), grid: bool = True,
                 max_still_points: int | None | str = "auto"):
        super().__init__(parent)
        self.lod_points = int(lod_points)
        # Points drawn when still: None = all; "auto" = all on a GPU, SOFTWARE_STILL_POINTS on
        # software OpenGL, where 5M points take ~2 s a frame and would freeze the UI after every drag.
        self.max_still_points = max_still_points
        self._software_gl: bool | None = None
        self.renderer = ""
        self._point_size = float(point_size)
        self._points = np.zeros((0, 3), np.float32)   # as given, original order (export, highlight)
        self._colors: np.ndarray | None = None
        self._has_lod = False

        # In a native window of its own (gl_window.py): a QOpenGLWidget would switch the whole lab
        # window, every tab, to OpenGL composition for the rest of the session.
        self.host = GLHost(self)
        self.glview = self.host.gl
        self.glview.setBackgroundColor(background)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.host)

        self._grid = gl.GLGridItem(color=(255, 255, 255, 40))
        self._grid.setVisible(grid)
        self.glview.addItem(self._grid)
        self._full = gl.GLScatterPlotItem(glOptions=_CLOUD_GL, size=self._point_size, pxMode=True)
        self._lod = gl.GLScatterPlotItem(glOptions=_CLOUD_GL, size=self._point_size, pxMode=True)
        self._lod.setVisible(False)
        self._highlight = gl.GLScatterPlotItem(glOptions=_OVERLAY_GL, pxMode=True)
        self._highlight.setDepthValue(10)   # drawn after the cloud
        self._highlight.setVisible(False)
        for item in (self._full, self._lod, self._highlight):
            self.glview.addItem(item)

        self._settle = QTimer(self)
        self._settle.setSingleShot(True)
        self._settle.setInterval(int(settle_ms))
        self._settle.timeout.connect(self._end_interaction)
        self._filter = _Settle(self)
        self.glview.installEventFilter(self._filter)
        # Count the settle delay from the last LOD frame drawn, not from the last event: when one LOD
        # frame takes longer than settle_ms (a loaded machine), a timer started at the event would
        # expire mid-drag and put a multi-second full-detail frame between two drags.
        self.glview.frameSwapped.connect(self._lod_frame_drawn)
        self.glview.initialized.connect(self._gl_ready, Qt.ConnectionType.QueuedConnection)
        self.resize(640, 480)

    # ----------------------------------------------------------------------------------------- data
    def set_cloud(self, points: np.ndarray, colors: np.ndarray | None = None, *, reset_camera: bool = True):
        """Show ``points`` (N, 3); ``colors`` (N, 3|4) in [0, 1], or None for a height colormap.

        Above ``lod_points`` points, the permuted copies feed both items: the full one draws them all,
        the LOD one draws a prefix view. Below, one item draws the arrays as given.
        """
        pts = np.ascontiguousarray(points, dtype=np.float32)
        if pts.ndim != 2 or pts.shape[1] != 3:
            raise ValueError(f"points must be (N, 3), got {pts.shape}")
        n = len(pts)
        rgba = height_colors(pts) if colors is None else as_rgba(colors, n)
        self._points, self._colors = pts, (None if colors is None else np.asarray(colors))

        self._has_lod = n > self.lod_points
        if self._has_lod:
            order = lod_order(n)
            pts_p, rgba_p = permute_rows(pts, order), permute_rows(rgba, order)   # new C-contiguous arrays
            cap = self.still_cap()
            if cap is not None and n > cap:
                pts_p, rgba_p = pts_p[:cap], rgba_p[:cap]   # a uniform random subsample, as for the LOD
            self._full.setData(pos=pts_p, color=rgba_p)
            self._lod.setData(pos=pts_p[: self.lod_points], color=rgba_p[: self.lod_points])
        else:
            self._full.setData(pos=pts, color=rgba)
            # Release the old LOD arrays; its VBO is simply not drawn while hidden.
            self._lod.setData(pos=np.zeros((0, 3), np.float32), color=(1.0, 1.0, 1.0, 1.0))
        self.set_highlight(None)
        self._show_detail(full=not (self._has_lod and self.interacting))

        center, radius = bounding_sphere(pts)
        self._fit_grid(pts, center, radius)
        if reset_camera:
            self.reset_camera(center, radius)

    @property
    def total_points(self) -> int:
        return len(self._points)

    def still_cap(self) -> int | None:
        """How many points the still (full-detail) view may draw; None for all of them."""
        if self.max_still_points != "auto":
            return self.max_still_points
        if self._software_gl is None:
            self._software_gl = self._detect_software_gl()
        return SOFTWARE_STILL_POINTS if self._software_gl else None

    def _detect_software_gl(self) -> bool | None:
        """True on Mesa's software rasterisers; None while there is no GL context yet (ask again later)."""
        ctx = self.glview.context()
        if ctx is None or not ctx.isValid():
            return None
        self.glview.makeCurrent()
        try:
            raw = GL.glGetString(GL.GL_RENDERER) or b""
        finally:
            self.glview.doneCurrent()
        self.renderer = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
        return any(word in self.renderer.lower() for word in ("llvmpipe", "softpipe", "swrast", "software"))

    def _gl_ready(self) -> None:
        """The GL context exists now. A cloud set before (a view not yet on screen) could not know
        the renderer: on software GL its still view keeps only the first ``still_cap()`` points
        of its permuted arrays, as ``set_cloud`` would have done."""
        cap = self.still_cap()
        full = self._full
        if self._has_lod and cap is not None and full.pos is not None and len(full.pos) > cap:
            color = full.color[:cap] if isinstance(full.color, np.ndarray) else full.color
            full.setData(pos=full.pos[:cap], color=color)

    def reset_camera(self, center=None, radius: float | None = None):
        """Look at the cloud's centre from far enough that its bounding sphere fills the view."""
        if center is None or radius is None:
            center, radius = bounding_sphere(self._points)
        fov = np.radians(self.glview.opts["fov"])
        distance = 1.1 * radius / np.sin(fov / 2)
        self.glview.setCameraPosition(pos=QVector3D(*map(float, center)), distance=float(distance),
                                      elevation=25, azimuth=45)

    def _fit_grid(self, pts: np.ndarray, center: np.ndarray, radius: float):
        # A faint floor under the cloud, about twice its footprint, ten cells across.
        side = 2.0 * radius
        self._grid.resetTransform()
        self._grid.setSize(side, side)
        self._grid.setSpacing(side / 10, side / 10)
        zmin = float(pts[:, 2].min()) if len(pts) else 0.0
        self._grid.translate(float(center[0]), float(center[1]), zmin)

    def set_point_size(self, px: float):
        self._point_size = float(px)
        self._full.setData(size=self._point_size)
        self._lod.setData(size=self._point_size)

    def set_highlight(self, indices=None, color=(1.0, 0.2, 0.2, 1.0), size: float | None = None):
        """Overlay the points at ``indices`` (into the cloud as given) in ``color``, drawn on top."""
        if indices is None or len(indices) == 0:
            self._highlight.setVisible(False)
            return
        idx = np.asarray(indices, dtype=np.intp)
        size = 3.0 * self._point_size + 2.0 if size is None else float(size)
        self._highlight.setData(pos=self._points[idx], color=tuple(float(c) for c in color), size=size)
        self._highlight.setVisible(True)

    # ------------------------------------------------------------------------ level of detail
    @property
    def interacting(self) -> bool:
        """True from the first interaction until ``settle_ms`` after the last one."""
        return self._settle.isActive()

    @property
    def drawn_points(self) -> int:
        """How many cloud points the visible item draws (the overlay is not counted)."""
        item = self._lod if self._lod.visible() else self._full
        return 0 if item.pos is None else len(item.pos)

    def orbit(self, azimuth_deg: float, elevation_deg: float):
        """Turn the camera like a mouse drag would, low detail included (used by benchmarks and tests)."""
        self._begin_interaction()
        self.glview.orbit(azimuth_deg, elevation_deg)

    def _begin_interaction(self):
        if self._has_lod:
            self._show_detail(full=False)
            self._settle.start()   # restarts: the full cloud returns settle_ms after the LAST event

    def _lod_frame_drawn(self):
        if self._settle.isActive():
            self._settle.start()

    def _end_interaction(self):
        self._show_detail(full=True)

    def _show_detail(self, full: bool):
        use_lod = self._has_lod and not full
        if self._lod.visible() != use_lod:
            self._lod.setVisible(use_lod)
            self._full.setVisible(not use_lod)

    # ----------------------------------------------------------------------------------- export
    def render_array(self) -> np.ndarray:
        """The current frame as an (H, W, 4) uint8 RGBA array (renders if needed)."""
        return rgba_array(self.host.grab_framebuffer())

    def export_png(self, path: str | Path) -> Path:   # the GL surface itself: a grab of the widget misses it
        return save_qimage(self.host.grab_framebuffer(), path)

    def export_data(self, path: str | Path) -> Path:
        """Save the cloud in its original order as .npy: (N, 3) points, or (N, 6|7) points + colours."""
        path = Path(path)
        data = self._points
        if self._colors is not None:
            data = np.hstack([self._points, np.asarray(self._colors, dtype=np.float32)])
        with atomic_path(path, suffix=".npy") as tmp:
            with open(tmp, "wb") as f:
                np.save(f, data)
        return path
