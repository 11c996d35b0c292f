"""2D target distributions for the generative-model playground (numpy only, seeded).

``sample(name, n, rng, noise)`` returns (n, 2) float32 points; ``mode_centres`` gives the centres of
the mixture targets (for counting covered modes). "painted" resamples the user's own points with a
little Gaussian jitter (``noise``)."""

from __future__ import annotations

import numpy as np

TARGETS = ("8-Gaussian ring", "grid", "two moons", "swiss roll", "spiral", "painted")
RING_RADIUS = 2.0


def mode_centres(name: str) -> np.ndarray:
    if name == "8-Gaussian ring":
        a = np.arange(8) * 2 * np.pi / 8
        return (RING_RADIUS * np.stack([np.cos(a), np.sin(a)], 1)).astype(np.float32)
    if name == "grid":
        g = np.arange(-2, 3, dtype=np.float32)
        return np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    raise ValueError(f"{name!r} is not a mixture of Gaussians")


def sample(name: str, n: int, rng: np.random.Generator, noise: float = 0.05,
           painted: np.ndarray | None = None) -> np.ndarray:
    """n points of target ``name``; ``noise`` is the std of the Gaussian jitter (of each mode for the
    mixtures)."""
    if name in ("8-Gaussian ring", "grid"):
        c = mode_centres(name)
        x = c[rng.integers(0, len(c), n)] + noise * rng.standard_normal((n, 2))
    elif name == "two moons":
        t = rng.uniform(0, np.pi, n)
        upper = rng.random(n) < 0.5
        x = np.where(upper[:, None], np.stack([np.cos(t), np.sin(t)], 1),
                     np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1))
        x = (x - [0.5, 0.25]) * 1.6 + noise * rng.standard_normal((n, 2))
    elif name == "swiss roll":
        t = 1.5 * np.pi * (1 + 2 * rng.random(n))
        x = np.stack([t * np.cos(t), t * np.sin(t)], 1) / 5.0 + noise * rng.standard_normal((n, 2))
    elif name == "spiral":
        t = np.sqrt(rng.random(n)) * 3 * np.pi
        arm = rng.integers(0, 2, n) * np.pi
        x = np.stack([t * np.cos(t + arm), t * np.sin(t + arm)], 1) / 4.0 + noise * rng.standard_normal((n, 2))
    elif name == "painted":
        if painted is None or len(painted) < 3:
            raise ValueError("paint at least a few points with the mouse (press and drag on the target plot)")
        p = np.asarray(painted, np.float32)
        x = p[rng.integers(0, len(p), n)] + max(noise, 1e-3) * rng.standard_normal((n, 2))
    else:
        raise ValueError(f"unknown target {name!r}; known: {', '.join(TARGETS)}")
    return x.astype(np.float32)
