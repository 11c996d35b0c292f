"""Forward KL covers both modes (moment matching), reverse KL seeks one."""

import math

import pytest

from models.kl_fit import fit, kl_values


def test_forward_kl_lands_between_the_modes_with_the_mixture_variance():
    f, path = fit("forward", m=2.0, t=0.5)
    assert abs(f.mu) < 0.05
    assert f.sigma == pytest.approx(math.sqrt(0.5 ** 2 + 2.0 ** 2), rel=0.02)
    assert len(path) == 200


def test_reverse_kl_lands_on_one_mode():
    r, _ = fit("reverse", m=2.0, t=0.5)
    assert r.mu == pytest.approx(2.0, abs=0.05) and r.sigma == pytest.approx(0.5, abs=0.05)
    assert r.kl_reverse == pytest.approx(math.log(2), abs=0.01)  # one of two equal modes: log 2
    f, _ = fit("forward", m=2.0, t=0.5)
    assert f.kl_forward < r.kl_forward and r.kl_reverse < f.kl_reverse  # each wins its own divergence


def test_kl_of_the_target_component_to_itself_parts():
    fwd, rev = kl_values(0.0, 0.5, m=0.0, t=0.5)  # both components at 0: p = q
    assert abs(float(fwd)) < 1e-6 and abs(float(rev)) < 1e-6
