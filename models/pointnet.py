"""PointNet (Qi et al., 2017): classification of an unordered point set.

Method
------
Input: a cloud X in R^{N x 3}, one row per point, in no particular order.

0. (Optional, ``canonical_pose``) rotate the cloud into its principal axes (closed form, PCA).
1. Input transform: a small PointNet (the T-Net) predicts a 3x3 matrix A from X; X <- X A.
2. Shared per-point MLP h_1: every point is mapped alone, R^3 -> R^{c_1} (the same weights for all points).
3. Feature transform: a second T-Net predicts a c_1 x c_1 matrix B; features F <- F B.
   B is kept close to a rotation by the regulariser  L_reg = || I - B B^T ||_F^2.
4. Shared per-point MLP h_2: R^{c_1} -> R^{D} (its last layer linear: the max-pool after it is the
   non-linearity).
5. Symmetric max-pool over points: g_j = max_i h_2(x_i)_j, a global feature g in R^D. Because max is
   symmetric, f(X) = f(PX) for every permutation P: the network is invariant to the order of points.
6. Classifier head: MLP with dropout, R^D -> R^{classes}.

The points i* = argmax_i h_2(x_i)_j that win the max-pool for some j are the *critical points*: the
global feature (and so the prediction) depends on them alone; every other point can move a little,
or vanish, without changing the output. At most D of them exist.

Loss: cross-entropy(logits, y) + w_reg * L_reg (see ``pointnet_loss``).

Layout: per-point layers are Linear layers on (B*N, C) rows (a 1x1 convolution written as one
matmul, the fastest form on CPU), with BatchNorm over all points of the batch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class PointNetConfig:
    """Sizes of the network. Defaults are lean: this lab trains on a 2-core CPU within a minute."""

    num_classes: int = 11
    points: int = 1024                       # points per cloud the model is trained on
    local_widths: tuple[int, ...] = (32,)           # h_1: per-point MLP before the feature transform
    global_widths: tuple[int, ...] = (64, 256)      # h_2: per-point MLP, last width = D (global feature)
    head_widths: tuple[int, ...] = (128,)           # classifier MLP after the max-pool
    dropout: float = 0.3
    input_transform: bool = True
    feature_transform: bool = True
    tnet_widths: tuple[int, ...] = (16, 32, 64)    # the T-Nets' own per-point widths (then a max-pool)
    reg_weight: float = 1e-3                  # w_reg of the orthogonality regulariser
    canonical_pose: bool = False              # rotate each cloud into its principal axes first (PCA)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> PointNetConfig:
        known = {f for f in cls.__dataclass_fields__}
        kw = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in known}
        return cls(**kw)


def _mlp(widths: list[int], plain_last: bool = False) -> nn.Sequential:
    """Linear + BatchNorm + ReLU for each consecutive pair of widths (applied to rows).

    ``plain_last``: the last layer is a plain Linear. Used before a max-pool, which is itself the
    non-linearity; and BatchNorm/ReLU on the widest per-point layer were half of the training time on
    a CPU (they are memory-bound over B*N rows) for no accuracy we could measure."""
    layers: list[nn.Module] = []
    pairs = list(zip(widths[:-1], widths[1:], strict=True))
    for i, (c_in, c_out) in enumerate(pairs):
        if plain_last and i == len(pairs) - 1:
            # No bias: a per-channel constant commutes with the max-pool, so the layer after the
            # pool adds it for 1/N of the cost.
            layers.append(nn.Linear(c_in, c_out, bias=False))
        else:
            layers += [nn.Linear(c_in, c_out, bias=False), nn.BatchNorm1d(c_out), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


def _per_point(mlp: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Apply a row-wise MLP to every point: (B, N, C) -> (B, N, C')."""
    b, n, c = x.shape
    return mlp(x.reshape(b * n, c)).reshape(b, n, -1)


@torch.no_grad()
def principal_axes_pose(x: torch.Tensor) -> torch.Tensor:
    """Express each centred cloud (B, N, 3) in the eigenvectors of its covariance C = X^T X / N,
    each axis signed so the third moment sum_i y_i^3 is positive.

    A closed-form alignment: any rotation of the input gives the same output (up to ties between
    equal eigenvalues, e.g. the symmetry axis of a cylinder), and it is symmetric in the points.
    Under full 3D rotations it does what the learned input T-Net finds hard to learn."""
    c = x - x.mean(dim=1, keepdim=True)
    cov = c.transpose(1, 2) @ c / x.shape[1]                          # (B, 3, 3)
    _, axes = torch.linalg.eigh(cov.double())                         # columns, ascending eigenvalues
    y = c @ axes.to(x.dtype)                                          # (B, N, 3)
    sign = torch.sign(y.pow(3).sum(dim=1, keepdim=True))
    return y * torch.where(sign == 0, torch.ones_like(sign), sign)


class TNet(nn.Module):
    """Predicts a k x k matrix from a set of k-dim points: PointNet -> max-pool -> MLP -> I + delta.

    The last layer starts at zero, so at initialisation the transform is the identity."""

    def __init__(self, k: int, widths: tuple[int, ...]):
        super().__init__()
        self.k = k
        self.points = _mlp([k, *widths], plain_last=True)
        self.head = nn.Sequential(nn.Linear(widths[-1], widths[-1] // 2), nn.ReLU(inplace=True),
                                  nn.Linear(widths[-1] // 2, k * k))
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, N, k) -> (B, k, k)
        g = _per_point(self.points, x).max(dim=1).values          # (B, W)
        delta = self.head(g).view(-1, self.k, self.k)
        return torch.eye(self.k, device=x.device, dtype=x.dtype) + delta


@dataclass
class PointNetOutput:
    logits: torch.Tensor                     # (B, classes)
    critical: torch.Tensor                   # (B, D) index of the point that wins each max-pool channel
    feature_transform: torch.Tensor | None   # (B, c1, c1), or None without the feature T-Net
    global_feature: torch.Tensor = field(repr=False, default=None)  # (B, D)


class PointNet(nn.Module):
    """Input: points (B, N, 3). Output: PointNetOutput (logits, critical-point indices, transform)."""

    def __init__(self, cfg: PointNetConfig):
        super().__init__()
        self.cfg = cfg
        c1 = cfg.local_widths[-1]
        self.input_tnet = TNet(3, cfg.tnet_widths) if cfg.input_transform else None
        self.local_mlp = _mlp([3, *cfg.local_widths])
        self.feature_tnet = TNet(c1, cfg.tnet_widths) if cfg.feature_transform else None
        self.global_mlp = _mlp([c1, *cfg.global_widths], plain_last=True)
        head: list[nn.Module] = []
        widths = [cfg.global_widths[-1], *cfg.head_widths]
        for c_in, c_out in zip(widths[:-1], widths[1:], strict=True):
            head += [nn.Linear(c_in, c_out, bias=False), nn.BatchNorm1d(c_out), nn.ReLU(inplace=True),
                     nn.Dropout(cfg.dropout)]
        head.append(nn.Linear(widths[-1], cfg.num_classes))
        self.head = nn.Sequential(*head)

    def forward(self, points: torch.Tensor) -> PointNetOutput:
        x = principal_axes_pose(points) if self.cfg.canonical_pose else points   # (B, N, 3)
        if self.input_tnet is not None:
            x = torch.bmm(x, self.input_tnet(x))                      # (B, N, 3)
        f = _per_point(self.local_mlp, x)                             # (B, N, c1)
        transform = None
        if self.feature_tnet is not None:
            transform = self.feature_tnet(f)                          # (B, c1, c1)
            f = torch.bmm(f, transform)                               # (B, N, c1)
        f = _per_point(self.global_mlp, f)                            # (B, N, D)
        g, critical = f.max(dim=1)                                    # (B, D), (B, D): the symmetric pool
        return PointNetOutput(self.head(g), critical, transform, g)


def orthogonality_regulariser(transform: torch.Tensor) -> torch.Tensor:
    """L_reg = mean over the batch of || I - A A^T ||_F^2 ; zero exactly when A is orthogonal."""
    k = transform.shape[-1]
    eye = torch.eye(k, device=transform.device, dtype=transform.dtype)
    diff = eye - torch.bmm(transform, transform.transpose(1, 2))
    return diff.pow(2).sum(dim=(1, 2)).mean()


def pointnet_loss(out: PointNetOutput, labels: torch.Tensor, reg_weight: float) -> torch.Tensor:
    """Cross-entropy on the logits + reg_weight * orthogonality of the feature transform."""
    loss = F.cross_entropy(out.logits, labels)
    if out.feature_transform is not None and reg_weight > 0:
        loss = loss + reg_weight * orthogonality_regulariser(out.feature_transform)
    return loss


def critical_point_indices(critical: torch.Tensor) -> list[torch.Tensor]:
    """The distinct critical points of each cloud: (B, D) winners -> B sorted index tensors."""
    return [torch.unique(row) for row in critical]
