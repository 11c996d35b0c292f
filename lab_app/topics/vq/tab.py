"""The VQ-VAE / VQGAN tab: compress first (a tokenizer with a codebook, trained live), then generate (a
Transformer prior over the token grids, sampling token by token). Opens on the shipped mnist5k models."""

from __future__ import annotations

from dataclasses import asdict, replace
from functools import partial
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QGridLayout, QGroupBox, QLabel, QPushButton, QSplitter, QVBoxLayout

from lab_app.core.events import Progress
from lab_app.core.live import LiveDict
from lab_app.core.tiling import tile
from lab_app.data.datasets import DATASETS
from lab_app.io import LoadError
from lab_app.io.checkpoint import peek_checkpoint
from lab_app.qt.tab_base import TopicTab
from lab_app.qt.widgets.checkpoint_buttons import CheckpointButtons
from lab_app.qt.widgets.loss_curve import LossCurve
from lab_app.topics.vq import checkpoints as ck
from lab_app.topics.vq import task
from lab_app.topics.vq.codebook_views import CodebookScatter
from lab_app.topics.vq.prior_panel import PriorPanel
from lab_app.topics.vq.token_views import TokenMapView
from lab_app.topics.vq.usage_views import UsageView
from lab_app.topics.vq.views import FitImagePanel as ImagePanel

IDEA = """
<b>Compress, then generate.</b> Stage 1: an encoder maps each 4&times;4 patch to a vector z, which is
replaced by its nearest code e<sub>k</sub> of a codebook of K (a <i>token</i> k); the decoder rebuilds the
image from the tokens. argmin has no gradient, so the decoder's gradient is copied to z
(<i>straight-through</i>). Loss = ||x &minus; x&#770;||&sup2; + ||sg[z] &minus; e||&sup2; +
&beta;||z &minus; sg[e]||&sup2;. Codes nobody picks are <i>dead</i>: EMA updates, k-means init, restarts
and low-dimensional or l2 codes keep them in use (watch the perplexity). VQGAN adds a patch discriminator
so details stay sharp.<br>
Stage 2: a causal Transformer learns p(token<sub>t</sub> | earlier tokens, class) over the 7&times;7 grids
and draws new images token by token.
"""


class VqTab(TopicTab):

    def __init__(self, ctx, parent=None):
        super().__init__(ctx, parent)
        self.data = None
        self.tokenizer = None              # a CPU copy of the last trained / loaded tokenizer (for drops)
        self.trained: task.Trained | None = None
        self.background = 0
        self.token_map: task.TokenMap | None = None
        self.frame: task.CodebookFrame | None = None
        self._live = LiveDict()
        self._pending_drop: Path | None = None   # an image dropped before any tokenizer was there
        self.drop_runner = self.add_runner()
        self._build()
        self.runner.event.connect(self._on_event)
        self.runner.finished.connect(self._on_finished)
        self.drop_runner.finished.connect(self._on_token_map)

    # --- layout ------------------------------------------------------------------------------------------
    def _build(self) -> None:
        side, col = self.config_column(IDEA, task.VqTaskConfig(seed=self.ctx.seed), "Stage 1: tokenizer")
        buttons = QGridLayout()
        for i, (text, slot) in enumerate([("Train tokenizer", lambda: self.start_training()), ("Stop", self.stop)]):
            b = QPushButton(text)
            b.clicked.connect(slot)
            buttons.addWidget(b, 0, i)
        col.addLayout(buttons)
        self.checkpoint_buttons = CheckpointButtons(
            "tokenizer", self._save_to, self.load_model, "vq.safetensors",
            load_tip="Read a tokenizer (or a prior) saved by this tab; a file of another tab or another "
                     "codebook is refused and the current models stay")
        col.addWidget(self.checkpoint_buttons)
        self.numbers = QLabel("-")
        self.numbers.setWordWrap(True)
        self.numbers.setStyleSheet("font-family: monospace;")
        col.addWidget(self.numbers)
        self.prior_panel = PriorPanel(self.add_runner(), self._stage1, self.banner, self.ctx.seed)
        self.prior_panel.sampled.connect(self._on_sampled)
        pbox = QGroupBox("Stage 2: Transformer prior")
        QVBoxLayout(pbox).addWidget(self.prior_panel)
        col.addWidget(pbox)
        col.addStretch(1)

        self.usage = UsageView()
        self.codebook = CodebookScatter()
        self.loss_curve = LossCurve(title="stage 1 loss terms", log_y=True)
        self.recon = ImagePanel("held-out digits / reconstructions")
        self.tokens = TokenMapView("token map: drop an image, click a token")
        self.tokens.token_clicked.connect(self._on_token_clicked)
        self.code_view = ImagePanel("click a token: its code alone")
        self.drop_recon = ImagePanel("input | from its tokens")
        small = QSplitter(Qt.Orientation.Vertical)
        small.addWidget(self.drop_recon)
        small.addWidget(self.code_view)
        rows = []
        for widgets, sizes in (([self.usage, self.codebook, self.loss_curve], [420, 330, 420]),
                               ([self.recon, self.tokens, small], [420, 420, 330]),
                               ([self.prior_panel.samples, self.prior_panel.sample_tokens, self.prior_panel.curve],
                                [420, 330, 420])):
            row = QSplitter()
            for w in widgets:
                row.addWidget(w)
            row.setSizes(sizes)
            rows.append(row)
        grid = QSplitter(Qt.Orientation.Vertical)
        for row in rows:
            grid.addWidget(row)
        grid.setSizes([300, 320, 300])
        self.place_side_and_views(side, grid, 400)

    # --- stage 1 -----------------------------------------------------------------------------------------
    @property
    def config(self) -> task.VqTaskConfig:
        return self.params.config

    def _stage1(self):
        return self.tokenizer, self.data, self.background

    def start_demo(self) -> None:
        """Open on the shipped tokenizer and prior; without them, train both (minutes)."""
        self.demo_started = True
        if ck.SHIPPED_TOKENIZER.exists():
            prior = ck.SHIPPED_PRIOR if ck.SHIPPED_PRIOR.exists() else None
            self.runner.start(partial(ck.load_stage1, ck.SHIPPED_TOKENIZER, prior_path=prior),
                              label="loading the shipped VQ models")
        else:
            self.status_message.emit("no shipped VQ checkpoint: training a tokenizer now")
            self.start_training()

    def stop(self) -> None:
        self.runner.cancel()
        self.prior_panel.runner.cancel()

    def start_training(self, config: task.VqTaskConfig | None = None) -> None:
        cfg = config or self.config
        if DATASETS[cfg.dataset].needs_root and not cfg.data_root:
            path = QFileDialog.getExistingDirectory(self, "Folder with the dataset")
            if not path:
                return
            cfg = replace(cfg, data_root=path)
            self.params.set_config(cfg)
        self.banner.clear()
        self.loss_curve.clear()
        self._live.clear()
        self._live.update({k: getattr(cfg, k) for k in task.LIVE_KEYS})
        reuse = self.data if (self.data is not None and self.data.name == cfg.dataset and cfg.limit is None
                              and not cfg.data_root) else None
        self.runner.start(partial(task.train, cfg, self._live, data=reuse), label="training the VQ tokenizer")

    def _live_changed(self, name: str, value) -> None:
        self._live[name] = value      # read by the running training at its next step

    def _on_event(self, ev) -> None:
        if isinstance(ev, task.DatasetReady):
            self.data = ev.dataset
            self.dataset_label.setText(ev.dataset.info)
        elif isinstance(ev, task.CodebookFrame):
            self._draw_frame(ev)
        elif isinstance(ev, Progress):
            self.loss_curve.append(ev.step, {k: max(v, 1e-6) for k, v in ev.metrics.items() if k != "loss"})
        elif isinstance(ev, ck.Loaded):
            self._take_loaded(ev)
        elif isinstance(ev, ck.LoadedShown):
            self._show_loaded(ev)

    def _draw_frame(self, frame: task.CodebookFrame) -> None:
        self.frame = frame
        self.usage.set_counts(frame.counts, frame.perplexity, frame.dead)
        self.codebook.set_codebook(frame.pca_xy, frame.counts)
        both = np.concatenate([frame.originals, frame.reconstructions])
        self.recon.set_image(tile(both, rows=2, fill=0.35))
        k = len(frame.counts)
        self.numbers.setText(f"step {frame.step}: test MSE {frame.recon_mse:.4f}, PSNR {frame.psnr:.1f} dB\n"
                             f"perplexity {frame.perplexity:.1f} of K = {k}; dead codes {frame.dead}\n"
                             f"rate: {frame.token_bits:.0f} bits/image as tokens vs {frame.raw_bits:.0f} raw "
                             f"({frame.raw_bits / frame.token_bits:.0f}x smaller)")

    def _on_finished(self, result) -> None:
        if isinstance(result, task.Trained) and self.data is not None:
            self._set_tokenizer(task.build_tokenizer(result.tokenizer, result.state_dict).eval(), result)
            self.prior_panel.reset()
            self.status_message.emit(f"tokenizer trained: test PSNR {result.scores['test_psnr']:.1f} dB, "
                                     f"{result.scores['codes_used']}/{result.scores['num_codes']} codes used")
            self._tokenize_demo_image()
            self.prior_panel.train()

    def _set_tokenizer(self, model, trained: task.Trained) -> None:
        from lab_app.topics.vq.prior_task import background_code

        self.tokenizer, self.trained = model, trained
        self.background = background_code(model, self.data)

    def _take_loaded(self, ev: ck.Loaded) -> None:
        """A load's models and dataset (its frame, token map and prior come as the next events)."""
        self.data = ev.data if ev.data is not None else self.data
        self.tokenizer, self.trained, self.background = ev.tokenizer, ev.trained, ev.background
        cfg = task.VqTaskConfig(**{**asdict(self.config), **ev.trained.config})
        self.params.set_config(cfg)
        self.dataset_label.setText(ev.data.info if ev.data is not None else ev.note)
        self.loss_curve.clear()
        self.loss_curve.extend((step, {k: max(v, 1e-6) for k, v in terms.items() if k != "loss"})
                               for step, terms in ev.trained.history)   # the curves of the run that made it

    def _show_loaded(self, ev: ck.LoadedShown) -> None:
        if self._pending_drop is not None:
            path, self._pending_drop = self._pending_drop, None
            self.open_path(path)
        elif ev.demo_map is not None:
            self._show_token_map(ev.demo_map)
        self.prior_panel.reset()
        if ev.prior is not None:
            self.prior_panel.set_prior(ev.prior, ev.prior_trained)
            self.prior_panel.sample()
        elif not self.demo_done:
            self.demo_ready.emit()

    def _tokenize_demo_image(self) -> None:
        if self.data is not None and self.tokenizer is not None:
            self._show_token_map(task.tokenize(self.tokenizer, self.data.x_test[0], "test image 0"))

    def _on_sampled(self) -> None:
        if not self.demo_done:
            self.demo_ready.emit()

    # --- drops and clicks ----------------------------------------------------------------------------------
    def open_path(self, path: Path) -> None:
        path = Path(path)
        if path.suffix.lower() == ".safetensors":
            self.load_model(path)
            return
        if self.tokenizer is None:
            if ck.SHIPPED_TOKENIZER.exists():   # a file always shows its result: load the shipped models first
                self._pending_drop = path
                if not self.runner.busy:
                    self.start_demo()
            else:
                self.banner.show_message(f"{path.name}: train or load a tokenizer first, then drop the image "
                                         "again", "warning")
            return
        shape = (self.tokenizer.cfg.in_channels, self.tokenizer.cfg.image_size, self.tokenizer.cfg.image_size)
        dark = self.data is None or float(self.data.x_train.mean()) < 0.5
        self.banner.clear()
        self.drop_runner.start(partial(task.tokenize_file, path, self.tokenizer, shape, dark),
                               label=f"tokenizing {path.name}")

    def _on_token_map(self, result) -> None:
        if isinstance(result, task.TokenMap):
            self._show_token_map(result)

    def _show_token_map(self, tm: task.TokenMap) -> None:
        self.token_map = tm
        h, w = tm.indices.shape
        self.tokens.set_tokens(tm.indices, tm.image)
        self.tokens.set_title(f"{tm.name}: {h}x{w} tokens, {len(np.unique(tm.indices))} codes")
        self.drop_recon.set_image(np.concatenate([tm.image, tm.reconstruction], 1))
        self.drop_recon.set_title("input | from its tokens")
        # show first the token with the most ink in its reconstructed patch (the centre one is often blank)
        rec = tm.reconstruction if tm.reconstruction.ndim == 2 else tm.reconstruction.mean(-1)
        ink = rec[: h * (rec.shape[0] // h), : w * (rec.shape[1] // w)].reshape(h, rec.shape[0] // h, w, -1).mean((1, 3))
        self.tokens.select(*np.unravel_index(int(np.argmax(ink)), (h, w)))

    def _on_token_clicked(self, row: int, col: int, code: int) -> None:
        if self.tokenizer is None or code < 0:
            return
        self.code_view.set_image(task.code_patch(self.tokenizer, code, self.background))
        n = int((self.tokens.indices == code).sum()) if self.tokens.indices is not None else 0
        self.code_view.set_title(f"code {code} alone; {n}x in the image")

    # --- save / load -----------------------------------------------------------------------------------------
    def save_model(self, path) -> Path:
        if self.trained is None:
            raise ValueError("nothing to save yet: train or load a tokenizer first")
        return ck.save_tokenizer(path, self.trained, self.data.info if self.data else "")

    def open_checkpoint(self, path: Path) -> None:
        """A tokenizer or prior checkpoint routed here by the window (load_model tells them apart)."""
        self.load_model(path)

    def load_model(self, path) -> None:
        """A tokenizer or a prior checkpoint, read in a task; a wrong file leaves everything as it is."""
        path = Path(path)
        try:
            arch = peek_checkpoint(path).get("architecture")
        except LoadError as e:
            self.banner.show_message(str(e), "error")
            return
        if arch == ck.PRIOR:
            self.prior_panel.load(path)
        else:
            self.runner.start(partial(ck.load_stage1, path, data=self.data), label=f"loading {path.name}")

    def _save_to(self, path) -> None:
        if path:
            try:
                self.status_message.emit(f"saved the tokenizer to {self.save_model(path)}")
            except (OSError, ValueError) as e:
                self.banner.show_message(f"could not save: {e}", "error")

    # --- TopicTab --------------------------------------------------------------------------------------------
    def views(self):
        p = self.prior_panel
        return {"code usage": self.usage, "codebook": self.codebook, "loss": self.loss_curve,
                "reconstructions": self.recon, "token map": self.tokens, "code patch": self.code_view,
                "dropped reconstruction": self.drop_recon, "samples": p.samples, "sample tokens": p.sample_tokens,
                "prior NLL": p.curve}

    def run_config(self):
        return {"tokenizer": asdict(self.config), "prior": asdict(self.prior_panel.config)}

