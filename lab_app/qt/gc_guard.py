"""Python's cyclic garbage collector only in the GUI thread.

The collector runs in whichever thread happens to allocate when a threshold is crossed. When that
is a worker thread and the garbage holds Qt objects (widgets in reference cycles), shiboken deletes
them there: ~QObject takes a Qt mutex and then waits for the GIL, while the GUI thread holds the GIL
and waits for that mutex. The process hangs (seen in the test suite: a language-tab worker thread
collected a closed tab's QMenu). pyqtgraph's GarbageCollector is the standard cure: automatic
collection off, ``gc.collect`` from a timer in the GUI thread."""

from __future__ import annotations

import gc

_guard = None


def collect_in_gui_thread(interval_s: float = 1.0):
    """Turn automatic collection off and collect from a QTimer in the calling (GUI) thread, with the
    collector's own thresholds. Call once, after the QApplication exists; returns the guard."""
    global _guard
    if _guard is None:
        from pyqtgraph.util.garbage_collector import GarbageCollector

        _guard = GarbageCollector(interval=interval_s)
    gc.disable()                 # again: something may have turned it back on since
    return _guard


