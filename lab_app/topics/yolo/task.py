"""YOLO v1 tab's work (no Qt): train on procedural scenes, run on any image (letterboxed), explain
which cell and which of its B boxes a drawn ground-truth box trains, save and load."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from lab_app.core.control import Control
from lab_app.core.device import seed_everything, seeded_init
from lab_app.detection.postprocess import Detections, Letterbox, letterbox
from lab_app.detection.detector import DetectorConfig, detector_spec, with_state
from lab_app.detection.training import train_detector
from lab_app.detection.tta import PLAIN, TTA_MODES, TTA_TIP, Views, run_views
from models.yolo import YoloConfig, YoloV1, cell_boxes, encode_yolo, paired_iou, responsible_cell

MODEL_NAME = "yolo-v1"
CHECKPOINT = Path(__file__).resolve().parents[3] / "resources" / "checkpoints" / "yolo.safetensors"


@dataclass(frozen=True)
class YoloKnobs:
    """The YOLO tab's own knobs (first in the panel). Live ones re-filter or redraw the last result;
    the others restart training."""

    score_threshold: float = field(default=0.25, metadata={
        "label": "Confidence", "min": 0.0, "max": 1.0, "step": 0.01, "live": True,
        "tip": "Show boxes whose confidence x class probability is at least this"})
    nms_iou: float = field(default=0.5, metadata={
        "label": "NMS IoU", "min": 0.1, "max": 1.0, "step": 0.05, "live": True,
        "tip": "Of two boxes of one class overlapping more than this, keep the better one (1 = no NMS)"})
    show_grid: bool = field(default=True, metadata={"label": "Show the S x S grid", "live": True})
    # The views that scored best in yolo_scenes (its docstring has the figures); see lab_app.detection.tta.
    tta: str = field(default="flip + 1.5x", metadata={
        "label": "Test-time augmentation", "choices": list(TTA_MODES), "live": True, "tip": TTA_TIP})
    grid: int = field(default=16, metadata={"label": "Grid S", "min": 2, "max": 32,
                                           "tip": "The image is cut into S x S cells"})
    boxes: int = field(default=2, metadata={"label": "Boxes per cell B", "min": 1, "max": 4})


@dataclass(frozen=True)
class Config(DetectorConfig, YoloKnobs):
    """Every knob of the tab: its own, then the shared scene, training and network knobs."""

    def model_config(self) -> YoloConfig:
        return YoloConfig(num_classes=self.classes, grid=self.grid, boxes=self.boxes, width=self.width,
                          input_size=self.image_size)


def build_model(model_config: dict, state: dict | None = None) -> YoloV1:
    return with_state(YoloV1(YoloConfig(**model_config)), state)


SPEC = detector_spec("yolo", MODEL_NAME, "YOLO v1", build_model)   # save, load (lab_app.core.trained)


def train(cfg: Config, _data, ctl: Control):
    """Task generator: train YOLO v1 from scratch (see lab_app.detection.training)."""
    seed_everything(cfg.seed)
    with seeded_init(cfg.seed):   # the initial weights too are the seed's
        model = YoloV1(cfg.model_config())
    return (yield from train_detector(model, cfg.loop(), cfg.scenes(), ctl, {"tab": asdict(cfg)}))


# --- inference ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Inference:
    image: np.ndarray             # the photo as given (H, W, 3) uint8
    letterbox: Letterbox
    candidates: Detections        # all S*S*B boxes in the photo's pixels, before threshold / NMS
    cell_boxes: np.ndarray        # (S, S, B, 4) each cell's B boxes in the photo's pixels
    confidence: np.ndarray        # (S, S, B)
    class_probs: np.ndarray       # (S, S, C)
    class_names: tuple[str, ...]

    @property
    def grid(self) -> int:
        return self.confidence.shape[0]

    def cell_at(self, x: float, y: float) -> tuple[int, int] | None:
        """(col, row) of the cell under photo pixel (x, y), None outside the model's square."""
        side = self.letterbox.size / self.letterbox.scale
        if not (0 <= x < side and 0 <= y < side):
            return None
        return responsible_cell(x, y, self.grid, side)


@torch.no_grad()
def detect(model: YoloV1, image: np.ndarray, class_names, views: Views = PLAIN) -> Inference:
    """Run the model on any uint8 (H, W, 3) image (letterboxed), from the test-time ``views``: boxes in
    photo pixels; each cell's boxes, confidences and class probabilities from the 1x view."""
    square, lb = letterbox(image, model.cfg.input_size)
    out, candidates = run_views(model.eval(), square[None], views, next(model.parameters()).device)
    out = {k: v.cpu() for k, v in out.items()}       # the model may live on a GPU
    boxes, scores, labels = candidates[0]
    det = Detections.from_torch(boxes, scores, labels)
    det = Detections(lb.to_image(det.boxes), det.scores, det.labels)
    per_cell = cell_boxes(out["boxes"])[0].numpy() * model.cfg.input_size / lb.scale
    return Inference(image, lb, det, per_cell, out["boxes"][0, ..., 4].numpy(), out["probs"][0].numpy(),
                     tuple(class_names))


# --- what a drawn box teaches ---------------------------------------------------------------------


@dataclass(frozen=True)
class BoxTargets:
    cell: tuple[int, int]                 # (col, row) of the responsible cell
    responsible_box: int                  # which of the cell's B boxes (highest IoU with the truth)
    ious: tuple[float, ...]               # IoU of each of the B predicted boxes with the drawn box
    xy: tuple[float, float]               # centre inside the cell, in cell units
    sqrt_wh: tuple[float, float]          # square roots of width and height as image fractions


def box_targets(box_image: np.ndarray, result: Inference, cfg: YoloConfig) -> BoxTargets:
    """The targets a box drawn on the photo (photo pixels) creates, given the model's current boxes."""
    lb = result.letterbox
    b = (np.asarray(box_image, np.float32).reshape(1, 4) * lb.scale).clip(0, cfg.input_size)
    t = encode_yolo(b, np.zeros(1, np.int64), YoloConfig(**{**cfg.to_dict(), "num_classes": 1}))
    row, col = np.unravel_index(int(np.argmax(t["obj"])), t["obj"].shape)
    predicted = torch.from_numpy(result.cell_boxes[row, col] * lb.scale / cfg.input_size)   # (B, 4) fractions
    ious = paired_iou(predicted, torch.from_numpy(t["box"][row, col]).expand_as(predicted)).numpy()
    return BoxTargets((int(col), int(row)), int(np.argmax(ious)), tuple(float(v) for v in ious),
                      tuple(float(v) for v in t["xy"][row, col]), tuple(float(v) for v in t["sqrt_wh"][row, col]))
