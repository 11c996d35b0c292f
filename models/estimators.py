"""Gradient estimators for L(theta) = E_{z ~ p_theta(z)}[f(z)], vectorised over n samples (numpy).

Continuous case, p_theta = N(mu, sigma^2), gradient with respect to mu:
    score function (REINFORCE):  g = f(z) * d/dmu log p(z) = f(z) * (z - mu) / sigma^2
    with a baseline b:           g = (f(z) - b) * (z - mu) / sigma^2     (unbiased if b does not
                                 depend on z; here b_i = the mean of f over the *other* samples)
    pathwise (reparameterised):  z = mu + sigma * eps, eps ~ N(0, 1),  g = f'(z) * dz/dmu = f'(z)
The score function needs only values of f; the pathwise estimator needs f' and is unbiased only where
f is differentiable (a step function gives g = 0 almost surely: biased).

Discrete case, p_theta = softmax(theta) over K classes with values v_k (z = v_k), gradient w.r.t. the
logits theta (K,):
    exact:         dL/dtheta = p * (f(v) - L)                  (L = sum_k p_k f(v_k))
    score:         g = (f(v_k) - b) * (onehot(k) - p),  k ~ p
    Gumbel-max:    k = argmax_j (theta_j + G_j), G_j ~ Gumbel(0, 1) i.i.d.  is an exact sample of p
    Gumbel-Softmax (Concrete): y = softmax((theta + G) / tau), a point inside the simplex; relax
                   z~ = sum_k y_k v_k and differentiate f(z~):
                   g = f'(z~) * dz~/dtheta = f'(z~) * y * (v - z~) / tau      (biased; the bias shrinks
                   as tau -> 0 while the variance grows)
    straight-through: forward pass with the hard one-hot (z = v_k), backward through the soft y:
                   g = f'(v_k) * y * (v - z~) / tau
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Function = Callable[[np.ndarray], np.ndarray]

GAUSSIAN_ESTIMATORS = ("REINFORCE", "REINFORCE + baseline", "pathwise")
CATEGORICAL_ESTIMATORS = ("REINFORCE", "REINFORCE + baseline", "Gumbel-Softmax", "straight-through")


def derivative(f: Function, z: np.ndarray) -> np.ndarray:
    """f'(z) with autograd's meaning: the derivative where f is differentiable, 0 at a jump.

    The lab's f are typed numpy expressions, not autograd graphs, so f' comes from central differences
    at two step sizes, h and h/2. Where they disagree a jump lies inside the interval: a plain
    difference quotient would return jump / 2h there (and so average to the true gradient of a step
    with enormous variance), while the pathwise estimator, as autograd computes it, sees f' = 0."""
    h = 1e-4 * (1.0 + np.abs(z))  # scales with |z| so that rounding does not dominate for large z
    wide = (f(z + h) - f(z - h)) / (2.0 * h)
    narrow = (f(z + h / 2) - f(z - h / 2)) / h
    smooth = np.abs(wide - narrow) <= 1e-3 * (1.0 + np.abs(narrow))
    return np.where(smooth, narrow, 0.0)


def leave_one_out_mean(values: np.ndarray) -> np.ndarray:
    """b_i = mean of values without values_i: a baseline independent of sample i (keeps g unbiased)."""
    n = len(values)
    if n < 2:
        return np.zeros_like(values)
    return (values.sum() - values) / (n - 1)


# ------------------------------------------------------------------ Gaussian p_theta = N(mu, sigma^2)
def gaussian_grad_mu(name: str, f: Function, mu: float, sigma: float, eps: np.ndarray) -> np.ndarray:
    """Single-sample estimates of dL/dmu, one per eps (n,), with z = mu + sigma * eps."""
    z = mu + sigma * eps  # (n,)
    if name == "REINFORCE":
        return f(z) * eps / sigma  # (z - mu) / sigma^2 = eps / sigma
    if name == "REINFORCE + baseline":
        fz = f(z)
        return (fz - leave_one_out_mean(fz)) * eps / sigma
    if name == "pathwise":
        return derivative(f, z)
    raise KeyError(f"unknown estimator {name!r}; known: {', '.join(GAUSSIAN_ESTIMATORS)}")


def gaussian_objective(f: Function, mu: float, sigma: float, points: int = 200_001) -> tuple[float, float]:
    """(L, dL/dmu) by numerical integration over eps in [-12, 12] (Simpson-accurate for smooth f,
    O(1e-5) for steps). The gradient uses the score form dL/dmu = E[f(z) eps / sigma], which needs no
    derivative of f, so it is exact for discontinuous f too."""
    eps = np.linspace(-12.0, 12.0, points)
    weight = np.exp(-0.5 * eps**2) / np.sqrt(2 * np.pi)
    fz = f(mu + sigma * eps)
    dx = eps[1] - eps[0]
    integrate = lambda y: float(np.trapezoid(y, dx=dx))  # noqa: E731
    return integrate(fz * weight), integrate(fz * weight * eps / sigma)


# -------------------------------------------------------------- categorical p_theta = softmax(theta)
def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    shifted = logits - logits.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)


def gumbel_noise(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """G = -log(-log U), U ~ Uniform(0, 1): the standard Gumbel distribution."""
    u = rng.uniform(np.finfo(np.float64).tiny, 1.0, size=shape)
    return -np.log(-np.log(u))


def gumbel_max(logits: np.ndarray, gumbel: np.ndarray) -> np.ndarray:
    """argmax_k (theta_k + G_k) for each row of gumbel (n, K): exact samples of softmax(theta)."""
    return np.argmax(logits + gumbel, axis=-1)


def gumbel_softmax(logits: np.ndarray, gumbel: np.ndarray, tau: float) -> np.ndarray:
    """softmax((theta + G) / tau), (n, K): relaxed one-hot samples, corners as tau -> 0,
    the centre of the simplex as tau -> infinity."""
    return softmax((logits + gumbel) / tau, axis=-1)


def categorical_objective(f: Function, values: np.ndarray, logits: np.ndarray) -> tuple[float, np.ndarray]:
    """(L, dL/dtheta) exactly: L = sum_k p_k f(v_k), dL/dtheta = p * (f(v) - L)."""
    p = softmax(logits)
    fv = f(values)
    loss = float(p @ fv)
    return loss, p * (fv - loss)


def categorical_grad(
    name: str, f: Function, values: np.ndarray, logits: np.ndarray, gumbel: np.ndarray, tau: float = 1.0
) -> np.ndarray:
    """Single-sample estimates of dL/dtheta, (n, K), one per row of the Gumbel noise (n, K)."""
    p = softmax(logits)  # (K,)
    k = gumbel_max(logits, gumbel)  # (n,) exact samples
    if name in ("REINFORCE", "REINFORCE + baseline"):
        fk = f(values[k])  # (n,)
        if name == "REINFORCE + baseline":
            fk = fk - leave_one_out_mean(fk)
        onehot = np.eye(len(logits))[k]  # (n, K)
        return fk[:, None] * (onehot - p[None, :])
    if name in ("Gumbel-Softmax", "straight-through"):
        y = gumbel_softmax(logits, gumbel, tau)  # (n, K)
        z_soft = y @ values  # (n,)
        z_forward = z_soft if name == "Gumbel-Softmax" else values[k]
        dz_dtheta = y * (values[None, :] - z_soft[:, None]) / tau  # (n, K)
        return derivative(f, z_forward)[:, None] * dz_dtheta
    raise KeyError(f"unknown estimator {name!r}; known: {', '.join(CATEGORICAL_ESTIMATORS)}")


# ------------------------------------------------------------------------------------ summaries
def variance_vs_samples(estimates: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Variance of the M-sample average estimator for each M in sizes, from single-sample estimates
    (n,): the estimates are cut into n // M groups of M and the variance of the group means taken.
    Theory: var_1 / M, a line of slope -1 on log-log axes (same slope, different height per estimator)."""
    out = np.full(len(sizes), np.nan)
    for i, m in enumerate(sizes):
        groups = len(estimates) // int(m)
        if groups >= 2:
            out[i] = estimates[: groups * int(m)].reshape(groups, int(m)).mean(axis=1).var(ddof=1)
    return out


def relaxed_bias_variance(
    f: Function,
    values: np.ndarray,
    logits: np.ndarray,
    taus: np.ndarray,
    n: int,
    rng: np.random.Generator,
    name: str = "Gumbel-Softmax",
) -> tuple[np.ndarray, np.ndarray]:
    """For each tau: bias = ||E[g] - dL/dtheta|| and variance = sum_k Var[g_k] of the relaxed estimator,
    from n samples (the same Gumbel noise for every tau, so the curves are smooth in tau)."""
    _, exact = categorical_objective(f, values, logits)
    noise = gumbel_noise((n, len(logits)), rng)
    bias, var = np.empty(len(taus)), np.empty(len(taus))
    for i, tau in enumerate(taus):
        g = categorical_grad(name, f, values, logits, noise, float(tau))
        bias[i] = np.linalg.norm(g.mean(axis=0) - exact)
        var[i] = g.var(axis=0).sum()
    return bias, var
