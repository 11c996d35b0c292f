"""Train the three detectors the pyramids tab's first sub-tab ships with and save them (no Qt):

    python -m lab_app.topics.pyramids.make_checkpoint [--seconds 150] [--seed 0] [--out ...]

The sub-tab's default configuration (3 classes, 384 px scenes of 1-8 objects, 45 % of them small),
each of single level, FPN and SNIP trained for --seconds of training time (so the step counts, and
the result, depend on the machine and its load; the JSON card beside the file says what was reached),
then all four pipelines scored on the sub-tab's held-out scenes.
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
from lab_app.topics.pyramids import fpn_task


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=fpn_task.CHECKPOINT)
    p.add_argument("--seconds", type=float, default=150.0)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    apply_thread_policy()
    cfg = replace(fpn_task.FpnConfig(), train_seconds=args.seconds, seed=args.seed)
    gen = fpn_task.train_all(cfg, Control("cpu"))
    try:
        while True:
            ev = next(gen)
            if hasattr(ev, "text") and not hasattr(ev, "step"):
                print(ev.text, file=sys.stderr, flush=True)
    except StopIteration as stop:
        models, table = stop.value
    cfg = replace(cfg, train_seconds=fpn_task.FpnConfig().train_seconds)   # what the tab retrains with
    card = {"command": f"python -m lab_app.topics.pyramids.make_checkpoint --seconds {args.seconds:g} "
                       f"--seed {args.seed}", "seed": args.seed, "trained_seconds_each": args.seconds,
            "data": "procedural scenes (lab_app.data.scenes)"}
    card["table_scenes"] = table.scenes
    path = fpn_task.save_models(args.out, models, cfg, table.rows, card)
    atomic_write_text(path.with_suffix(".json"), json.dumps(
        {**card, "config": asdict(cfg), "train_steps": models.train_steps, "table": table.rows}, indent=2) + "\n")
    print(f"{path}: " + ", ".join(f"{k} mAP@0.5 {r['map50']:.3f}" for k, r in table.rows.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
