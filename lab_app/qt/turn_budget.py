"""How long the current turn of the GUI thread's event loop has spent drawing, and whether it has
spent enough.

Qt delivers every queued call and posted event of a turn before it runs a timer or reads input. The
lab's drawing happens in such places: a runner's drain of its worker's events (the tabs' slots,
lab_app/qt/worker.py), the queued calls with which pyqtgraph's scenes repaint their plots
(lab_app/qt/widgets/scene_settle.py), the 3D views' frames (lab_app/qt/widgets/gl_window.py), and the
window's own repaint of the widgets that changed and its activation of a tab (lab_app/app.py). Each
charges what it spent here; once the turn has spent ``BUDGET_S``, the drains, scenes and 3D views
that ask to draw after that wait for a later turn, so that the window answers in between.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

#: seconds of drawing in one turn of the event loop before further repaints wait for a later one. A
#: turn goes on until the unit that crosses it is done (a repaint, a slot: often as long as the budget
#: itself), so the budget is half a 60 Hz frame, not a whole one: see the README's ui_stalls row
BUDGET_S = 0.008

_spent = 0.0
# a zero-delay timer, restarted at every charge: the turn ends at the first pass over the timers that
# begins after the last charge, once the queued calls posted before it are delivered
_turn_end = None


def _new_turn() -> None:
    global _spent
    _spent = 0.0


def charge(seconds: float) -> None:
    """Count ``seconds`` of drawing against the current turn."""
    global _spent, _turn_end
    if _turn_end is None:
        from PySide6.QtCore import QTimer

        _turn_end = QTimer()
        _turn_end.setSingleShot(True)
        _turn_end.setInterval(0)
        _turn_end.timeout.connect(_new_turn)
    _spent += seconds
    # Restarted, not left running: Qt fires the timers that are due when a pass over them begins, in
    # the order they fell due. A turn end already due (a charge earlier in the turn) would fire in
    # this very pass after a drain that charges now, and the repaints that drain queued would find
    # the budget whole again. Restarted, it comes at the next pass, after those repaints.
    _turn_end.start()


_depth = 0   # drawing blocks open now: the outermost one charges the time of those inside it


@contextmanager
def drawing() -> Iterator[None]:
    """Charge the time the ``with`` block takes (however it ends) to the current turn. A block inside
    another (a plot's repaint makes Qt repaint the window at once, and the window's repaint is a
    drawing block of its own) is part of the outer one's time, not charged twice."""
    global _depth
    t0 = time.perf_counter()
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0:
            charge(time.perf_counter() - t0)


def spent() -> float:
    return _spent


def over() -> bool:
    """Whether this turn has drawn enough: what asks to paint now should wait for a later turn."""
    return _spent >= BUDGET_S


def in_turns(owner, parts: list, still=lambda: True) -> None:
    """Run ``parts`` (callables) one per turn of the event loop, the first now, each charged to its
    turn: the window repaints what one changed before the next runs (a result that changes a whole
    page at once is one long repaint). ``still()`` False drops the parts not yet run (a newer result
    came). ``owner`` (a QObject) going away drops them too."""
    if not parts or not still():
        return
    with drawing():
        parts[0]()
    if len(parts) > 1:
        from PySide6.QtCore import QTimer

        QTimer.singleShot(0, owner, lambda: in_turns(owner, parts[1:], still))
