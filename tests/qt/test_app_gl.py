"""The window with real OpenGL (Xvfb): the cloud is really drawn, and exports are real pictures."""

import json

import numpy as np
import pytest
from PySide6.QtGui import QImage

from lab_app.app import MainWindow
from lab_app.io import PointCloud, save_point_cloud
from lab_app.qt.widgets.export import rgba_array

pytestmark = pytest.mark.gl


def image_array(path):
    return rgba_array(QImage(str(path)))[..., :3]


def test_export_draws_the_dropped_cloud_and_writes_the_run_card(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_SETTINGS_DIR", str(tmp_path / "settings"))
    win = MainWindow(device_pref="cpu", demo=False)
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    qtbot.waitExposed(win)
    # A pure-green ball: green pixels must appear in the middle of the 3D view.
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(20000, 3)).astype(np.float32)
    pts /= np.linalg.norm(pts, axis=1, keepdims=True)
    cols = np.tile(np.array([[0.0, 1.0, 0.0]], np.float32), (len(pts), 1))
    save_point_cloud(tmp_path / "ball.ply", PointCloud(pts, cols))
    tab = win.tab_by_id["pointcloud"]
    with qtbot.waitSignal(tab.runner.finished, timeout=20000):
        win.open_files([tmp_path / "ball.ply"])
    qtbot.wait(300)
    files = win.export_current(tmp_path / "out" / "view.png")
    names = [f.name for f in files]
    tab_views = list(tab.views())
    assert names[0] == "view.png" and names[-1] == "view.runcard.json"
    assert names[1:-1] == [f"view-{name}.png" for name in tab_views[1:]]  # one PNG per view
    assert all(f.stat().st_size > 0 for f in files)
    arr = image_array(files[0]).astype(int)
    h, w, _ = arr.shape
    centre = arr[h // 3: 2 * h // 3, w // 3: 2 * w // 3]
    green = (centre[..., 1] > 150) & (centre[..., 0] < 80) & (centre[..., 2] < 80)
    assert green.mean() > 0.05, "the cloud is not visible in the exported view"
    corner = arr[:10, :10].reshape(-1, 3)
    assert not ((corner[:, 1] > 150) & (corner[:, 0] < 80)).any()
    card = json.loads(files[-1].read_text())
    assert card["config"]["points_shown"] == 20000 and card["config"]["source"].endswith("ball.ply")
    assert win.shutdown(10.0)


def test_a_cloud_dropped_onto_the_3d_view_opens(qtbot, tmp_path, monkeypatch):
    """The 3D view is a native window of its own (gl_window.py), which by itself refuses drags: a
    file dropped onto it goes up to the lab window, which opens it, as a drop anywhere else does."""
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent
    from PySide6.QtWidgets import QApplication

    monkeypatch.setenv("LAB_SETTINGS_DIR", str(tmp_path / "settings"))
    win = MainWindow(device_pref="cpu", demo=False, start_tab="pointcloud")
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    qtbot.waitUntil(lambda: "pointcloud" in win.tab_by_id, timeout=60000)
    tab = win.tab_by_id["pointcloud"]
    pts = np.random.default_rng(1).normal(size=(3000, 3)).astype(np.float32)
    save_point_cloud(tmp_path / "dropped.ply", PointCloud(pts))
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tmp_path / "dropped.ply"))])
    target = tab.view.glview
    assert target is not tab.view and not hasattr(target, "parentWidget")   # a window, not a widget
    pos, copy = QPointF(20, 20), Qt.DropAction.CopyAction
    buttons, mods = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(pos.toPoint(), copy, mime, buttons, mods)
    QApplication.sendEvent(target, enter)
    assert enter.isAccepted()
    drop = QDropEvent(pos, copy, mime, buttons, mods)
    with qtbot.waitSignal(tab.runner.finished, timeout=20000):
        QApplication.sendEvent(target, drop)
    qtbot.waitUntil(lambda: tab.view.total_points == 3000, timeout=5000)
    assert win.shutdown(10.0)
