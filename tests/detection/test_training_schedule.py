import math

import pytest

from lab_app.detection.training import LoopConfig, learning_rate


def test_warm_up_then_constant_until_the_hold_then_a_cosine_to_zero():
    loop = LoopConfig(steps=1000, lr=1e-3, hold=0.8)
    assert learning_rate(loop, 0, 0.0) == pytest.approx(1e-3 / 20)          # warm-up
    assert learning_rate(loop, 100, 0.1) == learning_rate(loop, 790, 0.79) == pytest.approx(1e-3)
    assert learning_rate(loop, 900, 0.9) == pytest.approx(0.5e-3)          # half-way down the cosine
    assert learning_rate(loop, 999, 1.0) == pytest.approx(0.0, abs=1e-12)
    whole = LoopConfig(steps=1000, lr=1e-3, hold=0.0)                        # the plain cosine
    assert learning_rate(whole, 500, 0.5) == pytest.approx(1e-3 * 0.5 * (1 + math.cos(math.pi * 0.5)))
