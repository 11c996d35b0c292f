"""Placeholder for the fpn sub-tab (replaced by its issue's work)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget


class FpnPanel(QWidget):
    ready = Signal()

    def __init__(self, tab, parent: QWidget | None = None):
        super().__init__(parent)
        self.tab = tab
        QVBoxLayout(self).addWidget(QLabel("coming soon"))

    def start_demo(self) -> None:
        self.ready.emit()

    def open_path(self, path: Path) -> None:
        self.ready.emit()

    def views(self) -> dict:
        return {}

    def run_config(self):
        return None
