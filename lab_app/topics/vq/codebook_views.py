"""Codebook views of the VQ tab: code usage as a sorted histogram, and the codebook in 2D (PCA)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QVBoxLayout, QWidget

from lab_app.qt.widgets.export import export_widget_png

USED = (80, 140, 210)
DEAD = (200, 70, 70)


class UsageView(QWidget):
    """Codes sorted by how often held-out images use them (one bar each), the uniform level K-th of the
    total as a dashed line, and perplexity exp(H) against K in the title."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.plot_widget = pg.PlotWidget()
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

    def export_png(self, path: str | Path) -> Path:
        return export_widget_png(self, path)


class CodebookScatter(QWidget):
    """The codebook on its top-2 principal axes; point area grows with use, unused codes are red x."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.plot_widget = pg.PlotWidget()
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
        sizes = 3 + 18 * np.sqrt(share / max(share.max(), 1e-12))
        self.used.setData(pos=self.xy[live], size=sizes[live])
        self.dead.setData(pos=self.xy[~live])
        self.plot_item.setTitle("codebook PCA, size = use")

    def export_png(self, path: str | Path) -> Path:
        return export_widget_png(self, path)
