"""The layout the tabs share: a scrollable side panel (idea, knobs, buttons) beside the views."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QScrollArea, QSplitter, QWidget


def side_panel_split(side: QWidget, main: QWidget, side_width: int = 380) -> QSplitter:
    """A splitter with ``side`` in a vertical scroll area (at least ``side_width`` - 20 px wide) on the
    left and ``main`` taking the rest; the user can drag the divider."""
    scroll = QScrollArea()
    scroll.setWidget(side)
    scroll.setWidgetResizable(True)
    scroll.setMinimumWidth(side_width - 20)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    split = QSplitter()
    split.addWidget(scroll)
    split.addWidget(main)
    split.setStretchFactor(1, 1)
    split.setSizes([side_width, 1000])
    return split
