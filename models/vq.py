"""Vector quantisation: the bottleneck of VQ-VAE (van den Oord et al. 2017) and VQGAN (Esser et al. 2021).

An encoder output z_e(x) in R^D at each grid position is replaced by its nearest codebook vector

    k* = argmin_k ||z_e - e_k||^2,        z_q = e_{k*}

Argmin has no gradient, so the forward pass uses z_q and the backward pass copies the decoder's
gradient to the encoder unchanged (the straight-through estimator): z_st = z_e + sg[z_q - z_e].
Two terms pull the two sides together, with the stop-gradient sg[.] on opposite sides:

    L_vq = ||sg[z_e] - e||^2  +  beta * ||z_e - sg[e]||^2
           codebook loss          commitment loss (beta = 0.25)

The codebook term moves the codes toward the encoder outputs; the commitment term keeps the encoder
from running away from its codes. (taming-transformers' ``legacy=True`` puts beta on the codebook
term instead; here it is where the paper puts it.)

Switches, each an answer to codes that are never used ("dead" codes):
- ``ema``: codes are exponential moving averages of the vectors assigned to them (VQ-VAE-2), with
  Laplace smoothing of the counts, instead of a codebook loss; the commitment term stays.
- ``kmeans_init``: the codebook starts as the k-means centroids of the first batch, where the
  encoder's outputs are, instead of a random cloud they may never visit.
- ``dead_after``: a code that no vector chose for that many training batches is restarted on a
  random encoder output of the current batch.
- ``code_dim`` < ``dim``: look-up in a low-dimensional space (linear maps in and out) and
- ``l2``: l2-normalised vectors and codes, so the nearest code is the one of highest cosine
  similarity (ViT-VQGAN, Yu et al. 2021): both keep far more codes in use.

Beside it, FSQ (Mentzer et al. 2023) and LFQ (Yu et al. 2023, MAGVIT-v2) from vector-quantize-pytorch,
wrapped to the same interface: they have an implicit codebook (a fixed grid of levels; the corners of
a hypercube) and no codebook loss. Every quantiser takes (B, N, D) and returns a ``QuantOut``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F


@dataclass
class VQConfig:
    num_codes: int = 512          # K
    dim: int = 64                 # D: the encoder's channels
    code_dim: int = 64            # < D: low-dimensional codes, looked up after a linear map
    beta: float = 0.25            # weight of the commitment term
    ema: bool = False
    decay: float = 0.99           # EMA decay of counts and sums
    kmeans_init: bool = False
    kmeans_iters: int = 10
    dead_after: int = 0           # restart a code unused for this many batches (0: never)
    l2: bool = False
    eps: float = 1e-5             # Laplace smoothing of the EMA counts


@dataclass
class QuantOut:
    quantized: Tensor             # (B, N, D) straight-through: forward = z_q, backward = identity to z_e
    indices: Tensor               # (B, N) int64
    loss: Tensor                  # the term added to the training loss
    codebook_loss: Tensor         # ||sg[z_e] - e||^2 (reported even under EMA, where it is not trained)
    commitment_loss: Tensor       # ||z_e - sg[e]||^2 (unweighted)


def nearest_code(z: Tensor, codebook: Tensor) -> Tensor:
    """Index of the nearest code for each row: argmin_k ||z - e_k||^2, expanded as
    ||z||^2 - 2 z.e_k + ||e_k||^2 so no (M, K, D) tensor is built. z (M, C), codebook (K, C) -> (M,)."""
    d = z.pow(2).sum(1, keepdim=True) - 2 * z @ codebook.t() + codebook.pow(2).sum(1)[None]
    return d.argmin(1)


def kmeans(x: Tensor, k: int, iters: int = 10, spherical: bool = False,
           generator: torch.Generator | None = None) -> Tensor:
    """Lloyd's k-means on rows of x (M, C) -> (k, C) centroids, seeded by k-means++ (each next seed drawn
    with probability proportional to its squared distance to the seeds so far). An empty cluster keeps
    its previous centroid."""
    g = generator if generator is not None and generator.device == x.device else None
    pts = F.normalize(x, dim=1) if spherical else x
    first = torch.randint(len(pts), (1,), generator=g, device=x.device)
    centroids = [pts[first]]
    d2 = (pts - pts[first]).pow(2).sum(1)
    for _ in range(1, k):
        total = d2.sum()
        probs = d2 / total if total > 0 else torch.full_like(d2, 1.0 / len(d2))
        nxt = torch.multinomial(probs, 1, generator=g)
        centroids.append(pts[nxt])
        d2 = torch.minimum(d2, (pts - pts[nxt]).pow(2).sum(1))
    centroids = torch.cat(centroids)
    for _ in range(iters):
        assign = nearest_code(pts, F.normalize(centroids, dim=1) if spherical else centroids)
        sums = torch.zeros_like(centroids).index_add_(0, assign, pts)
        counts = torch.bincount(assign, minlength=k).to(x.dtype)
        filled = counts > 0
        centroids[filled] = sums[filled] / counts[filled, None]
    return F.normalize(centroids, dim=1) if spherical else centroids


class VectorQuantizer(nn.Module):
    """The written-out quantiser. Input (B, N, D) -> QuantOut. Training mode updates the EMA statistics,
    the usage counters and dead codes as side effects of ``forward``; eval mode changes nothing."""

    def __init__(self, cfg: VQConfig):
        super().__init__()
        self.cfg = cfg
        k, c = cfg.num_codes, cfg.code_dim
        low_dim = c != cfg.dim
        self.project_in = nn.Linear(cfg.dim, c) if low_dim else nn.Identity()
        self.project_out = nn.Linear(c, cfg.dim) if low_dim else nn.Identity()
        # one Parameter in both modes, so a checkpoint loads whichever way it was trained
        self.codebook = nn.Parameter(torch.empty(k, c).uniform_(-1 / k, 1 / k), requires_grad=not cfg.ema)
        self.register_buffer("ema_count", torch.ones(k))
        self.register_buffer("ema_sum", self.codebook.detach().clone())
        self.register_buffer("unused_for", torch.zeros(k, dtype=torch.long))   # batches since last chosen
        self.register_buffer("initialised", torch.tensor(not cfg.kmeans_init))
        self.generator: torch.Generator | None = None   # a task's own generator for restarts and k-means

    @property
    def num_codes(self) -> int:
        return self.cfg.num_codes

    def codes(self) -> Tensor:
        """The codebook as looked up (K, code_dim): unit vectors when ``l2``."""
        return F.normalize(self.codebook, dim=1) if self.cfg.l2 else self.codebook

    def lookup(self, indices: Tensor) -> Tensor:
        """Indices (...) -> the decoder's input vectors (..., D)."""
        return self.project_out(self.codes()[indices])

    def forward(self, z: Tensor) -> QuantOut:
        b, n, _ = z.shape
        z_e = self.project_in(z).reshape(b * n, -1)                     # (M, C)
        if self.cfg.l2:
            z_e = F.normalize(z_e, dim=1)
        if self.training and not bool(self.initialised):
            self._init_from(z_e.detach())
        codes = self.codes()
        idx = nearest_code(z_e.detach(), codes.detach())                # (M,)
        z_q = codes[idx]                                                # (M, C)
        codebook_loss = F.mse_loss(z_q, z_e.detach())
        commitment_loss = F.mse_loss(z_e, z_q.detach())
        # under EMA the codebook is not trained by gradient: only the commitment term is a loss
        loss = self.cfg.beta * commitment_loss + (0.0 if self.cfg.ema else codebook_loss)
        z_st = z_e + (z_q - z_e).detach()                               # straight-through
        if self.training:
            with torch.no_grad():
                self._update(z_e.detach(), idx)
        quantized = self.project_out(z_st.reshape(b, n, -1))
        return QuantOut(quantized, idx.reshape(b, n), loss, codebook_loss, commitment_loss)

    # --- the switches (no gradients) ------------------------------------------------------------
    @torch.no_grad()
    def _init_from(self, z_e: Tensor) -> None:
        centroids = kmeans(z_e, self.num_codes, self.cfg.kmeans_iters, self.cfg.l2, self.generator)
        self._set_codes(torch.arange(self.num_codes, device=z_e.device), centroids)
        self.initialised.fill_(True)

    def _set_codes(self, which: Tensor, vectors: Tensor) -> None:
        self.codebook.data[which] = vectors
        self.ema_count[which] = 1.0
        self.ema_sum[which] = vectors
        self.unused_for[which] = 0

    @torch.no_grad()
    def _update(self, z_e: Tensor, idx: Tensor) -> None:
        counts = torch.bincount(idx, minlength=self.num_codes)
        self.unused_for.add_(1).masked_fill_(counts > 0, 0)
        if self.cfg.ema:
            self.ema_update(z_e, idx, counts.to(z_e.dtype))
        if self.cfg.dead_after > 0:
            self.restart_dead(z_e)

    def ema_update(self, z_e: Tensor, idx: Tensor, counts: Tensor) -> None:
        """N_k <- d N_k + (1-d) n_k;  m_k <- d m_k + (1-d) sum_{i: k_i = k} z_i;  e_k = m_k / N~_k,
        with N~ the Laplace-smoothed counts (so a code nobody chose keeps its vector)."""
        d = self.cfg.decay
        sums = torch.zeros_like(self.ema_sum).index_add_(0, idx, z_e)
        self.ema_count.mul_(d).add_(counts, alpha=1 - d)
        self.ema_sum.mul_(d).add_(sums, alpha=1 - d)
        total = self.ema_count.sum()
        smoothed = (self.ema_count + self.cfg.eps) / (total + self.num_codes * self.cfg.eps) * total
        self.codebook.data.copy_(self.ema_sum / smoothed[:, None])

    def restart_dead(self, z_e: Tensor) -> int:
        """Codes unused for ``dead_after`` batches get a random vector of this batch. Returns how many."""
        dead = torch.nonzero(self.unused_for >= self.cfg.dead_after).flatten()
        if len(dead):
            g = self.generator if self.generator is not None and self.generator.device == z_e.device else None
            pick = torch.randint(len(z_e), (len(dead),), generator=g, device=z_e.device)
            self._set_codes(dead, z_e[pick])
        return len(dead)


# --- the field's library: implicit codebooks ---------------------------------------------------------


def _flat_lookup(indices_to_codes, indices: Tensor) -> Tensor:
    """Indices (...) -> (..., D) through the library as one (1, N) sequence: given a 3-D grid it would
    answer channel-first, as for images."""
    return indices_to_codes(indices.reshape(1, -1)).reshape(*indices.shape, -1)


class FSQQuantizer(nn.Module):
    """Finite scalar quantisation: project to len(levels) dims, bound each with tanh, round it to one of
    L_i levels. K = prod(levels) codes, all used by construction; no codebook, no auxiliary loss."""

    def __init__(self, dim: int, levels: tuple[int, ...] = (8, 8, 8)):
        super().__init__()
        from vector_quantize_pytorch import FSQ

        self.levels = tuple(int(v) for v in levels)
        self.fsq = FSQ(levels=list(self.levels), dim=dim)
        self.num_codes = int(math.prod(self.levels))

    def forward(self, z: Tensor) -> QuantOut:
        quantized, indices = self.fsq(z)
        zero = z.new_zeros(())
        return QuantOut(quantized, indices.long(), zero, zero, zero)

    def lookup(self, indices: Tensor) -> Tensor:
        return _flat_lookup(self.fsq.indices_to_codes, indices)

    def codes(self) -> Tensor:
        """The implicit codebook in its own (len(levels))-dimensional space, one row per index."""
        return self.fsq._indices_to_codes(torch.arange(self.num_codes, device=self.fsq._levels.device))


class LFQQuantizer(nn.Module):
    """Lookup-free quantisation: project to log2(K) dims and take each sign (codes are the corners of
    {-1, 1}^log2 K); an entropy term (per-sample confident, batch-wide diverse) keeps codes in use."""

    def __init__(self, dim: int, num_codes: int = 512, entropy_weight: float = 0.1, beta: float = 0.25):
        super().__init__()
        from vector_quantize_pytorch import LFQ

        if num_codes & (num_codes - 1):
            raise ValueError(f"LFQ needs a power-of-two codebook size, not {num_codes}")
        self.lfq = LFQ(dim=dim, codebook_size=num_codes, entropy_loss_weight=entropy_weight,
                       commitment_loss_weight=beta)
        self.num_codes = num_codes

    def forward(self, z: Tensor) -> QuantOut:
        quantized, indices, aux = self.lfq(z)
        zero = z.new_zeros(())
        return QuantOut(quantized, indices.long(), aux if self.training else zero, zero, zero)

    def lookup(self, indices: Tensor) -> Tensor:
        return _flat_lookup(self.lfq.indices_to_codes, indices)

    def codes(self) -> Tensor:
        return self.lfq.codebook


# --- codebook statistics ------------------------------------------------------------------------------


def code_counts(indices: Tensor, num_codes: int) -> Tensor:
    return torch.bincount(indices.flatten(), minlength=num_codes)


def perplexity(counts: Tensor) -> float:
    """exp(H(p)) of the usage distribution p = counts / sum: K when all codes are used equally, 1 when one is."""
    p = counts.double() / counts.sum().clamp_min(1)
    h = -(p[p > 0] * p[p > 0].log()).sum()
    return float(h.exp())
