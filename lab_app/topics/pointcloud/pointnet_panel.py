"""The 3D tab's PointNet part: train live (loss and accuracy curves, a confusion matrix filling in,
Pause/Resume/Stop), save/load the model, classify the cloud on screen with its critical points
highlighted, and shuffle its points to show that the answer does not depend on their order.

Training and folder reading run in ``runner``; preparing a cloud, building or loading the model and
classifying run in ``infer_runner`` (pointnet_task.classify_run). The model in use and the one to use
next (a checkpoint path, the live Weights or the Trained result, until that runner has built it)
are kept in ``self.slot`` (core.trained.ModelSlot); a checkpoint that does not load leaves the
model in use."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from lab_app.core.trained import ModelRun, ModelSlot, Ready, Saved, save_task
from lab_app.qt.layout import side_panel_split
from lab_app.qt.widgets.bars import Bars
from lab_app.qt.widgets.confusion_view import ConfusionView
from lab_app.qt.widgets.loss_curve import LossCurve
from lab_app.qt.widgets.param_panel import ParamPanel
from lab_app.qt.widgets.checkpoint_buttons import CheckpointButtons
from lab_app.qt.widgets.run_buttons import RunButtons
from lab_app.qt.widgets.pointcloud_view import PointCloudView
from lab_app.qt.worker import TaskRunner
from lab_app.topics.pointcloud import pointnet_task as pt

IDEA = """
<b>PointNet</b>: every point goes through the same MLP <i>h</i>, then a <i>max-pool</i> over points
gives the global feature <i>g</i><sub>j</sub> = max<sub>i</sub> <i>h</i>(<i>x</i><sub>i</sub>)<sub>j</sub>;
a small MLP classifies <i>g</i>. Max is symmetric, so the order of the points cannot matter
(try <i>Shuffle points</i>). T-Nets learn an input alignment and a feature alignment <i>A</i>, kept
near-orthogonal by ||<i>I</i> - <i>AA</i><sup>T</sup>||<sup>2</sup>.<br>
<b>Critical points</b> (red) win the max for at least one channel: the prediction depends on them
alone, at most <i>D</i> of them, an outline of the shape.
"""


class PointNetPanel(QWidget):
    classified = Signal(object)   # pt.Classification, once drawn
    cloud_prepared = Signal(object)  # (N, 3) normalised points

    def __init__(self, banner, runner: TaskRunner, infer_runner: TaskRunner, seed: int = 0,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.banner = banner
        self.seed = seed
        self.runner = runner  # the tab's second runner: training survives a dropped file
        self.infer_runner = infer_runner   # prepares clouds, builds / loads the model, classifies
        self.slot = ModelSlot()            # the model in use and the one to build next
        self.class_names: tuple[str, ...] = ()
        self.trained: pt.Trained | None = None
        self.folder_data = None            # a PointSetDataset read from a folder, used by Train
        self.cloud: np.ndarray | None = None   # the prepared cloud (N, 3) shown and classified
        self.cloud_name = ""
        self._asked = None   # the cloud of the classifying run in flight, until that run delivers
        self.result: pt.Classification | None = None
        self._pending = ""
        self._build()
        self.runner.event.connect(self._on_event)
        self.runner.finished.connect(self._on_finished)
        self.infer_runner.finished.connect(self._on_model_run)
        self.infer_runner.errored.connect(self._on_infer_error)
        # Errors and warnings reach the banner through TopicTab.add_runner; info lines go here.
        self.runner.message.connect(lambda text, level: level != "warning" and self.status.setText(text))
        self.runner.busy_changed.connect(self._update_buttons)
        self._update_buttons()

    # --- layout -------------------------------------------------------------------------------------
    def _build(self) -> None:
        side = QWidget()
        col = QVBoxLayout(side)
        col.addWidget(_idea(IDEA))
        box = QGroupBox("Training")
        bl = QVBoxLayout(box)
        self.params = ParamPanel(pt.TrainConfig(seed=self.seed))
        self.params.restart_changed.connect(self._knob_changed)
        bl.addWidget(self.params)
        self.run_buttons = RunButtons(self.runner, self.train,
                                      "Train a PointNet from scratch in the background (about a minute)")
        bl.addWidget(self.run_buttons)
        row = QHBoxLayout()
        self.folder_button = QPushButton("Open dataset folder...")
        self.folder_button.setToolTip("ModelNet10/40 (<class>/train|test/*.off) or one sub-folder of clouds per class")
        self.folder_button.clicked.connect(self._folder_dialog)
        row.addWidget(self.folder_button)
        bl.addLayout(row)
        self.checkpoint_buttons = CheckpointButtons("model", self.save_model, self.load_model,
                                                    "pointnet.safetensors")
        self.save_button = self.checkpoint_buttons.save_button
        bl.addWidget(self.checkpoint_buttons)
        self.data_label = QLabel("Data: Shapes (built in)")
        self.data_label.setWordWrap(True)
        self.model_label = QLabel("Model: none yet")
        self.model_label.setWordWrap(True)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        for w in (self.data_label, self.model_label, self.status):
            bl.addWidget(w)
        col.addWidget(box)
        col.addStretch(1)

        self.view = PointCloudView(point_size=4.0, lod_points=10**9)
        self.view.setToolTip("The cloud as the model sees it (centred, unit sphere); red: critical points")
        top = QHBoxLayout()
        self.shuffle_button = QPushButton("Shuffle points")
        self.shuffle_button.setToolTip("Randomly reorder the points and classify again: PointNet gives the same answer")
        self.shuffle_button.clicked.connect(self.shuffle)
        self.critical_label = QLabel("-")
        top.addWidget(self.shuffle_button)
        top.addWidget(self.critical_label, 1)
        cloud_col = QWidget()
        cl = QVBoxLayout(cloud_col)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.addLayout(top)
        cl.addWidget(self.view, 1)
        self.bars = Bars(title="Class probabilities", value_format="{:.2f}")
        self.curve = LossCurve(title="Loss and accuracy")
        self.confusion = ConfusionView()

        upper = QSplitter()
        upper.addWidget(cloud_col)
        upper.addWidget(self.bars)
        upper.setSizes([600, 320])
        lower = QSplitter()
        lower.addWidget(self.curve)
        lower.addWidget(self.confusion)
        lower.setSizes([600, 320])
        right = QSplitter()
        right.setOrientation(right.orientation().Vertical)
        right.addWidget(upper)
        right.addWidget(lower)
        right.setSizes([520, 300])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(side_panel_split(side, right, 440))

    # --- model ---------------------------------------------------------------------------------------
    @property
    def config(self) -> pt.TrainConfig:
        return self.params.config

    @property
    def model(self):
        return self.slot.model

    @property
    def ready(self) -> Ready | None:
        return self.slot.ready

    def _use(self, ready: Ready) -> None:
        self.class_names = tuple(ready.class_names)
        if ready.origin == "checkpoint":
            self.trained = ready.trained
            acc = ready.trained.metrics.get("test_accuracy")
            self.curve.clear()
            self.curve.extend(ready.trained.history)   # the curves of the run that made it
            confusion = pt.confusion_of(ready.trained)
            if confusion.size:
                self.confusion.set_matrix(confusion, ready.class_names)
            if self.runner.busy and self._pending == "train":   # the loaded model replaces the training one
                self.runner.cancel()
            text = f"Model: {ready.path.name}, {len(ready.class_names)} classes" + (
                f", test accuracy {acc:.1%}" if acc is not None else "")
        elif ready.origin == "trained":
            m = ready.trained.metrics
            text = (f"Model: trained here on {ready.trained.extra.get('data', '')}, test accuracy "
                    f"{m['test_accuracy']:.1%} in {m['train_seconds']:.0f} s "
                    f"({m['samples_per_s']:.0f} clouds/s)")
        else:
            text = f"Model: training ({len(ready.class_names)} classes), live weights"
        self.model_label.setText(text)
        self.slot.text = text
        self._update_buttons()

    def ensure_model(self) -> None:
        """A model to classify with: the shipped checkpoint when there is one, else train one."""
        training = self.runner.busy and self._pending == "train"
        if self.slot.ready is not None or self.slot.pending is not None or training:
            return
        if pt.CHECKPOINT.exists():
            self.slot.load(pt.CHECKPOINT, shipped=True)
            self._run()
        else:
            self.status.setText("no shipped PointNet checkpoint: training one now")
            self.train()

    def load_model(self, path: str | Path) -> None:
        """Load a checkpoint in the infer runner (and classify the cloud on screen with it); a wrong
        file gets a message naming it and the model in use stays."""
        self.banner.clear()
        self.slot.load(path)
        self.model_label.setText(f"Model: loading {Path(path).name}...")
        self._run()

    def train(self) -> None:
        self.banner.clear()
        self.curve.clear()
        self._pending = "train"
        cfg = self.config
        data = self.folder_data
        if data is not None and data.points != cfg.points:
            cfg = pt.TrainConfig(**{**cfg.__dict__, "points": data.points})
        self.runner.start(partial(pt.train, cfg, data), label="training PointNet")

    def _knob_changed(self, name: str, value) -> None:
        if name == "dataset":
            self.folder_data = None
            self.data_label.setText(f"Data: {value} (built in)")
        if self.runner.busy and self._pending == "train":
            self.train()   # a structural knob restarts the run

    def _update_buttons(self, *_):
        self.save_button.setEnabled(self.trained is not None and not self.runner.busy)

    # --- runner events ---------------------------------------------------------------------------------
    def _on_event(self, ev) -> None:
        if isinstance(ev, pt.Progress) and ev.metrics:
            self.curve.append(ev.step, ev.metrics)
            if ev.text:
                self.status.setText(ev.text + "  " + "  ".join(f"{k} {v:.3f}" for k, v in ev.metrics.items()))
        elif isinstance(ev, pt.Confusion):
            self.confusion.set_matrix(ev.matrix, ev.class_names)
        elif isinstance(ev, pt.Weights):
            self.slot.offer(ev)
            self._run()

    def _on_finished(self, result) -> None:
        if isinstance(result, pt.Trained):
            self.trained = result
            self.confusion.set_matrix(pt.confusion_of(result), result.class_names)
            self.slot.offer(result)
            self._run()
        elif isinstance(result, Saved):
            self.status.setText(f"saved to {result.path}")
        elif isinstance(result, pt.PointSetDataset):
            self.folder_data = result
            self.data_label.setText(f"Data: {result.source}: {len(result.class_names)} classes, "
                                    f"{len(result.train_x):,} train / {len(result.test_x):,} test clouds "
                                    "(press Train)")
        self._update_buttons()

    # --- clouds ----------------------------------------------------------------------------------------
    def set_cloud(self, points, name: str = "") -> None:
        """Prepare (normalise, resample) and classify a cloud in the infer runner: ``points`` (N, 3) or a
        callable that makes them there. A cloud that cannot be used gets a message; the one on screen
        stays."""
        self.cloud_name = name
        self._run(points)

    def shuffle(self) -> None:
        """Reorder the points at random and classify again (the probabilities must not move)."""
        if self.cloud is None:
            return
        shuffled = self.cloud[np.random.default_rng().permutation(len(self.cloud))]
        self._run(pt.PreparedCloud(shuffled, (), self.cloud_name))

    def _run(self, cloud=None) -> None:
        """Classify ``cloud`` (default: the one on screen) with the model to use next."""
        if cloud is None:
            cloud = self._asked       # a run started now cancels the one in flight: it takes on its cloud
        if cloud is None and self.cloud is not None:
            cloud = pt.PreparedCloud(self.cloud, (), self.cloud_name)
        self._asked = cloud
        if cloud is None and self.slot.pending is None:
            return                      # nothing to classify, nothing to build
        source = self.slot.start()
        self.infer_runner.start(partial(pt.classify_run, source, cloud, self.cloud_name, self.config.points,
                                        self.seed), label="classifying the cloud")

    def _on_model_run(self, run) -> None:
        if not isinstance(run, ModelRun):
            return
        self._asked = None
        if self.slot.finished(run):
            self._use(run.ready)
        prepared = run.inputs
        if prepared is None:
            return
        if prepared.notes:
            self.status.setText("; ".join(prepared.notes))
        first = self.cloud is None or len(self.cloud) != len(prepared.points) or \
            not np.array_equal(np.sort(self.cloud, axis=0), np.sort(prepared.points, axis=0))
        if first:
            self.cloud_prepared.emit(prepared.points)
        self.cloud = prepared.points
        if run.output is None:
            self.view.set_cloud(prepared.points, reset_camera=True)
            self.critical_label.setText("no model yet: press Train or Load model")
            return
        result = run.output
        self.result = result
        self.view.set_cloud(prepared.points, reset_camera=first)
        self.view.set_highlight(result.critical, color=(1.0, 0.15, 0.1, 1.0), size=7.0)
        self.bars.set_values(result.class_names, result.probabilities, highlight=result.predicted)
        self.critical_label.setText(
            f"<b>{result.class_names[result.predicted]}</b> ({result.probabilities.max():.0%}); "
            f"critical points: <b>{len(result.critical)}</b> of {len(prepared.points):,} "
            f"(D = {self.model.cfg.global_widths[-1]})")
        self.classified.emit(result)

    def _on_infer_error(self, _message: str) -> None:
        """The banner shows the message; a checkpoint that would not load is dropped, the model in use
        stays. Without any model (the shipped one failed), train one."""
        self._asked = None            # a cloud that could not be used is not tried again
        failed = self.slot.failed()
        if failed:
            self.model_label.setText(self.slot.text)        # not "loading ..." any more
        if failed == "shipped" and self.slot.ready is None:
            self.train()

    # --- dialogs ---------------------------------------------------------------------------------------
    def _folder_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a dataset folder (one sub-folder per class)")
        if path:
            self.open_folder(path)

    def open_folder(self, path: str | Path) -> None:
        self.banner.clear()
        self._pending = "folder"
        self.runner.start(partial(pt.load_folder, Path(path), self.config.points, self.config.seed),
                          label=f"reading {Path(path).name}")

    def save_model(self, path: str | Path) -> None:
        """Write the model in use to ``path`` in the training runner (Save is off while it trains)."""
        if self.trained is not None and not self.runner.busy:
            self._pending = "save"
            self.runner.start(partial(save_task, pt.SPEC, Path(path), self.trained, None),
                              label=f"saving {Path(path).name}")


def _idea(html: str) -> QLabel:
    from lab_app.qt.tab_base import TopicTab

    return TopicTab.idea_label(html)
