"""Reparameterization tab, categorical-VAE panel (no Qt): a categorical-latent VAE trained with
Gumbel-Softmax (annealed temperature) and the same model with a Gaussian latent, step for step on the
same batches. Yields Progress (training ELBO of both, tau), TestElbo points and coalescable Decoded
frames (the images decoded from the code in ``live["code"]``, and from that code with one variable,
``live["variable"]``, set to each of its K classes). Returns VAEResult with both models.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from lab_app.core.control import Control
from lab_app.core.device import seed_everything, seeded_init
from lab_app.core.events import Event, Progress
from lab_app.core.seeds import seed_field
from lab_app.data.datasets import ImageDataset, load_dataset
from models.categorical_vae import (
    CategoricalVAE,
    GaussianVAE,
    VAEConfig,
    evaluate_elbo,
    temperature,
    vae_loss,
)


@dataclass
class CategoricalVAEConfig:
    dataset: str = field(default="digits", metadata={"label": "Dataset", "choices": ("digits", "mnist5k")})
    latent_vars: int = field(
        default=8,
        metadata={
            "label": "Variables N",
            "min": 1,
            "max": 30,
            "tip": "N categorical variables (the Gaussian VAE gets N dimensions)",
        },
    )
    classes: int = field(default=10, metadata={"label": "Classes K", "min": 2, "max": 20})
    steps: int = field(default=1500, metadata={"label": "Steps", "min": 100, "max": 20000, "step": 100})
    batch_size: int = field(default=64, metadata={"label": "Batch", "min": 16, "max": 256, "step": 16})
    learning_rate: float = field(
        default=2e-3, metadata={"label": "Learning rate", "min": 1e-4, "max": 1e-2, "log": True}
    )
    tau_start: float = field(
        default=1.0, metadata={"label": "tau start", "min": 0.1, "max": 5.0, "step": 0.1}
    )
    tau_min: float = field(default=0.5, metadata={"label": "tau min", "min": 0.05, "max": 2.0, "step": 0.05})
    anneal_rate: float = field(
        default=1e-3,
        metadata={
            "label": "Anneal rate r",
            "min": 1e-5,
            "max": 1e-2,
            "log": True,
            "tip": "tau_t = max(tau_min, tau_0 exp(-r t))",
        },
    )
    hidden: int = 256
    report_every: int = 20
    eval_every: int = 250
    seed: int = seed_field()

    def model_config(self, input_dim: int) -> VAEConfig:
        return VAEConfig(
            input_dim=input_dim,
            latent_vars=self.latent_vars,
            classes=self.classes,
            hidden=self.hidden,
            tau_start=self.tau_start,
            tau_min=self.tau_min,
            anneal_rate=self.anneal_rate,
        )


@dataclass(frozen=True)
class TestElbo(Event):
    step: int
    categorical: float
    gaussian: float


@dataclass(frozen=True)
class Decoded(Event):
    coalesce = True
    step: int
    code: np.ndarray  # (N,) the code decoded
    image: np.ndarray  # (H, W) pixel probabilities
    variable: int
    variations: np.ndarray  # (K, H, W): the code with ``variable`` set to each class


@dataclass
class VAEResult:
    categorical: CategoricalVAE
    gaussian: GaussianVAE
    image_shape: tuple[int, int]
    test_elbo: float
    gaussian_test_elbo: float
    train_seconds: float


@torch.no_grad()
def decode(
    model: CategoricalVAE, code: np.ndarray, variable: int, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Images for ``code`` (N,) and for the K codes that differ from it only in ``variable``."""
    k = model.cfg.classes
    device = next(model.parameters()).device
    codes = torch.as_tensor(np.asarray(code), dtype=torch.long).repeat(k + 1, 1)  # (K+1, N)
    codes[1:, variable] = torch.arange(k)
    pixels = model.decode_codes(codes.to(device)).reshape(k + 1, *shape).cpu().numpy()
    return pixels[0], pixels[1:]


def flat(data: ImageDataset) -> tuple[torch.Tensor, torch.Tensor]:
    n, c, h, w = data.x_train.shape
    return (
        torch.from_numpy(data.x_train.reshape(n, -1)),
        torch.from_numpy(data.x_test.reshape(len(data.x_test), -1)),
    )


def train(
    cfg: CategoricalVAEConfig, live: dict, ctl: Control, data: ImageDataset | None = None
) -> Iterator[Event]:
    seed_everything(cfg.seed)
    data = data if data is not None else load_dataset(cfg.dataset, seed=cfg.seed)
    device = ctl.device
    x_train, x_test = (x.to(device) for x in flat(data))   # the small set lives on the device
    shape = tuple(data.x_train.shape[2:])
    mcfg = cfg.model_config(x_train.shape[1])
    with seeded_init(cfg.seed):   # the estimator race may run beside this one
        models = {"categorical": CategoricalVAE(mcfg).to(device), "Gaussian": GaussianVAE(mcfg).to(device)}
    optims = {k: torch.optim.Adam(m.parameters(), lr=cfg.learning_rate) for k, m in models.items()}
    # This task's own CPU generator for the batch order and the latent noise (the same draws on any
    # device); the evaluations draw from their own, so they do not shift the training's noise.
    gen = torch.Generator().manual_seed(cfg.seed)
    live.setdefault("code", np.zeros(cfg.latent_vars, np.int64))
    live.setdefault("variable", 0)
    sums = {k: 0.0 for k in models}
    count = 0
    elapsed = 0.0
    test = {}
    for step in range(1, cfg.steps + 1):
        ctl.checkpoint()
        start = time.perf_counter()
        batch = x_train[torch.randint(0, len(x_train), (cfg.batch_size,), generator=gen).to(device)]
        tau = temperature(step, mcfg)
        for name, model in models.items():
            loss = vae_loss(model, batch, tau, generator=gen)
            optims[name].zero_grad()
            loss.backward()
            optims[name].step()
            sums[name] += float(loss.detach())
        elapsed += time.perf_counter() - start
        count += 1
        if step % cfg.report_every == 0 or step == cfg.steps:
            yield Progress(
                step,
                cfg.steps,
                {
                    "categorical loss": sums["categorical"] / count,
                    "Gaussian loss": sums["Gaussian"] / count,
                    "tau": tau,
                },
                text=f"VAEs: step {step}/{cfg.steps}, tau {tau:.2f}",
            )
            sums = {k: 0.0 for k in models}
            count = 0
            code = np.asarray(live["code"], np.int64)
            if code.shape == (cfg.latent_vars,):
                variable = int(live["variable"]) % cfg.latent_vars
                image, variations = decode(models["categorical"], code, variable, shape)
                yield Decoded(step, code.copy(), image, variable, variations)
        if step % cfg.eval_every == 0 or step == cfg.steps:
            test = {k: evaluate_elbo(m, x_test, generator=torch.Generator().manual_seed(cfg.seed + step))
                    for k, m in models.items()}
            yield TestElbo(step, test["categorical"], test["Gaussian"])
    return VAEResult(   # on the CPU: the tab decodes codes with them on its own thread
        models["categorical"].cpu(), models["Gaussian"].cpu(), shape, test["categorical"], test["Gaussian"],
        elapsed,
    )
