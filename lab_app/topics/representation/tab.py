"""The representation-learning tab: an encoder trains with InfoNCE, the pairwise contrastive loss or
a rotation pretext while its embedding space moves on screen; beside it, two mutual-information
estimators train on Gaussians whose MI is known. Two runners: training and MI run side by side."""

from __future__ import annotations

from dataclasses import asdict, replace
from functools import partial
from pathlib import Path

import numpy as np
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
from lab_app.qt.worker import TaskRunner
from lab_app.topics.representation import mi_task, task
from lab_app.topics.representation.views import DistanceHistogram, NeighboursPanel

IDEA = """
<b>Learning a representation without labels.</b> Two augmented views of one image should land close
together, views of different images far apart.<br>
<b>Pairwise (Siamese)</b>:
L = 1/(2N) &Sigma; [ y d<sup>2</sup> + (1&minus;y) max(m &minus; d, 0)<sup>2</sup> ],
d = ||z &minus; z'||, m the margin.<br>
<b>InfoNCE</b>:
&minus;log e<sup>s(z,z<sup>+</sup>)/&tau;</sup> / &Sigma;<sub>k</sub> e<sup>s(z,z<sub>k</sub>)/&tau;</sup>:
pick the positive among 2N&minus;2 negatives. log N &minus; L is a lower bound on the mutual information
I(view<sub>1</sub>; view<sub>2</sub>), so it can never exceed <b>log N</b> (right: the ceiling).<br>
<b>Rotation pretext</b>: labels made from the data itself (which of 4 rotations?).<br>
Quality is read by <i>probes</i>: a linear classifier and kNN on frozen features, against raw pixels and an
untrained encoder.
"""

MODEL_NAME = "representation-encoder"
PROBE_NAMES = [
    "linear, pixels",
    "linear, random",
    "linear, trained",
    "kNN, pixels",
    "kNN, random",
    "kNN, trained",
]


class RepresentationTab(TopicTab):
    def __init__(self, ctx, parent=None):
        super().__init__(ctx, parent)
        self.mi_runner = TaskRunner(self, device="cpu")
        self.mi_runner.errored.connect(lambda msg: self.banner.show_message(msg, "error"))
        self.data = None  # the ImageDataset being trained on
        self.shown = np.zeros(0, np.int64)  # indices of x_train in the scatter
        self.trained: task.Trained | None = None
        self.encoder = None  # a frozen copy of the last trained / loaded encoder, for queries
        self.frame: task.EmbeddingFrame | None = None
        self.frames_drawn = 0
        self._live: dict = {}
        self._mi_live: dict = {}
        self._build()
        self.runner.event.connect(self._on_event)
        self.runner.finished.connect(self._on_finished)
        self.mi_runner.progress.connect(lambda p: self.mi_curve.append(p.step, p.metrics))

    # --- layout -----------------------------------------------------------------------------------------
    def _build(self) -> None:
        self.loss_curve = LossCurve(title="training loss")
        self.probes = Bars(title="probe accuracy (test split)", value_format="{:.3f}")
        side = QWidget()
        col = QVBoxLayout(side)
        col.addWidget(self.idea_label(IDEA))
        self.dataset_label = QLabel("-")
        self.dataset_label.setWordWrap(True)
        col.addWidget(self.dataset_label)
        self.params = ParamPanel(task.RepresentationConfig())
        self.params.live_changed.connect(self._live_changed)
        self.params.restart_changed.connect(lambda *_: self.start_training())
        box = QGroupBox("Encoder training")
        QVBoxLayout(box).addWidget(self.params)
        col.addWidget(box)
        buttons = QGridLayout()
        actions = [
            ("Train", self.start_training),
            ("Stop", self.runner.cancel),
            ("Data folder...", self._choose_root),
            ("Save encoder...", self._save_dialog),
            ("Load encoder...", self._load_dialog),
            ("Export embedding...", self._export_dialog),
        ]
        for i, (text, slot) in enumerate(actions):
            b = QPushButton(text)
            b.clicked.connect(slot)
            buttons.addWidget(b, i // 2, i % 2)
        col.addLayout(buttons)
        self.numbers = QLabel("alignment -   uniformity -")
        self.numbers.setStyleSheet("font-family: monospace;")
        col.addWidget(self.numbers)
        self.loss_curve.setMinimumHeight(170)
        col.addWidget(self.loss_curve)
        col.addStretch(1)
        self.scatter = LatentScatter(point_size=3)
        self.scatter.plot_item.setTitle(
            "embedding of the training set (coloured by class, unseen in training)"
        )
        self.scatter.hovered.connect(self._on_hover)
        self.histogram = DistanceHistogram()
        self.neighbours = NeighboursPanel()

        mi_box = QWidget()
        ml = QVBoxLayout(mi_box)
        ml.setContentsMargins(0, 0, 0, 0)
        self.mi_curve = LossCurve(title="MI of correlated Gaussians (d = 20)", y_label="nats")
        ml.addWidget(self.mi_curve, 1)
        self.mi_params = ParamPanel(mi_task.MIConfig())
        self.mi_params.live_changed.connect(self._mi_live_changed)
        ml.addWidget(self.mi_params)

        top = QSplitter()
        top.addWidget(self.scatter)
        top.addWidget(mi_box)
        top.setSizes([560, 440])
        bottom = QSplitter()
        for w in (self.histogram, self.probes, self.neighbours):
            bottom.addWidget(w)
        bottom.setSizes([320, 330, 350])
        grid = QSplitter(Qt.Orientation.Vertical)
        grid.addWidget(top)
        grid.addWidget(bottom)
        grid.setSizes([560, 300])
        self.place_side_and_views(side, grid, 420)

    # --- actions -------------------------------------------------------------------------------------
    @property
    def config(self) -> task.RepresentationConfig:
        return self.params.config

    def start_demo(self) -> None:
        self.demo_started = True
        self.start_training()
        self.start_mi()

    def start_training(self, config: task.RepresentationConfig | None = None) -> None:
        cfg = config or self.config
        if config is not None:
            self.params.set_config(config)
        if DATASETS[cfg.dataset].needs_root and not cfg.data_root:
            if not self._choose_root():
                return
            cfg = replace(cfg, data_root=self.config.data_root)
        self.banner.clear()
        self.loss_curve.clear()
        self._live = {"margin": cfg.margin, "temperature": cfg.temperature, "projection": cfg.projection}
        reuse = (
            self.data
            if (
                self.data is not None
                and self.data.name == cfg.dataset
                and not cfg.data_root
                and cfg.limit is None
            )
            else None
        )
        self.runner.start(partial(task.train, cfg, self._live, data=reuse), label="training encoder")

    def start_mi(self, config: mi_task.MIConfig | None = None) -> None:
        cfg = config or self.mi_params.config
        self._mi_live = {k: getattr(cfg, k) for k in ("mode", "true_mi", "mi_batch")}
        self.mi_runner.start(partial(mi_task.estimate_mi, cfg, self._mi_live), label="MI estimators")

    def _live_changed(self, name: str, value) -> None:
        self._live[name] = value
        if name == "margin" and self.frame is not None and self.frame.margin is not None:
            self.histogram.set_margin(float(value))
        if name == "projection" and not self.runner.busy:
            self.status_message.emit("the 2D view changes with the next training run's frames")

    def _mi_live_changed(self, name: str, value) -> None:
        self._mi_live[name] = value
        if not self.mi_runner.busy:
            self.start_mi()

    def _choose_root(self) -> bool:
        path = QFileDialog.getExistingDirectory(
            self, "Folder with the dataset (torchvision files or class sub-folders)"
        )
        if not path:
            return False
        self.params.set_config(replace(self.config, data_root=path))
        return True

    # --- events from the training task -----------------------------------------------------------
    def _on_event(self, ev) -> None:
        if isinstance(ev, task.DatasetReady):
            self.data, self.shown = ev.dataset, ev.shown
            self.dataset_label.setText(ev.dataset.info)
        elif isinstance(ev, task.EmbeddingFrame):
            self._draw_frame(ev)
        elif isinstance(ev, task.ProbeScores):
            self._draw_probes(ev.scores)
        elif isinstance(ev, Progress) and "loss" in ev.metrics:
            self.loss_curve.append(ev.step, {"loss": ev.metrics["loss"]})

    def _draw_frame(self, frame: task.EmbeddingFrame) -> None:
        if self.data is None:
            return
        self.frame = frame
        labels = self.data.y_train[self.shown]
        self.scatter.setData(frame.xy, labels, list(self.data.class_names), follow=True)
        self.scatter.plot_item.setTitle(
            f"embedding of the training set, {frame.projection}, step {frame.step}"
        )
        self.histogram.set_distances(frame.positive_d, frame.negative_d, frame.margin)
        self.numbers.setText(
            f"alignment  {frame.alignment:.3f}  (lower: views agree)\n"
            f"uniformity {frame.uniformity:.3f}  (lower: spread on the sphere)"
        )
        self.frames_drawn += 1

    def _draw_probes(self, scores: dict) -> None:
        get = lambda who, kind: scores.get(who, {}).get(kind, np.nan)  # noqa: E731
        values = [get(w, k) for k in ("linear", "knn") for w in ("raw pixels", "random encoder", "encoder")]
        self.probes.set_values(PROBE_NAMES, values, highlight=2)
        finite = [v for v in values if np.isfinite(v)]
        if finite:  # accuracies sit near 1: start the axis just below the worst so differences show
            lo = max(0.0, np.floor((min(finite) - 0.03) * 20) / 20)
            self.probes.view_box.setXRange(lo, 1.0 + 0.2 * (1.0 - lo), padding=0)  # room for the value labels

    def _on_finished(self, result) -> None:
        if isinstance(result, task.Trained) and self.data is not None:
            self.trained = result
            self.encoder, _ = task.load_encoder(result.state_dict, result.config, self.data)
            self.status_message.emit(
                f"trained: linear probe {result.scores.get('encoder', {}).get('linear', 0):.3f}"
            )
            if len(self.data.x_test):  # a test image and its neighbours, until the user drops one
                self.show_query(self.data.x_test[0], "a test image")
            self.demo_ready.emit()

    def _on_hover(self, index: int) -> None:
        if index < 0 or self.data is None or index >= len(self.shown):
            return
        i = int(self.shown[index])
        label = self.data.class_names[int(self.data.y_train[i])]
        self.neighbours.show_hover(self.data.x_train[i], f"#{i}: {label}")

    # --- files ---------------------------------------------------------------------------------------
    def open_path(self, path: Path) -> None:
        """A dropped image: embed it with the current encoder and show its nearest training images."""
        path = Path(path)
        if self.encoder is None or self.trained is None or self.data is None:
            self.banner.show_message(
                f"{path.name}: train or load an encoder first, then drop the image again", "warning"
            )
            return
        try:
            rgb = load_image(path)
        except LoadError as e:
            self.banner.show_message(str(e), "error")
            return
        self.show_query(task.image_for(rgb, self.data), path.name)

    def show_query(self, image: np.ndarray, caption: str) -> list[str]:
        """Embed ``image`` (C, H, W) and show its nearest training images; returns their class names."""
        query = task.embed_image(self.encoder, image)
        idx = task.nearest(self.trained.train_features, query, len(self.neighbours.neighbours))
        names = [self.data.class_names[int(self.data.y_train[i])] for i in idx]
        self.neighbours.show_neighbours(image, caption, [self.data.x_train[i] for i in idx], names)
        self.nearest_indices = idx
        self.status_message.emit(f"{caption}: nearest training images are {', '.join(names[:5])}")
        return names

    def save_encoder(self, path) -> Path:
        if self.trained is None:
            raise ValueError("nothing to save yet: train or load an encoder first")
        return save_checkpoint(path, Checkpoint(
            "representation", MODEL_NAME, self.trained.state_dict, self.trained.config,
            metrics=self.trained.scores, seed=self.trained.config.get("seed"),
            extra={"dataset": self.data.info if self.data else ""}))

    def load_encoder(self, path) -> None:
        """Load a saved encoder; its dataset is loaded (in the worker) when it is not the current one."""
        ckpt = load_checkpoint(path, tab="representation", architectures=(MODEL_NAME,))
        state, config, card = ckpt.state_dict, ckpt.config, {"scores": ckpt.metrics or ckpt.extra.get("scores", {})}
        cfg = task.RepresentationConfig(
            **{k: v for k, v in config.items() if k in task.RepresentationConfig.__dataclass_fields__}
        )
        data = self.data if self.data is not None and self.data.name == cfg.dataset else task.get_dataset(cfg)
        model, cfg = task.load_encoder(state, config, data)
        import torch

        from lab_app.topics.representation.probes import encode

        features = encode(model, torch.from_numpy(data.x_train))
        self.data, self.encoder = data, model
        self.trained = task.Trained(config, state, features, card.get("scores", {}))
        self.params.set_config(cfg)
        self.dataset_label.setText(data.info)
        self.status_message.emit(
            f"loaded encoder from {Path(path).name}: drop an image to find its neighbours"
        )

    def _save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save encoder", "encoder.safetensors", "safetensors (*.safetensors)"
        )
        if path:
            try:
                self.status_message.emit(f"saved encoder to {self.save_encoder(path)}")
            except (OSError, ValueError) as e:
                self.banner.show_message(f"could not save: {e}", "error")

    def _load_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load encoder", "", "safetensors (*.safetensors)")
        if path:
            try:
                self.load_encoder(path)
            except (OSError, ValueError) as e:
                self.banner.show_message(str(e), "error")

    def _export_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export embedding", "embedding.csv", "CSV (*.csv);;NumPy (*.npy)"
        )
        if path:
            try:
                self.scatter.export_data(path)
                self.status_message.emit(f"exported the embedding to {path}")
            except (OSError, ValueError) as e:
                self.banner.show_message(f"could not export: {e}", "error")

    # --- TopicTab -------------------------------------------------------------------------------------
    def views(self):
        return {
            "embedding": self.scatter,
            "mutual information": self.mi_curve,
            "distances": self.histogram,
            "loss": self.loss_curve,
            "probes": self.probes,
            "neighbours": self.neighbours,
        }

    def run_config(self):
        return {**asdict(self.config), "mi": asdict(self.mi_params.config)}

    def shutdown(self, timeout: float = 10.0) -> bool:
        ok = self.mi_runner.shutdown(timeout)
        return self.runner.shutdown(timeout) and ok
