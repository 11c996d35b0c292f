"""Image panels of the VAE tab: a grey image in a plot (the manifold over the latent plane, with
axes) or a plain strip (reconstructions, the decoded click, interpolations)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QVBoxLayout, QWidget

from lab_app.qt.widgets.export import ExportableView
from lab_app.qt.widgets.plots import plot_widget


class ImagePanel(ExportableView):
    """One grey image (values in [0, 1]) in a pyqtgraph plot. ``y_up``: row 0 at the bottom and the
    image placed at a data ``extent`` (the manifold); otherwise row 0 at the top, pixel units."""

    def __init__(self, title: str = "", y_up: bool = False, axes: bool = False, parent: QWidget | None = None):
        super().__init__(parent)
        self.plot_widget = plot_widget(title=title or None)
        self.plot_item = self.plot_widget.getPlotItem()
        self.view_box = self.plot_item.getViewBox()
        self.view_box.setAspectLocked(True)
        if not y_up:
            self.view_box.invertY(True)
        for side in ("left", "bottom"):
            self.plot_item.showAxis(side, axes)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.view_box.addItem(self.image_item)
        self.image: np.ndarray | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.plot_widget)

    def set_image(self, image: np.ndarray, extent: tuple | None = None) -> None:
        self.image = np.asarray(image, np.float32)
        self.image_item.setImage(self.image, autoLevels=False, levels=(0.0, 1.0))
        if extent is not None:
            x0, x1, y0, y1 = extent
            self.image_item.setRect(pg.QtCore.QRectF(x0, y0, x1 - x0, y1 - y0))
        self.view_box.autoRange(padding=0.02)

    def set_title(self, text: str, size: str | None = None) -> None:
        self.plot_item.setTitle(text, **({"size": size} if size else {}))
