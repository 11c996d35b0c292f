"""A newly built tab's plots paint for the first time one per event-loop turn, not all in one.

The first paint of a plot is its most expensive: every axis lays out its ticks and texts and renders
them into its pixmap cache (lab_app/qt/widgets/axis_cache.py), every item computes its bounds. A tab
shows up to a dozen plots, and when it takes its place all of them painted in the same turn of the
event loop, one stall of a few hundred milliseconds under software rendering (``ui_stalls``).

``stagger_first_paint`` turns updates off on the plots of a tab about to be shown and back on one
plot per turn, painting it then (``repaint``), so that the window's other work (timers, input,
events from a worker) comes in between; each plot appears a few milliseconds after the one before.
A turn that has spent its drawing budget (lab_app/qt/turn_budget.py) paints none; each paint is
charged to its turn.
``hold_back`` puts one plot in the same queue later on: a plot whose repaint would make a turn that
has painted enough longer (lab_app/qt/widgets/scene_settle.py).
``stagger_on_first_show`` does the same for the plots of sub-tab pages not on screen yet, at each
page's first show.
``finish_first_paint`` (called by every export, lab_app/qt/widgets/export.py) paints what is
still waiting at once, so an image never shows a plot that has not drawn yet.
"""

from __future__ import annotations

import weakref

from PySide6.QtCore import QCoreApplication, QEvent, QObject, QTimer
from PySide6.QtWidgets import QTabWidget, QWidget

from lab_app.qt import turn_budget

_waiting: list[weakref.ref] = []   # plots whose first paint is still to come, in order
_timer: QTimer | None = None


def _widget(ref: weakref.ref) -> QWidget | None:
    w = ref()
    try:
        if w is not None and w.isWidgetType():   # raises RuntimeError once Qt deleted it
            return w
    except RuntimeError:
        pass
    return None


def stagger_first_paint(views: list[QWidget]) -> None:
    """Hold back ``views``' painting, then paint them one per event-loop turn, in this order."""
    global _timer
    for view in views:
        if any(_widget(r) is view for r in _waiting):
            continue   # waits already (a page inside a page: both shown at once)
        view.setUpdatesEnabled(False)
        _waiting.append(weakref.ref(view))
    if _timer is None:
        _timer = QTimer()
        _timer.setInterval(0)
        _timer.timeout.connect(_paint_next)
    if _waiting and not _timer.isActive():
        _timer.start()


class _FirstShow(QObject):
    """Staggers the first paints of a page's plots at the page's first show (then goes away)."""

    def __init__(self, page: QWidget, plots_of):
        super().__init__(page)
        self._plots_of = plots_of
        page.installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.Show:
            obj.removeEventFilter(self)
            stagger_first_paint(self._plots_of(obj))   # its children are visible by now, not painted
            self.deleteLater()
        return False


def stagger_on_first_show(root: QWidget, plots_of) -> int:
    """The pages of ``root``'s tab widgets that are not on screen now: their plots (``plots_of(page)``)
    paint for the first time one per turn when each page is first shown (a tab that switches to
    its sub-tab with plots as its demo starts would otherwise paint them all in one repaint of the
    window). Returns how many pages wait."""
    tab_widgets = [root] * isinstance(root, QTabWidget) + root.findChildren(QTabWidget)
    pages = [tabs.widget(i) for tabs in tab_widgets for i in range(tabs.count())]
    waiting = [page for page in pages if not page.isVisibleTo(root)]
    for page in waiting:
        _FirstShow(page, plots_of)
    return len(waiting)


def hold_back(view: QWidget) -> None:
    """Hold back ``view``'s painting (unless it already waits) and paint it at a later turn, after
    those waiting before it."""
    if any(_widget(r) is view for r in _waiting):
        return
    stagger_first_paint([view])


def _paint_next() -> None:
    if turn_budget.over():
        return   # this turn has drawn enough (lab_app/qt/turn_budget.py): the next plot at a later one
    with turn_budget.drawing():
        _paint_one()


def _paint_one() -> None:
    while _waiting:
        view = _widget(_waiting.pop(0))
        if view is None:
            continue
        scene = getattr(view, "scene", lambda: None)()
        if view.isVisible() and callable(getattr(scene, "prepareForPaint", None)):
            # a pyqtgraph plot: its ranges settled and its scene's queued updates taken in while it
            # still paints nothing, so that the paint below is its only one (scene_settle.py)
            scene.prepareForPaint()
            QCoreApplication.sendPostedEvents(scene, QEvent.Type.MetaCall)
        view.setUpdatesEnabled(True)
        if view.isVisible():
            view.repaint()
        break
    if not _waiting and _timer is not None:
        _timer.stop()


def finish_first_paint() -> None:
    """Let every plot still waiting paint now (before a grab of the window or of a view)."""
    while _waiting:
        view = _widget(_waiting.pop(0))
        if view is not None:
            view.setUpdatesEnabled(True)
    if _timer is not None:
        _timer.stop()


def waiting() -> int:
    """How many plots still wait for their first paint."""
    return sum(_widget(r) is not None for r in _waiting)
