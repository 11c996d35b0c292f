"""The "Image vs feature pyramid" sub-tab's work (no Qt).

Three detectors are trained live on the same procedural scenes, each for the same seconds
(``lab_app.detection.training.train_detector``): the single-level one (stride 8), the FPN (P3..P6,
one shared head) and SNIP (the single-level architecture trained on 0.5x / 1x / 2x with valid
ranges). The image pyramid is the single-level detector run at several scales, so it has no
training of its own. All four pipelines are then scored on the same held-out scenes (ms per image
and per level, pycocotools mAP, AP small / medium / large, AP against object size) and run level by
level on the tab's image."""

from __future__ import annotations

import time
from pathlib import Path
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import torch

from lab_app.core.control import Control
from lab_app.core.device import seed_everything
from lab_app.core.events import Event, Message
from lab_app.core.sealed import Sealed, opened
from lab_app.data.scenes import CLASS_NAMES, SceneConfig, make_scenes
from lab_app.detection.evaluate import ap_by_size, coco_map
from lab_app.detection.postprocess import Detections, Letterbox, letterbox
from lab_app.detection.training import EVAL_NMS, EVAL_SCORE, LoopConfig, train_detector
from lab_app.detection.tta import folded, resized, to_tensor
from lab_app.io.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from lab_app.io.errors import LoadError
from models.pyramids import (PyramidConfig, PyramidDetector, SnipConfig, SnipTrainer, assign_levels, decode,
                             encode, in_valid_range, merge_scales, object_sizes)

PIPELINES = ("single", "image_pyramid", "fpn", "snip")
TITLES = {"single": "Single level", "image_pyramid": "Image pyramid", "fpn": "Feature pyramid (FPN)",
          "snip": "SNIP"}
SIZE_EDGES = (0, 12, 24, 32, 48, 64, 96, 128, 1000)       # sqrt(w h) bins of the AP-vs-size curve
MAX_SIDE = 2048                                           # photos larger than this are downscaled first


@dataclass(frozen=True)
class FpnConfig:
    """Knobs of the sub-tab; the live ones redraw or re-run the trained models, the others retrain."""

    levels: int = field(default=3, metadata={
        "label": "Image-pyramid levels", "min": 1, "max": 4, "live": True,
        "tip": "How many rescaled copies of the image the single-level detector runs on (1: the image "
               "alone; 3 with factor 2: 0.5x, 1x, 2x). Each level is one more forward pass"})
    factor: float = field(default=2.0, metadata={
        "label": "Scale factor", "min": 1.25, "max": 2.0, "step": 0.05, "live": True,
        "tip": "Ratio between neighbouring image-pyramid levels"})
    score_threshold: float = field(default=0.3, metadata={
        "label": "Confidence", "min": 0.05, "max": 0.95, "step": 0.05, "live": True,
        "tip": "Boxes drawn on the views score at least this (the table uses all of them, as COCO does)"})
    small_share: float = field(default=0.45, metadata={
        "label": "Share of small objects", "min": 0.0, "max": 1.0, "step": 0.05,
        "tip": "Share of objects drawn under 32 x 32 px (COCO's 'small'), the ones a stride-8 map struggles with"})
    train_seconds: float = field(default=15.0, metadata={
        "label": "Training seconds (each)", "min": 5.0, "max": 180.0, "step": 5.0,
        "tip": "Each of the three trained detectors (single level, FPN, SNIP) trains this long"})
    width: int = field(default=16, metadata={
        "label": "Network width", "min": 8, "max": 48, "step": 8,
        "tip": "Backbone channels at stride 4 (2x, 3x, 4x at C3, C4, C5); the maps the head sees have 2x"})
    snip_valid: tuple = ((80.0, 1e4), (24.0, 112.0), (0.0, 40.0))    # per factor of SNIP_FACTORS, photo px
    classes: int = 3
    max_objects: int = 8
    image_size: int = 384
    batch_size: int = 8
    lr: float = 3e-3
    eval_scenes: int = 24
    steps: int = 0                   # > 0: train each detector this many steps instead of by seconds
    seed: int = 0

    def scenes(self) -> SceneConfig:
        return SceneConfig(size=self.image_size, classes=self.classes, max_objects=self.max_objects,
                           small_share=self.small_share)

    def detector(self, arch: str) -> PyramidConfig:
        return PyramidConfig(num_classes=self.classes, width=self.width, channels=2 * self.width,
                             input_size=self.image_size, arch=arch)

    def pyramid_factors(self) -> tuple[float, ...]:
        """The image pyramid's scales, centred on 1x: 1 level (1,), 2 (1, f), 3 (1/f, 1, f), 4 (.., f^2)."""
        low = (self.levels - 1) // 2
        return tuple(float(self.factor) ** (i - low) for i in range(self.levels))


SNIP_FACTORS = (0.5, 1.0, 2.0)


# --- events and results ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PipelineTrained(Event):
    name: str
    model_config: dict
    state: dict
    metrics: dict


@dataclass(frozen=True)
class Models:
    single: PyramidDetector
    fpn: PyramidDetector
    snip: PyramidDetector                # the single-level architecture, SNIP-trained
    snip_config: SnipConfig
    train_steps: dict
    class_names: tuple[str, ...]


@dataclass(frozen=True)
class Level:
    name: str                  # "P3", "0.5x", ...
    side: int                  # side of the square this level's detector looks at (the rescaled image)
    energy: np.ndarray         # (h', w') channel energy of its feature map, 0..1
    stride: float              # feature cell in photo pixels
    detections: Detections     # candidates this level produced, in photo pixels (before threshold)
    ms: float


@dataclass(frozen=True)
class PipelineRun:
    name: str
    levels: list
    merged: Detections         # after the merge (NMS), in photo pixels, with ``level_of`` per box
    level_of: np.ndarray
    ms: float


@dataclass(frozen=True)
class ImageRun:
    image: np.ndarray
    letterbox: Letterbox
    runs: dict                 # pipeline -> PipelineRun
    note: str = ""


# --- training ---------------------------------------------------------------------------------------


def _loop(cfg: FpnConfig, k: int) -> LoopConfig:
    by_steps = cfg.steps > 0
    return LoopConfig(steps=cfg.steps if by_steps else 1_000_000, seconds=0.0 if by_steps else cfg.train_seconds, batch_size=cfg.batch_size, lr=cfg.lr,
                      eval_every=1_000_000, eval_scenes=4, seed=cfg.seed + k, report_every=5)


def build(name: str, cfg: FpnConfig, state: dict | None = None):
    if name == "snip":
        model = SnipTrainer(SnipConfig(cfg.detector("single").to_dict(), SNIP_FACTORS, cfg.snip_valid))
    else:
        model = PyramidDetector(cfg.detector(name))
    if state is not None:
        model.load_state_dict(state)
    return model


def train_all(cfg: FpnConfig, ctl: Control):
    """Task generator: train single, FPN and SNIP in turn, then score the four pipelines on held-out
    scenes. Yields Progress (loss terms), PipelineTrained after each, and a Table at the end; returns
    (Models, Table)."""
    trained, steps = {}, {}
    for k, name in enumerate(("single", "fpn", "snip")):
        seed_everything(cfg.seed + k)
        model = build(name, cfg).train()
        yield Message(f"training {TITLES[name]} for {cfg.train_seconds:g} s")
        result = yield from train_detector(model, _loop(cfg, k), cfg.scenes(), ctl, {"tab": asdict(cfg)})
        trained[name] = model.eval().cpu()
        steps[name] = int(result.metrics["steps"])
        yield PipelineTrained(name, result.model_config, result.state, result.metrics)
    steps["image_pyramid"] = steps["single"]
    models = Models(trained["single"], trained["fpn"], trained["snip"].detector, trained["snip"].cfg, steps,
                    cfg.scenes().class_names)
    table = yield from evaluate(models, cfg, ctl)
    return models, table


def sealed(models: Models) -> Sealed[Models]:
    """The detectors as the tab keeps them: bytes on the window's side (lab_app/core/sealed.py), with
    the class names and step counts it reads itself."""
    return Sealed(models, class_names=models.class_names, train_steps=models.train_steps)


def train_task(cfg: FpnConfig, ctl: Control):
    """The tab's training run: ``train_all``, its detectors sealed for the window."""
    models, table = yield from train_all(cfg, ctl)
    return sealed(models), table


# --- running the pipelines ----------------------------------------------------------------------


def energy(feature: torch.Tensor) -> np.ndarray:
    """(1, F, h, w) -> (h, w): mean squared activation over the channels, scaled to 0..1."""
    e = feature[0].float().pow(2).mean(0)
    return (e / e.max().clamp(min=1e-12)).cpu().numpy()


def _run_levels(detector, cfg: PyramidConfig, square: np.ndarray, device) -> tuple[list, float]:
    """One pass of ``detector`` on (S, S, 3) uint8: per level (features, candidates with level index)."""
    t0 = time.perf_counter()
    out = detector(to_tensor(square[None], device))
    boxes, scores, labels, level = decode(out, cfg)[0]
    return (out["features"], (boxes, scores, labels, level)), (time.perf_counter() - t0) * 1000


@torch.no_grad()
def run_pipeline(name: str, models: Models, square: np.ndarray, cfg: FpnConfig, device="cpu",
                 snip_valid=None) -> PipelineRun:
    """One (S, S, 3) uint8 image through one pipeline, level by level (boxes in its pixels)."""
    if name in ("single", "fpn"):
        det = getattr(models, name)
        (feats, (b, s, lab, lev)), ms = _run_levels(folded(det), det.cfg, square, device)
        levels = []
        for i, (k, stride) in enumerate(zip(det.cfg.levels, det.cfg.strides, strict=True)):
            keep = lev == i
            levels.append(Level(f"P{k}", square.shape[0], energy(feats[i]), float(stride),
                                Detections.from_torch(b[keep], s[keep], lab[keep]), ms if i == 0 else 0.0))
        kept = _merge_keep(b, s, lab)
        merged, level_of = Detections.from_torch(b[kept], s[kept], lab[kept]), lev.numpy()[kept]
        return PipelineRun(name, levels, merged, level_of, ms)
    factors = cfg.pyramid_factors() if name == "image_pyramid" else SNIP_FACTORS
    valid = None if name == "image_pyramid" else (snip_valid or models.snip_config.valid)
    det = folded(models.single if name == "image_pyramid" else models.snip)
    levels, per_scale, actual, total = [], [], [], 0.0
    for j, f in enumerate(factors):
        im, fw = resized(square[None], f, 8)
        (feats, (b, s, lab, _)), ms = _run_levels(det, det.cfg, im[0], device)
        total += ms
        found = Detections.from_torch(b / fw, s, lab)
        if valid is not None:
            found = found.take(in_valid_range(found.boxes, valid[j]))
        levels.append(Level(f"{f:g}x", im.shape[1], energy(feats[0]), 8.0 / fw, found, ms))
        per_scale.append((b, s, lab))
        actual.append(fw)
    b, s, lab, lev = merge_scales(per_scale, actual, valid, iou=None)
    kept = _merge_keep(b, s, lab)
    merged = Detections.from_torch(b[kept], s[kept], lab[kept])
    return PipelineRun(name, levels, merged, lev.numpy()[kept], total)


def _merge_keep(boxes, scores, labels, limit: int = 300) -> np.ndarray:
    """Indices kept by the evaluation's filter: score >= EVAL_SCORE, class-aware NMS at EVAL_NMS."""
    from torchvision.ops import batched_nms

    keep = np.nonzero(scores.numpy() >= EVAL_SCORE)[0]
    return keep[batched_nms(boxes[keep], scores[keep], labels[keep], EVAL_NMS).numpy()][:limit]


def prepare_photo(image: np.ndarray) -> tuple[np.ndarray, str]:
    """A photo as the views can show it: larger than MAX_SIDE -> downscaled, with a note saying so."""
    h, w = image.shape[:2]
    if max(h, w) <= MAX_SIDE:
        return image, ""
    from PIL import Image

    scale = MAX_SIDE / max(h, w)
    small = np.asarray(Image.fromarray(image).resize((max(1, round(w * scale)), max(1, round(h * scale))),
                                                     Image.Resampling.BOX))
    return small, f"the image ({w} x {h}) was downscaled to {small.shape[1]} x {small.shape[0]} first"


def run_image(models: Models, image: np.ndarray, cfg: FpnConfig, ctl: Control, only=PIPELINES, note: str = ""):
    """Task generator: every pipeline (or those in ``only``) on any uint8 (H, W, 3) image, letterboxed
    to the detectors' square; boxes and level cells come back in the photo's pixels."""
    image, downscaled = prepare_photo(image)
    note = "; ".join(n for n in (note, downscaled) if n)
    square, lb = letterbox(image, cfg.image_size)
    runs = {}
    for name in only:
        ctl.checkpoint()
        r = run_pipeline(name, models, square, cfg, ctl.device, cfg.snip_valid)
        runs[name] = _to_photo(r, lb)
    return ImageRun(image, lb, runs, note)
    yield  # pragma: no cover  (a generator)


def _to_photo(r: PipelineRun, lb: Letterbox) -> PipelineRun:
    def back(d: Detections) -> Detections:
        return Detections(lb.to_image(d.boxes), d.scores, d.labels)

    levels = [replace(lv, detections=back(lv.detections), stride=lv.stride / lb.scale) for lv in r.levels]
    return replace(r, levels=levels, merged=back(r.merged))


# --- evaluation ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    rows: dict                 # pipeline -> {"infer_ms", "level_ms": [...], "map50", ..., "ap_by_size": [...]}
    size_edges: tuple
    scenes: int


def held_out(cfg: FpnConfig, count: int | None = None):
    return make_scenes(cfg.scenes(), cfg.eval_scenes if count is None else count, seed=cfg.seed + 10_007)


def evaluate(models: Models, cfg: FpnConfig, ctl: Control, only=PIPELINES, scenes=None, table: Table | None = None):
    """Task generator: score pipelines on held-out scenes (one image at a time, as the views run them);
    returns a Table (rows of ``table`` not in ``only`` are kept)."""
    scenes = held_out(cfg) if scenes is None else scenes
    truths = [(sc.boxes, sc.labels) for sc in scenes]
    rows = dict(table.rows) if table is not None else {}
    for name in only:
        preds, level_ms, total = [], [], []
        for sc in scenes:
            ctl.checkpoint()
            r = run_pipeline(name, models, sc.image, cfg, ctl.device, cfg.snip_valid)
            preds.append(r.merged)
            level_ms.append([lv.ms for lv in r.levels])
            total.append(r.ms)
        m = coco_map(preds, truths, len(models.class_names))
        rows[name] = {"infer_ms": float(np.median(total)), "level_ms": np.median(level_ms, 0).tolist(),
                      "level_names": [lv.name for lv in r.levels], **m,
                      "ap_by_size": ap_by_size(preds, truths, len(models.class_names), SIZE_EDGES),
                      "train_steps": models.train_steps.get(name, 0)}
        yield Message(f"{TITLES[name]}: mAP@0.5 {m['map50']:.3f}, {rows[name]['infer_ms']:.1f} ms an image")
    return Table(rows, SIZE_EDGES, len(scenes))


def image_task(models: Models, cfg: FpnConfig, ctl: Control, path: Path | None = None, seed: int = 0,
               only=PIPELINES, prev: ImageRun | None = None):
    """Task generator for the panel's image runner: ``prev``'s image again through the pipelines in
    ``only`` (their runs replace those in ``prev``); else the photo at ``path``, or else procedural
    scene ``seed`` of ``cfg``, through every pipeline."""
    models = opened(models)
    if prev is not None:
        update = yield from run_image(models, prev.image, cfg, ctl, only=only, note=prev.note)
        return replace(prev, runs={**prev.runs, **update.runs})
    if path is not None:
        from lab_app.io.image import load_image

        image = load_image(path)
        note = f"{Path(path).name} (trained on procedural shapes only: on a photo its boxes are guesses)"
    else:
        from lab_app.data.scenes import make_scene

        image, note = make_scene(cfg.scenes(), cfg.seed * 1_000_003 + 20_011 + seed).image, ""
    return (yield from run_image(models, image, cfg, ctl, note=note))


def evaluate_task(models, cfg, ctl, only=PIPELINES, table=None):
    return (yield from evaluate(opened(models), cfg, ctl, only, table=table))


# --- what a drawn box teaches ---------------------------------------------------------------------


@dataclass(frozen=True)
class BoxReport:
    size: float                  # sqrt(w h) in the detectors' input pixels
    fpn_level: int               # the level the FPN rule gives it
    positives: np.ndarray        # (n, n) its positive locations on that level
    snip_in_range: tuple         # per SNIP factor: does that scale learn it
    text: str


def box_report(box_photo, lb: Letterbox, cfg: FpnConfig) -> BoxReport:
    """Which FPN level owns a box drawn on the photo, the positives it makes there, and which SNIP
    scales train on it."""
    b = (np.asarray(box_photo, np.float32).reshape(1, 4) * lb.scale).clip(0, cfg.image_size)
    det = cfg.detector("fpn")
    level = int(assign_levels(b, det.levels, det.k0, det.s0)[0])
    t = encode(b, np.zeros(1, np.int64), replace(det, num_classes=1))
    i = det.levels.index(level)
    n = int(np.sqrt((t["level"] == level).sum()))
    pos = t["pos"][t["level"] == level].reshape(n, n)
    size = float(object_sizes(b)[0])
    snip = tuple(bool(in_valid_range(b, v)[0]) for v in cfg.snip_valid)
    rule = f"k = floor({det.k0} + log2({size:.0f} / {det.s0:g})) = {det.k0 + np.log2(max(size, 1e-6) / det.s0):.2f}"
    scales = ", ".join(f"{f:g}x {'learns it' if ok else 'ignores it'} ({size * f:.0f} px there)"
                       for f, ok in zip(SNIP_FACTORS, snip, strict=True))
    text = (f"Box of size sqrt(wh) = {size:.0f} px (model input) -> FPN level P{level} "
            f"(stride {det.strides[i]}; rule {rule}, clamped to 3..6): {int(pos.sum())} positive "
            f"location(s) there, background on the other levels. SNIP: {scales}.")
    return BoxReport(size, level, pos, snip, text)


def class_names(k: int) -> tuple[str, ...]:
    return CLASS_NAMES[:k]


# --- save / load (one file holds the three trained detectors) -------------------------------------

ARCHITECTURE = "pyramids-single-fpn-snip"
CHECKPOINT = Path(__file__).resolve().parents[3] / "resources" / "checkpoints" / "pyramids_fpn.safetensors"


def save_models(path, models: Models, cfg: FpnConfig, metrics: dict | None = None, extra: dict | None = None) -> Path:
    state = {f"{name}.{k}": v for name in ("single", "fpn", "snip")
             for k, v in getattr(models, name).state_dict().items()}
    return save_checkpoint(path, Checkpoint("pyramids", ARCHITECTURE, state, asdict(cfg), models.class_names,
                                            metrics or {}, seed=cfg.seed,
                                            extra={"train_steps": models.train_steps, **(extra or {})}))


def load_models(path) -> tuple[Models, FpnConfig, dict]:
    """The three detectors of a checkpoint and the config they were trained with (LoadError if the file
    is not one)."""
    ckpt = load_checkpoint(path, tab="pyramids", architectures=(ARCHITECTURE,))
    try:
        raw = dict(ckpt.config)
        raw["snip_valid"] = tuple(tuple(v) for v in raw.get("snip_valid", FpnConfig.snip_valid))
        cfg = FpnConfig(**raw)
        nets = {}
        for name in ("single", "fpn", "snip"):
            net = PyramidDetector(cfg.detector("fpn" if name == "fpn" else "single"))
            prefix = f"{name}."
            net.load_state_dict({k[len(prefix):]: v for k, v in ckpt.state_dict.items() if k.startswith(prefix)})
            nets[name] = net.eval()
    except (TypeError, RuntimeError, KeyError) as e:
        raise LoadError(path, f"the weights do not fit the models its header describes ({e})") from None
    snip_cfg = SnipConfig(cfg.detector("single").to_dict(), SNIP_FACTORS, cfg.snip_valid)
    models = Models(nets["single"], nets["fpn"], nets["snip"], snip_cfg,
                    dict(ckpt.extra.get("train_steps", {})), tuple(ckpt.class_names) or class_names(cfg.classes))
    return models, cfg, {"metrics": ckpt.metrics, **ckpt.extra}


def load_task(path, ctl: Control):
    """Task generator: load a checkpoint (off the UI thread); (sealed detectors, config, card)."""
    ctl.checkpoint()
    models, cfg, card = load_models(path)
    return sealed(models), cfg, card
    yield  # pragma: no cover
