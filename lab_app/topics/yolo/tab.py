"""The YOLO v1 tab: an S x S grid detector trained live on procedural scenes with exact boxes.

The main view shows the image with the grid, the boxes that pass the live confidence and NMS
sliders, and the responsible cell of each shown box. Hovering a cell lists its B boxes with their
confidences and draws them; drawing a ground-truth box shows which cell and which of its B boxes
would be trained on it and the target values. The loss curve has one line per term of the paper's
loss. Training, photos and save/load are the shared DetectorTab."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QLabel

from lab_app.qt.detector_tab import DetectorTab
from lab_app.topics.yolo import task

IDEA = """
<b>YOLO v1: one look, an S&times;S grid.</b> The cell holding an object's centre is
<i>responsible</i> for it. Each cell predicts <i>B</i> boxes (<i>x</i>, <i>y</i> in the cell,
&radic;<i>w</i>, &radic;<i>h</i> of the image) with a confidence trained towards
Pr(object)&middot;IoU, and one set of class probabilities; a box's score is
confidence &times; Pr(class | object).<br>
<b>Loss:</b> 5&middot;coordinates (square-rooted sizes: a few pixels matter more on small boxes)
+ object + 0.5&middot;no-object + class, where only the box with the best IoU in the responsible cell
learns the object (the paper's 0.5 is for 7&times;7 cells; on a finer grid it is spread over the
cells: 0.5&middot;49/<i>S</i>&sup2;). Hover a cell to see its <i>B</i> boxes; draw a box to see who learns it.
"""

CELL_COLOR = (0, 255, 120)


class YoloTab(DetectorTab):
    task = task
    IDEA = IDEA
    model_title = "YOLO v1"

    def add_controls(self, layout) -> None:
        self.cell_label = QLabel("Hover a cell to see its boxes.")
        self.cell_label.setWordWrap(True)
        self.cell_label.setMinimumHeight(self.cell_label.fontMetrics().lineSpacing() * 4)
        layout.addWidget(self.cell_label)
        self._hover_cell: tuple[int, int] | None = None

    def _build(self) -> None:
        super()._build()
        self.view.hovered.connect(self.show_cell)

    def _side(self) -> float:
        lb = self.result.letterbox
        return lb.size / lb.scale

    def draw_overlays(self) -> None:
        if self.result is None:
            return
        self.view.set_heatmap(None)
        self.view.set_grid(self.result.grid if self.config.show_grid else 0, self._side())
        if self.drawn_box is not None:
            return self.show_box_targets(self.drawn_box)
        # the responsible cell of each shown box: the cell holding its centre
        boxes = self.view.shown.boxes
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        self.view.set_points(centres)
        cell = self._side() / self.result.grid
        cells = {(int(cx // cell), int(cy // cell)) for cx, cy in centres}
        self.view.set_highlights([(c * cell, r * cell, (c + 1) * cell, (r + 1) * cell) for c, r in sorted(cells)],
                                 CELL_COLOR)

    def live_changed(self, name: str, value) -> None:
        if name == "show_grid":
            self.draw_overlays()

    def cell_text(self, col: int, row: int) -> str:
        r = self.result
        probs = r.class_probs[row, col]
        k = int(np.argmax(probs))
        lines = [f"Cell (col {col}, row {row}): Pr({r.class_names[k]} | object) = {probs[k]:.2f}"]
        for b, (box, conf) in enumerate(zip(r.cell_boxes[row, col], r.confidence[row, col], strict=True)):
            lb = r.letterbox
            w, h = (box[2:] - box[:2]) * lb.scale
            lines.append(f"box {b + 1}: confidence {conf:.2f}, score {conf * probs[k]:.2f}, "
                         f"{w:.0f} x {h:.0f} px")
        return "<br>".join(lines)

    def show_cell(self, x: float, y: float) -> None:
        """Hover: the cell's B boxes (dashed) and their confidences."""
        if self.result is None or self.drawn_box is not None:
            return
        cell = self.result.cell_at(x, y)
        if cell is None or cell == self._hover_cell:
            return
        self._hover_cell = cell
        col, row = cell
        self.cell_label.setText(self.cell_text(col, row))
        size = self._side() / self.result.grid
        boxes = [tuple(b) for b in self.result.cell_boxes[row, col]]
        self.view.set_highlights([(col * size, row * size, (col + 1) * size, (row + 1) * size)] + boxes,
                                 (255, 200, 0))

    def show_box_targets(self, box: np.ndarray) -> None:
        r = self.result
        t = task.box_targets(box, r, self.model.cfg)
        col, row = t.cell
        size = self._side() / r.grid
        chosen = tuple(r.cell_boxes[row, col, t.responsible_box])
        x0, y0, x1, y1 = (float(v) for v in box)
        self.view.set_highlights([(x0, y0, x1, y1), (col * size, row * size, (col + 1) * size, (row + 1) * size),
                                  chosen], CELL_COLOR)
        ious = ", ".join(f"{v:.2f}" for v in t.ious)
        self.info.setText(
            f"Drawn box -> responsible cell (col {col}, row {row}) of {r.grid}x{r.grid}; its box "
            f"{t.responsible_box + 1} of {len(t.ious)} learns it (IoUs with the drawn box: {ious}). Targets: "
            f"x {t.xy[0]:.2f}, y {t.xy[1]:.2f} (in the cell), sqrt w {t.sqrt_wh[0]:.2f}, sqrt h {t.sqrt_wh[1]:.2f}, "
            f"confidence = IoU {t.ious[t.responsible_box]:.2f}; the other boxes of the cell learn confidence 0.")
