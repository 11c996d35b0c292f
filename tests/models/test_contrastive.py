"""models/contrastive.py: losses against hand computations, bounds against known mutual information."""

import math

import pytest
import torch

from models.contrastive import (
    Encoder,
    EncoderConfig,
    alignment,
    augment,
    contrastive_loss,
    correlated_gaussians,
    gaussian_mi,
    info_nce_loss,
    info_nce_of_pairs,
    infonce_bound,
    nwj_bound,
    rho_for_mi,
    rotate_batch,
    siamese_pairs,
    uniformity,
)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Two intra-op threads on a 2-core machine are up to 10x slower (STACK-NOTES)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_contrastive_loss_matches_hand_computation():
    z1 = torch.tensor([[0.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    z2 = torch.tensor([[3.0, 4.0], [0.3, 0.4], [1.0, 1.0]])
    same = torch.tensor([1, 0, 0])
    # d = 5, 0.5, 0; m = 1: pair 1 matching -> 25; pair 2 negative -> (1 - 0.5)^2; pair 3 -> (1 - 0)^2
    expected = (25 + 0.25 + 1.0) / (2 * 3)
    assert contrastive_loss(z1, z2, same, margin=1.0).item() == pytest.approx(expected)
    # A negative pair beyond the margin costs nothing.
    assert contrastive_loss(z1[:1], z2[:1], torch.tensor([0]), margin=2.0).item() == 0.0


def test_info_nce_with_identity_pairs_approaches_log_n():
    n = 64
    z = torch.eye(n) * 20  # every view identical to its partner, orthogonal to the rest
    bound = info_nce_of_pairs(z, z.clone(), temperature=0.05)
    assert bound.item() == pytest.approx(math.log(n), abs=1e-3)
    assert bound.item() <= math.log(n) + 1e-6
    # NT-Xent's cross-entropy vanishes for such pairs, and is log(2N - 1) when views are all the same.
    assert info_nce_loss(z, z.clone(), 0.05).item() < 1e-3
    same = torch.ones(n, 4)
    assert info_nce_loss(same, same, 0.5).item() == pytest.approx(math.log(2 * n - 1), rel=1e-4)


def test_gaussian_mi_round_trip():
    assert gaussian_mi(1, 0.0) == 0.0
    for mi in (0.5, 2.0, 8.0):
        assert gaussian_mi(20, rho_for_mi(mi, 20)) == pytest.approx(mi)


def _train_critics(true_mi, batch=64, steps=300, dim=4, seed=0):
    from lab_app.topics.representation.mi_task import MIEstimators

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    est = MIEstimators(dim, lr=2e-3, hidden=64)
    rho = rho_for_mi(true_mi, dim)
    for _ in range(steps):
        est.step(*correlated_gaussians(batch, dim, rho, gen))
    return est.evaluate(dim, rho, batch, 20, gen)


def test_infonce_tracks_small_mi_and_stays_below_log_n():
    nce, nwj = _train_critics(true_mi=0.5)
    assert nce == pytest.approx(0.5, abs=0.12)
    assert nwj == pytest.approx(0.5, abs=0.2)
    # True MI far above log N: the InfoNCE estimate saturates under log N, whatever the critic.
    batch = 16
    nce_high, _ = _train_critics(true_mi=6.0, batch=batch, steps=200)
    assert nce_high <= math.log(batch) + 1e-6
    assert nce_high > math.log(batch) - 1.0  # it does climb to the ceiling


def test_bounds_with_a_perfect_critic_on_a_diagonal_score_matrix():
    scores = torch.full((8, 8), -30.0).fill_diagonal_(30.0)
    assert infonce_bound(scores).item() == pytest.approx(math.log(8), abs=1e-6)
    # NWJ is unbounded: the same scores give E_p[T] - e^-1 E_q[e^T] = 30 - e^-31
    assert nwj_bound(scores).item() == pytest.approx(30.0, abs=1e-6)


def test_encoder_shapes_and_augmentation():
    cfg = EncoderConfig(channels=1, size=8, width=4, feature_dim=16, embed_dim=3)
    for kind in ("cnn", "mlp"):
        model = Encoder(EncoderConfig(**{**cfg.__dict__, "kind": kind}))
        x = torch.rand(5, 1, 8, 8)
        assert model(x).shape == (5, 3)
        assert model.features(x).shape == (5, 16)
    x = torch.rand(6, 1, 8, 8)
    gen = torch.Generator().manual_seed(0)
    view = augment(x, 1.0, gen)
    assert view.shape == x.shape and 0 <= view.min() and view.max() <= 1
    assert not torch.equal(view, x)
    assert torch.equal(augment(x, 0.0, gen), x)
    rotated, k = rotate_batch(x, gen)
    for i in range(6):
        assert torch.equal(rotated[i], torch.rot90(x[i], int(k[i]), dims=(1, 2)))
    partner, same = siamese_pairs(100, gen)
    assert torch.equal(same.bool(), partner == torch.arange(100)) and 20 < int(same.sum()) < 80


def test_alignment_and_uniformity():
    z = torch.randn(200, 8)
    assert alignment(z, z) == pytest.approx(0.0, abs=1e-6)
    collapsed = torch.ones(50, 8)
    assert uniformity(collapsed) == pytest.approx(0.0, abs=1e-5)  # log E exp(0): the worst value
    assert uniformity(z) < -2.0
