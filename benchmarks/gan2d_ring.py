"""GAN on the 8-Gaussian ring (radius 2, std 0.1), the transforms tab's task on this CPU.

A mode is covered when at least a quarter of its fair share (N/8) of 1500 generated samples falls
within 3 std of its centre. Also reports the first time all 8 were covered and the energy distance
of 512 samples to 512 target points."""

from __future__ import annotations

import time
from dataclasses import replace

import torch

from lab_app.core.control import Control
from lab_app.core.device import apply_thread_policy
from lab_app.data.toy2d import mode_centres
from lab_app.topics.transforms import task
from models.gan2d import modes_covered


def add_arguments(parser) -> None:
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)


def run(args) -> dict:
    apply_thread_policy(None)
    torch.manual_seed(args.seed)
    cfg = replace(task.TransformsConfig(), steps=args.steps, frame_seconds=1.0, seed=args.seed)
    centres = mode_centres(cfg.target)
    start, first_all, last = time.perf_counter(), None, None
    for ev in task.train_gan(cfg, None, Control()):
        if isinstance(ev, task.TransformFrame):
            last = ev
            if first_all is None and modes_covered(ev.samples, centres, cfg.noise)[0] == len(centres):
                first_all = time.perf_counter() - start
    seconds = time.perf_counter() - start
    covered, hits = modes_covered(last.samples, centres, cfg.noise)
    return {"modes_covered": covered, "modes": len(centres), "sample_distance": round(last.distance, 4),
            "train_seconds": round(seconds, 1), "steps": cfg.steps, "seconds_to_all_modes":
            None if first_all is None else round(first_all, 1), "samples_per_mode": hits,
            "target": "8-Gaussian ring r=2 std=0.1", "torch_threads": torch.get_num_threads()}
