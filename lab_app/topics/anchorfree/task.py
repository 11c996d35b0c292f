"""Anchor-free detection tab's work (no Qt): train a CenterNet on procedural scenes, run it on any
image (letterboxed to the model's square), show the targets a drawn box creates, save and load."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from lab_app.core.control import Control
from lab_app.core.device import seed_everything, seeded_init
from lab_app.detection.postprocess import Detections, Letterbox, letterbox
from lab_app.detection.detector import DetectorConfig, detector_spec, with_state
from lab_app.detection.training import train_detector
from lab_app.detection.tta import PLAIN, TTA_MODES, TTA_TIP, Views, run_views
from models.centernet import CenterNet, CenterNetConfig, encode_centernet, gaussian_radius
from models.fcos import FCOS, FcosConfig, encode_fcos

MODEL_NAME = "anchorfree"
CHECKPOINT = Path(__file__).resolve().parents[3] / "resources" / "checkpoints" / "anchorfree.safetensors"


@dataclass(frozen=True)
class AnchorFreeKnobs:
    """The anchor-free tab's own knobs (first in the panel). Live ones re-filter or redraw the last
    result; the others restart training."""

    head: str = field(default="CenterNet", metadata={
        "label": "Head", "choices": ["CenterNet", "FCOS"],
        "tip": "CenterNet: centre heatmaps + size, peaks by 3x3 max-pool. FCOS: every location inside a box "
               "regresses its distances to the four sides, weighted by centre-ness; NMS after"})
    score_threshold: float = field(default=0.3, metadata={
        "label": "Confidence", "min": 0.0, "max": 1.0, "step": 0.01, "live": True,
        "tip": "Show peaks whose heatmap value is at least this"})
    nms_iou: float = field(default=1.0, metadata={
        "label": "NMS IoU (1 = off)", "min": 0.1, "max": 1.0, "step": 0.05, "live": True,
        "tip": "CenterNet needs no NMS: the 3x3 max-pool already keeps one peak per object. Lower this "
               "to see what NMS would still remove"})
    heat_opacity: float = field(default=0.55, metadata={
        "label": "Heatmap opacity", "min": 0.0, "max": 1.0, "step": 0.05, "live": True})
    # One extra view at 1.25x: nearly all of the gain of flip + 1.25x at well under its cost per
    # image (centernet_scenes' docstring has the figures).
    tta: str = field(default="1.25x", metadata={
        "label": "Test-time augmentation", "choices": list(TTA_MODES), "live": True, "tip": TTA_TIP})


@dataclass(frozen=True)
class AnchorFreeConfig(DetectorConfig, AnchorFreeKnobs):
    """Every knob of the tab: its own, then the shared scene, training and network knobs."""

    lr: float = field(default=3e-3, metadata={"label": "Learning rate", "min": 1e-4, "max": 1e-2, "log": True})

    def model_config(self) -> CenterNetConfig | FcosConfig:
        if self.head == "FCOS":
            return FcosConfig(num_classes=self.classes, width=self.width, input_size=self.image_size)
        return CenterNetConfig(num_classes=self.classes, width=self.width, input_size=self.image_size)


Config = AnchorFreeConfig   # the name the shared DetectorTab looks for


def build_model(model_config: dict, state: dict | None = None) -> CenterNet | FCOS:
    fcos = model_config.get("arch") == "fcos"
    model = FCOS(FcosConfig(**model_config)) if fcos else CenterNet(CenterNetConfig(**model_config))
    return with_state(model, state)


SPEC = detector_spec("anchorfree", MODEL_NAME, "anchor-free detector", build_model)   # save, load


def train(cfg: AnchorFreeConfig, _data, ctl: Control):
    """Task generator: train a CenterNet or FCOS from scratch (see lab_app.detection.training)."""
    seed_everything(cfg.seed)
    with seeded_init(cfg.seed):   # the initial weights too are the seed's
        model = build_model(cfg.model_config().to_dict()).train()
    return (yield from train_detector(model, cfg.loop(), cfg.scenes(), ctl, {"tab": asdict(cfg)}))


# --- inference ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Inference:
    image: np.ndarray             # the photo as given (H, W, 3) uint8
    letterbox: Letterbox
    candidates: Detections        # in the photo's pixels, before threshold / NMS
    heatmap: np.ndarray           # (C, h, w) peak probabilities over the model's square input
    peaks: np.ndarray             # (K, 3) class, row, col of the candidates on the heatmap grid
    class_names: tuple[str, ...]


@torch.no_grad()
def detect(model: CenterNet, image: np.ndarray, class_names, ctl: Control | None = None,
           views: Views = PLAIN) -> Inference:
    """Run the model on any uint8 (H, W, 3) image: letterbox, heatmaps, peaks, boxes in photo pixels,
    from the test-time ``views`` (the heatmap is the 1x view's)."""
    square, lb = letterbox(image, model.cfg.input_size)
    out, candidates = run_views(model.eval(), square[None], views, next(model.parameters()).device)
    heat = model.score_maps(out).cpu()                    # the model may live on a GPU
    boxes, scores, labels = (t.cpu() for t in candidates[0])
    h, w = heat.shape[2:]
    r = model.cfg.stride
    centres = ((boxes[:, :2] + boxes[:, 2:]) / 2 / r).floor().long()
    peaks = np.stack([labels.numpy(), centres[:, 1].clamp(0, h - 1).numpy(), centres[:, 0].clamp(0, w - 1).numpy()], 1)
    det = Detections.from_torch(boxes, scores, labels)
    det = Detections(lb.to_image(det.boxes), det.scores, det.labels)
    return Inference(image, lb, det, heat[0].numpy(), peaks, tuple(class_names))


# --- what a drawn box teaches ---------------------------------------------------------------------


@dataclass(frozen=True)
class BoxTargets:
    heatmap: np.ndarray       # (h, w) the Gaussian this box writes into its class channel
    cell: tuple[int, int]     # (col, row) of the centre cell on the stride-R grid
    offset: tuple[float, float]
    size: tuple[float, float]
    radius: int
    stride: int


def box_targets(box_image: np.ndarray, lb: Letterbox, cfg: CenterNetConfig) -> BoxTargets:
    """The CenterNet targets a box drawn on the photo (photo pixels) creates on the model's grid."""
    b = np.asarray(box_image, np.float32).reshape(1, 4) * lb.scale
    b = b.clip(0, cfg.input_size - 1e-3)
    t = encode_centernet(b, np.zeros(1, np.int64), replace(cfg, num_classes=1))
    r = cfg.stride
    row, col = np.unravel_index(int(np.argmax(t["mask"])), t["mask"].shape)
    w, h = (b[0, 2] - b[0, 0]) / r, (b[0, 3] - b[0, 1]) / r
    return BoxTargets(t["heatmap"][0], (int(col), int(row)), tuple(float(v) for v in t["offset"][:, row, col]),
                      tuple(float(v) for v in t["size"][:, row, col]), int(gaussian_radius(h, w)), r)


@dataclass(frozen=True)
class FcosBoxTargets:
    centerness: np.ndarray    # (h, w) centre-ness target at the box's positive locations, 0 elsewhere
    positives: int
    cell: tuple[int, int]     # (col, row) of the positive location with the highest centre-ness
    ltrb: tuple[float, float, float, float]   # its distances to the four sides, model-input pixels
    stride: int


def fcos_box_targets(box_image: np.ndarray, lb: Letterbox, cfg: FcosConfig) -> FcosBoxTargets:
    """The FCOS targets a box drawn on the photo (photo pixels) creates on the model's grid."""
    b = (np.asarray(box_image, np.float32).reshape(1, 4) * lb.scale).clip(0, cfg.input_size - 1e-3)
    t = encode_fcos(b, np.zeros(1, np.int64), replace(cfg, num_classes=1))
    row, col = np.unravel_index(int(np.argmax(t["centerness"] + t["pos"])), t["pos"].shape)
    return FcosBoxTargets(t["centerness"], int(t["pos"].sum()), (int(col), int(row)),
                          tuple(float(v) for v in t["ltrb"][:, row, col]), cfg.stride)
