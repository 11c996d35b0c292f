"""A generative adversarial network for 2D points (Goodfellow et al., 2014), and a sample distance.

Generator g: z ~ N(0, I_J) -> x = g(z) in R^2 (an MLP). Discriminator D: R^2 -> logit; D's
probability sigma(D(x)) says "x is real".

Losses (the non-saturating form), with BCE(l, y) = -[y log sigma(l) + (1 - y) log(1 - sigma(l))]:
    L_D = E_x BCE(D(x), 1) + E_z BCE(D(g(z)), 0)  (+ gamma/2 E_x ||grad_x D(x)||^2, the R1 penalty)
    L_G = E_z BCE(D(g(z)), 1)                     (= -E log sigma(D(g(z))): strong gradients early)
The R1 penalty (Mescheder et al., 2018) keeps D smooth on the data and is what makes the
8-Gaussian ring converge to all modes instead of cycling between them.

Sample distance: the energy distance (Szekely & Rizzo), a metric between distributions that only
needs samples:  E(P, Q) = 2 E||x - y|| - E||x - x'|| - E||y - y'||,  x, x' ~ P, y, y' ~ Q;
it is zero iff P = Q.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class GANConfig:
    latent_dim: int = 2
    hidden: int = 128
    layers: int = 3


def _mlp(d_in: int, d_out: int, hidden: int, layers: int, act) -> nn.Sequential:
    mods: list[nn.Module] = []
    d = d_in
    for _ in range(layers):
        mods += [nn.Linear(d, hidden), act()]
        d = hidden
    return nn.Sequential(*mods, nn.Linear(d, d_out))


class Generator(nn.Module):
    def __init__(self, cfg: GANConfig):
        super().__init__()
        self.cfg = cfg
        self.net = _mlp(cfg.latent_dim, 2, cfg.hidden, cfg.layers, nn.ReLU)

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # (B, J) -> (B, 2)
        return self.net(z)


class Discriminator(nn.Module):
    def __init__(self, cfg: GANConfig):
        super().__init__()
        self.net = _mlp(2, 1, cfg.hidden, cfg.layers, lambda: nn.LeakyReLU(0.2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 2) -> (B,) logits
        return self.net(x).squeeze(-1)


def discriminator_loss(d: Discriminator, real: torch.Tensor, fake: torch.Tensor, r1_gamma: float = 0.0
                       ) -> torch.Tensor:
    """L_D on a batch of real (B, 2) and generated (B, 2) points; fake is detached by the caller."""
    if r1_gamma > 0:
        real = real.detach().requires_grad_(True)
    logit_real, logit_fake = d(real), d(fake)
    loss = (F.binary_cross_entropy_with_logits(logit_real, torch.ones_like(logit_real))
            + F.binary_cross_entropy_with_logits(logit_fake, torch.zeros_like(logit_fake)))
    if r1_gamma > 0:
        (grad,) = torch.autograd.grad(logit_real.sum(), real, create_graph=True)
        loss = loss + 0.5 * r1_gamma * grad.pow(2).sum(1).mean()
    return loss


def generator_loss(d: Discriminator, fake: torch.Tensor) -> torch.Tensor:
    """Non-saturating L_G = -E log sigma(D(g(z)))."""
    logit = d(fake)
    return F.binary_cross_entropy_with_logits(logit, torch.ones_like(logit))


def energy_distance(x: torch.Tensor, y: torch.Tensor) -> float:
    """E(P, Q) from samples x (N, d) ~ P and y (M, d) ~ Q (V-statistic, >= 0)."""
    x, y = x.detach().double(), y.detach().double()
    xy = torch.cdist(x, y).mean()
    xx = torch.cdist(x, x).mean()
    yy = torch.cdist(y, y).mean()
    return float(2 * xy - xx - yy)


def modes_covered(samples, centres, sigma: float, min_fraction: float = 0.25) -> tuple[int, list[int]]:
    """How many modes get at least min_fraction of their fair share (N / modes) of the samples
    within 3 sigma of their centre. samples (N, 2), centres (K, 2). Returns (count, per-mode hits)."""
    s, c = torch.as_tensor(samples, dtype=torch.float64), torch.as_tensor(centres, dtype=torch.float64)
    near = torch.cdist(s, c) < 3 * sigma                     # (N, K)
    hits = near.sum(0)
    needed = min_fraction * len(s) / len(c)
    return int((hits >= needed).sum()), [int(h) for h in hits]
