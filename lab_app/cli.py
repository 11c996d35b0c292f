"""Command line: ``python main.py [FILES...] [--tab ID] [--device auto|cpu|cuda|mps] [--seed N]
[--list-tabs] [--screenshot DIR]``."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from pathlib import Path

from lab_app.core.device import DEVICE_CHOICES
from lab_app.registry import TOPICS

log = logging.getLogger("lab")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="main.py", description="Visual Deep-Learning Lab")
    p.add_argument("files", nargs="*", help="files to open (each goes to the tab that reads its kind)")
    p.add_argument("--tab", action="append", metavar="ID",
                   help="tab to show (repeat with --screenshot for several); see --list-tabs")
    p.add_argument("--device", choices=DEVICE_CHOICES, default=None,
                   help="where models run (default: the saved choice, else auto = CUDA, MPS, CPU)")
    p.add_argument("--seed", type=int, default=0, help="random seed for demos and training (default 0)")
    p.add_argument("--ray", metavar="ADDRESS", default=None,
                   help="train on a Ray cluster: ray://host:10001, or auto for one this machine belongs to "
                        "(needs the ray extra); files and inference stay here")
    p.add_argument("--list-tabs", action="store_true", help="print one tab id per line and exit")
    p.add_argument("--screenshot", metavar="DIR",
                   help="run each tab's demo (or the --tab ones) until it has drawn, save DIR/<tab>.png, exit")
    p.add_argument("--screenshot-timeout", type=float, default=300.0, metavar="S",
                   help="seconds to wait for a tab's result in --screenshot mode (default 300)")
    p.add_argument("--quit-after", type=float, default=None, metavar="S",
                   help="close the window after S seconds (scripted runs and tests)")
    p.add_argument("-v", "--verbose", action="store_true", help="log more")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s: %(message)s", stream=sys.stderr)
    if args.list_tabs:
        print("\n".join(t.id for t in TOPICS))
        return 0
    known = {t.id for t in TOPICS}
    for t in args.tab or []:
        if t not in known:
            print(f"unknown tab {t!r}; known tabs: {', '.join(sorted(known))}", file=sys.stderr)
            return 2
    missing = [f for f in args.files if not Path(f).exists()]
    if missing:
        print(f"no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    return run_app(args)


def run_app(args) -> int:
    os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
    from PySide6.QtCore import QCoreApplication, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    # GL views in several tabs share one context; this must be set before the QApplication exists.
    QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Visual Deep-Learning Lab")
    app.setOrganizationName("VisualDLLab")
    from lab_app.qt.gui_thread import prepare_gui_thread

    prepare_gui_thread()     # garbage collection only in this thread, a short switch interval, no fill pool

    from lab_app.app import MainWindow

    # torch's thread policy is set by the window when it first needs torch (after its first paint).
    start_tab = (args.tab or [None])[0]
    win = MainWindow(device_pref=args.device, seed=args.seed, start_tab=start_tab,
                     demo=not args.files)
    win.show()
    log.info("window shown")
    if args.ray:
        win.join_cluster(args.ray)
    if args.files:
        QTimer.singleShot(0, lambda: win.open_files(args.files))

    # Ctrl+C / SIGTERM close the window cleanly (cancel work, save settings, exit 0). Python only
    # runs signal handlers between bytecodes, so a timer lets the interpreter run now and then.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: QTimer.singleShot(0, win.close))
    heartbeat = QTimer()
    heartbeat.timeout.connect(lambda: None)
    heartbeat.start(200)

    status = {"code": 0}
    if args.screenshot:
        ids = args.tab or [t.id for t in TOPICS]
        QTimer.singleShot(0, lambda: _screenshots(win, Path(args.screenshot), ids, args.screenshot_timeout, status))
    elif args.quit_after is not None:
        QTimer.singleShot(int(args.quit_after * 1000), win.close)

    code = app.exec()
    heartbeat.stop()
    win.deleteLater()
    app.processEvents()
    return code or status["code"]


def _wait_for_result(tab, timeout: float) -> str | None:
    """Run the event loop until the tab's demo is done (every page drawn); None on success, else why
    not."""
    from PySide6.QtCore import QEventLoop, QTimer

    if getattr(tab, "demo_done", False):
        return None
    outcome: dict = {}
    loop = QEventLoop()

    def ok():
        outcome.setdefault("ok", True)
        loop.quit()

    def failed(msg):
        outcome.setdefault("error", msg)
        loop.quit()

    tab.demo_ready.connect(ok)
    tab.runner.errored.connect(failed)
    timer = QTimer()
    timer.setSingleShot(True)
    timer.timeout.connect(lambda: failed(f"no result within {timeout:.0f} s"))
    timer.start(int(timeout * 1000))
    tab.ensure_demo()
    if not getattr(tab, "demo_done", False):
        loop.exec()
    timer.stop()
    tab.demo_ready.disconnect(ok)
    tab.runner.errored.disconnect(failed)
    return outcome.get("error")


def _settle(ms: int) -> None:
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def _screenshots(win, out_dir: Path, ids: list[str], timeout: float, status: dict) -> None:
    from lab_app.core.runcard import run_card_path_for, save_run_card

    out_dir.mkdir(parents=True, exist_ok=True)
    for tab_id in ids:
        tab = win.tab(tab_id)  # built now if it was not yet
        win.tabs.setCurrentWidget(tab)
        t0 = time.monotonic()
        error = _wait_for_result(tab, timeout)
        _settle(600)  # let views finish (GL level of detail returns to full detail when still)
        pages = tab.screenshot_pages() if hasattr(tab, "screenshot_pages") else [("", None)]
        for suffix, show in pages[1:]:   # the extra pages (sub-tabs) first, the main one last
            show()
            _settle(400)
            win.export_window(out_dir / f"{tab_id}{suffix}.png")
        if pages[0][1] is not None:
            pages[0][1]()
            _settle(400)
        path = win.export_window(out_dir / f"{tab_id}.png")
        save_run_card(run_card_path_for(path), win.run_card(tab))   # what made it, as File > Export writes
        if error:
            status["code"] = 1
            print(f"{tab_id}: {error} (screenshot saved anyway: {path})", file=sys.stderr)
        else:
            print(f"{path} ({time.monotonic() - t0:.1f} s)")
    win.close()
