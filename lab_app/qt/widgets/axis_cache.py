"""cache_axes: pyqtgraph axes painted from a pixmap while their range stays the same.

An axis is drawn from a recorded QPicture (tick lines, tick texts, grid lines) replayed in every
paint of its plot; with the grid on, the axis covers the whole plot, so each new point of a live
curve replays it, and replaying text is the costly part of the paint. With Qt's device-coordinate
cache the axis is rendered once into a pixmap and blitted until it changes (a new range, a resize),
when pyqtgraph's own update() invalidates the pixmap.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QPixmapCache
from PySide6.QtWidgets import QGraphicsItem, QWidget

#: Qt keeps item caches in QPixmapCache (10 MB by default); an axis with its grid is a pixmap the
#: size of its plot, and a tab shows up to a dozen: evicted pixmaps would be re-rendered every paint.
PIXMAP_CACHE_KB = 96 * 1024


def plots_of(root: QWidget) -> list[pg.GraphicsView]:
    """The pyqtgraph views under ``root`` that show when it shows, in the order they were made."""
    return [v for v in root.findChildren(pg.GraphicsView) if v.isVisibleTo(root)]


def cache_axes(root: QWidget) -> int:
    """Give every pyqtgraph axis in the views under ``root`` (and ``root`` itself) a device-coordinate
    pixmap cache. Returns how many axes were switched over (already cached ones are not counted)."""
    if QPixmapCache.cacheLimit() < PIXMAP_CACHE_KB:
        QPixmapCache.setCacheLimit(PIXMAP_CACHE_KB)
    views = root.findChildren(pg.GraphicsView)
    if isinstance(root, pg.GraphicsView):
        views.append(root)
    switched = 0
    for view in views:
        for item in view.scene().items():
            if isinstance(item, pg.AxisItem) and item.cacheMode() == QGraphicsItem.CacheMode.NoCache:
                item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
                switched += 1
    return switched
