"""Bars: bar lengths equal the values, names on the axis, one bar item reused, export."""

from __future__ import annotations

import numpy as np
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
