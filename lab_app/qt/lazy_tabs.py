"""Tabs built the first time they are shown.

Building every tab at launch imported torch and every topic's models and widgets before the window
appeared, and held their memory whether or not the tab was ever opened. The window instead puts a
``TabPlaceholder`` where each tab goes; once a placeholder has been painted (its tab is on screen,
so the window already shows), it asks for its tab to be built, and the tab takes its place.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable, Iterable

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QApplication, QLabel, QTabWidget, QVBoxLayout, QWidget

from lab_app.qt.gc_guard import hold_full_passes, release_full_passes

log = logging.getLogger(__name__)


class TabPlaceholder(QWidget):
    """Stands in a tab's place until the tab is built. Emits ``wanted`` (once, from the event loop
    after the paint, so the frame is on screen first) the first time it is painted."""

    wanted = Signal()

    def __init__(self, title: str, parent: QWidget | None = None):
        super().__init__(parent)
        self._asked = False
        self.label = label = QLabel(f"Opening the {title} tab…")
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        label.setWordWrap(True)
        label.setStyleSheet("QLabel { color: #8a93a6; font-size: 15px; }")
        layout = QVBoxLayout(self)
        layout.addWidget(label)

    def show_error(self, text: str) -> None:
        """The tab could not be built: say why where it would be."""
        self.label.setText(text)
        self.label.setStyleSheet("QLabel { color: #e06c75; font-size: 15px; }")

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().paintEvent(event)
        if not self._asked:
            self._asked = True
            QTimer.singleShot(0, self, self.wanted.emit)


def label(title: str) -> str:
    """A title as tab or menu text: a single "&" would mark a shortcut letter and vanish."""
    return title.replace("&", "&&")


class BuiltTabs(dict):
    """The tabs built so far, by id. Looking up one that is not built yet builds it (so
    ``tabs[tab_id]`` always gives the tab); iterating, ``in`` and ``get`` see only built tabs."""

    def __init__(self, build: Callable[[str], object]):
        super().__init__()
        self._build = build

    def __missing__(self, tab_id: str):
        return self._build(tab_id)


def swap_page(tabs: QTabWidget, index: int, page: QWidget, title: str) -> None:
    """Put ``page`` in place of page ``index`` (deleted later); the current tab stays current and
    no currentChanged is emitted (swapping a page is not a change of tab)."""
    old = tabs.widget(index)
    current = tabs.currentIndex()
    blocked = tabs.blockSignals(True)
    try:
        tabs.removeTab(index)
        tabs.insertTab(index, page, title)
        tabs.setCurrentIndex(current)
    finally:
        tabs.blockSignals(blocked)
    old.deleteLater()


class _FirstPaint(QObject):
    def __init__(self, window: QWidget, callback: Callable[[], None]):
        super().__init__(window)
        self._window, self._callback = window, callback
        QApplication.instance().installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.Paint and isinstance(obj, QWidget) and obj.window() is self._window:
            QApplication.instance().removeEventFilter(self)
            self._callback()
        return False


def log_first_paint(window: QWidget, callback: Callable[[], None]) -> QObject:
    """Call ``callback`` once, at the first paint event of any widget of ``window`` (a window fully
    covered by its children gets no paint event of its own). Keep the returned object."""
    return _FirstPaint(window, callback)


class ImportAhead(QObject):
    """Imports modules in a background thread, then emits ``ready(key)`` on the UI thread. Imports
    create no widgets, so they need not run on the UI thread. Before the UI thread imports anything
    itself it calls ``wait()``: two threads importing overlapping module graphs at once can meet
    in a lock cycle, which Python breaks by handing one of them a half-initialised module."""

    ready = Signal(str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._pending: set[str] = set()
        self._threads: list[threading.Thread] = []

    def start(self, key: str, modules: Iterable[str]) -> None:
        if key in self._pending:
            return
        self._pending.add(key)
        hold_full_passes()   # until done(key): the imports' objects are frozen, not traversed
        names = list(modules)

        def work():
            if "torch" in names:
                from lab_app.core.preload import preload_torch

                preload_torch()   # its libraries load without the interpreter lock the UI thread needs
            for name in names:
                try:
                    importlib.import_module(name)
                except Exception:  # noqa: BLE001 - the UI thread's own import reports it
                    log.debug("importing %s ahead failed", name, exc_info=True)
                    break
            try:
                self.ready.emit(key)
            except RuntimeError:  # the window went away meanwhile
                pass

        thread = threading.Thread(target=work, name=f"lab-import-{key}", daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def wait(self) -> None:
        """Block until every import started here has finished."""
        for t in self._threads:
            t.join()
        self._threads.clear()

    def done(self, key: str) -> None:
        if key in self._pending:
            self._pending.discard(key)
            release_full_passes()
