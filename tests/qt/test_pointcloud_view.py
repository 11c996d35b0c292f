"""PointCloudView: pixels of a real GL frame, level of detail while interacting, highlight, export.

GL tests need Xvfb + Mesa (QT_QPA_PLATFORM=xcb under pytest-xvfb); the helper and data tests run anywhere.
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QWidget

from lab_app.core.colormaps import height_colors, permute_rows
from lab_app.qt.widgets.pointcloud_view import (
    SOFTWARE_STILL_POINTS,
    PointCloudView,
    as_rgba,
    lod_order,
)

BACKGROUND = (20, 20, 26)


def ball(n: int, seed: int = 0) -> np.ndarray:
    """n points filling a unit ball: dense around the centre of the view."""
    rng = np.random.default_rng(seed)
    p = rng.normal(size=(n, 3))
    p *= (rng.random(n) ** (1 / 3) / np.linalg.norm(p, axis=1))[:, None]
    return p.astype(np.float32)


def solid(n: int, rgb) -> np.ndarray:
    return np.tile(np.asarray(rgb, np.float32), (n, 1))


def is_color(pixels: np.ndarray, rgb, tol: int = 40) -> np.ndarray:
    return np.all(np.abs(pixels[..., :3].astype(int) - np.asarray(rgb)) <= tol, axis=-1)


def centre(frame: np.ndarray, cy: int | None = None, cx: int | None = None, r: int = 20) -> np.ndarray:
    """The (2r, 2r) pixels around (cy, cx), the middle of ``frame`` by default."""
    cy = frame.shape[0] // 2 if cy is None else cy
    cx = frame.shape[1] // 2 if cx is None else cx
    return frame[cy - r: cy + r, cx - r: cx + r]


def show_widget(qtbot, widget: QWidget, size=(320, 240)) -> None:
    qtbot.addWidget(widget)
    widget.resize(*size)
    widget.show()
    qtbot.waitExposed(widget)


@pytest.fixture
def view(qtbot):
    v = PointCloudView(lod_points=100_000, point_size=4, settle_ms=150, background=BACKGROUND)
    show_widget(qtbot, v)
    return v


# ------------------------------------------------------------------------------ no GL needed
def test_height_colors_follow_z_from_dark_purple_to_yellow():
    pts = np.zeros((3, 3), np.float32)
    pts[:, 2] = [-1.0, 0.0, 5.0]
    c = height_colors(pts)
    assert c.shape == (3, 4) and c.dtype == np.float32
    assert c[0, 2] > c[0, 1] and c[0, 0] < 0.3          # low: purple-blue
    assert c[2, 0] > 0.9 and c[2, 1] > 0.8 and c[2, 2] < 0.3  # high: yellow
    assert np.all(c[:, 3] == 1)
    flat = height_colors(np.zeros((4, 3), np.float32))    # constant z: no NaN from 0/0
    assert np.isfinite(flat).all()


def test_as_rgba_adds_opaque_alpha_and_rejects_bad_shapes():
    rgba = as_rgba(np.full((5, 3), 0.5), 5)
    assert rgba.shape == (5, 4) and rgba.dtype == np.float32 and rgba.flags.c_contiguous
    assert np.all(rgba[:, 3] == 1.0)
    with pytest.raises(ValueError):
        as_rgba(np.zeros((4, 3)), 5)


def test_lod_order_is_a_fixed_permutation():
    order = lod_order(1000)
    assert np.array_equal(np.sort(order), np.arange(1000))
    assert np.array_equal(order, lod_order(1000))
    rows = np.random.default_rng(2).random((1000, 3)).astype(np.float32)
    gathered = permute_rows(rows, order)
    assert np.array_equal(gathered, rows[order]) and gathered.flags.c_contiguous


def test_lod_item_is_a_contiguous_prefix_of_the_full_permuted_cloud(qtbot, tmp_path):
    v = PointCloudView(lod_points=50)
    qtbot.addWidget(v)
    pts = ball(400)
    cols = np.random.default_rng(1).random((400, 3)).astype(np.float32)
    v.set_cloud(pts, cols)
    full, lod = v._full.pos, v._lod.pos
    assert len(full) == 400 and len(lod) == 50
    assert lod.dtype == np.float32 and lod.flags.c_contiguous
    assert np.shares_memory(lod, full) and lod.ctypes.data == full.ctypes.data   # a view, no copy
    assert np.array_equal(np.sort(full, axis=0), np.sort(pts, axis=0))
    assert v.drawn_points == 400 and not v.interacting

    # Data export keeps the original order (highlight indices and labels refer to it).
    out = v.export_data(tmp_path / "cloud.npy")
    saved = np.load(out)
    assert saved.shape == (400, 6)
    assert np.array_equal(saved[:, :3], pts) and np.allclose(saved[:, 3:], cols)


# ------------------------------------------------------------------------------- real frames
@pytest.mark.gl
def test_red_cloud_is_drawn_in_the_centre_on_the_background(view):
    view.set_cloud(ball(20_000), solid(20_000, (1.0, 0.0, 0.0)))
    frame = view.render_array()
    h, w = frame.shape[:2]
    centre = frame[h // 2 - 20: h // 2 + 20, w // 2 - 20: w // 2 + 20]
    assert is_color(centre, (255, 0, 0)).mean() > 0.5
    # top corners: sky, above the floor grid. The view draws into the display's own surface
    # (gl_window.py): on pytest-xvfb's 16-bit display a channel is rounded by up to 7 levels.
    for corner in (frame[:8, :8], frame[:8, -8:]):
        assert is_color(corner, BACKGROUND, tol=8).all()


@pytest.mark.gl
def test_big_cloud_draws_lod_while_interacting_and_full_after(view, qtbot):
    n = 1_000_000
    view.set_cloud(ball(n))   # height colormap
    view.render_array()
    assert view.drawn_points == n

    view.orbit(30, 10)
    assert view.interacting and view.drawn_points == view.lod_points
    assert view.render_array()[..., :3].any()
    qtbot.waitUntil(lambda: not view.interacting and view.drawn_points == n, timeout=3000)

    # A real mouse drag on the GL view switches to LOD too.
    qtbot.mousePress(view.glview, Qt.MouseButton.LeftButton, pos=QPoint(100, 100))
    assert view.interacting and view.drawn_points == view.lod_points
    qtbot.mouseRelease(view.glview, Qt.MouseButton.LeftButton, pos=QPoint(100, 100))
    qtbot.waitUntil(lambda: view.drawn_points == n, timeout=3000)


@pytest.mark.gl
def test_still_view_is_capped_on_software_gl(view, qtbot):
    view.render_array()  # the GL context exists from here on
    cap = view.still_cap()
    assert view.renderer, "the GL renderer string was not read"
    software = any(w in view.renderer.lower() for w in ("llvmpipe", "softpipe", "swrast"))
    assert cap == (SOFTWARE_STILL_POINTS if software else None)
    view.max_still_points = 300_000
    n = 600_000
    view.set_cloud(ball(n))
    view.render_array()
    assert view.drawn_points == 300_000 and view.total_points == n
    view.orbit(10, 0)
    assert view.drawn_points == view.lod_points
    qtbot.waitUntil(lambda: view.drawn_points == 300_000, timeout=3000)


@pytest.mark.gl
def test_highlight_is_drawn_on_top_in_its_colour(view):
    pts = ball(20_000)
    view.set_cloud(pts, solid(len(pts), (0.1, 0.1, 1.0)))
    assert not is_color(view.render_array(), (0, 255, 0)).any()
    view.set_highlight(np.arange(0, 20_000, 200), color=(0.0, 1.0, 0.0, 1.0), size=8)
    assert is_color(view.render_array(), (0, 255, 0)).sum() > 100
    view.set_highlight(None)
    assert not is_color(view.render_array(), (0, 255, 0)).any()


@pytest.mark.gl
def test_export_png_writes_the_drawn_frame(view, tmp_path):
    view.set_cloud(ball(20_000))
    out = view.export_png(tmp_path / "cloud.png")
    image = QImage(str(out))
    assert not image.isNull() and image.width() == view.glview.width()
    colours = {image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)}
    assert len(colours) > 10   # not a blank (single-colour) image


@pytest.mark.gl
def test_a_view_never_shown_exports_its_cloud_and_draws_it_once_shown(qtbot):
    """A 3D view on a page not yet opened has no GL context (it draws in a native window of its
    own): its export draws the same items off screen, and gives them back to the view intact."""
    from PySide6.QtWidgets import QStackedWidget

    pages = QStackedWidget()
    pages.addWidget(QWidget())
    v = PointCloudView(background=BACKGROUND)
    pages.addWidget(v)
    show_widget(qtbot, pages)
    v.set_cloud(ball(20_000), solid(20_000, (1.0, 0.0, 0.0)))
    assert not v.glview.isValid()            # never exposed
    assert is_color(centre(v.render_array()), (255, 0, 0)).mean() > 0.5
    pages.setCurrentWidget(v)
    qtbot.waitUntil(v.glview.isValid, timeout=5000)
    assert is_color(centre(v.render_array()), (255, 0, 0)).mean() > 0.5


@pytest.mark.gl
def test_the_window_holds_no_opengl_widget_and_its_export_shows_the_cloud(qtbot, tmp_path):
    """One QOpenGLWidget anywhere in a window would switch all of its painting to OpenGL composition
    (gl_window.py); the 3D view is a native window in a container instead, and a grab of the
    widgets around it paints it from its framebuffer."""
    from PySide6.QtOpenGLWidgets import QOpenGLWidget
    from PySide6.QtWidgets import QVBoxLayout

    from lab_app.qt.widgets.export import grab_widget, rgba_array

    outer = QWidget()
    v = PointCloudView(background=BACKGROUND)
    QVBoxLayout(outer).addWidget(v)
    show_widget(qtbot, outer, (400, 300))
    v.set_cloud(ball(20_000), solid(20_000, (0.0, 1.0, 0.0)))
    qtbot.waitUntil(v.glview.isValid, timeout=5000)
    assert outer.findChildren(QOpenGLWidget) == []
    pixels = rgba_array(grab_widget(outer))
    origin = v.host.mapTo(outer, QPoint(0, 0))
    cy, cx = origin.y() + v.host.height() // 2, origin.x() + v.host.width() // 2
    assert is_color(centre(pixels, cy, cx, r=15), (0, 255, 0)).mean() > 0.5


@pytest.mark.gl
def test_a_cloud_set_before_the_gl_context_is_capped_once_it_exists(qtbot, monkeypatch):
    """The 3D window makes its GL context at its first paint, so a cloud set right after show()
    cannot know yet whether the renderer is software; once it can, the still view drops to the cap
    there (and keeps every point on a hardware renderer)."""
    import lab_app.qt.widgets.pointcloud_view as module

    monkeypatch.setattr(module, "SOFTWARE_STILL_POINTS", 250_000)   # a million in the app
    v = PointCloudView(lod_points=100_000, background=BACKGROUND)
    qtbot.addWidget(v)
    v.resize(320, 240)
    v.show()                                 # not waiting for it to be exposed: no context yet
    n = 400_000
    v.set_cloud(ball(n))
    assert v.glview.context() is None and v.drawn_points == n      # not painted yet: no cap known
    qtbot.waitUntil(lambda: v._software_gl is not None, timeout=5000)
    assert v.drawn_points == (250_000 if v._software_gl else n) and v.total_points == n


@pytest.mark.gl
def test_a_frame_asked_for_in_a_turn_that_has_drawn_enough_waits_for_a_later_turn(view, qtbot):
    """The 3D view draws a frame when Qt delivers its update request, unless the turn has already
    spent its drawing budget (lab_app/qt/turn_budget.py): then it asks again and draws a turn later."""
    from PySide6.QtCore import QCoreApplication, QEvent

    from lab_app.qt import turn_budget

    view.set_cloud(ball(5_000), solid(5_000, (1.0, 0.0, 0.0)))
    qtbot.waitUntil(view.glview.isValid, timeout=5000)
    qtbot.wait(100)
    frames = []
    view.glview.frameSwapped.connect(lambda: frames.append(turn_budget.spent()))
    for heavy in (False, True):
        frames.clear()
        view.glview.update()
        if heavy:
            turn_budget.charge(turn_budget.BUDGET_S)   # this turn's slots and plots drew enough
        QCoreApplication.sendEvent(view.glview, QEvent(QEvent.Type.UpdateRequest))
        assert len(frames) == (0 if heavy else 1)
        qtbot.waitUntil(lambda: len(frames) >= 1, timeout=5000)   # drawn, a turn later if heavy
