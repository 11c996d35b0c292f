"""The anchor-free detection tab: a CenterNet trained live on procedural scenes with exact boxes.

The main view shows the image, the class heatmaps over it, the picked peaks (3x3 max-pool) and the
boxes decoded from them; the confidence and NMS sliders re-filter the last run without running the
model again. "Draw a box" shows the heatmap, offset and size targets a ground-truth box creates.
A dropped or opened photo goes through the current model (letterboxed to its square input).
Everything else (training, save/load, photos) is the shared DetectorTab."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel

from lab_app.qt.detector_tab import DetectorTab
from lab_app.topics.anchorfree import task

IDEA = """
<b>Anchor-free: an object is a point.</b> CenterNet predicts, per class, a heatmap
<i>Ŷ</i> &isin; [0,1] at stride <i>R</i>=4 whose peaks are object centres, plus an offset
(the sub-cell part of <i>p</i>/<i>R</i>) and the box size at each peak. Training paints a Gaussian
exp(&minus;|<i>x</i>&minus;<i>p</i>|&sup2;/2&sigma;&sup2;) at every centre (radius: the largest shift that keeps
IoU &ge; 0.7) and uses a focal loss that forgives near misses by (1&minus;<i>Y</i>)<sup>4</sup>.
Two terms of ours make it learn in minutes: a cross-entropy that makes the class channels compete
near each centre, and a GIoU on the boxes decoded around it (TTFNet).<br>
<b>No anchors, no NMS:</b> a peak is a value equal to the max of its 3&times;3 neighbourhood
(a max-pool), and each peak is one box. <b>FCOS</b> (Head knob): every location inside a box
regresses (<i>l</i>, <i>t</i>, <i>r</i>, <i>b</i>) to its sides; centre-ness
&radic;(min(<i>l</i>,<i>r</i>)/max(<i>l</i>,<i>r</i>) &middot; min(<i>t</i>,<i>b</i>)/max(<i>t</i>,<i>b</i>))
down-weights the edges. Draw a box to see the targets it creates.
"""


class AnchorFreeTab(DetectorTab):
    task = task
    IDEA = IDEA
    model_title = "CenterNet"

    def add_controls(self, layout) -> None:
        row = QHBoxLayout()
        row.addWidget(QLabel("Heatmap of"))
        self.class_combo = QComboBox()
        self.class_combo.setToolTip("One class's heatmap, or the max over all classes")
        self.class_combo.currentIndexChanged.connect(lambda *_: self.draw_overlays())
        row.addWidget(self.class_combo, 1)
        layout.addLayout(row)

    def classes_changed(self) -> None:
        current = self.class_combo.currentIndex()
        self.class_combo.blockSignals(True)
        self.class_combo.clear()
        self.class_combo.addItems(["all classes (max)"] + list(self.class_names))
        self.class_combo.setCurrentIndex(current if 0 <= current <= len(self.class_names) else 0)
        self.class_combo.blockSignals(False)

    def _model_square(self) -> QRectF:
        """The model's square input, in the image's pixels (the heatmap covers exactly this)."""
        lb = self.result.letterbox
        return QRectF(0, 0, lb.size / lb.scale, lb.size / lb.scale)

    def draw_overlays(self) -> None:
        if self.result is None:
            return
        if self.drawn_box is not None:
            return self.show_box_targets(self.drawn_box)
        heat = self.result.heatmap
        k = self.class_combo.currentIndex() - 1
        shown = heat.max(axis=0) if k < 0 or k >= len(heat) else heat[k]
        self.view.set_heatmap(shown, self._model_square(), self.config.heat_opacity)
        boxes = self.view.shown.boxes
        self.view.set_points((boxes[:, :2] + boxes[:, 2:]) / 2)     # the peaks the boxes come from

    def live_changed(self, name: str, value) -> None:
        if name == "heat_opacity":
            self.view.set_heat_opacity(value)

    def show_box_targets(self, box: np.ndarray) -> None:
        lb = self.result.letterbox
        if isinstance(self.model.cfg, task.FcosConfig):
            return self.show_fcos_targets(box)
        t = task.box_targets(box, lb, self.model.cfg)
        self.view.set_heatmap(t.heatmap, self._model_square(), self.config.heat_opacity)
        cell = t.stride / lb.scale            # one heatmap cell in image pixels
        cx, cy = t.cell
        x0, y0, x1, y1 = (float(v) for v in box)
        self.view.set_highlights([(x0, y0, x1, y1), (cx * cell, cy * cell, (cx + 1) * cell, (cy + 1) * cell)])
        n = lb.size // t.stride
        self.info.setText(
            f"Drawn box -> centre cell (col {cx}, row {cy}) on the {n}x{n} grid; Gaussian radius {t.radius} "
            f"cells; offset target ({t.offset[0]:.2f}, {t.offset[1]:.2f}); size target ({t.size[0]:.1f}, "
            f"{t.size[1]:.1f}) cells = ({t.size[0] * t.stride:.0f}, {t.size[1] * t.stride:.0f}) px of the model input")

    def show_fcos_targets(self, box: np.ndarray) -> None:
        lb = self.result.letterbox
        t = task.fcos_box_targets(box, lb, self.model.cfg)
        self.view.set_heatmap(t.centerness, self._model_square(), self.config.heat_opacity)
        cell = t.stride / lb.scale
        cx, cy = t.cell
        x0, y0, x1, y1 = (float(v) for v in box)
        self.view.set_highlights([(x0, y0, x1, y1), (cx * cell, cy * cell, (cx + 1) * cell, (cy + 1) * cell)])
        left, top, right, bottom = t.ltrb
        self.info.setText(
            f"Drawn box -> {t.positives} positive locations (the heatmap shows their centre-ness target); "
            f"at the most central one (col {cx}, row {cy}): l {left:.0f}, t {top:.0f}, r {right:.0f}, "
            f"b {bottom:.0f} px of the model input, centre-ness {t.centerness[cy, cx]:.2f}")
