"""Gradient estimators: unbiased where theory says so, biased where it does not, variances ordered."""

import numpy as np
import pytest
from scipy import stats

from models import estimators as est
from models.safe_expr import compile_expression

SQUARE = compile_expression("z**2")
N = 200_000


def test_gumbel_max_frequencies_match_softmax_chi_square():
    rng = np.random.default_rng(3)  # a fixed seed; at other seeds p < 0.01 happens 1 time in 100
    logits = np.array([1.0, -0.5, 0.3, 2.0, 0.0])
    k = est.gumbel_max(logits, est.gumbel_noise((N, len(logits)), rng))
    counts = np.bincount(k, minlength=len(logits))
    _, p_value = stats.chisquare(counts, N * est.softmax(logits))
    assert p_value > 0.01
    # The Gumbel-Softmax sample is a point of the simplex whose argmax is the Gumbel-max sample.
    y = est.gumbel_softmax(logits, est.gumbel_noise((10, 5), rng), 0.5)
    assert np.allclose(y.sum(1), 1) and (y > 0).all()


def test_exact_gaussian_gradient_by_integration_matches_closed_forms():
    assert est.gaussian_objective(SQUARE, 1.0, 1.5) == pytest.approx((1 + 1.5**2, 2.0), abs=1e-6)
    step = compile_expression("heaviside(z - 0.5, 0.5)")  # d/dmu P(z > 0.5) = pdf at 0.5
    _, grad = est.gaussian_objective(step, 0.0, 1.0)
    assert grad == pytest.approx(stats.norm.pdf(0.5), abs=1e-4)


@pytest.mark.parametrize("expression", ["z**2", "sin(3*z)", "heaviside(z - 0.5, 0.5)"])
@pytest.mark.parametrize("name", est.GAUSSIAN_ESTIMATORS)
def test_gaussian_estimators_unbiased_where_theory_says(name, expression):
    f = compile_expression(expression)
    rng = np.random.default_rng(1)
    g = est.gaussian_grad_mu(name, f, 0.7, 1.2, rng.standard_normal(N))
    _, exact = est.gaussian_objective(f, 0.7, 1.2)
    stderr = g.std() / np.sqrt(N)
    if name == "pathwise" and expression.startswith("heaviside"):
        assert abs(g.mean() - exact) > 10 * stderr + 0.1  # f' = 0 almost everywhere: biased
    else:
        assert abs(g.mean() - exact) < 4 * stderr


def test_pathwise_variance_below_reinforce_on_z_squared():
    eps = np.random.default_rng(2).standard_normal(N)
    var = {name: est.gaussian_grad_mu(name, SQUARE, 1.0, 1.0, eps).var() for name in est.GAUSSIAN_ESTIMATORS}
    # Closed forms at mu = sigma = 1: pathwise Var[2z] = 4;
    # REINFORCE Var[z^2 eps] = E[z^4 eps^2] - 4 = 34 - 4 = 30.
    assert var["pathwise"] == pytest.approx(4.0, rel=0.05)
    assert var["REINFORCE"] == pytest.approx(30.0, rel=0.1)
    assert var["pathwise"] < var["REINFORCE + baseline"] < var["REINFORCE"]


def test_categorical_estimators_score_unbiased_relaxation_biased_at_high_tau():
    f = compile_expression("(z - 0.8)**2")
    values = np.arange(3.0)
    logits = np.array([0.2, -0.4, 0.5])
    _, exact = est.categorical_objective(f, values, logits)
    noise = est.gumbel_noise((N, 3), np.random.default_rng(3))
    for name in ("REINFORCE", "REINFORCE + baseline"):
        g = est.categorical_grad(name, f, values, logits, noise)
        assert np.all(np.abs(g.mean(0) - exact) < 4 * g.std(0) / np.sqrt(N))
    bias, var = est.relaxed_bias_variance(
        f, values, logits, np.array([0.1, 1.0, 10.0]), 50_000, np.random.default_rng(4)
    )
    assert bias[2] > 0.2 * np.linalg.norm(exact) and bias[2] > bias[0]  # high tau: biased
    assert var[0] > var[2]  # low tau: noisy
    high = est.categorical_grad("Gumbel-Softmax", f, values, logits, noise, 10.0)
    assert np.linalg.norm(high.mean(0) - exact) > 10 * np.linalg.norm(high.std(0) / np.sqrt(N))


def test_variance_vs_samples_falls_as_one_over_m():
    g = np.random.default_rng(5).standard_normal(100_000) * 3.0
    v = est.variance_vs_samples(g, np.array([1, 10, 100]))
    assert v == pytest.approx([9.0, 0.9, 0.09], rel=0.1)
