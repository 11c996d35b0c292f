"""bar_labels: a bar chart's value labels, drawn by one item (the lab's Bars now) and by a pyqtgraph
TextItem per label (as Bars drew them before).

Both sides are the same Bars widget, the same size, fed the same values: --bars horizontal bars with
"{:.1f} bits" labels (the language tab's chain-rule chart). ``lab``: Bars as it is (one PointLabels
item, lab_app/qt/widgets/point_labels.py); ``before``: its value labels made as they were, a pool of
TextItems that grows to the number of bars, each set only where its text or place changed. Measured
per side, each the median over --charts new charts: ``first_ms``, the first ``set_values`` of a
shown chart and the repaint it causes (the labels made); ``update_ms``, a later ``set_values`` with
new values and its repaint. ``first_ratio`` and ``update_ratio`` = before / lab. Qt's offscreen
platform unless QT_QPA_PLATFORM says otherwise.
"""

from __future__ import annotations

import os
import statistics
import time


def add_arguments(parser) -> None:
    parser.add_argument("--bars", type=int, default=13)
    parser.add_argument("--charts", type=int, default=10, help="new charts per side")
    parser.add_argument("--updates", type=int, default=10, help="updates per chart")


def _text_item_bars():
    """Bars whose value labels are TextItems, as lab_app/qt/widgets/bars.py made them before."""
    import pyqtgraph as pg

    from lab_app.qt.widgets.bars import Bars

    class TextItemBars(Bars):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.plot_item.removeItem(self.value_item)
            self._labels: list[pg.TextItem] = []

        def _update_value_labels(self, positions, values, drawn) -> None:
            while len(self._labels) < len(values):
                label = pg.TextItem(color=(220, 220, 220))
                self.plot_item.addItem(label, ignoreBounds=True)
                self._labels.append(label)
            for i, label in enumerate(self._labels):
                if i >= len(values):
                    label.hide()
                    continue
                text = self.value_format.format(values[i])
                if label.toPlainText() != text:
                    label.setText(text)
                end = drawn[i]
                anchor, pos = ((0.0, 0.5) if end >= 0 else (1.0, 0.5)), (end, positions[i])
                if tuple(label.anchor) != anchor:
                    label.setAnchor(anchor)
                label.setPos(*pos)
                label.show()

    return TextItemBars


def _side(make, args) -> dict:
    import numpy as np
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    names = [f"word{i}  p=0.01  | context" for i in range(args.bars)]
    rng = np.random.default_rng(0)
    first, update = [], []
    for _ in range(args.charts):
        chart = make(orientation="horizontal", value_format="{:.1f} bits")
        chart.resize(500, 360)
        chart.show()
        for _ in range(3):
            app.processEvents()
        t0 = time.perf_counter()
        chart.set_values(names, rng.uniform(0.1, 12.0, args.bars))
        app.processEvents()
        first.append(time.perf_counter() - t0)
        for _ in range(args.updates):
            t0 = time.perf_counter()
            chart.set_values(names, rng.uniform(0.1, 12.0, args.bars))
            app.processEvents()
            update.append(time.perf_counter() - t0)
        chart.close()
        chart.deleteLater()
        app.processEvents()
    return {"first_ms": round(1000 * statistics.median(first), 2),
            "update_ms": round(1000 * statistics.median(update), 2)}


def run(args) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
    from PySide6.QtWidgets import QApplication

    QApplication.instance() or QApplication([])
    from lab_app.qt.widgets import scene_settle
    from lab_app.qt.widgets.bars import Bars

    scene_settle.install()   # as the window has it: a change paints each plot once
    before = _side(_text_item_bars(), args)
    lab = _side(Bars, args)
    return {
        "bars": args.bars, "charts": args.charts,
        "before_first_ms": before["first_ms"], "lab_first_ms": lab["first_ms"],
        "first_ratio": round(before["first_ms"] / max(lab["first_ms"], 1e-6), 2),
        "before_update_ms": before["update_ms"], "lab_update_ms": lab["update_ms"],
        "update_ratio": round(before["update_ms"] / max(lab["update_ms"], 1e-6), 2),
        "platform": os.environ.get("QT_QPA_PLATFORM"),
        "loadavg_1min": round(os.getloadavg()[0], 2),
    }
