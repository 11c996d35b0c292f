"""The VAE tab: an MLP VAE trains on digits while its latent space, decoded manifold,
reconstructions, loss terms, active units and importance-weighted likelihood update live."""

from __future__ import annotations

from dataclasses import asdict, replace
from functools import partial
from pathlib import Path

import numpy as np
import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QLabel,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from lab_app.core.events import Progress
from lab_app.data.datasets import DATASETS
from lab_app.io import LoadError, load_checkpoint, load_image, save_checkpoint
from lab_app.io.checkpoint import Checkpoint
from lab_app.qt.tab_base import TopicTab
from lab_app.qt.widgets.bars import Bars
from lab_app.qt.widgets.latent_scatter import LatentScatter
from lab_app.qt.widgets.loss_curve import LossCurve
from lab_app.qt.widgets.param_panel import ParamPanel
from lab_app.topics.vae import task
from lab_app.topics.vae.views import ImagePanel, strip

MODEL_NAME = "vae-mlp"

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
        self.model = None                  # the VAE of the last frame / result (a CPU copy, for clicks)
        self.trained: task.Trained | None = None
        self.frame: task.LatentFrame | None = None
        self.frames_drawn = 0
        self.dropped: list[np.ndarray] = []  # the last two dropped images, as model inputs
        self._live: dict = {}
        self._state_for_frames: dict | None = None
        self._build()
        self.runner.event.connect(self._on_event)
        self.runner.finished.connect(self._on_finished)

    # --- layout ------------------------------------------------------------------------------------
    def _build(self) -> None:
        side = QWidget()
        col = QVBoxLayout(side)
        col.addWidget(self.idea_label(IDEA))
        self.dataset_label = QLabel("-")
        self.dataset_label.setWordWrap(True)
        col.addWidget(self.dataset_label)
        self.params = ParamPanel(task.VaeTaskConfig())
        self.params.live_changed.connect(self._live_changed)
        self.params.restart_changed.connect(lambda *_: self.start_training())
        box = QGroupBox("VAE")
        QVBoxLayout(box).addWidget(self.params)
        col.addWidget(box)
        buttons = QGridLayout()
        for i, (text, slot) in enumerate([("Train", lambda: self.start_training()), ("Stop", self.runner.cancel),
                                          ("Save model...", self._save_dialog), ("Load model...", self._load_dialog)]):
            b = QPushButton(text)
            b.clicked.connect(slot)
            buttons.addWidget(b, i // 2, i % 2)
        col.addLayout(buttons)
        self.numbers = QLabel("IW log-likelihood: -\nactive units: -")
        self.numbers.setStyleSheet("font-family: monospace;")
        self.numbers.setWordWrap(True)
        col.addWidget(self.numbers)
        col.addStretch(1)
        self.loss_curve = LossCurve(title="per-image terms (nats)", log_y=True)

        self.scatter = LatentScatter(point_size=3)
        self.scatter.plot_item.setTitle("test set in the latent plane (posterior means); click to decode")
        self.scatter.plot_widget.scene().sigMouseClicked.connect(self._on_plane_click)
        self.manifold = ImagePanel("decoded manifold over the same plane", y_up=True, axes=True)
        self.manifold.plot_widget.scene().sigMouseClicked.connect(self._on_manifold_click)
        self.recon = ImagePanel("test images / reconstructions")
        self.decoded = ImagePanel("click the latent plane")
        self.interp = ImagePanel("drop two images: interpolation")
        self.units = Bars(orientation="horizontal", title="active units",
                          value_format="{:.2f}")

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
        bottom.setSizes([330, 230, 250, 330])
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
        self._live = {"beta": cfg.beta}
        reuse = self.data if (self.data is not None and self.data.name == cfg.dataset and cfg.limit is None
                              and not cfg.data_root) else None
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
        self.recon.set_image(strip(np.concatenate([frame.originals, frame.reconstructions]), rows=2))
        j = len(frame.activity)
        names = [f"z{i + 1}" for i in range(j)] if j <= 20 else [str(i + 1) if i % 5 == 0 else "" for i in range(j)]
        self.units.set_values(names, frame.activity)
        self.units.plot_item.setTitle(f"active units {frame.active}/{j}: Var E[z|x] > 0.01")
        lines = self.numbers.text().splitlines()
        lines[-1] = f"active units: {frame.active}/{j}"
        self.numbers.setText("\n".join(lines))
        self.frames_drawn += 1

    def _on_finished(self, result) -> None:
        if isinstance(result, task.Trained) and self.data is not None:
            self.trained = result
            self.model = task.build_model(task.VaeTaskConfig(**result.config), self.data, result.state_dict).eval()
            if self.frame is not None:  # a first decoded point: the centre of the plane
                self.decode_at(0.0, 0.0)
            self.status_message.emit(f"VAE trained: {self._score_text(result.scores)}")
            self.demo_ready.emit()

    @staticmethod
    def _score_text(scores: dict) -> str:
        if "iw_nll_nats" not in scores:
            return "-"
        return f"IW log p(x) {-scores['iw_nll_nats']:.2f} nats, active units {scores.get('active_units', '-')}"

    # --- clicks and drops ----------------------------------------------------------------------------
    def decode_at(self, x: float, y: float) -> np.ndarray | None:
        """Decode the point (x, y) of the plotted plane; shows and returns the (H, W) image."""
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

    def open_path(self, path: Path) -> None:
        """A dropped image; after two, the decoded interpolation between their posterior means."""
        path = Path(path)
        if self.model is None or self.data is None:
            self.banner.show_message(f"{path.name}: train or load a VAE first, then drop the image again", "warning")
            return
        try:
            rgb = load_image(path)
        except LoadError as e:
            self.banner.show_message(str(e), "error")
            return
        self.dropped = (self.dropped + [task.image_for(rgb, self.data)])[-2:]
        if len(self.dropped) < 2:
            self.interp.set_title(f"{path.name}: drop a second image to interpolate")
            return
        frames = task.interpolate(self.model, self.dropped[0], self.dropped[1], self.data.image_shape)
        c, h, w = self.data.image_shape
        ends = [im.reshape(c, h, w)[0] for im in self.dropped]
        self.interp.set_image(strip([ends[0], *frames, ends[1]]))
        self.interp.set_title("interpolation between the two drops (ends: the inputs)")
        self.interpolation = frames

    # --- save / load -----------------------------------------------------------------------------------
    def save_model(self, path) -> Path:
        if self.trained is None:
            raise ValueError("nothing to save yet: train or load a VAE first")
        return save_checkpoint(path, Checkpoint("vae", MODEL_NAME, self.trained.state_dict, self.trained.config,
                                                metrics=self.trained.scores, seed=self.trained.config.get("seed"),
                                                extra={"dataset": self.data.info if self.data else ""}))

    def load_model(self, path) -> None:
        ckpt = load_checkpoint(path, tab="vae", architectures=(MODEL_NAME,))
        state, config, card = ckpt.state_dict, ckpt.config, {"scores": ckpt.metrics or ckpt.extra.get("scores", {})}
        cfg = task.VaeTaskConfig(**{k: v for k, v in config.items() if k in task.VaeTaskConfig.__dataclass_fields__})
        data = self.data if self.data is not None and self.data.name == cfg.dataset else task.get_dataset(cfg)
        model = task.build_model(cfg, data, state).eval()
        self.runner.cancel()
        self.data, self.model = data, model
        self.trained = task.Trained(asdict(cfg), state, card.get("scores", {}))
        self.params.set_config(cfg)
        self.dataset_label.setText(data.info)
        x_test = torch.from_numpy(data.x_test.reshape(len(data.x_test), -1))
        self._draw_frame(task.latent_frame(model, x_test, x_test[: cfg.recon_count], 0, cfg.epochs, cfg,
                                           data.image_shape))
        self.decode_at(0.0, 0.0)
        self.status_message.emit(f"loaded {Path(path).name}: {self._score_text(self.trained.scores)}")

    def _save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save VAE", "vae.safetensors", "safetensors (*.safetensors)")
        if path:
            try:
                self.status_message.emit(f"saved VAE to {self.save_model(path)}")
            except (OSError, ValueError) as e:
                self.banner.show_message(f"could not save: {e}", "error")

    def _load_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load VAE", "", "safetensors (*.safetensors)")
        if path:
            try:
                self.load_model(path)
            except (OSError, ValueError, LoadError) as e:
                self.banner.show_message(str(e), "error")

    # --- TopicTab ----------------------------------------------------------------------------------------
    def views(self):
        return {"latent space": self.scatter, "manifold": self.manifold, "reconstructions": self.recon,
                "decoded": self.decoded, "interpolation": self.interp, "loss": self.loss_curve,
                "active units": self.units}

    def run_config(self):
        return asdict(self.config)
