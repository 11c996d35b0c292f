"""The reparameterization tab: gradient estimators side by side, Gumbel-max vs Gumbel-Softmax on the
simplex, and a categorical-latent VAE against a Gaussian one. Two sub-tabs: the first shows the
estimator panel beside the simplex panel, the second the VAE. Two runners: the estimators (quick,
restarted by every knob) and the VAE training run side by side."""

from __future__ import annotations

from dataclasses import asdict, replace
from functools import partial
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QGroupBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from lab_app.core.events import Progress
from lab_app.core.live import LiveDict
from lab_app.qt.tab_base import TopicTab
from lab_app.qt.widgets.loss_curve import LossCurve
from lab_app.qt.widgets.param_panel import ParamPanel
from lab_app.qt.widgets.plots import plot_widget
from lab_app.topics.reparam import task, vae_task
from lab_app.topics.reparam.views import CodeGrid, EstimatorPlots, SimplexView
from models import estimators as est
from models.safe_expr import ExpressionError, compile_expression

IDEA = """
<b>L(&theta;) = E<sub>z~p<sub>&theta;</sub></sub>[f(z)]</b>: how do we get &nabla;<sub>&theta;</sub>L
from samples?<br>
<b>Score function</b> (REINFORCE): f(z) &nabla; log p<sub>&theta;</sub>(z) needs only values of f,
but is noisy; a baseline b, f(z) &minus; b, keeps it unbiased and cuts the noise.<br>
<b>Pathwise</b>: write z = &mu; + &sigma;&epsilon;, &epsilon; ~ N(0,1), and differentiate f through
the sample: f'(z). Far less noise, but it needs f' (a step function gives 0: biased).<br>
<b>Discrete z</b>: argmax<sub>k</sub>(&theta;<sub>k</sub> + G<sub>k</sub>), G Gumbel, is an exact
sample (Gumbel-max), but argmax has no gradient. <b>Gumbel-Softmax</b> softmax((&theta; + G)/&tau;)
relaxes it: small &tau; = nearly one-hot and noisy gradients, large &tau; = smooth but biased.
<b>Straight-through</b>: one-hot forward, soft backward.
"""


class ReparamTab(TopicTab):
    def __init__(self, ctx, parent=None):
        super().__init__(ctx, parent)
        self.vae_runner = self.add_runner(device="cpu")
        self.curve_runner = self.add_runner(device="cpu")  # the bias-variance curve (numpy, thousands of samples)
        self.logits = np.log(np.array([0.5, 0.3, 0.2]))
        self.noise = np.zeros((0, 3))
        self.samples: task.SimplexSamples | None = None
        self.estimator_frame: task.EstimatorFrame | None = None
        self.vae_result: vae_task.VAEResult | None = None
        self._vae_live = LiveDict()
        self._vae_classes = 0
        self._build()
        self.runner.event.connect(self._on_estimator_event)
        self.vae_runner.event.connect(self._on_vae_event)
        self.vae_runner.finished.connect(self._on_vae_finished)
        self.curve_runner.finished.connect(self._draw_bias_variance)

    # --- layout -------------------------------------------------------------------------------------
    def _build(self) -> None:
        self.est_params = ParamPanel(task.EstimatorConfig(seed=self.ctx.seed))
        self.est_params.changed.connect(lambda *_: self.start_estimates())
        self.expression = QLineEdit(task.EstimatorConfig().expression)
        self.expression.setToolTip(
            "f(z) with + - * / **, numbers, z, and sin cos exp log abs tanh sqrt "
            "heaviside where maximum minimum ... (nothing else is evaluated)"
        )
        self.expression.editingFinished.connect(self._expression_edited)
        self.expression_error = QLabel("")
        self.expression_error.setWordWrap(True)
        self.expression_error.setStyleSheet("color: #e06c6c;")
        self.simplex_params = ParamPanel(task.SimplexConfig())
        self.simplex_params.live_changed.connect(self._simplex_changed)

        side = QWidget()
        col = QVBoxLayout(side)
        col.addWidget(self.idea_label(IDEA))
        box = QGroupBox("Gradient estimators")
        bl = QVBoxLayout(box)
        bl.addWidget(self.est_params)
        bl.addWidget(QLabel("custom f(z):"))
        bl.addWidget(self.expression)
        bl.addWidget(self.expression_error)
        col.addWidget(box)
        box2 = QGroupBox("Gumbel-Softmax (drag the white target to set the logits)")
        QVBoxLayout(box2).addWidget(self.simplex_params)
        col.addWidget(box2)
        self.numbers = QLabel("")
        self.numbers.setStyleSheet("font-family: monospace;")
        self.numbers.setWordWrap(True)
        col.addWidget(self.numbers)
        col.addStretch(1)

        self.estimator_plots = EstimatorPlots()
        self.simplex = SimplexView()
        self.simplex.probs_dragged.connect(self._logits_dragged)
        self.tau_plot = plot_widget(title="relaxed gradient: bias (orange), variance (blue)")
        tp = self.tau_plot.getPlotItem()
        tp.setLogMode(x=True, y=True)
        tp.setLabel("bottom", "tau")
        tp.showGrid(x=True, y=True, alpha=0.2)
        self.bias_item = tp.plot(name="bias |E g - exact|", pen=pg.mkPen((255, 127, 14), width=2))
        self.var_item = tp.plot(name="variance (trace)", pen=pg.mkPen((31, 119, 180), width=2))
        self.tau_line = pg.InfiniteLine(angle=90, pen=pg.mkPen("w", style=Qt.PenStyle.DashLine))
        tp.addItem(self.tau_line)
        self.freq_plot = plot_widget(title="p (white), Gumbel-max (green), mean soft (yellow)")
        self.freq_plot.getPlotItem().setLabel("bottom", "class")
        self.freq_bars = [
            pg.BarGraphItem(x=[0], height=[0], width=0.27, brush=c)
            for c in ((220, 220, 220), (44, 160, 44), (230, 200, 40))
        ]
        for b in self.freq_bars:
            self.freq_plot.addItem(b)
        simplex_col = QSplitter(Qt.Orientation.Vertical)
        for w in (self.simplex, self.tau_plot, self.freq_plot):
            simplex_col.addWidget(w)
        simplex_col.setSizes([480, 220, 200])
        page1 = QSplitter()
        page1.addWidget(self.estimator_plots)
        page1.addWidget(simplex_col)
        page1.setSizes([520, 420])
        for w in (self.estimator_plots, simplex_col, self.simplex, self.tau_plot, self.freq_plot):
            w.setMinimumWidth(200)  # let the splitter fit the window instead of overflowing it
        page1.setChildrenCollapsible(False)

        self.subtabs = QTabWidget()
        self.subtabs.addTab(page1, "Estimators and Gumbel-Softmax")
        self.subtabs.addTab(self._build_vae_page(), "Categorical VAE")
        self.place_side_and_views(side, self.subtabs, 400)

    def _build_vae_page(self) -> QWidget:
        self.vae_params = ParamPanel(vae_task.CategoricalVAEConfig(seed=self.ctx.seed))
        train = QPushButton("Train both VAEs")
        train.clicked.connect(lambda: self.start_vae())
        stop = QPushButton("Stop")
        stop.clicked.connect(self.vae_runner.cancel)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.addWidget(
            QLabel(
                "<b>Categorical latent</b> (N variables x K classes, Gumbel-Softmax, tau annealed) "
                "vs <b>Gaussian latent</b> (N dims, pathwise), same decoder, same batches."
            )
        )
        ll.itemAt(0).widget().setWordWrap(True)
        ll.addWidget(self.vae_params)
        ll.addWidget(train)
        ll.addWidget(stop)
        self.vae_numbers = QLabel("test ELBO: -")
        self.vae_numbers.setStyleSheet("font-family: monospace;")
        ll.addWidget(self.vae_numbers)
        ll.addStretch(1)
        self.elbo_curve = LossCurve(title="training ELBO (nats per image, higher is better)", y_label="ELBO")
        self.tau_curve = LossCurve(title="temperature schedule tau_t", y_label="tau")
        self.code_grid = CodeGrid()
        self.code_grid.cell_clicked.connect(self._code_clicked)
        caption = QLabel("Code of the categorical VAE: one row per variable, one column per class.")
        caption.setWordWrap(True)
        codes = QWidget()
        cl = QVBoxLayout(codes)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.addWidget(caption)
        cl.addWidget(self.code_grid, 1)
        curves = QSplitter(Qt.Orientation.Vertical)
        curves.addWidget(self.elbo_curve)
        curves.addWidget(self.tau_curve)
        curves.setSizes([500, 200])
        page = QSplitter()
        page.addWidget(left)
        page.addWidget(curves)
        page.addWidget(codes)
        page.setSizes([300, 500, 420])
        return page

    # --- gradient estimators --------------------------------------------------------------------------
    @property
    def config(self) -> task.EstimatorConfig:
        return replace(self.est_params.config, expression=self.expression.text())

    def start_demo(self) -> None:
        self.demo_started = True
        self.redraw_simplex()
        self.start_estimates()
        self.start_vae()

    def start_estimates(self, config: task.EstimatorConfig | None = None) -> None:
        if config is not None:
            self.est_params.set_config(config)
            self.expression.setText(config.expression)
        cfg = self.config
        try:
            task.resolve_function(cfg)
        except ExpressionError as e:
            self.expression_error.setText(str(e))
            return
        self.expression_error.setText("")
        self.runner.start(
            partial(task.estimate, cfg, self.logits.copy(), self.simplex_params.config.tau),
            label="gradient estimators",
        )

    def _expression_edited(self) -> None:
        try:
            compile_expression(self.expression.text())
        except ExpressionError as e:
            self.expression_error.setText(str(e))
            return
        if self.est_params.config.function != "custom":
            self.est_params.set_config(replace(self.est_params.config, function="custom"))
        self.start_estimates()
        self.redraw_simplex()

    def _on_estimator_event(self, ev) -> None:
        if isinstance(ev, task.EstimatorFrame):
            self.estimator_frame = ev
            self.estimator_plots.show_frame(ev)
            lines = [f"L(theta) = {ev.objective:.4g}   exact {ev.label} = {ev.exact:.4g}"]
            rows = zip(ev.names, ev.means, ev.variances, strict=True)
            lines += [f"{n:<22s} mean {m:+.4f}  var {v:.4g}" for n, m, v in rows]
            self.numbers.setText("\n".join(lines))
        elif isinstance(ev, task.RaceFrame):
            self.estimator_plots.show_race(ev)
            if self.estimator_frame is not None and not self.demo_done:
                self.demo_ready.emit()   # histograms, variance curves and the race: every plot drawn

    # --- simplex ---------------------------------------------------------------------------------------
    def redraw_simplex(self) -> None:
        cfg = self.simplex_params.config
        if len(self.logits) != cfg.classes:
            self.logits = (
                np.log(np.array([0.5, 0.3, 0.2])) if cfg.classes == 3 else np.linspace(1.0, -1.0, cfg.classes)
            )
        if self.noise.shape != (cfg.samples, cfg.classes):  # fixed noise: tau moves the same samples
            self.noise = est.gumbel_noise((cfg.samples, cfg.classes), np.random.default_rng(self.ctx.seed))
        self.samples = task.simplex_samples(self.logits, cfg.tau, self.noise, cfg.straight_through)
        if cfg.classes == 3:
            self.simplex.show_samples(self.samples, cfg.tau, cfg.straight_through)
        else:
            self.simplex.clear_samples()
            self.simplex.plot_widget.getPlotItem().setTitle(f"K = {cfg.classes}: see the bars below")
        k = np.arange(cfg.classes)
        for bar, offset, heights in zip(
            self.freq_bars,
            (-0.28, 0.0, 0.28),
            (self.samples.probs, self.samples.frequencies, self.samples.soft_mean),
            strict=True,
        ):
            bar.setOpts(x=k + offset, height=heights)
        self.freq_plot.setXRange(-0.6, cfg.classes - 0.4, padding=0)
        self.tau_line.setValue(np.log10(cfg.tau))
        self._redraw_bias_variance()

    def _redraw_bias_variance(self) -> None:
        """Recompute the curve in a worker (latest wins: a dragged slider computes only its last value)."""
        try:
            task.resolve_function(self.config)
        except ExpressionError:
            return
        self.curve_runner.start(partial(task.bias_variance_curve, self.config, self.logits.copy()),
                                label="bias and variance vs tau")

    def _draw_bias_variance(self, result) -> None:
        taus, bias, var = result
        ok_b, ok_v = bias > 0, var > 0
        self.bias_item.setData(taus[ok_b], bias[ok_b])
        self.var_item.setData(taus[ok_v], var[ok_v])

    def _simplex_changed(self, name: str, value) -> None:
        self.redraw_simplex()
        if self.est_params.config.distribution == task.DISTRIBUTIONS[1] and name in ("tau", "classes"):
            self.start_estimates()

    def _logits_dragged(self, probs: np.ndarray) -> None:
        if len(self.logits) != 3:
            return
        self.logits = np.log(probs)
        self.redraw_simplex()
        if self.est_params.config.distribution == task.DISTRIBUTIONS[1]:
            self.start_estimates()

    # --- categorical VAE -------------------------------------------------------------------------------
    def start_vae(self, config: vae_task.CategoricalVAEConfig | None = None) -> None:
        if config is not None:
            self.vae_params.set_config(config)
        cfg = self.vae_params.config
        self.elbo_curve.clear()
        self.tau_curve.clear()
        self._vae_classes = cfg.classes
        code = np.random.default_rng(cfg.seed).integers(0, cfg.classes, cfg.latent_vars)
        self._vae_live = LiveDict({"code": code, "variable": 0})
        self.code_grid.set_code(code, cfg.classes, 0)
        self.vae_result = None
        self.vae_runner.start(partial(vae_task.train, cfg, self._vae_live), label="categorical VAE")

    def _on_vae_event(self, ev) -> None:
        if isinstance(ev, Progress):
            self.elbo_curve.append(
                ev.step,
                {
                    "categorical (Gumbel-Softmax)": -ev.metrics["categorical loss"],
                    "Gaussian": -ev.metrics["Gaussian loss"],
                },
            )
            self.tau_curve.append(ev.step, {"tau": ev.metrics["tau"]})
        elif isinstance(ev, vae_task.TestElbo):
            self.vae_numbers.setText(
                f"test ELBO at step {ev.step}\n categorical {ev.categorical:8.2f}\n"
                f" Gaussian    {ev.gaussian:8.2f}"
            )
        elif isinstance(ev, vae_task.Decoded):
            self.code_grid.set_images(ev.image, ev.variations)

    def _on_vae_finished(self, result) -> None:
        if isinstance(result, vae_task.VAEResult):
            self.vae_result = result
            self.status_message.emit(
                f"VAEs trained in {result.train_seconds:.0f} s: test ELBO categorical "
                f"{result.test_elbo:.1f}, Gaussian {result.gaussian_test_elbo:.1f}"
            )
            self._decode_now()

    def _code_clicked(self, variable: int, cls: int) -> None:
        code = np.asarray(self._vae_live.get("code", np.zeros(0)), np.int64).copy()
        if variable >= len(code) or cls >= self._vae_classes:
            return
        code[variable] = cls
        self._vae_live.update(code=code, variable=variable)  # the running task reads it at its next frame
        self.code_grid.set_code(code, self._vae_classes, variable)
        self._decode_now()

    def _decode_now(self) -> None:
        if self.vae_result is None:
            return
        image, variations = vae_task.decode(
            self.vae_result.categorical,
            self._vae_live["code"],
            self._vae_live["variable"],
            self.vae_result.image_shape,
        )
        self.code_grid.set_images(image, variations)

    # --- TopicTab ---------------------------------------------------------------------------------------
    def open_path(self, path: Path) -> None:
        self.banner.show_message(
            f"{Path(path).name}: this tab works on built-in distributions and datasets", "warning"
        )

    def views(self):
        return {
            "estimators": self.estimator_plots,
            "simplex": self.simplex,
            "VAE ELBO": self.elbo_curve,
            "VAE codes": self.code_grid,
        }

    def run_config(self):
        return {
            "estimators": asdict(self.config),
            "simplex": asdict(self.simplex_params.config),
            "vae": asdict(self.vae_params.config),
            "logits": self.logits.tolist(),
        }
