"""A generated "crowd": real face photos pasted at known sizes and places onto photos without people,
so every face has an exact box, and recall can be broken down by face size.

Faces: the 100 face crops of scikit-image's ``lfw_subset`` (25 x 25 grey crops from Labeled Faces in
the Wild, face filling the crop), resized to the face size with area averaging (or bicubic when
growing) and shown in grey. Backgrounds: scikit-image and scikit-learn photos without people, cropped
and resized to the crowd's size. Face sizes are drawn bin by bin (a bin uniformly, then a size in it),
so every size bin gets about as many faces; faces never overlap each other."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

#: Lower edges of the face-size bins, in pixels (the last bin runs to MAX_FACE inclusive).
SIZE_BINS = (8, 12, 16, 24, 32, 48, 64, 96)
MAX_FACE = 128
#: A detection finds a face when their IoU reaches this (the face box is the pasted crop).
MATCH_IOU = 0.4
BACKGROUNDS = ("coffee", "rocket", "china", "flower", "hubble_deep_field", "coins")


@dataclass(frozen=True)
class Crowd:
    image: np.ndarray      # uint8 (H, W, 3)
    boxes: np.ndarray      # (N, 4) float x0 y0 x1 y1 of every pasted face
    background: str

    @property
    def sizes(self) -> np.ndarray:
        return self.boxes[:, 2] - self.boxes[:, 0]


@lru_cache(maxsize=1)
def _faces() -> np.ndarray:
    from skimage import data

    return np.round(data.lfw_subset()[:100] * 255).astype(np.uint8)   # the first 100 are faces


@lru_cache(maxsize=len(BACKGROUNDS))
def _background(name: str) -> np.ndarray:
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        return load_sample_image(f"{name}.jpg")
    from skimage import data

    img = getattr(data, name)()
    return np.repeat(img[..., None], 3, 2) if img.ndim == 2 else img


def _resize(img: np.ndarray, w: int, h: int) -> np.ndarray:
    from PIL import Image

    pil = Image.fromarray(img)
    shrink = w < pil.width or h < pil.height
    return np.asarray(pil.resize((w, h), Image.Resampling.BOX if shrink else Image.Resampling.BICUBIC))


def draw_size(rng: np.random.Generator, bins=SIZE_BINS, top: int = MAX_FACE) -> int:
    k = int(rng.integers(len(bins)))
    hi = bins[k + 1] - 1 if k + 1 < len(bins) else top
    return int(rng.integers(bins[k], hi + 1))


def make_crowd(seed: int, height: int = 480, width: int = 640, n_faces: int = 12,
               sizes: list[int] | None = None) -> Crowd:
    """One crowd image. ``sizes`` fixes the faces' sizes; otherwise ``n_faces`` sizes are drawn.
    Faces that find no free place after many tries are left out (the boxes list only placed ones)."""
    rng = np.random.default_rng(seed)
    name = BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))]
    bg = _background(name)
    # A random crop of the background with the crowd's aspect, resized to the crowd's size.
    ch = min(bg.shape[0], int(bg.shape[1] * height / width))
    cw = int(ch * width / height)
    y, x = int(rng.integers(bg.shape[0] - ch + 1)), int(rng.integers(bg.shape[1] - cw + 1))
    image = _resize(np.ascontiguousarray(bg[y:y + ch, x:x + cw]), width, height).copy()
    faces = _faces()
    sizes = [draw_size(rng) for _ in range(n_faces)] if sizes is None else list(sizes)
    placed: list[tuple[int, int, int, int]] = []
    for s in sorted(sizes, reverse=True):          # big faces first: they are the hardest to fit
        s = int(min(s, height, width))
        for _ in range(200):
            x0, y0 = int(rng.integers(width - s + 1)), int(rng.integers(height - s + 1))
            gap = max(2, s // 4)                   # a little background between faces
            if all(x0 + s + gap <= a or b + gap <= x0 or y0 + s + gap <= c or d + gap <= y0
                   for a, c, b, d in placed):
                face = _resize(faces[int(rng.integers(len(faces)))], s, s)
                image[y0:y0 + s, x0:x0 + s] = face[..., None]
                placed.append((x0, y0, x0 + s, y0 + s))
                break
    return Crowd(image, np.asarray(placed, np.float64).reshape(-1, 4), name)


# ------------------------------------------------------------------------------------------ scoring
def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, float).reshape(-1, 4), np.asarray(b, float).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(2)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])   # noqa: E731
    return inter / np.maximum(area(a)[:, None] + area(b)[None] - inter, 1e-9)


def match(truth: np.ndarray, boxes: np.ndarray, scores: np.ndarray | None = None,
          iou: float = MATCH_IOU) -> tuple[np.ndarray, np.ndarray]:
    """Greedy one-to-one matching, best-scored detection first: (found (T,) bool, false (D,) bool)."""
    truth, boxes = np.asarray(truth, float).reshape(-1, 4), np.asarray(boxes, float).reshape(-1, 4)
    found = np.zeros(len(truth), bool)
    false = np.ones(len(boxes), bool)
    if len(truth) and len(boxes):
        overlaps = iou_matrix(boxes, truth)
        order = np.argsort(-np.asarray(scores)) if scores is not None else np.arange(len(boxes))
        for d in order:
            cand = np.where(~found & (overlaps[d] >= iou))[0]
            if len(cand):
                t = cand[np.argmax(overlaps[d, cand])]
                found[t], false[d] = True, False
    return found, false


def size_bin(sizes: np.ndarray, bins=SIZE_BINS) -> np.ndarray:
    """Index of each size's bin (-1 below the first edge)."""
    return np.searchsorted(np.asarray(bins), np.asarray(sizes), side="right") - 1


def recall_by_size(sizes: np.ndarray, found: np.ndarray, bins=SIZE_BINS) -> dict[int, tuple[int, int]]:
    """{bin lower edge: (found, total)} over the given faces."""
    idx = size_bin(sizes, bins)
    return {edge: (int(found[idx == k].sum()), int((idx == k).sum())) for k, edge in enumerate(bins)}
