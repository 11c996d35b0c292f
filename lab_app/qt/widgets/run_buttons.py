"""RunButtons: the Train / Pause / Stop row of a tab that trains, bound to its TaskRunner. Pause and
Stop are enabled while the runner is busy; Pause reads Resume while the run is paused (by the user or
by the runner, e.g. on a NaN loss)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QHBoxLayout, QPushButton, QWidget

from lab_app.qt.worker import TaskRunner


class RunButtons(QWidget):
    def __init__(self, runner: TaskRunner, train: Callable[[], None], train_tip: str,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.runner = runner
        self.train_button = QPushButton("Train")
        self.train_button.setToolTip(train_tip)
        self.train_button.clicked.connect(train)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setToolTip("Pause the run (Resume goes on from where it stopped)")
        self.pause_button.clicked.connect(self._toggle_pause)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop the run (its curves stay)")
        self.stop_button.clicked.connect(runner.cancel)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        for b in (self.train_button, self.pause_button, self.stop_button):
            row.addWidget(b)
        runner.busy_changed.connect(self.update_state)
        runner.paused_changed.connect(lambda *_: self.update_state())
        self.update_state()

    def _toggle_pause(self) -> None:
        if self.runner.paused:
            self.runner.resume()
        else:
            self.runner.pause()

    def update_state(self, *_) -> None:
        busy = self.runner.busy
        self.pause_button.setEnabled(busy)
        self.stop_button.setEnabled(busy)
        self.pause_button.setText("Resume" if self.runner.paused else "Pause")
