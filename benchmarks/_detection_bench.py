"""Shared by yolo_scenes and centernet_scenes: train a detector tab's task from scratch for a time
budget on 256 px scenes (3 classes), then score it with pycocotools on held-out scenes of 1-8 objects
and time single-image inference. ``map50`` and ``infer_ms`` are the tab's own way of detecting (its
default test-time augmentation, ``lab_app.detection.tta``); ``map50_plain`` and ``infer_ms_plain``
are the image alone. The tab's training scenes may hold more objects than the test scenes
(``extra_objects``, ``lab_app.detection.training.training_scenes``): ``train_objects`` and
``test_objects`` say how many."""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import replace


def add_arguments(parser) -> None:
    parser.add_argument("--seconds", type=float, default=180.0, help="training-time budget")
    parser.add_argument("--eval-scenes", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tta", default=None,
                        help="test-time augmentation for map50 and infer_ms, a mode of the tabs' knob "
                             "(off, flip, 1.25x, flip + 1.25x, 1.5x, flip + 1.5x; default: the tab's); "
                             "map50_plain, infer_ms_plain: the image alone")
    parser.add_argument("--device", default="cpu",
                        help="cpu (the targets' machine), cuda or auto; the scenes are painted on the CPU")


def cpu_ticks() -> tuple[int, int] | None:
    """(steal, total) jiffies of all CPUs from /proc/stat (Linux), else None. On a shared virtual
    machine the host can take the CPU away ("steal"): the same run then trains fewer steps."""
    try:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return (values[7] if len(values) > 7 else 0), sum(values[:8])


def run_task(task, args) -> dict:
    import numpy as np
    import torch

    from lab_app.core.control import Control
    from lab_app.core.device import apply_thread_policy, choose_device
    from lab_app.data.scenes import make_scenes
    from lab_app.detection.training import evaluate_model
    from lab_app.detection.tta import PLAIN, Views, run_views, views_for

    threads = apply_thread_policy()
    cfg = replace(task.Config(), classes=3, max_objects=8, seconds=args.seconds, steps=10**9,
                  eval_every=10**9, eval_scenes=8, seed=args.seed)
    device = choose_device(args.device)
    gen = task.train(cfg, None, Control(device))
    before = cpu_ticks()
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        trained = stop.value
    after = cpu_ticks()
    steal = (round((after[0] - before[0]) / max(after[1] - before[1], 1), 3)
             if before is not None and after is not None else None)
    model = task.build_model(trained.model_config, trained.state)
    test = make_scenes(cfg.scenes(), args.eval_scenes, seed=args.seed + 31337)   # unseen scenes
    model.to(device)
    views = views_for(args.tta or cfg.tta)          # the tab's default test-time augmentation
    m = evaluate_model(model, test, cfg.classes, device, views=views)
    plain = evaluate_model(model, test, cfg.classes, device) if views != PLAIN else m

    def infer_ms(v: Views) -> float:
        """Median time to detect one 256 px image (its candidates), the way the tab does."""
        image = test[0].image[None]
        times = []
        for _ in range(25):
            t0 = time.perf_counter()
            run_views(model, image, v, device)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append((time.perf_counter() - t0) * 1000)
        return round(statistics.median(times[5:]), 2)

    return {"map50": round(m["map50"], 4), "map50_95": round(m["map50_95"], 4),
            "map_small": round(m["map_small"], 4), "map_medium": round(m["map_medium"], 4),
            "map_large": round(m["map_large"], 4),
            "train_seconds": round(trained.metrics["train_seconds"], 1), "steps": trained.metrics["steps"],
            "images_per_s": round(trained.metrics["images_per_s"], 1),
            "infer_ms": infer_ms(views), "tta": args.tta or cfg.tta,
            "map50_plain": round(plain["map50"], 4), "map50_95_plain": round(plain["map50_95"], 4),
            "infer_ms_plain": infer_ms(PLAIN), "eval_scenes": args.eval_scenes,
            "test_objects": f"{cfg.scenes().min_objects}-{cfg.scenes().max_objects}",
            "train_objects": "{min_objects}-{max_objects}".format(**trained.train_config["train_scenes"]),
            "threads": threads, "device": str(device), "cpu_steal_share": steal, "loadavg_1m": round(os.getloadavg()[0], 2), "seed": args.seed,
            "params": int(sum(p.numel() for p in model.parameters())), "np": np.__version__}
