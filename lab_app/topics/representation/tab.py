"""The representation-learning tab: an encoder trains with InfoNCE, the pairwise contrastive loss or
a rotation pretext while its embedding space moves on screen; beside it, two mutual-information
estimators train on Gaussians whose MI is known. Runners, all running Qt-free functions of task.py
and mi_task.py: training, MI, dropped images (embedded while training goes on) and checkpoints (a bad
file leaves the run alone). The slots here only draw."""

from __future__ import annotations

from dataclasses import asdict, replace
from functools import partial
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFileDialog,
    QGridLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from lab_app.core.events import Progress
from lab_app.core.live import LiveDict
from lab_app.data.datasets import DATASETS
from lab_app.io.kinds import CHECKPOINT, file_kind
from lab_app.qt.tab_base import TopicTab
from lab_app.qt.turn_budget import in_turns
from lab_app.qt.widgets.bars import Bars
from lab_app.qt.widgets.checkpoint_buttons import CheckpointButtons
from lab_app.qt.widgets.latent_scatter import LatentScatter
from lab_app.qt.widgets.loss_curve import LossCurve
from lab_app.qt.widgets.param_panel import ParamPanel
from lab_app.topics.representation import cpc_task, mi_task, shipped, task
from lab_app.topics.representation.cpc_panel import CpcPanel
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
<b>CPC</b> (Objective list): cut the image into patches, summarise the rows above with a causal
context c, and pick the true patch k rows below among N with z<sup>T</sup>W<sub>k</sub>c: InfoNCE again.
<b>Patch position</b>: which of the 8 neighbours of a patch is another patch?<br>
Quality is read by <i>probes</i>: a linear classifier and kNN on frozen features, against raw pixels and an
untrained encoder.
"""

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
        # a runner of the tab's like the others: it follows Run > Device, the status bar and the runs
        # history see it, and cancel / shutdown reach it (a bare TaskRunner kept training after both)
        self.mi_runner = self.add_runner()
        self.data = None  # the ImageDataset being trained on
        self.shown = np.zeros(0, np.int64)  # indices of x_train in the scatter
        self.trained: task.Trained | None = None
        self.encoder = None  # a frozen copy of the last trained / loaded encoder, for queries
        self.frame: task.EmbeddingFrame | None = None
        self.frames_drawn = 0
        self.frame_config: dict = {}  # the config of the run (or checkpoint) that draws the frames
        self.last_file: Path | None = None  # the file whose neighbours are on screen (or on their way)
        self.query_result: task.QueryResult | None = None
        self.nearest_indices = np.zeros(0, np.int64)
        self._file_drawn = False
        self._ready_after: set[str] = set()   # parts of a result still to draw before demo_ready
        self._loaded_frame = None   # the frame a load drew (its t-SNE replaces it, if nothing else has)
        self._live = LiveDict()
        self._mi_live = LiveDict()
        self.file_runner = self.add_runner()  # dropped images: training keeps going meanwhile
        self.ckpt_runner = self.add_runner()  # save / load: a failed load leaves the run alone
        self._build()
        self.runner.event.connect(self._on_event)
        self.runner.finished.connect(self._on_finished)
        self.file_runner.finished.connect(self._on_query)
        self.file_runner.errored.connect(self._on_query_error)
        self.ckpt_runner.finished.connect(self._on_ckpt_finished)
        self.ckpt_runner.cancelled.connect(lambda: self._part_drawn("t-SNE"))   # a save or load cut it short
        self.mi_runner.progress.connect(lambda p: self.mi_curve.append(p.step, p.metrics))

    # --- layout -----------------------------------------------------------------------------------------
    def _build(self) -> None:
        self.loss_curve = LossCurve(title="training loss")
        self.probes = Bars(title="probe accuracy (test split)", value_format="{:.3f}")
        side, col = self.config_column(IDEA, task.RepresentationConfig(seed=self.ctx.seed),
                                       "Encoder training")
        buttons = QGridLayout()
        actions = [
            ("Train", lambda: self.start_training()),  # not clicked(checked) as a config
            ("Stop", self.runner.cancel),
            ("Data folder...", self._choose_root),
            ("Export embedding...", self._export_dialog),
        ]
        for i, (text, slot) in enumerate(actions):
            b = QPushButton(text)
            b.clicked.connect(slot)
            buttons.addWidget(b, i // 2, i % 2)
        col.addLayout(buttons)
        self.checkpoint_buttons = CheckpointButtons(
            "encoder", self.save_encoder, self.load_encoder, "encoder.safetensors"
        )
        col.addWidget(self.checkpoint_buttons)
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
        self.mi_params = ParamPanel(mi_task.MIConfig(seed=self.ctx.seed))
        self.mi_params.live_changed.connect(self._mi_live_changed)
        self.mi_params.restart_changed.connect(lambda *_: self.start_mi())   # its seed
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
        # --- CPC / patch position: their page replaces the embedding views while they run ---
        self.cpc_panel = CpcPanel(self.add_runner())
        self.views_stack = QStackedWidget()
        self.views_stack.addWidget(grid)
        self.views_stack.addWidget(self.cpc_panel)
        self.place_side_and_views(side, self.views_stack, 420)

    # --- actions -------------------------------------------------------------------------------------
    @property
    def config(self) -> task.RepresentationConfig:
        return self.params.config

    def start_demo(self) -> None:
        """The shipped encoder (embedding, probes, loss curve; Train trains one live), as the detector tabs
        open on theirs, else a training now; and the MI estimators."""
        self.demo_started = True
        self._first_encoder()
        self.start_mi()

    def _first_encoder(self) -> bool:   # True: loading the shipped encoder (of this seed); False: training
        if shipped.shipped_seed() != self.config.seed:
            self.start_training()
            return False
        self.ckpt_runner.start(shipped.load_shipped, label="loading the shipped encoder")
        return True

    def start_training(self, config: task.RepresentationConfig | None = None) -> None:
        cfg = config or self.config
        if config is not None:
            self.params.set_config(config)
        if DATASETS[cfg.dataset].needs_root and not cfg.data_root:
            if not self._choose_root():
                return
            cfg = replace(cfg, data_root=self.config.data_root)
        if cfg.objective in cpc_task.OBJECTIVES:
            self._start_cpc(cfg)
            return
        self.cpc_panel.stopped()
        self.views_stack.setCurrentIndex(0)
        self._ready_after.clear()   # a load's t-SNE still under way ends nothing now
        self.banner.clear()
        self.loss_curve.clear()
        self.frame_config = asdict(cfg)
        self._live = LiveDict({"margin": cfg.margin, "temperature": cfg.temperature, "projection": cfg.projection})
        reuse = (
            self.data
            if (
                self.data is not None
                and self.data.name == cfg.dataset
                and not cfg.data_root
                and cfg.limit is None
                and self.data.seed == cfg.seed   # the split is the seed's
            )
            else None
        )
        self.runner.start(partial(task.train, cfg, self._live, data=reuse), label="training encoder")

    # --- CPC / patch position (cpc_task.py, cpc_panel.py) ---
    def _start_cpc(self, cfg: task.RepresentationConfig) -> None:
        if cfg.dataset == "digits":  # 8 px: too small for a grid of patches several rows deep
            cfg = replace(cfg, dataset="mnist5k")
            self.params.set_config(cfg)
            self.status_message.emit(
                f"{cfg.objective} cuts images into patches: the dataset is now mnist5k (28 px)")
        self.banner.clear()
        run = self.cpc_panel.config_for(cfg)
        self.cpc_panel.reset(run)
        self.views_stack.setCurrentWidget(self.cpc_panel)
        reuse = self.data if self.data is not None and self.data.name == cfg.dataset and not cfg.data_root \
            and cfg.limit is None else None
        self.runner.start(partial(cpc_task.train, run, self.cpc_panel.live, data=reuse),
                          label=f"training {cfg.objective}")

    def screenshot_pages(self) -> list[tuple[str, object]]:
        """--screenshot: the embedding page (the demo's InfoNCE run), then a CPC and a patch-position
        run, each saved as its own PNG once it has finished."""
        base, info = self.config, self.dataset_label.text()
        return [("", lambda: (self.params.set_config(base), self.dataset_label.setText(info),
                              self.views_stack.setCurrentIndex(0))),
                ("-cpc", lambda: self._run_and_wait(replace(base, objective="CPC"))),
                ("-patch", lambda: self._run_and_wait(replace(base, objective="patch position")))]

    def _run_and_wait(self, cfg, timeout_s: float = 3600) -> None:
        from PySide6.QtCore import QEventLoop, QTimer

        loop = QEventLoop()
        for signal in (self.runner.finished, self.runner.errored):
            signal.connect(loop.quit)
        QTimer.singleShot(int(timeout_s * 1000), loop.quit)
        self.start_training(cfg)
        loop.exec()
        for signal in (self.runner.finished, self.runner.errored):
            signal.disconnect(loop.quit)
    # --- end CPC ---

    def start_mi(self, config: mi_task.MIConfig | None = None) -> None:
        cfg = config or self.mi_params.config
        self._mi_live = LiveDict({k: getattr(cfg, k) for k in ("mode", "true_mi", "mi_batch")})
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
        if self.cpc_panel.draw(ev):  # CPC / patch position events
            return
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
        if frame.step >= self.frame_config.get("steps", float("inf")):
            self.result_shown.emit()   # the trained encoder's embedding and probes: the t-SNE follows
        if self.last_file is not None and not self._file_drawn and not self.file_runner.busy:
            self._query(self.last_file, self.last_file.name)  # opened before there were weights

    def _draw_probes(self, scores: dict) -> None:
        get = lambda who, kind: scores.get(who, {}).get(kind, np.nan)  # noqa: E731
        values = [get(w, k) for k in ("linear", "knn") for w in ("raw pixels", "random encoder", "encoder")]
        self.probes.set_values(PROBE_NAMES, values, highlight=2)
        finite = [v for v in values if np.isfinite(v)]
        if finite:  # accuracies sit near 1: start the axis just below the worst so differences show
            lo = max(0.0, np.floor((min(finite) - 0.03) * 20) / 20)
            self.probes.view_box.setXRange(lo, 1.0 + 0.2 * (1.0 - lo), padding=0)  # room for the value labels

    def _on_finished(self, result) -> None:
        if isinstance(result, cpc_task.CpcTrained):  # CPC / patch position
            self.cpc_panel.finished(result, self.data)
            self.demo_ready.emit()
            return
        if isinstance(result, task.Trained) and self.data is not None:
            self.trained, self.encoder = result, result.encoder
            self.status_message.emit(
                f"trained: linear probe {result.scores.get('encoder', {}).get('linear', 0):.3f}"
            )
            # the opened file again through the trained encoder; else a test image, until one is dropped
            self._ready_after = {"query"}
            if self.last_file is not None:
                self._query(self.last_file, self.last_file.name)
            elif len(self.data.x_test):
                self._query(self.data.x_test[0], "a test image")
            else:
                self._part_drawn("query")

    def _on_hover(self, index: int) -> None:
        if index < 0 or self.data is None or index >= len(self.shown):
            return
        i = int(self.shown[index])
        label = self.data.class_names[int(self.data.y_train[i])]
        self.neighbours.show_hover(self.data.x_train[i], f"#{i}: {label}")

    # --- files -------------------------------------------------------------------------------------
    def open_path(self, path: Path) -> None:
        """A dropped or opened image, whatever the tab is doing: with weights on screen (a run's latest
        frame, a trained or loaded encoder) its nearest training images are found now; with none yet,
        the demo starts and the first weights it draws find them. When a training ends, the image goes
        through the trained encoder again (and only then is the tab's result ready)."""
        path = Path(path)
        if file_kind(path) == CHECKPOINT:  # a checkpoint the window routed here: load it
            self.load_encoder(path)
            return
        if self.views_stack.currentWidget() is self.cpc_panel:  # CPC / patch position
            self.cpc_panel.open_path(path)
            return
        self.last_file = path
        self._file_drawn = False
        if self.frame is not None:
            self._query(path, path.name)
            return
        loading = self.ckpt_runner.busy
        if not self.runner.busy and not loading:
            loading = self._first_encoder()
            if not self.mi_runner.busy and not self.mi_curve.names():
                self.start_mi()
        self.neighbours.title.setText(f"<b>{path.name}</b>: waiting for the encoder's first weights")
        self.status_message.emit(f"{path.name}: {'loading' if loading else 'training'} an encoder first; its "
                                 "neighbours show with its first weights")

    def _query(self, source, caption: str) -> None:
        """Embed ``source`` (a file or a (C, H, W) image) in the worker and show its neighbours."""
        trained = self.trained is not None and not self.runner.busy
        state = self.trained.state_dict if trained else self.frame.state_dict
        config = self.trained.config if trained else self.frame_config
        features = self.trained.train_features if trained else None
        k = len(self.neighbours.neighbours)
        self.file_runner.start(
            partial(task.query, source, caption, config, state, self.data, features, k), label=f"embedding {caption}"
        )

    def _on_query(self, result) -> None:
        if not isinstance(result, task.QueryResult) or self.data is None:
            return
        self.query_result, self.nearest_indices = result, result.indices
        images = [self.data.x_train[i] for i in result.indices]
        self.neighbours.show_neighbours(result.image, result.caption, images, list(result.names))
        c, h, w = self.data.image_shape
        self.neighbours.title.setText(
            f"<b>{result.caption}</b> as the encoder sees it ({h}x{w}, {self.data.name}) and its nearest "
            "training images"
        )
        self.status_message.emit(f"{result.caption}: nearest training images are {', '.join(result.names[:5])}")
        if self.last_file is not None and result.caption == self.last_file.name:
            self._file_drawn = True
        self._part_drawn("query")

    def _on_query_error(self, _message: str) -> None:
        self.last_file = None  # the banner says why; the training's result stays the tab's result
        self._part_drawn("query")

    def _part_drawn(self, part: str) -> None:
        """``part`` of a finished run's or a load's result is on screen: the demo is done with the last."""
        if part in self._ready_after:
            self._ready_after.discard(part)
            if not self._ready_after:
                self.demo_ready.emit()

    # --- save / load (in the checkpoint runner) ----------------------------------------------------
    def save_encoder(self, path) -> None:
        if self.trained is None:
            self.banner.show_message("nothing to save yet: train or load an encoder first", "warning")
            return
        info = self.data.info if self.data is not None else ""
        self.ckpt_runner.start(partial(task.save_encoder, Path(path), self.trained, info), label="saving encoder")

    def open_checkpoint(self, path: Path) -> None:
        """An encoder checkpoint routed here by the window: loaded in the worker (load_encoder)."""
        self.load_encoder(path)

    def load_encoder(self, path) -> None:
        """Read a checkpoint in the worker (its dataset too, when it is not the current one); the
        current encoder and run stay unless it loads."""
        path = Path(path)
        self.ckpt_runner.start(partial(task.load_encoder, path, self.data), label=f"loading {path.name}")

    def _on_ckpt_finished(self, result) -> None:
        if isinstance(result, Path):
            self.status_message.emit(f"saved encoder to {result}")
            return
        if isinstance(result, task.EmbeddingFrame):   # a loaded embedding's t-SNE
            if not self.runner.busy and self.frame is self._loaded_frame:   # nothing drawn over it since
                self._draw_frame(result)
            self._part_drawn("t-SNE")
            return
        if not isinstance(result, task.Loaded):
            return
        self.runner.cancel()
        self.data, self.shown = result.data, result.shown
        self.trained, self.encoder = result.trained, result.trained.encoder
        self.frame_config = cfg = result.trained.config
        self._file_drawn = True  # embedded again below, through the loaded encoder
        self._loaded_frame, scores = result.frame, result.trained.scores
        tsne = result.embedding is not None and str(cfg.get("projection", "")).startswith("t-SNE")
        self._ready_after = {"query", "t-SNE"} if tsne else {"query"}
        what = ("the shipped encoder ({objective}, {steps} steps, {dataset})".format(**cfg)
                if Path(result.path) == shipped.CHECKPOINT else f"encoder {Path(result.path).name} loaded")
        # a part a turn, the result first: drawn at once, the whole page repainted in one long stall
        in_turns(self, [lambda: self._draw_frame(result.frame),
                        lambda: self._draw_probes(scores) if "encoder" in scores else None,
                        lambda: (self.params.set_config(task.config_from(cfg)),
                                 self.dataset_label.setText(result.data.info)),
                        lambda: (self.loss_curve.clear(), self.loss_curve.extend(result.trained.history),
                                 self.status_message.emit(f"{what}: drop an image to find its neighbours, or "
                                                          "Train one live")),
                        lambda: self._after_load(result, tsne)],
                 still=lambda: self._loaded_frame is result.frame and not self.runner.busy)

    def _after_load(self, result: task.Loaded, tsne: bool) -> None:
        if tsne:   # laid out as a training's last frame is: the PCA now, its t-SNE in seconds
            self.ckpt_runner.start(partial(task.tsne_frame, result.frame, result.embedding,
                                           int(result.trained.config.get("seed") or 0)),
                                   label="t-SNE of the loaded embedding")
        if not self.file_runner.busy:   # else a file opened meanwhile is being embedded already
            f = self.last_file
            self._query(*((f, f.name) if f is not None else (self.data.x_test[0], "a test image")))

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
        if self.views_stack.currentWidget() is self.cpc_panel:  # CPC / patch position
            return self.cpc_panel.views()
        return {
            "embedding": self.scatter,
            "mutual information": self.mi_curve,
            "distances": self.histogram,
            "loss": self.loss_curve,
            "probes": self.probes,
            "neighbours": self.neighbours,
        }

    def run_config(self):
        extra = {"cpc": self.cpc_panel.run_config()} if self.config.objective in cpc_task.OBJECTIVES else {}
        return {**asdict(self.config), "mi": asdict(self.mi_params.config), **extra}

