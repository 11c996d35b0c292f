"""The "Faces (MTCNN)" sub-tab: the pyramid with P-Net's probability maps, the cascade stage by stage
(P-Net windows before and after NMS, R-Net, O-Net with landmarks), scikit-image's LBP cascade on the
same photo, and what small faces cost on generated crowds. All work runs in tasks (faces.py,
measure.py); this panel only draws."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QFileDialog, QGridLayout, QHBoxLayout, QLabel, QPushButton, QSplitter,
                               QVBoxLayout, QWidget)

from lab_app.qt.layout import side_panel_split
from lab_app.qt.widgets.param_panel import ParamPanel
from lab_app.topics.pyramids import faces as F
from lab_app.topics.pyramids import measure
from lab_app.topics.pyramids.faces_views import LBP_COLOR, PyramidView, RecallChart, StageView, TimeChart

IDEA = (
    "<b>Small faces need a deep pyramid.</b> A classic detector slides one classifier over every scale "
    "of an image pyramid. MTCNN keeps the pyramid but makes the window a tiny fully convolutional net "
    "(P-Net, 12 px) and checks its candidates with two more nets (R-Net on 24 px crops, O-Net on 48 px "
    "crops, with five landmarks). The smallest face you ask for sets the pyramid:<br>"
    "&nbsp;&nbsp;levels = &lfloor;ln(min(h, w) / min_face) / ln(1/f)&rfloor; + 1<br>"
    "and halving min_face quadruples the pixels P-Net must read.")
STAGE_KEYS = ("pnet_raw", "pnet_nms", "rnet", "onet")


class FacesPanel(QWidget):
    ready = Signal()

    def __init__(self, tab, parent: QWidget | None = None):
        super().__init__(parent)
        self.tab = tab
        self.config = F.FacesConfig(seed=tab.ctx.seed)
        self.runner = tab.add_runner()
        self.measure_runner = tab.add_runner()
        self.lbp_runner = tab.add_runner()
        self.run_lbp = True
        self.photo: F.Photo | None = None
        self.cache: F.CascadeCache | None = None
        self.last: F.CascadeDrawn | None = None
        self.crowd_seed = tab.ctx.seed
        self.measure_images, self.measure_sweep = 3, measure.SWEEP   # crowds for recall; sizes timed
        self._drawn = self._measured = self._lbp_done = self._ready_sent = self._measure_started = False
        self._loading: tuple | None = None   # (spec, seed) of a photo whose task has not shown it yet
        self._held: list = []   # results that came while the other sub-tab was on screen, to draw at show
        self._measure_timer = QTimer(self, singleShot=True, interval=800)
        self._measure_timer.timeout.connect(self.start_measure)

        # --- side panel
        self.params = ParamPanel(self.config)
        self.params.restart_changed.connect(self._on_restart_knob)
        self.params.live_changed.connect(self._on_live_knob)
        for name in ("min_face", "factor"):   # the plan follows the slider while it is dragged
            self.params.control(name).valueChanged.connect(lambda *_: self.update_plan())
        buttons = QHBoxLayout()
        for text, tip, slot in (("Astronaut", "scikit-image's astronaut photo", self.start_demo),
                                ("New crowd", "Real face crops pasted at known sizes onto a photo without "
                                              "people (green dashed: the true faces)", self.new_crowd),
                                ("Open photo...", "Any image file (or drop one on the window)",
                                 self._open_dialog)):
            b = QPushButton(text)
            b.setToolTip(tip)
            b.clicked.connect(lambda *_, s=slot: s())
            buttons.addWidget(b)
        self.photo_label, self.plan_label, self.stats_label = QLabel(), QLabel(), QLabel()
        self.crowd_label, self.time_label = QLabel(), QLabel()
        self.sweep_text: dict[int, str] = {}
        for label in (self.photo_label, self.plan_label, self.stats_label, self.crowd_label, self.time_label):
            label.setWordWrap(True)
        self.plan_label.setToolTip("What P-Net will read for this photo at these settings (from the formula)")
        self.stats_label.setToolTip("Candidates left after each stage and the time each took; 'kept': not "
                                    "re-run because only a later threshold changed")
        side = QWidget()
        col = QVBoxLayout(side)
        col.addWidget(tab.idea_label(IDEA))
        col.addLayout(buttons)
        col.addWidget(self.photo_label)
        col.addWidget(self.params)
        col.addWidget(self.plan_label)
        col.addWidget(self.stats_label)
        col.addWidget(self.crowd_label)
        col.addWidget(self.time_label)
        col.addStretch(1)

        # --- views
        self.pyramid = PyramidView()
        self.stage_views = {k: StageView(t) for k, t in zip(STAGE_KEYS, (
            "P-Net windows", "P-Net after NMS", "R-Net", "O-Net + landmarks"), strict=True)}
        self.lbp_view = StageView("LBP cascade (scikit-image)", color=LBP_COLOR)
        first = self.stage_views["pnet_raw"].view_box
        for v in [*list(self.stage_views.values())[1:], self.lbp_view]:
            v.view_box.setXLink(first)   # zoom one photo, zoom them all
            v.view_box.setYLink(first)
        self.recall_chart, self.time_chart = RecallChart(), TimeChart()
        stages = QWidget()
        grid = QGridLayout(stages)
        grid.setContentsMargins(0, 0, 0, 0)
        for i, v in enumerate(self.stage_views.values()):
            grid.addWidget(v, 0, i)
        bottom = QWidget()
        row = QHBoxLayout(bottom)
        row.setContentsMargins(0, 0, 0, 0)
        for v in (self.lbp_view, self.recall_chart, self.time_chart):
            row.addWidget(v, 1)
        views = QSplitter()
        views.setOrientation(Qt.Orientation.Vertical)
        for w, stretch in ((self.pyramid, 2), (stages, 3), (bottom, 3)):
            views.addWidget(w)
            views.setStretchFactor(views.count() - 1, stretch)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(side_panel_split(side, views))

        self.runner.event.connect(self._on_event)
        self.runner.finished.connect(self._on_cascade_finished)
        self.runner.errored.connect(self._on_cascade_error)
        self.lbp_runner.event.connect(self._on_event)
        self.lbp_runner.finished.connect(self._on_lbp_finished)
        self.measure_runner.event.connect(self._on_measure_event)
        self.measure_runner.finished.connect(self._on_measure_finished)

    # --------------------------------------------------------------------------------- panel API
    def start_demo(self) -> None:
        self.run_photo("astronaut")

    def open_path(self, path: Path) -> None:
        self.run_photo(Path(path))

    def new_crowd(self) -> None:
        self.crowd_seed += 1
        self.run_photo("crowd", seed=self.crowd_seed)

    def views(self) -> dict:
        return {"faces-onet": self.stage_views["onet"], "faces-pyramid": self.pyramid,
                **{f"faces-{k}": v for k, v in self.stage_views.items() if k != "onet"},
                "faces-lbp": self.lbp_view, "faces-recall": self.recall_chart, "faces-time": self.time_chart}

    def run_config(self):
        return {**dataclasses.asdict(self.config), "photo": None if self.photo is None else self.photo.name,
                "device": str(self.runner.device)}

    # --------------------------------------------------------------------------------- running
    def run_photo(self, spec, seed: int | None = None) -> None:
        """A new photo: its file is read in the task; what is on screen stays until it has drawn."""
        seed = self.crowd_seed if seed is None else seed
        self._loading = (spec, seed)
        cfg = dataclasses.replace(self.config, seed=seed)
        self.runner.start(functools.partial(F.cascade_task, spec, cfg), label="faces")

    def rerun(self) -> None:
        """The current photo with the current knobs, from the first stage they changed."""
        if self._loading is not None:       # a photo is still being read: read it with the new knobs
            self.run_photo(*self._loading)
            return
        if self.photo is None:
            return
        cache = self.cache if self.cache is not None and self.cache.photo is self.photo else None
        self.runner.start(functools.partial(F.cascade_task, self.photo, self.config, cache=cache),
                          label="faces")

    def start_lbp(self) -> None:
        if self.photo is None or not self.run_lbp:
            return
        self.lbp_view.set_title("LBP cascade: running...")
        self.lbp_view.set_boxes(np.zeros((0, 4)))
        self.lbp_view.set_message(None)
        task = functools.partial(F.lbp_task, self.photo, self.config.min_face, self.config.lbp_scale)
        self.lbp_runner.start(task, label="faces-lbp")

    def schedule_measure(self, delay_ms: int = 800) -> None:
        self._measure_timer.start(delay_ms)

    def start_measure(self) -> None:
        self._measure_started = True
        self.time_chart.clear()
        self.sweep_text = {}
        task = functools.partial(measure.measure_task, self.config, images=self.measure_images,
                                 sweep=self.measure_sweep)
        self.measure_runner.start(task, label="faces-crowds")

    def _open_dialog(self) -> None:
        kinds = "Images (*.png *.jpg *.jpeg *.bmp *.tif *.tiff *.webp *.gif);;All files (*)"
        path, _ = QFileDialog.getOpenFileName(self, "Open a photo", "", kinds)
        if path:
            self.open_path(Path(path))

    def _on_restart_knob(self, name, value) -> None:
        self.config = self.params.config
        self.update_plan()
        self.time_chart.set_min_face(self.config.min_face)
        self.rerun()
        if name == "min_face" and self._loading is None:
            self.start_lbp()
        self.schedule_measure()

    def _on_live_knob(self, name, value) -> None:
        self.config = self.params.config
        self.rerun()
        self.schedule_measure()

    # --------------------------------------------------------------------------------- drawing
    def update_plan(self) -> None:
        """Levels and pixels for the current photo from the formula, as the sliders move."""
        if self.photo is None:
            return
        h, w = self.photo.image.shape[:2]
        min_face = self.params.control("min_face").value()
        factor = round(float(self.params.control("factor").value()), 3)
        plan = F.level_plan(h, w, min_face, factor)
        pixels = sum(a * b for _, (a, b) in plan)
        self.plan_levels = len(plan)
        if not plan:
            self.plan_label.setText(f"<b>No pyramid level</b>: the photo's short side ({min(h, w)} px) is "
                                    f"smaller than the minimum face ({min_face} px).")
            return
        self.plan_label.setText(
            f"<b>{len(plan)} levels</b> (f = {factor}), first x{plan[0][0]:.2f} = {plan[0][1][1]} x "
            f"{plan[0][1][0]}, last {plan[-1][1][1]} x {plan[-1][1][0]}; P-Net reads <b>{pixels:,} px</b> "
            f"({pixels / (h * w):.2f} x the photo's {h * w:,}).")

    def _on_event(self, ev) -> None:
        if isinstance(ev, F.PhotoShown):
            self._loading = None
            self.photo, self.cache = ev.photo, None
            self.start_lbp()
            self.update_plan()
            self._held.clear()         # what was held for the photo before is not to be drawn
        elif isinstance(ev, F.CascadeDrawn):
            self.last = ev
        if self.window().isVisible() and not self.isVisible():
            # the other sub-tab is on screen (a photo opened there reaches both, and both run their
            # demo): draw this when it is shown, not now for nobody to see (five image views and
            # their boxes, 10-30 ms a result in ui_stalls' per-delivery logs)
            self._held.append(ev)
            return
        self._draw_event(ev)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        held, self._held = self._held, []
        for ev in held:
            self._draw_event(ev)

    def _draw_event(self, ev) -> None:
        if isinstance(ev, F.PhotoShown):
            self._show_photo(ev.photo)
        elif isinstance(ev, F.PyramidDrawn):
            self.pyramid.set_pyramid(ev.mosaic, ev.rects, ev.shapes, ev.scales, ev.peaks)
        elif isinstance(ev, F.CascadeDrawn):
            self._draw_cascade(ev)
        elif isinstance(ev, F.LbpDrawn):
            n = len(ev.boxes)
            self.lbp_view.set_boxes(ev.boxes)
            self.lbp_view.set_title(f"LBP cascade: {n} face{'s' * (n != 1)}, {ev.ms:.0f} ms")
            self.lbp_view.set_message(None if n else "no faces found")

    def _show_photo(self, photo: F.Photo) -> None:
        for v in (*self.stage_views.values(), self.lbp_view):
            v.set_image(photo.image)
            v.set_truth(photo.truth)
            v.set_boxes(np.zeros((0, 4)))
        h, w = photo.image.shape[:2]
        notes = "".join(f"<br><i>{n}</i>" for n in photo.notes)
        truth = "" if photo.truth is None else " Green dashed: the true faces."
        self.photo_label.setText(f"<b>{photo.name}</b>: {w} x {h}.{truth}{notes}")

    def _draw_cascade(self, ev: F.CascadeDrawn) -> None:
        t1, t2, t3 = ev.thresholds
        views = self.stage_views
        s = ev.stages
        views["pnet_raw"].set_boxes(s["pnet_raw"]["boxes"], s["pnet_raw"]["scores"], s["pnet_raw"]["levels"])
        views["pnet_nms"].set_boxes(s["pnet_nms"]["boxes"], s["pnet_nms"]["scores"], s["pnet_nms"]["levels"])
        views["rnet"].set_boxes(s["rnet"]["boxes"])
        views["onet"].set_boxes(s["onet"]["boxes"], landmarks=s["onet"]["landmarks"])
        counts = self.counts()
        # short titles: a plot title's text sets the plot's minimum width
        titles = (f"P-Net: {counts['pnet_raw']:,} windows", f"after NMS: {counts['pnet_nms']:,}",
                  f"R-Net: {counts['rnet']:,}", f"O-Net: {counts['onet']} face{'s' * (counts['onet'] != 1)}")
        for v, title in zip(views.values(), titles, strict=True):
            v.set_title(title)
        if ev.levels == 0:
            empty = "no faces found: the photo is smaller than the minimum face"
        else:
            empty = "no faces found" if counts["onet"] == 0 else None
        views["onet"].set_message(empty)
        rows = []
        ran = {0: 0, 1: 1, 2: 3, 3: 4, 4: 4}[ev.from_stage]   # first STAGES entry this run computed
        cuts = ("", f" p &ge; {t1:.2f}", f" p &gt; {t2:.2f}", f" p &gt; {t3:.2f}")
        for k, (name, key) in enumerate(zip(F.STAGES, (None, "pnet_raw", "rnet", "onet"), strict=True)):
            ms = ev.times_ms.get(name)
            count = f"{ev.levels} levels" if key is None else f"{counts[key]:,}"
            kept = "" if k >= ran else " <i>(kept)</i>"
            rows.append(f"<tr><td>{name}{cuts[k]}</td><td align='right'>{count}</td><td align='right'>"
                        f"{'' if ms is None else f'{ms:.0f} ms'}{kept}</td></tr>")
        self.stats_label.setText(f"<table cellspacing=4>{''.join(rows)}</table>"
                                 f"P-Net read {ev.pixels:,} px on {ev.levels} levels. Boxes of the first two "
                                 "stages are coloured by the pyramid level that proposed them.")

    def counts(self) -> dict[str, int]:
        """Boxes after each stage in the last drawn result."""
        if self.last is None:
            return {}
        return {k: len(self.last.stages[k]["boxes"]) for k in STAGE_KEYS}

    def _on_cascade_error(self, _message: str) -> None:
        self._loading = None                # the banner says why; the last result stays on screen

    def _on_cascade_finished(self, cache) -> None:
        self._loading = None
        if cache is not None:
            if cache.photo is not self.photo and _same_photo(cache.photo, self.photo):
                # the cascade ran in the worker process: its photo came back as a copy of the one
                # shown (another message); keep one, so that a knob re-runs only the stages it changes
                self.photo = cache.photo
            self.cache = cache
            c = self.config
            if (cache.min_face, cache.factor, cache.thresholds) != (c.min_face, c.factor, c.thresholds):
                self.rerun()                # a knob moved while this photo was being read
        if not self._measure_started:
            self.schedule_measure(0)
        if not self._drawn:
            self._drawn = True
            self._maybe_ready()

    def _on_measure_event(self, ev) -> None:
        if isinstance(ev, measure.RecallPoint):
            self.recall_chart.set_recall(ev.bins, ev.totals, ev.mtcnn_found, ev.lbp_found, ev.min_face)
            self.recall_chart.set_title(f"Recall by face size, min face {ev.min_face} px")
            self.crowd_label.setText(
                f"<b>Crowds</b> (seed {self.config.seed}): {ev.images} images, {sum(ev.totals)} faces at min "
                f"face {ev.min_face} px: MTCNN found {sum(ev.mtcnn_found)}, LBP {sum(ev.lbp_found)}; false "
                f"alarms MTCNN {ev.mtcnn_fp}, LBP {ev.lbp_fp}. Faces per size bin: "
                + ", ".join(f"{b}+: {t}" for b, t in zip(ev.bins, ev.totals, strict=True)) + ".")
        elif isinstance(ev, measure.TimePoint):
            self.time_chart.add_point(ev.min_face, ev.mtcnn_ms, ev.lbp_ms)
            self.time_chart.set_min_face(self.config.min_face)
            self.sweep_text[ev.min_face] = (f"{ev.min_face} px: {ev.levels} levels, {ev.pixels:,} px, "
                                            f"MTCNN {ev.mtcnn_ms:.0f} ms, LBP {ev.lbp_ms:.0f} ms")
            self.time_label.setText("<b>Time per 640 x 480 crowd</b><br>" + "<br>".join(
                self.sweep_text[k] for k in sorted(self.sweep_text)))

    def _on_measure_finished(self, _tally) -> None:
        if not self._measured:
            self._measured = True
            self._maybe_ready()

    def _on_lbp_finished(self, _result) -> None:
        if not self._lbp_done:
            self._lbp_done = True
            self._maybe_ready()

    def _maybe_ready(self) -> None:
        if self._drawn and self._measured and (self._lbp_done or not self.run_lbp) and not self._ready_sent:
            self._ready_sent = True
            self.ready.emit()


def _same_photo(a: F.Photo | None, b: F.Photo | None) -> bool:
    return (a is not None and b is not None and a.name == b.name and a.image.shape == b.image.shape
            and np.array_equal(a.image, b.image))
