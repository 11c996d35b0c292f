"""A plot's ViewBox menu is made the first time it is used, and then works as pyqtgraph's own: its
actions act on the view, and it lists the named views it can link to."""

import importlib

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtWidgets import QApplication, QMenu

from lab_app.qt.widgets import lazy_menus

VIEWBOX_MODULE = importlib.import_module("pyqtgraph.graphicsItems.ViewBox.ViewBox")


def _viewbox_menus() -> int:
    """pyqtgraph's ViewBox menus alive now (top-level QMenus titled as pyqtgraph titles them)."""
    widgets = QApplication.topLevelWidgets()
    return sum(isinstance(w, QMenu) and w.title() == "ViewBox options" for w in widgets)


@pytest.fixture
def lazy(monkeypatch, qapp):
    # as it was, after the test
    monkeypatch.setattr(VIEWBOX_MODULE, "ViewBoxMenu", VIEWBOX_MODULE.ViewBoxMenu)
    assert lazy_menus.install() and lazy_menus.install()   # twice: the same
    assert VIEWBOX_MODULE.ViewBoxMenu is lazy_menus.LazyViewBoxMenu


def test_plots_are_made_without_their_viewbox_menus(qtbot, lazy):
    before = _viewbox_menus()
    plots = [pg.PlotWidget() for _ in range(4)]
    for p in plots:
        qtbot.addWidget(p)
    assert _viewbox_menus() == before
    assert all(not p.getViewBox().menu.built for p in plots)


def test_the_menu_is_made_at_its_first_use_and_acts_on_its_view(qtbot, lazy):
    plot = pg.PlotWidget()
    qtbot.addWidget(plot)
    plot.plot(np.arange(10.0), np.arange(10.0) * 3)
    vb = plot.getViewBox()
    vb.setRange(xRange=(100, 200), yRange=(100, 200), padding=0)
    actions = vb.getContextMenus(None)          # what the scene asks for on a right click
    assert vb.menu.built and [a.text() for a in actions][:1] == ["View All"]
    actions[0].trigger()
    (x0, x1), (y0, y1) = vb.viewRange()
    assert x0 <= 0 and x1 >= 9 and y0 <= 0 and y1 >= 27 and x1 < 100
    assert isinstance(vb.menu.real(), QMenu)


def test_a_menu_made_late_lists_the_named_views_it_was_given(qtbot, lazy):
    named = pg.PlotWidget(name="lazy-menu-left")
    other = pg.PlotWidget()
    qtbot.addWidget(named)
    qtbot.addWidget(other)
    menu = other.getViewBox().menu
    assert not menu.built
    combo = menu.real().ctrl[0].linkCombo
    assert "lazy-menu-left" in [combo.itemText(i) for i in range(combo.count())]


def test_switching_the_menu_off_before_it_was_made(qtbot, lazy):
    before = _viewbox_menus()
    plot = pg.PlotWidget()
    qtbot.addWidget(plot)
    vb = plot.getViewBox()
    vb.setMenuEnabled(False)
    assert vb.menu is None and vb.getContextMenus(None) == [] and _viewbox_menus() == before
    vb.setMenuEnabled(True)
    assert [a.text() for a in vb.getContextMenus(None)][:1] == ["View All"]


def test_a_right_click_opens_the_menu(qtbot, lazy):
    from PySide6.QtCore import Qt

    plot = pg.PlotWidget()
    qtbot.addWidget(plot)
    plot.resize(300, 200)
    plot.show()
    qtbot.waitExposed(plot)
    menu = plot.getViewBox().menu
    assert not menu.built
    qtbot.mouseClick(plot.viewport(), Qt.MouseButton.RightButton, pos=plot.viewport().rect().center())
    qtbot.waitUntil(lambda: menu.built and menu.real().isVisible(), timeout=3000)
    assert "View All" in [a.text() for a in menu.real().actions()]
    menu.real().close()
