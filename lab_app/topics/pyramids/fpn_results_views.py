"""ResultsView: the four pipelines on the same held-out scenes, as a table (ms per image and per level,
mAP, AP small / medium / large, training steps) beside a plot of AP@0.5 against object size."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QHBoxLayout, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from lab_app.qt.staged import build_pause
from lab_app.qt.widgets.export import ExportableView
from lab_app.qt.widgets.latent_scatter import class_color
from lab_app.qt.widgets.plots import plot_widget

COLUMNS = ("ms / image", "mAP@0.5", "mAP@.5:.95", "AP S", "AP M", "AP L", "steps", "ms per level")
TIPS = ("Median time for one image through the whole pipeline", "pycocotools, IoU 0.5",
        "pycocotools, IoU 0.5 to 0.95", "AP small: objects under 32 x 32 px", "AP medium: 32^2 to 96^2 px",
        "AP large: over 96 x 96 px", "Training steps in the time given (the image pyramid is the "
        "single-level detector)", "Median time of each level's forward pass (the FPN's levels come out of one pass)")
TICKS = (8, 16, 32, 64, 128, 256)


def _fmt(v: float) -> str:
    return "-" if v is None or v < 0 else f"{v:.3f}"


class ResultsView(ExportableView):
    def __init__(self, titles: dict, parent: QWidget | None = None):
        super().__init__(parent)
        self.titles = titles
        self.table = QTableWidget(len(titles), len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setVerticalHeaderLabels(list(titles.values()))
        for j, tip in enumerate(TIPS):
            self.table.horizontalHeaderItem(j).setToolTip(tip)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.resizeColumnsToContents()
        self.plot = plot_widget()
        self.plot.setLabel("bottom", "object size sqrt(w h), px")
        self.plot.setLabel("left", "AP@0.5")
        self.plot.setYRange(0, 1)
        self.plot.enableAutoRange(y=False)          # a fixed 0-1 scale: curves compare across runs
        self.plot.setLogMode(x=True)
        self.plot.getAxis("bottom").setTicks([[(float(np.log10(t)), str(t)) for t in TICKS]])
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.plot.addLegend(offset=(5, 5))
        build_pause()
        self.curves = {name: self.plot.plot([], [], name=title, pen=pg.mkPen(class_color(i), width=2),
                                            symbol="o", symbolSize=6, symbolBrush=class_color(i))
                       for i, (name, title) in enumerate(titles.items())}
        self.rows: dict = {}
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        left = QWidget()
        col = QVBoxLayout(left)
        col.setContentsMargins(0, 0, 0, 0)
        col.addWidget(self.caption)
        col.addWidget(self.table, 1)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(left, 3)
        lay.addWidget(self.plot, 2)

    def set_table(self, table, caption: str = "") -> None:
        """Fill from a fpn_task.Table; pipelines it lacks keep their row."""
        self.caption.setText(caption or f"The same {table.scenes} held-out scenes for every pipeline")
        edges = np.asarray(table.size_edges, float)
        centres = np.sqrt(np.maximum(edges[:-1], 4.0) * np.minimum(edges[1:], 256.0))
        for i, name in enumerate(self.titles):
            row = table.rows.get(name)
            if row is None:
                continue
            self.rows[name] = row
            level_ms = " / ".join(f"{n} {v:.0f}" for n, v in zip(row["level_names"], row["level_ms"], strict=True)
                                  if v > 0)
            values = (f"{row['infer_ms']:.1f}", _fmt(row["map50"]), _fmt(row["map50_95"]),
                      _fmt(row["map_small"]), _fmt(row["map_medium"]), _fmt(row["map_large"]),
                      str(row.get("train_steps", "")), level_ms)
            for j, v in enumerate(values):
                self.table.setItem(i, j, QTableWidgetItem(v))
            ap = np.asarray(row["ap_by_size"], float)
            ok = ap >= 0
            self.curves[name].setData(centres[ok], ap[ok])
        self.table.resizeColumnsToContents()
        self.plot.setYRange(0, 1, padding=0.02)

    def cell(self, pipeline: str, column: str) -> str:
        item = self.table.item(list(self.titles).index(pipeline), COLUMNS.index(column))
        return "" if item is None else item.text()
