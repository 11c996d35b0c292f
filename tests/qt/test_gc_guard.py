"""Cyclic garbage is collected by a timer in the GUI thread, never by whichever thread allocates."""

import gc
import weakref

from lab_app.qt.gc_guard import collect_in_gui_thread


class _Node:
    pass


def test_automatic_collection_is_off_and_the_gui_timer_collects_cycles(qtbot):
    gc.enable()
    guard = collect_in_gui_thread(interval_s=0.05)
    assert not gc.isenabled() and guard.timer.isActive()
    a, b = _Node(), _Node()
    a.other, b.other = b, a                        # a cycle: only the cyclic collector frees it
    alive = weakref.ref(a)
    del a, b
    kept = [[i] for i in range(5000)]              # past the collector's generation-0 threshold
    assert alive() is not None                     # nothing collects it by itself any more
    qtbot.waitUntil(lambda: alive() is None, timeout=3000)
    assert len(kept) == 5000
