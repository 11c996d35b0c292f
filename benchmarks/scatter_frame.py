"""scatter_frame: one frame of a moving 100k-point latent space, LatentScatter vs pyqtgraph's scatter.

A frame is what a training tab does per update: hand new coordinates to the view, draw, and show
the result. Measured per frame (median over frames, a warm-up frame excluded):

- frame_ms: LatentScatter.setData + render_now + a forced repaint (repaint + processEvents).
- baseline_ms: a pg.PlotWidget with one ScatterPlotItem per class (pxMode, size 3; one brush per
  item, pyqtgraph's fast path) given the same coordinates, + the same forced repaint.
- baseline_brush_array_ms: one ScatterPlotItem with a per-point brush array (the obvious way).

Both views are about 800x600 and show the same range; LatentScatter draws 3 px points to match.
QT_QPA_PLATFORM is honoured when set, offscreen otherwise.
"""

from __future__ import annotations

import os
import statistics
import time


def add_arguments(parser) -> None:
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--frames", type=int, default=8, help="timed frames per view (after 1 warm-up)")
    parser.add_argument("--point-size", type=int, default=3)
    parser.add_argument("--no-brush-array", action="store_true",
                        help="skip the slow per-point-brush baseline")


def _app():
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
    from PySide6.QtWidgets import QApplication

    return QApplication.instance() or QApplication([])


def _moving_clusters(n: int, classes: int, frames: int, seed: int = 0):
    """Per-frame (N, 2) coordinates: class clusters that drift apart like a latent space training."""
    import numpy as np

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    angles = 2 * np.pi * np.arange(classes) / classes
    centres = np.column_stack([np.cos(angles), np.sin(angles)])
    noise = rng.normal(size=(n, 2))
    steps = []
    for t in range(frames):
        spread = 0.5 + 2.5 * t / max(frames - 1, 1)  # clusters separate as "training" goes on
        jitter = rng.normal(scale=0.05, size=(n, 2))
        steps.append((centres[labels] * spread + noise * 0.6 + jitter).astype(np.float32))
    return steps, labels


def _median_ms(times: list[float]) -> float:
    return round(statistics.median(times) * 1000.0, 2)


def run(args) -> dict:
    app = _app()
    import numpy as np
    import pyqtgraph as pg

    from lab_app.qt.widgets.latent_scatter import LatentScatter, class_color

    n, classes, frames = args.points, args.classes, args.frames
    coords, labels = _moving_clusters(n, classes, frames + 1)
    lim = float(np.abs(np.concatenate(coords)).max()) * 1.02  # one fixed range for every view

    def show_and_time(widget, update) -> list[float]:
        widget.resize(800, 600)
        widget.show()
        app.processEvents()
        times = []
        for i, xy in enumerate(coords):
            start = time.perf_counter()
            update(xy)
            widget.repaint()
            app.processEvents()
            if i > 0:  # frame 0 warms caches (symbol atlas, buffers)
                times.append(time.perf_counter() - start)
        return times

    # LatentScatter
    scatter = LatentScatter(point_size=args.point_size)
    scatter.setData(coords[0], labels)  # the first setData fits the view; later ones keep this range:
    scatter.view_box.setRange(xRange=(-lim, lim), yRange=(-lim, lim), padding=0)
    render_times: list[float] = []

    def update_scatter(xy):
        scatter.setData(xy, labels)
        render_times.append(scatter.render_now())

    frame_times = show_and_time(scatter, update_scatter)
    raster_shape = scatter.rendered_rgba().shape[:2]

    # Baseline 1: one ScatterPlotItem per class, one brush each.
    plot = pg.PlotWidget()
    plot.setRange(xRange=(-lim, lim), yRange=(-lim, lim), padding=0)
    plot.getPlotItem().getViewBox().disableAutoRange()
    per_class = []
    for k in range(classes):
        item = pg.ScatterPlotItem(pxMode=True, size=3, pen=None, brush=pg.mkBrush(*class_color(k)))
        plot.addItem(item)
        per_class.append(item)
    members = [np.flatnonzero(labels == k) for k in range(classes)]

    def update_per_class(xy):
        for item, idx in zip(per_class, members, strict=True):
            item.setData(pos=xy[idx])

    baseline_times = show_and_time(plot, update_per_class)

    result = {
        "points": n,
        "classes": classes,
        "frames": frames,
        "point_size": args.point_size,
        "frame_ms": _median_ms(frame_times),
        "render_ms": round(statistics.median(render_times[1:]), 2),
        "baseline_ms": _median_ms(baseline_times),
    }
    result["speedup"] = round(result["baseline_ms"] / result["frame_ms"], 2)

    # Baseline 2: one item with a per-point brush array (what DESIGN.md warns against).
    widgets = [scatter, plot]
    if not args.no_brush_array:
        plot2 = pg.PlotWidget()
        plot2.setRange(xRange=(-lim, lim), yRange=(-lim, lim), padding=0)
        plot2.getPlotItem().getViewBox().disableAutoRange()
        item = pg.ScatterPlotItem(pxMode=True, size=3, pen=None)
        plot2.addItem(item)
        palette = [pg.mkBrush(*class_color(k)) for k in range(classes)]
        brushes = np.array([palette[k] for k in labels], dtype=object)
        result["baseline_brush_array_ms"] = _median_ms(
            show_and_time(plot2, lambda xy: item.setData(pos=xy, brush=brushes)))
        widgets.append(plot2)

    result["raster_px"] = f"{raster_shape[1]}x{raster_shape[0]}"
    result["platform"] = os.environ.get("QT_QPA_PLATFORM", "")
    for widget in widgets:  # tear down now, not at interpreter exit (pyqtgraph teardown crashes there)
        widget.close()
        widget.deleteLater()
    app.processEvents()
    return result
