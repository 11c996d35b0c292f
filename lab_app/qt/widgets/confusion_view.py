"""ConfusionView: a confusion matrix as a heatmap (rows: true class, columns: predicted), each row
normalised to the share of its class, redrawn as a run fills it in."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QVBoxLayout, QWidget

from lab_app.qt.widgets.export import ExportableView
from lab_app.qt.widgets.plots import plot_widget


class ConfusionView(ExportableView):
    """A confusion matrix as a heatmap (rows: true class, columns: predicted), filled as it learns."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.plot = plot_widget(title="Confusion (test)")
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.getViewBox().invertY(True)
        self.plot.setAspectLocked(True)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setLookupTable(pg.colormap.get("viridis").getLookupTable(nPts=256))
        self.plot.addItem(self.image)
        self.plot.setLabel("left", "true")
        self.plot.setLabel("bottom", "predicted")
        self.matrix = np.zeros((0, 0))
        self._names: tuple[str, ...] = ()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.plot)

    def set_matrix(self, matrix: np.ndarray, names) -> None:
        m = np.asarray(matrix, np.float64)
        self.matrix = m
        rows = m.sum(axis=1, keepdims=True)
        self.image.setImage(np.divide(m, rows, out=np.zeros_like(m), where=rows > 0), levels=(0, 1),
                            autoLevels=False)
        if tuple(names) != self._names:
            self._names = tuple(names)
            # Cell i spans [i, i + 1]: ticks at the centres. Columns get numbers (names would collide),
            # rows get "name  i" so the numbers can be read off.
            self.plot.getAxis("bottom").setTicks([[(i + 0.5, str(i)) for i in range(len(names))]])
            self.plot.getAxis("left").setTicks([[(i + 0.5, f"{n}  {i}") for i, n in enumerate(names)]])
            self.plot.setRange(xRange=(0, len(names)), yRange=(0, len(names)), padding=0.02)

