"""VAE task without Qt: frames (latent plane, manifold, reconstructions, activity), the IW estimate,
beta read live, the plane mapping, interpolation."""

from dataclasses import replace

import numpy as np
import torch

from lab_app.core.control import Control
from lab_app.data.datasets import load_dataset
from lab_app.topics.vae import task

QUICK = dict(epochs=3, batch_size=32, width=32, limit=400, frame_seconds=0.0, iw_k=20, iw_every=3, manifold=5)


def run(cfg, live=None, data=None, init_state=None):
    events, gen = [], task.train(cfg, live, Control(), data=data, init_state=init_state)
    try:
        while True:
            events.append(next(gen))
    except StopIteration as stop:
        return events, stop.value


def test_training_reports_frames_iw_and_a_trained_model():
    torch.manual_seed(0)
    cfg = replace(task.VaeTaskConfig(), **QUICK)
    events, result = run(cfg)
    data = events[0].dataset
    frames = [e for e in events if isinstance(e, task.LatentFrame)]
    f = frames[-1]
    assert f.xy.shape == (len(data.x_test), 2) and f.manifold.shape == (5 * 9 - 1, 5 * 9 - 1)
    assert f.originals.shape == (10, 8, 8) and f.reconstructions.shape == (10, 8, 8)
    assert 0 <= f.manifold.min() and f.manifold.max() <= 1 and f.activity.shape == (2,)
    progress = [e for e in events if hasattr(e, "metrics")]
    assert progress[-1].metrics["elbo"] > progress[0].metrics["elbo"]
    iw = [e for e in events if isinstance(e, task.IWEstimate)][-1]
    assert iw.k == 20 and -iw.nll >= iw.elbo - 1.0  # the IW bound is at least the ELBO (noise aside)
    assert result.scores["active_units"] == f.active and set(result.state_dict) >= {"to_mu.weight"}
    # the manifold's bottom-left tile is the decoded bottom-left corner of the extent
    model = task.build_model(cfg, data, result.state_dict).eval()
    corner = task.decode_images(model, task.from_plane(np.array([[f.extent[0], f.extent[2]]]), f.plane), (1, 8, 8))[0]
    assert np.allclose(f.manifold[:8, :8], corner[::-1], atol=1e-5)


def test_beta_is_read_live_and_training_continues_from_weights():
    data = load_dataset("digits", limit=300)
    cfg = replace(task.VaeTaskConfig(), **{**QUICK, "iw_k": 0, "epochs": 2})
    _, first = run(cfg, data=data)
    live = {"beta": 6.0}
    events, _ = run(cfg, live, data=data, init_state=first.state_dict)
    p = [e for e in events if hasattr(e, "metrics")][0]
    assert abs(p.metrics["loss"] - (p.metrics["recon"] + 6.0 * p.metrics["kl"])) < 1e-3
    assert p.metrics["elbo"] > -60  # it started from trained weights, not from scratch


def test_pca_plane_for_wide_latents_round_trips():
    mu = np.random.default_rng(0).standard_normal((200, 6)).astype(np.float32) * [3, 2, 0.1, 0.1, 0.1, 0.1]
    plane = task.latent_plane(mu)
    xy = task.to_plane(mu, plane)
    back = task.from_plane(xy, plane)
    assert np.abs(back - mu)[:, :2].mean() < 0.1  # the plane holds the two wide directions
    assert xy[:, 0].var() > xy[:, 1].var()
