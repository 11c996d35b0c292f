"""The anchor-free tab with qtbot: drop photos (good and bad), move the confidence slider (boxes
change without a model run), draw a ground-truth box, train a few steps live."""

import numpy as np
import pytest
from PIL import Image

from lab_app.qt.tab_base import LabContext
from lab_app.topics.anchorfree import task
from lab_app.topics.anchorfree.tab import AnchorFreeTab


@pytest.fixture
def tab(qtbot):
    import torch

    t = AnchorFreeTab(LabContext(device=torch.device("cpu")))
    qtbot.addWidget(t)
    torch.manual_seed(0)
    t.set_model(task.build_model({"num_classes": 3, "width": 8}), ("circle", "square", "triangle"), "test model")
    yield t
    assert t.shutdown(10.0)


def drop(qtbot, tab, path):
    with qtbot.waitSignal(tab.infer_runner.finished, timeout=20000):
        tab.open_path(path)


def test_dropped_photo_runs_the_model_and_the_slider_refilters_without_a_new_run(qtbot, tab, tmp_path):
    from skimage import data

    Image.fromarray(data.astronaut()).save(tmp_path / "astronaut.png")
    tab.params.control("tta").setCurrentText("off")                # the 1x view alone: the top 100 peaks
    drop(qtbot, tab, tmp_path / "astronaut.png")
    assert tab.view.boxes.image().shape == (512, 512, 3)
    runs = tab.view.run_count
    slider = tab.params.control("score_threshold")
    scores = tab.view.candidates.scores
    assert len(scores) == 100
    lo, hi = np.quantile(scores, 0.2), np.quantile(scores, 0.8)
    slider.setValue(round(float(lo), 2) - 0.01)
    many = len(tab.view.boxes.visible_boxes())
    slider.setValue(round(float(hi), 2) + 0.01)
    few = len(tab.view.boxes.visible_boxes())
    assert many > few and few == int(np.sum(scores >= tab.config.score_threshold))
    assert tab.view.run_count == runs                    # no new model run
    # heatmap over the photo: 64 x 64 grid stretched over the 512 px letterboxed square
    assert tab.view.heat_item.isVisible() and tab.view.heat_item.image.shape == (64, 64)
    assert tab.view.heat_item.mapRectToParent(tab.view.heat_item.boundingRect()).width() == pytest.approx(512)
    # peaks are drawn at the shown boxes' centres
    assert len(tab.view.points_item.data) == few


def test_bad_and_odd_images(qtbot, tab, tmp_path):
    Image.fromarray(np.full((40, 60), 128, np.uint8)).save(tmp_path / "grey.png")
    Image.fromarray(np.zeros((30, 30, 4), np.uint8)).save(tmp_path / "rgba.png")
    Image.fromarray(np.full((20, 20), 40000, np.uint16)).save(tmp_path / "deep.png")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "tiny.png")
    for name, shape in (("grey.png", (40, 60, 3)), ("rgba.png", (30, 30, 3)), ("deep.png", (20, 20, 3)),
                        ("tiny.png", (8, 8, 3))):
        drop(qtbot, tab, tmp_path / name)
        assert tab.view.boxes.image().shape == shape and tab.banner.level == ""
        assert tab.result.candidates.boxes[:, 2:].max() <= shape[1] + 1e-3
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with qtbot.waitSignal(tab.file_runner.errored, timeout=20000):
        tab.open_path(tmp_path / "broken.jpg")
    assert tab.banner.level == "error" and "broken.jpg" in tab.banner.text
    assert tab.view.boxes.image().shape == (8, 8, 3)    # what was on screen stays


def test_drawn_box_shows_its_targets(qtbot, tab):
    with qtbot.waitSignal(tab.infer_runner.finished, timeout=20000):
        tab.new_scene()
    tab.draw_button.setChecked(True)
    assert tab.view.draw_mode
    tab.view.box_drawn.emit(40.0, 40.0, 104.0, 72.0)
    assert "centre cell (col 18, row 14)" in tab.info.text()
    heat = tab.view.heat_item.image
    assert heat.max() == 1.0 and heat[14, 18] == 1.0
    rects = [i.rect() for i in tab.view.highlight_items if i.isVisible()]
    assert len(rects) == 2 and rects[0].width() == 64 and rects[1].width() == 4
    tab.draw_button.setChecked(False)
    assert not any(i.isVisible() for i in tab.view.highlight_items)


def test_training_live_draws_curves_and_updates_the_model(qtbot, tab):
    tab.params.set_config(task.AnchorFreeConfig(classes=2, width=8, steps=50))
    import dataclasses

    small = dataclasses.replace(tab.config, eval_every=25, eval_scenes=4, batch_size=2)
    tab.params.set_config(small)
    with qtbot.waitSignal(tab.runner.finished, timeout=60000):
        tab.train()
    assert tab.trained is not None and tab.trained.metrics["steps"] == 50
    assert "heatmap" in tab.loss_curve.names() and "mAP@0.5" in tab.map_curve.names()
    assert len(tab.map_curve.series("mAP@0.5")[0]) == 2
    qtbot.waitUntil(lambda: tab.ready.origin == "trained", timeout=20000)   # built in the infer runner
    assert tab.class_names == ("circle", "square") and tab.class_combo.count() == 3
    assert tab.save_button.isEnabled()


def test_pretrained_choice_offline_says_so_and_keeps_the_in_app_model(qtbot, tab, tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))     # an empty cache
    with qtbot.waitSignal(tab.infer_runner.finished, timeout=20000):
        tab.new_scene()
    runs = tab.view.run_count
    with qtbot.waitSignal(tab.infer_runner.finished, timeout=20000):
        tab.detector_combo.setCurrentIndex(1)
    assert tab.banner.level == "warning" and "not in the torch hub cache" in tab.banner.text
    assert tab.detector_combo.currentIndex() == 0
    qtbot.waitUntil(lambda: tab.view.run_count > runs, timeout=20000)   # the in-app model ran again
    assert tab.result is not None and tab.view.heat_item.isVisible()
