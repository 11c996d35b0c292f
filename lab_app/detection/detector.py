"""What the detector tabs share (no Qt): the knobs every detector tab has (``DetectorConfig``), one
checkpoint code for their models (``detector_spec``: a ModelSpec of lab_app.core.trained), and the
task that builds or loads a model in the worker and runs it on the tab's image (``detector_run``).

A tab's config is ``@dataclass class Config(DetectorConfig, TabKnobs)`` where ``TabKnobs`` holds its
own knobs: dataclasses collect the fields of the bases last-to-first, so the tab's own knobs come
first in the panel and the shared ones follow (a field the tab redefines in ``Config`` keeps its
place and takes the new default)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from lab_app.core.seeds import seed_field
from lab_app.core.trained import ModelSpec, model_task
from lab_app.data.scenes import CLASS_NAMES, SceneConfig
from lab_app.detection.training import EXTRA_OBJECTS_TIP, LoopConfig
from lab_app.detection.tta import Views


@dataclass(frozen=True)
class DetectorConfig:
    """The scene, training and network knobs of a detector tab (all restart training). The figures
    behind the defaults (network width 16, 16 extra training objects) are in the README and in the
    docstrings of the yolo_scenes and centernet_scenes benchmarks."""

    classes: int = field(default=3, metadata={"label": "Classes", "min": 1, "max": len(CLASS_NAMES),
                                               "tip": "circle, square, triangle, star, ring (the first k)"})
    max_objects: int = field(default=8, metadata={"label": "Objects per image (max)", "min": 1, "max": 20})
    small_share: float = field(default=0.25, metadata={
        "label": "Share of small objects", "min": 0.0, "max": 1.0, "step": 0.05,
        "tip": "Objects under 32 x 32 pixels (COCO's 'small')"})
    # More labelled objects in every step at the same cost per step (training_scenes); mAP is still
    # measured on scenes as configured above.
    extra_objects: int = field(default=16, metadata={
        "label": "Extra objects when training", "min": 0, "max": 32,
        "tip": EXTRA_OBJECTS_TIP})
    # Narrow: on a CPU a step at width 16 takes under half as long as at 32, and in equal time the
    # narrow network learns more.
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

    def loop(self) -> LoopConfig:
        return LoopConfig(steps=self.steps, seconds=self.seconds, batch_size=self.batch_size, lr=self.lr,
                          eval_every=self.eval_every, eval_scenes=self.eval_scenes, seed=self.seed,
                          extra_objects=self.extra_objects)


def scene_class_names(k: int) -> tuple[str, ...]:
    """The names of a detector's k classes when its checkpoint names none: the scenes' first k."""
    return tuple(CLASS_NAMES[:k])


def detector_spec(tab: str, architecture: str, title: str, build: Callable) -> ModelSpec:
    """The checkpoint code of a detector tab: ``build(model_config, state)`` -> model in eval mode."""
    return ModelSpec(tab, architecture, title, build, scene_class_names)


def with_state(model, state: dict | None):
    """``model`` with ``state`` loaded (None: as initialised), in eval mode."""
    if state is not None:
        model.load_state_dict(state)
    return model.eval()


def _on_image(detect: Callable, image: np.ndarray, views: Views, model, class_names):
    return detect(model, image, class_names, views=views)


def detector_run(spec: ModelSpec, detect: Callable, source: Any, image: np.ndarray | None, views: Views, ctl):
    """Task generator: build or load the model ``source`` names (a path, Weights, Trained or Ready)
    and run ``detect(model, image, class_names, views=...)`` on ``image`` (None: build only).
    Returns a ModelRun whose ``inputs`` is the image."""
    run = partial(_on_image, detect, image, views) if image is not None else None
    return (yield from model_task(spec, source, run, image, ctl))


@dataclass(frozen=True)
class OpenedImage:
    image: np.ndarray         # (H, W, 3) uint8
    name: str
    scene: bool = False       # a procedural scene (what the in-app models know), not a photo


def open_image(path, ctl):
    """Task generator: read a photo (LoadError, naming the file, for one that cannot be read)."""
    from pathlib import Path

    from lab_app.io.image import load_image

    ctl.checkpoint()
    return OpenedImage(load_image(path), Path(path).name)
    yield  # pragma: no cover  (makes this a generator)


def scene_image(cfg: SceneConfig, seed: int, ctl):
    """Task generator: paint one procedural scene (exact ground truth, fully determined by the seed)."""
    from lab_app.data.scenes import make_scene

    ctl.checkpoint()
    scene = make_scene(cfg, seed)
    return OpenedImage(scene.image, f"scene {seed}: {len(scene.boxes)} objects", scene=True)
    yield  # pragma: no cover  (makes this a generator)


def photo_note(class_names, coco_available: tuple[str, ...], faces_tab: str) -> str:
    """What a detector trained on procedural scenes says over a photo: what it knows, and where the
    detectors of real objects are."""
    known = ", ".join(f"{n}s" for n in class_names)
    coco = (f"pick {coco_available[0]} in <i>Detector</i> (COCO's 80 kinds of object)" if coco_available else
            "the COCO detectors in <i>Detector</i> once their weights are in the torch hub cache")
    return (f"<b>This model knows only procedural {known}</b> drawn on plain backgrounds: on a photo its "
            f"boxes are guesses, not objects. For real objects: {coco}; for faces: the <i>Faces (MTCNN)</i> "
            f"sub-tab of <i>{faces_tab}</i>.")
