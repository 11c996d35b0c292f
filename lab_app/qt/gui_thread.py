"""What the window's process sets up for its GUI thread, before the window exists.

Two things decide how soon the GUI thread runs again once it wants to:

- the cyclic garbage collector runs only in it, from a timer, in small passes (``gc_guard``);
- the interpreter's switch interval. Every call from Qt into Python (a timer, a paint of a
  pyqtgraph item, a signal to a slot) must take the interpreter lock, and pyqtgraph's paints make
  many such calls. When another thread of this process runs Python (the thread that imports a tab's
  modules ahead of its build, the threads that relay a worker's events), the GUI thread waits for it
  to let go, which it does only after the switch interval: 5 ms by default, per call. Sampled with
  py-spy during ``ui_stalls``, the GUI thread spent a large share of its busy time there. A 1 ms
  interval lets it in sooner; the other threads pay a few more switches.

And one thing decides how long a paint takes: Qt's raster engine splits a fill that spans many rows
(a vertical grid line, a tall rectangle) into pieces of 64 rows and hands them to its own GUI thread
pool, then waits for them all. For the lab's plots every piece is a few hundred pixels, so the
hand-over costs more than the drawing, and the pool's threads compete for the cores with the
training worker. ``QT_NO_GUI_THREADPOOL`` (read by Qt when it would first make that pool) makes the
GUI thread fill them itself; a plot with a grid then paints about three times faster here (figures
in README.md, "Each fill handed to a thread pool").
"""

from __future__ import annotations

import os
import sys

from lab_app.qt.gc_guard import GuiCollector, collect_in_gui_thread

#: seconds a thread holding the interpreter lock runs before it must hand it to a waiting one
SWITCH_INTERVAL_S = 0.001


def prepare_gui_thread() -> GuiCollector:
    """Call once, in the GUI thread, after the QApplication exists and before anything is painted;
    returns the garbage guard."""
    os.environ.setdefault("QT_NO_GUI_THREADPOOL", "1")
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    return collect_in_gui_thread()
