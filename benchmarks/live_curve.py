"""live_curve: live loss curves fed one point per training step, as the lab draws them now and as it
drew them before.

Four LossCurve plots of three metrics each (a tab shows several; falling, noisy losses from one
seeded generator) in one window, fed a point per metric at --rate steps a second for --seconds, on
the UI thread. Two sides, the same points at the same rate in the same window size, one after the
other in the same run:

- ``lab``: the LossCurve of lab_app/qt/widgets/loss_curve.py as a tab has it: points drawn at most
  every REDRAW_MS, the view moved in steps (StickyRange), axes painted from a pixmap cache
  (cache_axes, as the window does for every built tab);
- ``before``: the same class made to draw as it did before: every point drawn at once (a flush per
  append), pyqtgraph's exact auto-range (the StickyRange item removed), axes without a cache.

Measured per side: ``cpu``, seconds of UI-thread CPU per second of feeding (time.thread_time),
``p99_ms`` and ``longest_ms``, how late a 10 ms QTimer on the UI thread fires meanwhile; and
``cpu_ratio`` = before / lab. Qt's offscreen platform unless QT_QPA_PLATFORM says otherwise.
"""

from __future__ import annotations

import os
import time


def add_arguments(parser) -> None:
    parser.add_argument("--rate", type=float, default=30.0, help="training steps a second")
    parser.add_argument("--seconds", type=float, default=10.0, help="feeding time per side")
    parser.add_argument("--plots", type=int, default=4)


def _side(before: bool, args) -> dict:
    import numpy as np
    import pyqtgraph as pg
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QGridLayout, QWidget

    from benchmarks._gui_timer import LatenessProbe
    from lab_app.qt.widgets.axis_cache import cache_axes
    from lab_app.qt.widgets.loss_curve import LossCurve

    window = QWidget()
    grid = QGridLayout(window)
    curves = []
    for i in range(args.plots):
        curve = LossCurve(title=f"loss terms {i}", y_label="nats")
        if before:
            curve.plot_item.removeItem(curve.range)
        grid.addWidget(curve, i // 2, i % 2)
        curves.append(curve)
    if not before:
        cache_axes(window)
    window.resize(1200, 800)
    window.show()
    rng = np.random.default_rng(0)
    state = {"step": 0}

    def feed():
        state["step"] += 1
        step = state["step"]
        for curve in curves:
            base = 2.0 * np.exp(-step / 150.0)
            noise = rng.random(3)
            curve.append(step, {"loss": base + 0.2 * noise[0], "reconstruction": 0.7 * base + 0.1 * noise[1],
                                "KL": 0.3 * base + 0.05 * noise[2]})
            if before:
                curve.flush()

    feeder = QTimer()
    feeder.setInterval(max(1, int(1000 / args.rate)))
    feeder.timeout.connect(feed)
    probe = LatenessProbe()
    loop = QEventLoop()
    QTimer.singleShot(300, loop.quit)       # the window's first paint, outside the measurement
    loop.exec()
    cpu0 = time.thread_time()
    feeder.start()
    probe.start()
    QTimer.singleShot(int(args.seconds * 1000), loop.quit)
    loop.exec()
    cpu = time.thread_time() - cpu0
    feeder.stop()
    probe.stop()
    late = sorted(probe.lateness) or [0.0]
    out = {"cpu": round(cpu / args.seconds, 3),
           "p99_ms": round(late[min(len(late) - 1, int(0.99 * len(late)))], 1),
           "longest_ms": round(late[-1], 1), "steps": state["step"]}
    window.close()
    window.deleteLater()
    pg.QtWidgets.QApplication.processEvents()
    return out


def run(args) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
    from PySide6.QtWidgets import QApplication

    QApplication.instance() or QApplication([])
    before = _side(True, args)
    lab = _side(False, args)
    return {
        "plots": args.plots, "rate": args.rate, "seconds": args.seconds,
        "before_cpu": before["cpu"], "lab_cpu": lab["cpu"],
        "cpu_ratio": round(before["cpu"] / max(lab["cpu"], 1e-6), 2),
        "before_p99_ms": before["p99_ms"], "lab_p99_ms": lab["p99_ms"],
        "before_longest_ms": before["longest_ms"], "lab_longest_ms": lab["longest_ms"],
        "steps": lab["steps"], "before_steps": before["steps"],
        "platform": os.environ.get("QT_QPA_PLATFORM"),
        "loadavg_1min": round(os.getloadavg()[0], 2),
    }
