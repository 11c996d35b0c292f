"""LossCurve: one curve per metric, data equal to what was appended, clear and CSV export."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QImage

from lab_app.qt.widgets.loss_curve import LossCurve


@pytest.fixture
def curve(qtbot):
    widget = LossCurve(title="training")
    qtbot.addWidget(widget)
    widget.resize(400, 300)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def test_item_data_equals_what_was_appended(curve):
    for step in range(300):  # past the first buffer size, so the buffers grew
        metrics = {"loss": 1.0 / (step + 1)}
        if step % 10 == 0:
            metrics["acc"] = step / 300
        curve.append(step, metrics)
    assert curve.names() == ["loss", "acc"]
    item = curve.item("loss")
    assert np.array_equal(item.xData, np.arange(300))
    assert np.allclose(item.yData, 1.0 / np.arange(1, 301))
    steps, values = curve.series("acc")
    assert np.array_equal(steps, np.arange(0, 300, 10)) and np.allclose(values, steps / 300)
    assert len(curve.plot_item.listDataItems()) == 2  # one item per metric, not one per append


def test_a_history_extends_the_curves_as_appends_would_with_one_redraw_each(curve, qtbot, monkeypatch):
    history = [(step, {"loss": 1.0 / (step + 1), **({"mAP": step / 900} if step % 50 == 0 else {})})
               for step in range(0, 900, 3)]
    one_by_one = LossCurve()
    qtbot.addWidget(one_by_one)
    for step, metrics in history:
        one_by_one.append(step, metrics)
    redraws = []
    original = curve._make_item

    def counted(name):
        item = original(name)
        real = item.setData
        item.setData = lambda *a, **k: (redraws.append(name), real(*a, **k))
        return item

    monkeypatch.setattr(curve, "_make_item", counted)
    curve.extend(history)
    assert curve.names() == one_by_one.names() == ["loss", "mAP"]
    for name in curve.names():
        assert all(np.array_equal(a, b) for a, b in zip(curve.series(name), one_by_one.series(name), strict=True))
        assert np.array_equal(curve.item(name).yData, one_by_one.item(name).yData)
    assert sorted(redraws) == ["loss", "mAP"]       # one setData per curve, not one per point


def test_appends_in_one_burst_are_drawn_together_within_the_redraw_interval(curve, qtbot):
    redraws = []
    curve.append(0, {"loss": 1.0})
    item = curve.item("loss")       # drawn now, its first point
    real = item.setData
    item.setData = lambda *a, **k: (redraws.append(len(a[0])), real(*a, **k))
    for step in range(1, 50):
        curve.append(step, {"loss": 1.0 / (step + 1)})
    assert redraws == []                                    # nothing drawn inside the burst
    qtbot.waitUntil(lambda: redraws == [50], timeout=5 * LossCurve.REDRAW_MS)   # then all 50 points at once
    assert np.allclose(curve._series["loss"].item.yData, 1.0 / np.arange(1, 51))
    curve.append(50, {"loss": 0.5})
    assert len(curve.item("loss").yData) == 51 and redraws == [50, 51]   # item() draws what is pending


def test_log_y_keeps_the_data_and_tolerates_zero(curve, qtbot):
    curve.set_log_y(True)
    for step, loss in enumerate([1.0, 0.1, 0.0, 0.01]):
        curve.append(step, {"loss": loss})
    qtbot.wait(10)
    assert np.array_equal(curve.series("loss")[1], [1.0, 0.1, 0.0, 0.01])
    assert curve.plot_item.ctrl.logYCheck.isChecked()


def test_clear_removes_curves_and_legend_entries(curve):
    curve.append(0, {"loss": 1.0, "acc": 0.5})
    curve.flush()
    assert len(curve.plot_item.listDataItems()) == 2 and len(curve.legend.items) == 2
    curve.clear()
    assert curve.names() == [] and curve.plot_item.listDataItems() == []
    assert len(curve.legend.items) == 0
    curve.append(0, {"loss": 2.0})
    curve.flush()
    assert curve.names() == ["loss"] and len(curve.legend.items) == 1


def test_export_csv_and_png(curve, tmp_path):
    for step in range(50):
        curve.append(step, {"loss": np.exp(-step / 10), "acc": step / 50})
    lines = curve.export_data(tmp_path / "curves.csv").read_text().splitlines()
    assert lines[0] == "metric,step,value" and len(lines) == 101
    assert lines[1] == "loss,0,1" and "acc,49,0.98" in lines
    image = QImage(str(curve.export_png(tmp_path / "curves.png")))
    pixels = np.array([image.pixel(x, y) & 0xFFFFFF for x in range(0, image.width(), 4)
                       for y in range(0, image.height(), 4)])
    assert pixels.std() > 0


def test_many_terms_share_a_two_column_translucent_legend(curve):
    curve.append(0, {"loss": 1.0, "coord": 0.5, "object": 0.2})
    curve.flush()
    assert curve.legend.columnCount == 1
    curve.append(1, {"loss": 1.0, "coord": 0.5, "object": 0.2, "no-object": 0.1, "class": 0.3})
    curve.flush()
    assert curve.legend.columnCount == 2 and len(curve.legend.items) == 5
    curve.legend.layout.activate()
    rows = {round(label.pos().y()) for _sample, label in curve.legend.items}
    assert len(rows) == 3                            # five entries in three rows, not five
    assert curve.legend.opts["brush"].color().alpha() < 255
    curve.clear()
    assert len(curve.legend.items) == 0


@pytest.mark.parametrize("corner", ["top right", "bottom right"])
def test_legend_sits_in_the_corner_asked_for(qtbot, corner):
    widget = LossCurve(title="mAP", legend_corner=corner)
    qtbot.addWidget(widget)
    widget.resize(400, 300)
    widget.show()
    qtbot.waitExposed(widget)
    for step in range(20):
        widget.append(step, {"mAP@0.5": step / 20, "AP small": step / 40})
    qtbot.wait(20)
    view = widget.plot_item.vb.sceneBoundingRect()
    legend = widget.legend.sceneBoundingRect()
    assert legend.right() > view.center().x()                 # right half either way
    in_bottom_half = legend.center().y() > view.center().y()  # scene y grows downwards
    assert in_bottom_half == (corner == "bottom right")


def test_unknown_legend_corner_is_refused(qtbot):
    with pytest.raises(ValueError, match="legend_corner"):
        LossCurve(legend_corner="middle")


def test_the_view_holds_every_point_and_moves_only_in_steps(curve, qtbot):
    moves = []
    curve.plot_item.getViewBox().sigRangeChanged.connect(lambda *_: moves.append(1))
    rng = np.random.default_rng(0)
    losses = 2.0 * np.exp(-np.arange(400) / 80) + 0.05 * rng.random(400)
    new_extremes = 0
    for step, loss in enumerate(losses):
        new_extremes += bool(step == 0 or loss < losses[:step].min())
        curve.append(step, {"loss": loss})
        curve.flush()
        curve.plot_item.getViewBox().prepareForPaint()     # where pyqtgraph applies auto-range
        (x0, x1), (y0, y1) = curve.plot_item.getViewBox().viewRange()
        assert x0 <= 0 and x1 >= step and y0 <= losses[: step + 1].min() and y1 >= losses[: step + 1].max()
    assert new_extremes > 100            # exact auto-range would have moved the view at each of these
    assert curve.range.changes < 40 and len(moves) < 40


def test_sticky_bounds_follow_log_y_and_a_new_run(curve):
    for step, loss in enumerate([10.0, 1.0, 0.1, 0.0]):
        curve.append(step, {"loss": loss})
    curve.flush()
    assert curve.range.bounds[1][0] < 0.1 and curve.range.bounds[1][1] > 10.0
    curve.set_log_y(True)              # now in log10: -1 .. 1, the 0 left out
    lo, hi = curve.range.bounds[1]
    assert -1.6 < lo < -1.0 and 1.0 < hi < 1.6
    curve.clear()
    curve.append(0, {"loss": 1000.0})
    curve.flush()
    assert curve.range.bounds[1][0] < 3.0 < curve.range.bounds[1][1] < 3.5   # log10(1000), not the old run's


def test_the_view_fits_the_data_once_points_stop_and_for_a_whole_history(curve, qtbot):
    view = curve.plot_item.getViewBox()
    for step in range(200):
        curve.append(step, {"loss": 1.0 / (step + 1)})
    curve.flush()
    view.prepareForPaint()
    assert view.viewRange()[0][1] > 1.3 * 199            # room to grow while the run goes on
    qtbot.waitUntil(lambda: curve.range.bounds == [None, None], timeout=3 * LossCurve.SETTLE_MS)
    view.prepareForPaint()
    assert 199 <= view.viewRange()[0][1] < 1.1 * 199     # then the curve fills the plot
    curve.clear()
    curve.extend([(step, {"loss": 1.0}) for step in range(0, 5000, 10)])
    qtbot.waitUntil(lambda: len(curve.plot_item.listDataItems()) == 1, timeout=2000)   # drawn a turn later
    view.prepareForPaint()
    assert curve.range.bounds == [None, None] and 4990 <= view.viewRange()[0][1] < 1.1 * 4990


def test_grown_keeps_bounds_that_hold_the_data_and_makes_room_when_it_leaves():
    from lab_app.qt.widgets.sticky_range import X_ROOM, Y_ROOM, grown

    assert grown(None, 0.0, 10.0, 0) == (0.0, X_ROOM * 10.0)
    assert grown((0.0, 15.0), 0.0, 12.0, 0) == (0.0, 15.0)
    assert grown((0.0, 15.0), 0.0, 16.0, 0) == (0.0, X_ROOM * 16.0)
    assert grown(None, 1.0, 3.0, 1) == (1.0 - Y_ROOM * 2, 3.0 + Y_ROOM * 2)
    assert grown((0.5, 3.5), 0.6, 3.0, 1) == (0.5, 3.5)
    assert grown((0.5, 3.5), 0.4, 3.0, 1) == pytest.approx((0.4 - Y_ROOM * 2.6, 3.0 + Y_ROOM * 2.6))
    assert grown((0.5, 3.5), float("nan"), 3.0, 1) == (0.5, 3.5)


def test_new_curves_are_made_a_few_per_turn_in_the_order_their_metrics_came(curve, qtbot, monkeypatch):
    """A loaded history of nine metrics: nothing is drawn inside the call; then, with a part budget
    that one new curve already spends, one new curve per event-loop turn, each with all its points,
    the legend in the order the metrics first appeared."""
    from PySide6.QtCore import QTimer

    from lab_app.qt.widgets import loss_curve

    monkeypatch.setattr(loss_curve, "PART_S", 0.0)
    names = [f"term {i}" for i in range(9)]
    history = [(step, {n: (i + 1) / (step + 1) for i, n in enumerate(names)}) for step in range(0, 300, 3)]
    turns = [0]
    made_at = []
    original = curve._make_item
    shown_when_made = []      # per new curve: whether each curve made before it was visible then
    monkeypatch.setattr(curve, "_make_item", lambda name: (
        made_at.append((name, turns[0])),
        shown_when_made.append((name, [curve._series[n].item.isVisible()
                                       for n in names[:names.index(name)]])),
        original(name))[2])
    timer = QTimer()
    timer.timeout.connect(lambda: turns.__setitem__(0, turns[0] + 1))
    timer.start(0)
    curve.extend(history)
    assert made_at == [] and curve.plot_item.listDataItems() == [] and curve.names() == names
    qtbot.waitUntil(lambda: len(made_at) == 9, timeout=5000)
    timer.stop()
    assert [n for n, _ in made_at] == names
    assert len({t for _, t in made_at}) == 9              # each in a turn of its own
    # while they were made, the curves made so far were hidden (no repaint of them per turn); all
    # shown once the last one was made
    assert [v for _, v in shown_when_made] == [[False] * i for i in range(9)]
    assert all(curve.item(name).isVisible() for name in names)
    assert [label.text for _sample, label in curve.legend.items] == names
    for i, name in enumerate(names):
        item = curve.item(name)
        assert np.array_equal(item.xData, np.arange(0, 300, 3))
        assert np.allclose(item.yData, (i + 1) / (item.xData + 1))


def test_a_redraw_due_in_a_turn_that_has_drawn_enough_waits_for_the_next(curve, qtbot):
    """The budget of this turn is spent (a drain drew a burst of results): the redraw that falls due
    now draws nothing; it comes a turn later, with every point."""
    from lab_app.qt import turn_budget

    qtbot.waitUntil(lambda: not turn_budget.over(), timeout=2000)
    curve.append(0, {"loss": 1.0})
    curve.flush()
    curve.append(1, {"loss": 0.5})
    turn_budget.charge(turn_budget.BUDGET_S)
    curve._draw_part()                      # the redraw timer's slot, in the same turn
    assert curve._series["loss"].item.xData.tolist() == [0.0]
    qtbot.waitUntil(lambda: curve._series["loss"].item.xData.tolist() == [0.0, 1.0], timeout=2000)
