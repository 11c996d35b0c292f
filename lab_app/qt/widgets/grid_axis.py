"""GridAxis: a pyqtgraph axis whose grid lines are drawn as one stretched strip of pixels.

With the grid on (``showGrid``), pyqtgraph draws every tick of an axis as a translucent line across
the whole plot. Qt's raster engine draws a translucent one-pixel line a pixel at a time (only opaque
lines take its fast path), so an axis's grid was most of a live plot's repaint, and the grid is
repainted at every change of range (benchmarks/grid_paint.py has the figures). ``GridAxis`` puts the
lines' pixels, in their pens' colours, into an image one pixel thick (a row for the vertical lines of
a bottom or top axis, a column for the horizontal lines of a left or right axis) and draws that image
stretched over the lines' length: a blended span per row, and the same pixels (a line of a pen that
is not a plain one-pixel cosmetic colour is drawn as pyqtgraph draws it).
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QImage, QPainter, QPen


def _plain(pen: QPen) -> bool:
    """Whether a line of ``pen`` is one device pixel of one colour (what a strip can hold)."""
    return (pen.style() == Qt.PenStyle.SolidLine and pen.brush().style() == Qt.BrushStyle.SolidPattern
            and (pen.isCosmetic() and pen.widthF() <= 1.0))


def grid_strip(lines: list[tuple[QPen, QPointF, QPointF]], vertical: bool, scale: float = 1.0,
               offset: float = 0.0, along_offset: float = 0.0) -> tuple[QRectF, QImage] | None:
    """The target rectangle (item coordinates) and the image that draw ``lines`` (pen, p1, p2): all
    vertical (``vertical``) or all horizontal, with the same extent along their length, as an axis's
    grid lines are. ``scale`` and the offsets map the item's coordinates to device pixels (device =
    item * scale + offset across the lines, + ``along_offset`` along them), so that the strip covers
    the pixels Qt lights for the lines: a one-pixel line lights the pixel each of its points falls
    in. None when the lines are not so (the caller draws them one by one)."""
    if not lines:
        return None
    along = {(p1.y(), p2.y()) if vertical else (p1.x(), p2.x()) for _, p1, p2 in lines}
    pens = {id(pen): pen for pen, _, _ in lines}   # an axis shares one pen among a level's lines
    if len(along) != 1 or not all(_plain(pen) for pen in pens.values()):
        return None
    across = [(p1.x(), p2.x()) if vertical else (p1.y(), p2.y()) for _, p1, p2 in lines]
    if any(a != b for a, b in across):
        return None
    device = [a * scale + offset for a, _ in across]
    first = math.floor(min(device)) - 1
    size = math.ceil(max(device)) - first + 2
    width, height = (size, 1) if vertical else (1, size)
    image = QImage(width, height, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(0)
    painter = QPainter(image)
    for (pen, _, _), d in zip(lines, device, strict=True):   # each line's pixel, picked by Qt's own rule
        painter.setPen(pen)
        point = QPointF(d - first, 0.0) if vertical else QPointF(0.0, d - first)
        painter.drawLine(point, point)
    painter.end()
    # the pixels the ends fall in, on Qt's 1/64-pixel grid (an end at 0.9999999 is at 1)
    ends = [round((e * scale + along_offset) * 64) / 64 for e in next(iter(along))]
    top, bottom = math.floor(min(ends)), math.floor(max(ends)) + 1
    start, length = (first - offset) / scale, size / scale
    lo, extent = (top - along_offset) / scale, (bottom - top) / scale
    if vertical:
        return QRectF(start, lo, length, extent), image
    return QRectF(lo, start, extent, length), image


class GridAxis(pg.AxisItem):
    """``pg.AxisItem`` that draws its grid lines (when the grid is on) with ``grid_strip``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._device: tuple[float, float, float] | None = None   # scale, offsets' fractions (across, along)

    def paint(self, p, opt, widget):
        t = p.deviceTransform()
        vertical = self.orientation in ("bottom", "top")
        device = None
        # no rotation, square pixels: the strip's pixels can be the lines' pixels
        if t.m12() == 0.0 and t.m21() == 0.0 and t.m11() == t.m22() > 0.0:
            across, along = (t.dx(), t.dy()) if vertical else (t.dy(), t.dx())
            device = (t.m11(), round(across % 1.0, 4), round(along % 1.0, 4))
        if device != self._device:   # pixels picked for another place or screen: pick them again
            self._device = device
            self.picture = None
        super().paint(p, opt, widget)

    def drawPicture(self, p, axisSpec, tickSpecs, textSpecs):
        strip = None
        if self.grid is not False and self._device is not None:
            strip = grid_strip(tickSpecs, self.orientation in ("bottom", "top"), *self._device)
        if strip is None:
            return super().drawPicture(p, axisSpec, tickSpecs, textSpecs)
        p.drawImage(*strip)
        return super().drawPicture(p, axisSpec, [], textSpecs)
