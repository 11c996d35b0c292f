"""The real MainWindow: a ``.safetensors`` file opened or dropped goes to the tab its header names;
closing the window in the middle of real runs (a detector with its lanes and scene painters, and
PointNet) stops every thread."""

import threading
from dataclasses import replace

import pytest
import torch

from lab_app.app import MainWindow
from lab_app.core.trained import Trained, cpu_state
from lab_app.io.checkpoint import Checkpoint, save_checkpoint


@pytest.fixture
def win(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_SETTINGS_DIR", str(tmp_path / "settings"))
    w = MainWindow(device_pref="cpu", demo=False)
    qtbot.addWidget(w)
    w.show()
    yield w
    assert w.shutdown(10.0)


def test_a_checkpoint_opens_in_the_tab_that_saved_it(qtbot, win, tmp_path):
    from lab_app.topics.pointcloud import pointnet_task
    from lab_app.topics.yolo import task as yolo

    torch.manual_seed(0)
    model = yolo.build_model({"num_classes": 2, "width": 8, "grid": 7})
    path = yolo.SPEC.save(tmp_path / "mine.safetensors", Trained(cpu_state(model), model.cfg.to_dict(),
                                                                   ("circle", "square"), {}))
    win.tabs.setCurrentWidget(win.tab_by_id["language"])
    tab = win.tab_by_id["yolo"]
    with qtbot.waitSignal(tab.infer_runner.finished, timeout=30000):
        assert win.open_files([path])
    assert win.current_tab() is tab and tab.ready.path == path and tab.class_names == ("circle", "square")
    assert tab.image is not None and tab.view.run_count == 1            # drawn on a scene it knows
    assert "mine.safetensors" in tab.model_label.text()

    tab3d = win.tab_by_id["pointcloud"]
    with qtbot.waitSignal(tab3d.pointnet.classified, timeout=30000):
        assert win.open_files([pointnet_task.CHECKPOINT])
    assert win.current_tab() is tab3d and tab3d.pointnet.ready.path == pointnet_task.CHECKPOINT
    assert tab3d.subtabs.currentWidget() is tab3d.pointnet


def test_checkpoints_no_tab_here_can_load_are_refused_by_name(qtbot, win, tmp_path):
    save_checkpoint(tmp_path / "future.safetensors", Checkpoint("nonesuch", "x", {"w": torch.zeros(1)}))
    assert not win.open_files([tmp_path / "future.safetensors"])
    banner = win.current_tab().banner
    assert "future.safetensors" in banner.text and "nonesuch tab, which this lab does not have" in banner.text
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 64)
    assert not win.open_files([tmp_path / "junk.safetensors"])
    assert "junk.safetensors" in banner.text and "not a readable safetensors" in banner.text
    save_checkpoint(tmp_path / "words.safetensors", Checkpoint("language", "ngram", {"w": torch.zeros(1)}))
    win.open_files([tmp_path / "words.safetensors"])
    lang = win.tab_by_id["language"]
    assert win.current_tab() is lang and lang.banner.level == "error"
    assert "words.safetensors" in lang.banner.text and "cannot load checkpoints" in lang.banner.text


def _task_threads():
    return [t.name for t in threading.enumerate() if t.name.startswith("lab-task-") and t.is_alive()]


@pytest.mark.slow
def test_closing_the_window_mid_run_stops_every_thread(qtbot, win, monkeypatch):
    import lab_app.detection.training as training
    from lab_app.data.shapes import ShapesConfig, make_shapes

    monkeypatch.setattr(training, "default_lanes", lambda device: 2)   # two lanes whatever the machine
    det = win.tab_by_id["anchorfree"]
    det.params.set_config(replace(det.config, classes=2, width=8, steps=5000, batch_size=8, eval_every=5000))
    det.train()
    panel = win.tab_by_id["pointcloud"].pointnet
    panel.folder_data = make_shapes(ShapesConfig(classes=("sphere", "cube"), points=512, train_per_class=48,
                                                 test_per_class=8))
    panel.params.set_config(replace(panel.config, epochs=50, global_width=64, batch_size=16))
    panel.train()
    qtbot.waitUntil(lambda: len(det.loss_curve.names()) > 0 and panel.curve._series.get("loss") is not None,
                    timeout=60000)
    names = _task_threads()
    assert any(n.startswith("lab-task-lane") for n in names)
    assert any(n.startswith("lab-task-scenes") for n in names)
    assert det.runner.busy and panel.runner.busy
    win.close()                                   # closeEvent: cancel every run and wait for it
    assert not _task_threads()
    assert not det.runner.busy and not panel.runner.busy


def test_shipped_checkpoints_of_the_new_tabs_open_in_their_tabs(qtbot, win):
    """The VQ tokenizer and the pyramid detectors, opened on another tab, land in their own tabs."""
    from lab_app.topics.pyramids import fpn_task
    from lab_app.topics.vq import checkpoints as vq_ck

    win.tabs.setCurrentWidget(win.tab_by_id["language"])
    vq = win.tab_by_id["vq"]
    with qtbot.waitSignal(vq.runner.finished, timeout=120000):
        assert win.open_files([vq_ck.SHIPPED_TOKENIZER])
    assert win.current_tab() is vq and vq.banner.level != "error"
    pyr = win.tab_by_id["pyramids"]
    with qtbot.waitSignal(pyr.fpn.train_runner.finished, timeout=120000):
        assert win.open_files([fpn_task.CHECKPOINT])
    assert win.current_tab() is pyr and pyr.subtabs.currentWidget() is pyr.fpn and pyr.fpn.models is not None
