"""ui_stalls: does the UI thread ever stall while a person goes through every tab?

The real MainWindow (demos on), under an Xvfb server this benchmark starts (platform "xcb"; the
current DISPLAY if one is set; Qt's "offscreen" platform if there is no Xvfb), visits each tab in
registry order and, on each:

1. shows it (its first build) and waits until it shows a real result (``has_result``: its demo's
   result, ``demo_ready``; for a tab of sub-tabs, the result of the sub-tab on screen);
   ``first_result_s`` is the time from showing the tab to that result;
2. opens one real file of each kind it accepts, through the window's file routing as a drop does:
   a photo (scikit-image's astronaut.png), a point cloud (a PLY sampled from an Open3D torus, written
   to a temporary folder), a text (resources/text/hamlet.txt); waits for the run that file started;
3. opens its shipped checkpoint (resources/checkpoints/<tab>.safetensors) where there is one, the
   same way ("refused" in ``steps`` when the window routes no tab to checkpoints);
4. clicks its Train button (the first enabled button whose text starts with "Train" or "Retrain"), lets it
   train for --train-seconds, then cancels the tab's runs.

Throughout, a 10 ms QTimer on the GUI thread records how late each tick comes (a stall). Per tab:
``longest_stall_ms``, ``p99_ms``, ``first_result_s``, ``steps`` (what was done, or why not) and
``phases`` (per step above: its ticks, longest stall, p99 and ticks over 16 ms: where a tab's p99
comes from).
Overall: ``worst_stall_ms``, ``worst_tab``. Targets: no stall over 100 ms, p99 <= 16 ms, every
first result within 10 s. The machine is shared: ``load_avg`` gives the 1-minute load before and
after. Training runs where the app runs it: in its worker process unless LAB_TRAIN_PROCESS=0 says threads
(``train_process`` in the output).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def add_arguments(parser) -> None:
    parser.add_argument("--tabs", default="", help="comma-separated tab ids (default: every tab)")
    parser.add_argument("--train-seconds", type=float, default=5.0)
    parser.add_argument("--result-timeout", type=float, default=120.0,
                        help="seconds to wait for a tab's first result or a file's run")
    parser.add_argument("--trace", action="store_true",
                        help="also sample the UI thread's stack during each stall over 60 ms and list the "
                             "stalls per tab (``stalls``: ms, phase, the stack seen most; see _stall_trace)")


def _real_files(folder: Path) -> dict[str, Path]:
    import numpy as np
    import skimage

    from lab_app.io import PointCloud, save_point_cloud

    files = {"image": Path(skimage.__file__).parent / "data" / "astronaut.png",
             "text": ROOT / "resources" / "text" / "hamlet.txt"}
    try:
        import open3d as o3d

        mesh = o3d.geometry.TriangleMesh.create_torus()
        pts = np.asarray(mesh.sample_points_uniformly(20000, seed=0).points, np.float32)
    except Exception:  # noqa: BLE001 - no Open3D: a torus by formula
        rng = np.random.default_rng(0)
        u, v = rng.uniform(0, 2 * np.pi, (2, 20000))
        pts = np.stack([(1 + 0.3 * np.cos(v)) * np.cos(u), (1 + 0.3 * np.cos(v)) * np.sin(u),
                        0.3 * np.sin(v)], 1).astype(np.float32)
    files["pointcloud"] = folder / "torus.ply"
    save_point_cloud(files["pointcloud"], PointCloud(pts))
    return files


def _spin(seconds: float) -> None:
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def _wait(pred, timeout: float) -> bool:
    """Run the event loop until ``pred()`` or ``timeout`` seconds; whether ``pred()`` came true."""
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            return False
        _spin(0.02)
    return True


def _open_and_wait(win, tab, path: Path, timeout: float) -> str:
    """Open ``path`` through the window; wait for a run of ``tab`` to end. Returns what happened."""
    ended: list[str] = []
    hooks = []
    for r in tab.runners():
        for sig, what in ((r.finished, "done"), (r.errored, "error")):
            def hook(*args, what=what):
                ended.append(what if what == "done" else f"error: {args[0] if args else ''}")
            sig.connect(hook)
            hooks.append((sig, hook))
    try:
        if not win.open_files([path]):
            return "refused: " + tab.banner.text[:120]
        if win.current_tab() is not tab:
            return f"routed to {win.current_tab().tab_id}"
        return ended[0] if _wait(lambda: ended, timeout) else f"no run ended within {timeout:.0f} s"
    finally:
        for sig, hook in hooks:
            sig.disconnect(hook)


def _train_button(tab):
    """The tab's Train button: the first whose text starts with "Train", on screen ones first (a
    sub-tab's button works as well when its page is hidden)."""
    from PySide6.QtWidgets import QPushButton

    found = [b for b in tab.findChildren(QPushButton)
             if b.text().replace("&", "").lower().startswith(("train", "retrain"))]
    found.sort(key=lambda b: not b.isVisibleTo(tab))
    return found[0] if found else None


def _visit(win, index: int, files: dict[str, Path], args) -> dict:
    from benchmarks._gui_timer import LatenessProbe
    from lab_app.registry import TOPICS

    spec = TOPICS[index]
    probe = LatenessProbe(10)
    tracer = None
    if args.trace:
        from benchmarks._stall_trace import StallTracer

        tracer = StallTracer(float(os.environ.get("LAB_TRACE_MS", 60)))
        probe._timer.timeout.connect(tracer.tick)
        tracer.start()

    marks: list[tuple[str, int]] = []   # (phase, index of its first tick in probe.lateness)

    def phase(name: str) -> None:
        marks.append((name, len(probe.lateness)))
        if tracer is not None:
            tracer.label = name

    probe.start()
    steps: dict[str, str] = {}
    phase("show + demo")
    t0 = time.monotonic()
    win.tabs.setCurrentIndex(index)
    _wait(lambda: spec.id in win.tab_by_id, args.result_timeout)   # built once its placeholder painted
    tab = win.tab(spec.id)
    first = None
    if _wait(lambda: tab.has_result, args.result_timeout):
        first = time.monotonic() - t0
    else:
        steps["demo"] = f"no result within {args.result_timeout:.0f} s"
    for kind in spec.accepts:
        if kind in files:
            phase(f"open {kind}")
            steps[f"open {kind}"] = _open_and_wait(win, tab, files[kind], args.result_timeout)
    ckpt = ROOT / "resources" / "checkpoints" / f"{spec.id}.safetensors"
    if ckpt.exists():
        phase("checkpoint")
        steps["checkpoint"] = _open_and_wait(win, tab, ckpt, args.result_timeout)
    phase("train")
    button = _train_button(tab)
    if button is None:
        steps["train"] = "no Train button"
    elif not button.isEnabled():
        _spin(args.train_seconds)
        steps["train"] = f"{button.text()!r} disabled (already training?): waited {args.train_seconds:.0f} s"
    else:
        button.click()
        _spin(args.train_seconds)
        steps["train"] = f"clicked {button.text()!r}, {args.train_seconds:.0f} s"
    phase("cancel")
    for r in tab.runners():
        r.cancel()
    _wait(lambda: not any(r.busy for r in tab.runners()), 30.0)
    probe.stop()
    # a cancelled run's thread ends at its next checkpoint, after ``busy`` is already False: join
    # them (unmeasured) so that one tab's leftover work does not stall the next tab's visit
    lingering = [r for r in tab.runners() if not r.wait(30.0)]
    if lingering:
        steps["cancel"] = "threads still running after 30 s: " + ", ".join(r.label or "?" for r in lingering)
    worst, p99 = _worst_and_p99(probe.lateness)
    out = {"longest_stall_ms": round(worst, 1), "p99_ms": round(p99, 1), "ticks": len(probe.lateness),
           "first_result_s": None if first is None else round(first, 2), "steps": steps,
           "phases": _phases(probe.lateness, marks)}
    if tracer is not None:
        tracer.stop()
        out["stalls"] = sorted(tracer.stalls, key=lambda st: -st["ms"])
    return out


def _worst_and_p99(late: list[float]) -> tuple[float, float]:
    late = sorted(late) or [0.0]
    return late[-1], late[min(len(late) - 1, int(0.99 * len(late)))]  # nearest rank, never past the max


def _phases(lateness: list[float], marks: list[tuple[str, int]]) -> dict:
    """Per phase of a visit: its ticks, longest stall, p99 and ticks over 16 ms (where the tab's p99
    comes from)."""
    out = {}
    ends = [i for _, i in marks[1:]] + [len(lateness)]
    for (name, start), end in zip(marks, ends, strict=True):
        part = lateness[start:end]
        worst, p99 = _worst_and_p99(part)
        out[name] = {"ticks": len(part), "longest_ms": round(worst, 1), "p99_ms": round(p99, 1),
                     "over_16ms": sum(x > 16 for x in part)}
    return out


def run(args) -> dict:
    from benchmarks.startup import _start_xvfb

    xvfb, display = _start_xvfb()
    if display:
        os.environ["DISPLAY"] = display
        os.environ["QT_QPA_PLATFORM"] = "xcb"
    else:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
    load_before = os.getloadavg()[0]
    try:
        with tempfile.TemporaryDirectory(prefix="lab-ui-stalls-") as tmp:
            os.environ["LAB_SETTINGS_DIR"] = str(Path(tmp) / "settings")  # no last tab, no recent files
            return _run_app(args, _real_files(Path(tmp)), load_before, display, xvfb is not None)
    finally:
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait(10)


def _run_app(args, files, load_before, display, own_xvfb) -> dict:
    from PySide6.QtCore import QCoreApplication, Qt
    from PySide6.QtWidgets import QApplication
    from shiboken6 import Shiboken

    QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    from lab_app.app import MainWindow
    from lab_app.qt.gui_thread import prepare_gui_thread
    from lab_app.registry import TOPICS

    prepare_gui_thread()
    win = MainWindow(demo=True)
    win.resize(1400, 860)
    win.show()
    device, train_process = str(win.ctx.device), win.procs is not None
    wanted = [t for t in args.tabs.split(",") if t] or [s.id for s in TOPICS]
    tabs = {}
    try:
        for i, spec in enumerate(TOPICS):
            if spec.id in wanted:
                tabs[spec.id] = _visit(win, i, files, args)
                print(f"{spec.id}: {tabs[spec.id]}", file=sys.stderr)
    finally:
        win.shutdown(30.0)
        win.close()
        app.processEvents()
        # The window and the application end now, while this benchmark's X server still runs: the
        # 3D views' GL windows and contexts would otherwise be torn down at exit, after it is gone.
        Shiboken.delete(win)
        Shiboken.delete(app)
    worst_tab = max(tabs, key=lambda t: tabs[t]["longest_stall_ms"])
    return {
        "tabs": tabs,
        "worst_stall_ms": tabs[worst_tab]["longest_stall_ms"],
        "worst_tab": worst_tab,
        "platform": (f"xcb ({'own Xvfb' if own_xvfb else 'DISPLAY'} {display})") if display else "offscreen",
        "device": device,
        "train_process": train_process,
        "load_avg": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "targets": {"longest_stall_ms": 100, "p99_ms": 16, "first_result_s": 10},
    }
