"""The window's status bar: the current tab's status line, its active runner's label, progress,
Pause and Cancel, and the device label.

A mixin of ``MainWindow`` (it uses ``_current_built``, ``current_tab``, ``ctx``, ``device_pref``,
``cluster``, ``_last_status`` and ``_active_runner``). The status bar speaks for the tab on screen:
a background tab's messages and progress wait until it is shown again."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton

if TYPE_CHECKING:
    from lab_app.qt.tab_base import TopicTab
    from lab_app.qt.worker import TaskRunner


#: The status bar's progress and rate are redrawn at most this often while a run reports.
PROGRESS_EVERY_MS = 100


class StatusBarMixin:
    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.device_label = QLabel()
        self.device_label.setToolTip("Device new runs use (Run > Device)")
        self.worker_label = QLabel("idle")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.pause_button = QPushButton("Pause")
        self.pause_button.setToolTip("Pause or resume the current tab's run (Ctrl+P)")
        self.pause_button.clicked.connect(self.toggle_pause)
        self.pause_button.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the current tab's run (Esc)")
        self.cancel_button.clicked.connect(self.cancel_current)
        self.cancel_button.hide()
        for w in (self.worker_label, self.progress, self.pause_button, self.cancel_button, self.device_label):
            sb.addPermanentWidget(w)
        from PySide6.QtCore import QTimer

        self._progress_pending = None
        self._progress_timer = QTimer(self)
        self._progress_timer.setInterval(PROGRESS_EVERY_MS)
        self._progress_timer.timeout.connect(self._progress_tick)
        self._update_device_label()

    def _tab_status(self, tab: TopicTab, text: str, timeout_ms: int = 8000) -> None:
        """A tab's status line, shown only while that tab is the one on screen (a background tab
        finishing its training should not overwrite what the user is looking at); kept, and shown
        again when the user switches back to the tab."""
        self._last_status[tab] = text
        if tab is self._current_built():
            self.statusBar().showMessage(text, timeout_ms)

    def active_runner(self, tab: TopicTab | None = None) -> TaskRunner:
        """The runner the status bar (progress, Pause, Cancel) is about: the tab's most recently
        started busy runner, else its main one."""
        tab = tab or self.current_tab()
        runner = self._active_runner.get(tab)
        if runner is None or not runner.busy:
            runner = next((r for r in reversed(tab.runners()) if r.busy), tab.runner)
        return runner

    def _on_started(self, tab: TopicTab, runner: TaskRunner, label: str) -> None:
        self._active_runner[tab] = runner
        if tab is self._current_built():
            self.worker_label.setText(label or "working")

    def _on_progress(self, tab: TopicTab, runner: TaskRunner, ev) -> None:
        """Progress of the tab on screen, drawn at most every PROGRESS_EVERY_MS: QProgressBar.setValue
        repaints at once (a synchronous paint and flush to the display), and a runner delivers every
        step's Progress (about 7% of the UI thread's busy samples in a py-spy profile of the VAE tab)."""
        if tab is not self._current_built() or runner is not self.active_runner(tab):
            return
        self._progress_pending = (runner, ev)
        if not self._progress_timer.isActive():
            self._show_progress()       # the first at once, then at the timer's pace
            self._progress_timer.start()

    def _progress_tick(self) -> None:
        if getattr(self, "_progress_pending", None) is None:
            self._progress_timer.stop()
        else:
            self._show_progress()

    def _show_progress(self) -> None:
        runner, ev = self._progress_pending
        self._progress_pending = None
        if not runner.busy:
            return
        if ev.total > 0:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * ev.fraction))
            self.progress.setFormat(f"{ev.step}/{ev.total}")
        else:
            self.progress.setRange(0, 0)  # busy indicator
        rate = runner.steps_per_s
        text = ev.text or runner.label or "working"
        if rate > 0:
            text += f"  ·  {rate:,.1f} steps/s"
        self.worker_label.setText(text)

    def _on_busy(self, tab: TopicTab) -> None:
        if tab is not self._current_built():
            return
        self._progress_pending = None   # what was waiting belongs to the run that changed
        runner = self.active_runner(tab)
        busy = runner.busy
        for w in (self.progress, self.pause_button, self.cancel_button):
            w.setVisible(busy)
        if busy:
            self.progress.setRange(0, 0)
            self.worker_label.setText(runner.label or "working")
            self.pause_button.setText("Resume" if runner.paused else "Pause")
        else:
            self.worker_label.setText("idle")

    def _on_paused(self, tab: TopicTab, runner: TaskRunner, paused: bool, why: str) -> None:
        if tab is self._current_built() and runner is self.active_runner(tab):
            self.pause_button.setText("Resume" if paused else "Pause")
            if paused:
                self.worker_label.setText("paused" + (f": {why}" if why and why != "paused" else ""))

    def toggle_pause(self) -> None:
        r = self.active_runner()
        if r.paused:
            r.resume()
        else:
            r.pause()

    def cancel_current(self) -> None:
        self.active_runner().cancel()
        self.statusBar().showMessage("cancelled", 4000)

    def _update_device_label(self) -> None:
        shown = self.ctx.device if self.ctx.device is not None else self.device_pref
        text = f"device: {shown}" + (" (auto)" if self.device_pref == "auto" else "")
        backend = getattr(getattr(self, "cluster", None), "backend", None)
        if backend is not None and backend.info is not None:
            text += f"  ·  training on {backend.info.describe()}"
        self.device_label.setText(text)
