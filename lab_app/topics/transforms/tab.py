"""The distribution-transforms tab: a GAN and a VAE learn the same 2D target side by side (two
runners), each drawn as X = g(Z) with the warped grid of Z; a third runner fits one Gaussian to a
bimodal target by forward and by reverse KL."""

from __future__ import annotations

from dataclasses import asdict
from functools import partial
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QGridLayout,
    QGroupBox,
    QLabel,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from lab_app.core.events import Progress
from lab_app.core.live import LiveDict
from lab_app.qt.tab_base import TopicTab
from lab_app.qt.widgets.loss_curve import LossCurve
from lab_app.qt.widgets.param_panel import ParamPanel
from lab_app.topics.transforms import task
from lab_app.topics.transforms.views import KLPanel, ModelView, PaintPlot
from models.kl_fit import densities

IDEA = """
<b>Generative models transform noise.</b> Both models draw Z ~ N(0, I) and output X = g(Z): the white
lines are a square grid of Z carried into data space by g, so you see how g stretches and folds the plane.<br>
<b>GAN</b>: g plays against a discriminator D (the colour behind the plot: D(x), the chance x is real).
min<sub>g</sub> max<sub>D</sub> E log D(x) + E log(1 &minus; D(g(z))). Sharp samples, but it may drop modes.<br>
<b>VAE</b>: an encoder q(z|x) and decoder g trained on the ELBO; yellow: where the 2&sigma; ellipse of q(z|x)
of a data point (&times;) lands after decoding. Covers every mode, blurrier between them.<br>
<b>Forward vs reverse KL</b> (bottom): maximum likelihood minimises KL(p||q) and spreads q over every mode;
variational inference minimises KL(q||p) and sits on one mode.
"""

GAN_COLOR = (255, 110, 90)
VAE_COLOR = (90, 200, 255)


class TransformsTab(TopicTab):
    def __init__(self, ctx, parent=None):
        super().__init__(ctx, parent)
        self.vae_runner = self.add_runner()
        self.kl_runner = self.add_runner(device="cpu")
        self.frames = {"gan": 0, "vae": 0}
        self.distances: dict[str, float] = {}
        self.kl: task.KLResult | None = None
        self._live = LiveDict()
        self._ready_sent = False
        self._build()
        self.runner.event.connect(self._on_event)
        self.vae_runner.event.connect(self._on_event)
        self.kl_runner.finished.connect(self._on_kl)

    def _build(self) -> None:
        side = QWidget()
        col = QVBoxLayout(side)
        col.addWidget(self.idea_label(IDEA))
        self.params = ParamPanel(task.TransformsConfig(seed=self.ctx.seed))
        self.params.live_changed.connect(self._live_changed)
        self.params.restart_changed.connect(self._restart_changed)
        box = QGroupBox("GAN and VAE on 2D data")
        QVBoxLayout(box).addWidget(self.params)
        col.addWidget(box)
        buttons = QGridLayout()
        for i, (text, slot) in enumerate([("Train", lambda: self.start_training()), ("Stop", self.stop),
                                          ("Clear painting", self._clear_paint)]):
            b = QPushButton(text)
            b.clicked.connect(slot)
            buttons.addWidget(b, i // 2, i % 2)
        col.addLayout(buttons)
        self.numbers = QLabel("energy distance: -")
        self.numbers.setStyleSheet("font-family: monospace;")
        self.numbers.setWordWrap(True)
        col.addWidget(self.numbers)
        col.addStretch(1)

        self.target_plot = PaintPlot()
        self.target_plot.painted.connect(self._on_painted)
        self.gan_view = ModelView("GAN: g(z), warped Z grid, D(x)", GAN_COLOR)
        self.vae_view = ModelView("VAE: g(z), warped Z grid, q(z|x)", VAE_COLOR)
        self.distance_curve = LossCurve(title="energy distance to the target")
        self.loss_curve = LossCurve(title="training losses")
        self.kl_panel = KLPanel()
        top = QSplitter()
        for w, size in ((self.target_plot, 300), (self.gan_view, 450), (self.vae_view, 450)):
            top.addWidget(w)
        top.setSizes([300, 450, 450])
        bottom = QSplitter()
        for w in (self.distance_curve, self.kl_panel, self.loss_curve):
            bottom.addWidget(w)
        bottom.setSizes([400, 400, 400])
        grid = QSplitter(Qt.Orientation.Vertical)
        grid.addWidget(top)
        grid.addWidget(bottom)
        grid.setSizes([560, 320])
        self.place_side_and_views(side, grid, 390)

    # --- actions ---------------------------------------------------------------------------------------
    @property
    def config(self) -> task.TransformsConfig:
        return self.params.config

    def start_demo(self) -> None:
        self.demo_started = True
        self.start_training()

    def stop(self) -> None:
        self.runner.cancel()
        self.vae_runner.cancel()

    def painted_points(self) -> np.ndarray:
        return np.array(self.target_plot.points, np.float32).reshape(-1, 2)

    def start_training(self, config: task.TransformsConfig | None = None) -> None:
        cfg = config or self.config
        if config is not None:
            self.params.set_config(config)
        self.target_plot.set_painting(cfg.target == "painted")
        self.start_kl(cfg.kl_separation)
        painted = self.painted_points()
        if cfg.target == "painted" and len(painted) < 3:
            self.stop()
            self.banner.show_message("Paint the target: press and drag on the left plot, then release", "info")
            return
        self.banner.clear()
        self.distance_curve.clear()
        self.loss_curve.clear()
        self._live = LiveDict({k: getattr(cfg, k) for k in ("gan_lr", "d_steps", "r1_gamma", "vae_lr", "beta")})
        self.runner.start(partial(task.train_gan, cfg, self._live, painted=painted), label="training GAN")
        self.vae_runner.start(partial(task.train_vae, cfg, self._live, painted=painted), label="training VAE")

    def start_kl(self, separation: float) -> None:
        if self.kl is None or self.kl.separation != separation:
            self.kl_runner.start(partial(task.fit_kl, separation), label="KL fits")

    def _live_changed(self, name: str, value) -> None:
        self._live[name] = value

    def _restart_changed(self, name: str, value) -> None:
        if name == "kl_separation":
            self.start_kl(float(value))
        else:
            self.start_training()

    def _on_painted(self) -> None:
        if self.config.target == "painted":
            self.start_training()

    def _clear_paint(self) -> None:
        self.target_plot.clear_points()
        if self.config.target == "painted":
            self.stop()

    # --- events ---------------------------------------------------------------------------------------
    def _on_event(self, ev) -> None:
        if isinstance(ev, task.TargetReady):
            view = self.gan_view if ev.model == "gan" else self.vae_view
            view.set_target(ev.data, ev.extent)
            if ev.model == "gan" and self.config.target != "painted":
                self.target_plot.show_points(ev.data, ev.extent)
        elif isinstance(ev, task.TransformFrame):
            view = self.gan_view if ev.name == "gan" else self.vae_view
            view.set_frame(ev.samples, ev.grid, ev.field, ev.ellipses, ev.anchors)
            self.frames[ev.name] += 1
            self.distances[ev.name] = ev.distance
            self.distance_curve.append(ev.step, {ev.name.upper(): max(ev.distance, 1e-5)})
            self.numbers.setText("energy distance to the target\n" + "\n".join(
                f"  {k.upper()}: {v:.4f}" for k, v in sorted(self.distances.items())))
            if ev.name == "gan" and ev.step >= 400 and not self._ready_sent:
                self._ready_sent = True  # a trained GAN's warp is on screen
                self.demo_ready.emit()
        elif isinstance(ev, Progress):
            self.loss_curve.append(ev.step, {k: v for k, v in ev.metrics.items() if "loss" in k})

    def _on_kl(self, result) -> None:
        if not isinstance(result, task.KLResult):
            return
        self.kl = result
        fwd, rev = result.fits
        x, p, (qf, qr) = densities(result.separation, result.width, [fwd, rev])
        self.kl_panel.set_fits(x, p, qf, qr)
        self.kl_panel.plot_item.setTitle(
            f"forward: &mu;={fwd.mu:+.2f} &sigma;={fwd.sigma:.2f} KL(p||q)={fwd.kl_forward:.3f}<br>"
            f"reverse: &mu;={rev.mu:+.2f} &sigma;={rev.sigma:.2f} KL(q||p)={rev.kl_reverse:.3f}", size="9pt")

    # --- TopicTab -------------------------------------------------------------------------------------
    def open_path(self, path: Path) -> None:
        raise NotImplementedError("the transforms tab opens no files")

    def views(self):
        return {"GAN": self.gan_view, "VAE": self.vae_view, "target": self.target_plot,
                "energy distance": self.distance_curve, "forward vs reverse KL": self.kl_panel,
                "losses": self.loss_curve}

    def run_config(self):
        return {**asdict(self.config), "painted_points": len(self.target_plot.points)}
