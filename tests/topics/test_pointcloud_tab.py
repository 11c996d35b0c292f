"""The 3D tab's PointNet and representations parts with qtbot (offscreen: the GL views get their
data, pixels are checked elsewhere): drop a cloud, see bars and critical points, shuffle, sliders."""

import pickle

import numpy as np
import pytest

from lab_app.data.shapes import sample_shape
from lab_app.io import PointCloud, save_point_cloud
from lab_app.qt.tab_base import LabContext
from lab_app.topics.pointcloud.tab import CHECKPOINT, PointCloudTab


@pytest.fixture
def tab(qtbot):
    import torch

    t = PointCloudTab(LabContext(device=torch.device("cpu")))
    qtbot.addWidget(t)
    yield t
    assert t.shutdown(10.0)


def drop(qtbot, tab, path, signal="finished"):
    with qtbot.waitSignal(getattr(tab.runner, signal), timeout=20000):
        tab.open_path(path)


def load(qtbot, panel, path):
    """Load a checkpoint (in the panel's infer runner) and wait until it is in use."""
    panel.load_model(path)
    qtbot.waitUntil(lambda: panel.ready is not None and panel.ready.path == path, timeout=20000)


def test_dropped_cloud_is_classified_with_critical_points_and_shuffle_keeps_the_answer(qtbot, tab, tmp_path):
    load(qtbot, tab.pointnet, CHECKPOINT)
    pts = sample_shape("torus", 3000, seed=5) * 3.0 + 7.0   # anywhere, any size: the tab normalises
    save_point_cloud(tmp_path / "ring.ply", PointCloud(pts.astype(np.float32)))
    with qtbot.waitSignal(tab.pointnet.classified, timeout=20000):
        drop(qtbot, tab, tmp_path / "ring.ply")
    panel = tab.pointnet
    names, probs = panel.bars.names(), panel.bars.values()
    assert len(names) == 11 and probs.sum() == pytest.approx(1.0)
    assert names[int(np.argmax(probs))] == "torus" and panel.bars.highlighted() == names.index("torus")
    crit = panel.result.critical
    assert panel.view._highlight.visible() and len(panel.view._highlight.pos) == len(crit) > 10
    assert np.allclose(panel.view._highlight.pos, panel.cloud[crit])
    assert f"critical points: <b>{len(crit)}</b> of 1,024" in panel.critical_label.text()
    assert "3,000 points, randomly sampled down" in panel.status.text()
    before, cloud_before = probs.copy(), panel.cloud.copy()
    with qtbot.waitSignal(panel.classified, timeout=20000):
        panel.shuffle_button.click()
    assert not np.array_equal(panel.cloud, cloud_before)
    assert np.allclose(panel.bars.values(), before, atol=1e-6)
    assert len(panel.result.critical) == len(crit)
    # The same object reaches the representations panel.
    reps = tab.representations
    qtbot.waitUntil(lambda: reps.points is not None, timeout=20000)     # computed in its runner
    assert np.array_equal(np.sort(reps.points, 0), np.sort(cloud_before, 0))


def test_representation_sliders_redraw_live(qtbot, tab):
    reps = tab.representations

    def waiting(action):          # the parts are computed in the panel's runner
        with qtbot.waitSignal(reps.runner.finished, timeout=20000):
            action()

    waiting(lambda: reps.set_cloud(np.asarray(sample_shape("cube", 1024, seed=1)) * 1.6))
    assert len(reps.point_item.data) == 1024 and reps.voxels is not None and reps.multiview is not None
    # shaded by depth, far points first, from a few shared brushes (one per point made each redraw a stall)
    brushes = list(reps.point_item.data["brush"])
    assert len({id(b) for b in brushes}) <= 32
    assert brushes[-1].color().red() > brushes[0].color().red() + 100
    assert len({id(b) for b in reps.voxel_item.data["brush"]}) <= 32
    edges = len(reps.edges)
    waiting(lambda: reps.k_slider.setValue(reps.k_slider.value() + 4))
    assert len(reps.edges) > edges and f"{len(reps.edges):,} edges" in reps.graph_label.text()
    assert len(reps.edge_item.xData) == 2 * len(reps.edges)
    occupied = reps.voxels.occupied
    waiting(lambda: reps.res_slider.setValue(32))
    assert reps.voxels.occupied > occupied and "32,768 cells" in reps.voxel_label.text()
    assert len(reps.voxel_item.data) == reps.voxels.occupied
    waiting(lambda: reps.views_slider.setValue(3))
    assert reps.multiview.depths.shape[0] == 3
    assert reps.view_image.image.shape == (2 * 48 + 2, 2 * 48 + 2)   # 3 views + pooled in a 2x2 tile
    # two sliders moved before the first part is back: both parts come (latest wins, nothing lost)
    reps.k_slider.setValue(2)
    reps.res_slider.setValue(8)
    qtbot.waitUntil(lambda: reps.voxels.resolution == 8 and "k = 2" in reps.graph_label.text(), timeout=20000)


def test_representations_go_to_the_worker_process_and_what_comes_back_is_drawn(qtbot, tab, monkeypatch):
    """Open3D's voxels and scipy's KD-tree (and its first import) would hold the interpreter lock the
    UI thread needs: the window's worker process computes them, and hands back copies of the cloud."""
    from lab_app.core.remote import is_local_heavy_task

    reps = tab.representations
    start, started = reps.runner.start, []

    def as_the_worker_gets_it(make, label=""):
        started.append(make)
        start(pickle.loads(pickle.dumps(make)), label)

    monkeypatch.setattr(reps.runner, "start", as_the_worker_gets_it)
    cloud = np.asarray(sample_shape("cube", 1024, seed=1), np.float32)
    with qtbot.waitSignal(reps.runner.finished, timeout=20000):
        reps.set_cloud(cloud)
    assert is_local_heavy_task(started[-1])
    assert reps.points is not None and np.array_equal(reps.points, cloud)
    assert len(reps.point_item.data) == 1024
    assert reps.voxels is not None and reps.multiview is not None and len(reps.edges) >= 1024
    points, drawn = reps.points, reps.point_item.data.copy()
    with qtbot.waitSignal(reps.runner.finished, timeout=20000):
        reps.k_slider.setValue(reps.k_slider.value() + 4)
    assert f"k = {reps.k_slider.value()}:" in reps.graph_label.text()
    # the same cloud (another copy): the points keep their drawing
    assert reps.points is points and np.array_equal(reps.point_item.data[["x", "y"]], drawn[["x", "y"]])


def test_bad_clouds_give_messages_and_keep_the_classified_cloud(qtbot, tab, tmp_path):
    load(qtbot, tab.pointnet, CHECKPOINT)
    save_point_cloud(tmp_path / "cone.ply", PointCloud(sample_shape("cone", 2000, seed=2)))
    with qtbot.waitSignal(tab.pointnet.classified, timeout=20000):
        drop(qtbot, tab, tmp_path / "cone.ply")
    good = tab.pointnet.cloud.copy()
    np.save(tmp_path / "same.npy", np.ones((500, 3), np.float32))
    with qtbot.waitSignal(tab.pointnet.infer_runner.errored, timeout=20000):
        drop(qtbot, tab, tmp_path / "same.npy")
    assert "same.npy" in tab.banner.text and "same place" in tab.banner.text
    assert np.array_equal(tab.pointnet.cloud, good)
    np.save(tmp_path / "few.npy", sample_shape("cube", 200, seed=3))
    with qtbot.waitSignal(tab.pointnet.classified, timeout=20000):
        drop(qtbot, tab, tmp_path / "few.npy")
    assert "fewer than the model's 1,024" in tab.pointnet.status.text()
    assert len(tab.pointnet.cloud) == 1024


def test_loading_a_checkpoint_of_another_model_is_refused(qtbot, tab, tmp_path):
    import torch

    from lab_app.io.checkpoint import Checkpoint, save_checkpoint

    save_checkpoint(tmp_path / "other.safetensors", Checkpoint("vae", "vae-mlp", {"w": torch.zeros(1)}))
    with qtbot.waitSignal(tab.pointnet.infer_runner.errored, timeout=20000):
        tab.pointnet.load_model(tmp_path / "other.safetensors")
    assert tab.banner.level == "error" and "not of the pointcloud tab" in tab.banner.text
    assert tab.pointnet.ready is None and tab.pointnet.slot.pending is None


def test_empty_dataset_folder_is_refused_in_the_ui(qtbot, tab, tmp_path):
    (tmp_path / "data" / "chairs").mkdir(parents=True)
    with qtbot.waitSignal(tab.pointnet.runner.errored, timeout=20000):
        tab.pointnet.open_folder(tmp_path / "data")
    assert "no class folders" in tab.banner.text and tab.pointnet.folder_data is None


def test_training_in_the_tab_draws_curves_and_confusion_and_pauses(qtbot, tab):
    from dataclasses import replace

    from lab_app.data.shapes import ShapesConfig, make_shapes

    panel = tab.pointnet
    panel.folder_data = make_shapes(ShapesConfig(classes=("sphere", "cube", "torus"), points=128,
                                                 train_per_class=48, test_per_class=8))
    panel.params.set_config(replace(panel.config, epochs=4, global_width=64, batch_size=16))
    panel.train()
    qtbot.waitUntil(lambda: panel.curve._series.get("loss") is not None, timeout=20000)
    panel.run_buttons.pause_button.click()
    assert panel.runner.paused and panel.run_buttons.pause_button.text() == "Resume"
    panel.run_buttons.pause_button.click()
    assert not panel.runner.paused
    with qtbot.waitSignal(panel.runner.finished, timeout=60000):
        pass
    assert panel.trained is not None and panel.trained.class_names == ("sphere", "cube", "torus")
    assert panel.confusion.matrix.sum() == 24 and panel.confusion.matrix.shape == (3, 3)
    steps, losses = panel.curve.series("loss")
    assert len(losses) >= 3 and len(panel.curve.series("test_acc")[1]) == 4
    qtbot.waitUntil(lambda: "trained here" in panel.model_label.text(), timeout=20000)  # built in the worker
    assert panel.save_button.isEnabled() and panel.ready.trained is panel.trained
