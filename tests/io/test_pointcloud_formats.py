"""Round trips: every point-cloud and mesh format the lab reads, from real files."""

from __future__ import annotations

import numpy as np
import open3d as o3d
import pytest

from lab_app.io import PointCloud, load_point_cloud, save_point_cloud
from tests.io.helpers import (CUBE_QUADS, CUBE_TRIANGLES, CUBE_VERTICES, assert_on_cube_surface, write_obj,
                              write_off, write_ply, write_stl)

RNG = np.random.default_rng(0)
N = 500
POINTS = RNG.normal(size=(N, 3)).astype(np.float32)
COLORS_255 = RNG.integers(0, 256, size=(N, 3)).astype(np.uint8)
NORMALS = RNG.normal(size=(N, 3)).astype(np.float32)
NORMALS /= np.linalg.norm(NORMALS, axis=1, keepdims=True)


def check_cloud(cloud: PointCloud, colors=True, normals=False, atol=1e-6):
    assert isinstance(cloud, PointCloud)
    assert cloud.points.dtype == np.float32 and cloud.points.shape == (N, 3)
    np.testing.assert_allclose(cloud.points, POINTS, atol=atol)
    if colors:
        assert cloud.colors is not None and cloud.colors.dtype == np.float32
        np.testing.assert_allclose(cloud.colors, COLORS_255 / 255.0, atol=1e-6 if atol < 1e-3 else 1e-2)
        assert cloud.colors.min() >= 0 and cloud.colors.max() <= 1
    else:
        assert cloud.colors is None
    if normals:
        assert cloud.normals is not None
        np.testing.assert_allclose(cloud.normals, NORMALS, atol=max(atol, 1e-5))
    else:
        assert cloud.normals is None
    assert cloud.nonfinite_dropped == 0
    assert not any("dropped" in w for w in cloud.warnings)


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "ascii"])
@pytest.mark.parametrize("colors", [True, False], ids=["rgb", "no-rgb"])
@pytest.mark.parametrize("normals", [True, False], ids=["normals", "no-normals"])
def test_ply_round_trip(tmp_path, binary, colors, normals):
    path = write_ply(tmp_path / "c.ply", POINTS, COLORS_255 if colors else None, NORMALS if normals else None,
                     binary=binary)
    cloud = load_point_cloud(path)
    check_cloud(cloud, colors=colors, normals=normals)
    assert cloud.source == str(path)


def test_ply_written_by_save_point_cloud_reads_back(tmp_path):
    cloud = PointCloud(POINTS, COLORS_255 / 255.0, NORMALS)
    path = save_point_cloud(tmp_path / "saved.ply", cloud)
    check_cloud(load_point_cloud(path), colors=True, normals=True)


@pytest.mark.parametrize("mode", ["ascii", "binary", "binary_compressed"])
def test_pcd_round_trip_via_open3d_writer(tmp_path, mode):
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(POINTS.astype(np.float64)))
    pcd.colors = o3d.utility.Vector3dVector(COLORS_255 / 255.0)
    path = tmp_path / f"{mode}.pcd"
    assert o3d.io.write_point_cloud(str(path), pcd, write_ascii=mode == "ascii",
                                    compressed=mode == "binary_compressed")
    assert f"DATA {mode}" in path.read_bytes()[:400].decode("ascii", "replace")
    check_cloud(load_point_cloud(path), colors=True, atol=1e-5)


def _text_rows(*cols, fmt="%.9g"):
    return "\n".join(" ".join(fmt % v for v in row) for row in np.hstack(cols)) + "\n"


def test_xyz(tmp_path):
    (tmp_path / "c.xyz").write_text(_text_rows(POINTS))
    check_cloud(load_point_cloud(tmp_path / "c.xyz"), colors=False)


def test_xyzn(tmp_path):
    (tmp_path / "c.xyzn").write_text(_text_rows(POINTS, NORMALS))
    check_cloud(load_point_cloud(tmp_path / "c.xyzn"), colors=False, normals=True)


def test_xyzrgb_unit_colours(tmp_path):
    (tmp_path / "c.xyzrgb").write_text(_text_rows(POINTS, COLORS_255 / 255.0))
    check_cloud(load_point_cloud(tmp_path / "c.xyzrgb"), colors=True)


def test_xyzrgb_colours_0_255_are_scaled(tmp_path):
    (tmp_path / "c.xyzrgb").write_text(_text_rows(POINTS, COLORS_255.astype(float)))
    check_cloud(load_point_cloud(tmp_path / "c.xyzrgb"), colors=True)


def test_pts_with_count_intensity_and_colours(tmp_path):
    intensity = np.full((N, 1), 7.0)
    body = _text_rows(POINTS, intensity, COLORS_255.astype(float))
    (tmp_path / "c.pts").write_text(f"{N}\n" + body)
    check_cloud(load_point_cloud(tmp_path / "c.pts"), colors=True)


def test_npy_xyz(tmp_path):
    np.save(tmp_path / "c.npy", POINTS)
    check_cloud(load_point_cloud(tmp_path / "c.npy"), colors=False)


def test_npy_float64_xyz_is_float32(tmp_path):
    np.save(tmp_path / "c.npy", POINTS.astype(np.float64))
    check_cloud(load_point_cloud(tmp_path / "c.npy"), colors=False)


@pytest.mark.parametrize("scale", [255.0, 1.0], ids=["rgb-0-255", "rgb-0-1"])
def test_npy_xyzrgb(tmp_path, scale):
    np.save(tmp_path / "c.npy", np.hstack([POINTS, COLORS_255 / 255.0 * scale]).astype(np.float32))
    check_cloud(load_point_cloud(tmp_path / "c.npy"), colors=True, atol=1e-5)


def test_npy_xyzrgb_normals(tmp_path):
    np.save(tmp_path / "c.npy", np.hstack([POINTS, COLORS_255 / 255.0, NORMALS]).astype(np.float32))
    check_cloud(load_point_cloud(tmp_path / "c.npy"), colors=True, normals=True, atol=1e-5)


def test_npz_points_and_colors_keys(tmp_path):
    np.savez(tmp_path / "c.npz", points=POINTS, colors=COLORS_255)  # uint8 colours: 0-255
    check_cloud(load_point_cloud(tmp_path / "c.npz"), colors=True)


def test_npz_compressed_points_only(tmp_path):
    np.savez_compressed(tmp_path / "c.npz", points=POINTS)
    check_cloud(load_point_cloud(tmp_path / "c.npz"), colors=False)


@pytest.mark.parametrize("ext", [".npy", ".npz", ".ply", ".pcd"])
def test_save_point_cloud_round_trip(tmp_path, ext):
    cloud = PointCloud(POINTS, COLORS_255 / 255.0, NORMALS)
    back = load_point_cloud(save_point_cloud(tmp_path / f"out{ext}", cloud))
    check_cloud(back, colors=True, normals=True, atol=1e-5)


def test_save_npy_with_normals_but_no_colours_does_not_turn_normals_into_colours(tmp_path):
    back = load_point_cloud(save_point_cloud(tmp_path / "n.npy", PointCloud(POINTS, None, NORMALS)))
    assert back.colors is None
    np.testing.assert_array_equal(back.points, POINTS)
    back = load_point_cloud(save_point_cloud(tmp_path / "n.npz", PointCloud(POINTS, None, NORMALS)))
    assert back.colors is None
    np.testing.assert_allclose(back.normals, NORMALS, atol=1e-6)


# --- meshes sampled to points ---------------------------------------------------------------

@pytest.mark.parametrize("modelnet_header", [False, True], ids=["OFF", "OFF490-style"])
@pytest.mark.parametrize("faces", ["quads", "triangles"])
def test_off_cube_is_sampled_on_its_surface(tmp_path, modelnet_header, faces):
    f = CUBE_QUADS if faces == "quads" else CUBE_TRIANGLES
    path = write_off(tmp_path / "cube.off", CUBE_VERTICES, f, modelnet_header=modelnet_header)
    if modelnet_header:
        assert path.read_text().startswith("OFF8 ")
    cloud = load_point_cloud(path)
    assert_on_cube_surface(cloud.points)
    assert cloud.normals is not None
    assert any("sampled" in w for w in cloud.warnings)


def test_off_with_comments_and_colour_columns(tmp_path):
    lines = ["COFF", "# a comment", "8 6 0"]
    lines += [" ".join(map(str, v)) + " 255 0 0 255" for v in CUBE_VERTICES]
    lines += ["4 " + " ".join(map(str, q)) for q in CUBE_QUADS]
    (tmp_path / "c.off").write_text("\n".join(lines) + "\n")
    assert_on_cube_surface(load_point_cloud(tmp_path / "c.off").points)


def test_obj_cube(tmp_path):
    assert_on_cube_surface(load_point_cloud(write_obj(tmp_path / "cube.obj", CUBE_VERTICES, CUBE_QUADS)).points)


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "ascii"])
def test_stl_cube(tmp_path, binary):
    path = write_stl(tmp_path / "cube.stl", CUBE_VERTICES, CUBE_TRIANGLES, binary=binary)
    assert_on_cube_surface(load_point_cloud(path).points)


def test_binary_stl_whose_header_starts_with_solid(tmp_path):
    # Many exporters write 'solid ...' into a binary STL's free-form header.
    path = write_stl(tmp_path / "cube.stl", CUBE_VERTICES, CUBE_TRIANGLES, header=b"solid exported by CAD")
    assert_on_cube_surface(load_point_cloud(path).points)


def test_ply_mesh_is_sampled(tmp_path):
    path = write_ply(tmp_path / "cube.ply", CUBE_VERTICES, faces=CUBE_TRIANGLES)
    assert_on_cube_surface(load_point_cloud(path).points)


def test_mesh_without_faces_shows_its_vertices(tmp_path):
    path = write_off(tmp_path / "v.off", CUBE_VERTICES, [])
    cloud = load_point_cloud(path)
    np.testing.assert_allclose(cloud.points, CUBE_VERTICES)
    assert any("no faces" in w for w in cloud.warnings)


def test_extensionless_ply_is_recognised_by_content(tmp_path):
    path = write_ply(tmp_path / "scan", POINTS, COLORS_255)
    check_cloud(load_point_cloud(path), colors=True)
