"""PNG export shared by every view: grab the widget, save atomically, write the run card beside it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QPoint, QRect
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QWidget

from lab_app.io.atomic import atomic_save
from lab_app.qt.first_paint import finish_first_paint
from lab_app.qt.staged import build_pause


def save_qimage(image: QImage, path: str | Path) -> Path:
    path = Path(path)
    if image.isNull():
        raise OSError(f"nothing to export to {path.name}: the view has not been drawn yet")

    def write(tmp: Path):
        if not image.save(str(tmp), "PNG"):
            raise OSError(f"could not write {path.name}")

    return atomic_save(path, write, suffix=".png")


def rgba_array(image: QImage) -> np.ndarray:
    """``image`` as an (H, W, 4) uint8 RGBA array (a copy)."""
    image = image.convertToFormat(QImage.Format.Format_RGBA8888)
    h, w = image.height(), image.width()
    buf = np.frombuffer(image.constBits(), dtype=np.uint8, count=image.sizeInBytes())
    return buf.reshape(h, image.bytesPerLine())[:, : 4 * w].reshape(h, w, 4).copy()


#: objectName of the widgets that host a 3D view in a native window (gl_window.GLHost)
GL_HOST = "lab-gl-host"


def grab_widget(widget: QWidget) -> QImage:
    """The widget as it looks on screen. OpenGL widgets render their framebuffer; a 3D view in a
    native window (gl_window.py), which a grab does not see into, is painted from its framebuffer
    where it sits."""
    grab_fb = getattr(widget, "grabFramebuffer", None)
    if callable(grab_fb):
        return grab_fb()
    finish_first_paint()   # no plot still waiting for its first paint (first_paint.py)
    image = widget.grab().toImage()
    hosts = [h for h in widget.findChildren(QWidget, GL_HOST) if h.isVisibleTo(widget)]
    if not hosts:
        return image
    painter = QPainter(image)
    try:
        for host in hosts:
            frame = host.grab_framebuffer()
            if not frame.isNull():
                painter.drawImage(QRect(host.mapTo(widget, QPoint(0, 0)), host.size()), frame)
    finally:
        painter.end()
    return image


def export_widget_png(widget: QWidget, path: str | Path) -> Path:
    return save_qimage(grab_widget(widget), path)


class ExportableView(QWidget):
    """The base of every view: ``export_png(path)`` writes the view as it looks on screen.

    A view that draws lazily (a timer-throttled render) overrides ``before_export`` to finish its
    pending drawing first."""

    def __init__(self, *args, **kwargs):
        build_pause()   # a tab built in slices lets the event loop run before each view (qt/staged.py)
        super().__init__(*args, **kwargs)

    def before_export(self) -> None:
        """Bring the view up to date before it is grabbed (nothing to do for most views)."""

    def export_png(self, path: str | Path) -> Path:
        self.before_export()
        return export_widget_png(self, path)
