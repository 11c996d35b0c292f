"""The window's tabs coming into being: imported ahead off the UI thread once a placeholder is on
screen, built a slice per event-loop turn (lab_app/qt/staged.py), or at once when a caller needs the
tab now, then put in the placeholder's place with the window's signals connected.

A mixin of ``MainWindow`` (it uses ``tabs``, ``tab_by_id``, ``ctx``, ``_imports``, ``_staged``,
``_building``, ``_closed``, ``_start_torch``, ``training_backend``, ``_activate`` and the status bar
handlers)."""

from __future__ import annotations

import logging
import time

from PySide6.QtCore import QTimer

from lab_app.qt import turn_budget
from lab_app.qt.first_paint import stagger_first_paint, stagger_on_first_show
from lab_app.qt.gc_guard import settle_long_lived
from lab_app.qt.lazy_tabs import TabPlaceholder, label, swap_page
from lab_app.qt.staged import StagedBuild
from lab_app.qt.tab_base import TopicTab
from lab_app.registry import TOPICS, topic


def install_plot_patches() -> None:
    """Plots built from now on make their context menus when first opened (lazy_menus.py) and settle
    their ranges before a repaint (scene_settle.py)."""
    # pyqtgraph: not before the first paint
    from lab_app.qt.widgets import lazy_menus, scene_settle

    lazy_menus.install()
    scene_settle.install()


#: Turns a built tab waits at most for one that has drawing budget left before it takes its place.
INSTALL_WAITS = 3

#: Imported by a tab's build (not by its module): the first build would import them on the UI thread.
BUILD_IMPORTS = ("lab_app.qt.widgets.param_panel",)

log = logging.getLogger(__name__)


class TabBuildMixin:
    def _build_tab(self, tab_id: str) -> TopicTab:
        """Build tab ``tab_id`` now (the rest of it, when its build in slices is under way) and put it
        in its placeholder's place (the current tab stays current)."""
        spec = topic(tab_id)  # KeyError for an unknown id
        staged = self._staged.get(tab_id)
        if tab_id in self._building or (staged is not None and staged.running):
            raise RuntimeError(f"tab {tab_id!r} asked for while it is being built")
        self._start_torch()
        self._imports.wait()
        install_plot_patches()
        t0 = time.perf_counter()
        if staged is not None:
            del self._staged[tab_id]
            tab = staged.finish()
        else:
            self._building.add(tab_id)
            try:
                tab = spec.load_class()(self.ctx)
            finally:
                self._building.discard(tab_id)
        return self._install_tab(tab_id, tab, time.perf_counter() - t0)

    def _build_in_slices(self, tab_id: str) -> None:
        """Build tab ``tab_id`` a slice per event-loop turn (lab_app/qt/staged.py, StagedBuild):
        the window keeps drawing while the tab's widgets are made; it takes its place when done."""
        if self._closed or tab_id in self.tab_by_id or tab_id in self._staged:
            return
        self._start_torch()
        self._imports.wait()
        install_plot_patches()
        build = StagedBuild(lambda: topic(tab_id).load_class()(self.ctx), self)
        self._staged[tab_id] = build
        t0 = time.perf_counter()
        build.built.connect(lambda tab: self._staged_built(tab_id, build, tab, t0))
        build.failed.connect(lambda message: self._staged_failed(tab_id, build, message))
        build.start()

    def _staged_built(self, tab_id: str, build: StagedBuild, tab: TopicTab, t0: float,
                      waited: int = 0) -> None:
        if self._staged.get(tab_id) is not build:   # finished by _build_tab, which installs it
            return
        if turn_budget.over() and not self._closed and waited < INSTALL_WAITS:
            # the last slice spent the turn: the tab takes its place (a layout of the whole page,
            # its demo's start) in the next one, as the slices themselves wait for the next turn
            QTimer.singleShot(0, self, lambda: self._staged_built(tab_id, build, tab, t0, waited + 1))
            return
        del self._staged[tab_id]
        if self._closed:
            tab.deleteLater()
            return
        self._install_tab(tab_id, tab, time.perf_counter() - t0, build)

    def _staged_failed(self, tab_id: str, build: StagedBuild, message: str) -> None:
        if self._staged.get(tab_id) is not build:   # _build_tab raises it
            return
        del self._staged[tab_id]
        text = f"The {topic(tab_id).title} tab could not be built: {message}"
        self.statusBar().showMessage(text)
        placeholder = self.tabs.widget(TOPICS.index(topic(tab_id)))
        if isinstance(placeholder, TabPlaceholder):
            placeholder.show_error(text)

    def _install_tab(self, tab_id: str, tab: TopicTab, seconds: float,
                     build: StagedBuild | None = None) -> TopicTab:
        # pyqtgraph: not before the first paint
        from lab_app.qt.widgets.axis_cache import cache_axes

        t_install = time.perf_counter()
        spec = topic(tab_id)
        dict.__setitem__(self.tab_by_id, tab_id, tab)
        cache_axes(tab)
        tab.status_message.connect(lambda text, t=tab: self._tab_status(t, text))
        for r in tab.runners():
            r.started.connect(lambda label, t=tab, r=r: self._on_started(t, r, label))
            r.progress.connect(lambda ev, t=tab, r=r: self._on_progress(t, r, ev))
            r.busy_changed.connect(lambda busy, t=tab: self._on_busy(t))
            r.paused_changed.connect(lambda paused, why, t=tab, r=r: self._on_paused(t, r, paused, why))
            r.errored.connect(lambda msg, t=tab: self._tab_status(t, msg, 10000))
            r.busy_changed.connect(lambda busy, t=tab: self._refresh_runs(t, busy))
            r.backend = self.training_backend()   # the cluster joined, else the worker process
        index = TOPICS.index(spec)
        tab.first_paints_pending = True   # its plots' first paints one per turn, when it is first shown
        if index == self.tabs.currentIndex():   # that is now
            self.stagger_if_unshown(tab)
        swap_page(self.tabs, index, tab, label(spec.title))
        if build is None:
            log.info("built tab %s (%.2f s)", tab_id, seconds)
        else:
            log.info("built tab %s in %d slices over %.2f s (longest %.0f ms)", tab_id, build.slices, seconds,
                     1000 * build.longest_slice_s)
        turn_budget.charge(time.perf_counter() - t_install)
        if index == self.tabs.currentIndex():
            if build is not None and turn_budget.over():   # the page's layout spent the turn
                QTimer.singleShot(0, self, lambda: self._activate_if_current(tab))
            else:
                self._activate(tab)
        settle_long_lived()   # the tab's objects live as long as the window: out of full gc passes
        return tab

    def _activate_if_current(self, tab: TopicTab) -> None:
        if not self._closed and self._current_built() is tab:   # else activated when it is shown again
            self._activate(tab)

    def stagger_if_unshown(self, tab: TopicTab) -> None:
        """``tab`` is being shown for the first time (built now on screen, or earlier while another tab
        was): its plots' first paints one per event-loop turn."""
        if tab.first_paints_pending:
            from lab_app.qt.widgets.axis_cache import plots_of

            tab.first_paints_pending = False
            stagger_first_paint(plots_of(tab))
            stagger_on_first_show(tab, plots_of)   # and those of its sub-tabs' pages, when shown

    def _import_ahead(self, tab_id: str) -> None:
        """A placeholder is on screen: import torch, its tab's module, the widgets tabs import while
        they build (the config panel and superqt under it) and what its first result imports
        (``TopicSpec.preload``) off the UI thread, then build the tab in slices (``_on_imported``)."""
        if tab_id not in self.tab_by_id:
            spec = topic(tab_id)
            self._imports.start(tab_id, ["torch", spec.tab.partition(":")[0], *BUILD_IMPORTS, *spec.preload])

    def _on_imported(self, tab_id: str) -> None:
        self._imports.done(tab_id)
        # torch and the tab's modules: a few hundred thousand objects that live as long as the
        # process. Frozen now, before the tab's build, or the collector's first full pass after them
        # traverses them all on the UI thread while the tab is being shown.
        settle_long_lived()
        self._build_in_slices(tab_id)

    def tab(self, tab_id: str) -> TopicTab:
        """Tab ``tab_id``, built now if it was not yet."""
        return self.tab_by_id[tab_id]
