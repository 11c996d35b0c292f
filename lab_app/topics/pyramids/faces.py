"""Small faces: the MTCNN cascade stage by stage, and scikit-image's LBP cascade on the same photo.

Qt-free. ``cascade_task`` is the work of the "Faces (MTCNN)" sub-tab and of the command line::

    python -m lab_app.topics.pyramids.faces PHOTO... [--min-face N] [--factor F] --json

It runs P-Net over the pyramid, proposes, refines with R-Net and O-Net, and keeps every stage's network
outputs in a ``CascadeCache``: given the previous cache, a new threshold re-runs only from the stage it
belongs to (t3 alone re-filters O-Net's scores; t2 re-runs O-Net; t1 re-runs R-Net and O-Net), while a
new photo, minimum face size or scale factor rebuilds the pyramid."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from lab_app.core.events import Event, Message
from lab_app.io.errors import LoadError
from models import mtcnn as M

WEIGHTS = Path(__file__).resolve().parents[3] / "resources" / "mtcnn"
#: Photos larger than this on their long side are scaled down first (the pyramid's cost grows with
#: the pixel count, and a phone photo's faces are rarely under 20 px at this size).
MAX_SIDE = 1600
STAGES = ("P-Net pyramid", "P-Net windows", "R-Net", "O-Net")


@dataclass
class FacesConfig:
    min_face: int = field(default=20, metadata={
        "label": "Minimum face (px)", "min": 8, "max": 128, "tip":
        "The smallest face searched for. The first pyramid level scales the photo by 12 / min_face so "
        "such a face fills P-Net's 12 px window; halving it quadruples P-Net's pixels."})
    factor: float = field(default=M.DEFAULT_FACTOR, metadata={
        "label": "Scale factor f", "min": 0.5, "max": 0.9, "step": 0.001, "tip":
        "Each pyramid level is the previous one times f (0.709: half the pixels). Closer to 1: more "
        "levels, fewer faces fall between two scales, more work."})
    t1: float = field(default=0.6, metadata={
        "label": "P-Net threshold", "min": 0.05, "max": 0.99, "step": 0.01, "live": True, "tip":
        "A 12 px window with P-Net face probability >= t1 becomes a candidate (re-runs R-Net and O-Net)."})
    t2: float = field(default=0.7, metadata={
        "label": "R-Net threshold", "min": 0.05, "max": 0.99, "step": 0.01, "live": True, "tip":
        "Candidates whose 24 px crop R-Net scores above t2 go on to O-Net (re-runs O-Net only)."})
    t3: float = field(default=0.7, metadata={
        "label": "O-Net threshold", "min": 0.05, "max": 0.99, "step": 0.01, "live": True, "tip":
        "Faces whose 48 px crop O-Net scores above t3 are kept (no network re-runs)."})
    lbp_scale: float = 1.2      # the LBP cascade's window growth per step (scikit-image's example)
    seed: int = 0

    @property
    def thresholds(self) -> tuple[float, float, float]:
        return (self.t1, self.t2, self.t3)


# ------------------------------------------------------------------------------------------- photos
@dataclass(frozen=True)
class Photo:
    """The image the cascade runs on (uint8 (H, W, 3)), its name, notes about how it was prepared, and
    the true face boxes when they are known (generated crowds)."""

    image: np.ndarray
    name: str
    notes: tuple[str, ...] = ()
    truth: np.ndarray | None = None


def prepare(image: np.ndarray, name: str, truth: np.ndarray | None = None, max_side: int = MAX_SIDE) -> Photo:
    """Downscale a huge photo (with a note); refuse anything that is not an (H, W, 3) uint8 image."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise LoadError(None, f"{name}: expected an RGB uint8 image, got {image.dtype} {image.shape}")
    notes = []
    h, w = image.shape[:2]
    if max(h, w) > max_side:
        s = max_side / max(h, w)
        nh, nw = max(1, round(h * s)), max(1, round(w * s))
        from PIL import Image

        # area averaging on the uint8 image (a float copy of a 60-megapixel photo would take 700 MB)
        image = np.asarray(Image.fromarray(image).resize((nw, nh), Image.Resampling.BOX))
        truth = None if truth is None else truth * s
        notes.append(f"downscaled from {w} x {h} to {nw} x {nh} (the cascade runs on at most {max_side} px "
                     "a side; faces shrink by the same factor)")
    return Photo(np.ascontiguousarray(image), name, tuple(notes), truth)


def load_photo(spec: str | Path, seed: int = 0) -> Photo:
    """"astronaut", "crowd" (seeded) or a file path (any image the lab reads; LoadError otherwise)."""
    if spec == "astronaut":
        from skimage import data

        return prepare(data.astronaut(), "astronaut")
    if spec == "crowd":
        from lab_app.topics.pyramids.crowd import make_crowd

        crowd = make_crowd(seed)
        return prepare(crowd.image, f"crowd (seed {seed}, {len(crowd.boxes)} faces on {crowd.background})",
                       truth=crowd.boxes)
    from lab_app.io.image import load_image

    path = Path(spec)
    return prepare(load_image(path), path.name)


# ------------------------------------------------------------------------------------------- weights
@lru_cache(maxsize=4)
def load_mtcnn(device: str = "cpu") -> M.MTCNN:
    """The three nets with the vendored weights (safetensors: nothing is unpickled)."""
    from torchvision import ops  # noqa: F401  (seconds to import: here, not inside the first timed stage)

    from lab_app.io.checkpoint import load_checkpoint, load_state_into

    model = M.MTCNN()
    for net in M.NET_NAMES:
        path = WEIGHTS / f"{net}.safetensors"
        ckpt = load_checkpoint(path, tab="pyramids", architectures=(f"mtcnn-{net}",))
        load_state_into(getattr(model, net), ckpt, path)
    return model.to(device).eval()


# ------------------------------------------------------------------------------------------- events
@dataclass(frozen=True)
class PhotoShown(Event):
    photo: Photo


@dataclass(frozen=True)
class PyramidDrawn(Event):
    """Every level's image with P-Net's face probability over it, side by side (``mosaic``, shrunk by
    ``display_scale`` to a viewable height); ``rects`` (L, 4) x, y, w, h of each level in the mosaic."""

    coalesce = True
    mosaic: np.ndarray
    rects: np.ndarray
    scales: tuple[float, ...]
    shapes: tuple[tuple[int, int], ...]
    peaks: tuple[float, ...]
    display_scale: float


@dataclass(frozen=True)
class CascadeDrawn(Event):
    """The boxes after each stage (numpy), the stage times and which stage this run started from."""

    coalesce = True
    stages: dict          # name -> {"boxes": (N, 4), "scores": (N,), ["landmarks": (N, 5, 2)], ["levels"]}
    times_ms: dict        # STAGES name -> ms (the last time that stage ran)
    from_stage: int
    thresholds: tuple[float, float, float]
    levels: int
    pixels: int


@dataclass(frozen=True)
class LbpDrawn(Event):
    coalesce = True
    boxes: np.ndarray
    ms: float
    min_face: int


@dataclass
class CascadeCache:
    photo: Photo
    min_face: int
    factor: float
    thresholds: tuple[float, float, float]
    img: torch.Tensor
    maps: M.PNetMaps
    proposals: M.Proposals | None = None
    rnet_out: tuple | None = None
    refined: M.Stage | None = None
    onet_out: tuple | None = None
    final: M.Stage | None = None
    times_ms: dict = field(default_factory=dict)


def first_stale_stage(cache: CascadeCache | None, photo: Photo, cfg: FacesConfig) -> int:
    """0: rebuild the pyramid; 1: from P-Net's windows (t1); 2: from O-Net (t2); 3: O-Net's cut (t3)."""
    if (cache is None or cache.photo is not photo or cache.min_face != cfg.min_face
            or cache.factor != cfg.factor):
        return 0
    for k, (old, new) in enumerate(zip(cache.thresholds, cfg.thresholds, strict=True)):
        if old != new:
            return k + 1
    return 4   # nothing changed


def _stage_arrays(stage: M.Stage) -> dict:
    out = {"boxes": stage.boxes.cpu().numpy().copy(), "scores": stage.scores.cpu().numpy().copy()}
    if stage.landmarks is not None:
        out["landmarks"] = stage.landmarks.cpu().numpy().copy()
    if stage.levels is not None:
        out["levels"] = stage.levels.cpu().numpy().copy()
    return out


def level_plan(h: int, w: int, min_face: float, factor: float) -> list[tuple[float, tuple[int, int]]]:
    """(scale, (height, width)) of every pyramid level: what P-Net will read."""
    return [(s, M.level_shape(h, w, s)) for s in M.pyramid_scales(h, w, min_face, factor)]


@torch.no_grad()
def cascade_task(photo: Photo | str | Path, cfg: FacesConfig, ctl, cache: CascadeCache | None = None,
                 with_lbp: bool = False):
    """Run (or re-run from the stale stage) the cascade on ``photo``; returns the new CascadeCache."""
    if not isinstance(photo, Photo):
        yield Message(f"reading {photo}")
        photo = load_photo(photo, cfg.seed)
        yield PhotoShown(photo)
    start = first_stale_stage(cache, photo, cfg)
    model = load_mtcnn(str(ctl.device))
    t1, t2, t3 = cfg.thresholds
    h, w = photo.image.shape[:2]
    if start == 0:
        img = M.image_tensor(photo.image, ctl.device)
        scales = M.pyramid_scales(h, w, cfg.min_face, cfg.factor)

        def each(k):
            ctl.checkpoint()

        t = time.perf_counter()
        maps = M.pnet_maps(model.pnet, img, scales, each)
        cache = CascadeCache(photo, cfg.min_face, cfg.factor, cfg.thresholds, img, maps)
        cache.times_ms[STAGES[0]] = (time.perf_counter() - t) * 1000
        yield pyramid_event(photo.image, img, maps)
    else:
        cache = replace(cache, thresholds=cfg.thresholds, times_ms=dict(cache.times_ms))
    ctl.checkpoint()
    if start <= 1:
        t = time.perf_counter()
        cache.proposals = M.pnet_propose(cache.maps, t1, (h, w))
        cache.times_ms[STAGES[1]] = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        cache.rnet_out = M.rnet_score(model.rnet, cache.img, cache.proposals.candidates)
        cache.times_ms[STAGES[2]] = (time.perf_counter() - t) * 1000
        ctl.checkpoint()
    if start <= 2:
        t = time.perf_counter()
        cache.refined = M.rnet_refine(cache.proposals.candidates, *cache.rnet_out, t2)
        cache.onet_out = M.onet_score(model.onet, cache.img, cache.refined)
        cache.times_ms[STAGES[3]] = (time.perf_counter() - t) * 1000
        ctl.checkpoint()
    if start <= 3:
        cache.final = M.onet_finish(cache.refined, *cache.onet_out, t3)
    yield cascade_event(cache, min(start, 4))
    if start == 0 and with_lbp:
        boxes, ms = lbp_detect(photo.image, cfg.min_face, cfg.lbp_scale)
        yield LbpDrawn(boxes, ms, cfg.min_face)
    return cache


def cascade_event(cache: CascadeCache, from_stage: int) -> CascadeDrawn:
    p = cache.proposals
    stages = {"pnet_raw": _stage_arrays(p.raw), "pnet_nms": _stage_arrays(p.nms),
              "rnet": _stage_arrays(cache.refined), "onet": _stage_arrays(cache.final)}
    return CascadeDrawn(stages, dict(cache.times_ms), from_stage, cache.thresholds, len(cache.maps.scales),
                        int(sum(a * b for a, b in cache.maps.shapes)))


def pyramid_event(image: np.ndarray, img: torch.Tensor, maps: M.PNetMaps, height: int = 360,
                  gap: int = 8) -> PyramidDrawn:
    """The levels left to right, bottom-aligned, each with its probability map as a heat overlay."""
    if not maps.scales:
        empty = np.zeros((1, 1, 3), np.uint8)
        return PyramidDrawn(empty, np.zeros((0, 4)), (), (), (), 1.0)
    d = min(1.0, height / maps.shapes[0][0])
    sizes = [(max(1, round(lh * d)), max(1, round(lw * d))) for lh, lw in maps.shapes]
    total_w = sum(s[1] for s in sizes) + gap * (len(sizes) - 1)
    mosaic = np.full((sizes[0][0], total_w, 3), 28, np.uint8)
    rects, x = [], 0
    for (dh, dw), (lh, lw), prob in zip(sizes, maps.shapes, maps.probs, strict=True):
        level = torch.nn.functional.interpolate(img, size=(dh, dw), mode="area")[0]
        level = level.permute(1, 2, 0).cpu().numpy()
        p = prob.cpu().numpy()
        # Display pixel u sits at level x = (u + 0.5) / d; cell j's window is centred at 2 j + 6.
        jx = np.clip(np.floor(((np.arange(dw) + 0.5) / d - 6) / 2 + 0.5), 0, p.shape[1] - 1).astype(int)
        jy = np.clip(np.floor(((np.arange(dh) + 0.5) / d - 6) / 2 + 0.5), 0, p.shape[0] - 1).astype(int)
        heat = p[jy][:, jx][..., None]
        alpha = np.clip((heat - 0.05) / 0.95, 0, 1) * 0.9   # (the level is dimmed so the heat stands out)
        color = np.concatenate([np.full_like(heat, 255), 60 + 190 * heat, 30 * heat], 2)
        y0 = sizes[0][0] - dh
        mosaic[y0:, x:x + dw] = np.clip(level * 0.55 * (1 - alpha) + color * alpha, 0, 255).astype(np.uint8)
        rects.append((x, y0, dw, dh))
        x += dw + gap
    peaks = tuple(float(p.max()) if p.numel() else 0.0 for p in maps.probs)
    return PyramidDrawn(mosaic, np.asarray(rects, float), tuple(maps.scales), tuple(maps.shapes), peaks, d)


# ------------------------------------------------------------------------------------------- LBP
def lbp_task(photo: Photo, min_face: int, scale_factor: float, ctl):
    """The LBP cascade on the photo as a task of its own (it depends on the minimum face only)."""
    ctl.checkpoint()
    boxes, ms = lbp_detect(photo.image, min_face, scale_factor)
    yield LbpDrawn(boxes, ms, min_face)


def lbp_detect(image: np.ndarray, min_face: int, scale_factor: float = 1.2) -> tuple[np.ndarray, float]:
    """scikit-image's LBP frontal-face cascade (OpenCV's lbpcascade_frontalface): a 24 px classifier
    slid over an image pyramid. Boxes (N, 4) x0 y0 x1 y1 and the time it took in ms."""
    from skimage import data
    from skimage.color import rgb2gray
    from skimage.feature import Cascade

    h, w = image.shape[:2]
    if min(h, w) < min_face:
        return np.zeros((0, 4)), 0.0
    cascade = Cascade(data.lbp_frontal_face_cascade_filename())   # per call (cheap): one per thread
    t = time.perf_counter()
    found = cascade.detect_multi_scale(rgb2gray(image), scale_factor=scale_factor, step_ratio=1,
                                       min_size=(min_face, min_face), max_size=(h, w))
    ms = (time.perf_counter() - t) * 1000
    boxes = np.asarray([[f["c"], f["r"], f["c"] + f["width"], f["r"] + f["height"]] for f in found], float)
    return boxes.reshape(-1, 4), ms


# ------------------------------------------------------------------------------------------- CLI
def detect_files(paths: list[str], cfg: FacesConfig) -> list[dict]:
    """The command line's work: the tab's task, drained, per photo."""
    from lab_app.core.control import Control
    from lab_app.core.events import drain

    results = []
    for p in paths:
        try:
            events, cache = drain(cascade_task(p, cfg, Control("cpu"), with_lbp=False))
        except LoadError as e:
            results.append({"file": p, "error": str(e)})
            continue
        photo = next(e.photo for e in events if isinstance(e, PhotoShown))
        final = cache.final
        faces = [{"box": [round(float(v), 2) for v in b], "score": round(float(s), 5),
                  "landmarks": [[round(float(x), 2), round(float(y), 2)] for x, y in lm]}
                 for b, s, lm in zip(final.boxes.tolist(), final.scores.tolist(), final.landmarks.tolist(),
                                     strict=True)]
        results.append({"file": p, "width": photo.image.shape[1], "height": photo.image.shape[0],
                        "notes": list(photo.notes), "levels": len(cache.maps.scales), "faces": faces})
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab_app.topics.pyramids.faces",
                                     description="MTCNN faces (boxes, scores, five landmarks) per photo.")
    parser.add_argument("photos", nargs="+", help="image files ('astronaut', 'crowd': the built-in ones)")
    parser.add_argument("--min-face", type=int, default=20, help="smallest face in pixels (default 20)")
    parser.add_argument("--factor", type=float, default=M.DEFAULT_FACTOR, help="pyramid scale factor")
    parser.add_argument("--thresholds", type=float, nargs=3, default=M.DEFAULT_THRESHOLDS,
                        metavar=("T1", "T2", "T3"))
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.min_face < 1 or not 0 < args.factor < 1:
        parser.error("need --min-face >= 1 and 0 < --factor < 1")
    torch.set_num_threads(1)
    t1, t2, t3 = args.thresholds
    cfg = FacesConfig(min_face=args.min_face, factor=args.factor, t1=t1, t2=t2, t3=t3)
    results = detect_files(args.photos, cfg)
    if args.json:
        print(json.dumps({"min_face": cfg.min_face, "factor": cfg.factor, "thresholds": list(cfg.thresholds),
                          "photos": results}))
    else:
        for r in results:
            if "error" in r:
                print(f"{r['file']}: {r['error']}", file=sys.stderr)
                continue
            print(f"{r['file']}: {len(r['faces'])} face(s), {r['levels']} pyramid levels")
            for f in r["faces"]:
                print(f"  box {f['box']} score {f['score']:.3f}")
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
