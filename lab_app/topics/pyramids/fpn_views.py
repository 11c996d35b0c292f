"""LevelStrip: one pipeline's levels side by side, each the image with that level's feature-map energy
over it (its resolution shows: a 0.5x image or P6 is coarse, 2x or P3 fine) and the boxes that level
found, captioned with the level's stride and time."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QGridLayout, QLabel, QVBoxLayout, QWidget

from lab_app.detection.postprocess import Detections
from lab_app.qt.widgets.detection_view import DetectionView
from lab_app.qt.widgets.export import ExportableView
from lab_app.qt.widgets.latent_scatter import class_color

MAX_LEVELS = 4
LEVEL_LABEL_OFFSET = 5        # level i is drawn in the colour of label i + 5: past the 5 shape classes'


def level_color_css(i: int) -> str:
    r, g, b = class_color(i + LEVEL_LABEL_OFFSET)
    return f"rgb({r},{g},{b})"


class LevelStrip(ExportableView):
    """Up to four DetectionViews in a 2 x 2 grid, one per level of the pipeline shown."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(4)
        self.cells: list[DetectionView] = []
        self.captions: list[QLabel] = []
        self.frames: list[QWidget] = []
        for i in range(MAX_LEVELS):
            frame = QWidget()
            col = QVBoxLayout(frame)
            col.setContentsMargins(0, 0, 0, 0)
            col.setSpacing(1)
            caption = QLabel()
            caption.setWordWrap(True)   # a longer text adds a line; it never widens the window
            caption.setToolTip("The level's feature map: channel energy (mean squared activation, scaled "
                               "to 0..1) over the image, and the boxes this level produced")
            view = DetectionView()
            col.addWidget(caption)
            col.addWidget(view, 1)
            grid.addWidget(frame, i // 2, i % 2)
            self.cells.append(view)
            self.captions.append(caption)
            self.frames.append(frame)
        self.shown_levels = 0

    def show_run(self, run, image: np.ndarray, square: QRectF, threshold: float, iou: float,
                 class_names, opacity: float = 0.5) -> None:
        """Draw a fpn_task.PipelineRun over the photo ``image``; ``square`` is the detectors' input in
        the photo's pixels (the feature maps cover it)."""
        self.shown_levels = len(run.levels)
        for i, frame in enumerate(self.frames):
            frame.setVisible(i < len(run.levels))
        for i, level in enumerate(run.levels):
            view = self.cells[i]
            view.set_image(image)
            view.set_heatmap(level.energy, square, opacity)
            view.set_candidates(level.detections, class_names, threshold, iou)
            h, w = level.energy.shape
            time = f"{level.ms:.1f} ms" if level.ms > 0 else "in the same pass"
            self.captions[i].setText(
                f"<b style='color:{level_color_css(i)}'>{level.name}</b> &nbsp; map {w}x{h}, a cell = "
                f"{level.stride:.1f} px of the image &nbsp; {len(view.shown)} boxes &nbsp; {time}")

    def refilter(self, threshold: float, iou: float) -> None:
        for view in self.cells[: self.shown_levels]:
            view.apply_thresholds(threshold, iou)

    def detections(self, i: int) -> Detections:
        return self.cells[i].shown
