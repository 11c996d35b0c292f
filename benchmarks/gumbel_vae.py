"""gumbel_vae: a categorical VAE (N x K Gumbel-Softmax latent, tau annealed) and the same model with an
N-dimensional Gaussian latent, trained step for step on the same batches of mnist5k (4000 train / 1000
test images, 28x28) on the CPU. Reports the test ELBO in nats per image (higher is better; the categorical
one with hard Gumbel-max samples, a true bound of the discrete model) and the training seconds."""

from __future__ import annotations

import os


def add_arguments(parser) -> None:
    parser.add_argument("--dataset", default="mnist5k")
    parser.add_argument("--vars", type=int, default=20)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=100)


def run(args) -> dict:
    from lab_app.core.control import Control
    from lab_app.core.device import apply_thread_policy
    from lab_app.topics.reparam.vae_task import CategoricalVAEConfig, train

    apply_thread_policy()
    cfg = CategoricalVAEConfig(
        dataset=args.dataset,
        latent_vars=args.vars,
        classes=args.classes,
        steps=args.steps,
        batch_size=args.batch,
        anneal_rate=3e-4,
        tau_min=0.5,
        report_every=10**9,
        eval_every=10**9,
    )
    gen = train(cfg, {}, Control())
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        result = stop.value
    return {
        "dataset": args.dataset,
        "latent": f"{args.vars} x {args.classes}",
        "steps": args.steps,
        "batch": args.batch,
        "test_elbo": result.test_elbo,
        "gaussian_vae_test_elbo": result.gaussian_test_elbo,
        "train_seconds": result.train_seconds,
        "load_average": os.getloadavg()[0],
    }
