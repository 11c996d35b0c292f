"""Variational autoencoder (Kingma & Welling, 2014) with MLP encoder and decoder.

Generative model: z ~ p(z) = N(0, I), x ~ p_theta(x | z) with decoder g_theta(z).
Inference model: q_phi(z | x) = N(mu_phi(x), diag(sigma_phi^2(x))); the encoder outputs mu and
log sigma^2 (the log keeps the variance positive without a constraint).

Reparameterisation: z = mu + sigma * eps, eps ~ N(0, I), so the sample is a differentiable
function of (mu, sigma) and gradients flow through it.

Loss (negative ELBO, per example, in nats):
    L(x) = E_q[-log p_theta(x | z)]  +  beta * KL(q_phi(z | x) || N(0, I))
           reconstruction               regulariser (analytic for two Gaussians)
    KL = 1/2 sum_j ( mu_j^2 + sigma_j^2 - log sigma_j^2 - 1 ).
beta = 1 gives the ELBO, a lower bound on log p(x); beta > 1 trades reconstruction for a latent
closer to the prior (beta-VAE).

Likelihoods: "bernoulli" for images in [0, 1] (binary cross-entropy against the decoder's logits,
the usual choice for MNIST even when the pixels are grey), "gaussian" for real-valued data such as
2D points, with one learned log-variance per output dimension.

The importance-weighted estimate (Burda et al., 2016) tightens the bound with k posterior samples:
    log p(x) ~= log 1/k sum_i p(x | z_i) p(z_i) / q(z_i | x),  z_i ~ q(z | x),
which approaches log p(x) as k grows (k = 1 is the ELBO).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

LOG_2PI = math.log(2 * math.pi)


@dataclass(frozen=True)
class VAEConfig:
    input_dim: int = 784
    latent_dim: int = 2
    hidden: tuple[int, ...] = (256, 128)  # encoder widths; the decoder mirrors them
    likelihood: str = "bernoulli"        # "bernoulli" | "gaussian"
    activation: str = "relu"             # "relu" | "tanh" (tanh draws smoother 2D maps)


def _mlp(sizes: list[int], activation: str) -> nn.Sequential:
    act = nn.ReLU if activation == "relu" else nn.Tanh
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), act()]
    return nn.Sequential(*layers[:-1])  # no activation after the last layer


class VAE(nn.Module):
    def __init__(self, cfg: VAEConfig):
        super().__init__()
        self.cfg = cfg
        hidden = list(cfg.hidden)
        self.encoder = _mlp([cfg.input_dim, *hidden], cfg.activation)
        self.enc_act = nn.ReLU() if cfg.activation == "relu" else nn.Tanh()
        self.to_mu = nn.Linear(hidden[-1], cfg.latent_dim)
        self.to_logvar = nn.Linear(hidden[-1], cfg.latent_dim)
        self.decoder = _mlp([cfg.latent_dim, *hidden[::-1], cfg.input_dim], cfg.activation)
        # log sigma^2 of p(x | z) for the Gaussian likelihood (unused for Bernoulli)
        self.out_logvar = nn.Parameter(torch.full((cfg.input_dim,), -2.0))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, D) -> mu (B, J), log sigma^2 (B, J)."""
        h = self.enc_act(self.encoder(x))
        return self.to_mu(h), self.to_logvar(h).clamp(-12.0, 8.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, J) -> decoder output (B, D): logits (Bernoulli) or the mean (Gaussian)."""
        return self.decoder(z)

    def mean(self, z: torch.Tensor) -> torch.Tensor:
        """E[x | z]: what to draw (pixel intensities in [0, 1], or 2D points)."""
        out = self.decode(z)
        return torch.sigmoid(out) if self.cfg.likelihood == "bernoulli" else out

    def log_px_given_z(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """log p(x | z) summed over dimensions: (..., D) -> (...)."""
        if self.cfg.likelihood == "bernoulli":
            return -F.binary_cross_entropy_with_logits(out, x.expand_as(out), reduction="none").sum(-1)
        lv = self.out_logvar
        return -0.5 * (((x - out) ** 2) * torch.exp(-lv) + lv + LOG_2PI).sum(-1)

    def forward(self, x: torch.Tensor, eps: torch.Tensor | None = None):
        mu, logvar = self.encode(x)
        z = reparameterise(mu, logvar, eps)
        return self.decode(z), mu, logvar


def reparameterise(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor | None = None) -> torch.Tensor:
    """z = mu + exp(log sigma^2 / 2) * eps, eps ~ N(0, I)."""
    if eps is None:
        eps = torch.randn_like(mu)
    return mu + torch.exp(0.5 * logvar) * eps


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag sigma^2) || N(0, I)) per latent dimension: (B, J) -> (B, J)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1.0)


def vae_loss(model: VAE, x: torch.Tensor, beta: float = 1.0, generator: torch.Generator | None = None
             ) -> tuple[torch.Tensor, dict[str, float]]:
    """Mean over the batch of reconstruction + beta * KL; also the ELBO's terms (nats per example).

    ``generator``: where eps comes from. A task in a parallel runner passes its own: torch's default
    generator is process-wide, and draws from it in one thread change another task's run."""
    eps = None
    if generator is not None:   # drawn where the generator lives (a CPU one for a CUDA model too)
        eps = torch.randn(len(x), model.cfg.latent_dim, generator=generator, dtype=x.dtype,
                          device=generator.device).to(x.device)
    out, mu, logvar = model(x, eps)
    if model.cfg.likelihood == "bernoulli":  # the same sum as log_px_given_z, one fused kernel
        recon = F.binary_cross_entropy_with_logits(out, x, reduction="sum") / len(x)
    else:
        recon = -model.log_px_given_z(x, out).mean()
    kl = gaussian_kl(mu, logvar).sum() / len(x)
    loss = recon + beta * kl
    values = torch.stack([loss, recon, kl]).detach().tolist()  # one copy out, not three
    return loss, {"loss": values[0], "recon": values[1], "kl": values[2], "elbo": -(values[1] + values[2])}


def log_normal(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag exp(logvar)) summed over the last dimension."""
    return -0.5 * (((z - mu) ** 2) * torch.exp(-logvar) + logvar + LOG_2PI).sum(-1)


@torch.no_grad()
def iw_log_likelihood(model: VAE, x: torch.Tensor, k: int = 100, batch: int = 100,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """Importance-weighted estimate of log p(x) for each row of x (N, D) -> (N,), with k samples."""
    out = []
    for xb in x.split(batch):
        mu, logvar = model.encode(xb)                                      # (B, J)
        eps = torch.randn((k, *mu.shape), generator=generator, dtype=mu.dtype,   # where the generator lives
                          device=generator.device if generator is not None else mu.device).to(mu.device)
        z = mu + torch.exp(0.5 * logvar) * eps                             # (k, B, J)
        log_w = (model.log_px_given_z(xb, model.decode(z))                  # log p(x|z)  (k, B)
                 + log_normal(z, torch.zeros_like(z), torch.zeros_like(z))  # + log p(z)
                 - log_normal(z, mu, logvar))                               # - log q(z|x)
        out.append(torch.logsumexp(log_w, 0) - math.log(k))
    return torch.cat(out)


@torch.no_grad()
def elbo(model: VAE, x: torch.Tensor, batch: int = 1000) -> dict[str, float]:
    """Mean ELBO terms over x with one posterior sample per example."""
    n, totals = len(x), {"recon": 0.0, "kl": 0.0}
    for xb in x.split(batch):
        out, mu, logvar = model(xb)
        totals["recon"] += float(-model.log_px_given_z(xb, out).sum())
        totals["kl"] += float(gaussian_kl(mu, logvar).sum())
    recon, kl = totals["recon"] / n, totals["kl"] / n
    return {"elbo": -(recon + kl), "recon": recon, "kl": kl}


@torch.no_grad()
def active_units(model: VAE, x: torch.Tensor, threshold: float = 0.01) -> tuple[int, torch.Tensor]:
    """Burda et al.'s activity A_j = Cov_x(E_q[z_j | x]); unit j is active if A_j > threshold.
    A collapsed unit has q(z_j | x) = p(z_j) for every x: its mean does not depend on x."""
    mu = torch.cat([model.encode(xb)[0] for xb in x.split(1000)])
    activity = mu.var(0)
    return int((activity > threshold).sum()), activity
