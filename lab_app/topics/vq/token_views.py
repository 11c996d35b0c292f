"""TokenMapView: an image's token grid, each token coloured by its code and labelled with its number.

Clicking a token emits ``token_clicked(row, col, code)`` and outlines every token of the grid that
uses the same code. Tokens not drawn yet (code -1, while a sample fills in) stay dark."""

from __future__ import annotations

import colorsys

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtWidgets import QGraphicsRectItem, QVBoxLayout, QWidget

from lab_app.qt.widgets.export import ExportableView
from lab_app.qt.widgets.plots import plot_widget
from lab_app.qt.widgets.point_labels import PointLabels

HIGHLIGHT = (255, 220, 40)


def code_colors(codes: np.ndarray) -> np.ndarray:
    """A distinct, stable colour per code (golden-ratio hues, alternating lightness): (..., 3) in [0, 1];
    -1 (not drawn) is near black."""
    codes = np.asarray(codes)
    found, where = np.unique(codes, return_inverse=True)   # a colour per code present, then looked up
    palette = np.array([(0.08, 0.08, 0.08) if k < 0 else
                        colorsys.hls_to_rgb((k * 0.6180339887) % 1.0, 0.45 + 0.15 * (k % 3) / 2, 0.75)
                        for k in found.tolist()], np.float32).reshape(-1, 3)
    return palette[where.reshape(-1)].reshape(*codes.shape, 3)


class GridLabels(PointLabels):
    """Each token's code number, white, centred in its unit cell, at a fixed pixel size: one item
    painting them all (a pyqtgraph TextItem per token is slow to create and to lay out, and a
    sampling run sets the grid at every step)."""

    def __init__(self):
        super().__init__(color=(255, 255, 255))
        self.codes = np.zeros((0, 0), np.int64)

    def set_codes(self, codes: np.ndarray) -> None:
        self.codes = np.asarray(codes, np.int64)
        cells = [((c + 0.5, r + 0.5), text) for r, row in enumerate(self.grid_texts())
                 for c, text in enumerate(row) if text]
        self.set_labels([p for p, _ in cells], [t for _, t in cells], (0.5, 0.5))

    def grid_texts(self) -> list[list[str]]:
        """What each cell shows ("" for a token not drawn yet)."""
        return [["" if k < 0 else str(int(k)) for k in row] for row in self.codes]


class TokenMapView(ExportableView):
    token_clicked = Signal(int, int, int)

    def __init__(self, title: str = "token map", parent: QWidget | None = None, numbers: bool = True):
        super().__init__(parent)
        self.plot_widget = plot_widget(title=title)
        self.plot_item = self.plot_widget.getPlotItem()
        self.view_box = self.plot_item.getViewBox()
        self.view_box.setAspectLocked(True)
        self.view_box.invertY(True)
        self.view_box.setMouseEnabled(x=False, y=False)
        for side in ("left", "bottom"):
            self.plot_item.hideAxis(side)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.view_box.addItem(self.image_item)
        self.numbers = numbers
        self.labels = GridLabels()
        self.labels.setZValue(5)
        self.labels.setVisible(numbers)
        self.view_box.addItem(self.labels)
        self.outlines: list[QGraphicsRectItem] = []
        self.indices: np.ndarray | None = None
        self.selected: tuple[int, int] | None = None
        self.plot_widget.scene().sigMouseClicked.connect(self._on_click)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.plot_widget)

    def set_title(self, text: str) -> None:
        self.plot_item.setTitle(text)

    def set_tokens(self, indices: np.ndarray, image: np.ndarray | None = None) -> None:
        """indices (h, w); ``image`` (H, W[, 3]) in [0, 1], blended under the colours when given."""
        self.indices = np.asarray(indices, np.int64)
        h, w = self.indices.shape
        colors = code_colors(self.indices)
        if image is not None:
            img = np.asarray(image, np.float32)
            grey = img if img.ndim == 2 else img.mean(-1)
            fy, fx = grey.shape[0] // h, grey.shape[1] // w
            colors = np.kron(colors, np.ones((fy, fx, 1), np.float32))
            colors = 0.55 * colors + 0.45 * grey[: h * fy, : w * fx, None]
        self.image_item.setImage(colors, autoLevels=False, levels=(0.0, 1.0))
        self.image_item.setRect(QRectF(0, 0, w, h))                  # one unit per token
        self._update_labels()
        self.selected = None
        self._outline([])
        self.view_box.autoRange(padding=0.01)

    def _update_labels(self) -> None:
        if self.numbers and self.indices is not None:
            self.labels.set_codes(self.indices)

    def select(self, row: int, col: int) -> list[tuple[int, int]]:
        """Outline every token with the code at (row, col); returns their positions and emits the click."""
        if self.indices is None:
            return []
        code = int(self.indices[row, col])
        places = [tuple(map(int, p)) for p in np.argwhere(self.indices == code)] if code >= 0 else []
        self.selected = (row, col)
        self._outline(places)
        self.token_clicked.emit(row, col, code)
        return places

    def _outline(self, places: list[tuple[int, int]]) -> None:
        while len(self.outlines) < len(places):
            rect = QGraphicsRectItem()
            rect.setPen(pg.mkPen(*HIGHLIGHT, width=3))
            rect.setZValue(10)
            self.view_box.addItem(rect)
            self.outlines.append(rect)
        for i, rect in enumerate(self.outlines):
            if i < len(places):
                r, c = places[i]
                rect.setRect(QRectF(c + 0.05, r + 0.05, 0.9, 0.9))
            rect.setVisible(i < len(places))

    def outlined(self) -> list[tuple[int, int]]:
        return [(int(r.rect().y()), int(r.rect().x())) for r in self.outlines if r.isVisible()]

    def _on_click(self, event) -> None:
        if self.indices is None or event.button() != Qt.MouseButton.LeftButton:
            return
        p = self.view_box.mapSceneToView(event.scenePos())
        h, w = self.indices.shape
        col, row = int(np.floor(p.x())), int(np.floor(p.y()))
        if 0 <= row < h and 0 <= col < w:
            self.select(row, col)
