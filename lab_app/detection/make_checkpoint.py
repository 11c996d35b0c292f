"""The command behind each detection tab's shipped checkpoint (no Qt): train the tab's default
configuration from a seed under a training-time budget, save the weights and a JSON card naming the
command, seed, data and metrics. The step count, and so the result, depend on the machine and its
load; the card says what was reached."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, replace
from pathlib import Path

from lab_app.core.control import Control
from lab_app.core.device import apply_thread_policy
from lab_app.io.atomic import atomic_write_text


def main(task, default_config, command: str, description: str, argv=None) -> int:
    """``task``: the tab's task module (``train``, ``SPEC``, ``CHECKPOINT``)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--out", type=Path, default=task.CHECKPOINT)
    p.add_argument("--seconds", type=float, default=900.0)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    apply_thread_policy()
    cfg = replace(default_config, seconds=args.seconds, steps=100_000, eval_every=250, seed=args.seed)
    gen = task.train(cfg, None, Control("cpu"))
    try:
        while True:
            ev = next(gen)
            if "mAP@0.5" in getattr(ev, "metrics", {}):
                print(ev.text, file=sys.stderr, flush=True)
    except StopIteration as stop:
        trained = stop.value
    card = {"command": f"{command} --seconds {args.seconds:g} --seed {args.seed}", "seed": args.seed,
            "data": "procedural scenes (lab_app.data.scenes)", "config": asdict(cfg)}
    path = task.SPEC.save(args.out, trained, card)
    atomic_write_text(path.with_suffix(".json"), json.dumps(
        {**card, "classes": list(trained.class_names), "metrics": trained.metrics,
         "model_config": trained.model_config}, indent=2) + "\n")
    print(f"{path}: mAP@0.5 {trained.metrics['map50']:.3f} in {trained.metrics['train_seconds']:.0f} s")
    return 0
