"""Views of the language tab: chain-rule bars, perplexity vs n, count-of-counts, bigram heatmap,
embedding space with word labels. Items are created once and updated with setData."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QVBoxLayout, QWidget

from lab_app.qt.staged import build_pause
from lab_app.qt.widgets.bars import Bars
from lab_app.qt.widgets.export import ExportableView
from lab_app.qt.widgets.latent_scatter import LatentScatter, class_color
from lab_app.qt.widgets.plots import plot_widget
from lab_app.qt.widgets.point_labels import PointLabels

BACKED_OFF_COLOR = (214, 130, 40)
FULL_CONTEXT_COLOR = (70, 130, 190)
SMOOTHING_NAMES = {"kneser_ney": "Kneser-Ney", "interpolated": "interpolated (EM)", "add_k": "add-k"}


class ChainRuleBars(Bars):
    """One bar per word: its surprisal -log2 p(w | context), so the sentence's bits are the sum of the
    bars. Blue: the full n-1 word context was seen with the word; orange: the model backed off."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent, orientation="horizontal", value_format="{:.1f} bits",
                         title="Chain rule: -log2 p(word | context), one bar per word")
        self.plot_item.setLabel("bottom", "surprisal (bits); orange = backed off to a shorter context")
        self.rows: list[dict] = []

    def set_rows(self, rows: list[dict]) -> None:
        self.rows = rows
        names = []
        for r in rows:
            ctx = " ".join(r["context_used"]) if r["context_used"] else "(none)"
            names.append(f"{r['token']}  p={r['p']:.3g}  | {ctx}")
        bits = [max(0.0, -np.log2(max(r["p"], 1e-300))) for r in rows]  # max: no "-0.0 bits" for p = 1
        self.set_values(names, bits)
        brushes = [pg.mkBrush(BACKED_OFF_COLOR if r["backed_off"] else FULL_CONTEXT_COLOR) for r in rows]
        self.bar_item.setOpts(brushes=brushes)

    def bar_colors(self) -> list[tuple[int, int, int]]:
        return [tuple(b.color().getRgb()[:3]) for b in self.bar_item.opts["brushes"]]


class _Plot(ExportableView):
    """A titled PlotWidget with PNG export."""

    def __init__(self, title: str, x_label: str, y_label: str, log_y: bool = False,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.plot_widget = plot_widget(title=title)
        self.plot_item = self.plot_widget.getPlotItem()
        self.plot_item.setLabel("bottom", x_label)
        self.plot_item.setLabel("left", y_label)
        self.plot_item.showGrid(x=True, y=True, alpha=0.25)
        self.plot_item.setLogMode(False, log_y)
        build_pause()   # a tab built in slices: the subclass's items are parts of their own (qt/staged.py)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot_widget)



class PerplexityPlot(_Plot):
    """Held-out perplexity against n, one curve per smoothing; the selected model ringed."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Held-out perplexity vs n", "n (order)", "perplexity (log scale)", log_y=True,
                         parent=parent)
        self.plot_item.addLegend(offset=(10, 10))
        self.curves = {}
        for i, (key, name) in enumerate(SMOOTHING_NAMES.items()):
            build_pause()
            color = class_color(i)
            self.curves[key] = self.plot_item.plot([], [], pen=pg.mkPen(color, width=2), symbol="o",
                                                   symbolBrush=color, symbolSize=7, name=name)
        build_pause()
        # A PlotDataItem (not a bare ScatterPlotItem) so the log-scaled axis applies to it too.
        self.current = self.plot_item.plot([], [], pen=None, symbol="o", symbolSize=17,
                                           symbolPen=pg.mkPen("w", width=2), symbolBrush=None)
        self.plot_item.getAxis("bottom").setTicks([[(n, str(n)) for n in range(1, 6)]])
        self.plot_item.setXRange(0.7, 5.3, padding=0)

    def set_grid(self, grid: dict[str, np.ndarray]) -> None:
        for key, values in grid.items():
            n = np.flatnonzero(np.isfinite(values))
            self.curves[key].setData(n + 1.0, values[n])

    def mark(self, order: int, perplexity: float) -> None:
        if np.isfinite(perplexity):
            self.current.setData([float(order)], [perplexity])
        else:
            self.current.setData([], [])

    def curve_data(self, smoothing: str) -> tuple[np.ndarray, np.ndarray]:
        x, y = self.curves[smoothing].getData()
        return (np.zeros(0), np.zeros(0)) if x is None else (np.asarray(x), np.asarray(y))


class CountOfCountsPlot(_Plot):
    """n_r: how many distinct n-grams occur exactly r times (why discounts sit near 0.7 to 1.5)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Count of counts", "r (times seen)", "n-grams seen r times (log)", log_y=True,
                         parent=parent)
        self.plot_item.addLegend(offset=(-10, 10))
        self.curves = []
        for k in range(3):
            build_pause()
            self.curves.append(self.plot_item.plot([], [], pen=pg.mkPen(class_color(k), width=2), symbol="o",
                                                   symbolSize=6, symbolBrush=class_color(k),
                                                   name=f"{k + 1}-grams"))

    def set_counts(self, n_r: np.ndarray) -> None:
        for k, curve in enumerate(self.curves):
            r = np.flatnonzero(n_r[k] > 0)
            curve.setData(r + 1.0, n_r[k][r].astype(float))


class BigramHeatmap(_Plot):
    """p(column word | row word) for the most frequent words, colour = log10 p."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Bigram p(next | word), log10", "next word", "word", parent=parent)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot_item.addItem(self.image)
        self.plot_item.invertY(True)
        self.plot_item.setMouseEnabled(x=False, y=False)
        self.image.setLookupTable(pg.colormap.get("viridis").getLookupTable(nPts=256))
        build_pause()   # a colour bar is a plot of its own
        bar = pg.ColorBarItem(values=(-4, 0), colorMap=pg.colormap.get("viridis"), interactive=False, width=12)
        bar.setImageItem(self.image, insert_in=self.plot_item)
        self.words: list[str] = []
        self.probs = np.zeros((0, 0))

    def set_matrix(self, words: list[str], probs: np.ndarray) -> None:
        self.words, self.probs = list(words), np.asarray(probs)
        if not len(words):
            self.image.clear()
            return
        self.image.setImage(np.log10(np.maximum(self.probs, 1e-4)), autoLevels=False, levels=(-4, 0))
        ticks = [(i + 0.5, w) for i, w in enumerate(words)]
        self.plot_item.getAxis("bottom").setTicks([ticks])
        self.plot_item.getAxis("left").setTicks([ticks])
        self.plot_item.getAxis("bottom").setStyle(tickTextOffset=2)
        self.plot_item.setRange(xRange=(0, len(words)), yRange=(0, len(words)), padding=0)


class EmbeddingView(LatentScatter):
    """LatentScatter of word vectors (PCA) with the most frequent and the queried words labelled.

    The labels are two PointLabels items (lab_app/qt/widgets/point_labels.py), grey and yellow, not a
    TextItem per word: the first embedding drawn made forty of them in its handler, a stall of about
    40 ms in ``ui_stalls``, and each one followed the view's range (re-ranged every frame) on its own."""

    LABEL_COLOR = (220, 220, 220)
    MARKED_COLOR = (255, 220, 80)
    ANCHOR = (0.0, 1.0)   # the text's bottom-left corner at its word's point

    def __init__(self, parent: QWidget | None = None, n_labels: int = 40):
        super().__init__(parent, point_size=3)
        self.plot_item.setTitle("Skip-gram embeddings (PCA of the word vectors)")
        self.words: list[str] = []
        self.marked: list[int] = []
        self.n_labels = n_labels
        self._capacity = n_labels + 12
        self._plain = PointLabels(self.LABEL_COLOR)
        self._yellow = PointLabels(self.MARKED_COLOR)
        for item in (self._plain, self._yellow):
            self.view_box.addItem(item, ignoreBounds=True)
        self._shown: list[tuple[int, bool]] = []   # (word index, drawn yellow), in label order

    def set_words(self, xy: np.ndarray, words: list[str], labels: np.ndarray, class_names: list[str]) -> None:
        self.words = list(words)
        # follow: PCA's scale changes while training, so re-range each frame (this also keeps points
        # away from the view's edge, where LatentScatter's 3 px stamps overflow its canvas: see report)
        self.setData(xy, labels, class_names, follow=True)
        self._place_labels()

    def mark_words(self, indices: list[int]) -> None:
        """Label these words too (neighbours, analogy answers), in yellow."""
        self.marked = [i for i in indices if 0 <= i < len(self.words)]
        self._place_labels()

    def _place_labels(self) -> None:
        xy, _ = self.data()
        shown = list(range(min(self.n_labels, len(self.words))))
        # marks made on an earlier run's words may point past a smaller new vocabulary
        self.marked = [i for i in self.marked if i < len(self.words)]
        shown += [i for i in self.marked if i >= self.n_labels][: self._capacity - len(shown)]
        marked = set(self.marked)
        self._shown = [(i, i in marked) for i in shown]
        for item, yellow in ((self._plain, False), (self._yellow, True)):
            mine = [i for i, y in self._shown if y == yellow]
            item.set_labels([(float(xy[i, 0]), float(xy[i, 1])) for i in mine], [self.words[i] for i in mine],
                            self.ANCHOR)

    def label_texts(self) -> list[str]:
        return [self.words[i] for i, _ in self._shown]

    def label_points(self) -> list[tuple[float, float, bool]]:
        """Where each label is anchored (its word's point) and whether it is yellow, in label order."""
        xy, _ = self.data()
        return [(float(xy[i, 0]), float(xy[i, 1]), yellow) for i, yellow in self._shown]
