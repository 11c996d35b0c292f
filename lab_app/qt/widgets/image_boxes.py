"""ImageBoxes: an image with detection boxes and "class score" captions, in pixel coordinates.

The y axis points down (invertY) and the image is row-major, so a box given in image pixel
coordinates (x0, y0, x1, y1) lands exactly on the pixels it names. Boxes and captions come from a pool
of graphics items that grows when a frame has more boxes than any before and hides the extras, so a
detector can redraw every frame without creating items.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QGraphicsRectItem, QVBoxLayout, QWidget

from lab_app.io.atomic import atomic_write_text
from lab_app.qt.widgets.export import ExportableView
from lab_app.qt.widgets.latent_scatter import class_color


class ImageBoxes(ExportableView):
    """An RGB (or grey) uint8 image with labelled, scored boxes drawn over it."""

    def __init__(self, parent: QWidget | None = None, show_axes: bool = False, line_width: float = 2.0):
        super().__init__(parent)
        self.plot_widget = pg.PlotWidget()
        self.plot_item = self.plot_widget.getPlotItem()
        if not show_axes:
            self.plot_item.hideAxis("left")
            self.plot_item.hideAxis("bottom")
        self.view_box = self.plot_item.getViewBox()
        self.view_box.invertY(True)  # image rows grow downwards: pixel (x, y) is where a box says
        self.view_box.setAspectLocked(True)  # square pixels
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.view_box.addItem(self.image_item)
        self.line_width = line_width
        self.rect_items: list[QGraphicsRectItem] = []
        self.text_items: list[pg.TextItem] = []
        self._image: np.ndarray | None = None
        self._boxes = np.zeros((0, 4))
        self._labels = np.zeros(0, np.int64)
        self._scores: np.ndarray | None = None
        self._class_names: list[str] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot_widget)

    # ---------------------------------------------------------------- image
    def set_image(self, image) -> None:
        """Show ``image``: uint8 (H, W, 3), (H, W, 4) or (H, W). The view fits a new image size only,
        so a stream of same-sized frames keeps the user's zoom."""
        image = np.asarray(image)
        if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
            raise ValueError(f"image must be (H, W), (H, W, 3) or (H, W, 4), got {image.shape}")
        if image.dtype != np.uint8:
            raise ValueError(f"image must be uint8, got {image.dtype}")
        new_size = self._image is None or self._image.shape[:2] != image.shape[:2]
        self._image = image
        self.image_item.setImage(image, autoLevels=False, levels=(0, 255))
        if new_size:
            self.view_box.autoRange(items=[self.image_item], padding=0.0)

    def image(self) -> np.ndarray | None:
        return self._image

    # ---------------------------------------------------------------- boxes
    def set_boxes(self, boxes, labels=None, scores=None, class_names: Sequence[str] | None = None) -> None:
        """Draw ``boxes`` (N, 4) as x0, y0, x1, y1 image pixels, coloured by ``labels`` (N,) ints,
        captioned "name score" from ``class_names`` and ``scores`` (N,) when given."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        n = len(boxes)
        labels = np.zeros(n, np.int64) if labels is None else np.asarray(labels).astype(np.int64).reshape(-1)
        scores = None if scores is None else np.asarray(scores, dtype=np.float64).reshape(-1)
        if len(labels) != n or (scores is not None and len(scores) != n):
            raise ValueError(f"{n} boxes need {n} labels and scores, got {len(labels)} and "
                             f"{None if scores is None else len(scores)}")
        if class_names is not None:
            self._class_names = [str(c) for c in class_names]
        self._boxes, self._labels, self._scores = boxes, labels, scores
        self._grow_pool(n)
        for i in range(n):
            self._draw_box(i)
        for i in range(n, len(self.rect_items)):
            self.rect_items[i].hide()
            self.text_items[i].hide()

    def clear_boxes(self) -> None:
        self.set_boxes(np.zeros((0, 4)))

    def caption(self, i: int) -> str:
        """The text shown on box ``i``: class name (or label number) and score."""
        k = int(self._labels[i])
        name = self._class_names[k] if 0 <= k < len(self._class_names) else str(k)
        return name if self._scores is None else f"{name} {self._scores[i]:.2f}"

    def _grow_pool(self, n: int) -> None:
        while len(self.rect_items) < n:
            rect = QGraphicsRectItem()
            rect.setZValue(10)
            self.view_box.addItem(rect, ignoreBounds=True)  # boxes past the border must not zoom out
            text = pg.TextItem(anchor=(0, 1))
            text.setZValue(11)
            self.view_box.addItem(text, ignoreBounds=True)
            self.rect_items.append(rect)
            self.text_items.append(text)

    def _draw_box(self, i: int) -> None:
        x0, y0, x1, y1 = self._boxes[i]
        color = class_color(int(self._labels[i]))
        rect, text = self.rect_items[i], self.text_items[i]
        pen = pg.mkPen(color, width=self.line_width)
        pen.setCosmetic(True)  # line width in screen pixels whatever the zoom
        rect.setPen(pen)
        rect.setRect(QRectF(min(x0, x1), min(y0, y1), abs(x1 - x0), abs(y1 - y0)))
        rect.show()
        # The caption sits on the box's top edge, outside it, on a patch of the box colour.
        text.setText(self.caption(i), color=(255, 255, 255))
        text.fill = pg.mkBrush(*color, 200)
        text.setPos(min(x0, x1), min(y0, y1))
        text.show()

    def visible_boxes(self) -> list[QRectF]:
        """Rects of the box items now shown (for checks and tests)."""
        return [r.rect() for r in self.rect_items if r.isVisible()]

    # --------------------------------------------------------------- export

    def export_data(self, path: str | Path) -> Path:
        """CSV ``x0,y0,x1,y1,label,class,score`` of the boxes shown (score empty when none given)."""
        lines = ["x0,y0,x1,y1,label,class,score"]
        for i, (x0, y0, x1, y1) in enumerate(self._boxes.tolist()):
            k = int(self._labels[i])
            name = self._class_names[k] if 0 <= k < len(self._class_names) else ""
            if any(c in name for c in ',"\n'):
                name = '"' + name.replace('"', '""') + '"'
            score = "" if self._scores is None else f"{self._scores[i]:.6g}"
            lines.append(f"{x0:.6g},{y0:.6g},{x1:.6g},{y1:.6g},{k},{name},{score}")
        path = Path(path)
        atomic_write_text(path, "\n".join(lines) + "\n")
        return path
