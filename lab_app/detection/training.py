"""The training loop every detector tab runs in its worker (no Qt).

A detector model has ``forward(images) -> raw outputs``, ``encode(boxes, labels) -> dense numpy
targets`` for one image, ``loss(raw, targets) -> {"loss": total, term: value, ...}`` and
``candidates(raw) -> [(boxes, scores, labels)]`` per image. Training scenes are drawn for every batch
(seeded by step, so a run is reproducible; ``SceneStream``): half of each batch fresh, half the
left-right mirror images of scenes painted ``mirror_after`` batches earlier; training scenes may hold
more objects than the evaluated ones (``training_scenes``). A fixed validation set of the scenes as
configured is scored with pycocotools every ``eval_every`` steps.

Events: Progress with the loss terms (every ``report_every`` steps), Progress with the mAP figures
after each evaluation, and ``Weights`` (lab_app.core.trained, coalesced) so the tab can run the live
model on its image.
"""

from __future__ import annotations

import math
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import torch

from lab_app.core.control import Control
from lab_app.core.device import cpu_cores, seed_everything
from lab_app.core.events import Progress
from lab_app.core.lanes import Lanes, default_lanes
from lab_app.core.trained import Trained, Weights, cpu_state
from lab_app.data.scenes import Scene, SceneConfig, batch_arrays, make_scene, make_scenes, mirror_scene
from lab_app.detection.evaluate import coco_map
from lab_app.detection.postprocess import Detections, filter_detections
from lab_app.detection.tta import PLAIN, Views, run_views

EVAL_SCORE = 0.01     # candidates kept for mAP (COCO wants the low-score tail too)
# Class-aware NMS for mAP at the YOLO tab's default IoU (0.6 scored no better; figures in the
# yolo_scenes benchmark's docstring).
EVAL_NMS = 0.5


@dataclass(frozen=True)
class LoopConfig:
    steps: int = 600
    seconds: float = 0.0           # > 0: also stop after this much training time (the LR follows it)
    batch_size: int = 8
    lr: float = 2e-3
    weight_decay: float = 1e-4
    report_every: int = 5
    eval_every: int = 100
    eval_scenes: int = 48
    seed: int = 0
    hold: float = 0.8              # LR constant for this share of the run, then a cosine to zero
    lanes: int = 0                 # threads that each train on a share of the batch (0: auto, see core.lanes)
    mirror_after: int = 8          # half a batch: mirrored scenes of this many batches earlier (0: all fresh)
    extra_objects: int = 0         # training scenes: up to this many objects more than the evaluated ones


class SceneStream:
    """The training scenes of a run: batch k is fully determined by (scene config, seed, k).

    Without mirroring every image is painted fresh (seeds ``seed * 1_000_003 + k * batch + j + 10^7``,
    disjoint from the validation and test seeds). With ``mirror_after`` = m > 0, batch k >= m paints
    only ``batch - batch // 2`` fresh scenes and fills the rest with the left-right mirrors
    (``mirror_scene``) of the first fresh scenes of batch k - m, so each painted scene is trained on
    twice, m steps apart, once each way round. A mirrored scene is as valid an image as a fresh one
    and costs next to nothing, while painting one costs about as much CPU as a step spends on it: on
    a CPU mirroring trains on more images a second, on a GPU painting is all a step waits for, and the
    mAP after a fixed number of steps was about the same with and without (figures in the
    detector_throughput benchmark's docstring).

    ``batch(k)`` may run on several threads at once, for different k, as long as batch k - m is
    finished before batch k starts: the training loop asks for batch k only after it has consumed
    batch k - ahead, hence ``mirror_after >= ahead`` (enforced there)."""

    def __init__(self, cfg: SceneConfig, batch_size: int, seed: int, mirror_after: int = 0):
        self.cfg, self.batch_size, self.seed, self.mirror_after = cfg, batch_size, seed, mirror_after
        self._kept: dict[int, list[Scene]] = {}       # batch k -> its scenes to mirror at k + m

    def batch(self, k: int) -> list[Scene]:
        m, n = self.mirror_after, self.batch_size
        mirrored = n // 2 if m > 0 and k >= m else 0
        fresh = [make_scene(self.cfg, self.seed * 1_000_003 + k * n + j + 10**7) for j in range(n - mirrored)]
        if m > 0:
            self._kept[k] = fresh[: n // 2]
        if mirrored:
            fresh += [mirror_scene(sc) for sc in self._kept.pop(k - m)]
        return fresh


EXTRA_OBJECTS_TIP = ("Training scenes get up to this many objects more than 'Objects per image' (the mAP "
                     "curve is measured on scenes as set there): more labelled objects in every step, as "
                     "copy-paste augmentation does with photos. 0: train on the scenes as set")


def training_scenes(scenes: SceneConfig, loop: LoopConfig) -> SceneConfig:
    """The scenes a run trains on: ``scenes`` (the ones its mAP is measured on) with up to
    ``loop.extra_objects`` more objects each. Denser training scenes put more labelled objects into
    every step at the same cost per step, as copy-paste augmentation does with photos (a denser
    scene takes longer to paint, but on the painting thread, beside the step). Both detectors score
    higher on the evaluated scenes when trained on denser ones (figures in the centernet_scenes and
    yolo_scenes benchmarks' docstrings)."""
    return replace(scenes, max_objects=scenes.max_objects + max(0, loop.extra_objects))


def to_targets(model, scenes: list[Scene], device: torch.device) -> dict[str, torch.Tensor]:
    """Stack the per-image dense targets into (B, ...) tensors."""
    per_image = [model.encode(sc.boxes, sc.labels) for sc in scenes]
    return {k: torch.from_numpy(np.stack([t[k] for t in per_image])).to(device) for k in per_image[0]}


@torch.no_grad()
def predict(model, images: np.ndarray, device: torch.device | str = "cpu", views: Views = PLAIN
            ) -> list[Detections]:
    """images (B, H, W, 3) uint8 -> candidates per image (before threshold and NMS), from the test-time
    ``views`` (default: the image alone)."""
    was_training = model.training
    model.eval()
    out = [Detections.from_torch(*c) for c in run_views(model, images, views, device)[1]]
    model.train(was_training)
    return out


def evaluate_model(model, scenes: list[Scene], num_classes: int, device="cpu", batch: int = 16,
                   views: Views = PLAIN) -> dict[str, float]:
    preds = []
    for i in range(0, len(scenes), batch):
        chunk = scenes[i:i + batch]
        preds += predict(model, np.stack([s.image for s in chunk]), device, views)
    preds = [filter_detections(p, EVAL_SCORE, EVAL_NMS) for p in preds]
    return coco_map(preds, [(s.boxes, s.labels) for s in scenes], num_classes)


def learning_rate(loop: LoopConfig, step: int, frac: float) -> float:
    """Warm-up over 20 steps, constant until ``hold`` of the run (by steps or seconds, whichever ends it
    first), then a cosine to zero. These runs are short and the detectors underfit: holding the rate
    longer scored higher (figures in the centernet_scenes benchmark's docstring)."""
    decay = max(0.0, (min(frac, 1.0) - loop.hold) / max(1.0 - loop.hold, 1e-9))
    return loop.lr * min(1.0, (step + 1) / 20) * 0.5 * (1 + math.cos(math.pi * decay))


def train_detector(model, loop: LoopConfig, scenes: SceneConfig, ctl: Control, train_config: dict | None = None):
    """Generator: train ``model`` on procedural scenes (``SceneStream``); returns ``Trained``."""
    seed_everything(loop.seed)
    device = ctl.device
    model.to(device).train()
    val = make_scenes(scenes, loop.eval_scenes, seed=loop.seed + 7919)   # disjoint from the training seeds
    # torch's fused AdamW steps faster but is a tiny share of a detector step, and its one benchmark
    # run scored lower (centernet_scenes' docstring), so the default one stays
    opt = torch.optim.AdamW(model.parameters(), lr=loop.lr, weight_decay=loop.weight_decay)
    history: list = []
    metrics: dict[str, float] = {}
    trained_s = 0.0
    step = 0

    def progress_fraction() -> float:
        f = step / max(loop.steps, 1)
        return max(f, trained_s / loop.seconds) if loop.seconds > 0 else f

    def evaluate() -> dict[str, float]:
        m = evaluate_model(model, val, model.cfg.num_classes, device)
        return {"mAP@0.5": m["map50"], "mAP@0.5:0.95": m["map50_95"], "AP small": m["map_small"]}, m

    def make_batch(k: int) -> tuple[np.ndarray, list[dict[str, np.ndarray]]]:
        batch = stream.batch(k)
        return batch_arrays(batch), [model.encode(sc.boxes, sc.labels) for sc in batch]

    def share_loss(replica, images: np.ndarray, per_image: list[dict[str, np.ndarray]]) -> dict:
        x = torch.from_numpy(images).to(device)
        tgt = {k: torch.from_numpy(np.stack([t[k] for t in per_image])).to(device) for k in per_image[0]}
        return replica.loss(replica(x), tgt)

    # The next batch is painted on a second thread while this one trains (numpy and torch release
    # the GIL in their loops): painting is a small share of a CPU step. On a CPU the batch is split
    # across lanes (core.lanes), which keep a second core busy without OpenMP barriers (faster a step:
    # detector_throughput's docstring). On a GPU a step is a few milliseconds and painting is what
    # limits it: up to 4 threads paint the next batches.
    # At least 4 images a lane: batch-norm statistics of 2 images made short runs learn worse.
    count = loop.lanes or max(1, min(default_lanes(device), loop.batch_size // 4))
    ahead = 1 if device.type == "cpu" else max(1, min(4, cpu_cores() - 1))
    mirror = max(loop.mirror_after, ahead) if loop.mirror_after else 0     # see SceneStream
    train_scenes = training_scenes(scenes, loop)
    stream = SceneStream(train_scenes, loop.batch_size, loop.seed, mirror)
    with Lanes(model, count, threads=max(1, torch.get_num_threads() // count)) as lanes, \
            ThreadPoolExecutor(ahead, thread_name_prefix="lab-task-scenes") as pool:
        upcoming = deque(pool.submit(make_batch, k) for k in range(ahead))
        try:
            while step < loop.steps and (loop.seconds <= 0 or trained_s < loop.seconds):
                ctl.checkpoint()
                t0 = time.perf_counter()
                images, per_image = upcoming.popleft().result()
                upcoming.append(pool.submit(make_batch, step + ahead))
                lr = learning_rate(loop, step, progress_fraction())
                for g in opt.param_groups:
                    g["lr"] = lr
                terms = lanes.step(lambda replica, lane, images=images, per_image=per_image: share_loss(
                    replica, images[lane::lanes.count], per_image[lane::lanes.count]))
                torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
                opt.step()
                trained_s += time.perf_counter() - t0
                step += 1
                if step % loop.report_every == 0:
                    values = {k: float(v) for k, v in terms.items()}
                    history.append([step, values])
                    yield Progress(step, loop.steps, values, text=f"step {step}")
                if step % loop.eval_every == 0:
                    curve, metrics = evaluate()
                    history.append([step, curve])
                    yield Progress(step, loop.steps, curve, text=f"step {step}: mAP@0.5 {metrics['map50']:.3f}")
                    yield Weights(cpu_state(model), model.cfg.to_dict(), scenes.class_names, step)
        finally:
            for future in upcoming:
                future.cancel()
    if step % loop.eval_every != 0 or not metrics:
        curve, metrics = evaluate()
        history.append([step, curve])
        yield Progress(step, loop.steps, curve, text=f"step {step}: mAP@0.5 {metrics['map50']:.3f}")
    model.eval()
    final = {**metrics, "steps": step, "train_seconds": trained_s,
             "images_per_s": step * loop.batch_size / max(trained_s, 1e-9)}
    cfg: dict[str, Any] = {"loop": asdict(loop), "scenes": asdict(scenes),
                           "train_scenes": asdict(train_scenes), **(train_config or {})}
    return Trained(cpu_state(model), model.cfg.to_dict(), scenes.class_names, final, history, cfg)
