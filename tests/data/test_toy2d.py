"""2D targets: shapes, seeding, the ring's modes, painted points."""

import numpy as np
import pytest

from lab_app.data.toy2d import RING_RADIUS, TARGETS, mode_centres, sample


@pytest.mark.parametrize("name", [t for t in TARGETS if t != "painted"])
def test_each_target_is_seeded_finite_2d(name):
    a = sample(name, 500, np.random.default_rng(3), 0.05)
    b = sample(name, 500, np.random.default_rng(3), 0.05)
    assert a.shape == (500, 2) and a.dtype == np.float32 and np.isfinite(a).all()
    assert np.array_equal(a, b) and np.abs(a).max() < 6


def test_ring_points_sit_on_their_modes():
    x = sample("8-Gaussian ring", 4000, np.random.default_rng(0), 0.02)
    c = mode_centres("8-Gaussian ring")
    assert np.allclose(np.linalg.norm(c, axis=1), RING_RADIUS)
    nearest = np.linalg.norm(x[:, None] - c[None], axis=2).min(1)
    assert nearest.max() < 0.15
    assert len(mode_centres("grid")) == 25


def test_painted_resamples_the_painted_points():
    painted = np.array([[1.0, 1.0], [-1.0, 2.0], [0.0, -3.0]], np.float32)
    x = sample("painted", 300, np.random.default_rng(0), 0.01, painted)
    assert np.linalg.norm(x[:, None] - painted[None], axis=2).min(1).max() < 0.06
    with pytest.raises(ValueError, match="paint"):
        sample("painted", 10, np.random.default_rng(0), 0.01, None)
