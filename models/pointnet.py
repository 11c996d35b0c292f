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
    equalise_axes: bool = False               # with canonical_pose: scale the three axes to one spread
    outlier_cell: float = 0.0                 # > 0: ignore points alone in a grid cell this big (at 1024 pts)

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


def _per_point(mlp: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """Apply a row-wise MLP to every point: (B, N, C) -> (B, N, C').

    In eval mode without autograd, each Linear + BatchNorm pair runs as one Linear with the
    BatchNorm folded in (``_folded``): the same function, one pass over the rows fewer per layer."""
    b, n, c = x.shape
    rows = x.reshape(b * n, c)
    if mlp.training or torch.is_grad_enabled():
        return mlp(rows).reshape(b, n, -1)
    for weight_t, bias, relu in _folded(mlp):
        rows = rows @ weight_t if bias is None else torch.addmm(bias, rows, weight_t)
        if relu:
            rows = rows.relu_()
    return rows.reshape(b, n, -1)


@torch.no_grad()
def _folded(mlp: nn.Sequential) -> list[tuple[torch.Tensor, torch.Tensor | None, bool]]:
    """The eval-mode layers of an ``_mlp`` as (W^T, bias or None, ReLU after?), BatchNorm folded in:
    BN(xW^T) = x (W s)^T + (beta - mu s), s = gamma / sqrt(var + eps).

    Cached on the module, keyed on the version counters of its tensors, so a training step or a
    load_state_dict (both change them in place) refolds it."""
    tensors = [*mlp.parameters(), *mlp.buffers()]
    key = tuple((t.data_ptr(), t._version) for t in tensors)
    cached = mlp.__dict__.get("_folded_cache")
    if cached is not None and cached[0] == key:
        return cached[1]
    mods, layers, i = list(mlp), [], 0
    while i < len(mods):
        lin = mods[i]
        w, bias = lin.weight, lin.bias
        i += 1
        if i < len(mods) and isinstance(mods[i], nn.BatchNorm1d):
            bn = mods[i]
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            shift = bn.bias - bn.running_mean * scale
            w, bias = w * scale[:, None], shift if bias is None else bias * scale + shift
            i += 1
        relu = i < len(mods) and isinstance(mods[i], nn.ReLU)
        i += int(relu)
        layers.append((w.t().contiguous(), None if bias is None else bias.clone(), relu))
    mlp.__dict__["_folded_cache"] = (key, layers)
    return layers


def isolated_points(x: torch.Tensor, cell: float, reference_points: int = 1024) -> torch.Tensor:
    """(B, N, 3) -> (B, N) bool: True for a point that is alone in its cell of two occupancy grids
    (the second shifted by half a cell), i.e. no other point within about ``cell`` of it.

    A surface sampled with N points is dense in 2D; uniform outliers scattered through the volume are
    not. The cell grows as sqrt(reference_points / N), like the spacing of N points on a surface, so
    a random half of a cloud is judged as the whole one. O(N) (a scatter-add per grid), unlike k-NN.
    Catches most outliers more than a cell from the surface; the ones it misses lie near it."""
    b, n, _ = x.shape
    size = cell * (reference_points / max(1, n)) ** 0.5
    g = int(2.5 / size) + 2                      # cells per axis over [-1.25, 1.25] (+ the shift)
    base = torch.arange(b, device=x.device)[:, None] * g ** 3
    alone = torch.ones(b, n, dtype=torch.bool, device=x.device)
    ones = torch.ones(b * n, dtype=torch.int32, device=x.device)
    for shift in (0.0, 0.5):
        ijk = ((x.detach() + 1.25) / size + shift).floor().long().clamp_(0, g - 1)
        key = ((ijk[..., 0] * g + ijk[..., 1]) * g + ijk[..., 2] + base).reshape(-1)
        count = torch.zeros(b * g ** 3, dtype=torch.int32, device=x.device).index_add_(0, key, ones)
        alone &= (count[key] <= 1).view(b, n)
    return alone


@torch.no_grad()
def principal_axes_pose(x: torch.Tensor, weight: torch.Tensor | None = None,
                        equalise: bool = False) -> torch.Tensor:
    """Express each centred cloud (B, N, 3) in the eigenvectors of its covariance C = X^T X / N,
    each axis signed so the third moment sum_i y_i^3 is positive.

    A closed-form alignment: any rotation of the input gives the same output (up to ties between
    equal eigenvalues, e.g. the symmetry axis of a cylinder), and it is symmetric in the points.
    Under full 3D rotations it does what the learned input T-Net finds hard to learn.

    ``weight`` (B, N), 0 or 1: the centroid, covariance and third moments are those of the points of
    weight 1 (outliers left out); every point is still moved. ``equalise``: also scale each axis to
    the same spread (the RMS of the three): an anisotropic stretch of the shape along its principal
    axes is undone, so a box is a cube again and an ellipsoid a sphere."""
    w = torch.ones(x.shape[:2], dtype=x.dtype, device=x.device) if weight is None else weight.to(x.dtype)
    w = (w / w.sum(dim=1, keepdim=True).clamp_min(1))[:, :, None]     # (B, N, 1), sums to 1
    c = x - (w * x).sum(dim=1, keepdim=True)
    cov = c.transpose(1, 2) @ (w * c)                                 # (B, 3, 3)
    var, axes = torch.linalg.eigh(cov.double())                       # columns, ascending eigenvalues
    y = c @ axes.to(x.dtype)                                          # (B, N, 3)
    sign = torch.sign((w * y.pow(3)).sum(dim=1, keepdim=True))
    y = y * torch.where(sign == 0, torch.ones_like(sign), sign)
    if equalise:
        var = var.clamp_min(1e-12)
        y = y * (var.mean(dim=1, keepdim=True) / var).sqrt().to(x.dtype)[:, None, :]
    return y


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
        f = _per_point(self.points, x)
        g = f.max(dim=1).values if torch.is_grad_enabled() else f.amax(dim=1)   # (B, W)
        delta = self.head(g).view(-1, self.k, self.k)
        return torch.eye(self.k, device=x.device, dtype=x.dtype) + delta


@dataclass
class PointNetOutput:
    logits: torch.Tensor                     # (B, classes)
    feature_transform: torch.Tensor | None   # (B, c1, c1), or None without the feature T-Net
    global_feature: torch.Tensor = field(repr=False, default=None)  # (B, D)
    winners: torch.Tensor | None = field(repr=False, default=None)  # (B, D) argmax of the pool, if known
    point_features: torch.Tensor | None = field(repr=False, default=None)  # (B, N, D) to find them later
    source: torch.Tensor | None = field(repr=False, default=None)   # (B, N) the point each row copies

    @property
    def critical(self) -> torch.Tensor:
        """(B, D) index of the point that wins each max-pool channel (found on first use: without
        autograd the pool takes only the max values, several times faster than max with indices)."""
        if self.winners is None:
            self.winners = self.point_features.argmax(dim=1)
            self.point_features = None
        return self.winners if self.source is None else torch.gather(self.source, 1, self.winners)


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

    def inliers(self, points: torch.Tensor) -> torch.Tensor | None:
        """(B, N) bool, False for the points the model ignores as outliers (None: it keeps all).

        A cloud where more than a quarter of the points are isolated is sparse, not noisy: it keeps all."""
        if self.cfg.outlier_cell <= 0:
            return None
        alone = isolated_points(points, self.cfg.outlier_cell)
        sparse = alone.sum(dim=1, keepdim=True) * 4 > points.shape[1]
        return ~alone | sparse

    def forward(self, points: torch.Tensor) -> PointNetOutput:
        keep = self.inliers(points)                                   # (B, N) or None
        x = principal_axes_pose(points, keep, self.cfg.equalise_axes) if self.cfg.canonical_pose else points
        source = None
        if keep is not None:
            # Every ignored point becomes a copy of its cloud's first kept point: a max over a set does
            # not change when one of its members is repeated. ``source`` maps the copies back.
            n = points.shape[1]
            first = keep.to(torch.uint8).argmax(dim=1, keepdim=True)  # (B, 1)
            source = torch.where(keep, torch.arange(n, device=points.device), first)
            x = torch.gather(x, 1, source[:, :, None].expand(-1, -1, 3))
        if self.input_tnet is not None:
            x = torch.bmm(x, self.input_tnet(x))                      # (B, N, 3)
        f = _per_point(self.local_mlp, x)                             # (B, N, c1)
        transform = None
        if self.feature_tnet is not None:
            transform = self.feature_tnet(f)                          # (B, c1, c1)
            f = torch.bmm(f, transform)                               # (B, N, c1)
        f = _per_point(self.global_mlp, f)                            # (B, N, D)
        # The symmetric pool, (B, D). Training needs the winners (the backward pass scatters to them,
        # faster than amax's); inference finds them only if asked (``PointNetOutput.critical``).
        if torch.is_grad_enabled():
            g, winners = f.max(dim=1)
            return PointNetOutput(self.head(g), transform, g, winners, source=source)
        g = f.amax(dim=1)
        return PointNetOutput(self.head(g), transform, g, point_features=f, source=source)


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
