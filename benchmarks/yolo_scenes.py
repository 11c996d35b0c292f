"""yolo_scenes: the YOLO v1 tab's model trained from scratch for --seconds (default 180) on 256 x 256
procedural scenes (3 classes; the tab's training scenes hold 1-24 objects), S = 16, B = 2, scored with
pycocotools on 200 unseen scenes of 1-8 objects.

Fields: map50, map50_95, map_small, map_medium, map_large, train_seconds, steps, images_per_s,
infer_ms (one 256 px image, median, the tab's test-time augmentation `tta`),
map50_plain / map50_95_plain / infer_ms_plain (the image alone), train_objects / test_objects (how
many objects a training / test scene holds), loadavg_1m, cpu_steal_share (of all
CPU time during training, taken by the host of a shared virtual machine). Target: map50 >= 0.80 within 180 s.
"""

from __future__ import annotations

from benchmarks._detection_bench import add_arguments, run_task  # noqa: F401


def run(args) -> dict:
    from lab_app.topics.yolo import task

    return run_task(task, args)
