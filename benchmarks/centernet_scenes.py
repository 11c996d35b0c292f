"""centernet_scenes: the anchor-free tab's CenterNet trained from scratch for --seconds (default 180)
on 256 x 256 procedural scenes (3 classes, 1-8 objects), scored on 200 unseen scenes with pycocotools.

Fields: map50, map50_95, map_small, map_medium, map_large, train_seconds, steps, images_per_s,
infer_ms (one 256 px image, median, the tab's test-time augmentation `tta`),
map50_plain / map50_95_plain / infer_ms_plain (the image alone), loadavg_1m, cpu_steal_share (of all
CPU time during training, taken by the host of a shared virtual machine).
Targets: map50 >= 0.90 within 180 s, infer_ms <= 30.
"""

from __future__ import annotations

from benchmarks._detection_bench import add_arguments, run_task  # noqa: F401


def run(args) -> dict:
    from lab_app.topics.anchorfree import task

    return run_task(task, args)
