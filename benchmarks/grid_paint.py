"""grid_paint: a live loss curve's repaints with its grid drawn by the lab's GridAxis (a strip of pixels
per axis, lab_app/qt/widgets/grid_axis.py) and by pyqtgraph's AxisItem (a translucent line per tick,
as every plot of the lab drew its grid before).

Both sides are the same LossCurve (grid on, axes cached as the window caches them, scene_settle
installed), the same size, fed the same points: --metrics curves of --points points. ``before``: its
axes made as pyqtgraph's ``pg.AxisItem``; ``lab``: as they are. Measured per side, medians over
--charts new charts: ``first_ms``, the first paint of a shown chart with its points; ``range_ms``, the x
range moved (a run's new points) and the events and repaint that follow (the axes' pictures and
caches remade), over --moves moves per chart; ``still_ms``, a repaint with nothing changed (the cached axes
blitted). ``*_ratio`` = before / lab. Qt's offscreen platform unless QT_QPA_PLATFORM says otherwise.
"""

from __future__ import annotations

import os
import statistics
import time


def add_arguments(parser) -> None:
    parser.add_argument("--metrics", type=int, default=3)
    parser.add_argument("--points", type=int, default=500)
    parser.add_argument("--charts", type=int, default=6, help="new charts per side")
    parser.add_argument("--moves", type=int, default=15, help="range moves per chart")


def _side(axis_class, args) -> dict:
    import numpy as np
    from PySide6.QtWidgets import QApplication

    from lab_app.qt.widgets import plots
    from lab_app.qt.widgets.axis_cache import cache_axes
    from lab_app.qt.widgets.loss_curve import LossCurve

    app = QApplication.instance()
    rng = np.random.default_rng(0)
    steps = np.arange(args.points, dtype=float)
    first, moved, still = [], [], []
    real = plots.GridAxis
    for _ in range(args.charts):
        plots.GridAxis = axis_class   # the class the plot's axes are made of
        try:
            chart = LossCurve(title="Loss", y_label="loss")
        finally:
            plots.GridAxis = real
        chart.resize(500, 300)
        chart.show()
        for _ in range(3):
            app.processEvents()
        cache_axes(chart)
        for k in range(args.metrics):
            values = (k + 1) * np.exp(-steps / 150) + 0.05 * rng.random(args.points)
            for s, v in zip(steps, values, strict=True):
                chart.append(s, {f"metric {k}": v})
        view = chart.plot_widget
        t0 = time.perf_counter()
        chart.flush()
        view.viewport().repaint()
        first.append(time.perf_counter() - t0)
        for i in range(args.moves):
            t0 = time.perf_counter()
            view.getPlotItem().setXRange(0, args.points * (1.0 + 0.05 * (i + 1)), padding=0)
            app.processEvents()   # the range change's layout and paint, as the event loop runs them
            view.viewport().repaint()
            moved.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            view.viewport().repaint()
            still.append(time.perf_counter() - t0)
        chart.close()
        chart.deleteLater()
        app.processEvents()
    return {"first_ms": round(1000 * statistics.median(first), 2),
            "range_ms": round(1000 * statistics.median(moved), 2),
            "still_ms": round(1000 * statistics.median(still), 2)}


def run(args) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication

    QApplication.instance() or QApplication([])
    from lab_app.qt.widgets import scene_settle
    from lab_app.qt.widgets.grid_axis import GridAxis

    scene_settle.install()   # as the window has it: a change paints each plot once
    before = _side(pg.AxisItem, args)
    lab = _side(GridAxis, args)
    out = {"metrics": args.metrics, "points": args.points, "charts": args.charts, "moves": args.moves}
    for key in ("first_ms", "range_ms", "still_ms"):
        out[f"before_{key}"], out[f"lab_{key}"] = before[key], lab[key]
        out[key.replace("_ms", "_ratio")] = round(before[key] / max(lab[key], 1e-6), 2)
    out.update(platform=os.environ.get("QT_QPA_PLATFORM"), loadavg_1min=round(os.getloadavg()[0], 2))
    return out
