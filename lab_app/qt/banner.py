"""MessageBanner: a strip above a tab's views for errors and warnings, with a close button.

Errors stay until closed or replaced; info and warnings fade after a while. The text is
selectable so a user can copy a message into a bug report."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QWidget

_STYLES = {
    "error": "background:#5c1f24; color:#ffd9dc; border:1px solid #a33;",
    "warning": "background:#4d3b12; color:#ffe9b0; border:1px solid #a8842c;",
    "info": "background:#173447; color:#d5ecff; border:1px solid #2f6b8f;",
}


class MessageBanner(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.level = ""
        self._label = QLabel()
        self._label.setWordWrap(True)
        self._label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.clear)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(8, 4, 4, 4)
        lay.addWidget(self._label, 1)
        lay.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self._fade = QTimer(self)
        self._fade.setSingleShot(True)
        self._fade.timeout.connect(self.clear)
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.hide()

    @property
    def text(self) -> str:
        return self._label.text()

    def show_message(self, text: str, level: str = "error") -> None:
        self.level = level
        self._label.setText(text)
        self.setStyleSheet(f"MessageBanner {{{_STYLES.get(level, _STYLES['info'])} border-radius:4px;}}")
        self.show()
        if level == "error":
            self._fade.stop()
        else:
            self._fade.start(12_000)

    def clear(self) -> None:
        self.level = ""
        self._label.setText("")
        self.hide()
