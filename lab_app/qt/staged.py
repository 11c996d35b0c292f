"""Building a tab in slices across event-loop turns.

A tab's constructor creates a few hundred widgets, pyqtgraph plots among them (each costs tens of
milliseconds), all in one go: the window froze that long whenever a tab was first shown (figures in
the README, "Start-up").
``StagedBuild`` runs the constructor in a greenlet (a second stack on the same thread: the Qt objects
are made on the GUI thread as before) and the constructor's code calls ``build_pause()`` between its
widgets (every view does, first thing: ExportableView). A pause hands the thread back to the event
loop, and the build goes on in a later turn, when the part after it would take the turn past SLICE_S:
the turn's drawing so far (lab_app/qt/turn_budget.py), the slice's time, and the next part's, guessed
as long as the part that last followed the same pause (the pause's call site and its caller's: the
ViewBox of a plot, a view's own set-up, cost about the same each time they are made; waiting until
the slice has run SLICE_S instead let a slice run SLICE_S plus a whole part), or, for a pause not met
before, as long as the part before it. The
slice's time is charged to the turn, so the repaints queued after it in the same turn wait. Outside a
staged build (tests, ``win.tab(id)`` when a caller needs the tab now) ``build_pause`` does nothing, so the
same constructor builds at once. Generators would do the same only with every constructor (and every
panel's and view's inside it) rewritten as one; the pauses leave the constructors as they are. The
half-built tab is not on screen and not in the window's table of tabs while it waits.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable

import greenlet
from PySide6.QtCore import QObject, QTimer, Signal

from lab_app.qt import turn_budget

log = logging.getLogger(__name__)

SLICE_S = 0.015  # UI-thread time a turn may spend with a slice in it (a 60 Hz frame is 16 ms)

_running: list[StagedBuild] = []   # the staged builds in the middle of a slice, innermost last

#: The time of the part that last followed each pause, by the pause's site (``_site``).
_part_after: dict[tuple, float] = {}


def _site(frame) -> tuple:
    """Where a pause was called: the calling line and its caller's (a view's pause at the start of
    ExportableView is told apart by the view that was being made)."""
    outer = frame.f_back
    return (frame.f_code, frame.f_lineno, outer.f_code if outer else None, outer.f_lineno if outer else 0)


def build_pause() -> None:
    """Called between widgets in a tab's construction: in a staged build whose turn would run past
    SLICE_S with one more part, let the event loop run (the build goes on in a later turn); elsewhere
    nothing."""
    if not _running:
        return
    build = _running[-1]
    if build.finishing or build.glet is not greenlet.getcurrent():
        return
    now = time.perf_counter()
    part, build.part_start = now - build.part_start, now
    if build.part_site is not None:
        _part_after[build.part_site] = part
    build.part_site = site = _site(sys._getframe(1))
    if turn_budget.spent() + (now - build.slice_start) + _part_after.get(site, part) >= SLICE_S:
        build.glet.parent.switch()


class StagedBuild(QObject):
    """``make()`` run in slices across event-loop turns (``start``), or to the end now (``finish``).
    Emits ``built(obj)`` or ``failed(message)`` once; ``slices`` counts the turns it took and
    ``longest_slice_s`` the longest."""

    built = Signal(object)
    failed = Signal(str)

    def __init__(self, make: Callable[[], object], parent: QObject | None = None):
        super().__init__(parent)
        self.glet = greenlet.greenlet(make)
        self.finishing = False
        self.result: object = None
        self.error: BaseException | None = None
        self.slice_start = self.part_start = 0.0
        self.part_site: tuple | None = None   # the pause the part now running began at
        self.slices = 0
        self.longest_slice_s = 0.0

    @property
    def done(self) -> bool:
        return self.glet.dead

    @property
    def running(self) -> bool:
        """In the middle of a slice (the build's own code is asking)."""
        return self in _running

    def start(self) -> None:
        QTimer.singleShot(0, self, self._step)

    def finish(self) -> object:
        """Build the rest now, without pauses; the object, or the build's exception raised."""
        self.finishing = True
        while not self.glet.dead:
            self._slice()
        if self.error is not None:
            raise self.error
        return self.result

    def abandon(self) -> None:
        """Stop here (the window closes): the constructor unwinds at its pause (GreenletExit) and
        nothing is emitted."""
        self.finishing = True
        if not self.glet.dead and self.glet is not greenlet.getcurrent():
            self.glet.throw()       # GreenletExit where it paused; the greenlet ends quietly

    def _step(self) -> None:
        if self.glet.dead:          # finished meanwhile by ``finish``, or abandoned
            return
        self._slice()
        if not self.glet.dead:
            QTimer.singleShot(0, self, self._step)

    def _slice(self) -> None:
        self.slice_start = self.part_start = time.perf_counter()
        _running.append(self)
        self.glet.parent = greenlet.getcurrent()   # a pause (or the end) comes back here
        try:
            out = self.glet.switch()
        except Exception as e:  # noqa: BLE001 - the build failed: reported, the window goes on
            self.error = e
            log.exception("building in slices failed")
            self.failed.emit(f"{type(e).__name__}: {e}")
            return
        finally:
            _running.remove(self)
            self.slices += 1
            took = time.perf_counter() - self.slice_start
            self.longest_slice_s = max(self.longest_slice_s, took)
            if not self.finishing:
                turn_budget.charge(took)
        if self.glet.dead:
            self.result = out
            self.built.emit(out)
