"""Mutual-information estimators trained live on correlated Gaussians (no Qt).

Two critics train side by side on the same batches: one maximises the InfoNCE bound, the other the
NWJ bound. Every ``report_every`` steps the task yields a Progress whose metrics are the true MI,
both estimates (exponential moving averages, the raw per-batch bounds are noisy) and log N, the
ceiling of InfoNCE for the current batch size. True MI and batch size are read from ``live`` at
every step, so the tab's sliders change them while the critics train; in "staircase" mode the
true MI climbs through STAIRCASE every ``stair_steps`` steps, which shows InfoNCE flattening at
log N while the truth keeps rising.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from lab_app.core.control import Control
from lab_app.core.device import seed_everything, seeded_init, yield_to_others
from lab_app.core.events import Event, Progress
from lab_app.core.seeds import seed_field
from lab_app.topics.representation.probes import warm_imports
from models.contrastive import SeparableCritic, correlated_gaussians, infonce_bound, nwj_bound, rho_for_mi

STAIRCASE = (1.0, 2.0, 4.0, 6.0, 8.0)


@dataclass
class MIConfig:
    mode: str = field(
        default="staircase",
        metadata={
            "label": "True MI",
            "choices": ("staircase", "fixed"),
            "live": True,
            "tip": "staircase: the true MI steps through 1, 2, 4, 6, 8 nats; fixed: the slider below",
        },
    )
    true_mi: float = field(
        default=2.0,
        metadata={
            "label": "Fixed MI (nats)",
            "min": 0.1,
            "max": 10.0,
            "step": 0.1,
            "live": True,
            "tip": "I(X;Y) = -d/2 log(1 - rho^2) of the Gaussians the critics see (fixed mode)",
        },
    )
    mi_batch: int = field(
        default=128,
        metadata={
            "label": "MI batch N",
            "min": 8,
            "max": 1024,
            "step": 8,
            "live": True,
            "tip": "pairs per batch: InfoNCE can never report more than log N",
        },
    )
    dim: int = 20
    steps: int = 3000
    stair_steps: int = 300
    lr: float = 5e-4
    report_every: int = 10
    seed: int = seed_field()


@dataclass(frozen=True)
class MIDone(Event):
    true_mi: float
    infonce: float
    nwj: float
    log_n: float


def current_truth(cfg: MIConfig, step: int) -> float:
    if cfg.mode == "staircase":
        return STAIRCASE[min(step // max(cfg.stair_steps, 1), len(STAIRCASE) - 1)]
    return float(cfg.true_mi)


class MIEstimators:
    """Two critics and their optimisers; ``step(x, y)`` trains both on one batch, returns the bounds."""

    def __init__(self, dim: int, lr: float = 5e-4, hidden: int = 256, device: torch.device | str = "cpu"):
        self.device = torch.device(device)
        self.nce_critic = SeparableCritic(dim, hidden).to(self.device)
        self.nwj_critic = SeparableCritic(dim, hidden).to(self.device)
        self.nce_opt = torch.optim.Adam(self.nce_critic.parameters(), lr)
        self.nwj_opt = torch.optim.Adam(self.nwj_critic.parameters(), lr)

    def step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
        nce = infonce_bound(self.nce_critic(x, y))
        self.nce_opt.zero_grad()
        (-nce).backward()
        self.nce_opt.step()
        nwj = nwj_bound(self.nwj_critic(x, y))
        self.nwj_opt.zero_grad()
        (-nwj).backward()
        self.nwj_opt.step()
        return float(nce.detach()), float(nwj.detach())

    @torch.no_grad()
    def evaluate(self, dim: int, rho: float, batch: int, batches: int, generator: torch.Generator):
        """Mean of each bound over fresh batches (the critics frozen): the estimate to report."""
        nce, nwj = [], []
        for _ in range(batches):
            x, y = (t.to(self.device) for t in correlated_gaussians(batch, dim, rho, generator))
            nce.append(float(infonce_bound(self.nce_critic(x, y))))
            nwj.append(float(nwj_bound(self.nwj_critic(x, y))))
        return sum(nce) / batches, sum(nwj) / batches


def estimate_mi(cfg: MIConfig, live: dict, ctl: Control) -> Iterator[Event]:
    """Train both critics for cfg.steps steps; ``live`` may override mode, true_mi and mi_batch. The
    thread runs below the encoder's training beside it (``yield_to_others``): the tab's main result
    comes first."""
    yield_to_others()
    warm_imports()
    seed_everything(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)   # CPU draws: the same batches on every device
    with seeded_init(cfg.seed):   # the encoder's training builds its model beside this one
        est = MIEstimators(cfg.dim, cfg.lr, device=ctl.device)
    ema_nce = ema_nwj = None
    truth = batch = 0
    for step in range(cfg.steps):
        ctl.checkpoint()
        now = MIConfig(**{**cfg.__dict__, **live}) if live else cfg
        truth, batch = current_truth(now, step), int(now.mi_batch)
        pairs = correlated_gaussians(batch, cfg.dim, rho_for_mi(truth, cfg.dim), gen)
        x, y = (t.to(ctl.device) for t in pairs)
        nce, nwj = est.step(x, y)
        nwj = max(min(nwj, 50.0), -50.0)  # one exploding NWJ batch must not flatten the plot
        ema_nce = nce if ema_nce is None else 0.9 * ema_nce + 0.1 * nce
        ema_nwj = nwj if ema_nwj is None else 0.9 * ema_nwj + 0.1 * nwj
        if step % cfg.report_every == 0 or step == cfg.steps - 1:
            yield Progress(
                step,
                cfg.steps,
                {"true MI": truth, "InfoNCE": ema_nce, "NWJ": ema_nwj, "log N": math.log(batch)},
            )
    return MIDone(truth, ema_nce or 0.0, ema_nwj or 0.0, math.log(max(batch, 1)))
