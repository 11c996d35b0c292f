"""Representation task (no Qt): a short run beats the random encoder; frames and probes are sane."""

import dataclasses

import numpy as np
import pytest
import torch

from lab_app.core.control import Control
from lab_app.core.events import Progress
from lab_app.data.datasets import load_dataset
from lab_app.topics.representation import mi_task, shipped, task
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


def test_a_saved_encoder_keeps_its_loss_curve_and_a_load_ends_on_the_runs_t_sne(tmp_path):
    """The checkpoint carries the run's loss curve; a load's t-SNE (``tsne_frame``) has the
    neighbourhoods the run's last frame had, so the shipped encoder opens on the picture its training
    ended on (not the same coordinates: training ran channels-last, and t-SNE magnifies the last bits)."""
    cfg = task.RepresentationConfig(steps=30, batch_size=64, probe_every=30, width=4, limit=300,
                                    frame_seconds=0.0, projection="t-SNE at the end")
    events, trained = run(task.train(cfg, None, Control()))
    losses = [(ev.step, ev.metrics["loss"]) for ev in events if isinstance(ev, Progress)]
    assert [(s, m["loss"]) for s, m in trained.history] == losses and losses[-1][0] == cfg.steps
    last = [ev for ev in events if isinstance(ev, task.EmbeddingFrame)][-1]
    assert last.projection == "t-SNE"

    path = task.save_encoder(tmp_path / "enc.safetensors", trained)
    loaded = task.load_encoder(path)
    assert loaded.trained.history == trained.history
    assert loaded.embedding.shape == (len(loaded.shown), cfg.embed_dim)
    laid_out = task.tsne_frame(loaded.frame, loaded.embedding, cfg.seed)
    assert laid_out.projection == "t-SNE" and laid_out.step == cfg.steps

    def neighbours(xy, k=10):
        d = ((xy[:, None] - xy[None]) ** 2).sum(-1)
        np.fill_diagonal(d, np.inf)
        return np.argsort(d, 1)[:, :k]

    pairs = zip(neighbours(laid_out.xy), neighbours(last.xy), strict=True)
    shared = [len(set(a) & set(b)) / 10 for a, b in pairs]
    assert np.mean(shared) > 0.5   # two unrelated layouts share about 0.04


def test_make_checkpoint_writes_the_card_and_the_header_seed(tmp_path, monkeypatch):
    import json

    from lab_app.topics.representation import make_checkpoint

    path, trained = make_checkpoint.make(tmp_path / "rep.safetensors", seed=3, steps=20, batch_size=64,
                                         probe_every=20, width=4, limit=300, projection="PCA")
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["command"] == f"{make_checkpoint.COMMAND} --seed 3 --steps 20" and card["seed"] == 3
    assert card["metrics"] == trained.scores and card["config"]["steps"] == 20
    monkeypatch.setattr(shipped, "CHECKPOINT", path)
    assert shipped.shipped_seed() == 3
    path.write_bytes(b"not a checkpoint")
    assert shipped.shipped_seed() is None    # an unreadable file: the tab trains instead


@pytest.mark.skipif(not shipped.CHECKPOINT.exists(),
                    reason="no shipped encoder (python -m lab_app.topics.representation.make_checkpoint)")
def test_the_shipped_encoder_gives_the_probe_scores_its_header_states():
    loaded = shipped.load_shipped()
    data = loaded.data
    scores = task.probe_scores(loaded.trained.encoder, data, torch.from_numpy(data.x_train),
                               torch.from_numpy(data.x_test))
    stated = loaded.trained.scores
    assert scores["linear"] == pytest.approx(stated["encoder"]["linear"], abs=1e-9)
    assert scores["knn"] == pytest.approx(stated["encoder"]["knn"], abs=1e-9)
    assert stated["encoder"]["linear"] > stated["raw pixels"]["linear"]   # worth opening the tab on
