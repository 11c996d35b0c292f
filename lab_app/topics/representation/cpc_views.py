"""Views of CPC and the patch pretext task (Qt): one image's context and the patch CPC picks, the
per-k accuracy and bound, and the pretext's patch pairs with their predicted and true positions."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from lab_app.qt.widgets.export import ExportableView
from lab_app.qt.widgets.image_boxes import ImageBoxes
from lab_app.qt.widgets.plots import add_plot
from lab_app.topics.representation.views import Thumbnail

CONTEXT_TINT = np.array([60, 110, 200], np.float32)  # the rows the context has seen
TRUE_COLOR, PICK_COLOR = "#2ca02c", "#d62728"
ARROWS = ("\u2196", "\u2191", "\u2197", "\u2190", "\u2192", "\u2199", "\u2193", "\u2198")  # NEIGHBOURS order


def grey_rgb(image: np.ndarray) -> np.ndarray:
    """(C, H, W) float in [0, 1] -> (H, W, 3) float 0..255."""
    arr = np.clip(np.asarray(image, np.float32), 0, 1) * 255
    arr = np.repeat(arr, 3, 0) if arr.shape[0] == 1 else arr[:3]
    return arr.transpose(1, 2, 0)


class CpcExampleView(ExportableView):
    """Left: the image, the rows its context c has seen tinted blue, the context position, the true
    patch k rows below (green) and, when CPC picked another patch of this image, that one (red).
    Right: the true patch and the best-scoring negatives as patches, with their scores z^T W_k c."""

    def __init__(self, shown: int = 8, parent: QWidget | None = None):
        super().__init__(parent)
        self.title = QLabel("<b>CPC</b>: train to see which patch the context picks")
        self.title.setWordWrap(True)
        self.image = ImageBoxes(line_width=2.5)
        self.image.setMinimumSize(220, 220)
        self.tiles = [Thumbnail(58) for _ in range(shown)]
        grid = QGridLayout()
        grid.setSpacing(2)
        for i, t in enumerate(self.tiles):
            grid.addWidget(t, i // 4, i % 4)
        strip = QWidget()
        col = QVBoxLayout(strip)
        col.setContentsMargins(0, 0, 0, 0)
        self.strip_title = QLabel("candidates, by score (true patch first)")
        col.addWidget(self.strip_title)
        col.addLayout(grid)
        col.addStretch(1)
        row = QHBoxLayout()
        row.addWidget(self.image, 3)
        row.addWidget(strip, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.title)
        layout.addLayout(row, 1)
        self.example = None

    def show_example(self, ex, caption: str = "a test image") -> None:
        self.example = ex
        p, s = ex.patch, ex.stride
        rgb = grey_rgb(ex.image)
        seen = min(rgb.shape[0], ex.row * s + p)  # pixel rows inside patch rows 0..row
        rgb[:seen] = 0.55 * rgb[:seen] + 0.45 * CONTEXT_TINT
        self.image.set_image(rgb.astype(np.uint8))
        # Colours of the lab's palette: orange the context position, green the truth, red a wrong pick.
        boxes, labels, names = [], [], ["", "context", "true", "picked"]
        boxes.append((ex.col * s, ex.row * s, ex.col * s + p, ex.row * s + p))
        labels.append(1)
        boxes.append((ex.where[0, 2] * s, ex.where[0, 1] * s, ex.where[0, 2] * s + p, ex.where[0, 1] * s + p))
        labels.append(2)
        if ex.picked != 0 and ex.where[ex.picked, 0] == 0:  # a wrong pick from this same image
            i, j = ex.where[ex.picked, 1:]
            boxes.append((j * s, i * s, j * s + p, i * s + p))
            labels.append(3)
        self.image.set_boxes(np.asarray(boxes, float) - 0.5, labels, class_names=names)
        verdict = "picks the true patch" if ex.picked == 0 else "picks a wrong patch"
        self.title.setText(
            f"<b>CPC</b>, {caption}, step {ex.step}: the context (rows above, blue) predicts the patch "
            f"<b>{ex.k}</b> row{'s' if ex.k > 1 else ''} below among N = {ex.n} and {verdict}")
        for i, t in enumerate(self.tiles):
            if i >= len(ex.candidates):
                t.show_image(None, "")
                continue
            img, row, col = ex.where[i]
            who = "true" if i == 0 else ("same img" if img == 0 else "other img")
            mark = " \u2190 pick" if i == ex.picked else ""
            t.show_image(ex.candidates[i], f"{who} {ex.scores[i]:.1f}{mark}")
            color = TRUE_COLOR if i == 0 else (PICK_COLOR if i == ex.picked else "#444")
            t.image.setStyleSheet(f"background: #111; border: 3px solid {color};")

    def captions(self) -> list[str]:
        return [t.caption.text() for t in self.tiles]


class PerKView(ExportableView):
    """Against k (rows ahead): how often the true patch is picked (with chance 1/N), and the bound
    log N - L_k (with its ceiling log N). The further future is harder: both fall with k."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.plots = pg.GraphicsLayoutWidget()
        self.acc_plot = add_plot(self.plots, title="pick accuracy against k")
        self.plots.nextRow()
        self.bound_plot = add_plot(self.plots, title="bound log N \u2212 L<sub>k</sub> against k (nats)")
        for plot in (self.acc_plot, self.bound_plot):
            plot.setLabel("bottom", "k (rows ahead)")
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.addLegend(offset=(-10, 10), brush=pg.mkBrush(0, 0, 0, 150), labelTextSize="8pt")
        self.acc_plot.setYRange(0, 1, padding=0.02)
        self.acc_curve = self.acc_plot.plot(name="accuracy", pen=pg.mkPen(TRUE_COLOR, width=2),
                                            symbol="o", symbolBrush=TRUE_COLOR)
        self.chance_curve = self.acc_plot.plot(name="chance 1/N",
                                               pen=pg.mkPen("w", style=Qt.PenStyle.DashLine))
        self.bound_curve = self.bound_plot.plot(name="log N \u2212 L", pen=pg.mkPen("#1f77b4", width=2),
                                                symbol="o", symbolBrush="#1f77b4")
        self.log_n_curve = self.bound_plot.plot(name="log N", pen=pg.mkPen("w", style=Qt.PenStyle.DashLine))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plots)
        self.k = np.zeros(0)
        self.accuracy = np.zeros(0)
        self.bound = np.zeros(0)
        self.log_n = float("nan")

    def set_values(self, accuracy, bound, log_n: float) -> None:
        self.accuracy, self.bound = np.asarray(accuracy, float), np.asarray(bound, float)
        self.k, self.log_n = np.arange(1, len(self.accuracy) + 1, dtype=float), float(log_n)
        ends = np.array([0.8, len(self.k) + 0.2])
        self.acc_curve.setData(self.k, self.accuracy)
        self.chance_curve.setData(ends, np.full(2, np.exp(-log_n)))
        self.bound_curve.setData(self.k, self.bound)
        self.log_n_curve.setData(ends, np.full(2, log_n))
        self.bound_plot.setYRange(0, log_n * 1.08, padding=0)

    def clear(self) -> None:
        for curve in (self.acc_curve, self.chance_curve, self.bound_curve, self.log_n_curve):
            curve.setData([], [])
        self.k = self.accuracy = self.bound = np.zeros(0)



def pair_board(first: np.ndarray, second: np.ndarray, label: int, predicted: int, neighbours) -> np.ndarray:
    """A 3 x 3 board (3, H, W) in [0, 1]: the centre patch in the middle, its neighbour in its true
    cell framed green (right answer) or red, and the predicted cell framed orange when it differs."""
    c, p, _ = first.shape
    cell, frame = p + 4, 2
    board = np.full((3, 3 * cell, 3 * cell), 0.12, np.float32)

    def place(patch, r, col):
        img = np.repeat(patch, 3, 0) if c == 1 else patch[:3]
        board[:, r * cell + 2 : r * cell + 2 + p, col * cell + 2 : col * cell + 2 + p] = img

    def outline(r, col, rgb):
        y, x = r * cell, col * cell
        for sl in (np.s_[y : y + frame, x : x + cell], np.s_[y + cell - frame : y + cell, x : x + cell],
                   np.s_[y : y + cell, x : x + frame], np.s_[y : y + cell, x + cell - frame : x + cell]):
            board[:, sl[0], sl[1]] = np.asarray(rgb, np.float32)[:, None, None]

    place(first, 1, 1)
    dy, dx = neighbours[label]
    place(second, 1 + dy, 1 + dx)
    outline(1 + dy, 1 + dx, (0.17, 0.63, 0.17) if predicted == label else (0.84, 0.15, 0.16))
    if predicted != label:
        py, px = neighbours[predicted]
        outline(1 + py, 1 + px, (1.0, 0.5, 0.05))
    return board


class PretextPairsView(ExportableView):
    """The relative-position pretext: for pairs cut from test images, the centre patch, its
    neighbour where it really was, and where the classifier put it."""

    def __init__(self, pairs: int = 8, parent: QWidget | None = None):
        super().__init__(parent)
        self.title = QLabel("<b>Patch position</b>: train to see where the classifier puts each neighbour")
        self.title.setWordWrap(True)
        self.boards = [Thumbnail(96) for _ in range(pairs)]
        grid = QGridLayout()
        grid.setSpacing(4)
        for i, t in enumerate(self.boards):
            grid.addWidget(t, i // 4, i % 4)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.title)
        layout.addLayout(grid)
        layout.addStretch(1)
        self.example = None

    def show_pairs(self, ex, neighbours, caption: str = "test images") -> None:
        self.example = ex
        right = int((ex.predicted == ex.labels).sum())
        self.title.setText(
            f"<b>Patch position</b>, {caption}, step {ex.step}: which of the 8 neighbours of the centre "
            f"patch is the other one? Green frame: right; red: wrong, orange: where the model put it. "
            f"{right} of {len(ex.labels)} right")
        for i, t in enumerate(self.boards):
            if i >= len(ex.labels):
                t.show_image(None, "")
                continue
            label, said = int(ex.labels[i]), int(ex.predicted[i])
            t.show_image(pair_board(ex.first[i], ex.second[i], label, said, neighbours),
                         f"true {ARROWS[label]}  said {ARROWS[said]} {ex.probs[i, said]:.2f}")
