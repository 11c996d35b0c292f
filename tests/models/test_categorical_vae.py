"""Categorical and Gaussian VAEs: shapes, the KL term, annealing, and both learn on digits."""

import math

import pytest
import torch

from lab_app.data.datasets import load_dataset
from models.categorical_vae import (
    CategoricalVAE,
    GaussianVAE,
    VAEConfig,
    evaluate_elbo,
    sample_gumbel_softmax,
    temperature,
    vae_loss,
)


def test_gumbel_softmax_samples_and_hard_straight_through():
    torch.manual_seed(0)
    logits = torch.randn(4, 3, 5, requires_grad=True)
    y = sample_gumbel_softmax(logits, 0.5)
    assert y.shape == (4, 3, 5) and torch.allclose(y.sum(-1), torch.ones(4, 3))
    hard = sample_gumbel_softmax(logits, 0.5, hard=True)
    assert torch.allclose(hard.detach().round(), hard.detach(), atol=1e-6)
    (hard * torch.arange(5.0)).sum().backward()
    assert logits.grad.abs().sum() > 0  # gradients flow through the soft sample


def test_kl_zero_for_uniform_posterior_and_temperature_anneals():
    cfg = VAEConfig(input_dim=8, latent_vars=3, classes=4, hidden=16)
    model = CategoricalVAE(cfg)
    assert torch.allclose(model.kl(torch.zeros(2, 3, 4)), torch.zeros(2), atol=1e-6)
    sharp = torch.tensor([[[10.0, 0, 0, 0]] * 3])
    assert model.kl(sharp).item() == pytest.approx(3 * math.log(4), rel=1e-2)  # q is 0.9999 one-hot
    taus = [temperature(t, cfg) for t in (0, 1000, 10**6)]
    assert taus[0] == cfg.tau_start and taus[0] > taus[1] > taus[2] == cfg.tau_min


@pytest.mark.parametrize("cls", [CategoricalVAE, GaussianVAE])
def test_vae_learns_digits(cls):
    torch.set_num_threads(1)  # the lab's policy on this 2-core machine (2 threads: up to 10x slower)
    torch.manual_seed(0)
    data = load_dataset("digits", seed=0)
    x = torch.from_numpy(data.x_train.reshape(len(data.x_train), -1))
    x_test = torch.from_numpy(data.x_test.reshape(len(data.x_test), -1))
    cfg = VAEConfig(input_dim=64, latent_vars=8, classes=10, hidden=64)
    model = cls(cfg)
    before = evaluate_elbo(model, x_test)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    for step in range(300):
        batch = x[torch.randint(0, len(x), (64,))]
        loss = vae_loss(model, batch, temperature(step, cfg))
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = evaluate_elbo(model, x_test)
    assert after > before + 5.0 and after < 0  # the ELBO is a log-likelihood bound of pixels in (0, 1)
    if cls is CategoricalVAE:
        pixels = model.decode_codes(model.prior_codes(5)).detach()
        assert pixels.shape == (5, 64) and float(pixels.min()) >= 0 and float(pixels.max()) <= 1
