"""CPC and patch-position runs of the contrastive tab (no Qt): a short CPC run picks the next row's
patch better than chance, the example shows the true patch where it was cut, the pretext task
beats chance, probes cover every baseline, and the seed decides the run."""

import math

import numpy as np
import pytest
import torch

from lab_app.core.control import Control
from lab_app.core.events import Progress, drain
from lab_app.data.datasets import load_dataset
from lab_app.topics.representation import cpc_task as ct
from models.cpc import NEIGHBOURS

TINY = dict(width=4, embed_dim=16, context_dim=16, images_per_batch=8, negatives=15, steps_ahead=2,
            report_every=5, example_seconds=1e9, compare_simclr=False)


@pytest.fixture(autouse=True)
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def digits28():
    return load_dataset("mnist5k", seed=0, limit=300)


def test_short_cpc_run_predicts_the_next_row_better_than_chance(digits28):
    cfg = ct.CpcConfig(steps=40, **TINY)
    events, result = drain(ct.train(cfg, {}, Control(), data=digits28))
    n = cfg.negatives + 1
    stats = [e for e in events if isinstance(e, ct.CpcStats)]
    assert len(stats) == 8 and all(s.pick_accuracy.shape == (2,) for s in stats)
    assert all(s.log_n == pytest.approx(math.log(n)) and np.all(s.bound <= math.log(n) + 1e-5) for s in stats)
    # Held-out pick accuracy one row ahead over 60 test images x 30 queries, N = 16 candidates (ties
    # count as 1/tied): chance is 1/16; ask for 5 binomial standard deviations above it.
    queries = len(digits28.x_test) * 5 * 6
    assert result.pick_accuracy[0] > 1 / n + 5 * math.sqrt((1 / n) * (1 - 1 / n) / queries)
    assert result.bound[0] > 0.1 and result.log_n == pytest.approx(math.log(n))
    losses = [e.metrics["loss"] for e in events if isinstance(e, Progress)]
    assert np.mean(losses[-2:]) < losses[0]

    ex = [e for e in events if isinstance(e, ct.CpcExample)][-1]
    assert ex.n == n and ex.k == 1 and ex.where[0, 0] == 0  # the true patch comes from the shown image
    top, left = (ex.row + ex.k) * ex.stride, ex.col * ex.stride
    assert (ex.where[0, 1], ex.where[0, 2]) == (ex.row + ex.k, ex.col)
    assert np.array_equal(ex.candidates[0], ex.image[:, top : top + ex.patch, left : left + ex.patch])
    assert ex.picked in (0, 1) and ex.scores[ex.picked] == ex.scores.max()
    assert np.all(np.diff(ex.scores[1:]) <= 0)  # negatives shown from the best-scoring down

    assert set(result.scores) == {"raw pixels", "random encoder", "encoder"}
    assert result.train_features.shape == (len(digits28.x_train), 4 * 16)


def test_live_show_k_picks_the_step_drawn(digits28):
    cfg = ct.CpcConfig(steps=5, probes=False, **TINY)
    events, _ = drain(ct.train(cfg, {"show_k": 2}, Control(), data=digits28))
    ex = [e for e in events if isinstance(e, ct.CpcExample)][-1]
    assert ex.k == 2 and (ex.where[0, 1], ex.where[0, 2]) == (ex.row + 2, ex.col)


def test_patch_position_beats_chance_and_shows_pairs(digits28):
    cfg = ct.CpcConfig(objective="patch position", steps=100, lr=5e-3,
                       **{**TINY, "images_per_batch": 32, "width": 8})
    events, result = drain(ct.train(cfg, {}, Control(), data=digits28))
    stats = [e for e in events if isinstance(e, ct.PretextStats)]
    assert stats and stats[-1].chance == pytest.approx(1 / 8)
    # 60 test images x 8 neighbours; 8 classes, so chance is 0.125 (standard deviation about 0.015).
    assert result.pick_accuracy[0] > 0.2
    ex = [e for e in events if isinstance(e, ct.PretextExample)][-1]
    assert list(ex.labels) == list(range(8)) and ex.probs.shape == (8, 8)
    assert np.array_equal(ex.predicted, ex.probs.argmax(1)) and len(NEIGHBOURS) == 8


def test_probes_include_simclr_when_asked(digits28):
    cfg = ct.CpcConfig(steps=3, simclr_seconds=0.5, **{**TINY, "compare_simclr": True})
    events, result = drain(ct.train(cfg, {}, Control(), data=digits28))
    assert set(result.scores) == {"raw pixels", "random encoder", "encoder", "SimCLR encoder"}
    assert all(0 <= v <= 1 for s in result.scores.values() for v in s.values())
    assert any("SimCLR loss" in e.metrics for e in events if isinstance(e, Progress))
    probes = [e for e in events if isinstance(e, ct.CpcProbeScores)]
    assert probes[-1].scores == result.scores


def test_seed_decides_the_run(digits28):
    def first_losses(seed):
        cfg = ct.CpcConfig(steps=4, seed=seed, probes=False, **{**TINY, "report_every": 1})
        events, _ = drain(ct.train(cfg, {}, Control(), data=digits28))
        return [e.metrics["loss"] for e in events if isinstance(e, Progress)]

    a, b, c = first_losses(1), first_losses(1), first_losses(2)
    assert a == b and a != c


def test_a_grid_too_small_for_k_is_refused_with_sizes():
    data = load_dataset("digits", seed=0, limit=50)
    with pytest.raises(ValueError, match="8 px images give a grid of 2 patch rows"):
        drain(ct.train(ct.CpcConfig(steps=1, patch=4, stride=4, **{**TINY, "steps_ahead": 2}), {}, Control(),
                       data=data))
