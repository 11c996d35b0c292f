"""Frame time of PointCloudView orbiting a 5M-point cloud (the LOD path), and one full-detail frame.

Each frame is forced to really draw: ``repaint()`` renders the GL widget and composes the window
synchronously, then ``glFinish`` waits for the (software) rasteriser, so the time is not just a queued
``update()``. Needs an X server with OpenGL: without DISPLAY (and without QT_QPA_PLATFORM) it starts
its own Xvfb on a free display number and stops it at exit. Mesa's llvmpipe is what runs here.
"""

from __future__ import annotations

import atexit
import os
import shutil
import statistics
import subprocess
import time

import numpy as np

_XVFB: subprocess.Popen | None = None
_APP = None


def add_arguments(parser):
    parser.add_argument("--points", type=int, default=5_000_000, help="cloud size")
    parser.add_argument("--lod-points", type=int, default=150_000, help="points drawn while orbiting")
    parser.add_argument("--point-size", type=float, default=2.0, help="point size in pixels")
    parser.add_argument("--frames", type=int, default=60, help="orbit frames to time")
    parser.add_argument("--size", default="1000x700", help="widget size WxH")


def _start_xvfb() -> None:
    """Start ``Xvfb`` on a display number it picks itself (-displayfd), so parallel runs cannot clash."""
    global _XVFB
    exe = shutil.which("Xvfb")
    if exe is None:
        raise RuntimeError("no DISPLAY and no Xvfb: install xvfb or run under xvfb-run -a")
    read_fd, write_fd = os.pipe()
    _XVFB = subprocess.Popen([exe, "-displayfd", str(write_fd), "-screen", "0", "1280x1024x24", "-nolisten",
                              "tcp"], pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        number = pipe.readline().strip()
    if not number:
        _XVFB.kill()
        raise RuntimeError("Xvfb did not report a display number")
    os.environ["DISPLAY"] = f":{number}"
    atexit.register(_stop_xvfb)


def _stop_xvfb() -> None:
    if _XVFB is not None and _XVFB.poll() is None:
        _XVFB.terminate()
        try:
            _XVFB.wait(5)
        except subprocess.TimeoutExpired:
            _XVFB.kill()


def _application():
    """One QApplication for all repeats, on xcb (offscreen has no OpenGL context)."""
    global _APP
    if _APP is not None:
        return _APP
    if not os.environ.get("QT_QPA_PLATFORM"):
        if not os.environ.get("DISPLAY"):
            _start_xvfb()
        os.environ["QT_QPA_PLATFORM"] = "xcb"
    os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
    from PySide6.QtCore import QCoreApplication, Qt
    from PySide6.QtWidgets import QApplication

    if QApplication.instance() is None:
        QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts)
    _APP = QApplication.instance() or QApplication([])
    return _APP


def procedural_cloud(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A bumpy torus of ``n`` points with colours from the surface normal: float32 (n, 3), (n, 3)."""
    rng = np.random.default_rng(seed)
    u = rng.random(n, dtype=np.float32) * np.float32(2 * np.pi)
    v = rng.random(n, dtype=np.float32) * np.float32(2 * np.pi)
    r = np.float32(0.35) + np.float32(0.05) * np.sin(7 * u) * np.cos(5 * v)
    cu, su, cv, sv = np.cos(u), np.sin(u), np.cos(v), np.sin(v)
    points = np.empty((n, 3), np.float32)
    points[:, 0] = (1 + r * cv) * cu
    points[:, 1] = (1 + r * cv) * su
    points[:, 2] = r * sv
    colors = np.empty((n, 3), np.float32)
    colors[:, 0] = 0.5 + 0.5 * cv * cu
    colors[:, 1] = 0.5 + 0.5 * cv * su
    colors[:, 2] = 0.5 + 0.5 * sv
    return points, colors


def _frame(app, view) -> tuple[float, float, int]:
    """Wall and CPU milliseconds to draw and present one frame (until the rasteriser is done), and the
    number of cloud points that frame drew. CPU time sums llvmpipe's threads: less hurt by other load."""
    from OpenGL import GL

    t0, c0 = time.perf_counter(), time.process_time()
    view.glview.render_now()
    drawn = view.drawn_points
    view.glview.makeCurrent()
    GL.glFinish()
    view.glview.doneCurrent()
    app.processEvents()
    return (time.perf_counter() - t0) * 1e3, (time.process_time() - c0) * 1e3, drawn


def run(args) -> dict:
    app = _application()
    from OpenGL import GL

    from lab_app.qt.widgets.pointcloud_view import PointCloudView

    w, h = (int(x) for x in args.size.lower().split("x"))
    points, colors = procedural_cloud(args.points)
    view = PointCloudView(lod_points=args.lod_points, point_size=args.point_size)
    view.resize(w, h)
    view.show()
    t0 = time.perf_counter()
    view.set_cloud(points, colors)
    set_cloud_ms = (time.perf_counter() - t0) * 1e3
    for _ in range(20):   # let the window map before timing anything
        app.processEvents()
        time.sleep(0.01)

    # First frames upload the VBOs (full item, then LOD item on the first orbit): not timed as frames.
    t0 = time.perf_counter()
    _frame(app, view)
    first_full_ms = (time.perf_counter() - t0) * 1e3
    view.orbit(1.0, 0.0)
    _frame(app, view)

    frames, cpu, drawn = [], [], []
    for _ in range(args.frames):
        view.orbit(3.0, 0.5)
        wall_ms, cpu_ms, n = _frame(app, view)
        frames.append(wall_ms)
        cpu.append(cpu_ms)
        drawn.append(n)

    view._settle.stop()   # settle now instead of waiting settle_ms of wall time
    view._end_interaction()
    still = [_frame(app, view)[0] for _ in range(2)]
    view.glview.makeCurrent()
    renderer = GL.glGetString(GL.GL_RENDERER)
    view.glview.doneCurrent()
    result = {
        "points": int(args.points),
        "frame_ms": round(statistics.median(frames), 2),
        "frame_p90_ms": round(float(np.percentile(frames, 90)), 2),
        "frame_cpu_ms": round(statistics.median(cpu), 2),
        "drawn_points": int(statistics.median(drawn)),
        "still_frame_ms": round(statistics.median(still), 2),
        "first_frame_ms": round(first_full_ms, 1),
        "set_cloud_ms": round(set_cloud_ms, 1),
        "size": f"{view.glview.width()}x{view.glview.height()}",
        "point_size": args.point_size,
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "renderer": renderer.decode() if isinstance(renderer, bytes) else str(renderer),
    }
    view.close()
    view.deleteLater()
    app.processEvents()
    return result
