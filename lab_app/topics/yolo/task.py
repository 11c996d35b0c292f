"""YOLO v1 tab's work (no Qt): train on procedural scenes, run on any image (letterboxed), explain
which cell and which of its B boxes a drawn ground-truth box trains, save and load."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from lab_app.core.control import Control
from lab_app.core.device import seed_everything, seeded_init
from lab_app.core.seeds import seed_field
from lab_app.data.scenes import CLASS_NAMES, SceneConfig
from lab_app.detection.postprocess import Detections, Letterbox, letterbox
from lab_app.detection.training import EXTRA_OBJECTS_TIP, LoopConfig, Trained, cpu_state, train_detector
from lab_app.detection.tta import PLAIN, TTA_MODES, TTA_TIP, Views, run_views
from lab_app.io.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from lab_app.io.errors import LoadError
from models.yolo import YoloConfig, YoloV1, cell_boxes, encode_yolo, paired_iou, responsible_cell

MODEL_NAME = "yolo-v1"
CHECKPOINT = Path(__file__).resolve().parents[3] / "resources" / "checkpoints" / "yolo.safetensors"


@dataclass(frozen=True)
class Config:
    """Knobs of the tab. Live ones re-filter or redraw the last result; the others restart training."""

    score_threshold: float = field(default=0.25, metadata={
        "label": "Confidence", "min": 0.0, "max": 1.0, "step": 0.01, "live": True,
        "tip": "Show boxes whose confidence x class probability is at least this"})
    nms_iou: float = field(default=0.5, metadata={
        "label": "NMS IoU", "min": 0.1, "max": 1.0, "step": 0.05, "live": True,
        "tip": "Of two boxes of one class overlapping more than this, keep the better one (1 = no NMS)"})
    show_grid: bool = field(default=True, metadata={"label": "Show the S x S grid", "live": True})
    # flip + 1.5x: mAP@0.5 0.90 vs 0.80 with the plain image on a YOLO trained 2770 steps on scenes of
    # 1-8 objects (0.82 with flip alone; yolo_scenes, trained on 1-24: 0.897 vs 0.846); see
    # lab_app.detection.tta.
    tta: str = field(default="flip + 1.5x", metadata={
        "label": "Test-time augmentation", "choices": list(TTA_MODES), "live": True,
        "tip": TTA_TIP})
    grid: int = field(default=16, metadata={"label": "Grid S", "min": 2, "max": 32,
                                           "tip": "The image is cut into S x S cells"})
    boxes: int = field(default=2, metadata={"label": "Boxes per cell B", "min": 1, "max": 4})
    classes: int = field(default=3, metadata={"label": "Classes", "min": 1, "max": len(CLASS_NAMES),
                                               "tip": "circle, square, triangle, star, ring (the first k)"})
    max_objects: int = field(default=8, metadata={"label": "Objects per image (max)", "min": 1, "max": 20})
    small_share: float = field(default=0.25, metadata={
        "label": "Share of small objects", "min": 0.0, "max": 1.0, "step": 0.05,
        "tip": "Objects under 32 x 32 pixels (COCO's 'small')"})
    # Training scenes hold up to this many objects more than the evaluated ones (more labelled objects a
    # step; lab_app.detection.training.training_scenes): YOLO v1 after 2400 steps, trained on 1-24
    # instead of 1-8 objects, mAP@0.5 on 1-8 0.785 -> 0.835 (the image alone).
    extra_objects: int = field(default=16, metadata={
        "label": "Extra objects when training", "min": 0, "max": 32,
        "tip": EXTRA_OBJECTS_TIP})
    # Width 16: a step takes under half as long as at width 32 on the 2-core CPU, and in equal time
    # the narrow net learns more (180 s in yolo_scenes:
    # YOLO's mAP@0.5 0.78 after ~2100 steps (median of 3) vs 0.77 after 1198).
    width: int = field(default=16, metadata={
        "label": "Network width", "min": 8, "max": 64, "step": 8,
        "tip": "Channels of the backbone's finest level (2x, 3x, 4x deeper). Wider learns more "
               "per step; on a CPU 16 learns the most per second (half the step time of 32)"})
    steps: int = field(default=1500, metadata={"label": "Training steps", "min": 50, "max": 20000, "step": 50})
    lr: float = field(default=2e-3, metadata={"label": "Learning rate", "min": 1e-4, "max": 1e-2, "log": True})
    batch_size: int = 8
    image_size: int = 256
    eval_every: int = 100
    eval_scenes: int = 48
    seconds: float = 0.0
    seed: int = seed_field()

    def scenes(self) -> SceneConfig:
        return SceneConfig(size=self.image_size, classes=self.classes, max_objects=self.max_objects,
                           small_share=self.small_share)

    def model_config(self) -> YoloConfig:
        return YoloConfig(num_classes=self.classes, grid=self.grid, boxes=self.boxes, width=self.width,
                          input_size=self.image_size)

    def loop(self) -> LoopConfig:
        return LoopConfig(steps=self.steps, seconds=self.seconds, batch_size=self.batch_size, lr=self.lr,
                          eval_every=self.eval_every, eval_scenes=self.eval_scenes, seed=self.seed,
                          extra_objects=self.extra_objects)


def build_model(model_config: dict, state: dict | None = None) -> YoloV1:
    model = YoloV1(YoloConfig(**model_config))
    if state is not None:
        model.load_state_dict(state)
    return model.eval()


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


def detect_task(model, image, class_names, ctl: Control, views: Views = PLAIN):
    """Task-generator wrapper of ``detect`` for a runner (no events, one result)."""
    ctl.checkpoint()
    return detect(model, image, class_names, views)
    yield  # pragma: no cover  (makes this a generator)


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


# --- save / load --------------------------------------------------------------------------------------


def save_model(path, trained: Trained, card: dict | None = None) -> Path:
    extra = {"train_config": trained.train_config, "history": trained.history, **(card or {})}
    return save_checkpoint(path, Checkpoint("yolo", MODEL_NAME, trained.state, trained.model_config,
                                            tuple(trained.class_names), trained.metrics,
                                            seed=trained.train_config.get("seed"), extra=extra))


def load_model(path) -> tuple[YoloV1, tuple[str, ...], dict]:
    ckpt = load_checkpoint(path, tab="yolo", architectures=(MODEL_NAME,))
    state, config = ckpt.state_dict, ckpt.config
    card = {**ckpt.extra, "metrics": ckpt.metrics, "class_names": list(ckpt.class_names)}
    try:
        model = build_model(config, state)
    except (TypeError, RuntimeError) as e:
        raise LoadError(path, f"the weights do not fit the model its card describes ({e})") from None
    names = tuple(card.get("class_names") or CLASS_NAMES[: model.cfg.num_classes])
    return model, names, card


def trained_from(model, names, card) -> Trained:
    return Trained(cpu_state(model), model.cfg.to_dict(), tuple(names), card.get("metrics", {}),
                   card.get("history", []), card.get("train_config", {}))
