"""Reparameterization tasks without Qt: histogram frames, the race, simplex geometry, the VAE generator."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from lab_app.core.control import Control
from lab_app.core.events import Progress, drain
from lab_app.topics.reparam import task, vae_task
from models.safe_expr import ExpressionError

run = drain   # (events, result) of a task run to its end without a runner


def test_estimate_histograms_then_race_reaches_the_minimum():
    cfg = task.EstimatorConfig(samples=20_000, race_steps=100, learning_rate=0.1, mu=2.0)
    events, last = run(task.estimate(cfg, np.zeros(3), 1.0, Control()))
    frame = events[0]
    assert isinstance(frame, task.EstimatorFrame)
    assert frame.names == ("REINFORCE", "REINFORCE + baseline", "pathwise")
    assert frame.exact == pytest.approx(4.0, abs=1e-6) and frame.objective == pytest.approx(5.0, abs=1e-6)
    width = frame.edges[1] - frame.edges[0]
    assert all(0.9 < c.sum() * width <= 1.0 + 1e-9 for c in frame.counts)  # densities over the central 99%
    assert np.all(np.abs(frame.means - 4.0) < 4 * np.sqrt(frame.variances / frame.n))
    assert frame.variance_curves[2, 0] < frame.variance_curves[0, 0]  # pathwise below REINFORCE
    assert np.all(np.diff(frame.variance_curves[2][np.isfinite(frame.variance_curves[2])]) < 0)
    assert isinstance(last, task.RaceFrame) and last.done
    assert set(last.curves) == {"exact gradient", *frame.names}
    # E[z^2] = mu^2 + sigma^2: every estimator walks mu towards 0, L towards 1.
    for curve in last.curves.values():
        assert curve[0] == pytest.approx(5.0, abs=1e-3) and curve[-1] < 1.3


def test_categorical_estimate_and_bad_expression():
    cfg = task.EstimatorConfig(
        distribution=task.DISTRIBUTIONS[1],
        function="(z - 1.2)**2",
        samples=5000,
        race_steps=20,
        baseline=False,
    )
    frame = next(task.estimate(cfg, np.array([1.0, 0.0, -1.0]), 0.5, Control()))
    assert frame.names == ("REINFORCE", "Gumbel-Softmax", "straight-through")
    p = np.exp([1.0, 0.0, -1.0]) / np.exp([1.0, 0.0, -1.0]).sum()
    f = np.array([1.44, 0.04, 0.64])  # class 0 is the worst: raising its logit raises L
    assert frame.exact == pytest.approx(p[0] * (f[0] - p @ f)) and frame.exact > 0
    with pytest.raises(ExpressionError, match="attribute"):
        next(task.estimate(replace(cfg, function="custom", expression="z.real"), np.zeros(3), 1.0, Control()))


def test_simplex_geometry_and_tau_moves_samples_between_centre_and_corners():
    probs = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1 / 3, 1 / 3, 1 / 3]], float)
    xy = task.simplex_xy(probs)
    assert np.allclose(xy[:3], task.CORNERS) and np.allclose(task.xy_to_probs(xy[3]), 1 / 3)
    assert np.allclose(task.xy_to_probs(task.simplex_xy(np.array([0.2, 0.5, 0.3]))), [0.2, 0.5, 0.3])
    noise = np.random.default_rng(0).gumbel(size=(4000, 3))
    logits = np.log([0.2, 0.5, 0.3])
    cold, hot = (task.simplex_samples(logits, tau, noise) for tau in (0.05, 20.0))
    assert cold.soft.max(1).mean() > 0.95 and hot.soft.max(1).mean() < 0.4  # corners vs centre
    assert np.array_equal(cold.hard, hot.hard) and np.allclose(cold.frequencies, [0.2, 0.5, 0.3], atol=0.03)
    st = task.simplex_samples(logits, 1.0, noise, straight_through=True)
    assert np.allclose(st.soft.max(1), 1.0)


def test_vae_task_trains_both_latents_and_decodes_codes():
    torch.set_num_threads(1)
    cfg = vae_task.CategoricalVAEConfig(
        latent_vars=4, classes=5, steps=40, report_every=20, eval_every=40, hidden=32
    )
    live = {"code": np.array([0, 1, 2, 3]), "variable": 2}
    events, result = run(vae_task.train(cfg, live, Control()))
    progress = [e for e in events if isinstance(e, Progress)]
    assert [p.step for p in progress] == [20, 40]
    assert progress[-1].metrics["tau"] == pytest.approx(max(cfg.tau_min, np.exp(-cfg.anneal_rate * 40)))
    decoded = [e for e in events if isinstance(e, vae_task.Decoded)][-1]
    assert decoded.image.shape == (8, 8) and decoded.variations.shape == (5, 8, 8) and decoded.variable == 2
    assert np.allclose(decoded.variations[2], decoded.image, atol=1e-6)  # the code itself has class 2 there
    tests = [e for e in events if isinstance(e, vae_task.TestElbo)]
    assert len(tests) == 1 and tests[0].categorical == result.test_elbo < 0
    assert result.gaussian_test_elbo < 0 and result.image_shape == (8, 8)
