"""Small views of the representation tab: pair-distance histograms and image thumbnails (Qt)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QGridLayout, QLabel, QVBoxLayout, QWidget

from lab_app.qt.widgets.export import ExportableView
from lab_app.qt.widgets.plots import plot_widget

POSITIVE_COLOR = (44, 160, 44)
NEGATIVE_COLOR = (214, 39, 40)


class DistanceHistogram(ExportableView):
    """Histograms of positive-pair and negative-pair distances, with the margin as a vertical line.

    A good embedding puts the green mass (two views of one image) near 0 and the red mass (two
    different images) far away; for the pairwise loss, beyond the margin."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.plot_widget = plot_widget(title="pair distances")
        plot = self.plot_widget.getPlotItem()
        plot.setLabel("bottom", "distance")
        plot.setLabel("left", "pairs")
        plot.addLegend(offset=(-10, 10))
        self.positive = plot.plot(
            name="positive (same image)",
            stepMode="center",
            fillLevel=0,
            pen=pg.mkPen(POSITIVE_COLOR, width=2),
            brush=pg.mkBrush(*POSITIVE_COLOR, 90),
        )
        self.negative = plot.plot(
            name="negative (other image)",
            stepMode="center",
            fillLevel=0,
            pen=pg.mkPen(NEGATIVE_COLOR, width=2),
            brush=pg.mkBrush(*NEGATIVE_COLOR, 90),
        )
        self.margin_line = pg.InfiniteLine(
            angle=90,
            pen=pg.mkPen("w", width=2, style=Qt.PenStyle.DashLine),
            label="margin",
            labelOpts={"position": 0.9, "color": "w"},
        )
        plot.addItem(self.margin_line)
        self.margin_line.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot_widget)
        self.counts: tuple[np.ndarray, np.ndarray] | None = None

    def set_distances(self, positive: np.ndarray, negative: np.ndarray, margin: float | None) -> None:
        hi = float(max(np.max(positive, initial=0), np.max(negative, initial=0), margin or 0, 1e-6)) * 1.05
        edges = np.linspace(0, hi, 41)
        pos, _ = np.histogram(positive, edges)
        neg, _ = np.histogram(negative, edges)
        self.counts = (pos, neg)
        self.positive.setData(edges, pos)
        self.negative.setData(edges, neg)
        self.set_margin(margin)

    def set_margin(self, margin: float | None) -> None:
        if margin is None:
            self.margin_line.hide()
        else:
            self.margin_line.setValue(margin)
            self.margin_line.show()



def image_pixmap(image: np.ndarray, side: int = 72) -> QPixmap:
    """A (C, H, W) float image in [0, 1] as a pixmap ``side`` px wide (nearest: pixels stay visible)."""
    arr = np.clip(np.asarray(image) * 255, 0, 255).astype(np.uint8)
    if arr.shape[0] == 1:
        arr = np.repeat(arr, 3, 0)
    rgb = np.ascontiguousarray(arr[:3].transpose(1, 2, 0))
    h, w, _ = rgb.shape
    qimg = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()  # copy: own the pixels
    return QPixmap.fromImage(qimg).scaled(
        side, side, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation
    )


class Thumbnail(QWidget):
    """An image with a caption under it."""

    def __init__(self, side: int = 72, parent: QWidget | None = None):
        super().__init__(parent)
        self.side = side
        self.image = QLabel()
        self.image.setFixedSize(side, side)
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image.setStyleSheet("background: #111; border: 1px solid #444;")
        self.caption = QLabel("")
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(1, 1, 1, 1)
        layout.setSpacing(1)
        layout.addWidget(self.image)
        layout.addWidget(self.caption)

    def show_image(self, image: np.ndarray | None, caption: str = "") -> None:
        if image is None:
            self.image.clear()
        else:
            self.image.setPixmap(image_pixmap(image, self.side))
        self.caption.setText(caption)


class NeighboursPanel(ExportableView):
    """The hovered image, or a dropped image and its nearest training neighbours."""

    def __init__(self, neighbours: int = 8, parent: QWidget | None = None):
        super().__init__(parent)
        self.title = QLabel(
            "<b>Hover a point</b> to see its image; <b>drop an image</b> to find its "
            "nearest training neighbours."
        )
        self.title.setWordWrap(True)
        self.query = Thumbnail(76)
        self.neighbours = [Thumbnail(46) for _ in range(neighbours)]
        grid = QGridLayout()
        grid.setSpacing(2)
        grid.addWidget(self.query, 0, 0, 2, 1)
        half = (neighbours + 1) // 2
        for i, t in enumerate(self.neighbours):
            grid.addWidget(t, i // half, 1 + i % half)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.title)
        layout.addLayout(grid)
        layout.addStretch(1)

    def show_hover(self, image: np.ndarray, caption: str) -> None:
        self.query.show_image(image, caption)

    def show_neighbours(self, query: np.ndarray, caption: str, images: list, captions: list[str]) -> None:
        self.query.show_image(query, caption)
        for i, t in enumerate(self.neighbours):
            t.show_image(images[i] if i < len(images) else None, captions[i] if i < len(captions) else "")

