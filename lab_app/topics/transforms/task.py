"""Distribution transforms (no Qt): a GAN and a VAE learn the same 2D target, both as X = g(Z) with
Z ~ N(0, I). Two generators (one per model, run side by side on two runners) yield frames: samples
of g(Z), the image of a square grid of Z under g (the warp), the discriminator's field (GAN) or the
decoded posterior ellipses of a few data points (VAE), and the energy distance to the target.
Learning rates, D steps per G step and beta are read from ``live`` every step."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from lab_app.core.control import Control
from lab_app.core.device import seeded_init
from lab_app.core.events import Event, Progress
from lab_app.core.seeds import seed_field
from lab_app.data.toy2d import TARGETS, sample
from models.gan2d import (
    Discriminator,
    GANConfig,
    Generator,
    discriminator_loss,
    energy_distance,
    generator_loss,
)
from models.kl_fit import fit
from models.vae import VAE, VAEConfig, vae_loss

LIVE = "Acts on the running training at once."


@dataclass
class TransformsConfig:
    target: str = field(default="8-Gaussian ring", metadata={
        "label": "Target", "choices": TARGETS,
        "tip": "the data distribution; 'painted': press and drag on the target plot to draw your own"})
    noise: float = field(default=0.1, metadata={
        "label": "Noise", "min": 0.01, "max": 0.5, "step": 0.01, "tip": "std of the jitter around the target"})
    latent_dim: int = field(default=2, metadata={
        "label": "Latent dim", "min": 1, "max": 8, "tip": "dimension of Z for both models; the grid shows z1, z2"})
    gan_lr: float = field(default=1e-3, metadata={
        "label": "GAN learning rate", "min": 1e-5, "max": 1e-2, "log": True, "live": True,
        "tip": "peak rate; it decays (cosine) to 1/10 by the last step. " + LIVE})
    d_steps: int = field(default=1, metadata={
        "label": "D steps per G step", "min": 1, "max": 5, "live": True,
        "tip": "more: D is closer to optimal, G gets better gradients (and is slower). " + LIVE})
    r1_gamma: float = field(default=0.1, metadata={
        "label": "R1 penalty", "min": 0.0, "max": 10.0, "step": 0.1, "live": True,
        "tip": "gamma/2 E||grad D(x)||^2 on real data: a smoother D, fewer oscillations. " + LIVE})
    vae_lr: float = field(default=2e-3, metadata={
        "label": "VAE learning rate", "min": 1e-5, "max": 1e-2, "log": True, "live": True, "tip": LIVE})
    beta: float = field(default=1.0, metadata={
        "label": "VAE beta", "min": 0.1, "max": 4.0, "step": 0.1, "live": True,
        "tip": "weight of the KL term; larger: blurrier samples, a latent closer to N(0, I). " + LIVE})
    steps: int = field(default=4000, metadata={"label": "Steps", "min": 100, "max": 20000, "step": 100})
    kl_separation: float = field(default=2.0, metadata={
        "label": "KL demo: mode distance", "min": 0.5, "max": 4.0, "step": 0.1,
        "tip": "the bimodal target of the KL panel is 1/2 N(-m, 0.5^2) + 1/2 N(m, 0.5^2)"})
    batch_size: int = 256
    hidden: int = 128
    frame_seconds: float = 0.3
    grid_lines: int = 15           # lines of the Z grid per direction
    grid_extent: float = 2.5       # the grid covers [-e, e]^2 of (z1, z2)
    field_size: int = 64           # the discriminator field is field_size x field_size
    shown_samples: int = 1500
    seed: int = seed_field()


@dataclass(frozen=True)
class TargetReady(Event):
    model: str                     # "gan" | "vae"
    data: np.ndarray               # (N, 2) points of the target, for drawing
    extent: tuple                  # (x0, x1, y0, y1) of the plots


@dataclass(frozen=True)
class TransformFrame(Event):
    coalesce = True
    name: str                      # "gan" | "vae" (coalesced per model)
    step: int
    samples: np.ndarray            # (S, 2) g(z) for a fixed set of z
    grid: np.ndarray               # (L, P, 2) polylines: images of the lines of the Z grid
    distance: float                # energy distance to the target
    field: np.ndarray | None = None        # (F, F) sigma(D(x)) over the extent, row = y (GAN)
    ellipses: np.ndarray | None = None     # (K, P, 2) decoded 2-sigma posterior ellipses (VAE)
    anchors: np.ndarray | None = None      # (K, 2) the data points of those ellipses (VAE)


@dataclass(frozen=True)
class KLResult(Event):
    fits: tuple                    # (forward KLFit, reverse KLFit)
    separation: float
    width: float


def _live(cfg: TransformsConfig, live: dict | None) -> TransformsConfig:
    return TransformsConfig(**{**asdict(cfg), **live}) if live else cfg


def target_points(cfg: TransformsConfig, painted: np.ndarray | None, n: int, rng) -> np.ndarray:
    return sample(cfg.target, n, rng, cfg.noise, painted)


def extent_of(points: np.ndarray) -> tuple:
    lo, hi = np.percentile(points, 0.5, 0), np.percentile(points, 99.5, 0)
    c, half = (lo + hi) / 2, max(float((hi - lo).max()) / 2 * 1.3, 0.5)
    return (float(c[0] - half), float(c[0] + half), float(c[1] - half), float(c[1] + half))


def z_grid(cfg: TransformsConfig) -> torch.Tensor:
    """(2L, P, J) points along the lines z1 = const and z2 = const of a square in (z1, z2); other
    latent dimensions 0 (their mean)."""
    e, lines, p = cfg.grid_extent, cfg.grid_lines, 60
    ticks, along = torch.linspace(-e, e, lines), torch.linspace(-e, e, p)
    z = torch.zeros(2 * lines, p, cfg.latent_dim)
    for i, t in enumerate(ticks):
        z[i, :, 0] = t
        if cfg.latent_dim > 1:
            z[i, :, 1] = along
            z[lines + i, :, 0] = along
            z[lines + i, :, 1] = t
        else:  # one latent dimension: g's image of a line is a curve; draw it once
            z[lines + i, :, 0] = along
    return z


def cosine_decay(step: int, steps: int, floor: float = 0.1) -> float:
    """The GAN's learning-rate factor: from 1 down to ``floor`` at the last step (a cosine). Late
    small steps stop G and D from chasing each other round the modes."""
    return floor + (1 - floor) * 0.5 * (1 + np.cos(np.pi * min(step, steps) / steps))


def _setup(cfg: TransformsConfig, painted: np.ndarray | None, model: str, device: torch.device):
    """Everything random is drawn on the CPU (numpy, CPU generators) and then moved to ``device``:
    a seed gives the same data and noise on every device."""
    rng = np.random.default_rng(cfg.seed)
    shown = target_points(cfg, painted, 4000, rng)
    fixed_data = torch.from_numpy(target_points(cfg, painted, 512, rng)).to(device)
    z_fixed = torch.randn(cfg.shown_samples, cfg.latent_dim, generator=torch.Generator().manual_seed(cfg.seed + 1))
    return rng, TargetReady(model, shown, extent_of(shown)), fixed_data, z_fixed.to(device)


def train_gan(cfg: TransformsConfig, live: dict | None, ctl: Control, painted: np.ndarray | None = None
              ) -> Iterator[Event]:
    """Non-saturating GAN with an R1 penalty; returns the generator's state dict."""
    device = ctl.device
    rng, ready, fixed_data, z_fixed = _setup(cfg, painted, "gan", device)
    yield ready
    gcfg = GANConfig(latent_dim=cfg.latent_dim, hidden=cfg.hidden)
    with seeded_init(cfg.seed):  # the VAE builds its model in another thread at the same time
        g, d = Generator(gcfg).to(device), Discriminator(gcfg).to(device)
    noise = torch.Generator().manual_seed(cfg.seed + 2)  # not the process-wide generator

    def z_batch() -> torch.Tensor:
        return torch.randn(cfg.batch_size, cfg.latent_dim, generator=noise).to(device)

    opt_g = torch.optim.Adam(g.parameters(), lr=cfg.gan_lr, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(d.parameters(), lr=cfg.gan_lr, betas=(0.5, 0.9))
    x0, x1, y0, y1 = ready.extent
    fx, fy = np.meshgrid(np.linspace(x0, x1, cfg.field_size), np.linspace(y0, y1, cfg.field_size))
    field_points = torch.from_numpy(np.stack([fx.ravel(), fy.ravel()], 1).astype(np.float32)).to(device)
    zg = z_grid(cfg).to(device)
    last_frame = 0.0
    for step in range(1, cfg.steps + 1):
        ctl.checkpoint()
        now = _live(cfg, live)
        lr = now.gan_lr * cosine_decay(step, cfg.steps)
        for opt in (opt_g, opt_d):
            for group in opt.param_groups:
                group["lr"] = lr
        for _ in range(max(1, int(now.d_steps))):
            real = torch.from_numpy(target_points(cfg, painted, cfg.batch_size, rng)).to(device)
            with torch.no_grad():
                fake = g(z_batch())
            loss_d = discriminator_loss(d, real, fake, now.r1_gamma)
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
        loss_g = generator_loss(d, g(z_batch()))
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        frame_due = time.monotonic() - last_frame >= cfg.frame_seconds or step == cfg.steps
        if step % 20 == 0 or frame_due:
            yield Progress(step, cfg.steps, {"d_loss": float(loss_d.detach()), "g_loss": float(loss_g.detach())})
        if frame_due:
            with torch.no_grad():
                samples = g(z_fixed)
                grid = g(zg)
                field = torch.sigmoid(d(field_points)).reshape(cfg.field_size, cfg.field_size)
            dist = energy_distance(samples[:512], fixed_data)
            yield TransformFrame("gan", step, samples.cpu().numpy(), grid.cpu().numpy(), dist,
                                 field=field.cpu().numpy())
            last_frame = time.monotonic()
    return {k: v.detach().cpu().clone() for k, v in g.state_dict().items()}


def train_vae(cfg: TransformsConfig, live: dict | None, ctl: Control, painted: np.ndarray | None = None,
              anchors: int = 5) -> Iterator[Event]:
    """A VAE with a Gaussian p(x | z); its samples are the decoder means g(z) (the same X = g(Z) as
    the GAN; the decoder's own noise would blur the comparison). Returns the state dict."""
    device = ctl.device
    rng, ready, fixed_data, z_fixed = _setup(cfg, painted, "vae", device)
    yield ready
    with seeded_init(cfg.seed):
        model = VAE(VAEConfig(input_dim=2, latent_dim=cfg.latent_dim, hidden=(cfg.hidden, cfg.hidden),
                              likelihood="gaussian")).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.vae_lr)
    eps_noise = torch.Generator().manual_seed(cfg.seed + 3)   # not the process-wide generator (the GAN
    zg = z_grid(cfg).to(device)                               # builds its model in parallel)
    anchor_x = fixed_data[torch.linspace(0, len(fixed_data) - 1, anchors).long().to(device)]
    angle = torch.linspace(0, 2 * np.pi, 48)
    circle = (torch.stack([torch.cos(angle), torch.sin(angle)], 1) * 2.0).to(device)   # 2 sigma
    last_frame = 0.0
    for step in range(1, cfg.steps + 1):
        ctl.checkpoint()
        now = _live(cfg, live)
        for group in opt.param_groups:
            group["lr"] = now.vae_lr
        x = torch.from_numpy(target_points(cfg, painted, cfg.batch_size, rng)).to(device)
        loss, terms = vae_loss(model, x, now.beta, generator=eps_noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        frame_due = time.monotonic() - last_frame >= cfg.frame_seconds or step == cfg.steps
        if step % 20 == 0 or frame_due:
            yield Progress(step, cfg.steps, {"vae_loss": terms["loss"], "kl": terms["kl"]})
        if frame_due:
            with torch.no_grad():
                samples = model.mean(z_fixed)
                grid = model.mean(zg)
                mu, logvar = model.encode(anchor_x)                       # (K, J)
                ring = mu[:, None, :].repeat(1, len(circle), 1)           # (K, P, J)
                ring[:, :, :2] += circle[None, :, : min(2, cfg.latent_dim)] * torch.exp(0.5 * logvar[:, None, :2])
                ellipses = model.mean(ring)
            dist = energy_distance(samples[:512], fixed_data)
            yield TransformFrame("vae", step, samples.cpu().numpy(), grid.cpu().numpy(), dist,
                                 ellipses=ellipses.cpu().numpy(), anchors=anchor_x.cpu().numpy())
            last_frame = time.monotonic()
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def fit_kl(separation: float, ctl: Control | None = None, width: float = 0.5) -> KLResult:
    """Fit one Gaussian to 1/2 N(-m, w^2) + 1/2 N(m, w^2) by forward and by reverse KL."""
    forward, _ = fit("forward", separation, width)
    reverse, _ = fit("reverse", separation, width)
    return KLResult((forward, reverse), separation, width)
