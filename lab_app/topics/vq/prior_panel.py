"""Stage 2 of the VQ tab: the prior's knobs and buttons, its NLL curve, and samples drawn token by token.

The panel sits in the tab's side column; its views (``curve``, ``samples``, ``sample_tokens``) are placed
by the tab. It runs its work in its own TaskRunner, so the prior trains and samples while stage 1's
runner stays free. ``stage1()`` (given by the tab) returns (tokenizer, dataset, background code)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, replace
from functools import partial
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QGridLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from lab_app.core.events import Progress
from lab_app.core.live import LiveDict
from lab_app.io import LoadError
from lab_app.qt.widgets.checkpoint_buttons import CheckpointButtons
from lab_app.qt.widgets.loss_curve import LossCurve
from lab_app.qt.widgets.param_panel import ParamPanel
from lab_app.qt.worker import TaskRunner
from lab_app.topics.vq import checkpoints as ck
from lab_app.topics.vq import prior_task as pt
from lab_app.topics.vq.token_views import TokenMapView
from lab_app.topics.vq.views import FitImagePanel as ImagePanel

SAMPLES = 10


class PriorPanel(QWidget):
    sampled = Signal()               # a sampling run finished: the sample views hold a full result

    def __init__(self, runner: TaskRunner, stage1: Callable, banner, seed: int = 0, parent: QWidget | None = None):
        super().__init__(parent)
        self.runner = runner
        self.stage1 = stage1
        self.banner = banner
        self.prior = None
        self.trained: pt.PriorTrained | None = None
        self.unigram: float | None = None
        self.last_step: pt.SampleStep | None = None
        self.params = ParamPanel(pt.PriorTaskConfig(seed=seed))
        self.live = LiveDict({k: getattr(self.params.config, k) for k in ("temperature", "top_k", "sample_mode")})
        self.params.live_changed.connect(self._live_changed)
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.addWidget(self.params)
        buttons = QGridLayout()
        for i, (text, slot) in enumerate([("Train prior", self.train), ("Sample", self.sample)]):
            b = QPushButton(text)
            b.clicked.connect(slot)
            buttons.addWidget(b, 0, i)
        col.addLayout(buttons)
        self.checkpoint_buttons = CheckpointButtons("prior", self._save_to, self.load, "vq.prior.safetensors")
        col.addWidget(self.checkpoint_buttons)
        self.numbers = QLabel("prior: -")
        self.numbers.setWordWrap(True)
        self.numbers.setStyleSheet("font-family: monospace;")
        col.addWidget(self.numbers)
        self.curve = LossCurve(title="prior: token NLL (nats/token)")
        self.samples = ImagePanel("samples")
        self.sample_tokens = TokenMapView("sample 1: its tokens", numbers=False)
        runner.event.connect(self._on_event)
        runner.finished.connect(self._on_finished)

    @property
    def config(self) -> pt.PriorTaskConfig:
        return self.params.config

    def reset(self) -> None:
        """A new tokenizer: the prior's tokens no longer mean anything."""
        self.runner.cancel()
        self.prior = self.trained = None
        self.curve.clear()
        self.numbers.setText("prior: - (train one for this tokenizer)")

    # --- actions ----------------------------------------------------------------------------------------
    def train(self) -> None:
        tokenizer, data, _ = self.stage1()
        if tokenizer is None or data is None:
            self.banner.show_message("train or load a tokenizer (stage 1) with its dataset first", "warning")
            return
        self.curve.clear()
        self.runner.start(partial(pt.train_prior, self.config, tokenizer, data), label="training the prior")

    def sample(self) -> None:
        tokenizer, data, background = self.stage1()
        if self.prior is None or tokenizer is None:
            self.banner.show_message("train or load a prior (stage 2) first", "warning")
            return
        cfg = self.config
        self.runner.start(partial(pt.sample, self.prior, tokenizer, SAMPLES, self.live, cfg.seed, background,
                                  delay=cfg.token_delay), label="sampling token by token")

    def _live_changed(self, name: str, value) -> None:
        self.live[name] = value       # read by the sampler at its next token
        if name == "sample_mode" and not self.runner.busy and self.prior is not None:
            self.sample()

    def set_prior(self, prior, trained: pt.PriorTrained) -> None:
        self.prior, self.trained = prior, trained
        if trained.history and not self.curve.names():     # a loaded prior: the curves of its run
            self.curve.extend(trained.history)
        cfg = pt.PriorTaskConfig(**{**asdict(self.config), **trained.config})
        self.params.set_config(replace(cfg, temperature=self.live["temperature"], top_k=self.live["top_k"],
                                       sample_mode=self.live["sample_mode"]))
        s = trained.scores
        if "token_nll" in s:
            nll, uni = s["token_nll"], s.get("unigram_nll", float("nan"))
            self.numbers.setText(f"prior: test NLL {nll:.3f} nats/token ({pt.bits_per_token(nll):.2f} bits)\n"
                                 f"unigram baseline {uni:.3f} ({1 - nll / uni:.0%} lower)")

    # --- events -----------------------------------------------------------------------------------------
    def _on_event(self, ev) -> None:
        if isinstance(ev, pt.TokensReady):
            self.unigram = ev.unigram_nll
            self.numbers.setText(f"{ev.train_tokens:,} training tokens; unigram baseline "
                                 f"{ev.unigram_nll:.3f} nats/token")
        elif isinstance(ev, Progress) and any("NLL" in k for k in ev.metrics):
            self.curve.append(ev.step, ev.metrics)
        elif isinstance(ev, pt.SampleStep):
            self.draw_samples(ev)

    def draw_samples(self, ev: pt.SampleStep) -> None:
        self.last_step = ev
        self.samples.set_image(ck.sample_grid(ev.images, cols=5))
        what = "unconditional" if ev.labels[0] is None else "one per class"
        self.samples.set_title(f"samples ({what}), token {ev.t}/{ev.total}")
        self.sample_tokens.set_tokens(ev.tokens[0], ev.images[0])
        self.sample_tokens.set_title(f"sample 1: {ev.t}/{ev.total} tokens")

    def _on_finished(self, result) -> None:
        if isinstance(result, pt.PriorTrained):
            tokenizer, _, _ = self.stage1()
            self.set_prior(pt.build_prior(result.prior, result.state_dict).eval(), result)
            self.sample()
        elif self.last_step is not None and self.last_step.t == self.last_step.total:
            self.sampled.emit()

    # --- save / load --------------------------------------------------------------------------------------
    def save(self, path) -> Path:
        tokenizer, _, _ = self.stage1()
        if self.trained is None or tokenizer is None:
            raise ValueError("nothing to save yet: train or load a prior first")
        return ck.save_prior(path, self.trained, tokenizer)

    def load(self, path) -> None:
        """Read on the runner's thread; the result arrives through ``finished``."""
        tokenizer, _, _ = self.stage1()
        self.runner.start(partial(_load_as_trained, Path(path), tokenizer), label=f"loading {Path(path).name}")

    def _save_to(self, path) -> None:
        if path:
            try:
                self.save(path)
            except (OSError, ValueError) as e:
                self.banner.show_message(f"could not save: {e}", "error")


def _load_as_trained(path, tokenizer, ctl) -> pt.PriorTrained:
    """A loaded prior comes back as a PriorTrained, like one just trained (the panel rebuilds it)."""
    if tokenizer is None:
        raise LoadError(path, "load or train a tokenizer (stage 1) before its prior")
    _, trained = ck.load_prior_task(path, tokenizer, ctl)
    return trained
