"""The Shapes dataset (deterministic, distinct classes, augmentations) and the class-folder reader."""

import numpy as np
import pytest

from lab_app.data.pointsets import load_folder_dataset, resample, sample_triangles
from lab_app.data.shapes import SHAPE_NAMES, ShapesConfig, augment, make_shapes, random_rotations
from lab_app.io import LoadError, PointCloud, save_point_cloud

SMALL = ShapesConfig(points=256, train_per_class=6, test_per_class=3)


@pytest.fixture(scope="module")
def small():
    return make_shapes(SMALL)


def test_at_least_ten_classes_and_shapes(small):
    assert len(SHAPE_NAMES) >= 10 and small.class_names == SHAPE_NAMES
    k = len(SHAPE_NAMES)
    assert small.train_x.shape == (6 * k, 256, 3) and small.test_x.shape == (3 * k, 256, 3)
    assert small.train_x.dtype == np.float32 and np.bincount(small.train_y).tolist() == [6] * k
    # Centred and inside the unit sphere (plus jitter).
    assert np.abs(small.train_x.mean(axis=1)).max() < 0.05
    assert np.linalg.norm(small.train_x, axis=2).max() < 1.05


def test_deterministic_by_seed_and_splits_differ(small):
    again = make_shapes(SMALL)
    assert np.array_equal(small.train_x, again.train_x) and np.array_equal(small.test_x, again.test_x)
    other = make_shapes(ShapesConfig(**{**SMALL.__dict__, "seed": 1}))
    assert not np.allclose(small.train_x, other.train_x)
    assert not np.allclose(small.train_x[:3], small.test_x[:3])


def test_classes_are_distinct():
    """A rotation-invariant signature (the histogram of distances to the centroid) separates every
    pair of classes far better than two draws of the same class."""
    data = make_shapes(ShapesConfig(points=1024, train_per_class=4, test_per_class=1, jitter=0.0, scale=(1, 1)))
    r = np.linalg.norm(data.train_x, axis=2)
    hist = np.stack([np.histogram(ri, bins=20, range=(0, 1))[0] / len(ri) for ri in r])
    k = len(data.class_names)
    means = np.stack([hist[data.train_y == c].mean(0) for c in range(k)])
    within = max(np.abs(hist[data.train_y == c] - means[c]).sum(1).max() for c in range(k))
    between = min(np.abs(means[a] - means[b]).sum() for a in range(k) for b in range(a + 1, k))
    assert between > 0.05, "two classes look the same"
    assert len({tuple(np.round(m, 2)) for m in means}) == k and within < 0.6


def test_rotations_are_rotations():
    rng = np.random.default_rng(0)
    for kind in ("none", "up", "so3"):
        r = random_rotations(50, rng, kind).astype(np.float64)
        assert np.allclose(r @ r.transpose(0, 2, 1), np.eye(3), atol=1e-5)
        assert np.allclose(np.linalg.det(r), 1.0, atol=1e-5)
    up = random_rotations(10, rng, "up")
    assert np.allclose(up[:, 2], [0, 0, 1]) and np.allclose(up[:, :, 2], [0, 0, 1])
    with pytest.raises(ValueError, match="rotation"):
        random_rotations(1, rng, "sideways")


def test_partial_views_and_outliers():
    rng = np.random.default_rng(0)
    pts = np.random.default_rng(1).normal(size=(4, 1000, 3)).astype(np.float32)
    pts /= np.linalg.norm(pts, axis=2, keepdims=True)  # a sphere
    cut = augment(pts, ShapesConfig(rotation="none", scale=(1, 1), jitter=0, partial=0.3), rng)
    assert cut.shape == pts.shape
    # 30% cut from one side: only ~700 distinct points remain, refilled by repeats.
    assert all(650 <= len(np.unique(c, axis=0)) <= 700 for c in cut)
    noisy = augment(pts, ShapesConfig(rotation="none", scale=(1, 1), jitter=0, outliers=0.02), rng)
    inside = np.linalg.norm(noisy, axis=2) < 0.9   # the sphere's points stay near radius 1
    # 20 outliers uniform in the unit ball: about 73% of them (0.9^3) fall inside radius 0.9.
    assert all(8 <= n <= 20 for n in inside.sum(axis=1)) and inside.sum() > 40


def test_resample_and_mesh_sampling():
    rng = np.random.default_rng(0)
    few = np.arange(15, dtype=np.float32).reshape(5, 3)
    out = resample(few, 12, rng)
    assert out.shape == (12, 3) and {tuple(p) for p in out} == {tuple(p) for p in few}
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], float)
    p = sample_triangles(v, np.array([[0, 1, 2]]), 500, rng)
    assert (p[:, 2] == 0).all() and (p[:, :2] >= -1e-6).all() and (p[:, :2].sum(1) <= 1 + 1e-6).all()


def _off(path, scale=1.0):
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]]) * scale
    f = [[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]]
    path.write_text("OFF\n4 4 0\n" + "".join(f"{a} {b} {c}\n" for a, b, c in v)
                    + "".join(f"3 {a} {b} {c}\n" for a, b, c in f))


def test_modelnet_folder(tmp_path):
    for cls in ("chair", "desk"):
        for split, n in (("train", 3), ("test", 2)):
            d = tmp_path / cls / split
            d.mkdir(parents=True)
            for i in range(n):
                _off(d / f"{cls}_{i}.off", 1 + i)
    (tmp_path / "chair" / "train" / "broken.off").write_text("OFF\n9 9 0\n1 2\n")
    data = load_folder_dataset(tmp_path, points=64)
    assert data.class_names == ("chair", "desk")
    assert data.train_x.shape == (6, 64, 3) and data.test_x.shape == (4, 64, 3)
    assert np.bincount(data.test_y).tolist() == [2, 2]
    assert any("1 unreadable" in n and "broken.off" in n for n in data.notes)
    data.check_trainable()


def test_class_folder_of_clouds_is_split(tmp_path):
    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        for i in range(5):
            save_point_cloud(tmp_path / cls / f"{i}.ply", PointCloud(rng.normal(size=(200, 3)).astype(np.float32)))
    (tmp_path / "empty").mkdir()
    data = load_folder_dataset(tmp_path, points=32)
    assert len(data.train_x) == 8 and len(data.test_x) == 2
    assert any("'empty' has no clouds" in n for n in data.notes)


def test_bad_folders(tmp_path):
    with pytest.raises(LoadError, match="no class folders"):
        load_folder_dataset(tmp_path)
    (tmp_path / "only").mkdir()
    _off(tmp_path / "only" / "x.off")
    with pytest.raises(LoadError, match="only one class"):
        load_folder_dataset(tmp_path)
    (tmp_path / "other").mkdir()
    _off(tmp_path / "other" / "y.off")
    _off(tmp_path / "only" / "z.off")
    with pytest.raises(ValueError, match="'other' has 1 cloud: cannot split"):
        load_folder_dataset(tmp_path)
