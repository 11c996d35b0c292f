"""YOLO v1 ("You Only Look Once", Redmon et al. 2016), small enough to train on a CPU in minutes.

The whole image goes in once; an S x S grid comes out. The cell that holds an object's centre is
*responsible* for it. Each cell predicts B boxes (x, y, sqrt w, sqrt h, confidence) and one set of
class probabilities Pr(class | object):
- (x, y): the box centre inside the cell, in [0, 1] of the cell;
- (w, h): the box size as a fraction of the image (predicted as square roots, see the loss);
- confidence: trained towards Pr(object) * IoU(predicted box, ground truth).
A detection's score is confidence * Pr(class | object).

Loss (sums over cells i and boxes j; 1_ij^obj: box j of cell i is responsible, i.e. has the highest
IoU with the cell's object among the cell's B boxes; 1_i^obj: cell i holds an object):
    L = l_coord sum 1_ij^obj [(x - x^)^2 + (y - y^)^2 + (sqrt w - sqrt w^)^2 + (sqrt h - sqrt h^)^2]
      +         sum 1_ij^obj (C - C^)^2                    (C^ = IoU of the box with its object)
      + l_noobj sum 1_ij^noobj C^2
      +         sum_i 1_i^obj sum_c (p(c) - p^(c))^2
with l_coord = 5, l_noobj = 0.5 (for the paper's 7 x 7 grid; spread over more cells, see noobj_weight). Square roots make an error of a few pixels cost more on a small box
than on a big one. Normalised here by the batch size.

Differences from the paper, for a 2-core CPU: a thin all-convolutional backbone (no ImageNet
pre-training, no fully connected layers) whose stride-16 map is the grid (other S pool or interpolate
it), and S = 16 by default instead of 7: these scenes hold up to 8 objects from 6 px up; 16 px cells
give each cell a small neighbourhood to place its box in (one object in 500 shares a cell with a
larger one; at S = 7, 3.5%). One object per cell: when two centres fall in one cell, the larger
object wins (the paper's own limit).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.centernet import Pointwise, channels_last, conv_bn, normalise


@dataclass(frozen=True)
class YoloConfig:
    num_classes: int = 3
    grid: int = 16             # S (16 px cells on a 256 px image)
    boxes: int = 2             # B
    width: int = 32
    input_size: int = 256
    l_coord: float = 5.0
    l_noobj: float = 0.5

    def to_dict(self) -> dict:
        return asdict(self)


class YoloV1(nn.Module):
    name = "yolo"

    def __init__(self, cfg: YoloConfig):
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        # A 4 x 4 patch stem (no work at full resolution), an encoder to stride 32 for context, and one
        # top-down step back to stride 16: a 256 px image gives a 16 x 16 map, one cell per position
        # of the default grid. Other S pool or interpolate it.
        self.stem = nn.Sequential(nn.Conv2d(3, w, 4, 4, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
                                  conv_bn(w, w))                                  # /4
        self.s8 = nn.Sequential(conv_bn(w, 2 * w, 2), conv_bn(2 * w, 2 * w))        # /8
        self.s16 = nn.Sequential(conv_bn(2 * w, 3 * w, 2), conv_bn(3 * w, 3 * w))   # /16
        self.s32 = nn.Sequential(conv_bn(3 * w, 4 * w, 2), conv_bn(4 * w, 4 * w))   # /32: wide context
        self.lat32 = Pointwise(4 * w, 3 * w)
        self.top16 = conv_bn(3 * w, 3 * w)
        self.head = Pointwise(3 * w, cfg.boxes * 5 + cfg.num_classes)
        channels_last(self)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """images (B, 3, H, W) in [0, 1] -> boxes (N, S, S, B, 5) in [0, 1] (x, y, sqrt w, sqrt h, conf),
        class probabilities (N, S, S, C) and each image's cell side in input pixels (N,)."""
        s, b = self.grid_for(images.shape[-1]), self.cfg.boxes
        c16 = self.s16(self.s8(self.stem(normalise(images))))
        f = self.top16(c16 + F.interpolate(self.lat32(self.s32(c16)), scale_factor=2.0, mode="nearest"))
        if f.shape[-1] != s:
            f = F.interpolate(f, size=(s, s), mode="bilinear", align_corners=False) if f.shape[-1] < s \
                else F.adaptive_avg_pool2d(f, s)                     # (N, 3w, S, S)
        out = self.head(f).permute(0, 2, 3, 1)                       # (N, S, S, 5B + C)
        boxes = torch.sigmoid(out[..., : 5 * b]).reshape(*out.shape[:3], b, 5)
        probs = torch.softmax(out[..., 5 * b:], dim=-1)
        cell = torch.full((len(images),), images.shape[-1] / s, device=images.device)   # cell side, input px
        return {"boxes": boxes, "probs": probs, "cell": cell}

    def grid_for(self, side: int) -> int:
        """S for an input ``side`` pixels wide: the configured S at the trained size, in proportion on
        the larger inputs of test-time augmentation (24 x 24 cells of 16 px at 384 px)."""
        return max(1, round(self.cfg.grid * side / self.cfg.input_size))

    def encode(self, boxes: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
        return encode_yolo(boxes, labels, self.cfg)

    def loss(self, out: dict[str, torch.Tensor], tgt: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return yolo_loss(out, tgt, self.cfg)

    def candidates(self, out: dict[str, torch.Tensor]) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        side = out["boxes"].shape[1] * float(out["cell"][0]) if "cell" in out else self.cfg.input_size
        return decode_yolo(out["boxes"], out["probs"], side, size_unit=self.cfg.input_size)

    def merge_flipped(self, out: dict[str, torch.Tensor], mirrored: dict[str, torch.Tensor]
                      ) -> dict[str, torch.Tensor]:
        """The outputs for an image and for its left-right mirror -> one output for the image: the
        mirror's cells flipped back (x in the cell becomes 1 - x), then box j and the class
        probabilities of each cell averaged over the two."""
        back = mirrored["boxes"].flip(2).clone()
        back[..., 0] = 1 - back[..., 0]
        return {"boxes": (out["boxes"] + back) / 2, "probs": (out["probs"] + mirrored["probs"].flip(2)) / 2,
                "cell": out["cell"]}


def responsible_cell(cx: float, cy: float, grid: int, image_size: float) -> tuple[int, int]:
    """(col, row) of the cell that holds the point (cx, cy) in pixels; the far edge belongs to the last cell."""
    col = min(int(cx / image_size * grid), grid - 1)
    row = min(int(cy / image_size * grid), grid - 1)
    return max(col, 0), max(row, 0)


def encode_yolo(boxes: np.ndarray, labels: np.ndarray, cfg: YoloConfig) -> dict[str, np.ndarray]:
    """Per-cell targets: obj (S, S), xy (S, S, 2) in the cell, sqrt_wh (S, S, 2), box (S, S, 4) xyxy as
    fractions of the image, cls (S, S, C) one-hot."""
    s, size = cfg.grid, float(cfg.input_size)
    obj = np.zeros((s, s), np.float32)
    xy = np.zeros((s, s, 2), np.float32)
    sqrt_wh = np.zeros((s, s, 2), np.float32)
    box = np.zeros((s, s, 4), np.float32)
    cls = np.zeros((s, s, cfg.num_classes), np.float32)
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    for i in np.argsort(-area, kind="stable"):          # larger objects claim their cell first
        x0, y0, x1, y1 = boxes[i]
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        col, row = responsible_cell(cx, cy, s, size)
        if obj[row, col]:
            continue
        obj[row, col] = 1
        xy[row, col] = (cx / size * s - col, cy / size * s - row)
        sqrt_wh[row, col] = np.sqrt([(x1 - x0) / size, (y1 - y0) / size])
        box[row, col] = boxes[i] / size
        cls[row, col, int(labels[i])] = 1
    return {"obj": obj, "xy": xy, "sqrt_wh": sqrt_wh, "box": box, "cls": cls}


def cell_boxes(pred: torch.Tensor) -> torch.Tensor:
    """pred (N, S, S, B, >=4) (x, y, sqrt w, sqrt h) -> boxes (N, S, S, B, 4) xyxy as image fractions."""
    s = pred.shape[1]
    rows = torch.arange(s, dtype=pred.dtype, device=pred.device).view(1, s, 1, 1)
    cols = torch.arange(s, dtype=pred.dtype, device=pred.device).view(1, 1, s, 1)
    cx, cy = (cols + pred[..., 0]) / s, (rows + pred[..., 1]) / s
    w, h = pred[..., 2] ** 2, pred[..., 3] ** 2
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1)


def paired_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of a[..., 4] with b[..., 4] element by element (torchvision's box_iou is all-pairs)."""
    lt = torch.maximum(a[..., :2], b[..., :2])
    rb = torch.minimum(a[..., 2:], b[..., 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area = (a[..., 2:] - a[..., :2]).clamp(min=0).prod(-1) + (b[..., 2:] - b[..., :2]).clamp(min=0).prod(-1)
    return inter / (area - inter).clamp(min=1e-9)


def noobj_weight(cfg: YoloConfig) -> float:
    """The paper's l_noobj was set for 7 x 7 = 49 cells; with more cells the no-object term sums over
    more boxes and would drown the object term, so the weight is spread over them: l_noobj *
    min(1, 49 / S^2) (0.096 at S = 16). Measured at S = 16 after 1000 steps: mAP@0.5 0.68 with the
    spread weight, 0.63 with 0.5."""
    return cfg.l_noobj * min(1.0, 49.0 / cfg.grid ** 2)


def yolo_loss(out: dict[str, torch.Tensor], tgt: dict[str, torch.Tensor], cfg: YoloConfig) -> dict[str, torch.Tensor]:
    pred, probs = out["boxes"], out["probs"]                 # (N, S, S, B, 5), (N, S, S, C)
    n = pred.shape[0]
    obj = tgt["obj"]                                          # (N, S, S)
    iou = paired_iou(cell_boxes(pred), tgt["box"].unsqueeze(3))   # (N, S, S, B)
    best = iou.detach().argmax(-1)                            # the responsible box of each cell
    resp = F.one_hot(best, cfg.boxes).float() * obj.unsqueeze(-1)   # 1_ij^obj  (N, S, S, B)
    xy_err = ((pred[..., :2] - tgt["xy"].unsqueeze(3)) ** 2).sum(-1)
    wh_err = ((pred[..., 2:4] - tgt["sqrt_wh"].unsqueeze(3)) ** 2).sum(-1)
    coord = cfg.l_coord * (resp * (xy_err + wh_err)).sum() / n
    conf = pred[..., 4]
    objness = (resp * (conf - iou.detach()) ** 2).sum() / n
    noobj = noobj_weight(cfg) * ((1 - resp) * conf ** 2).sum() / n
    cls = (obj.unsqueeze(-1) * (probs - tgt["cls"]) ** 2).sum() / n
    return {"loss": coord + objness + noobj + cls, "coord": coord, "object": objness, "no-object": noobj,
            "class": cls}


def decode_yolo(pred: torch.Tensor, probs: torch.Tensor, image_size: float, size_unit: float | None = None
                ) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """All S*S*B boxes per image: (boxes xyxy pixels, score = conf * max_c p(c), label = argmax_c p(c)).

    Centres are placed on the S x S cells of an ``image_size`` input. Widths and heights are fractions
    of ``size_unit`` pixels (default ``image_size``): the net learns sizes as fractions of the images
    it trains on, and on a larger test-time input (``lab_app.detection.tta``) an object is larger and
    reported in the same unit."""
    b = cell_boxes(pred)                                      # (N, S, S, B, 4) image fractions
    if size_unit is None or size_unit == image_size:
        boxes = b * image_size
    else:
        centre = (b[..., :2] + b[..., 2:]) / 2 * image_size
        half = (b[..., 2:] - b[..., :2]) / 2 * size_unit
        boxes = torch.cat([centre - half, centre + half], dim=-1)
    p, label = probs.max(-1)                                  # (N, S, S)
    scores = pred[..., 4] * p.unsqueeze(-1)                   # (N, S, S, B)
    labels = label.unsqueeze(-1).expand_as(scores)
    return [(boxes[i].reshape(-1, 4), scores[i].reshape(-1), labels[i].reshape(-1)) for i in range(len(pred))]
