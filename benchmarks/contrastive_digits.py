"""contrastive_digits: InfoNCE (SimCLR-style) on scikit-learn digits on this CPU, then probes.

Trains the tab's default encoder (task.train, the same code the tab runs) for --seconds of wall time
at most or --steps steps, then reports linear-probe and kNN accuracy on the test split of its frozen
features, against the same probes on raw pixels and on the untrained (random) encoder.
Target: linear_probe_acc >= 0.97 within 120 s, above raw pixels.
"""

from __future__ import annotations

import os
import time


def add_arguments(parser) -> None:
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--objective", default="InfoNCE")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--seed", type=int, default=0)


def run(args) -> dict:
    from lab_app.core.control import Control
    from lab_app.core.device import apply_thread_policy
    from lab_app.topics.representation import task

    threads = apply_thread_policy()
    cfg = task.RepresentationConfig(
        dataset=args.dataset,
        objective=args.objective,
        steps=args.steps,
        probe_every=args.steps,
        projection="PCA",
        seed=args.seed,
        frame_seconds=1e9,
    )  # no live frames: nobody is watching
    data = task.get_dataset(cfg)
    gen = task.train(cfg, {}, Control(), data=data)
    start = time.perf_counter()
    baseline_seconds = 0.0
    while True:
        try:
            ev = next(gen)
        except StopIteration as stop:
            result = stop.value
            break
        if isinstance(ev, task.ProbeScores) and ev.step == 0:
            baseline_seconds = time.perf_counter() - start  # probes of raw pixels and the random encoder
    total = time.perf_counter() - start
    s = result.scores
    return {
        "dataset": args.dataset,
        "objective": args.objective,
        "steps": args.steps,
        "batch_size": cfg.batch_size,
        "embed_dim": cfg.embed_dim,
        "torch_threads": threads,
        "linear_probe_acc": round(s["encoder"]["linear"], 4),
        "knn_acc": round(s["encoder"]["knn"], 4),
        "raw_pixel_probe_acc": round(s["raw pixels"]["linear"], 4),
        "raw_pixel_knn_acc": round(s["raw pixels"]["knn"], 4),
        "random_encoder_probe_acc": round(s["random encoder"]["linear"], 4),
        "train_seconds": round(total - baseline_seconds, 1),  # training + the final probe
        "loadavg_1min": round(os.getloadavg()[0], 2),
    }
