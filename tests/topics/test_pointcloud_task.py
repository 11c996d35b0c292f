"""The 3D tab's work without Qt: demo scene, voxel down-sampling, normals, colours, statistics."""

import numpy as np
import pytest

from lab_app.core.control import Cancelled, Control
from lab_app.core.events import drain
from lab_app.data.shapes import SHAPE_NAMES, demo_scene, sample_shape
from lab_app.io import LoadError, PointCloud, save_point_cloud
from lab_app.topics.pointcloud import task

run = drain   # (events, result) of a task run to its end without a runner


def test_demo_scene_is_deterministic_and_has_colours_and_normals():
    a, b = demo_scene(20_000, seed=1), demo_scene(20_000, seed=1)
    assert len(a) == 20_000
    assert np.array_equal(a.points, b.points) and np.array_equal(a.colors, b.colors)
    assert not np.array_equal(a.points, demo_scene(20_000, seed=2).points)
    assert a.colors.min() >= 0 and a.colors.max() <= 1
    assert np.allclose(np.linalg.norm(a.normals, axis=1), 1.0, atol=1e-3)


@pytest.mark.parametrize("name", SHAPE_NAMES)
def test_every_shape_samples_points_of_about_unit_size(name):
    pts = sample_shape(name, 2000, seed=0)
    assert pts.shape == (2000, 3) and pts.dtype == np.float32
    extent = pts.max(axis=0) - pts.min(axis=0)
    assert 0.3 < extent.max() <= 1.3


def test_cube_samples_lie_on_its_faces():
    pts = sample_shape("cube", 5000, seed=0)
    on_face = np.isclose(np.abs(pts).max(axis=1), 0.5, atol=1e-5)
    assert on_face.all()


def test_voxel_downsample_reduces_points_and_keeps_the_shape():
    cloud = demo_scene(50_000, seed=0)
    _, loaded = run(task.voxel_downsample(cloud, 0.1, Control()))
    out = loaded.cloud
    assert 500 < len(out) < len(cloud) // 4
    # Bounds are kept to within a voxel.
    assert np.allclose(out.points.min(0), cloud.points.min(0), atol=0.1)
    assert np.allclose(out.points.max(0), cloud.points.max(0), atol=0.1)
    assert out.colors is not None and loaded.stats.points == len(out)
    # No voxel holds two output points (Open3D's grid starts half a voxel below the minimum).
    keys = np.floor((out.points - (cloud.points.min(0) - 0.05)) / 0.1).astype(np.int64)
    assert len(np.unique(keys, axis=0)) == len(out)
    # A coarser voxel gives fewer points.
    _, coarser = run(task.voxel_downsample(cloud, 0.2, Control()))
    assert len(coarser.cloud) < len(out)


def test_voxel_zero_keeps_the_cloud():
    cloud = demo_scene(5000)
    _, loaded = run(task.voxel_downsample(cloud, 0.0, Control()))
    assert loaded.cloud is cloud


def test_normals_of_a_plane_point_up_or_down_and_of_a_sphere_outwards():
    rng = np.random.default_rng(0)
    plane = PointCloud(np.column_stack([rng.random(2000), rng.random(2000), np.zeros(2000)]))
    _, loaded = run(task.estimate_normals(plane, 10, Control()))
    assert np.allclose(np.abs(loaded.cloud.normals[:, 2]), 1.0, atol=1e-3)
    sphere = PointCloud(sample_shape("sphere", 4000))
    _, loaded = run(task.estimate_normals(sphere, 15, Control()))
    radial = sphere.points / np.linalg.norm(sphere.points, axis=1, keepdims=True)
    cos = np.einsum("ij,ij->i", loaded.cloud.normals, radial)
    assert np.median(cos) > 0.99  # oriented outwards, not flipped at random


def test_cancelled_run_raises():
    ctl = Control()
    ctl.cancel()
    gen = task.voxel_downsample(demo_scene(5000), 0.1, ctl)
    with pytest.raises(Cancelled):
        run(gen)


def test_load_reports_dropped_nan_points_as_a_warning(tmp_path):
    pts = np.random.default_rng(0).random((100, 3)).astype(np.float32)
    pts[:7, 1] = np.nan
    np.save(tmp_path / "c.npy", pts)
    events, loaded = run(task.load(tmp_path / "c.npy", Control()))
    assert len(loaded.cloud) == 93 and loaded.stats.nonfinite_dropped == 7
    assert any("7 points" in getattr(e, "text", "") for e in events)


def test_load_of_a_bad_file_raises_load_error(tmp_path):
    (tmp_path / "empty.ply").write_bytes(b"")
    with pytest.raises(LoadError, match="empty"):
        run(task.load(tmp_path / "empty.ply", Control()))


def test_stats_and_colours():
    cloud = PointCloud(np.array([[0, 0, 0], [1, 2, 3], [2, 4, 6]], np.float32))
    s = task.cloud_stats(cloud)
    assert s.points == 3 and s.bounds_max == (2.0, 4.0, 6.0) and s.centroid == (1.0, 2.0, 3.0)
    assert s.diagonal == pytest.approx(np.sqrt(4 + 16 + 36))
    colors, used = task.colors_for(cloud, "rgb")
    assert used == "height" and colors.shape[0] == 3 and colors.shape[1] in (3, 4)
    assert not np.allclose(colors[0], colors[2])  # low and high differ
    n = np.array([[0, 0, 1], [1, 0, 0], [0, -1, 0]], np.float32)
    assert np.allclose(task.normal_colors(n)[0], [0.5, 0.5, 1.0])


def test_saved_cloud_reloads(tmp_path):
    cloud = demo_scene(3000)
    save_point_cloud(tmp_path / "scene.ply", cloud)
    _, loaded = run(task.load(tmp_path / "scene.ply", Control()))
    assert np.allclose(loaded.cloud.points, cloud.points, atol=1e-6)
