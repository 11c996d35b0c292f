"""Cyclic garbage is collected by a timer in the GUI thread, never by whichever thread allocates."""

import gc
import threading

from lab_app.qt.gc_guard import collect_in_gui_thread


def test_collections_happen_only_in_the_gui_thread(qtbot):
    gc.enable()
    guard = collect_in_gui_thread(interval_s=0.05)
    assert not gc.isenabled() and guard.timer.isActive()
    threads = []

    def record(phase, info):
        if phase == "start":
            threads.append(threading.current_thread())

    gc.callbacks.append(record)
    try:
        # A worker allocating far past the collector's thresholds: with automatic collection on,
        # the collection would run in this worker (and free Qt objects there).
        worker = threading.Thread(target=lambda: [[i] for i in range(50_000)])
        worker.start()
        worker.join()
        assert threads == []
        kept = []

        def allocated_and_collected():
            # Keep allocating: frees elsewhere lower the collector's count, so one burst may not do.
            kept.append([[i] for i in range(2000)])
            return len(threads) > 0

        qtbot.waitUntil(allocated_and_collected, timeout=5000)
        assert all(t is threading.main_thread() for t in threads)
    finally:
        gc.callbacks.remove(record)
