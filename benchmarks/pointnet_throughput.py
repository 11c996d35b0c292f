"""pointnet_throughput: training samples/s of the 3D tab's PointNet task, run by a real TaskRunner
beside a Qt event loop (events, curves' data, per-epoch evaluation and weight snapshots included),
against a bare loop of the same model, batches and steps in the same process (main thread, same
torch thread count).

Fields: task_samples_per_s, bare_samples_per_s, ratio, steps, threads. Target: ratio >= 0.9.
"""

from __future__ import annotations

import time
from dataclasses import replace


def add_arguments(parser) -> None:
    parser.add_argument("--per-class", type=int, default=64, help="training clouds per class")
    parser.add_argument("--epochs", type=int, default=2)


def _bare(cfg, data) -> tuple[float, int]:
    import numpy as np
    import torch

    from lab_app.core.device import seed_everything
    from lab_app.topics.pointcloud import pointnet_task as pt
    from models.pointnet import PointNet

    t0 = time.perf_counter()
    rng = seed_everything(cfg.seed)
    model_cfg = cfg.model_config(len(data.class_names), data.points)
    model = PointNet(model_cfg)
    x, y = torch.from_numpy(data.train_x), torch.from_numpy(data.train_y.astype(np.int64))
    steps = len(x) // cfg.batch_size
    opt, sched = pt.make_optimizer(model, cfg, cfg.epochs * steps)
    samples = 0
    for _ in range(cfg.epochs):
        model.train()
        order = torch.from_numpy(rng.permutation(len(x)))
        for b in range(steps):
            idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            xb, yb = pt.make_batch(x, y, idx, cfg.rotation, rng, cfg.train_points)
            pt.train_step(model, opt, xb, yb, model_cfg.reg_weight)
            sched.step()
            samples += len(yb)
    return samples / (time.perf_counter() - t0), samples


def _task(cfg, data) -> tuple[float, int]:
    from functools import partial

    from PySide6.QtCore import QEventLoop
    from PySide6.QtWidgets import QApplication

    from lab_app.qt.worker import TaskRunner
    from lab_app.topics.pointcloud import pointnet_task as pt

    app = QApplication.instance() or QApplication([])
    runner = TaskRunner()
    drawn = []
    runner.progress.connect(lambda ev: drawn.append(ev.metrics))   # a UI consumer of every event
    out = {}
    loop = QEventLoop()
    runner.finished.connect(lambda r: (out.setdefault("r", r), loop.quit()))
    runner.errored.connect(lambda m: (out.setdefault("e", m), loop.quit()))
    t0 = time.perf_counter()
    runner.start(partial(pt.train, cfg, data), label="throughput")
    loop.exec()
    seconds = time.perf_counter() - t0
    runner.shutdown()
    del app
    if "e" in out:
        raise RuntimeError(out["e"])
    samples = out["r"].metrics["steps"] * cfg.batch_size
    return samples / seconds, samples


def run(args) -> dict:
    import os

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from lab_app.core.device import apply_thread_policy
    from lab_app.data.shapes import ShapesConfig, make_shapes
    from lab_app.topics.pointcloud import pointnet_task as pt

    threads = apply_thread_policy()
    cfg = replace(pt.TrainConfig(), epochs=args.epochs)
    data = make_shapes(ShapesConfig(train_per_class=args.per_class,
                                    test_per_class=max(4, args.per_class // 4)))
    bare1, samples = _bare(cfg, data)
    task, task_samples = _task(cfg, data)
    bare2, _ = _bare(cfg, data)
    bare = (bare1 + bare2) / 2   # before and after: drift in the machine's load hits both sides
    return {"task_samples_per_s": round(task, 1), "bare_samples_per_s": round(bare, 1),
            "ratio": round(task / bare, 3), "samples": task_samples, "threads": threads}
