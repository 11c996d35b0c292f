"""VAE pieces: reparameterised samples, the analytic KL against Monte Carlo, the IW bound, training."""

import math

import torch

from models.vae import VAE, VAEConfig, active_units, elbo, gaussian_kl, iw_log_likelihood, log_normal, reparameterise, vae_loss


def test_reparameterised_samples_have_the_posterior_mean_and_variance():
    torch.manual_seed(0)
    mu = torch.tensor([[1.5, -2.0, 0.0]]).expand(200_000, 3)
    logvar = torch.tensor([[0.0, math.log(0.25), math.log(4.0)]]).expand(200_000, 3)
    z = reparameterise(mu, logvar)
    assert torch.allclose(z.mean(0), torch.tensor([1.5, -2.0, 0.0]), atol=0.02)
    assert torch.allclose(z.var(0), torch.tensor([1.0, 0.25, 4.0]), rtol=0.02)


def test_reparameterisation_passes_gradients_to_mu_and_sigma():
    mu = torch.zeros(4, 2, requires_grad=True)
    logvar = torch.zeros(4, 2, requires_grad=True)
    reparameterise(mu, logvar, torch.ones(4, 2)).sum().backward()
    assert torch.allclose(mu.grad, torch.ones(4, 2)) and torch.allclose(logvar.grad, 0.5 * torch.ones(4, 2))


def test_analytic_kl_matches_monte_carlo():
    torch.manual_seed(1)
    mu, logvar = torch.tensor([[0.7, -1.2]]), torch.tensor([[math.log(0.3), math.log(2.0)]])
    z = reparameterise(mu.expand(400_000, 2), logvar.expand(400_000, 2))
    mc = (log_normal(z, mu, logvar) - log_normal(z, torch.zeros_like(z), torch.zeros_like(z))).mean()
    analytic = gaussian_kl(mu, logvar).sum()
    assert abs(float(mc) - float(analytic)) < 0.01
    assert float(gaussian_kl(torch.zeros(1, 3), torch.zeros(1, 3)).sum()) == 0.0


def test_training_raises_the_elbo_and_the_iw_bound_is_tighter():
    torch.manual_seed(0)
    protos = (torch.rand(4, 64) > 0.5).float()
    x = protos[torch.randint(0, 4, (512,))]
    model = VAE(VAEConfig(input_dim=64, latent_dim=2, hidden=(32, 16)))
    before = elbo(model, x)["elbo"]
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(300):
        loss, terms = vae_loss(model, x[torch.randint(0, 512, (64,))])
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = elbo(model, x)
    assert after["elbo"] > before + 20
    assert terms["loss"] > 0 and terms["elbo"] < 0
    iw = iw_log_likelihood(model, x[:64], k=200, generator=torch.Generator().manual_seed(0)).mean()
    e = elbo(model, x[:64])["elbo"]
    assert float(iw) >= e - 0.5  # log p(x) >= IW bound >= ELBO (up to sampling noise)
    count, activity = active_units(model, x)
    assert count >= 1 and activity.shape == (2,)


def test_gaussian_likelihood_is_the_normal_log_density():
    model = VAE(VAEConfig(input_dim=2, latent_dim=1, hidden=(8,), likelihood="gaussian"))
    x, mean = torch.tensor([[1.0, 2.0]]), torch.tensor([[0.5, 2.5]])
    expected = log_normal(x, mean, model.out_logvar.detach().expand(1, 2))
    assert torch.allclose(model.log_px_given_z(x, mean), expected)


def test_a_tasks_own_generator_makes_the_loss_independent_of_other_threads_draws():
    torch.manual_seed(0)
    model = VAE(VAEConfig(input_dim=4, latent_dim=2, hidden=(8,), likelihood="gaussian"))
    x = torch.rand(16, 4)
    a, _ = vae_loss(model, x, generator=torch.Generator().manual_seed(5))
    torch.randn(1000)                                   # someone else draws from the global generator
    b, _ = vae_loss(model, x, generator=torch.Generator().manual_seed(5))
    c, _ = vae_loss(model, x, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)
