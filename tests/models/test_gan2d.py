"""2D GAN: the energy distance, mode counting, and training on a single Gaussian target."""

import torch

from models.gan2d import Discriminator, GANConfig, Generator, discriminator_loss, energy_distance, generator_loss, modes_covered


def test_energy_distance_is_zero_for_equal_samples_and_grows_with_shift():
    torch.manual_seed(0)
    x = torch.randn(400, 2)
    assert abs(energy_distance(x, x)) < 1e-9
    near, far = energy_distance(x, torch.randn(400, 2) + 0.5), energy_distance(x, torch.randn(400, 2) + 3.0)
    assert 0 < near < far


def test_modes_covered_counts_modes_with_enough_samples():
    centres = torch.tensor([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]])
    samples = torch.cat([torch.zeros(50, 2), torch.tensor([[5.0, 0.0]]).repeat(50, 1), torch.tensor([[0.0, 5.1]])])
    count, hits = modes_covered(samples, centres, sigma=0.1)
    assert count == 2 and hits == [50, 50, 1]


def test_gan_on_a_single_gaussian_reduces_the_sample_distance():
    torch.manual_seed(0)
    cfg = GANConfig(latent_dim=2, hidden=32, layers=2)
    g, d = Generator(cfg), Discriminator(cfg)
    target = lambda n: torch.randn(n, 2) * 0.3 + torch.tensor([2.0, -1.0])  # noqa: E731
    ref, z = target(512), torch.randn(512, 2)
    before = energy_distance(g(z), ref)
    opt_g = torch.optim.Adam(g.parameters(), 2e-3, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(d.parameters(), 2e-3, betas=(0.5, 0.9))
    for _ in range(300):
        loss_d = discriminator_loss(d, target(128), g(torch.randn(128, 2)).detach(), r1_gamma=0.1)
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = generator_loss(d, g(torch.randn(128, 2)))
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
    after = energy_distance(g(z), ref)
    assert after < 0.25 * before
    assert torch.allclose(g(z).mean(0), torch.tensor([2.0, -1.0]), atol=0.3)
