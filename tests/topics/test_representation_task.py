"""Representation task (no Qt): a short run beats the random encoder; frames and probes are sane."""

import dataclasses

import numpy as np
import pytest
import torch

from lab_app.core.control import Control
from lab_app.core.events import Progress
from lab_app.data.datasets import load_dataset
from lab_app.topics.representation import mi_task, task
from lab_app.topics.representation.probes import project_2d


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Two intra-op threads on a 2-core machine are up to 10x slower (STACK-NOTES)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def run(gen):
    events = []
    while True:
        try:
            events.append(next(gen))
        except StopIteration as stop:
            return events, stop.value


@pytest.fixture(scope="module")
def small_digits():
    return load_dataset("digits", seed=0, limit=600)


def test_short_infonce_run_beats_the_random_encoder(small_digits):
    cfg = task.RepresentationConfig(steps=60, batch_size=128, probe_every=60, width=8, projection="PCA")
    events, result = run(task.train(cfg, {}, Control(), data=small_digits))
    assert isinstance(events[0], task.DatasetReady) and events[0].dataset is small_digits
    probes = [e for e in events if isinstance(e, task.ProbeScores)]
    assert probes[0].step == 0 and set(probes[0].scores) == {"raw pixels", "random encoder"}
    trained = result.scores["encoder"]["linear"]
    assert trained > result.scores["random encoder"]["linear"]
    assert trained > 0.8
    losses = [e.metrics["loss"] for e in events if isinstance(e, Progress)]
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    frames = [e for e in events if isinstance(e, task.EmbeddingFrame)]
    assert frames and frames[-1].xy.shape == (len(small_digits.x_train), 2) and frames[-1].margin is None
    assert np.median(frames[-1].positive_d) < np.median(frames[-1].negative_d)  # views closer than others
    assert result.train_features.shape == (len(small_digits.x_train), 128)
    assert np.allclose(np.linalg.norm(result.train_features, axis=1), 1, atol=1e-4)


@pytest.mark.parametrize("objective", ["pairwise contrastive", "rotation pretext"])
def test_other_objectives_run_and_report_their_geometry(small_digits, objective):
    cfg = task.RepresentationConfig(
        objective=objective,
        steps=12,
        batch_size=64,
        probe_every=100,
        width=4,
        embed_dim=2,
        margin=1.5,
        projection="PCA",
    )
    events, result = run(task.train(cfg, {"margin": 2.5}, Control(), data=small_digits))
    frame = [e for e in events if isinstance(e, task.EmbeddingFrame)][-1]
    if objective == "pairwise contrastive":
        assert frame.margin == 2.5  # the live value, not the config's
        assert frame.xy.shape[1] == 2
    else:
        assert frame.margin is None
    assert "encoder" in result.scores


def test_nearest_neighbours_of_a_training_image(small_digits):
    cfg = task.RepresentationConfig(steps=20, batch_size=64, probe_every=100, width=4, projection="PCA")
    _, result = run(task.train(cfg, {}, Control(), data=small_digits))
    model = task.build_encoder(task.config_from(result.config), small_digits, result.state_dict)
    query = task.embed_image(model, small_digits.x_train[7])
    assert task.nearest(result.train_features, query, 3)[0] == 7  # an image is its own nearest neighbour
    rgb = np.repeat(
        (255 - small_digits.x_train[7, 0] * 255).astype(np.uint8)[:, :, None], 3, 2
    )  # dark on light
    seen = task.image_for(rgb, small_digits)
    assert seen.shape == (1, 8, 8) and np.allclose(seen, small_digits.x_train[7], atol=0.02)  # inverted back


def test_pca_projection_keeps_axis_signs():
    z = np.random.default_rng(0).normal(size=(100, 5)) * [5, 2, 1, 1, 1]
    first = project_2d(z)
    second = project_2d(-z, previous=first)  # the same cloud mirrored: PCA may flip, alignment flips back
    assert np.allclose(first, -second, atol=1e-4) or np.allclose(first, second, atol=1e-4)
    assert np.corrcoef(first[:, 0], project_2d(z * 1.01, previous=first)[:, 0])[0, 1] > 0.99


def test_mi_task_staircase_and_live_batch():
    cfg = mi_task.MIConfig(steps=40, stair_steps=10, mi_batch=32, report_every=5, dim=4)
    live = {"mi_batch": 16}
    events, done = run(mi_task.estimate_mi(cfg, live, Control()))
    truths = [e.metrics["true MI"] for e in events]
    assert truths[0] == 1.0 and truths[-1] == mi_task.STAIRCASE[3]
    assert all(e.metrics["log N"] == pytest.approx(np.log(16)) for e in events)
    assert done.log_n == pytest.approx(np.log(16))
    fixed = dataclasses.replace(cfg, mode="fixed", true_mi=0.7)
    assert mi_task.current_truth(fixed, 999) == 0.7


def test_the_last_step_draws_its_pca_before_its_t_sne(small_digits):
    """The trained embedding is on screen before the seconds of t-SNE: the last step yields its PCA
    frame, then the t-SNE of the same weights."""
    cfg = task.RepresentationConfig(steps=12, batch_size=64, probe_every=100, width=4, limit=300,
                                    frame_seconds=0.0, projection="t-SNE at the end")
    events, result = run(task.train(cfg, {}, Control(), data=small_digits))
    frames = [e for e in events if isinstance(e, task.EmbeddingFrame)]
    assert [(f.step, f.projection) for f in frames[-2:]] == [(12, "PCA"), (12, "t-SNE")]
    assert all(f.projection == "PCA" for f in frames[:-1])
    pca, tsne = frames[-2:]
    for k, v in result.state_dict.items():
        assert torch.equal(pca.state_dict[k], v) and torch.equal(tsne.state_dict[k], v)
    assert not np.allclose(pca.xy, tsne.xy)
    # the PCA frame is the PCA of the trained embedding: its first axis has the larger spread
    assert pca.xy[:, 0].var() >= pca.xy[:, 1].var()
