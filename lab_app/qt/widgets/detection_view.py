"""DetectionView: an ImageBoxes with what detector tabs draw on top of the image.

- candidates kept from the last model run and re-filtered by ``apply_thresholds`` (confidence, NMS
  IoU) without running the model again;
- a heatmap overlay (pg.ImageItem with a colormap and opacity) stretched over any rectangle;
- a grid (YOLO's S x S cells), marker points (CenterNet peaks), highlighted rectangles;
- drawing a box with the mouse (``draw_mode``): emits ``box_drawn(x0, y0, x1, y1)`` in image pixels;
- hover: emits ``hovered(x, y)`` in image pixels;
- a note above the image (``set_note``): what the model knows, when it meets an image it was not made
  for; it is part of the view, so the exported PNG says it too.
"""

from __future__ import annotations


import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtWidgets import QGraphicsRectItem, QLabel, QVBoxLayout, QWidget

from lab_app.detection.postprocess import Detections, filter_detections
from lab_app.qt.widgets.export import ExportableView
from lab_app.qt.widgets.image_boxes import ImageBoxes


class DetectionView(ExportableView):
    box_drawn = Signal(float, float, float, float)
    hovered = Signal(float, float)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.boxes = ImageBoxes()
        vb = self.view_box = self.boxes.view_box
        self.heat_item = pg.ImageItem(axisOrder="row-major")
        lut = pg.colormap.get("inferno").getLookupTable(nPts=256, alpha=True)
        lut[:, 3] = np.minimum(1.0, 4 * np.linspace(0, 1, 256)) * 255   # cold = transparent, >= 0.25 opaque
        self.heat_item.setLookupTable(lut)
        self.heat_item.setZValue(5)
        self.heat_item.setOpacity(0.55)
        vb.addItem(self.heat_item, ignoreBounds=True)
        self.grid_item = pg.PlotDataItem(pen=pg.mkPen((255, 255, 255, 110), width=1), connect="pairs")
        self.grid_item.setZValue(6)
        vb.addItem(self.grid_item, ignoreBounds=True)
        self.points_item = pg.ScatterPlotItem(size=9, symbol="x", pen=pg.mkPen("c", width=2), brush=None)
        self.points_item.setZValue(12)
        vb.addItem(self.points_item, ignoreBounds=True)
        self.highlight_items: list[QGraphicsRectItem] = []
        self.drag_item = QGraphicsRectItem()
        pen = pg.mkPen((255, 255, 0), width=2, style=Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        self.drag_item.setPen(pen)
        self.drag_item.setZValue(20)
        self.drag_item.hide()
        vb.addItem(self.drag_item, ignoreBounds=True)
        self.draw_mode = False
        self._default_drag = vb.mouseDragEvent
        vb.mouseDragEvent = self._drag
        self.boxes.plot_widget.scene().sigMouseMoved.connect(self._moved)
        self.candidates = Detections.empty()
        self.shown = Detections.empty()
        self.class_names: list[str] = []
        self.run_count = 0          # how many times set_candidates was called (model runs drawn)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setTextFormat(Qt.TextFormat.RichText)
        self.note.setStyleSheet("QLabel { background:#4d3b12; color:#ffe9b0; padding:4px 8px; }")
        self.note.hide()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.note)
        lay.addWidget(self.boxes, 1)

    # --- image and detections ------------------------------------------------------------------------
    def set_image(self, image: np.ndarray) -> None:
        self.boxes.set_image(image)

    def set_candidates(self, det: Detections, class_names, score_threshold: float, iou_threshold: float | None
                       ) -> None:
        self.candidates = det
        self.class_names = list(class_names)
        self.run_count += 1
        self.apply_thresholds(score_threshold, iou_threshold)

    def apply_thresholds(self, score_threshold: float, iou_threshold: float | None) -> Detections:
        """Re-filter the kept candidates (no model run) and draw what passes."""
        self.shown = filter_detections(self.candidates, score_threshold, iou_threshold)
        self.boxes.set_boxes(self.shown.boxes, self.shown.labels, self.shown.scores, self.class_names)
        return self.shown

    def set_note(self, html: str) -> None:
        """A line above the image ("" hides it)."""
        self.note.setText(html)
        self.note.setVisible(bool(html))

    # --- overlays ------------------------------------------------------------------------------------------
    def set_heatmap(self, heat: np.ndarray | None, rect: QRectF | None = None, opacity: float | None = None) -> None:
        """Show ``heat`` (h, w) in [0, 1] stretched over ``rect`` (image pixels); None hides it."""
        if heat is None:
            self.heat_item.hide()
            return
        self.heat_item.setImage(np.asarray(heat, np.float32), autoLevels=False, levels=(0.0, 1.0))
        if rect is not None:
            self.heat_item.setRect(rect)
        if opacity is not None:
            self.heat_item.setOpacity(opacity)
        self.heat_item.show()

    def set_heat_opacity(self, opacity: float) -> None:
        self.heat_item.setOpacity(float(opacity))

    def set_grid(self, cells: int, extent: float) -> None:
        """An S x S grid over the square [0, extent]^2 (cells = 0 hides it)."""
        if cells <= 0:
            self.grid_item.setData([], [])
            return
        ticks = np.linspace(0, extent, cells + 1)
        xs, ys = [], []
        for t in ticks:
            xs += [t, t, 0, extent]
            ys += [0, extent, t, t]
        self.grid_item.setData(np.asarray(xs), np.asarray(ys))

    def set_points(self, xy: np.ndarray) -> None:
        xy = np.asarray(xy, float).reshape(-1, 2)
        self.points_item.setData(xy[:, 0], xy[:, 1])

    def set_highlights(self, rects: list[tuple[float, float, float, float]], color=(0, 255, 120)) -> None:
        """Outline rectangles (x0, y0, x1, y1), e.g. a responsible cell or a drawn ground-truth box."""
        while len(self.highlight_items) < len(rects):
            item = QGraphicsRectItem()
            item.setZValue(15)
            self.view_box.addItem(item, ignoreBounds=True)
            self.highlight_items.append(item)
        for item, (x0, y0, x1, y1) in zip(self.highlight_items, rects, strict=False):
            pen = pg.mkPen(color, width=3)
            pen.setCosmetic(True)
            item.setPen(pen)
            item.setRect(QRectF(QPointF(x0, y0), QPointF(x1, y1)).normalized())
            item.show()
        for item in self.highlight_items[len(rects):]:
            item.hide()

    # --- mouse ---------------------------------------------------------------------------------------------
    def _drag(self, ev, axis=None):
        if not self.draw_mode or ev.button() != Qt.MouseButton.LeftButton:
            return self._default_drag(ev, axis)
        ev.accept()
        a = self.view_box.mapSceneToView(ev.buttonDownScenePos())
        b = self.view_box.mapSceneToView(ev.scenePos())
        rect = QRectF(a, b).normalized()
        self.drag_item.setRect(rect)
        self.drag_item.show()
        if ev.isFinish():
            self.drag_item.hide()
            if rect.width() >= 2 and rect.height() >= 2:
                self.box_drawn.emit(rect.left(), rect.top(), rect.right(), rect.bottom())

    def _moved(self, scene_pos) -> None:
        if self.boxes.image() is None:
            return
        p = self.view_box.mapSceneToView(scene_pos)
        self.hovered.emit(p.x(), p.y())

