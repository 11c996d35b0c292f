"""ui_latency: does training in the worker keep the UI responsive, and does the UI slow training?

The real MainWindow runs a small torch MLP training task through its tab's TaskRunner while a
10 ms QTimer measures how late the event loop is. The same training loop also runs bare (no GUI,
main thread, same process, same torch thread count) before and after, for the throughput ratio.
Fields: lateness_p50_ms, lateness_p99_ms, worker_steps_per_s, bare_steps_per_s, ratio, threads.
Targets: p99 <= 16 ms, ratio >= 0.9.
"""

from __future__ import annotations

import os
import statistics
import sys
import time


def add_arguments(parser) -> None:
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each phase")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: the app's policy, cores - 1)")
    parser.add_argument("--batch", type=int, default=128)


def _model_and_data(batch: int):
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256),
                                torch.nn.ReLU(), torch.nn.Linear(256, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(2048, 64)
    y = torch.randint(0, 10, (2048,))
    return model, opt, x, y


def _step(model, opt, x, y, i: int, batch: int) -> float:
    import torch.nn.functional as F

    j = (i * batch) % (len(x) - batch)
    loss = F.cross_entropy(model(x[j:j + batch]), y[j:j + batch])
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.detach()


def bare_loop(seconds: float, batch: int) -> float:
    model, opt, x, y = _model_and_data(batch)
    for i in range(20):  # warm-up
        _step(model, opt, x, y, i, batch)
    t0 = time.perf_counter()
    steps = 0
    while time.perf_counter() - t0 < seconds:
        _step(model, opt, x, y, steps, batch)
        steps += 1
    return steps / (time.perf_counter() - t0)


def training_task(seconds: float, batch: int, ctl):
    """The same loop as a task generator: reports every 20 steps, returns steps/s."""
    from lab_app.core.events import Progress

    model, opt, x, y = _model_and_data(batch)
    for i in range(20):
        _step(model, opt, x, y, i, batch)
    t0 = time.perf_counter()
    steps = 0
    while time.perf_counter() - t0 < seconds:
        ctl.checkpoint()
        loss = _step(model, opt, x, y, steps, batch)
        steps += 1
        if steps % 20 == 0:
            yield Progress(steps, 0, {"loss": float(loss)}, text="training MLP")
    return steps / (time.perf_counter() - t0)


def run(args) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
    import tempfile
    from functools import partial

    os.environ.setdefault("LAB_SETTINGS_DIR", tempfile.mkdtemp(prefix="bench-settings-"))
    from PySide6.QtCore import QEventLoop
    from PySide6.QtWidgets import QApplication

    from benchmarks._gui_timer import LatenessProbe
    from lab_app.core.device import apply_thread_policy

    app = QApplication.instance() or QApplication(sys.argv[:1])
    threads = apply_thread_policy(args.threads)

    from lab_app.app import MainWindow

    win = MainWindow(device_pref="cpu", demo=False)
    win.show()
    app.processEvents()

    bare_before = bare_loop(args.seconds / 2, args.batch)

    # The 3D tab's loader runner: its slots ignore a foreign result, so what is measured is the
    # runner, the status bar and the event loop, not one tab's drawing code.
    tab = win.tab_by_id["pointcloud"]
    win.tabs.setCurrentWidget(tab)
    app.processEvents()
    runner = tab.runner
    runner.threads = threads
    probe = LatenessProbe(10)
    result: dict = {}
    loop = QEventLoop()
    runner.finished.connect(lambda v: (result.setdefault("steps_per_s", v), loop.quit()))
    runner.errored.connect(lambda m: (result.setdefault("error", m), loop.quit()))
    probe.start()
    runner.start(partial(training_task, args.seconds, args.batch), label="training MLP")
    loop.exec()
    probe.stop()

    bare_after = bare_loop(args.seconds / 2, args.batch)
    win.close()
    app.processEvents()
    if "error" in result:
        raise RuntimeError(result["error"])

    bare = statistics.mean([bare_before, bare_after])
    p50, p99, worst = probe.summary()
    return {
        "lateness_p50_ms": round(p50, 3),
        "lateness_p99_ms": round(p99, 3),
        "lateness_max_ms": round(worst, 3),
        "worker_steps_per_s": round(result["steps_per_s"], 1),
        "bare_steps_per_s": round(bare, 1),
        "ratio": round(result["steps_per_s"] / bare, 3),
        "threads": threads,
        "ticks": len(probe.lateness),
    }
