"""Train the encoder the representation tab opens on and save it with its card (no Qt):

    python -m lab_app.topics.representation.make_checkpoint [--seed 0] [--steps 200]

The tab's default config (InfoNCE on scikit-learn's digits, the panel's knobs as they open), so Train
trains the same recipe again, live. Writes
resources/checkpoints/representation.safetensors (under a megabyte) and representation.json (the card,
for people; the app reads the header inside the file).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

from lab_app.core.control import Control
from lab_app.core.device import apply_thread_policy
from lab_app.io.atomic import atomic_write_text
from lab_app.topics.representation import shipped, task

COMMAND = "python -m lab_app.topics.representation.make_checkpoint"


def make(out: Path, seed: int = 0, steps: int | None = None, **overrides) -> tuple[Path, task.Trained]:
    """Train the default config (``overrides`` for tests: a smaller run) and write the checkpoint and
    its card beside it."""
    cfg = replace(task.RepresentationConfig(), seed=seed, **({"steps": steps} if steps else {}), **overrides)
    data = task.get_dataset(cfg)
    t0 = time.monotonic()
    gen = task.train(cfg, None, Control("cpu"), data=data)
    try:
        while True:
            ev = next(gen)
            if isinstance(ev, task.ProbeScores) and "encoder" in ev.scores:
                print(f"step {ev.step}: linear probe {ev.scores['encoder']['linear']:.3f}", file=sys.stderr)
    except StopIteration as stop:
        trained = stop.value
    seconds = round(time.monotonic() - t0, 1)
    command = f"{COMMAND} --seed {seed} --steps {cfg.steps}"
    out.parent.mkdir(parents=True, exist_ok=True)
    path = task.save_encoder(out, trained, data.info)
    atomic_write_text(path.with_suffix(".json"), json.dumps(
        {"command": command, "data": data.info, "seed": seed, "metrics": trained.scores,
         "train_seconds": seconds, "config": trained.config}, indent=2) + "\n")
    return path, trained


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=shipped.CHECKPOINT)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=task.RepresentationConfig.steps)
    args = p.parse_args(argv)
    apply_thread_policy()
    path, trained = make(args.out, args.seed, args.steps)
    probes = trained.scores
    print(f"{path}: linear probe {probes['encoder']['linear']:.4f} (raw pixels "
          f"{probes['raw pixels']['linear']:.4f}, random encoder {probes['random encoder']['linear']:.4f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
