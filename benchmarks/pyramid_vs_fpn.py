"""pyramid_vs_fpn: single level, image pyramid, FPN and SNIP (the pyramids tab's first sub-tab) on
the same 384 px procedural scenes (3 classes, 1-8 objects, 45 % of them COCO-small). Single level,
FPN and SNIP each train for --seconds (default 180; the image pyramid is the single-level detector
at 0.5x, 1x, 2x), then all four are scored with pycocotools on the same --scenes held-out scenes
(default 200), one image at a time.

Fields: ``pipelines`` keyed single / image_pyramid / fpn / snip, each with map50, map50_95, map_small,
map_medium, map_large, infer_ms (median ms per image), level_ms (per level), train_steps, ap_by_size
(AP@0.5 per object-size bin ``size_edges``); ``fpn_speedup_vs_image_pyramid`` (image pyramid
infer_ms / FPN infer_ms), ``fpn_small_gain_vs_single`` (FPN map_small - single map_small),
``snip_small_gain_vs_image_pyramid``; ``targets`` (each True / False); loadavg_1m before and after
training, cpu_steal_share.

Targets (from the FPN paper's anchors): FPN at least 2.5x faster than the 3-level image pyramid at
no less than 0.9x its AP_small; FPN AP_small at least 0.05 above the single level's; SNIP's
AP_small above the plain image pyramid's.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace

from benchmarks._detection_bench import cpu_ticks


def add_arguments(parser) -> None:
    parser.add_argument("--seconds", type=float, default=180.0, help="training seconds per detector")
    parser.add_argument("--scenes", type=int, default=200, help="held-out scenes scored")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", default="", help="also save the three trained detectors (with this table "
                                                    "as their card) to this checkpoint path")


def run(args) -> dict:
    import torch

    from lab_app.core.control import Control
    from lab_app.core.device import apply_thread_policy
    from lab_app.topics.pyramids import fpn_task as task

    threads = apply_thread_policy()
    cfg = replace(task.FpnConfig(), train_seconds=min(args.seconds, 180.0), eval_scenes=args.scenes,
                  seed=args.seed)
    load_before = os.getloadavg()[0]
    before, t0 = cpu_ticks(), time.perf_counter()
    gen = task.train_all(cfg, Control(torch.device("cpu")))
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        models, table = stop.value
    after = cpu_ticks()
    steal = (round((after[0] - before[0]) / max(after[1] - before[1], 1), 3) if before and after else None)
    keys = ("map50", "map50_95", "map_small", "map_medium", "map_large", "infer_ms", "level_ms", "level_names",
            "train_steps", "ap_by_size")
    rows = {name: {k: table.rows[name][k] for k in keys} for name in task.PIPELINES}
    speedup = rows["image_pyramid"]["infer_ms"] / rows["fpn"]["infer_ms"]
    small_gain = rows["fpn"]["map_small"] - rows["single"]["map_small"]
    result = {
        "pipelines": rows,
        "fpn_speedup_vs_image_pyramid": round(speedup, 3),
        "fpn_small_gain_vs_single": round(small_gain, 4),
        "snip_small_gain_vs_image_pyramid": round(rows["snip"]["map_small"] - rows["image_pyramid"]["map_small"], 4),
        "targets": {
            "fpn_2.5x_faster_at_0.9x_ap_small": bool(speedup >= 2.5 and rows["fpn"]["map_small"]
                                                     >= 0.9 * rows["image_pyramid"]["map_small"]),
            "fpn_ap_small_0.05_above_single": bool(small_gain >= 0.05),
            "snip_ap_small_above_image_pyramid": bool(rows["snip"]["map_small"] > rows["image_pyramid"]["map_small"]),
        },
        "seconds_per_detector": cfg.train_seconds, "scenes": args.scenes, "image_size": cfg.image_size,
        "width": cfg.width, "size_edges": list(task.SIZE_EDGES), "wall_s": round(time.perf_counter() - t0, 1),
        "threads": threads, "loadavg_1m_before": round(load_before, 2), "loadavg_1m_after": round(os.getloadavg()[0], 2),
        "cpu_steal_share": steal, "seed": args.seed,
    }
    if args.save:
        import json
        from pathlib import Path

        from lab_app.io.atomic import atomic_write_text

        card = {"command": f"python -m benchmarks pyramid_vs_fpn --seconds {args.seconds:g} --scenes {args.scenes} "
                           f"--seed {args.seed} --save <path>", "seed": args.seed,
                "trained_seconds_each": cfg.train_seconds, "table_scenes": args.scenes,
                "data": "procedural scenes (lab_app.data.scenes)"}
        shipped = replace(cfg, train_seconds=task.FpnConfig().train_seconds, eval_scenes=task.FpnConfig().eval_scenes)
        path = task.save_models(Path(args.save), models, shipped, table.rows, card)
        atomic_write_text(path.with_suffix(".json"), json.dumps({**card, **result}, indent=2) + "\n")
    return result
