"""Python's cyclic garbage collector only in the GUI thread, and its full passes only when due.

The collector runs in whichever thread happens to allocate when a threshold is crossed. When that
is a worker thread and the garbage holds Qt objects (widgets in reference cycles), shiboken deletes
them there: ~QObject takes a Qt mutex and then waits for the GIL, while the GUI thread holds the GIL
and waits for that mutex. The process hangs (seen in the test suite: a language-tab worker thread
collected a closed tab's QMenu). The standard cure (pyqtgraph's GarbageCollector) turns automatic
collection off and collects from a timer in the GUI thread.

pyqtgraph's timer, though, runs a full pass (generation 2) every tenth pass of generation 1, which
CPython itself does not: CPython also waits until the objects that reached generation 2 since its
last full pass are at least a quarter of those it held then (gcmodule.c, "long_lived_pending >
long_lived_total / 4"), so that full passes cost linear time overall. With torch and pyqtgraph
loaded the old generation is large, and each full pass is a stall of the UI thread, every few
seconds while a tab trains and draws (figures in the README, ``ui_stalls``). ``GuiCollector``
keeps CPython's rule: it counts the survivors of each generation-1 pass it runs (the objects the pass
looked at minus those it found unreachable) and runs a full pass only when they reach that quarter.

Even so a full pass traverses every tracked object (a few hundred thousand with every tab built),
a stall of a tenth of a second or more each time. Most of them are made once and live as long as
the window: modules, tabs, their widgets and plots. ``settle_long_lived`` (called when a tab has
been built) collects generation 0 and then freezes every object (``gc.freeze``, the
permanent generation): full passes skip them from then on. Frozen objects are still freed by
reference counting; only a reference cycle among them that becomes garbage later stays until exit.

The timer's interval sets how large the young generation grows between checks: CPython itself
collects generation 0 every 700 net allocations, while a timer lets a whole interval's allocations
pile up (a tab that trains and draws makes tens of thousands a second), and a pass costs time in
proportion to the objects it looks at. With a check every second, one generation-0 or generation-1
pass could hold the UI thread for several frames (the README's ``ui_stalls`` figures); checking
every 50 ms keeps each pass small, for the same total work. A check that finds nothing to do is
one ``gc.get_count()``.

While modules are being imported in a background thread (the window imports torch and a tab's
modules ahead of its build, lab_app/qt/lazy_tabs.py ``ImportAhead``), what reaches the old
generation is module-level objects that live as long as the process: a full pass then would traverse
some three hundred thousand objects (torch's) on the UI thread only to find them alive.
``hold_full_passes`` defers full passes until the imports are done and their objects frozen
(``release_full_passes``, then ``settle_long_lived``). The same holds for the generation-1 passes in
between: what survives a generation-0 pass then is mostly the imports' objects, and a generation-1
pass over them (tens of thousands, during torch's import) held the UI thread for several frames only
to find them alive. While imports are in flight, a due generation-1 pass freezes the young generations
instead (a list splice); generation-0 passes still collect young garbage. What a frozen cycle leaves
when it becomes garbage later stays until exit, as with ``settle_long_lived``.
"""

from __future__ import annotations

import gc

_guard = None


class GuiCollector:
    """Collects from a QTimer in the thread that creates it (the GUI thread), CPython's way:
    generation 0 when its allocation count passes the threshold, generation 1 every
    ``threshold[1]``-th time, generation 2 when ``threshold[2]`` generation-1 passes have run and
    their survivors (``pending``) reach a quarter of the objects it held after its last full pass
    (``long_lived``)."""

    def __init__(self, interval_s: float = 0.05):
        from PySide6.QtCore import QTimer

        self.threshold = gc.get_threshold()
        self.long_lived = len(gc.get_objects(generation=2))
        self.pending = 0
        self.passes = [0, 0, 0]
        self.holds = 0   # full passes wait while this is above 0 (imports in flight)
        self.frozen_while_held = 0   # generation-1 passes that froze instead, imports being in flight
        gc.disable()
        self.timer = QTimer()
        self.timer.timeout.connect(self.check)
        self.timer.start(int(interval_s * 1000))

    def check(self) -> None:
        c0, c1, c2 = gc.get_count()
        if c0 <= self.threshold[0]:
            return
        if c1 <= self.threshold[1]:
            gc.collect(0)
            self.passes[0] += 1
            return
        if self.holds:   # imports in flight: generation 1 is mostly their objects (module docstring)
            gc.collect(0)
            self.passes[0] += 1
            gc.freeze()
            self.frozen_while_held += 1
            return
        # A generation-1 pass looks at generations 0 and 1; what it does not find unreachable goes
        # on to generation 2. The lists cost O(young objects), a small fraction of the pass itself.
        looked_at = len(gc.get_objects(generation=0)) + len(gc.get_objects(generation=1))
        self.pending += max(0, looked_at - gc.collect(1))
        self.passes[1] += 1
        if c2 + 1 > self.threshold[2] and self.pending > self.long_lived // 4 and not self.holds:
            found = gc.collect(2)
            self.passes[2] += 1
            self.long_lived = max(0, self.long_lived + self.pending - found)
            self.pending = 0

    def settle(self) -> None:
        """Many long-lived objects were just made: collect generation 0, then freeze everything so
        that full passes no longer traverse it. Generation 1 is frozen without a pass of its own, as
        while imports are in flight (``check``): after the imports of a tab it holds tens of
        thousands of their objects, each of which has survived a pass already, and a generation-1
        pass over them held the UI thread 30-40 ms only to find them alive (``ui_stalls``, the
        language and pyramids tabs)."""
        gc.collect(0)
        gc.freeze()
        self.long_lived = len(gc.get_objects(generation=2))   # frozen objects are in none
        self.pending = 0


def settle_long_lived() -> None:
    """A tab has been built: freeze what exists (``GuiCollector.settle``). Nothing
    to do where no guard collects (tests, scripts): their collections stay as they were."""
    if _guard is not None:
        _guard.settle()


def hold_full_passes() -> None:
    """Long-lived objects are being made (imports in a background thread): no full pass until the
    matching ``release_full_passes``. Nothing to do where no guard collects."""
    if _guard is not None:
        _guard.holds += 1


def release_full_passes() -> None:
    if _guard is not None:
        _guard.holds = max(0, _guard.holds - 1)


def collect_in_gui_thread(interval_s: float = 0.05) -> GuiCollector:
    """Turn automatic collection off and collect from a QTimer in the calling (GUI) thread, with the
    collector's own thresholds and rule for full passes. Call once, after the QApplication exists;
    returns the guard."""
    global _guard
    if _guard is None:
        _guard = GuiCollector(interval_s)
    gc.disable()                 # again: something may have turned it back on since
    return _guard
