"""Train the YOLO v1 the YOLO tab ships with and save it with its card (no Qt):

    python -m lab_app.topics.yolo.make_checkpoint [--seconds 900] [--out ...]

The tab's default configuration (3 classes, 1-8 objects, 256 px scenes), seed 0, stopped by a
training-time budget (so the step count, and the result, depend on the machine and its load). A few MB.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, replace
from pathlib import Path

from lab_app.core.control import Control
from lab_app.core.device import apply_thread_policy
from lab_app.io.atomic import atomic_write_text
from lab_app.topics.yolo import task

COMMAND = "python -m lab_app.topics.yolo.make_checkpoint"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=task.CHECKPOINT)
    p.add_argument("--seconds", type=float, default=900.0)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    apply_thread_policy()
    cfg = replace(task.Config(), seconds=args.seconds, steps=100_000, eval_every=250, seed=args.seed)
    gen = task.train(cfg, None, Control("cpu"))
    try:
        while True:
            ev = next(gen)
            if "mAP@0.5" in getattr(ev, "metrics", {}):
                print(ev.text, file=sys.stderr, flush=True)
    except StopIteration as stop:
        trained = stop.value
    card = {"command": f"{COMMAND} --seconds {args.seconds:g} --seed {args.seed}", "seed": args.seed,
            "data": "procedural scenes (lab_app.data.scenes)", "config": asdict(cfg)}
    path = task.save_model(args.out, trained, card)
    atomic_write_text(path.with_suffix(".json"), json.dumps(
        {**card, "classes": list(trained.class_names), "metrics": trained.metrics,
         "model_config": trained.model_config}, indent=2) + "\n")
    print(f"{path}: mAP@0.5 {trained.metrics['map50']:.3f} in {trained.metrics['train_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
