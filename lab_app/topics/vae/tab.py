"""The VAE tab: an MLP VAE trains on digits while its latent space, decoded manifold,
reconstructions, loss terms, active units and importance-weighted likelihood update live.

Three runners, all running task.py's functions: training; dropped images (through the latest
weights, while training goes on); checkpoints (save and load, so a bad file leaves the run alone).
The slots here only draw."""

from __future__ import annotations

from dataclasses import asdict, replace
from functools import partial
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QPushButton, QSplitter

from lab_app.core.events import Progress
from lab_app.core.live import LiveDict
from lab_app.core.tiling import tile
from lab_app.data.datasets import DATASETS
from lab_app.io.kinds import CHECKPOINT, file_kind
from lab_app.qt.tab_base import TopicTab
from lab_app.qt.widgets.bars import Bars
from lab_app.qt.widgets.checkpoint_buttons import CheckpointButtons
from lab_app.qt.widgets.latent_scatter import LatentScatter
from lab_app.qt.widgets.loss_curve import LossCurve
from lab_app.topics.vae import task
from lab_app.topics.vae.views import ImagePanel

STRIP_FILL = 0.35  # a lighter grey between strip images than in the manifold, where tiles touch

IDEA = """
<b>Variational autoencoder.</b> The encoder gives q(z|x) = N(&mu;(x), &sigma;<sup>2</sup>(x)); a sample
z = &mu; + &sigma;&middot;&epsilon;, &epsilon; ~ N(0, I) (the <i>reparameterisation</i>: gradients pass through
&mu; and &sigma;); the decoder gives p(x|z).<br>
<b>Loss</b> = E<sub>q</sub>[&minus;log p(x|z)] + &beta;&middot;KL(q(z|x) || N(0, I)), with
KL = &frac12;&Sigma;(&mu;<sup>2</sup> + &sigma;<sup>2</sup> &minus; log &sigma;<sup>2</sup> &minus; 1).
At &beta; = 1 its negative is the ELBO &le; log p(x).<br>
The KL pulls every posterior toward the prior, so the latent space stays filled and any z decodes to
something plausible: click anywhere in the latent plane. A unit whose posterior equals the prior for
every x is <i>collapsed</i> (inactive); raise &beta; to watch units die.
"""


class VaeTab(TopicTab):
    def __init__(self, ctx, parent=None):
        super().__init__(ctx, parent)
        self.data = None
        self.model = None                  # the VAE of the last result (an eval CPU copy, for clicks)
        self.trained: task.Trained | None = None
        self.frame: task.LatentFrame | None = None
        self.frame_config: dict = {}       # the config of the run (or checkpoint) that draws the frames
        self.frames_drawn = 0
        self.dropped: list[tuple[Path, np.ndarray]] = []  # the last two dropped images, as model inputs
        self.last_file: Path | None = None  # the file whose result is on screen (or on its way)
        self.file_result: task.FileResult | None = None
        self.interpolation: np.ndarray | None = None
        self._file_drawn = False
        self._ready_after_file = False
        self._live = LiveDict()
        self.file_runner = self.add_runner()   # dropped images: training keeps going meanwhile
        self.ckpt_runner = self.add_runner()   # save / load: a failed load leaves the run alone
        self._build()
        self.runner.event.connect(self._on_event)
        self.runner.finished.connect(self._on_finished)
        self.file_runner.finished.connect(self._on_file_result)
        self.file_runner.errored.connect(self._on_file_error)
        self.ckpt_runner.finished.connect(self._on_ckpt_finished)

    # --- layout ------------------------------------------------------------------------------------
    def _build(self) -> None:
        side, col = self.config_column(IDEA, task.VaeTaskConfig(seed=self.ctx.seed), "VAE")
        buttons = QHBoxLayout()
        for text, slot, tip in [("Train", lambda: self.start_training(), "train a VAE with the settings above"),
                                ("Stop", self.runner.cancel, "stop the training; what it drew stays")]:
            b = QPushButton(text)
            b.setToolTip(tip)
            b.clicked.connect(slot)
            buttons.addWidget(b)
        col.addLayout(buttons)
        self.checkpoint_buttons = CheckpointButtons("VAE", self.save_model, self.load_model, "vae.safetensors")
        col.addWidget(self.checkpoint_buttons)
        self.numbers = QLabel("IW log-likelihood: -\nactive units: -")
        self.numbers.setStyleSheet("font-family: monospace;")
        self.numbers.setWordWrap(True)
        col.addWidget(self.numbers)
        col.addStretch(1)
        self.loss_curve = LossCurve(title="per-image terms (nats)", log_y=True)

        self.scatter = LatentScatter(point_size=3)
        self.scatter.plot_item.setTitle("test set in the latent plane (posterior means); click to decode")
        self.scatter.plot_widget.scene().sigMouseClicked.connect(self._on_plane_click)
        self.file_marker = pg.ScatterPlotItem(symbol="star", size=22, pen=pg.mkPen("k", width=1.5),
                                              brush=pg.mkBrush(255, 215, 0))
        self.file_marker.setZValue(10)
        self.scatter.plot_item.addItem(self.file_marker)
        self.manifold = ImagePanel("decoded manifold over the same plane", y_up=True, axes=True)
        self.manifold.plot_widget.scene().sigMouseClicked.connect(self._on_manifold_click)
        self.recon = ImagePanel("test images / reconstructions")
        self.decoded = ImagePanel("click the latent plane")
        self.interp = ImagePanel("drop an image (two: interpolation)")
        self.units = Bars(orientation="horizontal", title="active units", value_format="{:.2f}")

        top = QSplitter()
        top.addWidget(self.scatter)
        top.addWidget(self.manifold)
        top.setSizes([600, 520])
        small = QSplitter(Qt.Orientation.Vertical)
        small.addWidget(self.decoded)
        small.addWidget(self.interp)
        bottom = QSplitter()
        for w in (self.recon, small, self.units, self.loss_curve):
            bottom.addWidget(w)
        bottom.setSizes([290, 280, 250, 300])
        grid = QSplitter(Qt.Orientation.Vertical)
        grid.addWidget(top)
        grid.addWidget(bottom)
        grid.setSizes([580, 300])
        self.place_side_and_views(side, grid, 390)

    # --- actions -----------------------------------------------------------------------------------
    @property
    def config(self) -> task.VaeTaskConfig:
        return self.params.config

    def start_demo(self) -> None:
        self.demo_started = True
        self.start_training()

    def start_training(self, config: task.VaeTaskConfig | None = None, init_state: dict | None = None) -> None:
        cfg = config or self.config
        if config is not None:
            self.params.set_config(config)
        if DATASETS[cfg.dataset].needs_root and not cfg.data_root:
            path = QFileDialog.getExistingDirectory(self, "Folder with the torchvision dataset")
            if not path:
                return
            cfg = replace(cfg, data_root=path)
            self.params.set_config(cfg)
        self.banner.clear()
        if init_state is None:
            self.loss_curve.clear()
        self._live = LiveDict({"beta": cfg.beta})
        reuse = self.data if (self.data is not None and self.data.name == cfg.dataset and cfg.limit is None
                              and not cfg.data_root and self.data.seed == cfg.seed) else None
        self.frame_config = asdict(cfg)
        self.runner.start(partial(task.train, cfg, self._live, data=reuse, init_state=init_state),
                          label="training VAE")

    def _live_changed(self, name: str, value) -> None:
        self._live[name] = value
        if name == "beta" and not self.runner.busy and self.trained is not None:
            # the run is over: continue from the current weights with the new beta
            self.start_training(replace(self.config, beta=float(value)), init_state=self.trained.state_dict)

    # --- events ------------------------------------------------------------------------------------
    def _on_event(self, ev) -> None:
        if isinstance(ev, task.DatasetReady):
            self.data = ev.dataset
            self.dataset_label.setText(ev.dataset.info)
        elif isinstance(ev, task.LatentFrame):
            self._draw_frame(ev)
        elif isinstance(ev, task.IWEstimate):
            self.numbers.setText(f"IW log-likelihood (k={ev.k}): {-ev.nll:.2f} nats/image\n"
                                 f"test ELBO: {ev.elbo:.2f}   (IW bound is tighter)\n"
                                 f"active units: {self.frame.active if self.frame else '-'}")
        elif isinstance(ev, Progress) and "elbo" in ev.metrics:
            m = ev.metrics
            self.loss_curve.append(ev.step, {"-ELBO": -m["elbo"], "reconstruction": m["recon"], "KL": m["kl"]})

    def _draw_frame(self, frame: task.LatentFrame) -> None:
        if self.data is None:
            return
        self.frame = frame
        self.scatter.setData(frame.xy, self.data.y_test, list(self.data.class_names), follow=True)
        kind = "latent plane z1, z2" if len(frame.activity) <= 2 else "PCA plane of the posterior means"
        self.scatter.plot_item.setTitle(f"test set, {kind} (epoch {frame.epoch}); click to decode")
        self.manifold.set_image(frame.manifold, frame.extent)
        self.recon.set_image(tile(np.concatenate([frame.originals, frame.reconstructions]), rows=2, fill=STRIP_FILL))
        j = len(frame.activity)
        names = [f"z{i + 1}" for i in range(j)] if j <= 20 else [str(i + 1) if i % 5 == 0 else "" for i in range(j)]
        self.units.set_values(names, frame.activity)
        self.units.plot_item.setTitle(f"active units {frame.active}/{j}: Var E[z|x] > 0.01")
        lines = self.numbers.text().splitlines()
        lines[-1] = f"active units: {frame.active}/{j}"
        self.numbers.setText("\n".join(lines))
        self.frames_drawn += 1
        self._place_file_marker()
        if self.last_file is not None and not self._file_drawn and not self.file_runner.busy:
            self._query(self.last_file)  # a file opened before there were weights: now there are

    def _on_finished(self, result) -> None:
        if isinstance(result, task.Trained) and self.data is not None:
            self.trained, self.model = result, result.model
            if self.frame is not None:  # a first decoded point: the centre of the plane
                self.decode_at(0.0, 0.0)
            self.status_message.emit(f"VAE trained: {self._score_text(result.scores)}")
            if self.last_file is not None:  # the file again, through the trained model, then ready
                self._ready_after_file = True
                self._query(self.last_file)
            else:
                self.demo_ready.emit()

    @staticmethod
    def _score_text(scores: dict) -> str:
        if "iw_nll_nats" not in scores:
            return "-"
        return f"IW log p(x) {-scores['iw_nll_nats']:.2f} nats, active units {scores.get('active_units', '-')}"

    # --- clicks ------------------------------------------------------------------------------------
    def decode_at(self, x: float, y: float) -> np.ndarray | None:
        """Decode the point (x, y) of the plotted plane; shows and returns the (H, W) image. One MLP
        decode of one point, a redraw's worth of work: done right here."""
        if self.model is None or self.frame is None or self.data is None:
            self.status_message.emit("train or load a VAE first")
            return None
        z = task.from_plane(np.array([[x, y]], np.float32), self.frame.plane)
        image = task.decode_images(self.model, z, self.data.image_shape)[0]
        self.decoded.set_image(image)
        self.decoded.set_title(f"decoded z at ({x:.2f}, {y:.2f})")
        self.last_decoded = (z[0], image)
        return image

    def _click_to_view(self, event, view_box) -> tuple[float, float] | None:
        if event.button() != Qt.MouseButton.LeftButton:
            return None
        p = view_box.mapSceneToView(event.scenePos())
        return float(p.x()), float(p.y())

    def _on_plane_click(self, event) -> None:
        xy = self._click_to_view(event, self.scatter.view_box)
        if xy is not None:
            self.decode_at(*xy)

    def _on_manifold_click(self, event) -> None:
        xy = self._click_to_view(event, self.manifold.view_box)
        if xy is not None:
            self.decode_at(*xy)

    # --- files -------------------------------------------------------------------------------------
    def open_path(self, path: Path) -> None:
        """A dropped or opened image, whatever the tab is doing. With weights on screen (a run's latest
        frame, a trained or loaded model) it goes through them now; with none yet, the demo training
        starts and the image goes through the first weights it draws. When a training ends, the image
        goes through the trained model again (and only then is the tab's result ready)."""
        path = Path(path)
        if file_kind(path) == CHECKPOINT:  # a checkpoint the window routed here: load it
            self.load_model(path)
            return
        self.last_file = path
        self._file_drawn = False
        if self.frame is not None:
            self._query(path)
            return
        if not self.runner.busy and not self.ckpt_runner.busy:
            self.start_training()
        self.interp.set_title(f"{path.name}: waiting for weights")
        self.status_message.emit(f"{path.name}: training a VAE first; the image shows with its first weights")

    def _query(self, path: Path) -> None:
        trained = self.trained is not None and not self.runner.busy
        state = self.trained.state_dict if trained else self.frame.state_dict
        config = self.trained.config if trained else self.frame_config
        previous = next((x for p, x in self.dropped if p != path), None)
        self.file_runner.start(partial(task.open_image, path, config, state, self.data, previous),
                               label=f"reading {path.name}")

    def _on_file_result(self, result) -> None:
        if not isinstance(result, task.FileResult) or self.data is None:
            return
        path = self.last_file
        self.dropped = [(p, x) for p, x in self.dropped if p != path][-1:] + [(path, result.x)]
        self.file_result = result
        c, h, w = self.data.image_shape
        knows = f"{h}x{w} {self.data.name}"  # what the model knows: it sees any photo as one of these
        if result.interpolation is None:
            self.interp.set_image(tile([result.seen, result.reconstruction], fill=STRIP_FILL))
            self.interp.set_title(f"{result.name} as {knows} | rebuilt", size="9pt")
        else:
            first = self.dropped[0][1].reshape(c, h, w)[0]
            self.interp.set_image(tile([first, *result.interpolation, result.seen], fill=STRIP_FILL))
            self.interp.set_title(f"interpolation to {result.name}", size="9pt")
            self.interpolation = result.interpolation
        self.interp.setToolTip(f"{result.name} through a VAE that has only seen {self.data.info}: the photo "
                               f"shrunk to {h}x{w} grey as the model sees it, and what the model rebuilds "
                               "from its posterior mean (the star in the latent plane)")
        self._place_file_marker()
        self.status_message.emit(f"{result.name}: the star in the latent plane is its posterior mean")
        self._file_drawn = True
        if self._ready_after_file:
            self._ready_after_file = False
            self.demo_ready.emit()

    def _on_file_error(self, _message: str) -> None:
        self.last_file = None  # the banner says why; the training's result stays the tab's result
        if self._ready_after_file:
            self._ready_after_file = False
            self.demo_ready.emit()

    def _place_file_marker(self) -> None:
        if self.file_result is None or self.frame is None:
            return
        xy = task.to_plane(self.file_result.z[None].astype(np.float32), self.frame.plane)[0]
        self.file_marker.setData([float(xy[0])], [float(xy[1])])

    # --- save / load (in the checkpoint runner) ----------------------------------------------------
    def save_model(self, path) -> None:
        if self.trained is None:
            self.banner.show_message("nothing to save yet: train or load a VAE first", "warning")
            return
        info = self.data.info if self.data is not None else ""
        self.ckpt_runner.start(partial(task.save_vae, Path(path), self.trained, info), label="saving VAE")

    def open_checkpoint(self, path: Path) -> None:
        """A VAE checkpoint routed here by the window: loaded in the worker (load_model)."""
        self.load_model(path)

    def load_model(self, path) -> None:
        """Read a checkpoint in the worker; the current model and run stay unless it loads."""
        path = Path(path)
        self.ckpt_runner.start(partial(task.load_vae, path, self.data), label=f"loading {path.name}")

    def _on_ckpt_finished(self, result) -> None:
        if isinstance(result, Path):
            self.status_message.emit(f"saved VAE to {result}")
            return
        if not isinstance(result, task.Loaded):
            return
        self.runner.cancel()
        self.data, self.model, self.trained = result.data, result.trained.model, result.trained
        self.frame_config = result.trained.config
        self.params.set_config(task.config_from(result.trained.config))
        self.dataset_label.setText(result.data.info)
        self._file_drawn = True  # drawn again just below, through the loaded model
        self._draw_frame(result.frame)
        self.decode_at(0.0, 0.0)
        self.status_message.emit(f"loaded {Path(result.path).name}: {self._score_text(self.trained.scores)}")
        if self.last_file is not None:
            self._query(self.last_file)
        self.demo_ready.emit()

    # --- TopicTab ----------------------------------------------------------------------------------------
    def views(self):
        return {"latent space": self.scatter, "manifold": self.manifold, "reconstructions": self.recon,
                "decoded": self.decoded, "interpolation": self.interp, "loss": self.loss_curve,
                "active units": self.units}

    def run_config(self):
        return asdict(self.config)
