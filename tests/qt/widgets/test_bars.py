"""Bars: bar lengths equal the values, names on the axis, one bar item reused, export."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtGui import QImage

from lab_app.qt.widgets.bars import Bars


@pytest.fixture(params=["horizontal", "vertical"])
def bars(qtbot, request):
    widget = Bars(orientation=request.param)
    qtbot.addWidget(widget)
    widget.resize(300, 200)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def test_lengths_equal_values_and_names_are_ticks(bars):
    names, values = ["cat", "dog", "eel"], [0.7, 0.2, 0.1]
    bars.set_values(names, values, highlight="dog")
    assert np.allclose(bars.bar_lengths(), values)
    assert bars.highlighted() == 1
    assert bars.value_labels() == ["0.70", "0.20", "0.10"]
    ticks = bars.name_axis._tickLevels  # where AxisItem.setTicks keeps fixed ticks
    assert [label for _, label in ticks[0]] == names


def test_second_update_reuses_the_item_and_hides_extra_labels(bars):
    bars.set_values(list("abcde"), np.full(5, 0.2))
    item = bars.bar_item
    bars.set_values(list("ab"), [0.9, 0.1], highlight=0)
    assert bars.bar_item is item
    assert len([i for i in bars.plot_item.items if i is item]) == 1
    assert np.allclose(bars.bar_lengths(), [0.9, 0.1])
    assert bars.value_labels() == ["0.90", "0.10"]


def test_nan_and_mismatch(bars):
    bars.set_values(["a", "b"], [np.nan, 0.5])
    assert np.allclose(bars.bar_lengths(), [0.0, 0.5])
    with pytest.raises(ValueError):
        bars.set_values(["a"], [0.1, 0.2])


def test_export(bars, tmp_path):
    bars.set_values(["a", "b,c"], [0.25, 0.75], highlight=1)
    assert bars.export_data(tmp_path / "bars.csv").read_text().splitlines() == ["name,value", "a,0.25",
                                                                                '"b,c",0.75']
    image = QImage(str(bars.export_png(tmp_path / "bars.png")))
    pixels = np.array([image.pixel(x, y) & 0xFFFFFF for x in range(0, image.width(), 3)
                       for y in range(0, image.height(), 3)])
    assert pixels.std() > 0


def _pixels(widget) -> np.ndarray:
    image = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    arr = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine() // 4, 4)
    return arr[:, : image.width(), :3].astype(int)


def test_value_labels_are_drawn_past_each_bar_end_by_one_item(qtbot):
    """Horizontal bars 0.5 and -0.5: the first label right of its bar's end, the second left of its
    bar's end, each in its bar's row (the pixels that change when the labels are hidden); new values
    move them without new graphics items."""
    bars = Bars(orientation="horizontal", value_format="{:.1f}")
    qtbot.addWidget(bars)
    bars.resize(400, 200)
    bars.show()
    qtbot.waitExposed(bars)
    bars.set_values(["up", "down"], [0.5, -0.5])
    items = list(bars.plot_item.items)
    vb = bars.view_box

    def device(x, y):
        return bars.plot_widget.mapFromScene(vb.mapViewToScene(pg.Point(x, y)))

    with_labels = _pixels(bars.plot_widget)
    bars.value_item.hide()
    without = _pixels(bars.plot_widget)
    bars.value_item.show()
    ys, xs = np.nonzero(np.abs(with_labels - without).sum(axis=2) > 60)
    zero, plus, minus = device(0, 0).x(), device(0.5, 0).x(), device(-0.5, 1).x()
    row0, row1 = device(0, 0).y(), device(0, 1).y()
    half = abs(row1 - row0) / 2
    first, second = xs[np.abs(ys - row0) < half], xs[np.abs(ys - row1) < half]
    assert len(first) + len(second) == len(xs)                # nothing drawn outside the two rows
    assert len(first) > 10 and plus < first.min() and first.max() < plus + 60
    assert len(second) > 10 and minus - 60 < second.min() and second.max() < minus < zero < plus
    assert bars.value_labels() == ["0.5", "-0.5"]
    for k in range(20):
        bars.set_values(["up", "down"], [0.1 * (k % 9), 0.3])
    assert list(bars.plot_item.items) == items and bars.value_labels() == ["0.1", "0.3"]
