"""Contrastive representation learning and mutual-information estimation.

Method. An encoder f maps an image x to a feature h = f(x) (the *representation*, what probes read)
and a projection head g maps h to an embedding z = g(h) (what the objective sees). Three ways to
train f without class labels are implemented, each with its loss next to it:

1. Siamese pairs with the pairwise contrastive loss (Hadsell, Chopra & LeCun 2006):
       L = 1/(2N) * sum_i [ y_i d_i^2 + (1 - y_i) max(m - d_i, 0)^2 ],   d_i = ||z_i - z'_i||_2
   y_i = 1 for a matching pair (two views of one image), 0 otherwise; m is the margin.
2. InfoNCE / NT-Xent (SimCLR, Chen et al. 2020): two augmented views of N images give 2N embeddings;
   each one's positive is its partner, the other 2N - 2 are negatives:
       l_i = -log exp(s(z_i, z_j(i)) / tau) / sum_{k != i} exp(s(z_i, z_k) / tau),  s = cosine
3. A pretext task: rotate each image by k * 90 degrees and predict k (Gidaris et al. 2018).

Mutual information. For a critic T(x, y) and a batch of N pairs (x_i, y_i) ~ p(x, y), the scores
S_ij = T(x_i, y_j) give two lower bounds on I(X; Y) (Poole et al. 2019):
       I_NCE = mean_i [ S_ii - log( 1/N sum_j exp S_ij ) ]                 (<= log N)
       I_NWJ = mean_i S_ii - e^{-1} * mean_{i != j} exp S_ij
Correlated Gaussians (x, y in R^d, corr(x_k, y_k) = rho) have I = -d/2 log(1 - rho^2) in closed
form, so the estimators' bias and InfoNCE's log N ceiling can be seen against the truth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

# ----------------------------------------------------------------------------------------- encoders


@dataclass(frozen=True)
class EncoderConfig:
    channels: int = 1  # image channels
    size: int = 8  # image side (square images)
    kind: str = "cnn"  # "cnn" or "mlp"
    width: int = 32  # channels of the first conv layer (hidden units / 8 for the MLP)
    feature_dim: int = 128  # representation h
    embed_dim: int = 32  # embedding z (the projection head's output)


class Encoder(nn.Module):
    """x (B, C, S, S) -> h (B, feature_dim) -> z (B, embed_dim).

    The CNN is three 3x3 conv blocks (the last two with stride 2) and a global average pool; the
    MLP flattens the image. The projection head is a 2-layer MLP, as in SimCLR: the objective is
    applied to z, and h keeps information the objective would throw away (it probes better)."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        if cfg.kind == "cnn":
            self.backbone = nn.Sequential(
                nn.Conv2d(cfg.channels, w, 3, padding=1),
                nn.BatchNorm2d(w),
                nn.ReLU(),
                nn.Conv2d(w, 2 * w, 3, stride=2, padding=1),
                nn.BatchNorm2d(2 * w),
                nn.ReLU(),
                nn.Conv2d(2 * w, 4 * w, 3, stride=2, padding=1),
                nn.BatchNorm2d(4 * w),
                nn.ReLU(),
                nn.AdaptiveAvgPool2d(1),
                nn.Flatten(),  # (B, 4w)
                nn.Linear(4 * w, cfg.feature_dim),
                nn.BatchNorm1d(cfg.feature_dim),
                nn.ReLU(),
            )
        elif cfg.kind == "mlp":
            hidden = 8 * w
            self.backbone = nn.Sequential(
                nn.Flatten(),
                nn.Linear(cfg.channels * cfg.size * cfg.size, hidden),
                nn.BatchNorm1d(hidden),
                nn.ReLU(),
                nn.Linear(hidden, cfg.feature_dim),
                nn.BatchNorm1d(cfg.feature_dim),
                nn.ReLU(),
            )
        else:
            raise ValueError(f"unknown encoder kind {cfg.kind!r} (choose 'cnn' or 'mlp')")
        self.head = nn.Sequential(
            nn.Linear(cfg.feature_dim, cfg.feature_dim), nn.ReLU(), nn.Linear(cfg.feature_dim, cfg.embed_dim)
        )

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)  # (B, feature_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))  # (B, embed_dim)


# ------------------------------------------------------------------------------------ augmentations


def augment(x: torch.Tensor, strength: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """A random view of each image in the batch, all at once (no per-image Python loop).

    A random affine warp (shift up to 15% of the side, rotation up to 20 degrees, scale 1 +- 15%,
    all times ``strength``), then brightness/contrast jitter and Gaussian pixel noise. Digits are not
    flipped: a mirrored 2 is not a 2. x (B, C, S, S) in [0, 1] -> (B, C, S, S)."""
    b = x.shape[0]
    if strength <= 0:
        return x
    # Noise is drawn where the generator lives and then moved: a CPU generator gives a model on the
    # GPU the same views as one on the CPU (a run's seed means the same thing on every device).
    source = generator.device if generator is not None else x.device

    def uniform(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return (torch.rand(*shape, generator=generator, device=source) * (hi - lo) + lo).to(x.device)

    s = float(strength)
    angle = uniform(-1, 1, b) * math.radians(20) * s
    scale = 1 + uniform(-1, 1, b) * 0.15 * s
    shift = uniform(-1, 1, b, 2) * 0.3 * s  # in [-1, 1] grid units
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    )  # (B, 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, padding_mode="zeros", align_corners=False)
    contrast = 1 + uniform(-1, 1, b, 1, 1, 1) * 0.3 * s
    brightness = uniform(-1, 1, b, 1, 1, 1) * 0.1 * s
    noise = torch.randn(out.shape, generator=generator, device=source).to(x.device) * 0.08 * s
    return (out * contrast + brightness + noise).clamp(0, 1)


# --------------------------------------------------------------------------------------- objectives


def contrastive_loss(z1: torch.Tensor, z2: torch.Tensor, same: torch.Tensor, margin: float) -> torch.Tensor:
    """Pairwise contrastive loss, exactly L = 1/(2N) sum_i [y_i d_i^2 + (1 - y_i) max(m - d_i, 0)^2].

    z1, z2 (N, D) embeddings of the two sides of N pairs; same (N,) 1 for matching pairs, 0 else."""
    d = torch.linalg.vector_norm(z1 - z2, dim=1)  # (N,)
    y = same.to(d.device, d.dtype)
    per_pair = y * d.pow(2) + (1 - y) * torch.clamp(margin - d, min=0).pow(2)
    return per_pair.sum() / (2 * len(d))


def siamese_pairs(n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """For a batch of n images: the index of each pair's second image and whether it matches.

    Half the pairs are positives (the image with itself: its two *views* differ by augmentation),
    half negatives (another random image, possibly of the same class: no labels are used)."""
    partner = torch.randint(0, n, (n,), generator=generator)
    same = torch.rand(n, generator=generator) < 0.5
    partner = torch.where(same, torch.arange(n), partner)
    return partner, (partner == torch.arange(n)).long()


def info_nce_loss(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent: mean over the 2N views of -log softmax over the other 2N - 1 of the positive's
    cosine similarity / temperature. z1, z2 (N, D) two views of the same N images."""
    n = len(z1)
    z = F.normalize(torch.cat([z1, z2]), dim=1)  # (2N, D)
    logits = z @ z.T / temperature  # (2N, 2N)
    logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    positive = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(logits, positive)


def info_nce_of_pairs(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """The InfoNCE mutual-information bound of N view pairs, log N - CE(z1 -> z2): in [0, log N]."""
    z1, z2 = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
    logits = z1 @ z2.T / temperature  # (N, N)
    ce = F.cross_entropy(logits, torch.arange(len(z1), device=z1.device))
    return math.log(len(z1)) - ce


def rotate_batch(
    x: torch.Tensor, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each image rotated by k * 90 degrees, k uniform in {0, 1, 2, 3}: (rotated, k). x (B, C, S, S)."""
    source = generator.device if generator is not None else x.device   # as in ``augment``
    k = torch.randint(0, 4, (x.shape[0],), generator=generator, device=source).to(x.device)
    rotated = torch.stack([torch.rot90(x, r, dims=(2, 3)) for r in range(4)])  # (4, B, C, S, S)
    return rotated[k, torch.arange(x.shape[0], device=x.device)], k


class RotationHead(nn.Module):
    """The pretext classifier: h (B, feature_dim) -> logits over the 4 rotations."""

    def __init__(self, feature_dim: int):
        super().__init__()
        self.linear = nn.Linear(feature_dim, 4)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.linear(h)


def rotation_loss(head: RotationHead, h: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(head(h), k)


# ------------------------------------------------------------------------- geometry of an embedding


def alignment(z1: torch.Tensor, z2: torch.Tensor) -> float:
    """Wang & Isola (2020): E ||f(x) - f(x+)||^2 over positive pairs, on the unit sphere (lower = better)."""
    z1, z2 = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
    return float((z1 - z2).pow(2).sum(1).mean())


def uniformity(z: torch.Tensor, t: float = 2.0) -> float:
    """log E exp(-t ||f(x) - f(y)||^2) over distinct pairs on the sphere (lower = more uniform)."""
    z = F.normalize(z, dim=1)
    sq = torch.pdist(z).pow(2)
    return float(torch.logsumexp(-t * sq, 0) - math.log(len(sq)))


# ------------------------------------------------------------------------------ mutual information


def gaussian_mi(dim: int, rho: float) -> float:
    """I(X; Y) = -d/2 log(1 - rho^2) nats for d independent pairs of unit Gaussians with corr rho."""
    return -0.5 * dim * math.log(1 - rho * rho)


def rho_for_mi(mi: float, dim: int) -> float:
    """The correlation that gives ``mi`` nats in dimension ``dim`` (inverse of gaussian_mi)."""
    return math.sqrt(1 - math.exp(-2 * mi / dim))


def correlated_gaussians(n: int, dim: int, rho: float, generator: torch.Generator | None = None):
    """n samples of (x, y), x ~ N(0, I), y = rho x + sqrt(1 - rho^2) eps: each (n, dim)."""
    x = torch.randn(n, dim, generator=generator)
    eps = torch.randn(n, dim, generator=generator)
    return x, rho * x + math.sqrt(1 - rho * rho) * eps


class SeparableCritic(nn.Module):
    """T(x, y) = g(x) . h(y), with g, h MLPs: all N x N scores of a batch in one matrix product."""

    def __init__(self, dim: int, hidden: int = 256, embed: int = 32):
        super().__init__()

        def mlp() -> nn.Sequential:
            return nn.Sequential(
                nn.Linear(dim, hidden),
                nn.ReLU(),
                nn.Linear(hidden, hidden),
                nn.ReLU(),
                nn.Linear(hidden, embed),
            )

        self.g, self.h = mlp(), mlp()

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.g(x) @ self.h(y).T  # (N, N): S_ij = T(x_i, y_j)


def infonce_bound(scores: torch.Tensor) -> torch.Tensor:
    """I_NCE = mean_i [S_ii - logsumexp_j S_ij] + log N; never above log N."""
    n = scores.shape[0]
    return (scores.diagonal() - torch.logsumexp(scores, dim=1)).mean() + math.log(n)


def nwj_bound(scores: torch.Tensor) -> torch.Tensor:
    """I_NWJ = E_p[T] - e^{-1} E_{p(x)p(y)}[e^T] (f-divergence bound; unbounded above, high variance).

    The product of marginals is the off-diagonal pairs (x_i, y_j), i != j. The critic's optimum is
    T = 1 + log p(x, y) / (p(x) p(y))."""
    n = scores.shape[0]
    off = ~torch.eye(n, dtype=torch.bool, device=scores.device)
    # logmeanexp of (S - 1) keeps exp from overflowing when the critic grows large.
    log_mean_exp = torch.logsumexp(scores[off] - 1, 0) - math.log(n * (n - 1))
    return scores.diagonal().mean() - log_mean_exp.exp()
