"""Plots settle their ranges before Qt repaints them, so that a change paints each plot once.

pyqtgraph resolves a plot's auto-range when its scene is about to be drawn: GraphicsView.paintEvent
calls GraphicsScene.prepareForPaint, whose signal makes each ViewBox run the auto-range it deferred
(and each TextItem its transform). A new range changes the axes and the items' transforms inside
that paint; they ask for an update, and the plot is painted a second time straight after, the same
picture. New data in a live curve thus cost two paints of its plot, each with its axes laid out.

Qt hands a scene's pending item updates to its views in a queued call to the scene (a MetaCall event,
QGraphicsScene's ``_q_emitUpdated`` / ``_q_processDirtyItems``), and that call repaints the window's
dirty widgets then and there (QGraphicsView's ``dispatchPendingUpdateRequests``). ``install()`` lets
pyqtgraph's scene prepare for painting at that call, before the repaint: the ranges are settled, the
axes' updates are part of the same repaint, and the paint that follows has nothing left to change.

It also keeps those repaints from piling up in one turn of the event loop. Qt delivers every queued
call before it runs a timer or reads input, so when new results change a dozen plots at once, a
dozen repaints follow back to back, a stall of a couple of hundred milliseconds under software
rendering. Once a turn has spent its drawing budget (lab_app/qt/turn_budget.py: these repaints, the
runners' slots, the 3D views' frames), a scene that asks for a repaint after that has its views held
back (lab_app/qt/first_paint.py), to be painted one per turn after it: the window answers in
between, and each plot is drawn a turn or a few later.
"""

from __future__ import annotations

from lab_app.qt import turn_budget

_installed = False


def install() -> bool:
    """Make every pyqtgraph scene settle its plots before the queued calls that repaint them. Returns
    True once installed (again: nothing more to do), False (and changes nothing) where pyqtgraph's
    scene has no ``prepareForPaint`` to call."""
    global _installed
    if _installed:
        return True
    import pyqtgraph as pg
    from PySide6.QtCore import QEvent
    from PySide6.QtWidgets import QGraphicsScene

    from lab_app.qt.first_paint import hold_back

    if not callable(getattr(pg.GraphicsScene, "prepareForPaint", None)):
        return False

    base = pg.GraphicsScene.__dict__.get("event", QGraphicsScene.event)   # pyqtgraph's own, if it has one
    meta_call = QEvent.Type.MetaCall

    def event(self, ev) -> bool:
        if ev.type() != meta_call:
            return base(self, ev)
        # a plot on a hidden tab is not repainted: its range waits, as pyqtgraph has it, until shown
        shown = [view for view in self.views() if view.isVisible() and view.updatesEnabled()]
        if not shown:
            return base(self, ev)
        if turn_budget.over():   # this turn has drawn enough: these views paint later
            for view in shown:
                hold_back(view)
            return base(self, ev)
        with turn_budget.drawing():
            self.prepareForPaint()
            return base(self, ev)

    pg.GraphicsScene.event = event
    _installed = True
    return True
