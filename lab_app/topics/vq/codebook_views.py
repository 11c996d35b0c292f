"""The codebook of the VQ tab in 2D: its top-2 principal axes, each code sized by its use."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QVBoxLayout, QWidget

from lab_app.qt.widgets.export import ExportableView
from lab_app.qt.widgets.plots import plot_widget

USED = (80, 140, 210)
DEAD = (200, 70, 70)
TITLE = "codebook PCA, size = use"


class CodebookScatter(ExportableView):
    """The codebook on its top-2 principal axes; point area grows with use, unused codes are red x."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.plot_widget = plot_widget()
        self.plot_item = self.plot_widget.getPlotItem()
        self.plot_item.setTitle("codebook (PCA), size = use")
        self.plot_item.setLabel("bottom", "PC 1")
        self.plot_item.setLabel("left", "PC 2")
        self.used = pg.ScatterPlotItem(pen=None, brush=pg.mkBrush(*USED, 150))
        self.dead = pg.ScatterPlotItem(symbol="x", size=6, pen=pg.mkPen(*DEAD), brush=pg.mkBrush(*DEAD))
        self.plot_item.addItem(self.used)
        self.plot_item.addItem(self.dead)
        self.xy = np.zeros((0, 2))
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.plot_widget)

    def set_codebook(self, xy: np.ndarray, counts: np.ndarray) -> None:
        self.xy = np.asarray(xy, np.float64)
        counts = np.asarray(counts, np.float64)
        live = counts > 0
        share = counts / max(counts.sum(), 1.0)
        # whole pixels: pyqtgraph renders each distinct symbol size once into its atlas, and sizes
        # from every code's share made hundreds of new ones at each frame (18 ms for 512 codes)
        sizes = np.round(3 + 18 * np.sqrt(share / max(share.max(), 1e-12)))
        self.used.setData(pos=self.xy[live], size=sizes[live])
        self.dead.setData(pos=self.xy[~live])
        if self.plot_item.titleLabel.text != TITLE:
            self.plot_item.setTitle(TITLE)
