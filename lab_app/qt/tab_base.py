"""TopicTab: what every tab has (runner, error banner, idea panel, demo, file drops, export).

A tab subclasses this, builds its layout, and implements ``start_demo``, ``open_path`` and
``views``, and ``open_checkpoint`` when it has models to load. Its id, title and accepted file kinds
come from its line in lab_app/registry.py (``self.spec``); the class does not repeat them. It emits
``demo_ready`` once its default demo has drawn its result (``demo_done``; the ``--screenshot`` mode
waits for it). ``has_result`` says a real result is on screen: set by ``demo_ready``, or earlier by
``result_shown`` where the demo goes on after its result is on screen (parts in a sub-tab the person
is not looking at, a slower view of the same result that replaces it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from lab_app.qt.banner import MessageBanner
from lab_app.qt.worker import TaskRunner
from lab_app.registry import TopicSpec, spec_for_class

if TYPE_CHECKING:  # torch costs a second at start-up; the window paints before any tab needs it
    import torch


@dataclass
class LabContext:
    """What the window shares with its tabs."""

    device: torch.device
    seed: int = 0
    runs_db: Path | None = None  # the run store (lab_app/core/runs.py); None: runs are not recorded


class TopicTab(QWidget):
    demo_ready = Signal()
    result_shown = Signal()   # a real result is on screen, before the whole demo is done
    status_message = Signal(str)

    def __init__(self, ctx: LabContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.banner = MessageBanner()
        self._runners: list[tuple[TaskRunner, bool]] = []
        self.runner = self.add_runner()
        self.demo_started = False
        self.has_result = False  # set once the tab shows a real result
        self.first_paints_pending = False   # not shown since built: its plots paint one per turn when shown
        self.demo_done = False   # set once its demo is done (demo_ready)
        self.demo_ready.connect(self._mark_done)
        self.result_shown.connect(self._mark_result)

    # --- from the registry ---------------------------------------------------------------------------
    @property
    def spec(self) -> TopicSpec:
        return spec_for_class(type(self))

    @property
    def tab_id(self) -> str:
        return self.spec.id

    @property
    def title(self) -> str:
        return self.spec.title

    @property
    def accepts(self) -> tuple[str, ...]:
        return self.spec.accepts

    # --- to implement -------------------------------------------------------------------------------
    def start_demo(self) -> None:
        """Start the embedded default (called the first time the tab is shown)."""
        self.demo_started = True

    def open_path(self, path: Path) -> None:
        """Open a file of one of the kinds in ``accepts``."""
        raise NotImplementedError

    def open_checkpoint(self, path: Path) -> None:
        """Load a checkpoint of this tab (the window routes a dropped ``.safetensors`` file here by the
        tab named in its header). Load it in a task, not here: a wrong file gets a message naming it
        and the model in use stays."""
        self.banner.show_message(f"{Path(path).name}: the {self.title or self.tab_id} tab cannot load "
                                 "checkpoints", "error")

    def views(self) -> dict[str, QWidget]:
        """Exportable views, main view first: name -> widget with ``export_png(path)``."""
        return {}

    def run_config(self) -> Any:
        """The config to record in run cards (a dataclass or dict)."""
        return None

    # --- shared -------------------------------------------------------------------------------------
    def ensure_demo(self) -> None:
        if not self.demo_started:
            self.demo_started = True
            self.start_demo()

    def add_runner(self, device: torch.device | str | None = None) -> TaskRunner:
        """Another TaskRunner for work that must not cancel the main one (latest-wins is per runner:
        training keeps going while a dropped file is classified). Its errors and warnings reach the
        banner, the window's status bar follows it, and ``shutdown`` stops it. ``device`` None means
        the lab's device, which Run > Device changes; a fixed device (e.g. "cpu") stays fixed."""
        follows = device is None
        runner = TaskRunner(self, device=self.ctx.device if follows else device)
        runner.recorder_factory = lambda label, r=runner: self._make_recorder(r, label)
        runner.errored.connect(lambda msg: self.banner.show_message(msg, "error"))
        runner.message.connect(self._on_message)
        self._runners.append((runner, follows))
        return runner

    def _make_recorder(self, runner: TaskRunner, label: str):
        """A RunRecorder for a run this tab starts (it records only if the run reports metrics)."""
        if self.ctx.runs_db is None:
            return None
        from lab_app.core.runcard import make_run_card
        from lab_app.core.runs import RunRecorder

        config = self.run_config()
        seed = getattr(config, "seed", None) if config is not None else None
        card = make_run_card(self.tab_id, config, seed=self.ctx.seed if seed is None else seed,
                             device=str(runner.device))
        card["label"] = label
        return RunRecorder(self.ctx.runs_db, self.tab_id, card)

    def note_checkpoint_saved(self, path) -> None:
        """Record ``path`` as the checkpoint of this tab's newest run (Runs dock: Open checkpoint)."""
        if self.ctx.runs_db is None:
            return
        from lab_app.core.runs import RunStore, RunStoreError

        try:
            store = RunStore(self.ctx.runs_db)
        except (RunStoreError, OSError):
            return
        try:
            newest = store.runs(self.tab_id)
            if newest:
                store.set_checkpoint(newest[0].id, Path(path).resolve())
        finally:
            store.close()

    def runners(self) -> list[TaskRunner]:
        return [r for r, _ in self._runners]

    def set_device(self, device: torch.device) -> None:
        self.ctx.device = device
        for runner, follows in self._runners:
            if follows:
                runner.device = device

    def shutdown(self, timeout: float = 10.0) -> bool:
        ok = True
        for runner in self.runners():
            ok = runner.shutdown(timeout) and ok
        return ok

    def _mark_result(self) -> None:
        self.has_result = True

    def _mark_done(self) -> None:
        self.demo_done = self.has_result = True

    def _on_message(self, text: str, level: str) -> None:
        self.status_message.emit(text)
        if level == "warning":
            self.banner.show_message(text, "warning")

    def place_side_and_views(self, side: QWidget, views: QWidget, side_width: int = 380) -> None:
        """The usual tab layout: the scrollable side panel on the left; on the right the banner
        above the views."""
        from lab_app.qt.layout import side_panel_split

        right = QWidget()
        column = QVBoxLayout(right)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.banner)
        column.addWidget(views, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(side_panel_split(side, right, side_width))

    def config_column(self, idea: str, config, box_title: str) -> tuple[QWidget, QVBoxLayout]:
        """The side column of a tab that trains one config: the idea panel, ``self.dataset_label``
        (what the run trains on), and ``self.params``, a ParamPanel of ``config`` in a group box whose
        live knobs call ``self._live_changed(name, value)`` and whose restart knobs start a new run
        (``self.start_training()``). Returns the column's widget and layout for the rest."""
        from PySide6.QtWidgets import QGroupBox

        from lab_app.qt.widgets.param_panel import ParamPanel

        side = QWidget()
        col = QVBoxLayout(side)
        col.addWidget(self.idea_label(idea))
        self.dataset_label = QLabel("-")
        self.dataset_label.setWordWrap(True)
        col.addWidget(self.dataset_label)
        self.params = ParamPanel(config)
        self.params.live_changed.connect(self._live_changed)
        self.params.restart_changed.connect(lambda *_: self.start_training())
        box = QGroupBox(box_title)
        QVBoxLayout(box).addWidget(self.params)
        col.addWidget(box)
        return side, col

    @staticmethod
    def idea_label(html: str) -> QLabel:
        """The 'idea' panel: the key formula and a few sentences, in rich text."""
        label = QLabel(html)
        label.setWordWrap(True)
        label.setTextFormat(label.textFormat().RichText)
        label.setStyleSheet("QLabel { background:#1d2330; color:#dfe6f3; padding:8px; border-radius:4px; }")
        return label
