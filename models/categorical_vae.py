"""A VAE whose latent is N categorical variables of K classes, trained with Gumbel-Softmax, and the
same model with a Gaussian latent for comparison.

Encoder q(z|x): an MLP maps the flattened image x (D,) to logits (N, K) (categorical) or to mean and
log-variance (N,) each (Gaussian). Decoder p(x|z): an MLP maps z (N*K one-hots, or N reals) to
Bernoulli logits (D,). Both maximise the evidence lower bound

    ELBO(x) = E_{q(z|x)}[ log p(x|z) ] - KL( q(z|x) || p(z) )   <=   log p(x)

Categorical: prior p(z) uniform over K per variable, KL = sum_n sum_k q_nk log(K q_nk). Training
samples z with Gumbel-Softmax at temperature tau, annealed tau_t = max(tau_min, tau_0 exp(-r t))
(Jang et al. 2017): large tau early gives low-variance gradients, small tau later makes the relaxed
samples nearly one-hot, like the discrete latent the model is evaluated with (hard Gumbel-max samples,
so the reported ELBO is a true bound of the discrete model). Gaussian: prior N(0, I),
KL = 1/2 sum (mu^2 + sigma^2 - 1 - log sigma^2), z = mu + sigma * eps (pathwise).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class VAEConfig:
    input_dim: int = 64  # D: pixels of a flattened image
    latent_vars: int = 20  # N: categorical variables (Gaussian: latent dimensions)
    classes: int = 10  # K: classes per categorical variable
    hidden: int = 256
    tau_start: float = 1.0
    tau_min: float = 0.5
    anneal_rate: float = 3e-4  # r, per training step


def temperature(step: int, cfg: VAEConfig) -> float:
    """tau_t = max(tau_min, tau_0 * exp(-r t))."""
    return max(cfg.tau_min, cfg.tau_start * math.exp(-cfg.anneal_rate * step))


def _noise(draw, like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """``draw(shape, generator=, device=, dtype=)`` shaped like ``like``, drawn where ``generator``
    lives (torch's default one on ``like``'s device when None) and moved to ``like``'s device: a task's
    CPU generator gives a model on the GPU the same noise as on the CPU, and no other thread's draws."""
    device = generator.device if generator is not None else like.device
    return draw(like.shape, generator=generator, device=device, dtype=like.dtype).to(like.device)


def gumbel(logits: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """G ~ Gumbel(0, 1), one per logit: -log(-log U), U ~ Uniform(0, 1)."""
    u = _noise(torch.rand, logits, generator).clamp_(1e-10, 1.0 - 1e-7)
    return -torch.log(-torch.log(u))


def sample_gumbel_softmax(logits: torch.Tensor, tau: float, hard: bool = False,
                          generator: torch.Generator | None = None) -> torch.Tensor:
    """softmax((logits + G) / tau) over the last axis, G ~ Gumbel(0, 1). ``hard``: the one-hot of the
    argmax (an exact Gumbel-max sample) in the forward pass, the soft sample's gradient backward."""
    y = F.softmax((logits + gumbel(logits, generator)) / tau, dim=-1)
    if not hard:
        return y
    one_hot = F.one_hot(y.argmax(-1), logits.shape[-1]).to(y.dtype)
    return one_hot + y - y.detach()


def _mlp(inp: int, hidden: int, out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(inp, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, out)
    )


class CategoricalVAE(nn.Module):
    """x (B, D) in [0, 1] -> q logits (B, N, K) -> z (B, N, K) -> Bernoulli logits (B, D)."""

    kind = "categorical"

    def __init__(self, cfg: VAEConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = _mlp(cfg.input_dim, cfg.hidden, cfg.latent_vars * cfg.classes)
        self.decoder = _mlp(cfg.latent_vars * cfg.classes, cfg.hidden, cfg.input_dim)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x).view(-1, self.cfg.latent_vars, self.cfg.classes)  # (B, N, K)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z.flatten(1))  # (B, D) logits

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """Pixel probabilities (B, D) for integer codes (B, N) with entries in [0, K)."""
        return torch.sigmoid(self.decode(F.one_hot(codes, self.cfg.classes).float()))

    def prior_codes(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randint(0, self.cfg.classes, (n, self.cfg.latent_vars), generator=generator)

    def kl(self, logits: torch.Tensor) -> torch.Tensor:
        """KL(q || uniform) per image: sum_n sum_k q log(K q), (B,)."""
        log_q = F.log_softmax(logits, -1)
        return (log_q.exp() * (log_q + math.log(self.cfg.classes))).sum((-1, -2))

    def elbo(self, x: torch.Tensor, tau: float | None = None,
             generator: torch.Generator | None = None) -> torch.Tensor:
        """Per-image ELBO (B,). tau given: relaxed Gumbel-Softmax sample (training); tau None: hard
        Gumbel-max sample (evaluation, a true bound of the discrete model). ``generator``: where the
        noise comes from (see ``_noise``)."""
        logits = self.encode(x)
        if tau is None:
            k = (logits + gumbel(logits, generator)).argmax(-1)   # Gumbel-max: an exact sample of q
            z = F.one_hot(k, self.cfg.classes).float()
        else:
            z = sample_gumbel_softmax(logits, tau, generator=generator)
        return -F.binary_cross_entropy_with_logits(self.decode(z), x, reduction="none").sum(-1) - self.kl(
            logits
        )


class GaussianVAE(nn.Module):
    """x (B, D) -> (mu, log var) (B, N) each -> z = mu + sigma * eps (B, N) -> Bernoulli logits (B, D)."""

    kind = "gaussian"

    def __init__(self, cfg: VAEConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = _mlp(cfg.input_dim, cfg.hidden, 2 * cfg.latent_vars)
        self.decoder = _mlp(cfg.latent_vars, cfg.hidden, cfg.input_dim)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def elbo(self, x: torch.Tensor, tau: float | None = None,
             generator: torch.Generator | None = None) -> torch.Tensor:
        """Per-image ELBO (B,) with one reparameterised sample (tau is ignored)."""
        mu, log_var = self.encoder(x).chunk(2, dim=-1)  # (B, N) each
        z = mu + torch.exp(0.5 * log_var) * _noise(torch.randn, mu, generator)
        kl = 0.5 * (mu**2 + log_var.exp() - 1.0 - log_var).sum(-1)
        return -F.binary_cross_entropy_with_logits(self.decode(z), x, reduction="none").sum(-1) - kl


def vae_loss(model: nn.Module, x: torch.Tensor, tau: float | None,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """The training loss: the negative ELBO averaged over the batch (nats per image)."""
    return -model.elbo(x, tau, generator).mean()


@torch.no_grad()
def evaluate_elbo(model: nn.Module, x: torch.Tensor, batch: int = 1000,
                  generator: torch.Generator | None = None) -> float:
    """Mean ELBO (nats per image) on x (B, D), hard samples for the categorical model."""
    model.eval()
    total = sum(float(model.elbo(x[i : i + batch], None, generator).sum()) for i in range(0, len(x), batch))
    model.train()
    return total / max(1, len(x))
