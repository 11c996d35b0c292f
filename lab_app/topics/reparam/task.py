"""Reparameterization tab, gradient-estimator panel and simplex geometry (no Qt).

``estimate`` is a generator: for the chosen p_theta (a Gaussian N(mu, sigma^2) or the categorical of
the simplex panel) and f, it draws n single-sample gradient estimates per estimator in one vectorised
batch, yields their histograms, means and variance-vs-sample-count curves (EstimatorFrame), then runs
a gradient-descent race on theta, one run per estimator plus one with the exact gradient, yielding
the true objective along each path (RaceFrame). It returns the last RaceFrame.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from lab_app.core.control import Control
from lab_app.core.events import Event
from lab_app.core.seeds import seed_field
from models import estimators as est
from models.safe_expr import compile_expression

FUNCTIONS = ("z**2", "sin(3*z)", "heaviside(z - 0.5, 0.5)", "(z - 1.2)**2", "custom")
DISTRIBUTIONS = ("Gaussian N(mu, sigma^2)", "categorical (simplex logits)")
VARIANCE_SIZES = np.unique(np.logspace(0, 3, 13).astype(int))  # M = 1 .. 1000 samples per estimate


@dataclass
class EstimatorConfig:
    distribution: str = field(
        default=DISTRIBUTIONS[0],
        metadata={
            "label": "p_theta",
            "choices": DISTRIBUTIONS,
            "tip": "Gaussian: theta = mu. Categorical: theta = the logits set on the simplex panel, "
            "z = class index 0, 1, 2",
        },
    )
    function: str = field(
        default="z**2",
        metadata={"label": "f(z)", "choices": FUNCTIONS, "tip": "'custom': the expression typed below"},
    )
    mu: float = field(
        default=1.0, metadata={"label": "mu", "min": -3.0, "max": 3.0, "step": 0.1, "live": True}
    )
    sigma: float = field(
        default=1.0, metadata={"label": "sigma", "min": 0.1, "max": 3.0, "step": 0.1, "live": True}
    )
    samples: int = field(
        default=20_000,
        metadata={
            "label": "Samples n",
            "min": 1000,
            "max": 200_000,
            "step": 1000,
            "live": True,
            "tip": "single-sample gradient estimates per estimator (one vectorised batch)",
        },
    )
    baseline: bool = field(
        default=True,
        metadata={
            "label": "Baseline",
            "live": True,
            "tip": "add REINFORCE with a baseline b = mean of f over the other samples (unbiased)",
        },
    )
    race_batch: int = field(
        default=4,
        metadata={
            "label": "Race batch",
            "min": 1,
            "max": 64,
            "live": True,
            "tip": "samples averaged per gradient step in the race",
        },
    )
    race_steps: int = field(
        default=150, metadata={"label": "Race steps", "min": 10, "max": 1000, "step": 10, "live": True}
    )
    learning_rate: float = field(
        default=0.05, metadata={"label": "Race lr", "min": 0.001, "max": 1.0, "log": True, "live": True}
    )
    expression: str = "sin(2*z) + 0.3*z**2"  # the custom f, edited in a text box
    seed: int = seed_field()


@dataclass(frozen=True)
class EstimatorFrame(Event):
    """Histograms of single-sample estimates of dL/dtheta_0, one per estimator, with the truth."""

    names: tuple[str, ...]
    edges: np.ndarray  # (B+1,) shared bin edges
    counts: tuple[np.ndarray, ...]  # (B,) per estimator, as densities (central 96% binned)
    means: np.ndarray  # (E,)
    variances: np.ndarray  # (E,) single-sample variance
    exact: float  # dL/dtheta_0
    objective: float  # L(theta)
    sizes: np.ndarray  # (S,) samples per estimate M
    variance_curves: np.ndarray  # (E, S) variance of the M-sample average
    label: str  # what the gradient is taken with respect to
    n: int


@dataclass(frozen=True)
class RaceFrame(Event):
    """The true objective L(theta_t) along gradient descent with each estimator (and the exact one)."""

    coalesce = True
    steps: np.ndarray  # (T,)
    curves: dict  # name -> (T,) L(theta_t)
    done: bool = False


def resolve_function(cfg: EstimatorConfig):
    """The f(z) of the config; raises models.safe_expr.ExpressionError for a bad custom expression."""
    return compile_expression(cfg.expression if cfg.function == "custom" else cfg.function)


def estimator_names(cfg: EstimatorConfig) -> tuple[str, ...]:
    names = est.GAUSSIAN_ESTIMATORS if cfg.distribution == DISTRIBUTIONS[0] else est.CATEGORICAL_ESTIMATORS
    return tuple(n for n in names if cfg.baseline or n != "REINFORCE + baseline")


def single_sample_estimates(
    cfg: EstimatorConfig, f, logits: np.ndarray, tau: float, n: int, rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], float, float, str]:
    """{estimator: (n,) estimates of dL/dtheta_0}, exact dL/dtheta_0, L, and a label of theta_0."""
    out = {}
    if cfg.distribution == DISTRIBUTIONS[0]:
        eps = rng.standard_normal(n)  # the same noise for every estimator: a fair comparison
        for name in estimator_names(cfg):
            out[name] = est.gaussian_grad_mu(name, f, cfg.mu, cfg.sigma, eps)
        loss, exact = est.gaussian_objective(f, cfg.mu, cfg.sigma)
        return out, exact, loss, "dL/dmu"
    values = np.arange(len(logits), dtype=np.float64)
    noise = est.gumbel_noise((n, len(logits)), rng)
    for name in estimator_names(cfg):
        out[name] = est.categorical_grad(name, f, values, logits, noise, tau)[:, 0]
    loss, exact = est.categorical_objective(f, values, logits)
    return out, float(exact[0]), loss, "dL/dtheta_0 (logit of class 0)"


def histogram_frame(
    cfg: EstimatorConfig, f, logits: np.ndarray, tau: float, rng: np.random.Generator, bins: int = 80
) -> EstimatorFrame:
    estimates, exact, loss, label = single_sample_estimates(cfg, f, logits, tau, cfg.samples, rng)
    names = tuple(estimates)
    stacked = np.stack([estimates[n] for n in names])  # (E, n)
    finite = stacked[np.isfinite(stacked)]
    lo, hi = np.percentile(finite, [2.0, 98.0]) if finite.size else (-1.0, 1.0)
    lo, hi = min(lo, exact), max(hi, exact)
    if hi - lo < 1e-9:  # all estimates equal (e.g. a constant f): widen
        lo, hi = lo - 1.0, hi + 1.0
    edges = np.linspace(lo, hi, bins + 1)
    counts = tuple(
        np.histogram(stacked[i], bins=edges, density=False)[0] / (len(stacked[i]) * (edges[1] - edges[0]))
        for i in range(len(names))
    )
    curves = np.stack([est.variance_vs_samples(stacked[i], VARIANCE_SIZES) for i in range(len(names))])
    return EstimatorFrame(
        names,
        edges,
        counts,
        stacked.mean(1),
        stacked.var(1),
        exact,
        loss,
        VARIANCE_SIZES.copy(),
        curves,
        label,
        cfg.samples,
    )


def race(
    cfg: EstimatorConfig,
    f,
    logits: np.ndarray,
    tau: float,
    rng: np.random.Generator,
    ctl: Control | None = None,
    report_every: int = 10,
) -> Iterator[RaceFrame]:
    """theta_{t+1} = theta_t - lr * g_t, g_t the mean of race_batch single-sample estimates."""
    gaussian = cfg.distribution == DISTRIBUTIONS[0]
    names = ("exact gradient",) + estimator_names(cfg)
    theta = {n: (np.array([cfg.mu]) if gaussian else logits.astype(np.float64).copy()) for n in names}
    values = np.arange(len(logits), dtype=np.float64)
    # L(mu) on a grid once (numerical integration per step would dominate); interpolated along paths.
    grid = np.linspace(-8, 8, 801)
    table = (
        np.array([est.gaussian_objective(f, m, cfg.sigma, points=4001)[0] for m in grid])
        if gaussian
        else None
    )

    def objective(t: np.ndarray) -> float:
        return float(np.interp(t[0], grid, table)) if gaussian else est.categorical_objective(f, values, t)[0]

    curves = {n: [objective(theta[n])] for n in names}
    for step in range(1, cfg.race_steps + 1):
        if ctl is not None:
            ctl.checkpoint()
        for n in names:
            t = theta[n]
            if gaussian:
                g = (
                    est.gaussian_objective(f, t[0], cfg.sigma, points=4001)[1]
                    if n == "exact gradient"
                    else est.gaussian_grad_mu(
                        n, f, t[0], cfg.sigma, rng.standard_normal(cfg.race_batch)
                    ).mean()
                )
                theta[n] = np.clip(t - cfg.learning_rate * g, -8.0, 8.0)
            else:
                g = (
                    est.categorical_objective(f, values, t)[1]
                    if n == "exact gradient"
                    else est.categorical_grad(
                        n, f, values, t, est.gumbel_noise((cfg.race_batch, len(t)), rng), tau
                    ).mean(0)
                )
                theta[n] = np.clip(t - cfg.learning_rate * g, -20.0, 20.0)
            curves[n].append(objective(theta[n]))
        if step % report_every == 0 or step == cfg.race_steps:
            yield RaceFrame(
                np.arange(step + 1), {n: np.array(c) for n, c in curves.items()}, done=step == cfg.race_steps
            )


def estimate(cfg: EstimatorConfig, logits: np.ndarray, tau: float, ctl: Control) -> Iterator[Event]:
    """Histograms first (the main picture), then the race frame by frame."""
    rng = np.random.default_rng(cfg.seed)
    f = resolve_function(cfg)
    yield histogram_frame(cfg, f, np.asarray(logits, np.float64), tau, rng)
    last = None
    for frame in race(cfg, f, np.asarray(logits, np.float64), tau, rng, ctl):
        last = frame
        yield frame
    return last


# ------------------------------------------------------------------------------ simplex geometry
CORNERS = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3) / 2]])  # classes 0, 1, 2


def simplex_xy(probs: np.ndarray) -> np.ndarray:
    """Barycentric (n, 3) -> 2D (n, 2): the point sum_k p_k * corner_k of the triangle."""
    return probs @ CORNERS


def xy_to_probs(xy: np.ndarray, floor: float = 1e-3) -> np.ndarray:
    """2D point(s) (..., 2) -> barycentric (..., 3), clipped into the triangle's interior."""
    xy = np.asarray(xy, np.float64)
    p2 = xy[..., 1] / CORNERS[2, 1]
    p1 = xy[..., 0] - 0.5 * p2
    probs = np.stack([1.0 - p1 - p2, p1, p2], axis=-1)
    probs = np.clip(probs, floor, None)
    return probs / probs.sum(-1, keepdims=True)


@dataclass
class SimplexConfig:
    tau: float = field(
        default=0.5, metadata={"label": "tau", "min": 0.02, "max": 10.0, "log": True, "live": True}
    )
    straight_through: bool = field(
        default=False,
        metadata={"label": "Straight-through", "live": True, "tip": "show the one-hot forward values"},
    )
    classes: int = field(
        default=3,
        metadata={
            "label": "Classes K",
            "min": 3,
            "max": 10,
            "live": True,
            "tip": "K = 3 is drawn on the triangle; larger K only as bars",
        },
    )
    samples: int = field(
        default=3000, metadata={"label": "Samples", "min": 200, "max": 10000, "step": 100, "live": True}
    )


@dataclass(frozen=True)
class SimplexSamples:
    soft: np.ndarray  # (n, K) Gumbel-Softmax samples
    hard: np.ndarray  # (n,) Gumbel-max classes
    probs: np.ndarray  # (K,) softmax(logits)
    frequencies: np.ndarray  # (K,) of the Gumbel-max samples
    soft_mean: np.ndarray  # (K,) mean of the relaxed samples


def simplex_samples(
    logits: np.ndarray, tau: float, noise: np.ndarray, straight_through: bool = False
) -> SimplexSamples:
    """Gumbel-max and Gumbel-Softmax samples from the *same* noise (n, K): moving tau moves each
    relaxed sample along its own path, between the centre and the corner of its Gumbel-max class.
    ``straight_through``: the forward value is the one-hot (drawn at the corners)."""
    logits = np.asarray(logits, np.float64)
    hard = est.gumbel_max(logits, noise)
    soft = np.eye(len(logits))[hard] if straight_through else est.gumbel_softmax(logits, noise, tau)
    freq = np.bincount(hard, minlength=len(logits)) / len(hard)
    return SimplexSamples(soft, hard, est.softmax(logits), freq, soft.mean(0))


def bias_variance_curve(cfg: EstimatorConfig, logits: np.ndarray, ctl: Control | None = None,
                        samples: int = 2000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bias and variance of the relaxed (Gumbel-Softmax) estimator over a range of temperatures:
    (taus, bias, variance), each (T,). Thousands of samples per temperature: run in a worker."""
    f = resolve_function(cfg)
    taus = np.logspace(-1.7, 1, 24)
    values = np.arange(len(logits), dtype=np.float64)
    with np.errstate(all="ignore"):
        bias, var = est.relaxed_bias_variance(f, values, np.asarray(logits, np.float64), taus, samples,
                                              np.random.default_rng(cfg.seed + 1))
    return taus, bias, var
