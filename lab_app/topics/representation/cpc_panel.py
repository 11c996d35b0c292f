"""The CPC / patch-position page of the contrastive tab (Qt): its knobs, the example views, the per-k
curves and the probes. The tab routes the two objectives' runs here (``route``); this panel only
draws, and a dropped image is explained by a task on its own runner."""

from __future__ import annotations

from dataclasses import asdict
from functools import partial
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGroupBox, QSplitter, QStackedWidget, QVBoxLayout, QWidget

from lab_app.core.events import Progress
from lab_app.core.live import LiveDict
from lab_app.qt.widgets.bars import Bars
from lab_app.qt.widgets.loss_curve import LossCurve
from lab_app.qt.widgets.param_panel import ParamPanel
from lab_app.topics.representation import cpc_task
from lab_app.topics.representation.cpc_views import CpcExampleView, PerKView, PretextPairsView
from models.cpc import NEIGHBOURS

WHO = (("raw pixels", "pixels"), ("random encoder", "random"), ("SimCLR encoder", "SimCLR"),
       ("encoder", "trained"))


class CpcPanel(QWidget):
    def __init__(self, runner, parent: QWidget | None = None):
        super().__init__(parent)
        self.runner = runner  # explains dropped images; the tab's own runner trains
        self.runner.event.connect(lambda ev: self.draw(ev, self.dropped))
        self.dropped = ""  # the name of the last dropped image
        self.params = ParamPanel(cpc_task.CpcConfig())
        self.params.live_changed.connect(self._live_changed)
        self.live = LiveDict()
        self.active = False  # the tab's current run is CPC / patch position
        self.result: cpc_task.CpcTrained | None = None
        self.pending: Path | None = None  # an image dropped before a model was trained
        self.example = CpcExampleView()
        self.pairs = PretextPairsView()
        self.examples = QStackedWidget()
        self.examples.addWidget(self.example)
        self.examples.addWidget(self.pairs)
        self.curve = LossCurve(title="bound log N \u2212 L per k over training", y_label="nats",
                               legend_corner="bottom right")
        self.curve.plot_item.getAxis("left").enableAutoSIPrefix(False)  # accuracy 0.3, not 300 x 0.001
        self.per_k = PerKView()
        self.probes = Bars(title="probe accuracy (test split)", value_format="{:.3f}")
        knobs = QGroupBox("CPC / patch knobs")
        QVBoxLayout(knobs).addWidget(self.params)
        top = QSplitter()
        top.addWidget(self.examples)
        top.addWidget(knobs)
        top.setSizes([700, 300])
        bottom = QSplitter()
        for w in (self.curve, self.per_k, self.probes):
            bottom.addWidget(w)
        bottom.setSizes([340, 300, 360])
        grid = QSplitter(Qt.Orientation.Vertical)
        grid.addWidget(top)
        grid.addWidget(bottom)
        grid.setSizes([480, 380])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(grid)

    # --- runs ---------------------------------------------------------------------------------------
    def config_for(self, tab_cfg) -> cpc_task.CpcConfig:
        return cpc_task.from_tab(tab_cfg, self.params.config)

    def reset(self, cfg: cpc_task.CpcConfig) -> None:
        """A new run of ``cfg.objective`` starts: empty curves, its example view in front."""
        self.active = True
        self.live = LiveDict({"show_k": cfg.show_k})
        self.curve.clear()
        self.per_k.clear()
        cpc = cfg.objective == "CPC"
        self.examples.setCurrentWidget(self.example if cpc else self.pairs)
        self.per_k.setVisible(cpc)  # no k in the pretext task
        self.curve.plot_item.setTitle("bound log N \u2212 L per k over training" if cpc
                                      else "pretext accuracy over training")
        self.curve.plot_item.setLabel("left", "nats" if cpc else "accuracy")

    def _live_changed(self, name: str, value) -> None:
        self.live[name] = value

    def draw(self, ev, caption: str = "a test image") -> bool:
        """Draw ``ev`` if it is one of this panel's events; True when it was."""
        if isinstance(ev, cpc_task.CpcStats):
            metrics = {f"k = {k + 1}": float(b) for k, b in enumerate(ev.bound)}
            self.curve.append(ev.step, {**metrics, "log N": ev.log_n})
            self.per_k.set_values(ev.pick_accuracy, ev.bound, ev.log_n)
        elif isinstance(ev, cpc_task.PretextStats):
            self.curve.append(ev.step, {"accuracy": ev.accuracy, "chance 1/8": ev.chance})
        elif isinstance(ev, cpc_task.CpcExample):
            self.example.show_example(ev, caption)
        elif isinstance(ev, cpc_task.PretextExample):
            self.pairs.show_pairs(ev, NEIGHBOURS, caption)
        elif isinstance(ev, cpc_task.CpcProbeScores):
            self.draw_probes(ev.scores)
        elif isinstance(ev, Progress) and self.active:
            return "loss" in ev.metrics or "SimCLR loss" in ev.metrics  # the bound curves carry it
        else:
            return False
        return True

    def draw_probes(self, scores: dict) -> None:
        names, values = [], []
        for kind, label in (("linear", "linear"), ("knn", "kNN")):
            for who, short in WHO:
                names.append(f"{label}, {short}")
                values.append(scores.get(who, {}).get(kind, np.nan))
        self.probes.set_values(names, values, highlight=3)
        finite = [v for v in values if np.isfinite(v)]
        if finite:
            lo = max(0.0, np.floor((min(finite) - 0.03) * 20) / 20)
            self.probes.view_box.setXRange(lo, 1.0 + 0.2 * (1.0 - lo), padding=0)

    def finished(self, result: cpc_task.CpcTrained, data) -> None:
        self.result, self.data = result, data
        if result.config["objective"] == "CPC":
            self.per_k.set_values(result.pick_accuracy, result.bound, result.log_n)  # on the test split
            self.per_k.acc_plot.setTitle("pick accuracy vs k (test split)")
        self.draw_probes(result.scores)
        if self.pending is not None:
            path, self.pending = self.pending, None
            self.open_path(path)

    def stopped(self) -> None:
        self.active = False

    # --- files --------------------------------------------------------------------------------------
    def open_path(self, path: Path) -> None:
        """Show a dropped image's CPC prediction (or its patch pairs); before a model is trained the
        image waits for the end of the run."""
        if self.result is None:
            self.pending = Path(path)
            return
        self.dropped = Path(path).name
        self.runner.start(partial(cpc_task.explain_file, Path(path), self.result.state_dict,
                                  self.result.config, self.data, dict(self.live)),
                          label="explaining the image")

    def views(self) -> dict:
        return {"CPC example": self.examples.currentWidget(), "per-k": self.per_k,
                "CPC curves": self.curve, "CPC probes": self.probes}

    def run_config(self) -> dict:
        return asdict(self.params.config)
