"""FCOS ("Fully Convolutional One-Stage detection", Tian et al. 2019), one level, CPU-sized.

Every location (x, y) of the stride-R feature map, centre of its cell in the input
((i + 1/2) R), is a training sample. If it falls inside a ground-truth box it is *positive* for that
box (the smallest one when several contain it) and regresses the distances to the box's sides:
    l* = x - x0,  t* = y - y0,  r* = x1 - x,  b* = y1 - y
and a centre-ness that is 1 at the box centre and falls to 0 at its edges:
    centerness* = sqrt( min(l*, r*) / max(l*, r*)  *  min(t*, b*) / max(t*, b*) )
Heads per location: C class logits (sigmoid), 4 distances (exp(s) * R, s a learned scale),
1 centre-ness logit.

Loss (N_pos positive locations):
    L = 1/N_pos sum focal(p, c*)                              (torchvision sigmoid_focal_loss, all locations)
      + 1/sum(centerness*) sum_pos centerness* GIoU-loss(box, box*)   (torchvision generalized_box_iou_loss)
      + 1/N_pos sum_pos BCE(centerness, centerness*)
Score at test time: sqrt(p_class * centerness), which ranks down the poor boxes far from centres;
class-aware NMS (torchvision batched_nms) removes what is left twice.

Differences from the paper: a single level at stride 4 from the shared TinyUNet (a one-branch FPN)
instead of P3-P7 with size ranges per level.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.centernet import TinyUNet, channels_last, head, normalise


@dataclass(frozen=True)
class FcosConfig:
    num_classes: int = 5
    width: int = 32
    input_size: int = 256
    stride: int = 4
    max_candidates: int = 300
    arch: str = "fcos"

    def to_dict(self) -> dict:
        return asdict(self)


class FCOS(nn.Module):
    name = "fcos"

    def __init__(self, cfg: FcosConfig):
        super().__init__()
        self.cfg = cfg
        self.backbone = TinyUNet(cfg.width)
        c = self.backbone.out_channels
        self.cls = head(c, cfg.num_classes, bias=-4.6)    # prior 0.01 (RetinaNet's)
        self.reg = head(c, 4)
        self.ctr = head(c, 1)
        self.scale = nn.Parameter(torch.tensor(1.0))
        channels_last(self)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """images (B, 3, H, W) -> cls logits (B, C, h, w), ltrb distances in pixels (B, 4, h, w),
        centre-ness logits (B, 1, h, w)."""
        f = self.backbone(normalise(images))
        ltrb = torch.exp((self.scale * self.reg(f)).clamp(max=8.0)) * self.cfg.stride
        return {"cls": self.cls(f), "ltrb": ltrb, "ctr": self.ctr(f)}

    def encode(self, boxes: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
        return encode_fcos(boxes, labels, self.cfg)

    def loss(self, out, tgt) -> dict[str, torch.Tensor]:
        return fcos_loss(out, tgt, self.cfg)

    def score_maps(self, out) -> torch.Tensor:
        """(B, C, h, w) sqrt(p_class * centerness): what decoding ranks by."""
        return torch.sqrt(torch.sigmoid(out["cls"]) * torch.sigmoid(out["ctr"]))

    def merge_flipped(self, out, mirrored):
        """The outputs for an image and for its left-right mirror -> one output for the image: mean
        class and centre-ness probabilities, mean distances (left and right swap in the mirror)."""
        def mean_logit(a, b):
            return torch.logit((torch.sigmoid(a) + torch.sigmoid(b.flip(3))) / 2, eps=1e-6)

        return {"cls": mean_logit(out["cls"], mirrored["cls"]),
                "ctr": mean_logit(out["ctr"], mirrored["ctr"]),
                "ltrb": (out["ltrb"] + mirrored["ltrb"].flip(3)[:, [2, 1, 0, 3]]) / 2}

    def candidates(self, out):
        return decode_fcos(self.score_maps(out), out["ltrb"], self.cfg.stride, self.cfg.max_candidates)


def locations(n: int, stride: int) -> np.ndarray:
    """(n, n, 2) x, y in input pixels of each location: the centre of its stride x stride cell."""
    c = (np.arange(n, dtype=np.float32) + 0.5) * stride
    return np.stack(np.meshgrid(c, c), -1)


def encode_fcos(boxes: np.ndarray, labels: np.ndarray, cfg: FcosConfig) -> dict[str, np.ndarray]:
    """cls (C, h, w) one-hot at positives, ltrb (4, h, w), centerness (h, w), pos (h, w), box (4, h, w)."""
    n = cfg.input_size // cfg.stride
    xy = locations(n, cfg.stride)
    cls = np.zeros((cfg.num_classes, n, n), np.float32)
    ltrb = np.zeros((4, n, n), np.float32)
    box = np.zeros((4, n, n), np.float32)
    area = np.full((n, n), np.inf, np.float32)
    for b, k in zip(np.asarray(boxes, np.float32).reshape(-1, 4), labels, strict=True):
        d = np.stack([xy[..., 0] - b[0], xy[..., 1] - b[1], b[2] - xy[..., 0], b[3] - xy[..., 1]])  # (4, n, n)
        a = (b[2] - b[0]) * (b[3] - b[1])
        inside = (d.min(0) > 0) & (a < area)               # the smallest box containing the location wins
        if not inside.any():                               # a box smaller than a cell: its centre's cell
            cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
            i, j = min(int(cy // cfg.stride), n - 1), min(int(cx // cfg.stride), n - 1)
            inside = np.zeros((n, n), bool)
            inside[i, j] = a < area[i, j]
            d[:, i, j] = np.maximum(d[:, i, j], 0.25)
        area[inside] = a
        ltrb[:, inside] = d[:, inside]
        box[:, inside] = b[:, None]
        cls[:, inside] = 0
        cls[int(k), inside] = 1
    pos = np.isfinite(area)
    lr, tb = ltrb[[0, 2]], ltrb[[1, 3]]
    ctr = np.zeros((n, n), np.float32)
    ctr[pos] = np.sqrt(lr.min(0)[pos] / np.maximum(lr.max(0)[pos], 1e-6) * tb.min(0)[pos]
                       / np.maximum(tb.max(0)[pos], 1e-6))
    return {"cls": cls, "ltrb": ltrb, "centerness": ctr, "pos": pos.astype(np.float32), "box": box}


def ltrb_to_boxes(ltrb: torch.Tensor, stride: int) -> torch.Tensor:
    """(B, 4, h, w) distances -> (B, h, w, 4) boxes xyxy in pixels."""
    b, _, h, w = ltrb.shape
    ys = (torch.arange(h, dtype=ltrb.dtype, device=ltrb.device) + 0.5) * stride
    xs = (torch.arange(w, dtype=ltrb.dtype, device=ltrb.device) + 0.5) * stride
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([x - ltrb[:, 0], y - ltrb[:, 1], x + ltrb[:, 2], y + ltrb[:, 3]], dim=-1)


def fcos_loss(out, tgt, cfg: FcosConfig) -> dict[str, torch.Tensor]:
    pos = tgt["pos"] > 0                                    # (B, h, w)
    n_pos = pos.sum().clamp(min=1).float()
    from torchvision.ops import generalized_box_iou_loss, sigmoid_focal_loss  # lazy: ~2 s import

    cls = sigmoid_focal_loss(out["cls"], tgt["cls"], reduction="sum") / n_pos
    ctr_t = tgt["centerness"][pos]
    pred_boxes = ltrb_to_boxes(out["ltrb"], cfg.stride)[pos]          # (P, 4)
    true_boxes = tgt["box"].permute(0, 2, 3, 1)[pos]
    if pred_boxes.numel():
        giou = (generalized_box_iou_loss(pred_boxes, true_boxes, reduction="none") * ctr_t).sum() \
            / ctr_t.sum().clamp(min=1e-6)
        ctr = F.binary_cross_entropy_with_logits(out["ctr"][:, 0][pos], ctr_t, reduction="sum") / n_pos
    else:
        giou = ctr = out["ltrb"].sum() * 0
    return {"loss": cls + giou + ctr, "class": cls, "giou": giou, "centerness": ctr}


def decode_fcos(scores: torch.Tensor, ltrb: torch.Tensor, stride: int, k: int = 300):
    """scores (B, C, h, w) -> per image the top-k (boxes xyxy pixels, scores, labels), before NMS."""
    b, c, h, w = scores.shape
    boxes = ltrb_to_boxes(ltrb, stride).reshape(b, h * w, 4)
    flat = scores.reshape(b, -1)
    top, idx = flat.topk(min(k, flat.shape[1]))
    labels, cell = idx // (h * w), idx % (h * w)
    return [(boxes[i, cell[i]], top[i], labels[i]) for i in range(b)]
