"""Tabs built the first time they are shown.

Building every tab at launch imported torch and every topic's models and widgets before the window
appeared, and held their memory whether or not the tab was ever opened. The window instead puts a
``TabPlaceholder`` where each tab goes; once a placeholder has been painted (its tab is on screen,
so the window already shows), it asks for its tab to be built, and the tab takes its place.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget


class TabPlaceholder(QWidget):
    """Stands in a tab's place until the tab is built. Emits ``wanted`` (once, from the event loop
    after the paint, so the frame is on screen first) the first time it is painted."""

    wanted = Signal()

    def __init__(self, title: str, parent: QWidget | None = None):
        super().__init__(parent)
        self._asked = False
        label = QLabel(f"Opening the {title} tab…")
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        label.setStyleSheet("QLabel { color: #8a93a6; font-size: 15px; }")
        layout = QVBoxLayout(self)
        layout.addWidget(label)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().paintEvent(event)
        if not self._asked:
            self._asked = True
            QTimer.singleShot(0, self, self.wanted.emit)


class BuiltTabs(dict):
    """The tabs built so far, by id. Looking up one that is not built yet builds it (so
    ``tabs[tab_id]`` always gives the tab); iterating, ``in`` and ``get`` see only built tabs."""

    def __init__(self, build: Callable[[str], object]):
        super().__init__()
        self._build = build

    def __missing__(self, tab_id: str):
        return self._build(tab_id)
