"""Transforms tasks without Qt: frames carry samples, the warped grid, D's field, the VAE's ellipses;
the VAE on a single Gaussian gets closer to it; the KL fits."""

from dataclasses import replace

import numpy as np
import torch

from lab_app.core.control import Control
from lab_app.topics.transforms import task

QUICK = dict(steps=60, frame_seconds=0.0, hidden=32, shown_samples=300, field_size=16, grid_lines=5)


def run(fn, cfg, painted=None):
    events, gen = [], fn(cfg, None, Control(), painted=painted)
    try:
        while True:
            events.append(next(gen))
    except StopIteration as stop:
        return events, stop.value


def test_gan_frames_have_samples_grid_and_field():
    torch.manual_seed(0)
    cfg = replace(task.TransformsConfig(), **QUICK)
    events, state = run(task.train_gan, cfg)
    ready = events[0]
    assert isinstance(ready, task.TargetReady) and ready.data.shape == (4000, 2)
    frames = [e for e in events if isinstance(e, task.TransformFrame)]
    assert len(frames) == 60 and frames[-1].step == 60
    f = frames[-1]
    assert f.samples.shape == (300, 2) and f.grid.shape == (10, 60, 2)
    assert f.field.shape == (16, 16) and 0 <= f.field.min() and f.field.max() <= 1
    assert f.ellipses is None and "net.0.weight" in state
    # the grid is g of a grid: the first line has z1 = -2.5 fixed, z2 running
    assert not np.allclose(f.grid[0, 0], f.grid[0, -1])


def test_vae_on_a_single_gaussian_reduces_the_distance_and_draws_ellipses():
    painted = np.array([[1.5, 1.5]] * 3, np.float32)  # painted points at one place: one Gaussian
    cfg = replace(task.TransformsConfig(), target="painted", noise=0.2, **{**QUICK, "steps": 300})
    events, _ = run(task.train_vae, cfg, painted)
    frames = [e for e in events if isinstance(e, task.TransformFrame)]
    assert frames[-1].distance < 0.3 * frames[0].distance
    assert np.allclose(frames[-1].samples.mean(0), [1.5, 1.5], atol=0.15)
    assert frames[-1].ellipses.shape == (5, 48, 2) and frames[-1].anchors.shape == (5, 2)


def test_latent_dim_one_still_draws_a_grid():
    cfg = replace(task.TransformsConfig(), latent_dim=1, **{**QUICK, "steps": 3})
    z = task.z_grid(cfg)
    assert z.shape == (10, 60, 1)
    events, _ = run(task.train_gan, cfg)
    assert [e for e in events if isinstance(e, task.TransformFrame)][-1].grid.shape == (10, 60, 2)


def test_kl_fits_cover_and_seek():
    result = task.fit_kl(2.0)
    fwd, rev = result.fits
    assert abs(fwd.mu) < 0.05 and abs(rev.mu - 2.0) < 0.05
