"""Train the tokenizer and prior the VQ tab ships with, and save them with their card (no Qt):

    python -m lab_app.topics.vq.make_checkpoint [--seed 0] [--epochs 6] [--prior-epochs 15]

mnist5k (4000 train / 1000 test), the tab's default configs. Writes resources/checkpoints/vq.safetensors
(stage 1), vq.prior.safetensors (stage 2) and vq.json (the card, for people; the app reads the headers).
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
from lab_app.core.events import Progress
from lab_app.io.atomic import atomic_write_text
from lab_app.topics.vq import checkpoints as ck
from lab_app.topics.vq import prior_task as pt
from lab_app.topics.vq import task

COMMAND = "python -m lab_app.topics.vq.make_checkpoint"


def run_to_end(gen, label: str):
    last = 0.0
    try:
        while True:
            ev = next(gen)
            if isinstance(ev, Progress) and time.monotonic() - last > 10:
                last = time.monotonic()
                shown = ", ".join(f"{k} {v:.4f}" for k, v in ev.metrics.items())
                print(f"{label} step {ev.step}/{ev.total}: {shown}", file=sys.stderr, flush=True)
    except StopIteration as stop:
        return stop.value


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ck.RESOURCES)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=task.VqTaskConfig.epochs)
    p.add_argument("--prior-epochs", type=int, default=pt.PriorTaskConfig.epochs)
    args = p.parse_args(argv)
    apply_thread_policy()
    cfg = replace(task.VqTaskConfig(), seed=args.seed, epochs=args.epochs)
    data = task.get_dataset(cfg)
    t0 = time.monotonic()
    trained = run_to_end(task.train(cfg, None, Control("cpu"), data=data), "tokenizer")
    t1 = time.monotonic()
    tokenizer = task.build_tokenizer(trained.tokenizer, trained.state_dict).eval()
    pcfg = replace(pt.PriorTaskConfig(), seed=args.seed, epochs=args.prior_epochs)
    prior = run_to_end(pt.train_prior(pcfg, tokenizer, data, Control("cpu")), "prior")
    t2 = time.monotonic()
    command = f"{COMMAND} --seed {args.seed} --epochs {args.epochs} --prior-epochs {args.prior_epochs}"
    card = {"command": command, "data": data.info}
    args.out.mkdir(parents=True, exist_ok=True)
    tok_path = ck.save_tokenizer(args.out / ck.SHIPPED_TOKENIZER.name, trained, data.info, {"command": command})
    prior_path = ck.save_prior(args.out / ck.SHIPPED_PRIOR.name, prior, tokenizer, {"command": command})
    atomic_write_text(args.out / "vq.json", json.dumps(
        {**card, "seed": args.seed,
         "tokenizer": {"metrics": trained.scores, "train_seconds": round(t1 - t0, 1), "config": trained.config},
         "prior": {"metrics": prior.scores, "train_seconds": round(t2 - t1, 1), "config": prior.config,
                   "model_config": prior.prior}}, indent=2) + "\n")
    print(f"{tok_path}: test PSNR {trained.scores['test_psnr']:.2f} dB, {trained.scores['codes_used']}/"
          f"{trained.scores['num_codes']} codes, {t1 - t0:.0f} s")
    print(f"{prior_path}: token NLL {prior.scores['token_nll']:.3f} vs unigram {prior.scores['unigram_nll']:.3f} "
          f"nats/token, {t2 - t1:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
