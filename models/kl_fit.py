"""Forward vs reverse KL: fit one Gaussian q = N(mu, s^2) to a bimodal target p in 1D.

Target: p(x) = 1/2 N(x; -m, t^2) + 1/2 N(x; m, t^2).

Forward KL (what maximum likelihood minimises):
    KL(p || q) = E_p[log p - log q]    - q must put mass wherever p has it: "mode covering";
    its minimiser matches moments: mu = E_p x = 0, s^2 = Var_p x = t^2 + m^2 (between the modes).
Reverse KL (what variational inference minimises, e.g. the VAE's q(z|x)):
    KL(q || p) = E_q[log q - log p]    - q is punished for mass where p has none: "mode seeking";
    for well separated modes its minimiser sits on one mode, mu ~ +-m, s ~ t.

Both divergences are computed by quadrature on a fine grid (exact up to the grid) and minimised by
gradient descent on (mu, log s) from the same slightly off-centre start.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class KLFit:
    direction: str          # "forward" | "reverse"
    mu: float
    sigma: float
    kl_forward: float       # KL(p || q) at the fitted q
    kl_reverse: float       # KL(q || p) at the fitted q


def grid(m: float, t: float, n: int = 1201) -> torch.Tensor:
    half = m + 8 * t + 4.0
    return torch.linspace(-half, half, n, dtype=torch.float64)


def log_gauss(x: torch.Tensor, mu, sigma) -> torch.Tensor:
    return -0.5 * ((x - mu) / sigma) ** 2 - torch.log(torch.as_tensor(sigma, dtype=x.dtype)) - 0.5 * math.log(2 * math.pi)


def log_target(x: torch.Tensor, m: float, t: float) -> torch.Tensor:
    """log p(x) of the symmetric two-Gaussian mixture."""
    return torch.logsumexp(torch.stack([log_gauss(x, -m, t), log_gauss(x, m, t)]), 0) - math.log(2)


def kl_values(mu, sigma, m: float, t: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(KL(p||q), KL(q||p)) by the trapezoid rule on a grid wide enough for both."""
    x = grid(m, max(t, float(torch.as_tensor(sigma).detach())))
    dx = x[1] - x[0]
    lp, lq = log_target(x, m, t), log_gauss(x, mu, sigma)
    forward = torch.trapezoid(lp.exp() * (lp - lq), dx=dx)
    reverse = torch.trapezoid(lq.exp() * (lq - lp), dx=dx)
    return forward, reverse


def fit(direction: str, m: float = 2.0, t: float = 0.5, steps: int = 200, lr: float = 0.08,
        mu0: float = 0.5, sigma0: float = 0.6) -> tuple[KLFit, list[tuple[float, float]]]:
    """Minimise KL in ``direction`` over (mu, log s). Returns the fit and its path [(mu, s), ...]."""
    mu = torch.tensor(mu0, dtype=torch.float64, requires_grad=True)
    log_s = torch.tensor(math.log(sigma0), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([mu, log_s], lr=lr)
    path = []
    for _ in range(steps):
        forward, reverse = kl_values(mu, log_s.exp(), m, t)
        loss = forward if direction == "forward" else reverse
        opt.zero_grad()
        loss.backward()
        opt.step()
        path.append((float(mu.detach()), float(log_s.detach().exp())))
    with torch.no_grad():
        forward, reverse = kl_values(mu, log_s.exp(), m, t)
    return KLFit(direction, float(mu.detach()), float(log_s.detach().exp()), float(forward), float(reverse)), path


def densities(m: float, t: float, fits: list[KLFit], n: int = 400) -> tuple:
    """x (n,), p(x) (n,), and q(x) of each fit: for drawing."""
    x = torch.linspace(-(m + 4 * t + 2), m + 4 * t + 2, n, dtype=torch.float64)
    p = log_target(x, m, t).exp()
    qs = [log_gauss(x, f.mu, f.sigma).exp() for f in fits]
    return x.numpy(), p.numpy(), [q.numpy() for q in qs]
