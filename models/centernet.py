"""CenterNet ("Objects as Points", Zhou et al. 2019), small enough to train on a CPU in minutes.

An object is its centre point. The network outputs, at stride R = 4:
- a heatmap Y_hat in [0, 1]^(C x H/R x W/R): one channel per class, peaks at object centres;
- an offset O_hat (2 x H/R x W/R): the sub-pixel part lost by rounding p / R to a cell;
- a size S_hat (2 x H/R x W/R): box width and height in input pixels / R.

Training targets: for a box with centre p and size (w, h), the cell p~ = floor(p / R) gets a
Gaussian bump Y = exp(-((x - p~x)^2 + (y - p~y)^2) / (2 sigma^2)), sigma = (2 r + 1) / 6, where the
radius r is CornerNet's rule: the largest shift of both corners that keeps IoU >= 0.7 with the box.
Overlapping bumps of one class take the element-wise max.

Loss (N objects):
    L_k   = -1/N sum { (1 - Y_hat)^2 log Y_hat                 where Y = 1
                      (1 - Y)^4 Y_hat^2 log(1 - Y_hat)         elsewhere }     (penalty-reduced focal)
    L_off = 1/N sum_p |O_hat_p~ - (p / R - p~)|
    L_size = 1/N sum_p |S_hat_p~ - (w, h) / R|
    L = L_k + L_off + 0.1 L_size                                     (the paper's)

Two terms are ours, not the paper's. L_class: a softmax cross-entropy across the class channels of
the heatmap logits, at every cell where an object's Gaussian is above 0.05 (weighted by it). The focal loss
trains each class channel on its own, and in short runs the detector found the centres long before
it told a circle from a square (after 250 steps the wrong class out-scored the right one at a third
of medium objects); the cross-entropy makes the channels compete. On the benchmark's scenes, after
500 steps: mAP@0.5 0.65 with it, 0.52 without.
L_GIoU (TTFNet, Liu et al. 2020): the paper trains offset and size at the centre cell only, one
sample per object. Here every cell where the object's Gaussian exceeds 0.01 also decodes a box
(cell + offset, size) and pays 1 - GIoU against the object's box, weighted by the Gaussian times
log(area); a peak one cell off the centre then still decodes the right box. After 1000 steps with
L_class: mAP@0.5:0.95 0.43 with it, 0.41 without (mAP@0.5 0.77 vs 0.79, within the noise).
    L = L_k + L_off + 0.1 L_size + L_class + 2 L_GIoU

Decoding needs no NMS: a peak is a heatmap value equal to the max of its 3 x 3 neighbourhood
(a 3 x 3 max-pool), and the top K peaks become boxes centred at (p~ + O_hat) R of size S_hat R.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class CenterNetConfig:
    num_classes: int = 5
    width: int = 32            # channels at stride 4 (w/2 at stride 2, 2w at 8, 3w at 16)
    input_size: int = 256
    stride: int = 4            # output stride R
    size_weight: float = 0.1
    class_weight: float = 1.0  # the class cross-entropy (see the module doc); 0 = the paper's loss
    box_weight: float = 2.0    # the GIoU of boxes decoded near each centre (see the module doc); 0 = off
    max_peaks: int = 100

    def to_dict(self) -> dict:
        return asdict(self)


class Pointwise(nn.Conv2d):
    """A 1 x 1 convolution computed as a matrix product over the channels-last pixels.

    Same parameters (and checkpoints) as ``nn.Conv2d(cin, cout, 1)``; torch sends 1 x 1 convolutions
    on the CPU to its slow im2col path and adds the bias in a separate copy, while ``F.linear`` is one
    GEMM with the bias fused: fwd + bwd of a 32 -> 32 -> 3 head on 8 x 32 x 64 x 64 took 13.5 ms
    instead of 17.5 ms here. Input and output are channels-last, so the permutes are free views."""

    def __init__(self, cin: int, cout: int, bias: bool = True):
        super().__init__(cin, cout, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x.permute(0, 2, 3, 1), self.weight.flatten(1), self.bias).permute(0, 3, 1, 2)


def conv_bn(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class TinyUNet(nn.Module):
    """Encoder down to stride 32, then a top-down path back to stride 4 with lateral additions (a
    one-branch FPN): deep context for big objects, fine cells for small ones. Widths w/2, w, 2w, 3w,
    4w at strides 2, 4, 8, 16, 32; out: (B, w, H/4, W/4). Kept thin: it trains on one CPU core.

    The stride-32 level (3 % of the work) sees a whole 128 px object from its centre; without it the
    box of a large object was guessed from its middle (AP large 0.43 vs 0.60 after 1000 steps)."""

    def __init__(self, width: int):
        super().__init__()
        w = width
        self.s2 = conv_bn(3, w // 2, 2)                                          # /2
        self.s4 = nn.Sequential(conv_bn(w // 2, w, 2), conv_bn(w, w))            # /4
        self.s8 = nn.Sequential(conv_bn(w, 2 * w, 2), conv_bn(2 * w, 2 * w))     # /8
        self.s16 = nn.Sequential(conv_bn(2 * w, 3 * w, 2), conv_bn(3 * w, 3 * w))  # /16
        self.s32 = nn.Sequential(conv_bn(3 * w, 4 * w, 2), conv_bn(4 * w, 4 * w))  # /32
        self.lat32 = Pointwise(4 * w, 3 * w)
        self.lat16 = Pointwise(3 * w, 2 * w)
        self.top8 = conv_bn(2 * w, 2 * w)
        self.lat8 = Pointwise(2 * w, w)
        self.top4 = conv_bn(w, w)
        self.out_channels = w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c4 = self.s4(self.s2(x))                          # (B, w, H/4, W/4)
        c8 = self.s8(c4)                                  # (B, 2w, H/8, W/8)
        c16 = self.s16(c8)                                # (B, 3w, H/16, W/16)
        c16 = c16 + F.interpolate(self.lat32(self.s32(c16)), scale_factor=2.0, mode="nearest")
        p8 = self.top8(F.interpolate(self.lat16(c16), scale_factor=2.0, mode="nearest") + c8)
        return self.top4(F.interpolate(self.lat8(p8), scale_factor=2.0, mode="nearest") + c4)


def head(cin: int, cout: int, bias: float = 0.0) -> nn.Sequential:
    """1 x 1 convolutions only: the spatial context comes from the backbone (cheap at stride 4)."""
    last = Pointwise(cin, cout)
    nn.init.constant_(last.bias, bias)
    return nn.Sequential(Pointwise(cin, cin), nn.ReLU(inplace=True), last)


def normalise(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) in [0, 1] -> roughly zero-mean unit-variance input, channels-last in memory.

    The detectors keep activations and weights channels-last (``channels_last`` below): oneDNN's
    convolutions run about 1.35x faster that way on this CPU (fwd + bwd of a batch of 8: 223 vs
    302 ms), and cuDNN prefers it too."""
    x = torch.sub(images, 0.5).mul_(4.0)        # = (images - 0.5) / 0.25 bit for bit, one buffer
    return x.contiguous(memory_format=torch.channels_last)


def channels_last(module: nn.Module) -> nn.Module:
    """Store the 4-D weights of ``module`` channels-last (see ``normalise``); returns it."""
    return module.to(memory_format=torch.channels_last)


class CenterNet(nn.Module):
    name = "centernet"

    def __init__(self, cfg: CenterNetConfig):
        super().__init__()
        self.cfg = cfg
        self.backbone = TinyUNet(cfg.width)
        c = self.backbone.out_channels
        self.heatmap = head(c, cfg.num_classes, bias=-2.19)  # sigmoid(-2.19) = 0.1: the focal-loss prior
        self.offset = head(c, 2)
        self.size = head(c, 2)
        channels_last(self)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """images (B, 3, H, W) in [0, 1] -> heatmap logits (B, C, h, w), offset and size (B, 2, h, w)."""
        f = self.backbone(normalise(images))
        return {"heatmap": self.heatmap(f), "offset": self.offset(f), "size": self.size(f)}

    # --- targets ------------------------------------------------------------------------------------
    def encode(self, boxes: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
        return encode_centernet(boxes, labels, self.cfg)

    def loss(self, out: dict[str, torch.Tensor], tgt: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return centernet_loss(out, tgt, self.cfg.size_weight, self.cfg.class_weight, self.cfg.box_weight)

    def score_maps(self, out: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, C, h, w) heatmap probabilities."""
        return torch.sigmoid(out["heatmap"])

    def merge_flipped(self, out: dict[str, torch.Tensor], mirrored: dict[str, torch.Tensor]
                      ) -> dict[str, torch.Tensor]:
        """The outputs for an image and for its left-right mirror -> one output for the image (the
        paper's flip test): the mean of the two heatmaps' probabilities and of the two sizes, the
        image's own offsets."""
        p = (torch.sigmoid(out["heatmap"]) + torch.sigmoid(mirrored["heatmap"].flip(3))) / 2
        return {"heatmap": torch.logit(p, eps=1e-6), "offset": out["offset"],
                "size": (out["size"] + mirrored["size"].flip(3)) / 2}

    def candidates(self, out: dict[str, torch.Tensor]) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        return decode_centernet(torch.sigmoid(out["heatmap"]), out["offset"], out["size"], self.cfg.stride,
                                self.cfg.max_peaks)


def gaussian_radius(h: float, w: float, min_overlap: float = 0.7) -> float:
    """CornerNet's radius: the smallest of the three corner-shift cases that keep IoU >= min_overlap."""
    b1, c1 = h + w, w * h * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(b1 ** 2 - 4 * c1)) / 2
    b2, c2 = 2 * (h + w), (1 - min_overlap) * w * h
    r2 = (b2 + math.sqrt(b2 ** 2 - 16 * c2)) / 2
    a3, b3, c3 = 4 * min_overlap, -2 * min_overlap * (h + w), (min_overlap - 1) * w * h
    r3 = (b3 + math.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def draw_gaussian(heat: np.ndarray, cx: int, cy: int, radius: int) -> None:
    """heat = max(heat, exp(-d^2 / (2 sigma^2))) around (cx, cy), sigma = (2 r + 1) / 6, in place."""
    sigma = (2 * radius + 1) / 6
    ys, xs = np.ogrid[-radius:radius + 1, -radius:radius + 1]
    g = np.exp(-(xs * xs + ys * ys) / (2 * sigma * sigma)).astype(np.float32)
    h, w = heat.shape
    x0, x1 = max(0, cx - radius), min(w, cx + radius + 1)
    y0, y1 = max(0, cy - radius), min(h, cy + radius + 1)
    patch = g[y0 - cy + radius:y1 - cy + radius, x0 - cx + radius:x1 - cx + radius]
    np.maximum(heat[y0:y1, x0:x1], patch, out=heat[y0:y1, x0:x1])


def encode_centernet(boxes: np.ndarray, labels: np.ndarray, cfg: CenterNetConfig) -> dict[str, np.ndarray]:
    """Dense targets at stride R: heatmap (C, h, w), offset and size (2, h, w), mask (h, w) (1 at centres)."""
    r = cfg.stride
    n = cfg.input_size // r
    heat = np.zeros((cfg.num_classes, n, n), np.float32)
    offset = np.zeros((2, n, n), np.float32)
    size = np.zeros((2, n, n), np.float32)
    mask = np.zeros((n, n), np.float32)
    class_map = np.zeros((n, n), np.int64)         # the class each cell near a centre should name
    class_weight = np.zeros((n, n), np.float32)    # its Gaussian there (0: no class term)
    box_weight = np.zeros((n, n), np.float32)      # weight of the GIoU term at each cell (0: none)
    box = np.zeros((4, n, n), np.float32)          # the box that cell's decoded box should be (cells)
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    labels = np.asarray(labels).reshape(-1)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    for i in np.argsort(-area, kind="stable"):     # larger first: a smaller object keeps its own cells
        x0, y0, x1, y1 = boxes[i]
        k = int(labels[i])
        w, h = (x1 - x0) / r, (y1 - y0) / r
        cx, cy = (x0 + x1) / 2 / r, (y0 + y1) / 2 / r
        ix, iy = min(int(cx), n - 1), min(int(cy), n - 1)
        radius = max(0, int(gaussian_radius(h, w)))
        draw_gaussian(heat[k], ix, iy, radius)
        offset[:, iy, ix] = (cx - ix, cy - iy)
        size[:, iy, ix] = (w, h)
        mask[iy, ix] = 1.0
        bump = np.zeros((n, n), np.float32)
        draw_gaussian(bump, ix, iy, max(1, radius))
        near = bump > 0.05
        class_map[near] = k
        class_weight[near] = bump[near]
        bump[:] = 0
        draw_gaussian(bump, ix, iy, radius)
        near = bump > 0.01
        box_weight[near] = bump[near] * np.log(max(w * h * r * r, 2.0))   # TTFNet: big boxes weigh more
        box[:, near] = np.array([x0, y0, x1, y1], np.float32)[:, None] / r
    return {"heatmap": heat, "offset": offset, "size": size, "mask": mask, "class_map": class_map,
            "class_weight": class_weight, "box_weight": box_weight, "box": box}


def focal_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Penalty-reduced pixel-wise focal loss (alpha = 2, beta = 4), summed (normalise outside)."""
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = target.eq(1).float()
    pos_term = -((1 - p) ** 2) * torch.log(p) * pos
    neg_term = -((1 - target) ** 4) * (p ** 2) * torch.log(1 - p) * (1 - pos)
    return (pos_term + neg_term).sum()


def decoded_boxes(offset: torch.Tensor, size: torch.Tensor) -> torch.Tensor:
    """(B, 2, h, w) offsets and sizes -> (B, h, w, 4) the box each cell describes, xyxy in cells:
    centre = cell + offset, size |size| (what decoding reads at a peak, for every cell)."""
    _, _, h, w = offset.shape
    ys = torch.arange(h, dtype=offset.dtype, device=offset.device).view(h, 1)
    xs = torch.arange(w, dtype=offset.dtype, device=offset.device).view(1, w)
    cx, cy = xs + offset[:, 0], ys + offset[:, 1]
    sw, sh = size[:, 0].abs(), size[:, 1].abs()
    return torch.stack([cx - sw / 2, cy - sh / 2, cx + sw / 2, cy + sh / 2], dim=-1)


def centernet_loss(out: dict[str, torch.Tensor], tgt: dict[str, torch.Tensor], size_weight: float = 0.1,
                   class_weight: float = 0.0, box_weight: float = 0.0) -> dict[str, torch.Tensor]:
    n = tgt["mask"].sum().clamp(min=1.0)
    mask = tgt["mask"].unsqueeze(1)                          # (B, 1, h, w)
    heat = focal_loss(out["heatmap"], tgt["heatmap"]) / n
    off = (F.l1_loss(out["offset"], tgt["offset"], reduction="none") * mask).sum() / n
    size = (F.l1_loss(out["size"], tgt["size"], reduction="none") * mask).sum() / n
    terms = {"loss": heat + off + size_weight * size, "heatmap": heat, "offset": off, "size": size}
    if class_weight > 0 and "class_map" in tgt and out["heatmap"].shape[1] > 1:
        wmap = tgt["class_weight"]
        ce = F.cross_entropy(out["heatmap"], tgt["class_map"], reduction="none")   # (B, h, w)
        cls = (ce * wmap).sum() / wmap.sum().clamp(min=1e-6)
        terms["class"] = cls
        terms["loss"] = terms["loss"] + class_weight * cls
    if box_weight > 0 and "box_weight" in tgt:
        from torchvision.ops import generalized_box_iou_loss   # lazy: ~2 s import

        wmap = tgt["box_weight"]
        near = wmap > 0
        pred = decoded_boxes(out["offset"], out["size"])[near]                 # (P, 4)
        true = tgt["box"].permute(0, 2, 3, 1)[near]
        giou = (generalized_box_iou_loss(pred, true, reduction="none") * wmap[near]).sum() \
            / wmap[near].sum().clamp(min=1e-6) if len(pred) else out["size"].sum() * 0
        terms["GIoU"] = giou
        terms["loss"] = terms["loss"] + box_weight * giou
    return terms


def max3x3(x: torch.Tensor) -> torch.Tensor:
    """The max of each value's 3 x 3 neighbourhood: ``F.max_pool2d(x, 3, 1, 1)`` exactly, computed as a
    row max then a column max of shifted views (0.28 vs 1.85 ms on a 3 x 96 x 96 heatmap on one CPU
    thread: max_pool2d also computes indices and is slow on few channels)."""
    p = F.pad(x, (1, 1, 0, 0), value=float("-inf"))
    rows = torch.maximum(torch.maximum(p[..., :-2], p[..., 1:-1]), p[..., 2:])
    p = F.pad(rows, (0, 0, 1, 1), value=float("-inf"))
    return torch.maximum(torch.maximum(p[..., :-2, :], p[..., 1:-1, :]), p[..., 2:, :])


def peaks(heat: torch.Tensor) -> torch.Tensor:
    """Keep a heatmap value only where it is the max of its 3 x 3 neighbourhood (zero elsewhere): the
    paper's 3 x 3 max-pool."""
    return heat * (max3x3(heat) == heat).float()


def decode_centernet(heat: torch.Tensor, offset: torch.Tensor, size: torch.Tensor, stride: int, k: int = 100
                     ) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """heat (B, C, h, w) probabilities -> per image (boxes (K, 4) xyxy pixels, scores (K,), labels (K,))."""
    b, c, h, w = heat.shape
    flat = peaks(heat).reshape(b, -1)                        # (B, C*h*w)
    scores, idx = flat.topk(min(k, flat.shape[1]))
    labels = idx // (h * w)
    cell = idx % (h * w)
    ys, xs = (cell // w).float(), (cell % w).float()
    out = []
    for i in range(b):
        ox, oy = offset[i, 0].reshape(-1)[cell[i]], offset[i, 1].reshape(-1)[cell[i]]
        sw, sh = size[i, 0].reshape(-1)[cell[i]], size[i, 1].reshape(-1)[cell[i]]
        cx, cy = xs[i] + ox, ys[i] + oy
        boxes = torch.stack([cx - sw / 2, cy - sh / 2, cx + sw / 2, cy + sh / 2], dim=1) * stride
        out.append((boxes, scores[i], labels[i]))
    return out
