"""startup: seconds from process start to the window's first paint, the lab against a bare window.

Each run starts two processes, one after the other, and times each from just before it is spawned
to the moment its window reports its first paint (a line on stderr; the lab logs "window painted"
from MainWindow's first paint event):

- the lab as ``make run`` starts it: ``python main.py``, no tab named, in a fresh HOME (so no
  saved settings: no last tab, the first tab opens);
- a bare PySide6 + pyqtgraph window: a QMainWindow holding one pyqtgraph plot, the same fresh
  HOME (the least a window of this stack costs: Python, Qt, pyqtgraph and numpy loaded, one frame).

Both run on a display of their own: an Xvfb server this benchmark starts (platform "xcb") when
Xvfb is installed and no DISPLAY is set, the current DISPLAY if one is, else Qt's "offscreen"
platform; the field ``platform`` says which. The user's cache folder is kept (XDG_CACHE_HOME), so
neither side pays for cold font caches.

Fields: startup_s, bare_s (medians over --runs), ratio = startup_s / bare_s, app_rss_mb (the lab's
resident memory at its first paint, median), platform, load_avg (1-minute load before and after:
these machines are shared). Target: ratio <= 3.
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from queue import Empty, Queue
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAINTED = "window painted"

BARE = f"""
import os, sys
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication, QMainWindow
import pyqtgraph as pg

class FirstPaint(QObject):  # the first paint event of any widget of the window
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint:
            sys.stderr.write("{PAINTED}\\n")
            sys.stderr.flush()
            app.removeEventFilter(self)
        return False

app = QApplication(sys.argv[:1])
win = QMainWindow()
plot = pg.PlotWidget()
plot.plot([0, 1, 2, 3], [0, 1, 0, 1])
win.setCentralWidget(plot)
win.resize(1400, 860)
probe = FirstPaint()
app.installEventFilter(probe)
win.show()
app.exec()
"""


def add_arguments(parser) -> None:
    parser.add_argument("--runs", type=int, default=5, help="start each window this many times (medians)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for one first paint")


def _start_xvfb() -> tuple[subprocess.Popen | None, str]:
    """A private Xvfb server if none is set up: (process or None, DISPLAY or "")."""
    if os.environ.get("DISPLAY"):
        return None, os.environ["DISPLAY"]
    if shutil.which("Xvfb") is None:
        return None, ""
    r, w = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
                            pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(w)
    with os.fdopen(r) as f:
        number = f.readline().strip()
    if not number:
        proc.kill()
        return None, ""
    return proc, f":{number}"


def _env(home: Path, display: str) -> dict:
    env = dict(os.environ, HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), PYTHONUNBUFFERED="1",
               PYQTGRAPH_QT_LIB="PySide6")
    env.setdefault("XDG_CACHE_HOME", str(Path.home() / ".cache"))
    env.pop("LAB_SETTINGS_DIR", None)  # the app's settings live in the fresh HOME
    if display:
        env["DISPLAY"] = display
        env["QT_QPA_PLATFORM"] = "xcb"
    else:
        env["QT_QPA_PLATFORM"] = "offscreen"
    return env


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def time_to_paint(cmd: list[str], display: str, timeout: float) -> tuple[float, float]:
    """(seconds from spawn to the first-paint line, resident MB then). Kills the process after."""
    with tempfile.TemporaryDirectory(prefix="lab-startup-") as home:
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=_env(Path(home), display), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        lines: Queue = Queue()
        threading.Thread(target=lambda: [lines.put(ln) for ln in iter(proc.stderr.readline, "")] + [lines.put("")],
                         daemon=True).start()
        tail: list[str] = []
        try:
            while True:
                try:
                    line = lines.get(timeout=max(0.0, t0 + timeout - time.monotonic()))
                except Empty:
                    raise RuntimeError(f"no first paint within {timeout:.0f} s:\n" + "".join(tail[-20:])) from None
                if PAINTED in line:
                    return time.monotonic() - t0, _rss_mb(proc.pid)
                if not line:
                    raise RuntimeError(f"{cmd[1]} exited ({proc.wait()}) before painting:\n" + "".join(tail[-20:]))
                tail.append(line)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)


def run(args) -> dict:
    xvfb, display = _start_xvfb()
    load_before = os.getloadavg()[0]
    app_s, bare_s, rss = [], [], []
    try:
        for _ in range(max(1, args.runs)):
            t, mb = time_to_paint([sys.executable, "main.py"], display, args.timeout)
            app_s.append(t)
            rss.append(mb)
            bare_s.append(time_to_paint([sys.executable, "-c", BARE], display, args.timeout)[0])
    finally:
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait(10)
    startup, bare = statistics.median(app_s), statistics.median(bare_s)
    return {
        "startup_s": round(startup, 3),
        "bare_s": round(bare, 3),
        "ratio": round(startup / bare, 2),
        "app_rss_mb": round(statistics.median(rss), 1),
        "platform": (f"xcb ({'own Xvfb' if xvfb else 'DISPLAY'} {display})") if display else "offscreen",
        "n_runs": len(app_s),
        "startup_each_s": [round(t, 3) for t in app_s],
        "bare_each_s": [round(t, 3) for t in bare_s],
        "load_avg": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "target_ratio": 3.0,
    }
