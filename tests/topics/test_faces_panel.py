"""The faces sub-tab with qtbot: drop a photo, move the minimum face size and a threshold, bad files,
no faces, and the crowd charts."""

import numpy as np
import pytest
import torch
from PIL import Image

from lab_app.qt.tab_base import LabContext, TopicTab
from lab_app.topics.pyramids import crowd as C
from lab_app.topics.pyramids.faces_panel import FacesPanel
from models import mtcnn as M


@pytest.fixture
def panel(qtbot):
    host = TopicTab(LabContext(device=torch.device("cpu"), seed=4))
    qtbot.addWidget(host)
    p = FacesPanel(host)
    qtbot.addWidget(p)
    p.measure_images, p.measure_sweep = 1, (96, 64)      # a small crowd measurement
    p._measure_started = True                          # ... and only when a test asks for it
    yield p
    p._measure_timer.stop()    # a debounced crowd measurement must not fire after the host is gone
    assert host.shutdown(10.0)


def open_and_wait(qtbot, panel, path):
    with qtbot.waitSignal(panel.runner.finished, timeout=60000):
        panel.open_path(path)


def test_drop_photo_then_min_face_and_threshold(qtbot, panel, tmp_path):
    panel.run_lbp = False                              # (the LBP view is checked below)
    crowd = C.make_crowd(11, height=300, width=400, sizes=[90, 70, 50, 36, 24, 20])
    assert len(crowd.boxes) == 6
    Image.fromarray(crowd.image).save(tmp_path / "crowd.png")
    open_and_wait(qtbot, panel, tmp_path / "crowd.png")
    view = panel.stage_views["onet"]
    assert view.image_item.image.shape == (300, 400, 3) and "crowd.png" in panel.photo_label.text()
    assert panel.last.levels == M.level_count(300, 400, 20)
    assert f"{panel.last.levels} levels" in panel.plan_label.text()
    before = panel.counts()
    assert before["pnet_raw"] > before["pnet_nms"] >= before["rnet"] >= before["onet"] >= 4
    assert len(view.landmarks) == before["onet"] and view.message() is None
    assert len(panel.pyramid.level_texts) == panel.last.levels

    slider = panel.params.control("min_face")
    with qtbot.waitSignal(panel.runner.finished, timeout=60000):
        slider.setValue(48)
    assert panel.last.levels == M.level_count(300, 400, 48) < M.level_count(300, 400, 20)
    assert f"{panel.last.levels} levels" in panel.plan_label.text()
    after = panel.counts()
    assert after["pnet_raw"] < before["pnet_raw"] and after["onet"] < before["onet"]   # no 20-36 px faces

    pyramid_ms = panel.last.times_ms["P-Net pyramid"]
    with qtbot.waitSignal(panel.runner.finished, timeout=60000):
        panel.params.control("t3").setValue(0.99)
    assert panel.last.from_stage == 3 and panel.last.times_ms["P-Net pyramid"] == pyramid_ms   # kept
    assert panel.counts()["pnet_raw"] == after["pnet_raw"] and panel.counts()["onet"] <= after["onet"]
    assert "(kept)" in panel.stats_label.text()


def test_bad_file_keeps_the_last_result_and_a_blank_photo_says_no_faces(qtbot, panel, tmp_path):
    Image.fromarray(np.tile(np.linspace(60, 200, 320, dtype=np.uint8), (240, 1))).save(tmp_path / "wall.png")
    with qtbot.waitSignal(panel.lbp_runner.finished, timeout=60000):
        open_and_wait(qtbot, panel, tmp_path / "wall.png")
    view = panel.stage_views["onet"]
    assert panel.lbp_view.message() == "no faces found"
    assert panel.lbp_view.title().startswith("LBP cascade: 0 faces")
    assert panel.counts()["onet"] == 0 and view.message() == "no faces found"
    shown = view.image_item.image.copy()

    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not a png")
    with qtbot.waitSignal(panel.runner.errored, timeout=30000) as err:
        panel.open_path(bad)
    assert "broken.png" in err.args[0] and "broken.png" in panel.tab.banner.text
    assert np.array_equal(view.image_item.image, shown) and "wall.png" in panel.photo_label.text()

    Image.fromarray(np.full((8, 8, 3), 90, np.uint8)).save(tmp_path / "tiny.png")
    open_and_wait(qtbot, panel, tmp_path / "tiny.png")
    assert panel.last.levels == 0 and "smaller than the minimum face" in view.message()
    assert "No pyramid level" in panel.plan_label.text()


def test_crowd_charts_draw_recall_and_time(qtbot, panel):
    panel.params.control("min_face").setValue(48)      # no photo yet: only the config changes
    panel._measure_timer.stop()                        # measure now, not after the knob's debounce
    with qtbot.waitSignal(panel.measure_runner.finished, timeout=120000):
        panel.start_measure()
    mtcnn, lbp = panel.recall_chart.values()
    assert len(mtcnn) == len(C.SIZE_BINS)
    assert np.all(np.isnan(mtcnn[:3]) | (mtcnn[:3] == 0))    # faces under 24 px: none found at min face 48
    assert np.nanmax(mtcnn) == 1.0 and np.all((lbp[np.isfinite(lbp)] >= 0) & (lbp[np.isfinite(lbp)] <= 1))
    assert sorted(panel.time_chart.points) == [64, 96]
    assert "min face 48 px" in panel.recall_chart.title()



def test_photo_opened_on_the_other_sub_tab_reaches_faces_too(qtbot, tmp_path, monkeypatch):
    from lab_app.topics.pyramids.tab import PyramidsTab

    tab = PyramidsTab(LabContext(device=torch.device("cpu")))
    qtbot.addWidget(tab)
    try:
        fpn_got = []
        monkeypatch.setattr(tab.fpn, "open_path", fpn_got.append)   # (the other sub-tab: not tested here)
        tab.faces.run_lbp, tab.faces._measure_started = False, True
        Image.fromarray(C.make_crowd(2, sizes=[90]).image).save(tmp_path / "group.png")
        tab.subtabs.setCurrentWidget(tab.fpn)
        with qtbot.waitSignal(tab.faces.runner.finished, timeout=60000):
            tab.open_path(tmp_path / "group.png")
        assert fpn_got == [tmp_path / "group.png"]
        assert tab.faces.photo.name == "group.png" and tab.faces.counts()["onet"] >= 1
    finally:
        assert tab.shutdown(10.0)


def test_results_that_come_while_the_other_sub_tab_is_on_screen_are_drawn_when_faces_is_shown(
        qtbot, tmp_path, monkeypatch):
    """In a window on screen, the faces sub-tab behind the FPN one keeps its results (photo, counts,
    plan) but draws its views only once it is shown."""
    from lab_app.topics.pyramids.tab import PyramidsTab

    tab = PyramidsTab(LabContext(device=torch.device("cpu")))
    qtbot.addWidget(tab)
    try:
        monkeypatch.setattr(tab.fpn, "open_path", lambda path: None)
        tab.faces.run_lbp, tab.faces._measure_started = False, True
        tab.subtabs.setCurrentWidget(tab.fpn)
        tab.show()
        qtbot.waitExposed(tab)
        Image.fromarray(C.make_crowd(2, sizes=[90, 60]).image).save(tmp_path / "group.png")
        with qtbot.waitSignal(tab.faces.runner.finished, timeout=60000):
            tab.open_path(tmp_path / "group.png")
        faces = tab.faces
        onet = faces.stage_views["onet"]
        assert faces.photo.name == "group.png" and faces.counts()["onet"] >= 1   # its results, kept
        assert f"{faces.last.levels} levels" in faces.plan_label.text()
        assert onet.image_item.image is None and len(onet.boxes) == 0
        assert "group.png" not in faces.photo_label.text()
        tab.subtabs.setCurrentWidget(faces)                                      # shown: drawn now
        assert onet.image_item.image.shape == faces.photo.image.shape
        assert len(onet.boxes) == faces.counts()["onet"] and "group.png" in faces.photo_label.text()
        assert len(faces.pyramid.level_texts) == faces.last.levels
    finally:
        assert tab.shutdown(10.0)


def test_a_cascade_run_in_the_worker_process_keeps_its_stages_for_the_next_knob(qtbot, panel, tmp_path):
    """From the worker process the finished cache's photo is a copy of the photo shown (it came in
    another message): the panel keeps one photo, so a threshold re-runs only the stages after it."""
    import pickle

    from lab_app.core.remote import is_local_heavy_task

    panel.run_lbp = False
    Image.fromarray(C.make_crowd(3, height=200, width=240, sizes=[60, 40]).image).save(tmp_path / "c.png")
    open_and_wait(qtbot, panel, tmp_path / "c.png")
    copied = pickle.loads(pickle.dumps(panel.cache))       # as the worker process sends it back
    assert copied.photo is not panel.photo
    panel._on_cascade_finished(copied)
    assert panel.photo is copied.photo and panel.cache is copied
    started = []
    panel.runner.start = lambda make, label="": started.append(make)
    panel.params.control("t3").setValue(0.99)
    assert is_local_heavy_task(started[-1]) and started[-1].keywords["cache"] is copied
