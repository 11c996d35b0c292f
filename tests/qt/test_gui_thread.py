"""The window's process paints its fills in the GUI thread: Qt's raster engine would hand every fill
that spans many rows (a plot's vertical grid lines) to a pool of threads and wait for them.

Each case runs in a fresh process: Qt makes that pool once, at the first such fill, and keeps it."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import glob, sys
from PySide6.QtWidgets import QApplication
import pyqtgraph as pg
app = QApplication(sys.argv[:1])
if sys.argv[1] == "prepared":
    from lab_app.qt.gui_thread import prepare_gui_thread
    prepare_gui_thread()
w = pg.PlotWidget()
w.showGrid(x=True, y=True)
w.plot([0, 1, 4, 9])
w.resize(500, 500)
w.show()
for _ in range(5):
    app.processEvents()
w.viewport().repaint()
print(sorted({open(f).read().strip() for f in glob.glob("/proc/self/task/*/comm")}))
"""


def _threads_after_a_grid_paint(how: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "QT_NO_GUI_THREADPOOL"}
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    out = subprocess.run([sys.executable, "-c", SCRIPT, how], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return ast.literal_eval(out.stdout.strip().splitlines()[-1])   # the list the script printed


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="thread names are read from /proc")
def test_a_prepared_gui_thread_paints_its_grid_without_a_thread_pool():
    plain = _threads_after_a_grid_paint("plain")
    if "Thread (pooled)" not in plain:
        pytest.skip(f"this Qt hands no fill to a thread pool (threads: {plain})")
    assert "Thread (pooled)" not in _threads_after_a_grid_paint("prepared")
