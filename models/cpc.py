"""Contrastive predictive coding on images, and a patch pretext task.

Method (van den Oord, Li & Vinyals 2018, "Representation Learning with Contrastive Predictive
Coding", section 3 and the image experiments of section 4.2).

1. Patches. An image x (C, H, W) is cut into a grid of overlapping p x p patches with stride s:
       x_{i,j} = x[:, i s : i s + p, j s : j s + p],   i, j = 0 .. G - 1,   G = ceil((H - p) / s) + 1
   The image is zero-padded at the bottom and right when (H - p) is not a multiple of s, so every
   pixel lies in at least one patch.
2. Encoder. Every patch is encoded on its own: z_{i,j} = g_enc(x_{i,j}) in R^D.
3. Context. A masked (row-causal) convolutional network summarises everything above and on row i:
       c_{i,j} = g_ar( z_{i',j'} : i' <= i )
   The convolutions pad only on top, so row i of the output never sees an input row below i.
4. Prediction. One linear map per step ahead, k = 1 .. K, predicts the encoding k rows further down:
       f_k(z, c_{i,j}) = exp( z^T W_k c_{i,j} )
5. InfoNCE. For each query (i, j, k) the true z_{i+k,j} hides among N - 1 negatives drawn from the
   other positions of the same image and of the other images in the batch:
       L_k = - E [ log f_k(z_{i+k,j}, c_{i,j}) / sum_{n=1..N} f_k(z_n, c_{i,j}) ]
   and I(x_{i+k,j}; c_{i,j}) >= log N - L_k, so the bound can never exceed log N.

Pretext task (Doersch, Gupta & Efros 2015): take a patch and one of its 8 neighbours in a 3 x 3
layout (with a gap and a random jitter between patches, so that continuing edges across the border
cannot give the answer away), encode both with the same g_enc and classify which neighbour it was:
       L = CE( head([g_enc(a); g_enc(b)]), position of b relative to a in {0..7} )

Representation read by probes: the encodings z over the grid, average-pooled to a 2 x 2 grid and
flattened, (B, 4D). Why not one mean over the grid as in the paper's ImageNet probe: a digit's class
depends on where its strokes are, which a global mean throws away; a 2 x 2 pool keeps the coarse
layout at the width of the SimCLR encoder's features.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

# ------------------------------------------------------------------------------------------ patches


def grid_size(side: int, patch: int, stride: int) -> int:
    """G, the number of patch rows (or columns) that cover ``side`` pixels: ceil((side - p) / s) + 1."""
    if patch > side:
        raise ValueError(f"patch size {patch} is larger than the image ({side} px)")
    if stride < 1:
        raise ValueError(f"stride must be at least 1, got {stride}")
    return math.ceil((side - patch) / stride) + 1


def patch_grid(x: torch.Tensor, patch: int, stride: int) -> torch.Tensor:
    """x (B, C, H, W) -> patches (B, Gh, Gw, C, p, p), zero-padded bottom/right to cover every pixel."""
    _, _, h, w = x.shape
    gh, gw = grid_size(h, patch, stride), grid_size(w, patch, stride)
    pad_h, pad_w = (gh - 1) * stride + patch - h, (gw - 1) * stride + patch - w
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h))
    tiles = x.unfold(2, patch, stride).unfold(3, patch, stride)  # (B, C, Gh, Gw, p, p)
    return tiles.permute(0, 2, 3, 1, 4, 5)


class PatchEncoder(nn.Module):
    """g_enc: patches (M, C, p, p) -> z (M, D). Three 3x3 convolutions and a global average pool, so
    any patch size works. No BatchNorm: batch statistics over the patches of one image would let
    the negatives leak into the encoding of the positive (CPC v2, Henaff et al. 2019)."""

    def __init__(self, channels: int, width: int, embed_dim: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(2 * width, embed_dim),
        )

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        return self.net(patches)


class PatchModel(nn.Module):
    """What CPC and the pretext task share: a patch encoder applied over the grid, and the features
    the probes read."""

    def __init__(self, channels: int, patch: int, stride: int, width: int, embed_dim: int):
        super().__init__()
        self.patch, self.stride = patch, stride
        self.encoder = PatchEncoder(channels, width, embed_dim)

    def encode_grid(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, C, H, W) -> z (B, D, Gh, Gw): every patch of the grid encoded on its own."""
        tiles = patch_grid(x, self.patch, self.stride)  # (B, Gh, Gw, C, p, p)
        b, gh, gw = tiles.shape[:3]
        z = self.encoder(tiles.reshape(b * gh * gw, *tiles.shape[3:]))  # (B Gh Gw, D)
        return z.reshape(b, gh, gw, -1).permute(0, 3, 1, 2)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The representation probes read: z pooled to a 2 x 2 grid, (B, 4D)."""
        return F.adaptive_avg_pool2d(self.encode_grid(x), 2).flatten(1)


# ------------------------------------------------------------------------------------------- CPC


@dataclass(frozen=True)
class CPCConfig:
    channels: int = 1
    patch: int = 8  # p, patch side in pixels
    stride: int = 4  # s; the overlap of neighbouring patches is p - s
    width: int = 16  # channels of the encoder's first convolution
    embed_dim: int = 32  # D
    context_dim: int = 64  # width of c
    steps_ahead: int = 3  # K
    negatives: int = 63  # N - 1


class RowCausalConv(nn.Module):
    """A convolution over the grid whose output row i sees input rows i - kh + 1 .. i only: the
    kernel is padded on top, never below. Columns are padded on both sides (a whole row is past)."""

    def __init__(self, c_in: int, c_out: int, kh: int = 3, kw: int = 3):
        super().__init__()
        self.pad = (kw // 2, kw // 2, kh - 1, 0)  # left, right, top, bottom
        self.conv = nn.Conv2d(c_in, c_out, (kh, kw))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(z, self.pad))


class RowContext(nn.Module):
    """g_ar: z (B, D, Gh, Gw) -> c (B, Dc, Gh, Gw), c_{i,j} a function of rows <= i of z. Three
    stacked row-causal 3x3 convolutions see 7 rows up, the whole grid of a 28 px digit."""

    def __init__(self, embed_dim: int, context_dim: int):
        super().__init__()
        self.net = nn.Sequential(
            RowCausalConv(embed_dim, context_dim),
            nn.ReLU(),
            RowCausalConv(context_dim, context_dim),
            nn.ReLU(),
            RowCausalConv(context_dim, context_dim),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class CPC(PatchModel):
    """Patch encoder, row-causal context network and K linear predictors W_k."""

    def __init__(self, cfg: CPCConfig):
        super().__init__(cfg.channels, cfg.patch, cfg.stride, cfg.width, cfg.embed_dim)
        self.cfg = cfg
        self.context = RowContext(cfg.embed_dim, cfg.context_dim)
        self.predictors = nn.ModuleList(
            nn.Linear(cfg.context_dim, cfg.embed_dim, bias=False) for _ in range(cfg.steps_ahead)
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, C, H, W) -> z (B, D, Gh, Gw), c (B, Dc, Gh, Gw)."""
        z = self.encode_grid(x)
        return z, self.context(z)


def sample_candidates(
    positive: torch.Tensor, pool_size: int, negatives: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """(M,) indices of the true encodings in a pool -> (M, 1 + negatives) candidate indices, the
    positive first, then negatives drawn uniformly from the rest of the pool (never the positive)."""
    draw = torch.randint(0, pool_size - 1, (len(positive), negatives), generator=generator,
                         device=positive.device)
    draw = draw + (draw >= positive[:, None]).long()  # skip the positive's own index
    return torch.cat([positive[:, None], draw], 1)


def info_nce(scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """scores (M, N) with the positive in column 0 -> (loss L, bound log N - L, pick accuracy).

    A tie at the top counts as 1 / (number tied), the expected score of picking among them at
    random: blank patches (digit borders) encode identically, and argmax, which returns the first
    maximum, would otherwise always credit the positive in column 0."""
    target = torch.zeros(len(scores), dtype=torch.long, device=scores.device)
    loss = F.cross_entropy(scores, target)
    bound = math.log(scores.shape[1]) - loss.detach()
    best = scores.detach().max(1, keepdim=True).values
    tied = (scores.detach() == best).sum(1)
    accuracy = ((scores.detach()[:, 0] == best[:, 0]).float() / tied).mean()
    return loss, bound, accuracy


def cpc_step_scores(
    z: torch.Tensor, c: torch.Tensor, predictor: nn.Module, k: int, negatives: int,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores z_n^T W_k c_{i,j} of every query (b, i, j) with i + k < Gh against its candidates.

    z (B, D, Gh, Gw), c (B, Dc, Gh, Gw). The pool of candidates is every patch of the batch,
    flattened as (b, i, j) -> b Gh Gw + i Gw + j. Returns scores (M, N) with the true patch
    z_{i+k,j} in column 0, and the candidates' pool indices (M, N)."""
    b, d, gh, gw = z.shape
    if k >= gh:
        raise ValueError(f"cannot predict {k} rows ahead on a grid of {gh} rows")
    pool = z.permute(0, 2, 3, 1).reshape(b * gh * gw, d)  # (P, D)
    query = c[:, :, : gh - k].permute(0, 2, 3, 1).reshape(-1, c.shape[1])  # (M, Dc)
    pred = predictor(query)  # (M, D): W_k c_{i,j}
    bi, ii, jj = torch.meshgrid(
        torch.arange(b, device=z.device), torch.arange(gh - k, device=z.device),
        torch.arange(gw, device=z.device), indexing="ij",
    )
    positive = (bi * gh * gw + (ii + k) * gw + jj).reshape(-1)  # (M,)
    candidates = sample_candidates(positive, len(pool), negatives, generator)  # (M, N)
    # All query-patch products in one matrix product, then each query's N columns: cheaper to
    # differentiate than gathering (M, N, D) copies of the pool.
    scores = (pred @ pool.T).gather(1, candidates)
    return scores, candidates


def cpc_loss(
    model: CPC, x: torch.Tensor, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, dict]:
    """The CPC loss of a batch, mean_k L_k, and per-k tensors "loss", "bound", "accuracy" (K,)."""
    z, c = model(x)
    losses, bounds, accs = [], [], []
    for k, predictor in enumerate(model.predictors, start=1):
        scores, _ = cpc_step_scores(z, c, predictor, k, model.cfg.negatives, generator)
        loss, bound, acc = info_nce(scores)
        losses.append(loss)
        bounds.append(bound)
        accs.append(acc)
    stacked = torch.stack(losses)
    per_k = {"loss": stacked.detach(), "bound": torch.stack(bounds), "accuracy": torch.stack(accs)}
    return stacked.mean(), per_k


# -------------------------------------------------------------------------- relative position


# The 8 neighbours of a patch as (row, column) offsets in the 3 x 3 layout; the label is the index.
NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))


def relative_position_layout(side: int, patch: int, gap: int, jitter: int) -> int:
    """The slack in pixels that a 3 x 3 layout of patches leaves in an image of ``side`` px; raises
    a readable error when it does not fit (3 p + 2 gap + 2 jitter > side)."""
    need = 3 * patch + 2 * gap + 2 * jitter
    if need > side:
        raise ValueError(
            f"a 3 x 3 layout of {patch} px patches with gap {gap} and jitter {jitter} needs {need} px; "
            f"the images are {side} px (use smaller patches, a smaller gap or a bigger image set)"
        )
    return side - need


def crop(x: torch.Tensor, top: torch.Tensor, left: torch.Tensor, size: int) -> torch.Tensor:
    """One size x size crop per image at (top[b], left[b]): x (B, C, H, W) -> (B, C, size, size)."""
    r = torch.arange(size, device=x.device)
    rows = (top[:, None] + r)[:, None, :, None]  # (B, 1, p, 1)
    cols = (left[:, None] + r)[:, None, None, :]  # (B, 1, 1, p)
    b = torch.arange(len(x), device=x.device)[:, None, None, None]
    ch = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return x[b, ch, rows, cols]


def relative_position_pairs(
    x: torch.Tensor, patch: int, gap: int, jitter: int, generator: torch.Generator | None = None,
    labels: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """For each image: the centre patch a, a neighbour b and its label in 0..7 (NEIGHBOURS).

    The 3 x 3 layout (cells p + gap apart) is placed at a random offset within the slack, and each
    patch moves by up to ``jitter`` px on its own. Returns a, b (B, C, p, p), labels (B,) and the
    top-left corners (B, 2, 2) = [[top_a, left_a], [top_b, left_b]]. ``labels`` fixes the neighbours."""
    bsz, _, h, w = x.shape
    slack = min(relative_position_layout(h, patch, gap, jitter),
                relative_position_layout(w, patch, gap, jitter))
    dev = x.device

    def randint(lo: int, hi: int, *shape: int) -> torch.Tensor:  # uniform in [lo, hi]
        return torch.randint(lo, hi + 1, shape, generator=generator, device=dev)

    if labels is None:
        labels = randint(0, 7, bsz)
    cell = patch + gap
    origin = randint(0, slack, bsz, 2) + jitter + cell  # the centre cell's corner, before jitter
    offsets = torch.tensor(NEIGHBOURS, device=dev)[labels] * cell  # (B, 2)
    corner_a = origin + randint(-jitter, jitter, bsz, 2)
    corner_b = origin + offsets + randint(-jitter, jitter, bsz, 2)
    a = crop(x, corner_a[:, 0], corner_a[:, 1], patch)
    b = crop(x, corner_b[:, 0], corner_b[:, 1], patch)
    return a, b, labels, torch.stack([corner_a, corner_b], 1)


@dataclass(frozen=True)
class PatchPositionConfig:
    channels: int = 1
    patch: int = 8
    stride: int = 4  # grid of the probes' features
    gap: int = 1
    jitter: int = 1
    width: int = 16
    embed_dim: int = 32


class PatchPosition(PatchModel):
    """The shared patch encoder and a classifier of the pair [z_a; z_b] into the 8 neighbours."""

    def __init__(self, cfg: PatchPositionConfig):
        super().__init__(cfg.channels, cfg.patch, cfg.stride, cfg.width, cfg.embed_dim)
        self.cfg = cfg
        d = cfg.embed_dim
        self.head = nn.Sequential(nn.Linear(2 * d, 2 * d), nn.ReLU(), nn.Linear(2 * d, len(NEIGHBOURS)))

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """a, b (B, C, p, p) -> logits (B, 8)."""
        return self.head(torch.cat([self.encoder(a), self.encoder(b)], 1))


def patch_position_loss(
    model: PatchPosition, x: torch.Tensor, generator: torch.Generator | None = None,
    labels: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy of the neighbour classifier on one pair per image (random neighbours unless
    ``labels`` fixes them), and its accuracy."""
    cfg = model.cfg
    a, b, labels, _ = relative_position_pairs(x, cfg.patch, cfg.gap, cfg.jitter, generator, labels)
    logits = model(a, b)
    return F.cross_entropy(logits, labels), (logits.argmax(1) == labels).float().mean()
