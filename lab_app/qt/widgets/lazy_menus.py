"""pyqtgraph's ViewBox context menu, made the first time it is used instead of with every plot.

Every ViewBox builds its right-click menu in its constructor: two forms of axis controls (range
fields, link combos, check boxes, each wired to the view) and the mouse-mode actions, about a quarter
of what a PlotWidget costs to make, for a menu most plots never open. A tab builds up to a dozen
plots when it is first shown, each build slice on the UI thread (lab_app/qt/staged.py) is at least
one plot long, and a slice longer than a frame is a frame the window misses.

``install()`` replaces the name ``ViewBoxMenu`` in pyqtgraph's ViewBox module with ``LazyViewBoxMenu``,
which stands in for the menu and builds the real one (pyqtgraph's own class, unchanged) at the first
use: a right click, the scene asking for the parent menus, anything that reads the menu. The list of
named views the ViewBox hands its menu at construction (``setViewList``) is kept, as weak
references, and given to the real menu when it is made.
"""

from __future__ import annotations

import importlib
import weakref


class LazyViewBoxMenu:
    """Stands for a ViewBox's menu until the menu is used (``real()`` builds it)."""

    def __init__(self, view):
        self._view = weakref.ref(view)
        self._menu = None
        self._views: list[weakref.ref] | None = None

    @property
    def built(self) -> bool:
        return self._menu is not None

    def real(self):
        if self._menu is None:
            view = self._view()
            if view is None:
                raise RuntimeError("the ViewBox of this menu is gone")
            self._menu = _pyqtgraph_menu()(view)
            if self._views is not None:
                self._menu.setViewList([v for v in (r() for r in self._views) if v is not None])
                self._views = None
        return self._menu

    def setViewList(self, views) -> None:   # noqa: N802 - pyqtgraph's name
        if self._menu is None:
            self._views = [weakref.ref(v) for v in views]
        else:
            self._menu.setViewList(views)

    def setParent(self, parent) -> None:    # noqa: N802 - ViewBox.setMenuEnabled(False) detaches its menu
        if self._menu is not None:
            self._menu.setParent(parent)

    def __getattr__(self, name: str):
        return getattr(self.real(), name)


def _pyqtgraph_menu() -> type:
    """pyqtgraph's own menu class, from its own module."""
    return importlib.import_module("pyqtgraph.graphicsItems.ViewBox.ViewBoxMenu").ViewBoxMenu


def install() -> bool:
    """Make every ViewBox built from now on get a ``LazyViewBoxMenu``. Returns False (and changes
    nothing) where pyqtgraph's ViewBox module has no ``ViewBoxMenu`` to replace."""
    # the module (the package's attribute of the same name is the class)
    module = importlib.import_module("pyqtgraph.graphicsItems.ViewBox.ViewBox")
    if getattr(module, "ViewBoxMenu", None) is None:
        return False
    module.ViewBoxMenu = LazyViewBoxMenu
    return True
