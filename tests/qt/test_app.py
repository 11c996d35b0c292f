"""The real MainWindow, offscreen: file routing, bad input kept off the screen, the tab's knobs,
export, settings. (Pixels of the GL view are checked in the gl tests under Xvfb.)"""

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from lab_app.app import MainWindow
from lab_app.io import PointCloud, save_point_cloud
from lab_app.qt.settings import open_settings, recent_files


@pytest.fixture
def win(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_SETTINGS_DIR", str(tmp_path / "settings"))
    w = MainWindow(device_pref="cpu", demo=False)
    qtbot.addWidget(w)
    w.show()
    yield w
    assert w.shutdown(10.0)


@pytest.fixture
def cloud_file(tmp_path):
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(5000, 3)).astype(np.float32)
    cols = rng.random((5000, 3)).astype(np.float32)
    path = tmp_path / "blob.ply"
    save_point_cloud(path, PointCloud(pts, cols))
    return path, pts


def open_and_wait(qtbot, win, path, signal="finished"):
    tab = win.tab_by_id["pointcloud"]
    with qtbot.waitSignal(getattr(tab.runner, signal), timeout=20000):
        win.open_files([path])
    return tab


def test_open_routes_a_cloud_to_the_3d_tab_and_draws_it(qtbot, win, cloud_file):
    path, pts = cloud_file
    tab = open_and_wait(qtbot, win, path)
    assert win.current_tab() is tab
    assert np.allclose(tab.shown.points, pts, atol=1e-6)
    assert tab.view.drawn_points == 5000
    assert "5,000" in tab.stats_label.text() and tab.source_label.text() == "blob.ply"
    assert str(path.resolve()) in recent_files(open_settings())


@pytest.mark.parametrize("content,expect", [
    (b"", "empty"),
    (b"this is not a point cloud\n", "not a PLY"),
    (b"ply\nformat binary_little_endian 1.0\nelement vertex 2000000000\nproperty float x\n"
     b"property float y\nproperty float z\nend_header\n" + b"\0" * 120, "2,000,000,000 points"),
])
def test_bad_file_shows_a_message_and_keeps_the_previous_cloud(qtbot, win, cloud_file, tmp_path, content, expect):
    path, pts = cloud_file
    tab = open_and_wait(qtbot, win, path)
    bad = tmp_path / "bad.ply"
    bad.write_bytes(content)
    open_and_wait(qtbot, win, bad, signal="errored")
    assert tab.banner.level == "error" and expect in tab.banner.text and "bad.ply" in tab.banner.text
    assert np.allclose(tab.shown.points, pts, atol=1e-6), "the cloud on screen was lost"
    assert tab.view.drawn_points == 5000
    assert not tab.runner.busy
    # ...and the tab still works afterwards.
    open_and_wait(qtbot, win, path)
    assert tab.banner.text == ""


def test_nan_points_are_dropped_with_a_warning_and_tiny_clouds_refused(qtbot, win, tmp_path, cloud_file):
    rng = np.random.default_rng(1)
    pts = rng.random((300, 3)).astype(np.float32)
    pts[:12, 0] = np.nan
    pts[12:15, 2] = np.inf
    np.save(tmp_path / "holes.npy", pts)
    tab = open_and_wait(qtbot, win, tmp_path / "holes.npy")
    assert len(tab.shown) == 285 and "15 dropped" in tab.stats_label.text()
    assert tab.banner.level == "warning" and "15 points had NaN" in tab.banner.text
    np.save(tmp_path / "one.npy", np.zeros((1, 3), np.float32))
    open_and_wait(qtbot, win, tmp_path / "one.npy", signal="errored")
    assert "1 point" in tab.banner.text and len(tab.shown) == 285


def test_unknown_kind_and_folders_are_refused_clearly(qtbot, win, tmp_path):
    (tmp_path / "notes.xyzw").write_bytes(b"\x00\x01")
    assert not win.open_files([tmp_path / "notes.xyzw"])
    banner = win.current_tab().banner
    assert "does not know" in banner.text and ".xyzw" in banner.text
    assert not win.open_files([tmp_path])
    assert "is a folder" in banner.text


def test_drop_event_opens_the_file(qtbot, win, cloud_file):
    path, _ = cloud_file
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    ev = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                    Qt.KeyboardModifier.NoModifier)
    tab = win.tab_by_id["pointcloud"]
    with qtbot.waitSignal(tab.runner.finished, timeout=20000):
        win.dropEvent(ev)
    assert len(tab.shown) == 5000


def test_voxel_slider_downsamples_live_and_normals_colour_the_cloud(qtbot, win, cloud_file):
    path, _ = cloud_file
    tab = open_and_wait(qtbot, win, path)
    voxel = tab.params.control("voxel_percent")
    with qtbot.waitSignal(tab.runner.finished, timeout=20000):
        voxel.setValue(3.0)  # a restart knob: starts a down-sampling run
    n = len(tab.shown)
    assert n < 5000 and tab.view.drawn_points == n and len(tab.original) == 5000
    assert tab.count_label.text() == f"{n:,} of 5,000"
    with qtbot.waitSignal(tab.runner.finished, timeout=20000):
        tab.normals_button.click()
    assert tab.shown.normals is not None and tab.config.color_mode == "normals"
    assert len(tab.shown) == n
    # Live knobs redraw without a run: the point size reaches the view, colour by height changes colours.
    drawn_before = tab.view._full.color.copy()
    tab.params.control("point_size").setValue(5.0)
    tab.params.control("color_mode").setCurrentText("height")
    assert not tab.runner.busy and tab.view._point_size == 5.0
    assert not np.allclose(tab.view._full.color, drawn_before)


def test_window_export_is_a_real_picture(qtbot, win, tmp_path):
    from PySide6.QtGui import QImage

    path = win.export_window(tmp_path / "win.png")
    img = QImage(str(path))
    assert img.width() > 400 and img.height() > 300


def test_settings_remember_tab_and_device(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_SETTINGS_DIR", str(tmp_path / "s"))
    w = MainWindow(device_pref=None, demo=False)
    qtbot.addWidget(w)
    w.set_device("cpu")
    w.close()
    s = open_settings()
    from lab_app.registry import TOPICS

    assert s.value("device") == "cpu" and s.value("last_tab") == TOPICS[0].id
    assert not s.value("geometry").isEmpty()


def test_cancel_from_the_status_bar(qtbot, win):
    import time
    from functools import partial

    def forever(ctl):
        while True:
            ctl.checkpoint()
            time.sleep(0.01)
            yield from ()

    tab = win.current_tab()
    tab.runner.start(partial(forever), label="forever")
    qtbot.waitUntil(lambda: win.cancel_button.isVisible(), timeout=5000)
    with qtbot.waitSignal(tab.runner.cancelled, timeout=5000):
        win.cancel_button.click()
    qtbot.waitUntil(lambda: win.worker_label.text() == "idle", timeout=5000)
    assert not win.cancel_button.isVisible()


def test_status_bar_follows_a_second_runner_and_cancels_it(qtbot, win):
    """Work on a tab's extra runner (training beside loading) shows in the status bar, and the
    status bar's Cancel stops that runner, not the idle main one."""
    import time

    from lab_app.core.events import Progress

    def slow(ctl):
        for i in range(100_000):
            ctl.checkpoint()
            time.sleep(0.005)
            yield Progress(i, 100_000, text="training on the side")

    tab = win.tab_by_id["pointcloud"]
    win.tabs.setCurrentWidget(tab)
    side = tab.runners()[-1]
    assert side is not tab.runner, "the 3D tab trains PointNet on its own runner"
    side.start(slow, label="side job")
    qtbot.waitUntil(lambda: "training on the side" in win.worker_label.text(), timeout=5000)
    assert win.active_runner() is side and win.cancel_button.isVisible()
    with qtbot.waitSignal(side.cancelled, timeout=5000):
        win.cancel_button.click()
    qtbot.waitUntil(lambda: win.worker_label.text() == "idle", timeout=5000)


def test_every_runner_of_every_tab_is_one_the_window_can_see_and_cancel(win):
    """A runner made beside ``add_runner`` escapes Cancel, the status bar, the runs history and
    shutdown (the contrastive tab's MI estimators kept training after all of them)."""
    from lab_app.qt.worker import TaskRunner
    from lab_app.registry import TOPICS

    for spec in TOPICS:
        tab = win.tab(spec.id)
        made = {id(r) for r in tab.findChildren(TaskRunner)}
        assert made, spec.id
        assert made <= {id(r) for r in tab.runners()}, f"{spec.id}: a runner outside add_runner"


def test_every_view_exports_through_the_one_exportable_base(win):
    """PNG export is ExportableView's: no view writes its own copy of it (eleven of the new tabs' views
    and two shared widgets had one); a view that grabs something else (the GL surface) overrides it."""
    import re
    from pathlib import Path

    import lab_app
    from lab_app.qt.widgets.export import ExportableView
    from lab_app.registry import TOPICS

    root = Path(lab_app.__file__).parent
    copy = re.compile(r"def export_png\(self, path[^)]*\)[^:]*:\n\s+return export_widget_png\(self, path\)")
    copies = [str(p.relative_to(root)) for p in root.rglob("*.py") if copy.search(p.read_text())]
    assert copies == []
    for spec in TOPICS:
        tab = win.tab(spec.id)
        for name, view in tab.views().items():
            assert isinstance(view, ExportableView), f"{spec.id}: {name} is a {type(view).__name__}"


def test_the_status_bar_draws_progress_at_its_own_pace_and_ends_on_the_latest(qtbot, win):
    """A run that reports every step does not repaint the progress bar every step (a synchronous
    paint each): at most one redraw per PROGRESS_EVERY_MS, and the bar ends on the latest step."""
    import time

    from lab_app.core.events import Progress
    from lab_app.qt.window_status import PROGRESS_EVERY_MS

    def fast_then_wait(ctl):
        for i in range(2000):
            yield Progress(i, 2000, text="fast")
        while True:
            ctl.checkpoint()
            time.sleep(0.01)
            yield from ()

    tab = win.current_tab()
    redraws = []
    win.progress.valueChanged.connect(redraws.append)
    t0 = time.monotonic()
    tab.runner.start(fast_then_wait, label="fast")
    qtbot.waitUntil(lambda: win.progress.format() == "1999/2000", timeout=10_000)
    elapsed_ms = (time.monotonic() - t0) * 1000
    assert win.progress.value() == int(1000 * 1999 / 2000)
    assert len(redraws) <= elapsed_ms / PROGRESS_EVERY_MS + 2, (len(redraws), elapsed_ms)
    tab.runner.cancel()
    qtbot.waitUntil(lambda: win.worker_label.text() == "idle", timeout=5000)
    qtbot.wait(2 * PROGRESS_EVERY_MS)
    assert win.worker_label.text() == "idle"   # nothing left waiting to be drawn over it


def test_the_window_repaint_and_a_tab_activation_count_against_the_turn(qtbot, win, monkeypatch):
    """What the window itself draws in a turn (its repaint of the widgets that changed, a tab made
    current) is charged to the turn's drawing budget, so that the plots, 3D frames and drains asking
    after it in the same turn wait for the next one."""
    import sys
    import time
    from contextlib import contextmanager

    from PySide6.QtWidgets import QWidget

    from lab_app.qt import turn_budget

    charged = []   # (who drew, seconds charged)
    real = turn_budget.drawing

    @contextmanager
    def drawing():
        frame = sys._getframe(2)   # the caller: MainWindow's own method or another drawer's
        who = frame.f_code.co_name if frame.f_locals.get("self") is win else "elsewhere"
        t0 = time.perf_counter()
        with real():
            yield
        charged.append((who, time.perf_counter() - t0))

    monkeypatch.setattr(turn_budget, "drawing", drawing)

    class Slow(QWidget):
        def paintEvent(self, event):  # noqa: N802 - Qt override
            time.sleep(0.03)

    slow = Slow(win)
    slow.setGeometry(0, 0, 40, 40)
    slow.show()
    qtbot.waitUntil(lambda: any(who == "event" and s >= 0.03 for who, s in charged), timeout=5000)

    charged.clear()
    monkeypatch.setattr(win, "_refresh_runs", lambda tab, busy: time.sleep(0.03))
    monkeypatch.setattr(win, "_on_busy", lambda tab: None)
    win._activate(object())
    assert [who for who, s in charged if s >= 0.03] == ["_activate"]
