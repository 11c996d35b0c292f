"""Tabs are built the first time they are shown: the window starts with only its current tab built,
and a file routed to a tab not built yet, Open Recent, the View menu and the last-tab setting
still reach the right, now built, tab."""

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from lab_app.app import MainWindow, label
from lab_app.io import PointCloud, save_point_cloud
from lab_app.qt.lazy_tabs import TabPlaceholder
from lab_app.qt.settings import add_recent_file, open_settings
from lab_app.qt.tab_base import TopicTab
from lab_app.registry import TOPICS

IDS = [s.id for s in TOPICS]


@pytest.fixture
def settings_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_SETTINGS_DIR", str(tmp_path / "settings"))
    return tmp_path / "settings"


@pytest.fixture
def make_win(qtbot, settings_dir):
    made = []

    def make(**kw):
        w = MainWindow(device_pref="cpu", demo=False, **kw)
        qtbot.addWidget(w)
        w.show()
        made.append(w)
        return w

    yield make
    for w in made:
        assert w.shutdown(10.0)


@pytest.fixture
def cloud(tmp_path):
    pts = np.random.default_rng(3).normal(size=(777, 3)).astype(np.float32)
    path = tmp_path / "blob.ply"
    save_point_cloud(path, PointCloud(pts))
    return path, pts


def built(win) -> set[str]:
    return set(win.tab_by_id)


def pages(win) -> list:
    return [win.tabs.widget(i) for i in range(win.tabs.count())]


def test_only_the_current_tab_is_built_once_the_window_shows(qtbot, make_win):
    win = make_win()
    assert win.tabs.currentIndex() == 0
    # Before the first paint nothing is built, and every page is a placeholder.
    assert built(win) == set() and all(isinstance(p, TabPlaceholder) for p in pages(win))
    qtbot.waitUntil(lambda: IDS[0] in built(win), timeout=30000)
    assert built(win) == {IDS[0]}
    tab = win.tabs.widget(0)
    assert isinstance(tab, TopicTab) and tab is win.tab_by_id[IDS[0]]
    assert tab.tab_id == IDS[0] and win.tabs.tabText(0) == label(TOPICS[0].title)
    assert all(isinstance(p, TabPlaceholder) for p in pages(win)[1:])
    # Titles from the registry; "&" doubled, or Qt would take it for a shortcut mark and hide it.
    assert [win.tabs.tabText(i) for i in range(win.tabs.count())] == [label(s.title) for s in TOPICS]
    assert all(win.tabs.tabText(i).count("&&") == s.title.count("&") for i, s in enumerate(TOPICS))
    assert win.ctx.device is not None and str(win.ctx.device) == "cpu"


def test_a_dropped_cloud_builds_the_3d_tab_and_opens_it(qtbot, make_win, cloud):
    path, pts = cloud
    win = make_win(start_tab="language")
    qtbot.waitUntil(lambda: "language" in built(win), timeout=30000)
    assert "pointcloud" not in built(win)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    win.dropEvent(QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                             Qt.KeyboardModifier.NoModifier))
    assert "pointcloud" in built(win)
    tab = win.tab_by_id["pointcloud"]
    assert win.current_tab() is tab and win.tabs.currentWidget() is tab
    assert win.tabs.indexOf(tab) == IDS.index("pointcloud")
    qtbot.waitUntil(lambda: tab.shown is not None, timeout=30000)
    assert np.allclose(tab.shown.points, pts, atol=1e-6)
    assert built(win) == {"language", "pointcloud"}
    assert open_settings().value("last_tab") == "pointcloud"


def test_open_recent_reaches_an_unbuilt_tab(qtbot, make_win, cloud):
    path, pts = cloud
    add_recent_file(open_settings(), path)
    win = make_win()
    qtbot.waitUntil(lambda: IDS[0] in built(win), timeout=30000)
    actions = win.recent_menu.actions()
    assert [a.text() for a in actions] == [str(path.resolve())]
    actions[0].trigger()
    tab = win.tab_by_id.get("pointcloud")
    assert tab is not None and win.current_tab() is tab
    qtbot.waitUntil(lambda: tab.shown is not None, timeout=30000)
    assert len(tab.shown) == len(pts)


def test_the_view_menu_builds_the_tab_it_shows(qtbot, make_win):
    win = make_win()
    qtbot.waitUntil(lambda: IDS[0] in built(win), timeout=30000)
    view_menu = next(a.menu() for a in win.menuBar().actions() if a.text() == "&View")
    action = view_menu.actions()[2]
    assert action.text() == label(TOPICS[2].title) and action.shortcut().toString() == "Ctrl+3"
    action.trigger()
    assert win.tabs.currentIndex() == 2
    qtbot.waitUntil(lambda: IDS[2] in built(win), timeout=30000)  # once its placeholder has painted
    assert win.tabs.currentWidget() is win.tab_by_id[IDS[2]]
    assert built(win) == {IDS[0], IDS[2]}


def test_the_last_tab_is_remembered_and_only_it_is_built(qtbot, make_win, settings_dir):
    s = open_settings()
    s.setValue("last_tab", "pointcloud")
    s.sync()
    win = make_win()
    assert win.current_id() == "pointcloud"
    qtbot.waitUntil(lambda: "pointcloud" in built(win), timeout=30000)
    assert built(win) == {"pointcloud"}
    win.tabs.setCurrentIndex(IDS.index("language"))
    win.close()
    assert open_settings().value("last_tab") == "language"
    assert "language" not in built(win), "closing must not build the tab on screen"


def test_device_and_shutdown_touch_built_tabs_only(qtbot, make_win):
    win = make_win()
    qtbot.waitUntil(lambda: IDS[0] in built(win), timeout=30000)
    win.set_device("cpu")
    assert built(win) == {IDS[0]} and win.tab_by_id[IDS[0]].runner.device == win.ctx.device
    later = win.tab("pointcloud")  # built after the change: it starts on the chosen device
    assert later.ctx.device == win.ctx.device and later.runner.device == win.ctx.device
    assert win.shutdown(10.0) and built(win) == {IDS[0], "pointcloud"}


def test_the_window_code_imports_no_torch_before_a_tab_is_built():
    """What the window needs to paint (cli, app, tab base, worker) leaves torch for later."""
    import subprocess
    import sys

    code = ("import sys, lab_app.cli, lab_app.app, lab_app.qt.tab_base, lab_app.qt.worker\n"
            "print(sorted(m for m in ('torch', 'torchvision', 'open3d', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_a_shown_tab_is_built_in_slices(qtbot, make_win, caplog):
    """The placeholder's tab is built a slice per event-loop turn (qt/staged.py), then takes its place."""
    caplog.set_level("INFO", logger="lab_app.qt.window_tabs")
    win = make_win()
    qtbot.waitUntil(lambda: IDS[0] in built(win), timeout=30000)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith(f"built tab {IDS[0]} ")]
    assert len(lines) == 1 and " slices over " in lines[0]
    assert int(lines[0].split(" in ")[1].split()[0]) > 1
    assert win.tabs.widget(0) is win.tab_by_id[IDS[0]] and win._staged == {}
    # its plots were made without their context menus (lazy_menus.py), which wait for a right click
    from lab_app.qt.widgets.lazy_menus import LazyViewBoxMenu

    boxes = [item for view in win.tab_by_id[IDS[0]].findChildren(pg.GraphicsView)
             for item in view.scene().items() if isinstance(item, pg.ViewBox)]
    menus = [vb.menu for vb in boxes if vb.menu is not None]   # None: a plot with its menu off
    assert menus and all(isinstance(m, LazyViewBoxMenu) and not m.built for m in menus)
    # and they painted for the first time one per turn (first_paint.py), all of them by now
    from lab_app.qt import first_paint

    qtbot.waitUntil(lambda: first_paint.waiting() == 0, timeout=5000)
    assert all(v.updatesEnabled() for v in win.tab_by_id[IDS[0]].findChildren(pg.GraphicsView))


def test_a_tab_built_off_screen_paints_its_plots_one_per_turn_when_first_shown(qtbot, make_win):
    from lab_app.qt import first_paint

    win = make_win()
    qtbot.waitUntil(lambda: IDS[0] in built(win), timeout=30000)
    qtbot.waitUntil(lambda: first_paint.waiting() == 0, timeout=5000)
    other = win.tab(IDS[2])                  # built now (a file routed to it), another tab on screen
    plots = [v for v in other.findChildren(pg.GraphicsView) if v.isVisibleTo(other)]
    assert plots and other.first_paints_pending and all(v.updatesEnabled() for v in plots)
    win.tabs.setCurrentIndex(2)
    assert not other.first_paints_pending and first_paint.waiting() == len(plots)
    assert not any(v.updatesEnabled() for v in plots)
    qtbot.waitUntil(lambda: first_paint.waiting() == 0, timeout=5000)
    assert all(v.updatesEnabled() for v in plots)
    win.tabs.setCurrentIndex(0)
    win.tabs.setCurrentIndex(2)              # shown before: nothing held back
    assert first_paint.waiting() == 0


def test_a_tab_asked_for_mid_build_is_finished_at_once_and_placed_once(qtbot, make_win):
    win = make_win()
    qtbot.waitUntil(lambda: IDS[0] in win._staged and win._staged[IDS[0]].slices >= 1, timeout=30000)
    build = win._staged[IDS[0]]
    assert not build.done and isinstance(win.tabs.widget(0), TabPlaceholder)
    tab = win.tab(IDS[0])        # a file routed to it, Open Recent, --screenshot: it is needed now
    assert build.done and tab is build.result and win.tabs.widget(0) is tab
    qtbot.wait(100)              # the build's next turn comes and goes
    assert win.tab_by_id[IDS[0]] is tab and win.tabs.widget(0) is tab and win._staged == {}
    assert sum(isinstance(p, TopicTab) for p in pages(win)) == 1


def test_closing_the_window_mid_build_stops_the_build(qtbot, make_win):
    win = make_win()
    qtbot.waitUntil(lambda: IDS[0] in win._staged and win._staged[IDS[0]].slices >= 1, timeout=30000)
    build = win._staged[IDS[0]]
    win.close()
    qtbot.wait(200)
    assert build.done and build.result is None and win._staged == {}
    assert built(win) == set() and isinstance(win.tabs.widget(0), TabPlaceholder)


def test_a_tab_that_fails_to_build_says_why_in_its_place(qtbot, make_win, monkeypatch):
    from lab_app.topics.language.tab import LanguageTab

    def broken(self, *args, **kwargs):
        raise OSError("the plays are missing")

    monkeypatch.setattr(LanguageTab, "__init__", broken)
    win = make_win()
    qtbot.waitUntil(lambda: IDS[0] in built(win), timeout=30000)
    win.tabs.setCurrentIndex(IDS.index("language"))
    placeholder = win.tabs.widget(IDS.index("language"))
    qtbot.waitUntil(lambda: "could not be built" in placeholder.label.text(), timeout=30000)
    assert "the plays are missing" in placeholder.label.text() and "language" not in built(win)
    assert "the plays are missing" in win.statusBar().currentMessage()


def test_a_tab_whose_build_spent_the_turn_takes_its_place_and_starts_in_later_turns(qtbot, make_win,
                                                                                   monkeypatch):
    """The last slice spent the turn: the tab is installed a turn later; its install spent that one:
    it is activated (status, demo) a turn after that, still the current tab."""
    from types import SimpleNamespace

    from PySide6.QtCore import QTimer

    from lab_app.qt import window_tabs

    answers = [True, False, True]   # over budget after the last slice; not then; after the install
    monkeypatch.setattr(window_tabs, "turn_budget", SimpleNamespace(
        over=lambda: answers.pop(0) if answers else False, charge=lambda seconds: None))
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(0)
    seen = {}
    original_built, original_install = MainWindow._staged_built, MainWindow._install_tab
    original_activate = MainWindow._activate

    def staged_built(self, tab_id, build, tab, t0, *waited):
        seen.setdefault("built", len(ticks))
        return original_built(self, tab_id, build, tab, t0, *waited)

    def install(self, *args, **kwargs):
        seen["install"] = len(ticks)
        return original_install(self, *args, **kwargs)

    def activate(self, tab):
        seen.setdefault("activate", (len(ticks), tab.tab_id))
        return original_activate(self, tab)

    monkeypatch.setattr(MainWindow, "_staged_built", staged_built)
    monkeypatch.setattr(MainWindow, "_install_tab", install)
    monkeypatch.setattr(MainWindow, "_activate", activate)
    win = make_win()
    qtbot.waitUntil(lambda: "activate" in seen, timeout=30000)
    timer.stop()
    assert answers == [] and win.tabs.widget(0) is win.tab_by_id[IDS[0]]
    assert seen["built"] < seen["install"] < seen["activate"][0] and seen["activate"][1] == IDS[0]


def test_a_built_tab_takes_its_place_even_when_every_turn_has_spent_its_budget(qtbot, make_win, monkeypatch):
    """A window drawing a lot in every turn does not keep a built tab waiting for ever: it waits a few
    turns at most (INSTALL_WAITS), then takes its place and is activated."""
    from types import SimpleNamespace

    from lab_app.qt import window_tabs

    asked = []
    monkeypatch.setattr(window_tabs, "turn_budget", SimpleNamespace(
        over=lambda: asked.append(1) or True, charge=lambda seconds: None))
    activated = []
    original = MainWindow._activate
    monkeypatch.setattr(MainWindow, "_activate", lambda self, tab: (activated.append(tab.tab_id),
                                                                    original(self, tab)))
    win = make_win()
    qtbot.waitUntil(lambda: activated == [IDS[0]], timeout=30000)
    assert win.tabs.widget(0) is win.tab_by_id[IDS[0]] and win._staged == {}
    assert len(asked) >= window_tabs.INSTALL_WAITS
