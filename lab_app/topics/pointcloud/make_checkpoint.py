"""Train the PointNet the 3D tab ships with and save it with its card (no Qt):

    python -m lab_app.topics.pointcloud.make_checkpoint [--out resources/checkpoints/pointcloud.safetensors]

Same configuration and seed as the pointnet_shapes benchmark (Shapes, 11 classes, 1024 points,
rotation about the up axis, anisotropic scale, jitter). Under a megabyte.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lab_app.core.control import Control
from lab_app.core.device import apply_thread_policy
from lab_app.io.atomic import atomic_write_text
from lab_app.topics.pointcloud import pointnet_task as pt

DEFAULT_OUT = Path(__file__).resolve().parents[3] / "resources" / "checkpoints" / "pointcloud.safetensors"
COMMAND = "python -m lab_app.topics.pointcloud.make_checkpoint"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    apply_thread_policy()
    from dataclasses import replace

    cfg = replace(pt.benchmark_config(), seed=args.seed)
    gen = pt.train(cfg, None, Control("cpu"))
    try:
        while True:
            ev = next(gen)
            if isinstance(ev, pt.Confusion):
                print(f"epoch {ev.epoch}: test accuracy {ev.accuracy:.3f}", file=sys.stderr)
    except StopIteration as stop:
        trained = stop.value
    card = {"command": f"{COMMAND} --seed {args.seed}", "seed": args.seed,
            "data": trained.extra["data"], "classes": list(trained.class_names)}
    path = pt.SPEC.save(args.out, trained, card)
    # The same card beside the weights, for people (the app reads the one inside the file).
    atomic_write_text(path.with_suffix(".json"), json.dumps(
        {**card, "metrics": trained.metrics, "train_config": trained.train_config,
         "model_config": trained.model_config}, indent=2) + "\n")
    print(f"{path}: test accuracy {trained.metrics['test_accuracy']:.4f} "
          f"in {trained.metrics['train_seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
