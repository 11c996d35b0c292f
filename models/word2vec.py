"""Skip-gram with negative sampling (word2vec, Mikolov et al. 2013): embeddings from co-occurrence.

Every word w has an input vector v_w and an output vector u_w (dim d). For a centre word c and a
word o seen within ``window`` positions of it, the model should tell the real pair from K "noise"
pairs (c, n_k), n_k drawn from the unigram distribution raised to 3/4:

    L(c, o) = - log sigma(u_o . v_c) - sum_k log sigma(- u_{n_k} . v_c)

This is noise-contrastive estimation's binary cousin: instead of normalising a softmax over the
whole vocabulary (the n-gram model's job), the model only learns to rank real contexts above
random ones, and words that share contexts end up with similar v's. Frequent words are randomly
dropped from the pairs with probability 1 - sqrt(t / f(w)) (f the word's frequency), so "the"
and "," do not dominate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class SkipGramConfig:
    dim: int = 50
    window: int = 3
    negatives: int = 5
    batch_size: int = 2048
    lr: float = 0.01
    subsample: float = 1e-3  # t: frequent-word down-sampling threshold (0 = off)
    seed: int = 0


def skipgram_pairs(id_sentences: Sequence[np.ndarray], window: int) -> np.ndarray:
    """(P, 2) int64 (centre, context) pairs: every pair of words at most ``window`` apart in a sentence."""
    if not id_sentences:
        return np.zeros((0, 2), np.int64)
    lengths = np.fromiter((len(s) for s in id_sentences), np.int64, count=len(id_sentences))
    stream = np.concatenate([np.asarray(s, np.int64) for s in id_sentences]) if lengths.sum() else np.zeros(0, np.int64)
    sentence = np.repeat(np.arange(len(lengths)), lengths)
    pairs = []
    for offset in range(1, window + 1):
        same = np.flatnonzero(sentence[:-offset] == sentence[offset:]) if len(stream) > offset else np.zeros(0, np.int64)
        left, right = stream[same], stream[same + offset]
        pairs += [np.column_stack([left, right]), np.column_stack([right, left])]  # both directions
    return np.concatenate(pairs) if pairs else np.zeros((0, 2), np.int64)


def keep_probability(counts: np.ndarray, t: float) -> np.ndarray:
    """Per word: probability of keeping an occurrence, min(1, sqrt(t / f)) (1 everywhere if t = 0)."""
    if t <= 0:
        return np.ones(len(counts))
    freq = counts / max(counts.sum(), 1)
    with np.errstate(divide="ignore"):
        return np.minimum(1.0, np.sqrt(t / np.maximum(freq, 1e-300)))


class SkipGram(nn.Module):
    """Input and output embeddings; ``forward`` is the negative-sampling loss of a batch."""

    def __init__(self, vocab_size: int, dim: int):
        super().__init__()
        self.inputs = nn.Embedding(vocab_size, dim)   # v: what the lab shows as "the" embedding
        self.outputs = nn.Embedding(vocab_size, dim)  # u: the word as a context
        nn.init.uniform_(self.inputs.weight, -0.5 / dim, 0.5 / dim)
        nn.init.zeros_(self.outputs.weight)  # word2vec's init: all scores 0 at the start, loss (K+1) log 2

    def forward(self, centre: torch.Tensor, context: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """centre (B,), context (B,), noise (B, K) word ids -> mean loss over the batch (scalar)."""
        v = self.inputs(centre)                                      # (B, d)
        positive = (self.outputs(context) * v).sum(-1)               # (B,)
        negative = torch.einsum("bkd,bd->bk", self.outputs(noise), v)  # (B, K)
        return -(F.logsigmoid(positive) + F.logsigmoid(-negative).sum(-1)).mean()

    def embeddings(self) -> np.ndarray:
        """(V, d) float32 input vectors."""
        return self.inputs.weight.detach().cpu().numpy().astype(np.float32, copy=True)


class SkipGramTrainer:
    """Holds the pairs, the noise distribution and the optimiser; ``step()`` trains one batch."""

    def __init__(self, id_sentences: Sequence[np.ndarray], vocab_size: int, cfg: SkipGramConfig,
                 device: torch.device | str = "cpu"):
        self.cfg, self.device = cfg, torch.device(device)
        self.rng = np.random.default_rng(cfg.seed)
        torch.manual_seed(cfg.seed)      # the initial vectors
        # The noise words come from the trainer's own CPU generator: the same draws on any device, and
        # none taken by work in other threads from torch's process-wide one.
        self.noise_generator = torch.Generator().manual_seed(cfg.seed)
        self.counts = np.bincount(np.concatenate(list(id_sentences)) if id_sentences else np.zeros(0, np.int64),
                                  minlength=vocab_size).astype(np.float64)
        self.all_pairs = skipgram_pairs(id_sentences, cfg.window)
        self.keep = keep_probability(self.counts, cfg.subsample)
        noise = self.counts ** 0.75
        self.noise = torch.as_tensor(noise / noise.sum() if noise.sum() > 0 else np.ones(vocab_size) / vocab_size,
                                     dtype=torch.float32)
        self.model = SkipGram(vocab_size, cfg.dim).to(self.device)
        self.optimizer = PlainAdam(list(self.model.parameters()), lr=cfg.lr)
        self.epoch = 0
        self._order = np.zeros(0, np.int64)
        self._cursor = 0
        self._new_epoch()

    def _new_epoch(self) -> None:
        """Fresh sub-sampling of frequent words and a new shuffle of the surviving pairs."""
        p = self.all_pairs
        keep = (self.rng.random(len(p)) < self.keep[p[:, 0]]) & (self.rng.random(len(p)) < self.keep[p[:, 1]])
        survivors = np.flatnonzero(keep)
        self._order = survivors[self.rng.permutation(len(survivors))] if len(survivors) else np.arange(len(p))
        self._cursor = 0
        self.epoch += 1

    @property
    def steps_per_epoch(self) -> int:
        return max(1, int(np.ceil(len(self._order) / self.cfg.batch_size)))

    def step(self) -> float:
        if len(self.all_pairs) == 0:
            raise ValueError("no word pairs to train on: the text needs sentences of two or more words")
        if self._cursor >= len(self._order):
            self._new_epoch()
        rows = self._order[self._cursor:self._cursor + self.cfg.batch_size]
        self._cursor += self.cfg.batch_size
        batch = torch.as_tensor(self.all_pairs[rows], device=self.device)
        noise = torch.multinomial(self.noise, len(rows) * self.cfg.negatives, replacement=True,
                                  generator=self.noise_generator)
        loss = self.model(batch[:, 0], batch[:, 1], noise.view(len(rows), -1).to(self.device))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.item()


class PlainAdam:
    """Adam (Kingma & Ba): m = b1 m + (1-b1) g, v = b2 v + (1-b2) g^2, p -= lr m_hat / (sqrt(v_hat) + eps).

    Written out instead of torch.optim.Adam because constructing any torch.optim optimiser imports
    torch._dynamo and with it triton's bundled LLVM; loaded from a worker thread next to Mesa's
    llvmpipe (the app under Xvfb) that import crashed the process (segfault in triton/knobs.py)."""

    def __init__(self, params: list[torch.Tensor], lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
        self.params, self.lr, self.betas, self.eps, self.t = params, lr, betas, eps, 0
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self.t += 1
        b1, b2 = self.betas
        for p, m, v in zip(self.params, self.m, self.v, strict=True):
            if p.grad is None:
                continue
            m.mul_(b1).add_(p.grad, alpha=1 - b1)
            v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
            denom = (v / (1 - b2 ** self.t)).sqrt_().add_(self.eps)
            p.addcdiv_(m, denom, value=-self.lr / (1 - b1 ** self.t))


def cosine_neighbours(vectors: np.ndarray, query: np.ndarray, k: int = 10,
                      exclude: Sequence[int] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Indices and cosine similarities of the ``k`` rows of ``vectors`` (V, d) nearest to ``query`` (d,)."""
    norms = np.linalg.norm(vectors, axis=1) * max(np.linalg.norm(query), 1e-12)
    sims = vectors @ query / np.maximum(norms, 1e-12)
    sims[list(exclude)] = -np.inf
    top = np.argsort(-sims)[:k]
    return top, sims[top]


def analogy(vectors: np.ndarray, a: int, b: int, c: int, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """a is to b as c is to ?: nearest words to v_b - v_a + v_c (unit vectors), a, b, c excluded."""
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return cosine_neighbours(unit, unit[b] - unit[a] + unit[c], k, exclude=(a, b, c))


def pca_2d(vectors: np.ndarray) -> np.ndarray:
    """(V, 2) projection on the two main principal axes (sign fixed so frames do not flip)."""
    centred = vectors - vectors.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    axes = vt[:2]
    axes *= np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(axis=1)])[:, None]
    xy = centred @ axes.T
    return xy.astype(np.float32) if xy.shape[1] == 2 else np.column_stack([xy, np.zeros(len(xy))]).astype(np.float32)
