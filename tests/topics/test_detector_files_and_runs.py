"""The two detector tabs with qtbot: a photo opened at start-up or dropped mid-training is drawn with
its result and a note on what the model knows; a wrong checkpoint leaves the model in use; a real
training run (lanes and scene painters) stops cleanly when cancelled."""

import pickle
import threading
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from lab_app.core.trained import Trained, cpu_state
from lab_app.detection.tta import views_for
from lab_app.io.checkpoint import Checkpoint, save_checkpoint
from lab_app.qt.tab_base import LabContext
from lab_app.topics.anchorfree import task as anchorfree
from lab_app.topics.anchorfree.tab import AnchorFreeTab
from lab_app.topics.yolo import task as yolo
from lab_app.topics.yolo.tab import YoloTab

TABS = {"yolo": (YoloTab, yolo, {"num_classes": 3, "width": 8, "grid": 7, "boxes": 2}),
        "anchorfree": (AnchorFreeTab, anchorfree, {"num_classes": 3, "width": 8})}


@pytest.fixture(params=list(TABS))
def tab(request, qtbot):
    cls, _, _ = TABS[request.param]
    t = cls(LabContext(device=torch.device("cpu")))
    qtbot.addWidget(t)
    yield t
    assert t.shutdown(10.0)


def given_model(tab):
    _, task, config = TABS[tab.tab_id]
    torch.manual_seed(0)
    tab.set_model(task.build_model(config), ("circle", "square", "triangle"), "test model")


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    from skimage import data

    path = tmp_path_factory.mktemp("photos") / "astronaut.png"
    Image.fromarray(data.astronaut()[::2, ::2]).save(path)      # 256 x 256
    return path


@pytest.mark.slow
def test_a_photo_opened_at_start_up_is_detected_by_the_shipped_model_with_a_note(qtbot, tab, photo):
    tab.demo_started = True                         # as the window does for files given on the command line
    with qtbot.waitSignal(tab.demo_ready, timeout=60000):
        tab.open_path(photo)
    assert tab.view.boxes.image().shape == (256, 256, 3) and tab.result.image.shape == (256, 256, 3)
    assert tab.ready.path == tab.task.CHECKPOINT and tab.view.run_count == 1
    note = tab.view.note.text()
    assert not tab.view.note.isHidden() and "knows only procedural circles, squares, triangles" in note
    assert "COCO" in note and "Faces (MTCNN)" in note
    with qtbot.waitSignal(tab.infer_runner.finished, timeout=20000):
        tab.new_scene()                               # a scene of the kind it knows: no note
    assert tab.view.note.isHidden()


def test_a_photo_dropped_mid_training_is_drawn_while_training_goes_on(qtbot, tab, photo):
    given_model(tab)
    tab.params.set_config(replace(tab.config, classes=2, width=8, steps=5000, batch_size=2, eval_every=5000))
    tab.train()
    qtbot.waitUntil(lambda: len(tab.loss_curve.names()) > 0, timeout=30000)   # training is under way
    with qtbot.waitSignal(tab.infer_runner.finished, timeout=30000):
        tab.open_path(photo)
    assert tab.result is not None and tab.result.image is tab.image and tab.image.shape == (256, 256, 3)
    assert tab.view.run_count >= 1 and tab.runner.busy
    with qtbot.waitSignal(tab.runner.cancelled, timeout=20000):
        tab.run_buttons.stop_button.click()


def _wrong_files(tmp_path, tab_id):
    other = "anchorfree" if tab_id == "yolo" else "yolo"
    save_checkpoint(tmp_path / "other.safetensors", Checkpoint(other, "x", {"w": torch.zeros(2)}))
    save_checkpoint(tmp_path / "arch.safetensors", Checkpoint(tab_id, "resnet-9000", {"w": torch.zeros(2)}))
    good = tmp_path / "good.safetensors"
    save_checkpoint(good, Checkpoint(tab_id, TABS[tab_id][1].MODEL_NAME, {"w": torch.zeros(1000)}))
    (tmp_path / "cut.safetensors").write_bytes(good.read_bytes()[:-1500])
    (tmp_path / "pickle.safetensors").write_bytes(pickle.dumps({"w": [0.0] * 10}))
    return {"other.safetensors": f"not of the {tab_id} tab", "arch.safetensors": "unknown architecture",
            "good.safetensors": "do not fit", "cut.safetensors": "not a readable",
            "pickle.safetensors": "not a readable"}


def test_wrong_checkpoints_leave_the_model_and_its_boxes(qtbot, tab, tmp_path):
    given_model(tab)
    with qtbot.waitSignal(tab.infer_runner.finished, timeout=20000):
        tab.new_scene()
    ready, scores, runs = tab.ready, tab.view.candidates.scores.copy(), tab.view.run_count
    for name, expect in _wrong_files(tmp_path, tab.tab_id).items():
        with qtbot.waitSignal(tab.infer_runner.errored, timeout=20000):
            tab.open_checkpoint(tmp_path / name)
        assert tab.banner.level == "error" and name in tab.banner.text and expect in tab.banner.text
        assert tab.ready is ready and tab.view.run_count == runs and tab.model_label.text() == "test model"
        assert np.array_equal(tab.view.candidates.scores, scores)
    # ...and a right one is used, with its own history
    _, task, config = TABS[tab.tab_id]
    torch.manual_seed(5)
    model = task.build_model(config)
    trained = Trained(cpu_state(model), model.cfg.to_dict(), ("circle", "square", "triangle"),
                      {"map50": 0.25, "map50_95": 0.125},
                      [[10, {"loss": 2.0}], [20, {"loss": 1.5, "mAP@0.5": 0.3}]])
    path = task.SPEC.save(tmp_path / "right.safetensors", trained)
    with qtbot.waitSignal(tab.infer_runner.finished, timeout=20000):
        tab.open_checkpoint(path)
    assert tab.ready.path == path and tab.trained.metrics["map50"] == 0.25
    assert "right.safetensors" in tab.model_label.text()
    assert list(tab.loss_curve.series("loss")[1]) == [2.0, 1.5]
    assert tab.loss_curve.names() == ["loss"] and tab.map_curve.names() == ["mAP@0.5"]   # scores apart
    steps, scores = tab.map_curve.series("mAP@0.5")
    assert list(steps) == [20] and list(scores) == [0.3]
    expected = task.detect(model, tab.image, tab.class_names, views=views_for(tab.config.tta)).candidates
    assert np.allclose(tab.view.candidates.scores, expected.scores, atol=1e-5)     # the loaded model's boxes
    # Save (in the file runner) writes it back unchanged
    with qtbot.waitSignal(tab.save_runner.finished, timeout=20000):
        tab.save_model(tmp_path / "again.safetensors")
    again = task.SPEC.load(tmp_path / "again.safetensors")
    assert all(torch.equal(again.trained.state[k], trained.state[k]) for k in trained.state)
    assert again.trained.metrics == trained.metrics and again.trained.history == trained.history


def _task_threads():
    return [t.name for t in threading.enumerate() if t.name.startswith("lab-task-") and t.is_alive()]


@pytest.mark.slow
def test_cancel_mid_run_stops_the_lanes_and_the_painters(qtbot, tab, monkeypatch):
    import lab_app.detection.training as training

    monkeypatch.setattr(training, "default_lanes", lambda device: 2)   # two lanes whatever the machine
    given_model(tab)
    tab.params.set_config(replace(tab.config, classes=2, width=8, steps=5000, batch_size=8, eval_every=5000))
    tab.train()
    qtbot.waitUntil(lambda: len(tab.loss_curve.names()) > 0, timeout=30000)
    names = _task_threads()
    assert any(n.startswith("lab-task-lane") for n in names)
    assert any(n.startswith("lab-task-scenes") for n in names)
    with qtbot.waitSignal(tab.runner.cancelled, timeout=20000):
        tab.run_buttons.stop_button.click()
    qtbot.waitUntil(lambda: not _task_threads(), timeout=10000)
    assert not tab.runner.busy and tab.trained is None and tab.run_buttons.train_button.isEnabled()
