"""DetectorTab: what the detection tabs share (Qt glue over lab_app.detection and a tab's task.py).

Layout: idea panel, knobs (ParamPanel over the task's config), Train / Pause / Stop, save / load,
New scene / Open photo / Draw a box; the DetectionView, the loss-term curves and the mAP curves.
Work, all in runners (the UI thread only draws): training in ``self.runner``; building or loading
the model and running it on the current image in ``self.infer_runner`` (so a dropped photo is
detected while training goes on, with the live weights); reading a photo or painting a scene in
``self.file_runner``; saving in ``self.save_runner``. The model in use and the one to use next (a
checkpoint path, the live Weights or the Trained result, until the infer runner has built it) are
kept in ``self.slot`` (core.trained.ModelSlot); a bad checkpoint leaves the model in use. The
confidence and NMS sliders re-filter the last candidates without running the model again. A photo
(not a procedural scene) gets a note over the view saying what the model knows.

A subclass sets ``task`` (its task module: Config with a ``tta`` field, CHECKPOINT, SPEC, train,
detect, Inference) and ``IDEA``, and draws its own overlays in ``draw_overlays`` and
``show_box_targets``."""

from __future__ import annotations

from dataclasses import asdict, replace
from functools import partial
from pathlib import Path

import numpy as np
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from lab_app.core.events import Progress
from lab_app.core.trained import ModelRun, ModelSlot, Ready, Trained, Weights, save_task
from lab_app.detection import pretrained
from lab_app.detection.detector import OpenedImage, detector_run, open_image, photo_note, scene_image
from lab_app.detection.tta import views_for
from lab_app.io.image import IMAGE_EXTENSIONS
from lab_app.qt.layout import side_panel_split
from lab_app.qt.tab_base import TopicTab
from lab_app.qt.widgets.detection_view import DetectionView
from lab_app.qt.widgets.loss_curve import LossCurve, history_columns
from lab_app.qt.widgets.param_panel import ParamPanel
from lab_app.qt.widgets.checkpoint_buttons import CheckpointButtons
from lab_app.qt.widgets.run_buttons import RunButtons

DEMO_SCENE_SEED = 424_242
IN_APP = "In-app model (trained here)"
FACES_TAB = "Pyramids & small objects"


class DetectorTab(TopicTab):
    task = None           # the tab's task module
    IDEA = ""
    model_title = "detector"

    def __init__(self, ctx, parent=None):
        super().__init__(ctx, parent)
        self.infer_runner = self.add_runner()   # builds / loads the model, runs it on the image
        self.file_runner = self.add_runner()    # reads a photo, paints a scene
        self.save_runner = self.add_runner()    # writes a checkpoint
        self.slot = ModelSlot()                 # the model in use and the one to build next
        self._infer_image = None                # the image the last detector run started on
        self.class_names: tuple[str, ...] = ()
        self.trained: Trained | None = None     # what Save writes
        self.image: np.ndarray | None = None
        self.image_name = ""
        self.image_is_scene = False             # a procedural scene (what the model knows), not a photo
        self.result = None  # the task's Inference
        self.drawn_box: np.ndarray | None = None
        self._demo_pending = True               # demo_ready once the first real result is drawn
        self._pretrained: dict = {}             # name -> (model, class names), filled by the runner
        self._build()
        self.runner.event.connect(self._on_train_event)
        self.runner.finished.connect(self._on_trained)
        self.runner.busy_changed.connect(self._update_buttons)
        self.infer_runner.finished.connect(self._on_inference)
        self.infer_runner.errored.connect(self._on_infer_error)
        self.file_runner.finished.connect(self._on_image_read)
        self.save_runner.finished.connect(
            lambda saved: self.status_message.emit(f"saved the model to {saved.path}"))
        self._update_buttons()

    # --- layout ---------------------------------------------------------------------------------------
    def _build(self) -> None:
        side = QWidget()
        col = QVBoxLayout(side)
        col.addWidget(self.idea_label(self.IDEA))
        self.params = ParamPanel(self.task.Config(seed=self.ctx.seed))
        self.params.live_changed.connect(self._live_changed)
        col.addWidget(self.params)
        self.add_controls(col)

        box = QGroupBox("Model")
        bl = QVBoxLayout(box)
        self.run_buttons = RunButtons(self.runner, self.train,
                                      f"Train a {self.model_title} from scratch on fresh procedural scenes")
        bl.addWidget(self.run_buttons)
        self.checkpoint_buttons = CheckpointButtons("model", self.save_model, self.load_model,
                                                    f"{self.tab_id}.safetensors")
        self.save_button = self.checkpoint_buttons.save_button
        bl.addWidget(self.checkpoint_buttons)
        row = QHBoxLayout()
        row.addWidget(QLabel("Detector"))
        self.detector_combo = QComboBox()
        self.detector_combo.addItems([IN_APP] + list(pretrained.PRETRAINED_NAMES))
        self.detector_combo.setToolTip("The model trained here, or a torchvision detector pretrained on COCO "
                                       "(weights read from the local torch hub cache only)")
        self.detector_combo.currentIndexChanged.connect(lambda *_: self.run_model())
        row.addWidget(self.detector_combo, 1)
        bl.addLayout(row)
        self.model_label = QLabel("Model: none yet")
        self.model_label.setWordWrap(True)
        bl.addWidget(self.model_label)
        col.addWidget(box)

        ibox = QGroupBox("Image")
        il = QVBoxLayout(ibox)
        row = QHBoxLayout()
        self.scene_button = QPushButton("New scene")
        self.scene_button.setToolTip("A fresh procedural scene (exact ground truth)")
        self.scene_button.clicked.connect(self.new_scene)
        self.open_button = QPushButton("Open photo...")
        self.open_button.clicked.connect(self._open_dialog)
        self.draw_button = QPushButton("Draw a box")
        self.draw_button.setCheckable(True)
        self.draw_button.setToolTip("Drag on the image to draw a ground-truth box and see its training targets")
        self.draw_button.toggled.connect(self._draw_toggled)
        for b in (self.scene_button, self.open_button, self.draw_button):
            row.addWidget(b)
        il.addLayout(row)
        self.info = QLabel("-")
        self.info.setWordWrap(True)
        il.addWidget(self.info)
        col.addWidget(ibox)
        col.addStretch(1)

        self.view = DetectionView()
        self.view.box_drawn.connect(self._box_drawn)
        self.loss_curve = LossCurve(title="Loss terms", log_y=True)
        self.map_curve = LossCurve(title="Validation mAP (pycocotools, the image alone)",
                                   legend_corner="bottom right")  # mAP rises: the bottom right stays empty
        self.map_curve.plot_item.setYRange(0.0, 1.0, padding=0.02)  # a fixed 0-1 scale reads as a score
        curves = QSplitter()
        curves.addWidget(self.loss_curve)
        curves.addWidget(self.map_curve)
        right = QSplitter()
        right.setOrientation(right.orientation().Vertical)
        right.addWidget(self.view)
        right.addWidget(curves)
        right.setSizes([640, 260])
        split = side_panel_split(side, right, 420)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.banner)
        lay.addWidget(split)

    @property
    def config(self):
        return self.params.config

    @property
    def model(self):
        return self.slot.model

    @property
    def ready(self) -> Ready | None:
        return self.slot.ready

    # --- demo, images -------------------------------------------------------------------------------
    def start_demo(self) -> None:
        self.demo_started = True
        self.ensure_model()
        self.new_scene()

    def ensure_model(self) -> None:
        """A model to run: the shipped checkpoint (loaded in the infer runner), else train one (the image
        shows its live weights)."""
        if self.slot.ready is not None or self.slot.pending is not None or self.runner.busy:
            return
        if self.task.CHECKPOINT.exists():
            self.slot.load(self.task.CHECKPOINT, shipped=True)      # run_model loads it with the image
        else:
            self.train()

    def new_scene(self) -> None:
        seed = DEMO_SCENE_SEED if self.image is None else int(np.random.default_rng().integers(1 << 30))
        cfg = self.config
        if self.model is not None:   # scenes of the classes the model knows
            cfg = replace(cfg, classes=self.model.cfg.num_classes)
        self.file_runner.start(partial(scene_image, cfg.scenes(), seed), label="painting a scene")

    def open_path(self, path: Path) -> None:
        """Read the photo in the file runner; it replaces the image on screen once read (a file that
        cannot be read leaves the image as it is, with a message naming it)."""
        self.file_runner.start(partial(open_image, Path(path)), label=f"reading {Path(path).name}")

    def _on_image_read(self, opened) -> None:
        if isinstance(opened, OpenedImage):
            self.set_image(opened.image, opened.name, scene=opened.scene)

    def set_image(self, image: np.ndarray, name: str, scene: bool = False) -> None:
        self.banner.clear()
        self.image, self.image_name, self.image_is_scene = image, name, scene
        self.drawn_box = None
        self.view.set_image(image)
        self.view.set_highlights([])
        self.view.set_note("")
        self.info.setText(f"{name} ({image.shape[1]} x {image.shape[0]})")
        self.ensure_model()        # a photo opened first (python main.py photo.jpg) still gets a model
        self.run_model()

    def run_model(self) -> None:
        name = self.detector_combo.currentText()
        if name != IN_APP:
            if self.image is not None:
                self.infer_runner.start(partial(pretrained.pretrained_task, name, self.image, self._pretrained),
                                        label=f"detecting with {name}")
            return
        if self.slot.pending is None and (self.slot.ready is None or self.image is None):
            return
        source = self.slot.start()
        label = "loading the model" if isinstance(source, (str, Path)) else "detecting"
        # in the worker process (LOCAL_HEAVY_TASKS): the result's image is a copy, so the run's image is
        # remembered here to tell whether the result is still the one on screen
        self._infer_image = self.image
        self.infer_runner.start(partial(detector_run, self.task.SPEC, self.task.detect, source, self.image,
                                        views_for(self.config.tta)), label=label)

    # --- drawing results ------------------------------------------------------------------------------
    def _on_inference(self, result) -> None:
        if isinstance(result, pretrained.Unavailable):
            self.banner.show_message(result.message, "warning")
            self.detector_combo.setCurrentIndex(0)          # back to the in-app model (runs it)
            return
        if isinstance(result, pretrained.PretrainedInference):
            if result.image is self.image:
                self.result = None
                self.view.set_heatmap(None)
                self.view.set_grid(0, 0)
                self.view.set_points(np.zeros((0, 2)))
                self.view.set_highlights([])
                self.view.set_note("")
                cfg = self.config
                self.view.set_candidates(result.candidates, result.class_names, cfg.score_threshold, cfg.nms_iou)
                self.info.setText(f"{self.image_name}: {len(self.view.shown)} detections by {result.detector}")
            return
        if not isinstance(result, ModelRun):
            return
        if self.slot.finished(result):
            self._use(result.ready)
        if result.output is None or self._infer_image is not self.image:
            return
        self.result = result.output
        cfg = self.config
        self.view.set_candidates(self.result.candidates, self.result.class_names, cfg.score_threshold,
                                 cfg.nms_iou)
        self.view.set_note("" if self.image_is_scene else
                           photo_note(self.class_names, pretrained.available(), FACES_TAB))
        self.draw_overlays()
        if self._demo_pending:
            self._demo_pending = False
            self.demo_ready.emit()

    def _on_infer_error(self, _message: str) -> None:
        """The banner shows the message (TopicTab); a checkpoint that would not load is dropped and
        the model in use stays. Without any model (the shipped one failed), train one."""
        failed = self.slot.failed()
        if failed:
            self.model_label.setText(self.slot.text)        # not "loading ..." any more
        if failed == "shipped" and self.slot.ready is None and not self.runner.busy:
            self.train()

    def add_controls(self, layout) -> None:
        """Extra controls under the knobs (a subclass adds its own)."""

    def draw_overlays(self) -> None:
        """Draw what the subclass shows over the image for ``self.result`` (after boxes are drawn)."""

    def show_box_targets(self, box: np.ndarray) -> None:
        """Show the training targets a ground-truth box drawn on the image creates."""

    def live_changed(self, name: str, value) -> None:
        """A live knob other than the thresholds changed."""

    def _live_changed(self, name: str, value) -> None:
        cfg = self.config
        if name in ("score_threshold", "nms_iou"):
            self.view.apply_thresholds(cfg.score_threshold, cfg.nms_iou)
            if self.result is not None:
                self.draw_overlays()
        elif name == "tta":
            self.run_model()          # other views of the image: the model runs again
        else:
            self.live_changed(name, value)

    def _draw_toggled(self, on: bool) -> None:
        self.view.draw_mode = on
        if not on:
            self.drawn_box = None
            self.view.set_highlights([])
            self.draw_overlays()

    def _box_drawn(self, x0: float, y0: float, x1: float, y1: float) -> None:
        if self.result is None or self.model is None:
            return
        self.drawn_box = np.array([x0, y0, x1, y1], np.float32)
        self.show_box_targets(self.drawn_box)

    # --- model ---------------------------------------------------------------------------------------------
    def set_model(self, model, class_names, text: str) -> None:
        """Use an already built model (the tests' way in; the tab's own models come from the runner)."""
        ready = Ready(model, tuple(class_names), None, "given")
        self.slot.ready = ready
        self._use(ready, text)

    def _use(self, ready: Ready, text: str | None = None) -> None:
        self.class_names = tuple(ready.class_names)
        if ready.origin == "checkpoint":
            self.trained = ready.trained
            self._replay_history(ready.trained.history)
            if self.runner.busy:      # the loaded model replaces the one in training
                self.runner.cancel()
            m = ready.trained.metrics
            text = f"Model: {ready.path.name}, {len(ready.class_names)} classes"
            if "map50" in m:
                text += f", mAP@0.5 {m['map50']:.2f}, mAP@0.5:0.95 {m['map50_95']:.2f} (validation scenes)"
        elif ready.origin == "weights":
            text = f"Model: training, live weights of step {ready.step}"
        elif ready.origin == "trained":
            m = ready.trained.metrics
            text = (f"Model: trained here, mAP@0.5 {m['map50']:.2f}, mAP@0.5:0.95 {m['map50_95']:.2f} "
                    f"in {m['train_seconds']:.0f} s ({m['images_per_s']:.0f} images/s)")
        self.slot.text = text or "Model: given"
        self.model_label.setText(self.slot.text)
        self.classes_changed()
        self._update_buttons()
        if ready.origin == "given" and self.detector_combo.currentText() == IN_APP:
            self.run_model()

    def classes_changed(self) -> None:
        """The model's class names changed (e.g. refill a class selector)."""

    def load_model(self, path) -> None:
        """Load a checkpoint in the infer runner and run it on the image (a scene when there is none);
        a wrong file gets a message naming it and the model in use stays."""
        self.banner.clear()
        self.slot.load(path)
        self.model_label.setText(f"Model: loading {Path(path).name}...")
        if self.detector_combo.currentText() != IN_APP:
            self.detector_combo.setCurrentIndex(0)     # runs the model
        elif self.image is None:
            self.new_scene()
        else:
            self.run_model()

    def open_checkpoint(self, path: Path) -> None:
        self.demo_started = True
        self.load_model(path)

    def _replay_history(self, history) -> None:
        self.loss_curve.clear()
        self.map_curve.clear()
        # split once into one column per metric, then by name between the two plots (not per point)
        columns = history_columns(history)
        score = {k: c for k, c in columns.items() if k.startswith(("mAP", "AP"))}
        if score:
            self.map_curve.extend_columns(score)
        self.loss_curve.extend_columns({k: c for k, c in columns.items() if k not in score})

    def _append_metrics(self, step, metrics: dict) -> None:
        maps = {k: v for k, v in metrics.items() if k.startswith(("mAP", "AP"))}
        losses = {k: v for k, v in metrics.items() if k not in maps}
        if maps:
            self.map_curve.append(step, maps)
        if losses:
            self.loss_curve.append(step, losses)

    def train(self) -> None:
        self.banner.clear()
        self.loss_curve.clear()
        self.map_curve.clear()
        self.runner.start(partial(self.task.train, self.config, None), label=f"training {self.model_title}")

    def _on_train_event(self, ev) -> None:
        if isinstance(ev, Progress) and ev.metrics:
            self._append_metrics(ev.step, ev.metrics)
            self.model_label.setText(f"Model: training... {ev.text}")
        elif isinstance(ev, Weights):
            self.slot.offer(ev)           # built and run on the image in the infer runner
            self.run_model()

    def _on_trained(self, result) -> None:
        if not isinstance(result, Trained):
            return
        self.trained = result
        self.slot.offer(result)
        self.run_model()
        self._update_buttons()

    def _update_buttons(self, *_):
        self.save_button.setEnabled(self.trained is not None and not self.runner.busy)

    # --- dialogs -----------------------------------------------------------------------------------------
    def _open_dialog(self) -> None:
        pattern = " ".join(f"*{e}" for e in IMAGE_EXTENSIONS)
        path, _ = QFileDialog.getOpenFileName(self, "Open a photo", "", f"Images ({pattern});;All files (*)")
        if path:
            self.open_path(Path(path))

    def save_model(self, path) -> None:
        """Write the model in use to ``path`` in the file runner (an error reaches the banner)."""
        if self.trained is not None:
            self.save_runner.start(partial(save_task, self.task.SPEC, Path(path), self.trained, None),
                                   label=f"saving {Path(path).name}")

    def views(self):
        return {"detections": self.view, "loss": self.loss_curve, "map": self.map_curve}

    def run_config(self):
        # The config is what the next training run uses; the model on screen may come from a
        # checkpoint trained with another seed: said apart, under another name.
        trained = self.trained.train_config.get("tab", {}) if self.trained is not None else {}
        return {**asdict(self.config),
                "model": {"shown": self.model_label.text(), "trained_with_seed": trained.get("seed")}}
