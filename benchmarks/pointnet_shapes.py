"""pointnet_shapes: train PointNet from scratch on Shapes (11 classes, 1024 points, random rotation
about the up axis, anisotropic scale, jitter) with the tab's own task, on this machine's CPU.

Fields: classes, points, test_accuracy, train_seconds (the training loop, evaluations included),
data_seconds (generating the dataset), infer_ms_per_cloud (one cloud at a time, eval mode), threads.
Targets: test_accuracy >= 0.98 within train_seconds <= 60; infer_ms_per_cloud <= 5.
"""

from __future__ import annotations

import time
from dataclasses import replace

HARD = False


def add_arguments(parser) -> None:
    parser.add_argument("--epochs", type=int, default=None, help="override the default epochs")
    parser.add_argument("--global-width", type=int, default=None)
    parser.add_argument("--train-points", type=int, default=None)
    parser.add_argument("--no-tnets", action="store_true", help="train without the transform nets")
    parser.add_argument("--tnets", action="store_true", help="train with the transform nets")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: the app's policy)")


def run_training(args, hard: bool) -> dict:
    import torch

    from lab_app.core.control import Control
    from lab_app.core.device import apply_thread_policy
    from lab_app.topics.pointcloud import pointnet_task as pt

    threads = apply_thread_policy(getattr(args, "threads", None))
    cfg = pt.benchmark_config(hard)
    if getattr(args, "epochs", None):
        cfg = replace(cfg, epochs=args.epochs)
    if getattr(args, "global_width", None):
        cfg = replace(cfg, global_width=args.global_width)
    if getattr(args, "train_points", None) is not None:
        cfg = replace(cfg, train_points=args.train_points)
    if getattr(args, "no_tnets", False):
        cfg = replace(cfg, input_transform=False, feature_transform=False)
    if getattr(args, "tnets", False):
        cfg = replace(cfg, input_transform=True, feature_transform=True)
    t0 = time.perf_counter()
    data = pt.shapes_dataset(cfg)
    data_seconds = time.perf_counter() - t0
    gen = pt.train(cfg, data, Control("cpu"))
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        trained = stop.value
    model = pt.build_model(trained.model_config, trained.state)
    clouds = data.test_x[:50]
    with torch.inference_mode():   # as the tab's classify
        model(torch.from_numpy(clouds[:1]))  # warm-up
        t0 = time.perf_counter()
        for c in clouds:
            model(torch.from_numpy(c)[None])
        infer_ms = (time.perf_counter() - t0) / len(clouds) * 1000
    return {
        "classes": len(data.class_names), "points": data.points,
        "test_accuracy": round(trained.metrics["test_accuracy"], 4),
        "train_seconds": round(trained.metrics["train_seconds"], 2),
        "data_seconds": round(data_seconds, 2), "infer_ms_per_cloud": round(infer_ms, 3),
        "epochs": cfg.epochs, "train_clouds": len(data.train_x), "test_clouds": len(data.test_x),
        "transform_nets": cfg.input_transform, "canonical_pose": cfg.canonical_pose,
        "equalise_axes": cfg.equalise_axes, "ignore_outliers": cfg.ignore_outliers,
        "train_points": cfg.train_points, "global_width": cfg.global_width, "threads": threads,
    }


def run(args) -> dict:
    return run_training(args, HARD)
