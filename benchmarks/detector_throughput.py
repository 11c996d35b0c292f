"""detector_throughput: training images/s of the anchor-free tab's task run by a real TaskRunner
beside a Qt event loop (events, curves' data, the final evaluation and weight snapshot included)
against a bare loop of the same model, scenes and steps in the same process (main thread, same
torch threads, the next batch painted on a second thread and each batch split across the same
lanes as the task does).

Fields: task_images_per_s, bare_images_per_s, ratio, steps, threads, loadavg_1m, and how late a 10 ms
timer on the GUI thread fired while the task trained (ui_timer_late_p50_ms / _p99_ms: the UI's
responsiveness beside the training lanes). Target: ratio >= 0.9.

Measured when the training loop was shaped (moved here from the code's comments, 2-core CPU): painting a
scene costs about as much CPU as a YOLO step spends on it; a YOLO (width 32) trained on 49 images/s, 62
when the scenes cost nothing, and with mirrored half batches 54-67 vs 46-58 without (alternating 20 s
runs). Splitting a CenterNet batch across two lanes: forward + backward 0.22 s instead of 0.33. Painting
is about a sixth of a CPU step. Two-image lanes: batch-norm statistics of 2 images made short runs learn
worse (hence at least 4 images a lane). Test-time views: folding batch-norm into the convolutions made a
CenterNet forward 5.3 ms vs 6.1-7.1; PIL resized 256 -> 384 px in 1.9 ms (torch's interpolate on floats
4.4-6.4); NMS over all of a YOLO's S*S*B boxes of each view took 3.5 ms before the low scores were dropped.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace


def add_arguments(parser) -> None:
    parser.add_argument("--steps", type=int, default=120)


def _bare(cfg) -> float:
    import numpy as np
    import torch

    from lab_app.core.device import seed_everything
    from lab_app.core.lanes import Lanes, default_lanes
    from lab_app.data.scenes import batch_arrays, make_scenes
    from lab_app.detection.training import SceneStream, evaluate_model, training_scenes
    from models.centernet import CenterNet

    seed_everything(cfg.seed)
    model = CenterNet(cfg.model_config()).train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    scenes = cfg.scenes()
    stream = SceneStream(training_scenes(scenes, cfg.loop()), cfg.batch_size, cfg.seed,
                         cfg.loop().mirror_after)                   # as the task paints

    def make_batch(step):
        batch = stream.batch(step)
        return batch_arrays(batch), [model.encode(sc.boxes, sc.labels) for sc in batch]

    def share_loss(replica, images, per_image):
        targets = {k: torch.from_numpy(np.stack([t[k] for t in per_image])) for k in per_image[0]}
        return replica.loss(replica(torch.from_numpy(images)), targets)

    count = max(1, min(default_lanes("cpu"), cfg.batch_size // 4))    # as train_detector chooses
    t0 = time.perf_counter()
    # the next batch painted while this one trains, and split across lanes, as the task does
    with ThreadPoolExecutor(1) as pool, Lanes(model, count) as lanes:
        upcoming = pool.submit(make_batch, 0)
        for step in range(cfg.steps):
            images, per_image = upcoming.result()
            upcoming = pool.submit(make_batch, step + 1)
            lanes.step(lambda replica, lane, images=images, per_image=per_image:
                       share_loss(replica, images[lane::count], per_image[lane::count]))
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            opt.step()
    # the task evaluates once at the end (eval_every = steps): so does the bare loop
    evaluate_model(model, make_scenes(scenes, cfg.eval_scenes, seed=cfg.seed + 7919), cfg.classes)
    return cfg.steps * cfg.batch_size / (time.perf_counter() - t0)


def _task(cfg) -> tuple[float, float, float]:
    from functools import partial

    from PySide6.QtCore import QEventLoop
    from PySide6.QtWidgets import QApplication

    from benchmarks._gui_timer import LatenessProbe
    from lab_app.qt.worker import TaskRunner
    from lab_app.topics.anchorfree import task

    app = QApplication.instance() or QApplication([])
    runner = TaskRunner()
    drawn = []
    runner.progress.connect(lambda ev: drawn.append(ev.metrics))
    runner.event.connect(lambda ev: drawn.append(ev))
    out = {}
    loop = QEventLoop()
    runner.finished.connect(lambda r: (out.setdefault("r", r), loop.quit()))
    runner.errored.connect(lambda m: (out.setdefault("e", m), loop.quit()))
    # A 10 ms timer on the GUI thread: how late it fires is how the UI feels while the lanes train.
    probe = LatenessProbe(10)
    probe.start()
    t0 = time.perf_counter()
    runner.start(partial(task.train, cfg, None), label="throughput")
    loop.exec()
    seconds = time.perf_counter() - t0
    probe.stop()
    runner.shutdown()
    del app
    if "e" in out:
        raise RuntimeError(out["e"])
    p50, p99, _ = probe.summary()
    rate = out["r"].metrics["steps"] * cfg.batch_size / seconds    # wall clock: events, evaluation included
    return rate, round(p50, 2), round(p99, 2)


def run(args) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from lab_app.core.device import apply_thread_policy
    from lab_app.topics.anchorfree import task

    threads = apply_thread_policy()
    cfg = replace(task.Config(), steps=args.steps, eval_every=args.steps, eval_scenes=8)
    bare1 = _bare(cfg)
    task_rate, late_p50, late_p99 = _task(cfg)
    bare2 = _bare(cfg)
    bare = (bare1 + bare2) / 2
    return {"task_images_per_s": round(task_rate, 2), "bare_images_per_s": round(bare, 2),
            "ratio": round(task_rate / bare, 3), "steps": args.steps, "threads": threads,
            "ui_timer_late_p50_ms": late_p50, "ui_timer_late_p99_ms": late_p99,
            "loadavg_1m": round(os.getloadavg()[0], 2)}
