"""ImageBoxes: an image with detection boxes and "class score" captions, in pixel coordinates.

The y axis points down (invertY) and the image is row-major, so a box given in image pixel
coordinates (x0, y0, x1, y1) lands exactly on the pixels it names. Every box and caption is drawn by
one graphics item (``BoxesItem``), in one paint: a graphics item per box and a pyqtgraph TextItem per
caption cost the UI thread time to create and again at every zoom (each caption recomputes its
transform), and a detector's frame on a photo can carry hundreds of boxes (``ui_stalls --trace``
caught a stall of a second creating them).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFontMetricsF, QPainter, QPen
from PySide6.QtWidgets import QApplication, QVBoxLayout, QWidget

from lab_app.io.atomic import atomic_write_text
from lab_app.qt.widgets.export import ExportableView
from lab_app.qt.widgets.latent_scatter import class_color
from lab_app.qt.widgets.plots import plot_widget


class BoxesItem(pg.GraphicsObject):
    """Boxes (N, 4) in view coordinates, outlined in their colours with a cosmetic pen, and a caption
    on each box's top edge, outside it, in white on a patch of the box colour at a fixed pixel size
    whatever the zoom."""

    PAD = 2.0   # caption padding, pixels

    def __init__(self, line_width: float = 2.0):
        super().__init__()
        self.line_width = line_width
        self.rects: list[QRectF] = []
        self.colors: list[QColor] = []
        self.font = QApplication.font()
        self._metrics = QFontMetricsF(self.font)
        self._caption_px = (0.0, 0.0)    # widest caption and caption height, pixels
        self._by_color: list[tuple[QColor, list[QRectF]]] = []
        self._captions: list[tuple[QRectF, QColor, str, float]] = []   # box, fill, text, width in px
        self._bounds = QRectF()

    def set_boxes(self, rects: list[QRectF], colors: list[QColor], captions: list[str]) -> None:
        self.prepareGeometryChange()
        self.rects, self.colors = rects, colors
        groups: dict[int, tuple[QColor, list[QRectF]]] = {}
        for rect, color in zip(rects, colors, strict=True):
            groups.setdefault(color.rgba(), (color, []))[1].append(rect)
        self._by_color = list(groups.values())
        self._captions = []
        for rect, color, text in zip(rects, colors, captions, strict=True):
            if text:
                fill = QColor(color)
                fill.setAlpha(200)
                width = self._metrics.horizontalAdvance(text) + 2 * self.PAD
                self._captions.append((rect, fill, text, width))
        widest = max((width for *_, width in self._captions), default=0.0)
        self._caption_px = (widest, self._metrics.height() + 2 * self.PAD if widest else 0.0)
        self._bounds = QRectF()
        for r in rects:
            self._bounds = self._bounds.united(r)
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt override
        if self._bounds.isNull():
            return QRectF()
        # room for the captions (pixel-sized, above and right of a box) and the pen, in view units
        px, py = self.pixelSize() if self.getViewBox() is not None else (0.0, 0.0)
        w, h = self._caption_px
        m = self.line_width
        return self._bounds.adjusted(-m * px, -(h + m) * abs(py), (w + m) * px, (h + m) * abs(py))

    def viewTransformChanged(self) -> None:  # noqa: N802 - pyqtgraph hook: a zoom changes the pixel size
        self.prepareGeometryChange()
        super().viewTransformChanged()

    def paint(self, painter: QPainter, *args) -> None:
        if not self.rects:
            return
        painter.save()
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for color, rects in self._by_color:       # one call per colour: fewer calls, fewer waits for the GIL
            pen = QPen(color, self.line_width)
            pen.setCosmetic(True)   # line width in screen pixels whatever the zoom
            painter.setPen(pen)
            painter.drawRects(rects)
        if self._caption_px[1]:
            to_device = painter.transform()
            painter.resetTransform()
            painter.setFont(self.font)
            painter.setPen(QColor(255, 255, 255))
            h = self._caption_px[1]
            for rect, fill, text, width in self._captions:
                # the box's top-left corner on screen (the view's y may point either way)
                corner = to_device.mapRect(rect).topLeft()
                patch = QRectF(corner.x(), corner.y() - h, width, h)
                painter.fillRect(patch, fill)
                painter.drawText(patch, Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()


class ImageBoxes(ExportableView):
    """An RGB (or grey) uint8 image with labelled, scored boxes drawn over it."""

    def __init__(self, parent: QWidget | None = None, show_axes: bool = False, line_width: float = 2.0):
        super().__init__(parent)
        self.plot_widget = plot_widget()
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
        self.boxes_item = BoxesItem(line_width)
        self.boxes_item.setZValue(10)
        self.view_box.addItem(self.boxes_item, ignoreBounds=True)  # boxes past the border must not zoom out
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
        colors = [QColor(*class_color(int(k))) for k in labels]
        rects = [QRectF(min(x0, x1), min(y0, y1), abs(x1 - x0), abs(y1 - y0))
                 for x0, y0, x1, y1 in boxes.tolist()]
        self.boxes_item.set_boxes(rects, colors, [self.caption(i) for i in range(n)])

    def clear_boxes(self) -> None:
        self.set_boxes(np.zeros((0, 4)))

    def caption(self, i: int) -> str:
        """The text shown on box ``i``: class name (or label number) and score."""
        k = int(self._labels[i])
        name = self._class_names[k] if 0 <= k < len(self._class_names) else str(k)
        return name if self._scores is None else f"{name} {self._scores[i]:.2f}"

    def visible_boxes(self) -> list[QRectF]:
        """Rects of the boxes now drawn, in image pixels (for checks and tests)."""
        return list(self.boxes_item.rects)

    def box_color(self, i: int) -> tuple[int, int, int]:
        """The colour box ``i`` is drawn in (its class's)."""
        return self.boxes_item.colors[i].getRgb()[:3]

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
