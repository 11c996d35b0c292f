"""Pretrained COCO detectors from torchvision (FCOS, RetinaNet, Faster R-CNN) with their real
weights, read only from the local torch hub cache: nothing is downloaded, so offline the lab says
plainly what is missing and where to put it, and the in-app model keeps working.

The weights file is the one ``torchvision`` itself would download (same name, same folder), so a
user who ever ran e.g. ``torchvision.models.detection.fcos_resnet50_fpn(weights="DEFAULT")`` with
internet has it already.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lab_app.detection.postprocess import Detections


def _registry():
    from torchvision.models import detection as d

    return {
        "FCOS ResNet50-FPN (COCO)": (d.fcos_resnet50_fpn, d.FCOS_ResNet50_FPN_Weights.COCO_V1),
        "RetinaNet ResNet50-FPN v2 (COCO)": (d.retinanet_resnet50_fpn_v2, d.RetinaNet_ResNet50_FPN_V2_Weights.COCO_V1),
        "Faster R-CNN MobileNetV3-320 (COCO)": (d.fasterrcnn_mobilenet_v3_large_320_fpn,
                                                d.FasterRCNN_MobileNet_V3_Large_320_FPN_Weights.COCO_V1),
    }


PRETRAINED_NAMES = ("FCOS ResNet50-FPN (COCO)", "RetinaNet ResNet50-FPN v2 (COCO)",
                    "Faster R-CNN MobileNetV3-320 (COCO)")
# The file names torchvision downloads them as (its weights' URLs; a test checks they agree), so that
# which ones are here can be told without importing torchvision's detection models.
WEIGHT_FILES = {"FCOS ResNet50-FPN (COCO)": "fcos_resnet50_fpn_coco-99b0c9b7.pth",
                "RetinaNet ResNet50-FPN v2 (COCO)": "retinanet_resnet50_fpn_v2_coco-5905b1c5.pth",
                "Faster R-CNN MobileNetV3-320 (COCO)": "fasterrcnn_mobilenet_v3_large_320_fpn-907ea3f9.pth"}


class PretrainedUnavailable(Exception):
    """The weights are not in the local cache (the message says which file and where)."""


def cached_weights(name: str) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHT_FILES[name]


def available() -> tuple[str, ...]:
    """The pretrained detectors whose weights are in the local cache (three file checks)."""
    return tuple(name for name in PRETRAINED_NAMES if cached_weights(name).is_file())


def load_pretrained(name: str) -> tuple[torch.nn.Module, tuple[str, ...]]:
    """(model in eval mode, COCO category names) or PretrainedUnavailable. Never downloads."""
    if name not in _registry():
        raise PretrainedUnavailable(f"unknown pretrained detector {name!r}")
    build, weights = _registry()[name]
    path = cached_weights(name)
    if not path.is_file():
        raise PretrainedUnavailable(
            f"{name}: its COCO weights are not in the torch hub cache ({path} is missing) and the lab "
            f"does not download. With internet, fetch {weights.url} into that folder (or run torchvision "
            "once with weights='DEFAULT'); until then the in-app model stays in use.")
    model = build(weights=None, weights_backbone=None, num_classes=len(weights.meta["categories"]))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as e:   # truncated download, another model's file, ...
        raise PretrainedUnavailable(f"{name}: {path} could not be loaded ({type(e).__name__}: {e})") from None
    return model.eval(), tuple(weights.meta["categories"])


@torch.no_grad()
def detect_pretrained(model: torch.nn.Module, image: np.ndarray) -> Detections:
    """All of the model's detections on uint8 (H, W, 3), in the image's pixels (torchvision resizes)."""
    x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float() / 255.0
    out = model([x])[0]
    return Detections.from_torch(out["boxes"], out["scores"], out["labels"])


@dataclass(frozen=True)
class PretrainedInference:
    image: np.ndarray
    candidates: Detections
    class_names: tuple[str, ...]
    detector: str


@dataclass(frozen=True)
class Unavailable:
    detector: str
    message: str


def pretrained_task(name: str, image: np.ndarray, loaded: dict, ctl):
    """Task generator for a runner: load ``name`` once (kept in ``loaded``) and detect on ``image``.
    Returns PretrainedInference, or Unavailable with the message when the weights are missing."""
    ctl.checkpoint()
    if name not in loaded:
        try:
            loaded[name] = load_pretrained(name)
        except PretrainedUnavailable as e:
            return Unavailable(name, str(e))
    ctl.checkpoint()
    model, names = loaded[name]
    return PretrainedInference(image, detect_pretrained(model, image), names, name)
    yield  # pragma: no cover  (makes this a generator)
