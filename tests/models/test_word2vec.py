"""Skip-gram with negative sampling: pairs, sub-sampling, loss, and that co-occurring words end up close."""

import numpy as np
import pytest
import torch

from models.word2vec import (
    SkipGram,
    SkipGramConfig,
    SkipGramTrainer,
    analogy,
    cosine_neighbours,
    keep_probability,
    pca_2d,
    skipgram_pairs,
)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The app's policy on small machines (lab_app.core.device): two threads here were 10x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_pairs_stay_inside_sentences():
    pairs = skipgram_pairs([np.array([1, 2, 3]), np.array([4, 5])], window=1)
    assert sorted(map(tuple, pairs.tolist())) == sorted([(1, 2), (2, 1), (2, 3), (3, 2), (4, 5), (5, 4)])
    assert len(skipgram_pairs([np.array([1, 2, 3, 4])], window=2)) == 2 * (3 + 2)
    assert skipgram_pairs([], 2).shape == (0, 2) and skipgram_pairs([np.array([7])], 2).shape == (0, 2)


def test_subsampling_keeps_rare_words():
    keep = keep_probability(np.array([990.0, 10.0]), t=1e-2)
    assert keep[1] == 1.0 and keep[0] == pytest.approx(np.sqrt(1e-2 / 0.99))
    assert (keep_probability(np.array([5.0, 1.0]), 0) == 1).all()


def test_untrained_loss_is_k_plus_one_log_two():
    model = SkipGram(10, 8)  # output vectors start at zero: every score is 0, sigma = 1/2
    loss = model(torch.tensor([1, 2]), torch.tensor([3, 4]), torch.tensor([[5, 6, 7], [8, 9, 0]]))
    assert loss.item() == pytest.approx(4 * np.log(2), rel=1e-6)


def test_cooccurring_words_end_up_closer_than_random_pairs():
    # Two "topics": sentences mix words 0..9 only, or words 10..19 only. Words of one topic
    # co-occur, words of different topics never do.
    rng = np.random.default_rng(0)
    sentences = [rng.integers(0, 10, 8) + 10 * (i % 2) for i in range(600)]
    trainer = SkipGramTrainer(sentences, 20, SkipGramConfig(dim=16, window=3, negatives=5, batch_size=512,
                                                            lr=0.02, subsample=0.0))
    first = trainer.step()
    for _ in range(250):
        last = trainer.step()
    assert last < first
    v = trainer.model.embeddings()
    unit = v / np.linalg.norm(v, axis=1, keepdims=True)
    sims = unit @ unit.T
    same = np.add.outer(np.arange(20) // 10, np.zeros(20)) == np.add.outer(np.zeros(20), np.arange(20) // 10)
    off_diag = ~np.eye(20, dtype=bool)
    assert sims[same & off_diag].mean() > sims[~same].mean() + 0.3
    top, _ = cosine_neighbours(v, v[3], k=5, exclude=(3,))
    assert (top < 10).all()  # a topic-A word's neighbours are topic-A words


def test_analogy_and_pca_on_known_vectors():
    # king - man + woman = queen, in a space built to have it
    vecs = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1], [0, 1, 1], [5, -5, 0]], np.float64)  # man king woman queen other
    top, sims = analogy(vecs, 0, 1, 2, k=2)
    assert top[0] == 3 and sims[0] > 0.9
    pts = np.random.default_rng(0).normal(size=(200, 5)) * [10, 3, 0.1, 0.1, 0.1]
    xy = pca_2d(pts)
    assert xy.shape == (200, 2) and np.var(xy[:, 0]) > np.var(xy[:, 1]) > 1.0
    assert np.allclose(np.abs(np.corrcoef(xy[:, 0], pts[:, 0])[0, 1]), 1.0, atol=1e-3)
