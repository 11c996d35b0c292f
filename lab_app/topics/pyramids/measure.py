"""The price of small faces, measured on generated crowds (Qt-free): recall by face size for MTCNN and
the LBP cascade at one minimum face size, and time per image against the minimum face size.

``measure_task`` feeds the sub-tab's two charts as it goes (a point per image, a point per size);
``evaluate_crowds`` is the same measurement for the benchmark (benchmarks/faces_by_size.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from lab_app.core.events import Event, Progress
from lab_app.topics.pyramids import crowd as C
from lab_app.topics.pyramids.faces import FacesConfig, lbp_detect, load_mtcnn
from models import mtcnn as M

#: Minimum face sizes of the time sweep, cheapest first so the chart fills from the right.
SWEEP = (64, 48, 32, 24, 20, 16, 12)


@dataclass(frozen=True)
class RecallPoint(Event):
    """Found / total faces per size bin after ``images`` crowd images, for both detectors."""

    coalesce = True
    images: int
    bins: tuple[int, ...]
    totals: tuple[int, ...]
    mtcnn_found: tuple[int, ...]
    lbp_found: tuple[int, ...]
    mtcnn_fp: int
    lbp_fp: int
    min_face: int


@dataclass(frozen=True)
class TimePoint(Event):
    min_face: int
    mtcnn_ms: float
    lbp_ms: float
    levels: int
    pixels: int


@dataclass
class Tally:
    """Running counts over crowd images, per size bin, for both detectors."""

    bins: tuple[int, ...] = C.SIZE_BINS
    totals: np.ndarray = field(default_factory=lambda: np.zeros(len(C.SIZE_BINS), int))
    found: dict = field(default_factory=lambda: {"mtcnn": np.zeros(len(C.SIZE_BINS), int),
                                                 "lbp": np.zeros(len(C.SIZE_BINS), int)})
    fp: dict = field(default_factory=lambda: {"mtcnn": 0, "lbp": 0})
    ms: dict = field(default_factory=lambda: {"mtcnn": [], "lbp": []})
    images: int = 0
    faces_24up: int = 0
    found_24up: dict = field(default_factory=lambda: {"mtcnn": 0, "lbp": 0})

    def add(self, name: str, truth: np.ndarray, boxes: np.ndarray, scores, ms: float) -> None:
        found, false = C.match(truth, boxes, scores)
        sizes = truth[:, 2] - truth[:, 0]
        idx = C.size_bin(sizes, self.bins)
        for k in range(len(self.bins)):
            self.found[name][k] += int(found[idx == k].sum())
        self.found_24up[name] += int(found[sizes >= 24].sum())
        self.fp[name] += int(false.sum())
        self.ms[name].append(ms)

    def add_truth(self, truth: np.ndarray) -> None:
        sizes = truth[:, 2] - truth[:, 0]
        idx = C.size_bin(sizes, self.bins)
        self.totals += np.bincount(idx[idx >= 0], minlength=len(self.bins))[: len(self.bins)]
        self.faces_24up += int((sizes >= 24).sum())
        self.images += 1

    def recall(self, name: str) -> dict[str, float | None]:
        return {str(b): (round(float(f) / t, 4) if t else None)
                for b, f, t in zip(self.bins, self.found[name], self.totals, strict=True)}

    def point(self, min_face: int) -> RecallPoint:
        ints = lambda a: tuple(int(v) for v in a)   # noqa: E731
        return RecallPoint(self.images, tuple(self.bins), ints(self.totals), ints(self.found["mtcnn"]),
                           ints(self.found["lbp"]), self.fp["mtcnn"], self.fp["lbp"], min_face)


@torch.no_grad()
def mtcnn_detect(image: np.ndarray, cfg: FacesConfig, min_face: int | None = None,
                 device: str = "cpu") -> tuple[np.ndarray, np.ndarray, float]:
    """Boxes, scores and milliseconds of the whole cascade on one image."""
    model = load_mtcnn(device)
    t = time.perf_counter()
    final = model.detect(image, cfg.min_face if min_face is None else min_face, cfg.factor, cfg.thresholds)
    ms = (time.perf_counter() - t) * 1000
    return final.boxes.cpu().numpy(), final.scores.cpu().numpy(), ms


def crowd_seed(seed: int, i: int) -> int:
    return seed * 100_003 + i   # image i of the crowd set of ``seed``: disjoint sets for nearby seeds


def evaluate_crowds(cfg: FacesConfig, images: int, tally: Tally | None = None, ctl=None, device: str = "cpu"):
    """Yield the tally after each crowd image (both detectors at cfg.min_face)."""
    tally = tally or Tally()
    for i in range(images):
        crowd = C.make_crowd(crowd_seed(cfg.seed, i))
        tally.add_truth(crowd.boxes)
        boxes, scores, ms = mtcnn_detect(crowd.image, cfg, device=device)
        tally.add("mtcnn", crowd.boxes, boxes, scores, ms)
        if ctl is not None:
            ctl.checkpoint()
        boxes, ms = lbp_detect(crowd.image, cfg.min_face, cfg.lbp_scale)
        tally.add("lbp", crowd.boxes, boxes, None, ms)
        yield tally


def measure_task(cfg: FacesConfig, ctl, images: int = 3, sweep: tuple[int, ...] = SWEEP):
    """Recall by size on ``images`` crowds, then the time sweep on the first crowd; returns the Tally."""
    device = str(ctl.device)
    total = images + len(sweep)
    tally = None
    for tally in evaluate_crowds(cfg, images, ctl=ctl, device=device):
        yield tally.point(cfg.min_face)
        yield Progress(tally.images, total, text=f"recall: crowd image {tally.images} of {images}")
        ctl.checkpoint()
    image = C.make_crowd(crowd_seed(cfg.seed, 0)).image
    h, w = image.shape[:2]
    for k, min_face in enumerate(sweep):
        _, _, mtcnn_ms = mtcnn_detect(image, cfg, min_face, device)
        ctl.checkpoint()
        _, lbp_ms = lbp_detect(image, min_face, cfg.lbp_scale)
        scales = M.pyramid_scales(h, w, min_face, cfg.factor)
        yield TimePoint(min_face, mtcnn_ms, lbp_ms, len(scales),
                        int(sum(a * b for a, b in (M.level_shape(h, w, s) for s in scales))))
        yield Progress(images + k + 1, total, text=f"time at min face {min_face} px")
        ctl.checkpoint()
    return tally
