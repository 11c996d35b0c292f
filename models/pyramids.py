"""Image pyramid, feature pyramid (FPN) and SNIP: three answers to "objects come in every size".

One detection head, FCOS-style (Tian et al. 2019), is used everywhere: each location (x, y) of a
stride-s map, the centre of its cell ((i + 1/2) s), predicts C class logits, the distances
(l, t, r, b) to the sides of its object's box (exp(a_level * z) * s) and a centre-ness logit.
What differs is *which maps* the head sees and *which objects* each map is taught.

Single level (the baseline, like the FPN paper's one-map C4 detector)
    backbone C3 (stride 8) -> head. Every object, 6 px or 190 px, is learned at stride 8.

Feature pyramid (Lin et al. 2017)
    backbone C3, C4, C5 (strides 8, 16, 32) -> ``torchvision.ops.FeaturePyramidNetwork``: lateral
    1x1 convolutions, a top-down path (each coarser map upsampled x2 and added), a 3x3 smoothing
    convolution per level, and ``LastLevelMaxPool`` for P6 (stride 64). One head, shared by P3..P6,
    with a learned scale a_k per level. An object of box w x h goes to level
        k = clamp( floor( k0 + log2( sqrt(w h) / s0 ) ), 3, 6 )
    (the paper's rule; here k0 = 4, s0 = 32, so P3 takes the COCO-small objects under 32 px, P4 32-64,
    P5 64-128, P6 the larger ones). The other levels treat its locations as background.
    One forward pass.

Image pyramid
    the single-level detector run on the image rescaled by each factor f (e.g. 0.5, 1, 2); boxes are
    mapped back (divided by f) and merged by class-aware NMS. A pass per level.

SNIP (Singh & Davis 2018)
    the single-level detector trained on all the pyramid's scales, where scale f learns only the
    objects whose size in the original image, sqrt(w h), lies in its valid range [lo_f, hi_f]
    (2x: the small ones, 0.5x: the large ones). An object out of range is *ignored* at that scale:
    its locations are neither positive nor background. At test time each scale answers only for
    boxes in its range, then the same merge.

Targets at a level of stride s: the locations inside the box and within ``center_radius`` * s of
its centre (FCOS's centre sampling) are positive; a box too small to hold a location centre gets
the cell under its centre. Where boxes compete the smallest wins.
Loss (N_pos positives, torchvision's focal and GIoU losses):
    L = 1/N_pos sum_locations focal(p, c*)  +  sum_pos ctr* GIoU-loss / sum_pos ctr*  +  1/N_pos sum_pos BCE(ctr, ctr*)
Score: sqrt(p_class * centre-ness).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.centernet import channels_last, conv_bn, normalise
from models.fcos import ltrb_to_boxes


@dataclass(frozen=True)
class PyramidConfig:
    num_classes: int = 3
    width: int = 16                  # backbone channels at stride 4 (2w at C3, 3w at C4, 4w at C5)
    channels: int = 32               # channels of the maps the head sees (FPN out_channels)
    input_size: int = 384
    arch: str = "fpn"                # "single": C3 alone; "fpn": P3..P6
    k0: int = 4                      # FPN level rule: k = k0 + log2(sqrt(wh) / s0)
    s0: float = 32.0
    center_radius: float = 1.5       # positives within this many strides of the box centre
    max_candidates: int = 300

    @property
    def levels(self) -> tuple[int, ...]:
        return (3, 4, 5, 6) if self.arch == "fpn" else (3,)

    @property
    def strides(self) -> tuple[int, ...]:
        return tuple(2 ** k for k in self.levels)

    def to_dict(self) -> dict:
        return asdict(self)


def assign_levels(boxes: np.ndarray, levels=(3, 4, 5, 6), k0: int = 4, s0: float = 32.0) -> np.ndarray:
    """The FPN rule: level k = clamp(floor(k0 + log2(sqrt(w h) / s0)), min level, max level) per box."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    side = np.sqrt(np.maximum(b[:, 2] - b[:, 0], 1e-6) * np.maximum(b[:, 3] - b[:, 1], 1e-6))
    k = np.floor(k0 + np.log2(side / s0))
    return np.clip(k, min(levels), max(levels)).astype(np.int64)


def object_sizes(boxes: np.ndarray) -> np.ndarray:
    """sqrt(w h) of each box: the size the level rule and SNIP's ranges speak of."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    return np.sqrt(np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None))


def in_valid_range(boxes: np.ndarray, valid: tuple[float, float]) -> np.ndarray:
    """SNIP's filter: True where lo <= sqrt(w h) <= hi (sizes in the original image's pixels)."""
    s = object_sizes(boxes)
    return (s >= valid[0]) & (s <= valid[1])


def grid_sizes(size: int, strides) -> list[int]:
    """Side of each level's map for a square input of ``size`` (P6 is a stride-2 pool of P5)."""
    out, n = [], size
    for s in strides:
        n = math.ceil(size / s) if s <= 32 else (out[-1] - 1) // 2 + 1
        out.append(n)
    return out


def encode(boxes: np.ndarray, labels: np.ndarray, cfg: PyramidConfig, size: int | None = None,
           ignore: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Dense targets over all levels' locations, flattened level after level (L = sum of h_k w_k):
    cls (C, L) one-hot at positives, box (4, L), ctr (L,), pos (L,), weight (L,) (0: ignored by the
    class loss, SNIP's out-of-range objects), level (L,) the level of each location.
    ``ignore[i]`` True: box i makes its locations 'ignore' instead of positive."""
    size = cfg.input_size if size is None else size
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    labels = np.asarray(labels).reshape(-1)
    ignore = np.zeros(len(boxes), bool) if ignore is None else np.asarray(ignore, bool)
    owner_level = assign_levels(boxes, cfg.levels, cfg.k0, cfg.s0)
    parts = {"cls": [], "box": [], "ctr": [], "pos": [], "weight": [], "level": []}
    for k, stride, n in zip(cfg.levels, cfg.strides, grid_sizes(size, cfg.strides), strict=True):
        c = (np.arange(n, dtype=np.float32) + 0.5) * stride
        x, y = np.meshgrid(c, c)
        cls = np.zeros((cfg.num_classes, n, n), np.float32)
        box = np.zeros((4, n, n), np.float32)
        area = np.full((n, n), np.inf, np.float32)
        weight = np.ones((n, n), np.float32)
        pos = np.zeros((n, n), bool)
        for i in np.flatnonzero(owner_level == k):
            b = boxes[i]
            cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
            r = cfg.center_radius * stride
            mask = ((x > b[0]) & (x < b[2]) & (y > b[1]) & (y < b[3])
                    & (np.abs(x - cx) <= r) & (np.abs(y - cy) <= r))
            if not mask.any():                                   # smaller than a cell: its centre's cell
                mask = np.zeros((n, n), bool)
                mask[min(int(cy // stride), n - 1), min(int(cx // stride), n - 1)] = True
            if ignore[i]:
                weight[mask & ~pos] = 0.0
                continue
            a = (b[2] - b[0]) * (b[3] - b[1])
            mask &= a < area
            area[mask] = a
            pos |= mask
            weight[mask] = 1.0
            box[:, mask] = b[:, None]
            cls[:, mask] = 0
            cls[int(labels[i]), mask] = 1
        ltrb = np.stack([x - box[0], y - box[1], box[2] - x, box[3] - y]).clip(min=1e-3)
        ctr = np.sqrt(np.minimum(ltrb[0], ltrb[2]) / np.maximum(ltrb[0], ltrb[2])
                      * np.minimum(ltrb[1], ltrb[3]) / np.maximum(ltrb[1], ltrb[3])) * pos
        for name, v in (("cls", cls.reshape(cfg.num_classes, -1)), ("box", box.reshape(4, -1)),
                        ("ctr", ctr.reshape(-1)), ("pos", pos.reshape(-1)), ("weight", weight.reshape(-1)),
                        ("level", np.full(n * n, k))):
            parts[name].append(v)
    return {"cls": np.concatenate(parts["cls"], 1), "box": np.concatenate(parts["box"], 1),
            "ctr": np.concatenate(parts["ctr"]).astype(np.float32),
            "pos": np.concatenate(parts["pos"]).astype(np.float32),
            "weight": np.concatenate(parts["weight"]).astype(np.float32),
            "level": np.concatenate(parts["level"]).astype(np.int64)}


class Backbone(nn.Module):
    """Plain strided convolutions: C3, C4, C5 at strides 8, 16, 32 with 2w, 3w, 4w channels."""

    def __init__(self, w: int, deepest: int = 5):
        super().__init__()
        self.stem = nn.Sequential(conv_bn(3, w // 2, 2), conv_bn(w // 2, w, 2), conv_bn(w, w))   # /4
        self.c3 = nn.Sequential(conv_bn(w, 2 * w, 2), conv_bn(2 * w, 2 * w))                     # /8
        self.c4 = nn.Sequential(conv_bn(2 * w, 3 * w, 2), conv_bn(3 * w, 3 * w)) if deepest >= 4 else None
        self.c5 = nn.Sequential(conv_bn(3 * w, 4 * w, 2), conv_bn(4 * w, 4 * w)) if deepest >= 5 else None
        self.channels = [2 * w, 3 * w, 4 * w][: deepest - 2]

    def forward(self, x: torch.Tensor) -> OrderedDict:
        feats = OrderedDict(c3=self.c3(self.stem(x)))                  # (B, 2w, H/8, W/8)
        if self.c4 is not None:
            feats["c4"] = self.c4(feats["c3"])                         # (B, 3w, H/16, W/16)
        if self.c5 is not None:
            feats["c5"] = self.c5(feats["c4"])                         # (B, 4w, H/32, W/32)
        return feats


class PyramidDetector(nn.Module):
    """``arch="single"``: C3 -> two 3x3 convolutions -> head. ``arch="fpn"``: C3..C5 -> FPN -> P3..P6,
    one head for all. forward: images (B, 3, H, W) in [0, 1] -> dict of per-level lists
    cls (B, C, h, w), ltrb (B, 4, h, w) pixels, ctr (B, 1, h, w), features (B, F, h, w)."""

    def __init__(self, cfg: PyramidConfig):
        super().__init__()
        from torchvision.ops import FeaturePyramidNetwork
        from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

        self.cfg = cfg
        f = cfg.channels
        if cfg.arch == "fpn":
            self.backbone = Backbone(cfg.width, 5)
            self.neck = FeaturePyramidNetwork(self.backbone.channels, f, extra_blocks=LastLevelMaxPool())
        elif cfg.arch == "single":
            self.backbone = Backbone(cfg.width, 3)
            self.neck = nn.Sequential(conv_bn(2 * cfg.width, f), conv_bn(f, f))
        else:
            raise ValueError(f"unknown architecture {cfg.arch!r}: 'single' or 'fpn'")
        self.tower = nn.Sequential(nn.Conv2d(f, f, 3, 1, 1), nn.ReLU(inplace=True))   # shared by all levels
        self.cls = nn.Conv2d(f, cfg.num_classes, 1)
        self.reg = nn.Conv2d(f, 4, 1)
        self.ctr = nn.Conv2d(f, 1, 1)
        nn.init.constant_(self.cls.bias, -4.6)               # prior 0.01 (RetinaNet's)
        self.scales = nn.Parameter(torch.ones(len(cfg.levels)))
        channels_last(self)

    def pyramid(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The maps the head sees, finest first: [P3] or [P3, P4, P5, P6]."""
        feats = self.backbone(normalise(images))
        if self.cfg.arch == "single":
            return [self.neck(feats["c3"])]
        return list(self.neck(feats).values())

    def forward(self, images: torch.Tensor) -> dict[str, list[torch.Tensor]]:
        out = {"cls": [], "ltrb": [], "ctr": [], "features": []}
        for i, (p, stride) in enumerate(zip(self.pyramid(images), self.cfg.strides, strict=True)):
            t = self.tower(p)
            out["features"].append(p)
            out["cls"].append(self.cls(t))
            out["ctr"].append(self.ctr(t))
            out["ltrb"].append(torch.exp((self.scales[i] * self.reg(t)).clamp(max=8.0)) * stride)
        return out

    def encode(self, boxes, labels, size: int | None = None, ignore=None) -> dict[str, np.ndarray]:
        return encode(boxes, labels, self.cfg, size, ignore)

    def loss(self, out, tgt) -> dict[str, torch.Tensor]:
        return detection_loss(out, tgt, self.cfg)

    def candidates(self, out) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        return [c[:3] for c in decode(out, self.cfg)]


def flat(maps: list[torch.Tensor]) -> torch.Tensor:
    """Per-level (B, K, h, w) maps -> (B, K, sum h w), level after level (the targets' order)."""
    return torch.cat([m.flatten(2) for m in maps], 2)


def detection_loss(out, tgt, cfg: PyramidConfig) -> dict[str, torch.Tensor]:
    from torchvision.ops import generalized_box_iou_loss, sigmoid_focal_loss

    pos = tgt["pos"] > 0                                             # (B, L)
    n_pos = pos.sum().clamp(min=1).float()
    logits = flat(out["cls"])                                        # (B, C, L)
    focal = sigmoid_focal_loss(logits, tgt["cls"], reduction="none").sum(1)
    cls = (focal * tgt["weight"]).sum() / n_pos
    boxes = torch.cat([ltrb_to_boxes(m, s).flatten(1, 2) for m, s in zip(out["ltrb"], cfg.strides, strict=True)],
                      1)                                             # (B, L, 4)
    ctr_t = tgt["ctr"][pos]
    if ctr_t.numel():
        giou = (generalized_box_iou_loss(boxes[pos], tgt["box"].transpose(1, 2)[pos], reduction="none")
                * ctr_t).sum() / ctr_t.sum().clamp(min=1e-6)
        ctr = F.binary_cross_entropy_with_logits(flat(out["ctr"])[:, 0][pos], ctr_t, reduction="sum") / n_pos
    else:
        giou = ctr = logits.sum() * 0
    return {"loss": cls + giou + ctr, "class": cls, "giou": giou, "centerness": ctr}


def decode(out, cfg: PyramidConfig, k: int | None = None):
    """Per image the top-k (boxes xyxy, scores, labels, level index) over all levels, before NMS."""
    k = cfg.max_candidates if k is None else k
    scores = flat([torch.sqrt(torch.sigmoid(c) * torch.sigmoid(t)) for c, t in zip(out["cls"], out["ctr"],
                                                                                     strict=True)])
    boxes = torch.cat([ltrb_to_boxes(m, s).flatten(1, 2) for m, s in zip(out["ltrb"], cfg.strides, strict=True)], 1)
    level = torch.cat([torch.full((m.shape[2] * m.shape[3],), i) for i, m in enumerate(out["cls"])])
    b, c, n = scores.shape
    top, idx = scores.reshape(b, -1).topk(min(k, c * n))
    labels, cell = idx // n, idx % n
    return [(boxes[i, cell[i]], top[i], labels[i], level[cell[i]]) for i in range(b)]


def merge_scales(per_scale, factors, valid=None, iou: float = 0.5):
    """The image pyramid's (and SNIP's) merge. ``per_scale[j] = (boxes, scores, labels)`` found on the
    image resized by ``factors[j]``; boxes come back divided by the factor; with ``valid[j] = (lo, hi)``
    (SNIP) only boxes whose size in the original image lies in the range survive; then class-aware NMS
    at ``iou`` (None: no NMS). Returns (boxes, scores, labels, scale index) tensors."""
    from torchvision.ops import batched_nms

    parts = []
    for j, ((b, s, lab), f) in enumerate(zip(per_scale, factors, strict=True)):
        b = torch.as_tensor(b).detach().float().reshape(-1, 4) / float(f)
        s, lab = torch.as_tensor(s).detach().float().reshape(-1), torch.as_tensor(lab).long().reshape(-1)
        if valid is not None:
            side = torch.sqrt((b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0))
            keep = (side >= valid[j][0]) & (side <= valid[j][1])
            b, s, lab = b[keep], s[keep], lab[keep]
        parts.append((b, s, lab, torch.full((len(s),), j, dtype=torch.long, device=lab.device)))
    b, s, lab, lev = (torch.cat([p[i] for p in parts]) for i in range(4))
    if iou is not None and len(s):
        keep = batched_nms(b, s, lab, iou)
        b, s, lab, lev = b[keep], s[keep], lab[keep], lev[keep]
    return b, s, lab, lev


@dataclass(frozen=True)
class SnipConfig:
    detector: dict                                   # the single-level detector's PyramidConfig
    factors: tuple[float, ...] = (0.5, 1.0, 2.0)
    valid: tuple[tuple[float, float], ...] = ((80.0, 1e4), (24.0, 112.0), (0.0, 40.0))
    arch: str = "snip"

    @property
    def num_classes(self) -> int:
        return self.detector["num_classes"]

    def to_dict(self) -> dict:
        return asdict(self)


class SnipTrainer(nn.Module):
    """SNIP training of a single-level detector: training step k sees its whole batch at factor
    k mod L and is taught there only the objects in that factor's valid range (the others are
    ignored). One scale a step, not one scale an image: split three ways, a batch's scales would
    each get one or two images, and batch-norm statistics of one or two images train badly (a first
    version did that and scored far below the image pyramid). In eval mode it runs every factor and
    merges (``merge_scales``)."""

    def __init__(self, cfg: SnipConfig):
        super().__init__()
        self.cfg = cfg
        self.detector = PyramidDetector(PyramidConfig(**cfg.detector))
        self.steps = 0          # training forwards so far: each lane's replica counts its own, in step

    def _resize(self, x: torch.Tensor, f: float) -> torch.Tensor:
        return x if f == 1.0 else F.interpolate(x, scale_factor=f, mode="bilinear", align_corners=False)

    def forward(self, images: torch.Tensor):
        if not self.training:
            return [self.detector(self._resize(images, f)) for f in self.cfg.factors]
        j = self.steps % len(self.cfg.factors)
        self.steps += 1
        return j, self.detector(self._resize(images, self.cfg.factors[j]))

    def encode(self, boxes, labels) -> dict[str, np.ndarray]:
        size = self.detector.cfg.input_size
        out = {}
        for j, (f, rng) in enumerate(zip(self.cfg.factors, self.cfg.valid, strict=True)):
            t = self.detector.encode(np.asarray(boxes, np.float32) * f, labels, round(size * f),
                                     ignore=~in_valid_range(boxes, rng))
            out.update({f"s{j}_{k}": v for k, v in t.items()})
        return out

    def loss(self, out, tgt) -> dict[str, torch.Tensor]:
        j, o = out
        prefix = f"s{j}_"
        return self.detector.loss(o, {k[len(prefix):]: v for k, v in tgt.items() if k.startswith(prefix)})

    def candidates(self, outs):
        per_scale = [self.detector.candidates(o) for o in outs]              # [scale][image]
        return [merge_scales([c[i] for c in per_scale], self.cfg.factors, self.cfg.valid, iou=None)[:3]
                for i in range(len(per_scale[0]))]
