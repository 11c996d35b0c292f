"""Views of the faces sub-tab: a photo with one stage's boxes (StageView), the pyramid levels with
P-Net's probability maps (PyramidView), recall by face size (RecallChart) and time against the
minimum face size (TimeChart). Items are created once and fed with setData."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QVBoxLayout, QWidget

from lab_app.qt.widgets.export import ExportableView
from lab_app.qt.widgets.latent_scatter import class_color
from lab_app.qt.widgets.plots import plot_widget

#: Boxes drawn per stage at most (the best-scored), so a very low threshold cannot stall the UI.
MAX_DRAWN = 20_000
MTCNN_COLOR, LBP_COLOR, TRUTH_COLOR = (255, 170, 40), (90, 170, 255), (90, 230, 120)


def box_paths(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, 4) boxes -> x, y, connect for one curve item: 5 points per box, no line between boxes."""
    b = np.asarray(boxes, float).reshape(-1, 4)
    x = b[:, [0, 2, 2, 0, 0]].ravel()
    y = b[:, [1, 1, 3, 3, 1]].ravel()
    connect = np.ones((len(b), 5), bool)
    connect[:, -1] = False
    return x, y, connect.ravel()


class _Plot(ExportableView):
    def __init__(self, title: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.plot_widget = plot_widget()
        self.plot_item = self.plot_widget.getPlotItem()
        self.set_title(title)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.plot_widget)

    def _image_axes(self) -> None:
        """A picture, not a chart: no axes, y down, square pixels, one image item."""
        for axis in ("left", "bottom"):
            self.plot_item.hideAxis(axis)
        self.view_box = self.plot_item.getViewBox()
        self.view_box.invertY(True)
        self.view_box.setAspectLocked(True)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.view_box.addItem(self.image_item)

    def title(self) -> str:
        return self.plot_item.titleLabel.text

    def set_title(self, text: str) -> None:
        self.plot_item.setTitle(text, size="9pt")


class StageView(_Plot):
    """The photo with boxes (one colour, or coloured by pyramid level), true faces (green, dashed),
    landmarks, and a message in place of boxes when a stage found nothing."""

    def __init__(self, title: str, color=MTCNN_COLOR, parent: QWidget | None = None):
        super().__init__(title, parent)
        self._image_axes()
        self.color = color
        self.truth_item = pg.PlotCurveItem(pen=pg.mkPen(*TRUTH_COLOR, width=1.5, style=Qt.PenStyle.DashLine))
        self.level_items: list[pg.PlotCurveItem] = []
        self.landmark_item = pg.ScatterPlotItem(size=5, pen=pg.mkPen(20, 20, 20),
                                                brush=pg.mkBrush(80, 255, 255))
        self.message_item = pg.TextItem(anchor=(0.5, 0.5), color=(255, 255, 255),
                                        fill=pg.mkBrush(120, 30, 30, 200))
        for item in (self.truth_item, self.landmark_item, self.message_item):
            item.setZValue(12)
            self.view_box.addItem(item, ignoreBounds=True)
        self.message_item.hide()
        self.boxes = np.zeros((0, 4))
        self.landmarks = np.zeros((0, 5, 2))
        self._shape: tuple[int, int] | None = None

    def set_image(self, image: np.ndarray) -> None:
        self.image_item.setImage(image, autoLevels=False, levels=(0, 255))
        if self._shape != image.shape[:2]:
            self._shape = image.shape[:2]
            self.view_box.autoRange(items=[self.image_item], padding=0.0)
        self.message_item.setPos(image.shape[1] / 2, image.shape[0] / 2)

    def set_boxes(self, boxes: np.ndarray, scores: np.ndarray | None = None, levels: np.ndarray | None = None,
                  landmarks: np.ndarray | None = None) -> int:
        """Draw ``boxes``; ``levels`` given: one colour per pyramid level. Returns how many were drawn."""
        boxes = np.asarray(boxes, float).reshape(-1, 4)
        if len(boxes) > MAX_DRAWN and scores is not None:
            keep = np.argsort(-np.asarray(scores))[:MAX_DRAWN]
            boxes = boxes[keep]
            levels = None if levels is None else np.asarray(levels)[keep]
        self.boxes = boxes
        groups = [(0, boxes)] if levels is None else [(k, boxes[np.asarray(levels) == k])
                                                      for k in range(int(np.max(levels, initial=-1)) + 1)]
        while len(self.level_items) < len(groups):
            item = pg.PlotCurveItem()
            item.setZValue(10)
            self.view_box.addItem(item, ignoreBounds=True)
            self.level_items.append(item)
        for i, item in enumerate(self.level_items):
            if i < len(groups):
                k, b = groups[i]
                color = self.color if levels is None else class_color(k)
                item.setPen(pg.mkPen(*color, width=1.5 if levels is None else 1.0))
                item.setData(*box_paths(b)[:2], connect=box_paths(b)[2])
                item.show()
            else:
                item.hide()
        self.landmarks = np.zeros((0, 5, 2)) if landmarks is None else np.asarray(landmarks).reshape(-1, 5, 2)
        self.landmark_item.setData(pos=self.landmarks.reshape(-1, 2))
        return len(boxes)

    def set_truth(self, boxes: np.ndarray | None) -> None:
        b = np.zeros((0, 4)) if boxes is None else boxes
        x, y, c = box_paths(b)
        self.truth_item.setData(x, y, connect=c)

    def set_message(self, text: str | None) -> None:
        """A message over the photo (e.g. "no faces found"), or none."""
        if text:
            self.message_item.setText(text)
            self.message_item.show()
        else:
            self.message_item.hide()

    def message(self) -> str | None:
        return self.message_item.toPlainText() if self.message_item.isVisible() else None


class PyramidView(_Plot):
    """Every pyramid level (what P-Net reads), left to right, with its face-probability heat map."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Pyramid: P-Net face probability per level", parent)
        self._image_axes()
        self.labels: list[pg.TextItem] = []
        self.level_texts: list[str] = []

    def set_pyramid(self, mosaic: np.ndarray, rects: np.ndarray, shapes, scales, peaks) -> None:
        self.image_item.setImage(mosaic, autoLevels=False, levels=(0, 255))
        self.view_box.autoRange(items=[self.image_item], padding=0.02)
        self.level_texts = [f"{k}: x{s:.2f}\n{w}x{h}\nmax p {p:.2f}"
                            for k, ((h, w), s, p) in enumerate(zip(shapes, scales, peaks, strict=True))]
        while len(self.labels) < len(self.level_texts):
            label = pg.TextItem(anchor=(0, 0), color=(235, 235, 235), fill=pg.mkBrush(0, 0, 0, 150))
            label.setZValue(5)
            self.view_box.addItem(label, ignoreBounds=True)
            self.labels.append(label)
        for i, label in enumerate(self.labels):
            if i < len(self.level_texts):
                x, y, _, _ = rects[i]
                # small levels are too narrow for three lines of text: those get their number only
                label.setText(self.level_texts[i] if rects[i][2] >= 100 else str(i))
                label.setPos(x, y)
                label.show()
            else:
                label.hide()


class _Chart(_Plot):
    # the legend goes where the curves leave room: bottom right for rising recall, top right for time
    def __init__(self, title: str, x_label: str, y_label: str, legend_offset=(-10, 10),
                 parent: QWidget | None = None):
        super().__init__(title, parent)
        self.plot_item.setLabel("bottom", x_label)
        self.plot_item.setLabel("left", y_label)
        self.plot_item.showGrid(x=True, y=True, alpha=0.2)
        self.plot_item.addLegend(offset=legend_offset, brush=pg.mkBrush(0, 0, 0, 150), labelTextSize="8pt")
        self.mtcnn = self.plot_item.plot(name="MTCNN", pen=pg.mkPen(*MTCNN_COLOR, width=2), symbol="o",
                                         symbolBrush=MTCNN_COLOR, symbolSize=6)
        self.lbp = self.plot_item.plot(name="LBP cascade", pen=pg.mkPen(*LBP_COLOR, width=2), symbol="s",
                                       symbolBrush=LBP_COLOR, symbolSize=6)
        self.marker = pg.InfiniteLine(angle=90, pen=pg.mkPen(200, 200, 200, 160, style=Qt.PenStyle.DashLine))
        self.plot_item.addItem(self.marker, ignoreBounds=True)


class RecallChart(_Chart):
    """Recall per face-size bin (bins as categories) for both detectors, the minimum face marked."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Recall by face size", "face size (px, bins from)", "recall", (-10, -30))
        self.plot_item.setYRange(0, 1.05, padding=0)
        self.plot_item.setMouseEnabled(x=False, y=False)
        self.bins: tuple[int, ...] = ()

    def set_recall(self, bins, totals, mtcnn_found, lbp_found, min_face: int, top: int = 128) -> None:
        self.bins = tuple(bins)
        x = np.arange(len(bins), dtype=float)
        t = np.asarray(totals, float)
        with np.errstate(invalid="ignore", divide="ignore"):
            m = np.where(t > 0, np.asarray(mtcnn_found) / t, np.nan)
            lb = np.where(t > 0, np.asarray(lbp_found) / t, np.nan)
        self.mtcnn.setData(x, m, connect="finite")
        self.lbp.setData(x, lb, connect="finite")
        edges = list(bins) + [top + 1]
        ticks = [(i, str(edges[i])) for i in range(len(bins))]   # (faces per bin: in the side panel)
        self.plot_item.getAxis("bottom").setTicks([ticks])
        k = int(np.searchsorted(edges, min_face, side="right")) - 1
        frac = (min_face - edges[max(k, 0)]) / (edges[max(k, 0) + 1] - edges[max(k, 0)]) if k >= 0 else 0.0
        self.marker.setPos(max(k, 0) - 0.5 + frac)
        self.plot_item.setXRange(-0.6, len(bins) - 0.4, padding=0)

    def values(self) -> tuple[np.ndarray, np.ndarray]:
        return self.mtcnn.getData()[1], self.lbp.getData()[1]


class TimeChart(_Chart):
    """Milliseconds per image against the minimum face size, both detectors."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Time per image", "minimum face (px)", "ms per image")
        self.points: dict[int, tuple[float, float]] = {}

    def clear(self) -> None:
        self.points = {}
        self.mtcnn.setData([], [])
        self.lbp.setData([], [])

    def add_point(self, min_face: int, mtcnn_ms: float, lbp_ms: float) -> None:
        self.points[int(min_face)] = (mtcnn_ms, lbp_ms)
        xs = sorted(self.points)
        self.mtcnn.setData(xs, [self.points[x][0] for x in xs])
        self.lbp.setData(xs, [self.points[x][1] for x in xs])

    def set_min_face(self, min_face: int) -> None:
        self.marker.setPos(min_face)
