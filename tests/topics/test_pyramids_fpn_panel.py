"""The pyramids tab's first sub-tab with qtbot: a photo through every pipeline, the levels knob
re-running the image pyramid (views and table) without retraining, odd and broken images, a drawn box."""

from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from lab_app.qt.tab_base import LabContext
from lab_app.topics.pyramids import fpn_task as task
from lab_app.topics.pyramids.tab import PyramidsTab

CFG = replace(task.FpnConfig(), classes=2, width=8, image_size=128, eval_scenes=3)


@pytest.fixture
def panel(qtbot):
    import torch

    tab = PyramidsTab(LabContext(device=torch.device("cpu")))
    qtbot.addWidget(tab)
    torch.manual_seed(0)
    nets = {n: task.build(n, CFG).eval() for n in ("single", "fpn", "snip")}
    models = task.Models(nets["single"], nets["fpn"], nets["snip"].detector, nets["snip"].cfg,
                         {"single": 7, "fpn": 5, "snip": 3, "image_pyramid": 7}, task.class_names(2))
    p = tab.fpn
    with qtbot.waitSignal(p.ready, timeout=90000):
        p._trained((task.sealed(models), CFG, {}))   # as if loaded from a checkpoint
    yield p
    assert tab.shutdown(10.0)


def open_photo(qtbot, panel, path):
    with qtbot.waitSignal(panel.image_runner.finished, timeout=30000):
        panel.tab.open_path(path)


def test_photo_then_levels_knob_updates_views_and_table_without_retraining(qtbot, panel, tmp_path):
    from skimage import data

    Image.fromarray(data.astronaut()).save(tmp_path / "astronaut.png")
    panel.tab.subtabs.setCurrentWidget(panel)
    panel.tab.show()                                   # hidden widgets keep their layouts' old sizes
    qtbot.waitExposed(panel.tab)
    narrowest = panel.tab.minimumSizeHint().width()
    open_photo(qtbot, panel, tmp_path / "astronaut.png")
    qtbot.wait(50)
    # the photo's longer texts (its note, the levels' captions) wrap: the tab asks for no more width,
    # so the window neither grows past its size (or the screen's) nor lays every view out again
    assert "guesses" in panel.summary.text()
    assert panel.tab.minimumSizeHint().width() == narrowest <= 1280
    assert panel.merged.boxes.image().shape == (512, 512, 3)
    # the FPN is shown: P3..P6 side by side, each its own map over the 512 px photo
    assert panel.strip.shown_levels == 4
    assert [v.heat_item.image.shape for v in panel.strip.cells] == [(16, 16), (8, 8), (4, 4), (2, 2)]
    assert panel.strip.cells[3].heat_item.mapRectToParent(panel.strip.cells[3].heat_item.boundingRect()).width() \
        == pytest.approx(512)
    assert "P3" in panel.strip.captions[0].text() and "P6" in panel.strip.captions[3].text()
    assert panel.results.cell("fpn", "steps") == "5"
    assert panel.results.cell("image_pyramid", "ms per level").startswith("0.5x")

    models = panel.models
    with qtbot.waitSignals([panel.image_runner.finished, panel.eval_runner.finished], timeout=60000):
        panel.params.control("levels").setValue(2)
    panel.pipeline_combo.setCurrentIndex(task.PIPELINES.index("image_pyramid"))
    assert panel.strip.shown_levels == 2 and not panel.strip.frames[2].isVisible()
    assert "1x" in panel.strip.captions[0].text() and "2x" in panel.strip.captions[1].text()
    assert [v.heat_item.image.shape for v in panel.strip.cells[:2]] == [(16, 16), (32, 32)]
    cell = panel.results.cell("image_pyramid", "ms per level")
    assert "2x" in cell and "0.5x" not in cell
    assert panel.table.rows["image_pyramid"]["level_names"] == ["1x", "2x"]
    assert panel.models is models and not panel.train_runner.busy        # nothing retrained
    assert panel.merged.boxes.image().shape == (512, 512, 3)            # still the photo


def test_odd_and_broken_images(qtbot, panel, tmp_path):
    Image.fromarray(np.full((40, 60), 128, np.uint8)).save(tmp_path / "grey.png")
    Image.fromarray(np.zeros((30, 30, 4), np.uint8)).save(tmp_path / "rgba.png")
    Image.fromarray(np.full((20, 20), 40000, np.uint16)).save(tmp_path / "deep.png")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "tiny.png")
    for name, shape in (("grey.png", (40, 60, 3)), ("rgba.png", (30, 30, 3)), ("deep.png", (20, 20, 3)),
                        ("tiny.png", (8, 8, 3))):
        open_photo(qtbot, panel, tmp_path / name)
        assert panel.merged.boxes.image().shape == shape and panel.tab.banner.level == ""
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with qtbot.waitSignal(panel.image_runner.errored, timeout=30000):
        panel.tab.open_path(tmp_path / "broken.jpg")
    assert panel.tab.banner.level == "error" and "broken.jpg" in panel.tab.banner.text
    assert panel.merged.boxes.image().shape == (8, 8, 3)                 # what was on screen stays


def test_a_drawn_box_shows_its_level_and_positives(qtbot, panel):
    panel.draw_button.setChecked(True)
    assert panel.merged.draw_mode
    panel.merged.box_drawn.emit(10.0, 10.0, 30.0, 30.0)              # a 20 px box on a 128 px scene: P3
    assert "FPN level P3" in panel.info.text()
    heat = panel.merged.heat_item.image
    assert heat.shape == (16, 16) and heat.sum() == panel.box_report.positives.sum() > 0
    panel.draw_button.setChecked(False)
    assert not panel.merged.heat_item.isVisible()


def test_a_photo_before_any_model_starts_the_demo_and_shows_the_photo(qtbot, tmp_path, monkeypatch):
    """The window marks the tab's demo as started when a file comes first: the panel starts it itself."""
    import torch

    monkeypatch.setattr(task, "CHECKPOINT", tmp_path / "none.safetensors")      # no shipped file: it trains
    tab = PyramidsTab(LabContext(device=torch.device("cpu")))
    qtbot.addWidget(tab)
    p = tab.fpn
    p.params.set_config(replace(CFG, steps=2, eval_scenes=1, batch_size=2))
    Image.fromarray(np.full((50, 70, 3), 200, np.uint8)).save(tmp_path / "photo.png")
    tab.demo_started = True
    with qtbot.waitSignal(p.image_runner.finished, timeout=180000):
        tab.open_path(tmp_path / "photo.png")
    assert p.models is not None and p.merged.boxes.image().shape == (50, 70, 3)
    assert p.table is not None and set(p.table.rows) == set(task.PIPELINES)
    assert tab.shutdown(10.0)


def test_the_tab_shows_a_result_once_the_sub_tab_on_screen_has_drawn(qtbot, panel):
    """The FPN page on screen has drawn: the tab has a result (ui_stalls' first result), though its
    demo is done (what --screenshot waits for) only once the faces page has drawn too."""
    tab = panel.tab
    assert tab.subtabs.currentWidget() is panel
    assert tab.has_result and not tab.demo_done
    with qtbot.waitSignal(tab.demo_ready, timeout=1000):
        tab.faces.ready.emit()
    assert tab.demo_done


def test_a_ready_page_off_screen_is_not_a_result_until_shown(qtbot):
    import torch

    tab = PyramidsTab(LabContext(device=torch.device("cpu")))
    qtbot.addWidget(tab)
    tab.subtabs.setCurrentWidget(tab.faces)
    tab.fpn.ready.emit()                 # the FPN page drew, but the faces page is on screen
    assert not tab.has_result and not tab.demo_done
    tab.subtabs.setCurrentWidget(tab.fpn)
    assert tab.has_result and not tab.demo_done
    assert tab.shutdown(10.0)


def test_loading_detectors_goes_to_the_worker_process_by_name(qtbot, tmp_path, monkeypatch):
    """Reading and rebuilding the detectors is CPU work the window leaves to its worker process, which
    takes only tasks it can name (a lambda around load_task ran on in the window's process); the image
    and table runs are tested with the panel below."""
    import torch

    from lab_app.core.remote import is_local_heavy_task

    tab = PyramidsTab(LabContext(device=torch.device("cpu")))
    qtbot.addWidget(tab)
    started = []
    monkeypatch.setattr(tab.fpn.train_runner, "start", lambda make, label="": started.append(make))
    monkeypatch.setattr(task, "CHECKPOINT", tmp_path / "shipped.safetensors")
    task.CHECKPOINT.write_bytes(b"")
    tab.fpn.start_demo()
    tab.fpn.load_checkpoint(tmp_path / "mine.safetensors")
    assert len(started) == 2 and all(is_local_heavy_task(make) for make in started)
    assert [make.args[0].name for make in started] == ["shipped.safetensors", "mine.safetensors"]


def test_image_and_table_runs_are_named_tasks_for_the_worker_process(qtbot, panel, monkeypatch, tmp_path):
    from lab_app.core.remote import is_local_heavy_task

    started = []
    for runner in (panel.image_runner, panel.eval_runner):
        monkeypatch.setattr(runner, "start", lambda make, label="": started.append(make))
    panel._run_image()
    panel._evaluate()
    assert len(started) == 2 and all(is_local_heavy_task(make) for make in started)
    # what the image task makes is what the panel draws: the same pipelines on a scene, in this thread
    run = _drain(started[0])
    assert set(run.runs) == set(task.PIPELINES) and run.image.ndim == 3


def _drain(make):
    from lab_app.core.control import Control

    gen = make(Control())
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        return stop.value
