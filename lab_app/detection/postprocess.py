"""Post-processing shared by every detector: score threshold, class-aware NMS (torchvision.ops),
and letterboxing a photo of any size into the square the model was trained on, and back.

A detector hands over *candidates* (all its boxes above a tiny score, before NMS); the view keeps
them and re-filters with the live sliders, so moving a threshold never runs the model again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["Detections", "filter_detections", "Letterbox", "letterbox"]


@dataclass(frozen=True)
class Detections:
    boxes: np.ndarray     # (N, 4) float32, x0 y0 x1 y1 pixels
    scores: np.ndarray    # (N,) float32
    labels: np.ndarray    # (N,) int64

    def __len__(self) -> int:
        return len(self.scores)

    @staticmethod
    def empty() -> Detections:
        return Detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))

    @staticmethod
    def from_torch(boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor) -> Detections:
        return Detections(boxes.detach().cpu().float().numpy().reshape(-1, 4),
                          scores.detach().cpu().float().numpy().reshape(-1),
                          labels.detach().cpu().long().numpy().reshape(-1))

    def take(self, keep) -> Detections:
        return Detections(self.boxes[keep], self.scores[keep], self.labels[keep])


def filter_detections(det: Detections, score_threshold: float, iou_threshold: float | None,
                      max_detections: int = 100) -> Detections:
    """Keep candidates with score >= ``score_threshold``, then class-aware NMS at ``iou_threshold``
    (None or >= 1: no NMS), best first, at most ``max_detections``."""
    keep = np.nonzero(det.scores >= score_threshold)[0]
    if len(keep) and iou_threshold is not None and iou_threshold < 1.0:
        from torchvision.ops import batched_nms  # torchvision costs ~2 s to import: not at start-up

        kept = batched_nms(torch.from_numpy(det.boxes[keep]), torch.from_numpy(det.scores[keep]),
                           torch.from_numpy(det.labels[keep]), float(iou_threshold)).numpy()
        keep = keep[kept]
    else:
        keep = keep[np.argsort(-det.scores[keep], kind="stable")]
    return det.take(keep[:max_detections])


@dataclass(frozen=True)
class Letterbox:
    """How an (h, w) photo maps into the model's square input: scale, then pad right and bottom."""

    scale: float
    height: int
    width: int
    size: int

    def to_image(self, boxes: np.ndarray) -> np.ndarray:
        """Boxes in model-input pixels -> boxes in the photo's pixels (clipped to the photo)."""
        b = np.asarray(boxes, np.float32).reshape(-1, 4) / self.scale
        b[:, 0::2] = b[:, 0::2].clip(0, self.width)
        b[:, 1::2] = b[:, 1::2].clip(0, self.height)
        return b


def letterbox(image: np.ndarray, size: int, fill: int = 114) -> tuple[np.ndarray, Letterbox]:
    """Resize uint8 (H, W, 3) so the longer side is ``size`` (aspect kept) and pad to size x size."""
    from PIL import Image

    h, w = image.shape[:2]
    scale = size / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    resample = Image.Resampling.BILINEAR if scale > 1 else Image.Resampling.BOX   # BOX: no aliasing
    resized = np.asarray(Image.fromarray(image).resize((nw, nh), resample))
    out = np.full((size, size, 3), fill, np.uint8)
    out[:nh, :nw] = resized
    return out, Letterbox(scale, h, w, size)
