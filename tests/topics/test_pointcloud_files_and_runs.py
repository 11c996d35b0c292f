"""The 3D tab with qtbot: a cloud opened at start-up or dropped mid-training is classified and drawn;
wrong PointNet checkpoints leave the model in use; a PointNet run stops cleanly when cancelled."""

import pickle
import threading
from dataclasses import replace

import numpy as np
import pytest
import torch

from lab_app.core.trained import Weights, cpu_state
from lab_app.data.shapes import ShapesConfig, make_shapes, sample_shape
from lab_app.io import PointCloud, save_point_cloud
from lab_app.io.checkpoint import Checkpoint, save_checkpoint
from lab_app.qt.tab_base import LabContext
from lab_app.topics.pointcloud.pointnet_task import CHECKPOINT
from lab_app.topics.pointcloud.tab import PointCloudTab


@pytest.fixture
def tab(qtbot):
    t = PointCloudTab(LabContext(device=torch.device("cpu")))
    qtbot.addWidget(t)
    yield t
    assert t.shutdown(10.0)


@pytest.fixture
def ring(tmp_path):
    path = tmp_path / "ring.ply"
    save_point_cloud(path, PointCloud((sample_shape("torus", 3000, seed=5) * 2.0).astype(np.float32)))
    return path


def tiny_training(panel):
    panel.folder_data = make_shapes(ShapesConfig(classes=("sphere", "cube", "torus"), points=1024,
                                                 train_per_class=48, test_per_class=8))
    panel.params.set_config(replace(panel.config, epochs=40, global_width=64, batch_size=16))
    panel.train()


@pytest.mark.slow
def test_a_cloud_opened_at_start_up_is_classified_by_the_shipped_model(qtbot, tab, ring):
    tab.demo_started = True                         # as the window does for files given on the command line
    with qtbot.waitSignal(tab.demo_ready, timeout=60000):
        tab.open_path(ring)
    panel = tab.pointnet
    assert tab.shown is not None and len(tab.shown) == 3000                   # the viewer draws the file
    assert panel.ready.path == CHECKPOINT and panel.cloud_name == "ring.ply"
    names, probs = panel.bars.names(), panel.bars.values()
    assert names[int(np.argmax(probs))] == "torus" and len(panel.result.critical) > 10
    qtbot.waitUntil(lambda: tab.representations.points is not None, timeout=20000)   # its own runner
    assert len(tab.representations.points) == 1024


@pytest.mark.slow
def test_a_cloud_dropped_mid_training_is_classified_while_training_goes_on(qtbot, tab, ring):
    panel = tab.pointnet
    panel.load_model(CHECKPOINT)
    qtbot.waitUntil(lambda: panel.ready is not None, timeout=20000)
    tiny_training(panel)
    qtbot.waitUntil(lambda: panel.curve._series.get("loss") is not None, timeout=30000)
    with qtbot.waitSignal(panel.classified, timeout=30000):
        tab.open_path(ring)
    assert panel.cloud_name == "ring.ply" and panel.bars.values().sum() == pytest.approx(1.0)
    assert panel.runner.busy and tab.shown is not None and len(tab.shown) == 3000
    with qtbot.waitSignal(panel.runner.cancelled, timeout=20000):
        panel.run_buttons.stop_button.click()


def test_a_cloud_whose_classification_is_superseded_by_live_weights_is_classified_with_them(qtbot, tab):
    # Training's live weights start a new classifying run at once, which cancels the one in flight:
    # a cloud dropped just before them must not be lost with its run (the new run takes it on).
    panel = tab.pointnet
    panel.load_model(CHECKPOINT)
    qtbot.waitUntil(lambda: panel.ready is not None, timeout=20000)
    ready = panel.ready
    weights = Weights(cpu_state(ready.model), ready.model.cfg.to_dict(), ready.class_names, step=7)
    points = (sample_shape("torus", 3000, seed=5) * 2.0).astype(np.float32)
    with qtbot.waitSignal(panel.classified, timeout=30000) as blocker:
        panel.set_cloud(points, "ring.ply")
        panel.runner.event.emit(weights)              # as the training runner delivers them
    assert panel.ready is not ready and panel.ready.step == 7         # classified with the live weights
    assert panel.cloud_name == "ring.ply" and len(panel.cloud) == panel.config.points
    assert blocker.args[0].class_names[blocker.args[0].predicted] == "torus"
    # Delivered: live weights later classify the prepared cloud on screen, not the raw one again
    with qtbot.waitSignal(panel.classified, timeout=30000):
        panel.runner.event.emit(replace(weights, step=8))
    assert panel.ready.step == 8 and panel.cloud_name == "ring.ply"


def test_wrong_checkpoints_leave_the_pointnet_in_use(qtbot, tab, tmp_path):
    panel = tab.pointnet
    panel.load_model(CHECKPOINT)
    with qtbot.waitSignal(panel.classified, timeout=30000):
        tab._show_demo_object()
    ready, probs = panel.ready, panel.bars.values().copy()
    save_checkpoint(tmp_path / "arch.safetensors", Checkpoint("pointcloud", "dgcnn", {"w": torch.zeros(2)}))
    save_checkpoint(tmp_path / "other.safetensors", Checkpoint("yolo", "yolo-v1", {"w": torch.zeros(2)}))
    (tmp_path / "cut.safetensors").write_bytes(CHECKPOINT.read_bytes()[:-5000])
    (tmp_path / "pickle.safetensors").write_bytes(pickle.dumps({"w": [0.0] * 10}))
    for name, expect in (("arch.safetensors", "unknown architecture 'dgcnn'"),
                         ("other.safetensors", "not of the pointcloud tab"),
                         ("cut.safetensors", "not a readable"), ("pickle.safetensors", "not a readable")):
        with qtbot.waitSignal(panel.infer_runner.errored, timeout=20000):
            tab.open_checkpoint(tmp_path / name)
        assert tab.banner.level == "error" and name in tab.banner.text and expect in tab.banner.text
        assert panel.ready is ready and np.array_equal(panel.bars.values(), probs)
        assert panel.model_label.text().startswith(f"Model: {CHECKPOINT.name}")     # not "loading ..."
    # Save (in the panel's runner), load again: the same probabilities for the same cloud
    with qtbot.waitSignal(panel.runner.finished, timeout=20000):
        panel.save_model(tmp_path / "again.safetensors")
    with qtbot.waitSignal(panel.classified, timeout=20000):
        tab.open_checkpoint(tmp_path / "again.safetensors")
    assert panel.ready.path.name == "again.safetensors" and np.array_equal(panel.bars.values(), probs)


def test_cancel_mid_run_stops_pointnet_training(qtbot, tab):
    panel = tab.pointnet
    tiny_training(panel)
    qtbot.waitUntil(lambda: panel.curve._series.get("loss") is not None, timeout=30000)
    assert any(t.name.startswith("lab-task-") for t in threading.enumerate())
    with qtbot.waitSignal(panel.runner.cancelled, timeout=20000):
        panel.run_buttons.stop_button.click()
    qtbot.waitUntil(lambda: not [t for t in threading.enumerate() if t.name.startswith("lab-task-")],
                    timeout=10000)
    assert not panel.runner.busy and panel.trained is None and panel.run_buttons.train_button.isEnabled()
