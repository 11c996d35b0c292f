"""Code usage of the VQ tab: codes sorted by how often held-out images use them."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QVBoxLayout, QWidget

from lab_app.qt.widgets.export import ExportableView
from lab_app.qt.widgets.plots import plot_widget

USED = (80, 140, 210)


class UsageView(ExportableView):
    """Codes sorted by how often held-out images use them (one bar each), the uniform level K-th of the
    total as a dashed line, and perplexity exp(H) against K in the title."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.plot_widget = plot_widget()
        self.plot_item = self.plot_widget.getPlotItem()
        self.plot_item.setLabel("bottom", "code rank (most used first)")
        self.plot_item.setLabel("left", "share of tokens (%)")
        self.plot_item.setTitle("code usage")
        self.curve = pg.PlotDataItem(stepMode="center", fillLevel=0, brush=pg.mkBrush(*USED, 200),
                                     pen=pg.mkPen(*USED))
        self.uniform = pg.InfiniteLine(angle=0, pen=pg.mkPen(120, 120, 120, style=pg.QtCore.Qt.PenStyle.DashLine))
        self.plot_item.addItem(self.curve)
        self.plot_item.addItem(self.uniform)
        self.sorted_share = np.zeros(0)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.plot_widget)

    def set_counts(self, counts: np.ndarray, perplexity: float, dead: int) -> None:
        counts = np.asarray(counts, np.float64)
        k = len(counts)
        share = 100.0 * np.sort(counts)[::-1] / max(counts.sum(), 1.0)
        self.sorted_share = share
        self.curve.setData(np.arange(k + 1, dtype=np.float64), share)
        self.uniform.setValue(100.0 / k)
        self.plot_item.setXRange(0, k, padding=0.01)
        self.plot_item.setYRange(0, max(float(share.max()) if k else 1.0, 100.0 / k) * 1.05, padding=0)
        self.plot_item.setTitle(f"usage: perplexity {perplexity:.0f} / K {k}, "
                                f"<span style='color:#c84646'>{dead} dead</span>")
