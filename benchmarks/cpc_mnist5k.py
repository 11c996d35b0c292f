"""cpc_mnist5k: contrastive predictive coding on mnist5k for at most --seconds, then probes.

Runs the contrastive tab's CPC task (cpc_task.train, the code the tab runs): a 6 x 6 grid of 8 px
patches with stride 4 (4 px overlap) on the 28 px digits, a row-causal context, K = 3 linear
predictors, 63 negatives from other positions and images. Training stops after --seconds of wall time
(or --steps); the tab's SimCLR-style InfoNCE encoder then trains for the same seconds. Reports the
linear probe and kNN on frozen features (test split) of CPC, raw pixels, the untrained CPC encoder
and the SimCLR encoder, and per k the held-out pick accuracy (1/N is chance) and the bound
log N - L_k against log N.

Targets: probe_acc above pixels_acc and random_acc; pick accuracy falling with k.
"""

from __future__ import annotations

import os
import time


def add_arguments(parser) -> None:
    parser.add_argument("--seconds", type=float, default=180.0, help="CPC training wall time (and SimCLR's)")
    parser.add_argument("--steps", type=int, default=100_000, help="at most this many CPC steps")
    parser.add_argument("--objective", default="CPC", help="CPC or 'patch position'")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)


def run(args) -> dict:
    from lab_app.core.control import Control
    from lab_app.core.device import apply_thread_policy
    from lab_app.core.events import drain
    from lab_app.data.datasets import load_dataset
    from lab_app.topics.representation import cpc_task

    threads = apply_thread_policy()
    load_before = os.getloadavg()[0]
    cfg = cpc_task.CpcConfig(objective=args.objective, steps=args.steps, max_seconds=args.seconds,
                             seed=args.seed, example_seconds=1e9, report_every=50)
    data = load_dataset(cfg.dataset, seed=cfg.seed)
    start = time.perf_counter()
    events, result = drain(cpc_task.train(cfg, {}, Control(args.device), data=data))
    total = time.perf_counter() - start
    stats = (cpc_task.CpcStats, cpc_task.PretextStats)
    steps = max((e.step for e in events if isinstance(e, stats)), default=0)
    s = result.scores
    return {
        "dataset": cfg.dataset,
        "objective": cfg.objective,
        "device": args.device,
        "torch_threads": threads,
        "grid": f"{cfg.patch} px patches, stride {cfg.stride}",
        "steps": steps,
        "train_seconds": round(result.train_seconds, 1),
        "simclr_seconds": round(result.simclr_seconds, 1),
        "probe_acc": round(s["encoder"]["linear"], 4),
        "knn_acc": round(s["encoder"]["knn"], 4),
        "pixels_acc": round(s["raw pixels"]["linear"], 4),
        "pixels_knn_acc": round(s["raw pixels"]["knn"], 4),
        "random_acc": round(s["random encoder"]["linear"], 4),
        "random_knn_acc": round(s["random encoder"]["knn"], 4),
        "simclr_acc": round(s["SimCLR encoder"]["linear"], 4),
        "simclr_knn_acc": round(s["SimCLR encoder"]["knn"], 4),
        "pick_acc_by_k": [round(v, 4) for v in result.pick_accuracy],
        "bound_by_k": [round(v, 4) for v in result.bound],
        "log_n": round(result.log_n, 4),
        "total_seconds": round(total, 1),
        "loadavg_1min_before": round(load_before, 2),
        "loadavg_1min_after": round(os.getloadavg()[0], 2),
    }
