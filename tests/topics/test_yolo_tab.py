"""The YOLO v1 tab with qtbot: grid and responsible cells, hover a cell, draw a box, live sliders."""

import numpy as np
import pytest
from PIL import Image

from lab_app.qt.tab_base import LabContext
from lab_app.topics.yolo import task
from lab_app.topics.yolo.tab import YoloTab


@pytest.fixture
def tab(qtbot):
    import torch

    t = YoloTab(LabContext(device=torch.device("cpu")))
    qtbot.addWidget(t)
    torch.manual_seed(0)
    t.set_model(task.build_model({"num_classes": 3, "width": 8, "grid": 7, "boxes": 2}),
                ("circle", "square", "triangle"), "test model")
    yield t
    assert t.shutdown(10.0)


def test_photo_grid_slider_and_hover(qtbot, tab, tmp_path):
    from skimage import data

    Image.fromarray(data.coffee()).save(tmp_path / "coffee.png")     # 400 x 600
    tab.params.control("tta").setCurrentText("off")                # the 1x view alone: S * S * B candidates
    with qtbot.waitSignal(tab.infer_runner.finished, timeout=20000):
        tab.open_path(tmp_path / "coffee.png")
    assert tab.view.boxes.image().shape == (400, 600, 3)
    xs, ys = tab.view.grid_item.getData()
    assert len(xs) == 4 * 8 and xs.max() == pytest.approx(600)     # 8 lines each way over the 600 px square
    runs = tab.view.run_count
    scores = tab.view.candidates.scores
    assert len(scores) == 98
    tab.params.control("nms_iou").setValue(1.0)                    # NMS off: every candidate can show
    slider = tab.params.control("score_threshold")
    slider.setValue(0.0)
    many = len(tab.view.boxes.visible_boxes())
    slider.setValue(float(np.floor(scores.max() * 100) / 100))
    few = len(tab.view.boxes.visible_boxes())
    assert many == 98 and 0 < few < many and few == int(np.sum(scores >= tab.config.score_threshold))
    assert tab.view.run_count == runs                                # no new model run
    tab.show_cell(100.0, 100.0)                                     # 600 / 7 = 85.7 px cells -> (1, 1)
    assert tab.cell_label.text().startswith("Cell (col 1, row 1)") and tab.cell_label.text().count("box ") == 2
    shown = [i.rect() for i in tab.view.highlight_items if i.isVisible()]
    assert len(shown) == 3 and shown[0].width() == pytest.approx(600 / 7)


def test_drawn_box_names_its_cell_and_box_and_grid_toggles(qtbot, tab):
    with qtbot.waitSignal(tab.infer_runner.finished, timeout=20000):
        tab.new_scene()
    tab.draw_button.setChecked(True)
    tab.view.box_drawn.emit(100.0, 70.0, 140.0, 110.0)
    assert "responsible cell (col 3, row 2) of 7x7" in tab.info.text() and "learns it" in tab.info.text()
    assert len([i for i in tab.view.highlight_items if i.isVisible()]) == 3
    tab.draw_button.setChecked(False)
    tab.params.control("show_grid").setChecked(False)
    assert len(tab.view.grid_item.getData()[0] or []) == 0


def test_training_draws_one_curve_per_loss_term(qtbot, tab):
    import dataclasses

    tab.params.set_config(dataclasses.replace(task.Config(), classes=2, width=8, steps=50, eval_every=50,
                                              eval_scenes=4, batch_size=2))
    with qtbot.waitSignal(tab.runner.finished, timeout=60000):
        tab.train()
    assert {"coord", "object", "no-object", "class"} <= set(tab.loss_curve.names())
    assert "mAP@0.5" in tab.map_curve.names() and tab.trained.metrics["steps"] == 50
    low, high = tab.map_curve.plot_item.vb.viewRange()[1]  # a score's fixed 0-1 scale, whatever the values
    assert low == pytest.approx(-0.02, abs=0.01) and high == pytest.approx(1.02, abs=0.01)


def test_test_time_augmentation_runs_the_model_again_on_more_views(qtbot, tab):
    from lab_app.detection.tta import views_for

    assert tab.config.tta == "flip + 1.5x"                          # the default
    with qtbot.waitSignal(tab.infer_runner.finished, timeout=20000):
        tab.new_scene()
    runs, image = tab.view.run_count, tab.image
    expected = task.detect(tab.model, image, tab.class_names, views_for("flip + 1.5x")).candidates
    assert np.allclose(tab.view.candidates.boxes, expected.boxes, atol=1e-4)
    with qtbot.waitSignal(tab.infer_runner.finished, timeout=20000):
        tab.params.control("tta").setCurrentText("off")
    assert tab.view.run_count == runs + 1 and tab.config.tta == "off"
    assert len(tab.view.candidates) == 7 * 7 * 2                   # the plain view: every cell's boxes
    assert len(expected) != 7 * 7 * 2                               # ... which the merged views were not
    xs, _ = tab.view.grid_item.getData()
    assert len(xs) == 4 * 8                                         # the grid drawn: still the 1x view's
