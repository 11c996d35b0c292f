"""The "Image vs feature pyramid" sub-tab: one image through a single-level detector, an image
pyramid, an FPN and SNIP, level by level, and the four scored on the same held-out scenes.

All work runs in the tab's runners (fpn_task); this panel only draws. Three runners: training
(long), the image run (a photo or scene through the pipelines) and the table (held-out scenes), so a
live knob re-runs what it changes without waiting for, or cancelling, the others."""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
from PySide6.QtCore import QRectF, Signal
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget)
from superqt import QLabeledRangeSlider

from lab_app.core.events import Message, Progress
from lab_app.core.sealed import Sealed
from lab_app.detection.postprocess import Detections
from lab_app.detection.training import EVAL_NMS
from lab_app.qt.staged import build_pause
from lab_app.qt.widgets.detection_view import DetectionView
from lab_app.qt.widgets.param_panel import ParamPanel
from lab_app.topics.pyramids import fpn_task as task
from lab_app.topics.pyramids.fpn_results_views import ResultsView
from lab_app.topics.pyramids.fpn_views import LEVEL_LABEL_OFFSET, LevelStrip

IDEA = """
<b>Objects come in every size.</b> A <b>single</b> stride-8 map must learn 6 px and 190 px objects
alike. An <b>image pyramid</b> runs that detector on the image at 0.5x, 1x, 2x and merges the boxes
(divided by the factor) by NMS: accurate, one pass per level. A <b>feature pyramid</b> (FPN) gets the
levels inside the network in one pass: C3..C5, a top-down path (upsample x2, add the 1x1 lateral),
P3..P6 with one shared head; an object goes to level
<i>k</i> = &lfloor;<i>k</i><sub>0</sub> + log<sub>2</sub>(&radic;<i>wh</i> / <i>s</i><sub>0</sub>)&rfloor;.
<b>SNIP</b> trains and answers each image scale only for the objects whose size falls in its valid
range (sliders below). Draw a box to see which level owns it.
"""


class FpnPanel(QWidget):
    ready = Signal()

    def __init__(self, tab, parent: QWidget | None = None):
        super().__init__(parent)
        self.tab = tab
        self.config = task.FpnConfig(seed=tab.ctx.seed)
        self.train_runner = tab.add_runner()
        self.image_runner = tab.add_runner()
        self.eval_runner = tab.add_runner()
        self.models: Sealed[task.Models] | None = None   # bytes here, detectors in the worker
        self.image_run: task.ImageRun | None = None
        self.table: task.Table | None = None
        self.pending_path: Path | None = None
        self.drawn_box = None
        self._ready_sent = False
        self._build()
        self.train_runner.event.connect(self._train_event)
        self.train_runner.finished.connect(self._trained)
        self.image_runner.finished.connect(self._image_done)
        self.eval_runner.finished.connect(self._table_done)

    # --- layout --------------------------------------------------------------------------------------
    def _build(self) -> None:
        from lab_app.qt.layout import side_panel_split

        side = QWidget()
        col = QVBoxLayout(side)
        col.addWidget(self.tab.idea_label(IDEA))
        self.params = ParamPanel(self.config)
        self.params.live_changed.connect(self._live_changed)
        self.params.restart_changed.connect(lambda *_: self.retrain())
        col.addWidget(self.params)
        col.addWidget(QLabel("SNIP valid ranges, object size sqrt(wh) in image px (live):"))
        self.range_sliders = []
        for f, (lo, hi) in zip(task.SNIP_FACTORS, self.config.snip_valid, strict=True):
            build_pause()   # a labelled range slider is a dozen widgets: a part of its own (qt/staged.py)
            row = QHBoxLayout()
            row.addWidget(QLabel(f"{f:g}x"))
            slider = QLabeledRangeSlider()
            slider.setOrientation(slider.orientation().Horizontal)
            slider.setRange(0, self.config.image_size)
            slider.setValue((int(lo), int(min(hi, self.config.image_size))))
            slider.setToolTip(f"The objects the {f:g}x image answers for at test time (and learns when "
                              "retrained): sizes in the original image's pixels")
            slider.sliderReleased.connect(self._ranges_changed)
            slider.valueChanged.connect(lambda *_: None if any(s.isSliderDown() for s in self.range_sliders)
                                        else self._ranges_changed())
            row.addWidget(slider, 1)
            col.addLayout(row)
            self.range_sliders.append(slider)
        build_pause()
        buttons = QHBoxLayout()
        self.scene_button = QPushButton("New scene")
        self.scene_button.setToolTip("A new held-out scene through every pipeline")
        self.scene_button.clicked.connect(self.new_scene)
        self.train_button = QPushButton("Retrain")
        self.train_button.setToolTip("Train single level, FPN and SNIP again from scratch, each for the "
                                     "training seconds set above, then score all four")
        self.train_button.clicked.connect(self.retrain)
        self.draw_button = QPushButton("Draw a box")
        self.draw_button.setCheckable(True)
        self.draw_button.setToolTip("Drag a box on the main view: which FPN level owns it, the positives it "
                                    "makes there, and which SNIP scales learn it")
        self.draw_button.toggled.connect(self._draw_toggled)
        for b in (self.scene_button, self.train_button, self.draw_button):
            buttons.addWidget(b)
        col.addLayout(buttons)
        self.info = QLabel("Loading the shipped detectors ...")
        self.info.setWordWrap(True)
        col.addWidget(self.info)
        col.addStretch(1)

        right = QWidget()
        rcol = QVBoxLayout(right)
        rcol.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        top.addWidget(QLabel("Pipeline shown:"))
        self.pipeline_combo = QComboBox()
        self.pipeline_combo.addItems([task.TITLES[p] for p in task.PIPELINES])
        self.pipeline_combo.setCurrentIndex(task.PIPELINES.index("fpn"))
        self.pipeline_combo.setToolTip("Whose levels the views show (all four are in the table)")
        self.pipeline_combo.currentIndexChanged.connect(lambda *_: self.draw_image())
        top.addWidget(self.pipeline_combo)
        self.summary = QLabel()
        self.summary.setWordWrap(True)   # a photo's note makes it long: a second line, not a wider window
        top.addWidget(self.summary, 1)
        rcol.addLayout(top)
        views = QHBoxLayout()
        self.merged = DetectionView()
        self.merged.setMinimumWidth(360)
        self.merged.setToolTip("What the pipeline answers after merging its levels; boxes coloured by level")
        self.merged.box_drawn.connect(self.show_box)
        views.addWidget(self.merged, 5)
        self.strip = LevelStrip()
        views.addWidget(self.strip, 6)
        rcol.addLayout(views, 3)
        self.results = ResultsView({p: task.TITLES[p] for p in task.PIPELINES})
        rcol.addWidget(self.results, 2)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(side_panel_split(side, right, 400))

    # --- the panel interface -----------------------------------------------------------------------
    def start_demo(self) -> None:
        if task.CHECKPOINT.exists():
            # a partial, not a lambda: the runner sends load_task by name to the worker process
            self.train_runner.start(partial(task.load_task, task.CHECKPOINT), "load pyramids detectors")
        else:
            self.retrain()

    def open_path(self, path: Path) -> None:
        self.pending_path = Path(path)
        if self.models is None:
            self.info.setText(f"{Path(path).name} will go through the pipelines once they are loaded or trained")
            if not self.train_runner.busy:          # the file is the demo now (the window marks it started)
                self.start_demo()
            return
        self._run_image()

    def load_checkpoint(self, path: Path) -> None:
        """Read saved detectors in the training runner; a wrong file gets a message naming it and the
        detectors in use stay."""
        self.train_runner.start(partial(task.load_task, Path(path)), f"loading {Path(path).name}")

    def views(self) -> dict:
        return {"fpn_levels": self.merged, "fpn_level_maps": self.strip, "fpn_table": self.results}

    def run_config(self):
        return self.config

    # --- work --------------------------------------------------------------------------------------
    def retrain(self) -> None:
        self.config = replace(self.params.config, snip_valid=self._ranges())
        cfg = self.config
        self.info.setText(f"Training single level, FPN and SNIP, {cfg.train_seconds:g} s each ...")
        self.train_runner.start(partial(task.train_task, cfg), "training the pyramid detectors")

    def new_scene(self) -> None:
        self.pending_path = None
        self._scene_seed = getattr(self, "_scene_seed", 0) + 1
        self._run_image()

    def _run_image(self, only=task.PIPELINES) -> None:
        if self.models is None:
            return
        models, cfg, path = self.models, self.current_config(), self.pending_path
        prev = self.image_run if only != task.PIPELINES else None     # None: the whole image anew
        seed = getattr(self, "_scene_seed", 0)
        # partials of module functions: the runner sends them to the worker process by name
        make = partial(task.image_task, models, cfg, path=path, seed=seed, only=only, prev=prev)
        self.image_runner.start(make, "pyramids: run image")

    def _evaluate(self, only=task.PIPELINES) -> None:
        if self.models is None:
            return
        models, cfg, table = self.models, self.current_config(), self.table
        if table is not None and table.scenes != cfg.eval_scenes:     # no row scored on other scenes stays
            only, table = task.PIPELINES, None
        self.eval_runner.start(partial(task.evaluate_task, models, cfg, only=only, table=table),
                               "pyramids: table")

    def current_config(self) -> task.FpnConfig:
        live = self.params.config
        return replace(self.config, levels=live.levels, factor=live.factor, score_threshold=live.score_threshold,
                       snip_valid=self._ranges())

    def _ranges(self) -> tuple:
        return tuple((float(lo), float(hi) if hi < self.config.image_size else 1e4)
                     for lo, hi in (s.value() for s in self.range_sliders))

    # --- slots: results ---------------------------------------------------------------------------------
    def _train_event(self, ev) -> None:
        if isinstance(ev, Progress) and "loss" in ev.metrics:
            self.info.setText(f"Training ... {ev.text}: loss {ev.metrics['loss']:.3f}")
        elif isinstance(ev, Message):
            self.info.setText(ev.text)
        elif isinstance(ev, task.PipelineTrained):
            self.summary.setText(f"{task.TITLES[ev.name]} trained: {ev.metrics['steps']} steps")

    def _trained(self, result) -> None:
        models, third = result[0], result[1]
        if isinstance(third, task.Table):                     # trained here
            self.models, self.table = models, third
            self.results.set_table(third)
            self.info.setText("Trained. Move the live knobs: the image pyramid and SNIP re-run, nothing retrains.")
        else:                                                 # loaded: (models, cfg, card)
            self.models = models
            self.config = replace(third, seed=self.config.seed)
            self.params.set_config(self.config)
            for slider, (lo, hi) in zip(self.range_sliders, self.config.snip_valid, strict=True):
                slider.blockSignals(True)
                slider.setValue((int(lo), int(min(hi, self.config.image_size))))
                slider.blockSignals(False)
            steps = ", ".join(f"{task.TITLES[k]} {v}" for k, v in models.meta["train_steps"].items())
            self.info.setText(f"Shipped detectors (training steps: {steps}); Retrain trains them live, "
                              f"{third.train_seconds:g} s each.")
            card = result[2]
            rows = card.get("metrics", {})
            if set(task.PIPELINES) <= set(rows):
                n = int(card.get("table_scenes", 0))
                self._table_done(task.Table(rows, task.SIZE_EDGES, n),
                                 f"Shipped figures: the same {n} held-out scenes for every pipeline "
                                 "(a live knob re-scores on the tab's scenes)")
            else:
                self._evaluate()
        self._run_image()

    def _image_done(self, run: task.ImageRun) -> None:
        self.image_run = run
        self.drawn_box = None
        if "downscaled" in run.note:
            self.tab.banner.show_message(run.note, "warning")
        self.draw_image()
        self._maybe_ready()

    def _table_done(self, table: task.Table, caption: str = "") -> None:
        self.table = table
        self.results.set_table(table, caption)
        self._maybe_ready()

    def _maybe_ready(self) -> None:
        if not self._ready_sent and self.image_run is not None and self.table is not None:
            self._ready_sent = True
            self.ready.emit()

    # --- drawing -----------------------------------------------------------------------------------------
    def shown_pipeline(self) -> str:
        return task.PIPELINES[self.pipeline_combo.currentIndex()]

    def _square(self) -> QRectF:
        lb = self.image_run.letterbox
        return QRectF(0, 0, lb.size / lb.scale, lb.size / lb.scale)

    def draw_image(self) -> None:
        if self.image_run is None:
            return
        run = self.image_run.runs.get(self.shown_pipeline())
        if run is None:
            return
        cfg = self.current_config()
        image = self.image_run.image
        self.merged.set_image(image)
        # boxes coloured by the level that produced them, in the strip's level colours (LEVEL_LABEL_OFFSET)
        self.merged.set_heatmap(None)
        names = [""] * LEVEL_LABEL_OFFSET + [lv.name for lv in run.levels]
        self.merged.set_candidates(Detections(run.merged.boxes, run.merged.scores, run.level_of + LEVEL_LABEL_OFFSET),
                                   names, cfg.score_threshold, None)
        self.strip.show_run(run, image, self._square(), cfg.score_threshold, EVAL_NMS,
                            self.models.meta["class_names"])
        passes = len(run.levels) if self.shown_pipeline() in ("image_pyramid", "snip") else 1
        self.summary.setText(f"{task.TITLES[run.name]}: {run.ms:.1f} ms, {passes} forward pass(es), "
                             f"{len(self.merged.shown)} boxes" + (f" - {self.image_run.note}" if self.image_run.note else ""))

    def _live_changed(self, name: str, value) -> None:
        if name == "score_threshold":
            self.merged.apply_thresholds(value, None)
            self.strip.refilter(value, EVAL_NMS)
        elif name in ("levels", "factor"):
            self._run_image(only=("image_pyramid",))
            self._evaluate(only=("image_pyramid",))

    def _ranges_changed(self) -> None:
        self._run_image(only=("snip",))
        self._evaluate(only=("snip",))

    def _draw_toggled(self, on: bool) -> None:
        self.merged.draw_mode = on
        if not on:
            self.drawn_box = None
            self.merged.set_highlights([])
            self.merged.set_heatmap(None)

    def show_box(self, x0: float, y0: float, x1: float, y1: float) -> None:
        if self.image_run is None:
            return
        self.drawn_box = np.array([x0, y0, x1, y1], np.float32)
        rep = task.box_report(self.drawn_box, self.image_run.letterbox, self.current_config())
        self.merged.set_heatmap(rep.positives.astype(np.float32), self._square(), 0.7)
        self.merged.set_highlights([(x0, y0, x1, y1)])
        self.info.setText(rep.text)
        self.box_report = rep
