"""PointLabels: texts at points of a plot, at a fixed pixel size, all painted by one item.

A pyqtgraph TextItem per text is a QGraphicsTextItem of its own with a transform that follows the
view: slow to create (a chart's first result made a dozen of them in its handler, about a
millisecond each here) and re-laid out by every setter. One item that keeps (point, text) pairs and
draws them in device pixels costs a list assignment to update and one loop to paint.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFontMetricsF, QPainter
from PySide6.QtWidgets import QApplication


class PointLabels(pg.GraphicsObject):
    """``set_labels(points, texts, anchors)``: each text drawn with its ``anchor`` (as a TextItem's:
    (0, 0.5) puts the middle of its left edge on the point, (0.5, 0.5) centres it) at its point, in
    the item's coordinates, ``GAP_PX`` off the point on the side the anchor leaves open (as a
    TextItem's margin kept it); the texts keep their pixel size at any zoom."""

    GAP_PX = 4.0

    def __init__(self, color=(255, 255, 255)):
        super().__init__()
        self.font = QApplication.font()
        self.color = QColor(*color)
        self._metrics = QFontMetricsF(self.font)
        self._labels: list[tuple[QPointF, str, float, float, float]] = []   # point, text, width px, anchor
        self._height = self._metrics.height()
        self._widest = 0.0

    def set_labels(self, points: Sequence[tuple[float, float]], texts: Sequence[str],
                   anchors: Sequence[tuple[float, float]] | tuple[float, float] = (0.5, 0.5)) -> None:
        if len(points) != len(texts):
            raise ValueError(f"{len(points)} points for {len(texts)} texts")
        if len(anchors) == 2 and not isinstance(anchors[0], Sequence):
            anchors = [anchors] * len(texts)
        self.prepareGeometryChange()
        self._labels = [(QPointF(float(x), float(y)), text, self._metrics.horizontalAdvance(text), ax, ay)
                        for (x, y), text, (ax, ay) in zip(points, texts, anchors, strict=True)]
        self._widest = max((w for _, _, w, _, _ in self._labels), default=0.0)
        self.update()

    def texts(self) -> list[str]:
        return [text for _, text, _, _, _ in self._labels]

    def viewTransformChanged(self) -> None:  # noqa: N802 - pyqtgraph hook
        super().viewTransformChanged()
        self.prepareGeometryChange()   # the texts' extent in item coordinates follows the zoom

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt override
        if not self._labels:
            return QRectF()
        xs = [p.x() for p, *_ in self._labels]
        ys = [p.y() for p, *_ in self._labels]
        pad_x = (self._widest + self.GAP_PX) * (self.pixelWidth() or 0.0)
        pad_y = (self._height + self.GAP_PX) * (self.pixelHeight() or 0.0)
        return QRectF(min(xs) - pad_x, min(ys) - pad_y, max(xs) - min(xs) + 2 * pad_x,
                      max(ys) - min(ys) + 2 * pad_y)

    def paint(self, painter: QPainter, *args) -> None:
        if not self._labels:
            return
        to_device = painter.transform()
        painter.save()
        painter.resetTransform()
        painter.setFont(self.font)
        painter.setPen(self.color)
        h, gap = self._height, self.GAP_PX
        flags = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextDontClip
        for point, text, w, ax, ay in self._labels:
            at = to_device.map(point)
            x = at.x() - ax * w + (1 - 2 * ax) * gap
            y = at.y() - ay * h + (1 - 2 * ay) * gap
            painter.drawText(QRectF(x, y, w, h), flags, text)
        painter.restore()
