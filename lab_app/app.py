"""MainWindow: the tabs from the registry, menus, status bar (device, worker, progress, cancel),
drag-and-drop routing by file kind, and persistent settings. The status bar, Run > Run on (Ray) and
File > Export live in mixins beside it (lab_app/qt/window_status.py, window_cluster.py, window_export.py).

Start-up is lazy: the window paints first with a placeholder per tab (lab_app/qt/lazy_tabs.py);
torch is imported and the current tab built right after, and every other tab the first time it is
shown (or a file is routed to it). ``tab_by_id`` holds the built tabs; ``tab(id)`` builds on demand."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from PySide6.QtCore import QByteArray, QEvent, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QMainWindow,
    QMessageBox,
    QTabWidget,
)

from lab_app import __version__
from lab_app.core.device import (
    DEVICE_CHOICES,
    apply_thread_policy,
    choose_device,
    cuda_available,
    mps_available,
    runtime_info,
)
from lab_app.core.procpool import ProcessBackend
from lab_app.io import file_kind
from lab_app.io.kinds import known_extensions
from lab_app.qt import turn_budget
from lab_app.qt.lazy_tabs import BuiltTabs, ImportAhead, TabPlaceholder, label, log_first_paint
from lab_app.qt.settings import add_recent_file, open_settings, recent_files, runs_db_path
from lab_app.qt.staged import StagedBuild
from lab_app.qt.tab_base import LabContext, TopicTab
from lab_app.qt.window_cluster import ClusterMixin
from lab_app.qt.window_export import ExportMixin
from lab_app.qt.window_status import StatusBarMixin
from lab_app.qt.window_tabs import TabBuildMixin
from lab_app.qt.worker import TaskRunner
from lab_app.registry import TOPICS, tab_for_kind

log = logging.getLogger(__name__)


class MainWindow(TabBuildMixin, StatusBarMixin, ClusterMixin, ExportMixin, QMainWindow):
    def __init__(self, device_pref: str | None = None, seed: int = 0, start_tab: str | None = None,
                 demo: bool = True, train_process: bool | None = None):
        super().__init__()
        self.setWindowTitle("Visual Deep-Learning Lab")
        self.setAcceptDrops(True)
        self.settings = open_settings()
        self.device_pref = device_pref or str(self.settings.value("device", "auto"))
        # The device is chosen (which imports torch) once the window has painted: see _start_torch.
        self.ctx = LabContext(device=None, seed=seed, runs_db=runs_db_path())
        self._torch_started = False
        self.autostart_demo = demo
        self._closed = False

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tab_by_id: dict[str, TopicTab] = BuiltTabs(self._build_tab)
        self._building: set[str] = set()
        self._staged: dict[str, StagedBuild] = {}    # tabs being built in slices
        self._active_runner: dict[TopicTab, TaskRunner] = {}  # what the status bar shows, per tab
        self._last_status: dict[TopicTab, str] = {}  # each tab's latest status line, shown when it is
        #                                              switched to (the bar speaks for the tab on screen)
        self._imports = ImportAhead(self)
        self._imports.ready.connect(self._on_imported, Qt.ConnectionType.QueuedConnection)
        for spec in TOPICS:
            placeholder = TabPlaceholder(spec.title)
            placeholder.wanted.connect(lambda tab_id=spec.id: self._import_ahead(tab_id))
            self.tabs.addTab(placeholder, label(spec.title))
        self.setCentralWidget(self.tabs)
        from lab_app.qt.cluster import ClusterLink

        self.cluster = ClusterLink(self)
        self.cluster.connected.connect(self._on_cluster_joined)
        self.cluster.failed.connect(self._on_cluster_failed)
        # Training runs in a worker process on this computer (lab_app/core/procpool.py) unless the
        # user turned it off (Run > Train in a separate process) or LAB_TRAIN_PROCESS=0 says so.
        if train_process is None:
            env = os.environ.get("LAB_TRAIN_PROCESS", "")
            saved = self.settings.value("train_process", "true")
            train_process = env != "0" if env else saved in (True, "true")
        self.procs = ProcessBackend() if train_process else None
        if self.procs is not None:
            # started now, not at the first paint: the first tab's first run waits for the worker's
            # imports (seconds), and they run on the other core while this window is built
            self.procs.start()
        self._build_runs_dock()
        self._build_status_bar()
        self._build_menus()
        self.tabs.currentChanged.connect(self._on_tab_changed)

        geometry = self.settings.value("geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1400, 860)
        wanted = start_tab or str(self.settings.value("last_tab", TOPICS[0].id))
        ids = [spec.id for spec in TOPICS]
        if wanted in ids:
            self.tabs.setCurrentIndex(ids.index(wanted))
        QTimer.singleShot(0, lambda: self._on_tab_changed(self.tabs.currentIndex()))
        # "window painted" in the log at the first frame: benchmarks/startup.py waits for it
        self._first_paint = log_first_paint(self, self._on_first_paint)

    def _on_first_paint(self) -> None:
        log.info("window painted")

    # --- building -------------------------------------------------------------------------------------------
    def _build_runs_dock(self) -> None:
        from PySide6.QtWidgets import QDockWidget

        from lab_app.qt.runs_panel import RunsPanel

        self.runs_panel = RunsPanel(self.ctx.runs_db)
        self.runs_panel.message.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.runs_panel.open_checkpoint.connect(lambda path: self.open_files([path]))
        self.runs_dock = QDockWidget("Runs", self)
        self.runs_dock.setObjectName("runs_dock")
        self.runs_dock.setWidget(self.runs_panel)
        self.runs_dock.setToolTip("Every training run of the current tab: overlay, compare, export")
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.runs_dock)
        self.runs_dock.hide()
        self.runs_dock.visibilityChanged.connect(lambda visible: visible and self._refresh_runs(None, False))

    def _refresh_runs(self, tab: TopicTab | None, busy: bool) -> None:
        """The Runs dock follows the current tab, and shows a run once it has ended."""
        tab = tab or self._current_built()
        if tab is not None and not busy and tab is self._current_built() and self.runs_dock.isVisible():
            self.runs_panel.set_tab(tab.tab_id)

    def training_backend(self):
        """Where training tasks go: the Ray cluster joined, else the worker process, else None (threads)."""
        return self.cluster.backend or self.procs

    def set_train_process(self, on: bool) -> None:
        """Run > Train in a separate process: applies to runs started from now on."""
        self.settings.setValue("train_process", "true" if on else "false")
        if self.process_action.isChecked() != on:
            blocked = self.process_action.blockSignals(True)
            self.process_action.setChecked(on)
            self.process_action.blockSignals(blocked)
        if on and self.procs is None:
            self.procs = ProcessBackend()
        elif not on and self.procs is not None:
            procs, self.procs = self.procs, None
            threading.Thread(target=procs.close, kwargs={"wait_for_runs": True}, name="lab-procpool-close",
                             daemon=True).start()   # runs under way finish in it
        backend = self.training_backend()
        for tab in self.tab_by_id.values():
            for r in tab.runners():
                r.backend = backend
        self.statusBar().showMessage("training runs in a separate process" if on else
                                     "training runs in this process (threads)", 5000)

    def _start_torch(self) -> None:
        """Import torch (through the device choice) and set its thread policy: once, before the
        first tab is built or the device menu opens."""
        if self._torch_started:
            return
        self._imports.wait()  # the UI thread imports only once no import runs beside it
        self._torch_started = True
        apply_thread_policy()
        try:
            device = choose_device(self.device_pref)
        except ValueError as e:
            log.warning("%s; using auto", e)
            self.device_pref, device = "auto", choose_device("auto")
        self.ctx.device = device
        self._update_device_label()

    def current_id(self) -> str:
        return TOPICS[self.tabs.currentIndex()].id

    def _current_built(self) -> TopicTab | None:
        """The current tab if it is built (checks that must not build it)."""
        return self.tab_by_id.get(self.current_id())

    def _build_menus(self) -> None:
        mb = self.menuBar()
        file_menu = mb.addMenu("&File")
        a = file_menu.addAction("&Open...", self.open_dialog)
        a.setShortcut(QKeySequence.StandardKey.Open)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self._refresh_recent_menu()
        file_menu.addSeparator()
        a = file_menu.addAction("&Export current view as PNG...", self.export_dialog)
        a.setShortcut(QKeySequence("Ctrl+E"))
        file_menu.addAction("Export &window as PNG...", self.export_window_dialog)
        file_menu.addSeparator()
        a = file_menu.addAction("&Quit", self.close)
        a.setShortcut(QKeySequence.StandardKey.Quit)

        view_menu = mb.addMenu("&View")
        for i, spec in enumerate(TOPICS):
            act = view_menu.addAction(label(spec.title), lambda i=i: self.tabs.setCurrentIndex(i))
            if i < 10:  # Ctrl+1 .. Ctrl+9, then Ctrl+0 for the tenth
                act.setShortcut(QKeySequence(f"Ctrl+{(i + 1) % 10}"))
        view_menu.addSeparator()
        a = self.runs_dock.toggleViewAction()
        a.setText("&Runs of this tab")
        a.setShortcut(QKeySequence("Ctrl+R"))
        view_menu.addAction(a)

        run_menu = mb.addMenu("&Run")
        a = run_menu.addAction("&Pause / resume", self.toggle_pause)
        a.setShortcut(QKeySequence("Ctrl+P"))
        a = run_menu.addAction("&Cancel", self.cancel_current)
        a.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        where = run_menu.addMenu("Run &on")
        where_group = QActionGroup(self)
        self.local_action = QAction("This computer", self, checkable=True, checked=True)
        self.local_action.setToolTip("Train here (the default)")
        self.local_action.triggered.connect(lambda _=False: self.run_here())
        self.cluster_action = QAction("Ray cluster...", self, checkable=True)
        self.cluster_action.setToolTip("Train on a Ray cluster (a GPU server); this window draws the runs")
        self.cluster_action.triggered.connect(lambda _=False: self.ask_cluster())
        for act in (self.local_action, self.cluster_action):
            where_group.addAction(act)
            where.addAction(act)
        self.process_action = QAction("Train in a separate &process", self, checkable=True,
                                      checked=self.procs is not None)
        self.process_action.setToolTip("Training runs in a worker process, so the window stays smooth while "
                                       "it trains; off: in threads of this process")
        self.process_action.toggled.connect(self.set_train_process)
        run_menu.addAction(self.process_action)
        self.device_menu = run_menu.addMenu("&Device")
        self._device_group = QActionGroup(self)
        self._device_actions: dict[str, QAction] = {}
        for name in DEVICE_CHOICES:
            act = QAction(name, self, checkable=True)
            act.setChecked(name == self.device_pref)
            act.triggered.connect(lambda _=False, n=name: self.set_device(n))
            self._device_group.addAction(act)
            self.device_menu.addAction(act)
            self._device_actions[name] = act
        # Which devices exist is torch's answer: asked when the menu first opens, not at start-up.
        self.device_menu.aboutToShow.connect(self._mark_available_devices)

        help_menu = mb.addMenu("&Help")
        help_menu.addAction("&About", self.show_about)

    def _mark_available_devices(self) -> None:
        self._start_torch()
        available = {"auto": True, "cpu": True, "cuda": cuda_available(), "mps": mps_available()}
        for name, act in self._device_actions.items():
            act.setText(name if available[name] else f"{name} (not available)")
            act.setEnabled(available[name])
            act.setChecked(name == self.device_pref)

    # --- tabs and runs ----------------------------------------------------------------------------------
    def current_tab(self) -> TopicTab:
        """The tab on screen (built now if it was not yet)."""
        return self.tab(self.current_id())

    def _on_tab_changed(self, index: int) -> None:
        if index < 0:
            return
        self._progress_pending = None   # the previous tab's progress waiting to be drawn goes
        self.settings.setValue("last_tab", TOPICS[index].id)
        tab = self._current_built()
        if tab is None:  # its placeholder asks for it once painted
            self.statusBar().clearMessage()  # the previous tab's line goes: the bar speaks for this one
            for w in (self.progress, self.pause_button, self.cancel_button):
                w.hide()
            self.worker_label.setText("idle")
            return
        self.stagger_if_unshown(tab)   # shown now, painted at the next turns: not yet too late
        self._activate(tab)

    def _activate(self, tab: TopicTab) -> None:
        with turn_budget.drawing():   # a demo's start and the status bar's widgets: the turn's work too
            if tab in self._last_status:     # the previous tab's line goes: the bar speaks for this one
                self.statusBar().showMessage(self._last_status[tab], 8000)
            else:
                self.statusBar().clearMessage()
            self._refresh_runs(tab, False)
            if self.autostart_demo:
                tab.ensure_demo()
            self._on_busy(tab)

    def event(self, event) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.UpdateRequest:
            # the window paints every widget that changed: what is drawn after it in this turn (a
            # plot's queued repaint, a 3D frame, a runner's drain) waits when it spent the budget
            with turn_budget.drawing():
                return super().event(event)
        return super().event(event)

    def set_device(self, name: str) -> None:
        self._start_torch()
        try:
            device = choose_device(name)
        except ValueError as e:
            QMessageBox.warning(self, "Device", str(e))
            return
        self.device_pref = name
        self.settings.setValue("device", name)
        self.ctx.device = device
        for tab in self.tab_by_id.values():  # the built ones; the others are built with ctx.device
            tab.set_device(device)
        self._update_device_label()
        self.statusBar().showMessage(f"new runs use {device}", 5000)

    # --- files -----------------------------------------------------------------------------------------
    def open_files(self, paths) -> bool:
        """Route each file to the tab that reads its kind (the current tab if it does). Returns True
        if at least one file was handed to a tab."""
        handed = False
        for raw in paths:
            path = Path(raw)
            if path.is_dir():
                self._refuse(f"{path.name}: is a folder; drop a file (a cloud, image or text file)")
                continue
            kind = file_kind(path)
            if kind == "checkpoint":     # routed by its header: the tab it was saved by
                handed = self._open_checkpoint(path) or handed
                continue
            spec = tab_for_kind(kind, prefer=self.current_id()) if kind else None
            if spec is None:
                kinds = ", ".join(sorted({e for exts in known_extensions().values() for e in exts}))
                self._refuse(f"{path.name}: the lab does not know this kind of file "
                             f"({path.suffix or 'no extension'}). It opens {kinds}.")
                continue
            tab = self.tab(spec.id)  # built first if it was not yet
            self.tabs.setCurrentWidget(tab)
            tab.demo_started = True
            tab.open_path(path)
            add_recent_file(self.settings, path)
            handed = True
        self._refresh_recent_menu()
        return handed

    def _open_checkpoint(self, path: Path) -> bool:
        """Open a checkpoint in the tab its header names (only what names the tab is read here)."""
        from lab_app.io.checkpoint import checkpoint_tab
        from lab_app.io.errors import LoadError

        try:
            tab_id = checkpoint_tab(path)
        except LoadError as e:
            self._refuse(str(e))
            return False
        spec = next((t for t in TOPICS if t.id == tab_id), None)
        if spec is None:
            self._refuse(f"{path.name}: a checkpoint of the {tab_id or 'unknown'} tab, which this lab "
                         "does not have")
            return False
        tab = self.tab(spec.id)
        self.tabs.setCurrentWidget(tab)
        tab.demo_started = True
        tab.open_checkpoint(path)
        add_recent_file(self.settings, path)
        return True

    def _refuse(self, message: str) -> None:
        self.current_tab().banner.show_message(message, "error")
        self.statusBar().showMessage(message, 10000)

    def open_dialog(self) -> None:
        exts = " ".join(f"*{e}" for exts in known_extensions().values() for e in exts)
        paths, _ = QFileDialog.getOpenFileNames(self, "Open", "",
                                                f"Files the lab reads ({exts});;All files (*)")
        if paths:
            self.open_files(paths)

    def _refresh_recent_menu(self) -> None:
        self.recent_menu.clear()
        files = recent_files(self.settings)
        for f in files:
            self.recent_menu.addAction(f, lambda f=f: self.open_files([f]))
        self.recent_menu.setEnabled(bool(files))

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt override
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_files(paths)

    def show_about(self) -> None:
        self._start_torch()
        QMessageBox.about(self, "About the Visual Deep-Learning Lab", about_text(self.ctx.device))

    # --- shutdown ----------------------------------------------------------------------------------------
    def shutdown(self, timeout: float = 15.0) -> bool:
        """Cancel every built tab's work and wait for it. True if every thread ended."""
        ok = True
        for tab in list(self.tab_by_id.values()):
            ok = tab.shutdown(timeout) and ok
        return ok

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        self._closed = True
        for build in self._staged.values():   # tabs half built: their construction stops here
            build.abandon()
        self._staged.clear()
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("last_tab", self.current_id())
        self.settings.sync()
        if not self.shutdown():
            log.warning("some task threads did not stop in time")
        self.runs_panel.close_store()
        if self.cluster.backend is not None:   # the warm worker on the cluster goes with the window
            self.cluster.backend.close()
        if self.procs is not None:
            self.procs.close()
        event.accept()


def about_text(device) -> str:
    info = runtime_info()
    lines = [f"<b>Visual Deep-Learning Lab</b> {__version__}", "",
             "Small models trained live on your own data, drawn while they learn.", "",
             f"Device for new runs: <b>{device}</b>"] + info.lines()
    try:
        import open3d
        import pyqtgraph
        import PySide6

        lines.append(f"PySide6 {PySide6.__version__}, pyqtgraph {pyqtgraph.__version__}, "
                     f"Open3D {open3d.__version__}")
    except ImportError:
        pass
    return "<br>".join(lines)
