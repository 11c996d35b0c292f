"""MTCNN (Zhang et al. 2016, "Joint Face Detection and Alignment using Multi-task Cascaded
Convolutional Networks"): three small networks in a cascade over an image pyramid.

The pyramid. P-Net sees faces of 12 x 12 pixels. To find faces of at least ``min_face`` pixels, the
image is first scaled by m = 12 / min_face (a min_face face becomes 12 px), then again and again by the
factor f (0.709, so each level has about half the pixels of the one before) while the short side is at
least 12 px. Level k has scale m f^k, and the number of levels is

    L = floor( ln(min(h, w) / min_face) / ln(1 / f) ) + 1.

The pixels P-Net reads sum to about (h w m^2) / (1 - f^2): halving min_face quadruples the work.

Stage 1, P-Net (fully convolutional, 12 x 12 receptive field, stride 2): on every level a face
probability map and a box regression map. Every cell with probability >= t1 proposes the 12 x 12
window it saw, mapped back to the image (divide by the level's scale). NMS at IoU 0.5 within each
level, then at 0.7 across levels; the survivors are moved by their regression and made square.

Stage 2, R-Net: every candidate is cropped from the image, resized to 24 x 24 and scored again; those
with probability > t2 survive NMS at 0.7, are moved by R-Net's regression and made square.

Stage 3, O-Net: 48 x 48 crops; probability > t3, a last regression, five landmarks (eyes, nose, mouth
corners) as fractions of the box, and NMS at 0.7 on intersection over the *smaller* box, which also
removes a small box inside a bigger one.

Details (pixel conventions, the "+1" box widths, crops clipped to the image rather than padded) follow
the implementation whose weights we load (facenet-pytorch, MIT), so boxes agree with it to a fraction
of a pixel. Each stage is its own function so a caller can keep a stage's network outputs and re-run
only the thresholding after it (the threshold knobs of the lab's tab).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

#: P-Net's window and stride in the pixels of a pyramid level.
CELL, STRIDE = 12, 2
DEFAULT_THRESHOLDS = (0.6, 0.7, 0.7)
DEFAULT_FACTOR = 0.709
#: NMS IoU thresholds: within a level, across levels / after R-Net, after O-Net (intersection / min).
NMS_LEVEL, NMS_CASCADE, NMS_FINAL = 0.5, 0.7, 0.7
NET_NAMES = ("pnet", "rnet", "onet")


# ---------------------------------------------------------------------------------------- networks
class PNet(nn.Module):
    """12 x 12 -> face probability and box offsets; fully convolutional (a map on any image)."""

    def __init__(self):
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 10, 3), nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(10, 16, 3), nn.PReLU(16)
        self.conv3, self.prelu3 = nn.Conv2d(16, 32, 3), nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, 1)   # face / not face
        self.conv4_2 = nn.Conv2d(32, 4, 1)   # box offsets, in window widths

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.prelu1(self.conv1(x))
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(self.pool1(x)))))
        return torch.softmax(self.conv4_1(x), dim=1)[:, 1], self.conv4_2(x)


class RNet(nn.Module):
    """24 x 24 crop -> face probability and box offsets."""

    def __init__(self):
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 28, 3), nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(28, 48, 3), nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = nn.Conv2d(48, 64, 2), nn.PReLU(64)
        self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x))
        # The weights came from Caffe, which flattens (C, W, H): permute before the dense layer.
        x = self.prelu4(self.dense4(x.permute(0, 3, 2, 1).reshape(len(x), -1)))
        return torch.softmax(self.dense5_1(x), dim=1)[:, 1], self.dense5_2(x)


class ONet(nn.Module):
    """48 x 48 crop -> face probability, box offsets and five landmarks."""

    def __init__(self):
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 32, 3), nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(32, 64, 3), nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = nn.Conv2d(64, 64, 3), nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4, self.prelu4 = nn.Conv2d(64, 128, 2), nn.PReLU(128)
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)   # x of the five points, then y, as fractions of the box

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x))
        x = self.prelu5(self.dense5(x.permute(0, 3, 2, 1).reshape(len(x), -1)))
        return torch.softmax(self.dense6_1(x), dim=1)[:, 1], self.dense6_2(x), self.dense6_3(x)


class MTCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.pnet, self.rnet, self.onet = PNet(), RNet(), ONet()
        self.eval()

    @torch.no_grad()
    def detect(self, image: np.ndarray, min_face: float = 20, factor: float = DEFAULT_FACTOR,
               thresholds=DEFAULT_THRESHOLDS) -> Stage:
        """All three stages on uint8 (H, W, 3): the final boxes, scores and landmarks."""
        img = image_tensor(image, next(self.parameters()).device)
        maps = pnet_maps(self.pnet, img, pyramid_scales(*image.shape[:2], min_face, factor))
        cand = pnet_propose(maps, thresholds[0], image.shape[:2]).candidates
        refined = rnet_refine(cand, *rnet_score(self.rnet, img, cand), thresholds[1])
        return onet_finish(refined, *onet_score(self.onet, img, refined), thresholds[2])


# ---------------------------------------------------------------------------------------- pyramid
def level_count(h: int, w: int, min_face: float, factor: float = DEFAULT_FACTOR) -> int:
    """The closed form of the number of pyramid levels (0 when the image is smaller than min_face)."""
    if min(h, w) < min_face:
        return 0
    return math.floor(math.log(min(h, w) / min_face) / math.log(1.0 / factor)) + 1


def pyramid_scales(h: int, w: int, min_face: float, factor: float = DEFAULT_FACTOR) -> list[float]:
    """The levels' scales as the detector builds them: m f^k while the scaled short side >= 12 px."""
    if not 0.0 < factor < 1.0 or min_face <= 0:
        raise ValueError(f"need 0 < factor < 1 and min_face > 0, got factor {factor}, min_face {min_face}")
    scale, side, scales = CELL / min_face, min(h, w) * CELL / min_face, []
    while side >= CELL:
        scales.append(scale)
        scale, side = scale * factor, side * factor
    return scales


def level_shape(h: int, w: int, scale: float) -> tuple[int, int]:
    return int(h * scale + 1), int(w * scale + 1)


def image_tensor(image: np.ndarray, device="cpu") -> torch.Tensor:
    """uint8 (H, W, 3) -> float (1, 3, H, W) in 0..255 (a copy: photos from Pillow are read-only)."""
    return torch.tensor(np.asarray(image), device=device).permute(2, 0, 1)[None].float()


def normalise(x: torch.Tensor) -> torch.Tensor:
    return (x - 127.5) * 0.0078125   # the range the nets were trained on: about [-1, 1]


# ---------------------------------------------------------------------------------------- stages
@dataclass
class Stage:
    """Boxes (N, 4) x0 y0 x1 y1 in image pixels, scores (N,), optional landmarks (N, 5, 2) and the
    pyramid level each box came from (P-Net stages only)."""

    boxes: torch.Tensor
    scores: torch.Tensor
    landmarks: torch.Tensor | None = None
    levels: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.boxes)


@dataclass
class PNetMaps:
    scales: list[float]
    probs: list[torch.Tensor] = field(default_factory=list)    # (h_k, w_k) per level
    regs: list[torch.Tensor] = field(default_factory=list)     # (4, h_k, w_k) per level
    shapes: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class Proposals:
    raw: Stage          # every window with p >= t1
    nms: Stage          # after NMS within and across levels
    candidates: Stage   # the NMS survivors moved by their regression and made square (R-Net's input)


def pnet_maps(pnet: PNet, img: torch.Tensor, scales: list[float], each=None) -> PNetMaps:
    """P-Net on every level. ``each(k)`` is called before level k (cancellation, progress)."""
    h, w = img.shape[2:]
    maps = PNetMaps(scales)
    for k, scale in enumerate(scales):
        if each is not None:
            each(k)
        shape = level_shape(h, w, scale)
        prob, reg = pnet(normalise(F.interpolate(img, size=shape, mode="area")))
        maps.probs.append(prob[0])
        maps.regs.append(reg[0])
        maps.shapes.append(shape)
    return maps


def pnet_propose(maps: PNetMaps, threshold: float, image_hw: tuple[int, int]) -> Proposals:
    from torchvision.ops import batched_nms, nms

    boxes, scores, regs, levels = [], [], [], []
    for k, (scale, prob, reg) in enumerate(zip(maps.scales, maps.probs, maps.regs, strict=True)):
        ys, xs = torch.nonzero(prob >= threshold, as_tuple=True)
        cell = torch.stack([xs, ys], 1).to(prob.dtype)
        # The window a cell saw, in image pixels (the reference's rounding).
        b = torch.cat([((STRIDE * cell + 1) / scale).floor(), ((STRIDE * cell + CELL) / scale).floor()], 1)
        boxes.append(b)
        scores.append(prob[ys, xs])
        regs.append(reg[:, ys, xs].T)
        levels.append(torch.full((len(b),), k, dtype=torch.long, device=prob.device))
    if not boxes:
        empty = Stage(torch.zeros(0, 4), torch.zeros(0), levels=torch.zeros(0, dtype=torch.long))
        return Proposals(empty, empty, empty)
    boxes, scores, regs, levels = (torch.cat(t) for t in (boxes, scores, regs, levels))
    raw = Stage(boxes, scores, levels=levels)
    keep = batched_nms(boxes, scores, levels, NMS_LEVEL)
    keep = keep[nms(boxes[keep], scores[keep], NMS_CASCADE)]
    nmsed = Stage(boxes[keep], scores[keep], levels=levels[keep])
    b, r = nmsed.boxes, regs[keep]
    size = torch.stack([b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]] * 2, 1)
    moved = square(b + r * size)
    return Proposals(raw, nmsed, Stage(moved, nmsed.scores, levels=nmsed.levels))


def rnet_score(rnet: RNet, img: torch.Tensor, cand: Stage) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """R-Net's probability and offsets for every candidate whose crop is not empty: (ok, prob, reg)."""
    crops, ok = crop_resize(img, cand.boxes, 24)
    if len(crops) == 0:
        return ok, cand.boxes.new_zeros(0), cand.boxes.new_zeros(0, 4)
    prob, reg = rnet(normalise(crops))
    return ok, prob, reg


def rnet_refine(cand: Stage, ok: torch.Tensor, prob: torch.Tensor, reg: torch.Tensor,
                threshold: float) -> Stage:
    from torchvision.ops import nms

    boxes = cand.boxes[ok]
    passed = prob > threshold
    boxes, scores, reg = boxes[passed], prob[passed], reg[passed]
    keep = nms(boxes, scores, NMS_CASCADE)
    return Stage(square(regress(boxes[keep], reg[keep])), scores[keep])


def onet_score(onet: ONet, img: torch.Tensor, refined: Stage):
    """O-Net on every refined box: (ok, prob, reg, landmark fractions (N, 10))."""
    crops, ok = crop_resize(img, refined.boxes, 48)
    if len(crops) == 0:
        z = refined.boxes.new_zeros
        return ok, z(0), z(0, 4), z(0, 10)
    prob, reg, points = onet(normalise(crops))
    return ok, prob, reg, points


def onet_finish(refined: Stage, ok, prob, reg, points, threshold: float) -> Stage:
    boxes = refined.boxes[ok]
    passed = prob > threshold
    boxes, scores, reg, points = boxes[passed], prob[passed], reg[passed], points[passed]
    # Landmarks are fractions of the box O-Net saw, before its own regression moves the box.
    wh = (boxes[:, 2:] - boxes[:, :2] + 1)[:, None, :]
    landmarks = torch.stack([points[:, :5], points[:, 5:]], 2) * wh + boxes[:, None, :2] - 1
    boxes = regress(boxes, reg)
    keep = nms_min(boxes, scores, NMS_FINAL)
    return Stage(boxes[keep], scores[keep], landmarks[keep])


# ---------------------------------------------------------------------------------------- box ops
def square(boxes: torch.Tensor) -> torch.Tensor:
    """Grow each box to a square on its longer side, same centre (the next net's input is square)."""
    wh = boxes[:, 2:] - boxes[:, :2]
    side = wh.max(1, keepdim=True).values
    top_left = boxes[:, :2] + wh * 0.5 - side * 0.5
    return torch.cat([top_left, top_left + side], 1)


def regress(boxes: torch.Tensor, reg: torch.Tensor) -> torch.Tensor:
    """Move each edge by its offset times the box's size (R-Net's and O-Net's "+1" pixel widths)."""
    wh = boxes[:, 2:] - boxes[:, :2] + 1
    return boxes + reg * torch.cat([wh, wh], 1)


def crop_resize(img: torch.Tensor, boxes: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Crops of the (integer, image-clipped) boxes, each resized to size x size by area averaging.
    Returns (crops (M, 3, size, size), ok (N,) bool: which boxes had a non-empty crop)."""
    h, w = img.shape[2:]
    b = boxes.trunc().long()
    x0, y0 = b[:, 0].clamp(min=1) - 1, b[:, 1].clamp(min=1) - 1
    x1, y1 = b[:, 2].clamp(max=w), b[:, 3].clamp(max=h)
    ok = (x1 > x0) & (y1 > y0)
    crops = [F.interpolate(img[:, :, ya:yb, xa:xb], size=(size, size), mode="area")
             for xa, ya, xb, yb in torch.stack([x0, y0, x1, y1], 1)[ok].tolist()]
    return (torch.cat(crops) if crops else img.new_zeros(0, 3, size, size)), ok


def nms_min(boxes: torch.Tensor, scores: torch.Tensor, threshold: float) -> torch.Tensor:
    """Greedy NMS where overlap is intersection over the smaller box (torchvision has IoU only)."""
    order = scores.argsort(descending=True)
    area = (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)
    keep = []
    while len(order):
        i = order[0]
        keep.append(int(i))
        rest = order[1:]
        lt = torch.maximum(boxes[i, :2], boxes[rest, :2])
        rb = torch.minimum(boxes[i, 2:], boxes[rest, 2:])
        inter = (rb - lt + 1).clamp(min=0).prod(1)
        order = rest[inter / torch.minimum(area[i], area[rest]) <= threshold]
    return torch.as_tensor(keep, dtype=torch.long, device=boxes.device)
