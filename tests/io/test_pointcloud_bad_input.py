"""Bad point-cloud input: every failure is a LoadError that names the file and says what is wrong."""

from __future__ import annotations

import time

import numpy as np
import pytest

from lab_app.io import LoadError, load_any, load_point_cloud
from lab_app.io import pointcloud as pc_module
from tests.io.helpers import CUBE_TRIANGLES, CUBE_VERTICES, write_ply, write_stl

PTS = np.random.default_rng(1).normal(size=(100, 3)).astype(np.float32)


def load_error(path, loader=load_point_cloud) -> str:
    with pytest.raises(LoadError) as info:
        loader(path)
    msg = str(info.value)
    assert isinstance(info.value, ValueError)
    assert msg.startswith(f"{path.name}: "), msg
    return msg


@pytest.fixture
def no_open3d(monkeypatch):
    """Fail the test if Open3D is asked to read anything."""
    def refuse(*a, **k):
        raise AssertionError("Open3D was called on a file the header check should have refused")
    monkeypatch.setattr(pc_module, "_read_o3d_cloud", refuse)
    monkeypatch.setattr(pc_module, "_read_mesh_o3d", refuse)


@pytest.mark.parametrize("ext", [".ply", ".pcd", ".xyz", ".npy", ".off", ".stl", ".obj"])
def test_empty_file(tmp_path, ext):
    path = tmp_path / f"empty{ext}"
    path.write_bytes(b"")
    assert "empty" in load_error(path)


def test_truncated_binary_ply(tmp_path, no_open3d):
    path = write_ply(tmp_path / "cut.ply", PTS)
    data = path.read_bytes()
    path.write_bytes(data[:-100])
    msg = load_error(path)
    assert "100 points" in msg and "truncated" in msg


def test_truncated_ascii_ply(tmp_path, no_open3d):
    path = write_ply(tmp_path / "cut.ply", PTS, binary=False)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-10]) + "\n")
    msg = load_error(path)
    assert "90" in msg and "truncated" in msg


def test_ascii_ply_cut_mid_line(tmp_path, no_open3d):
    path = write_ply(tmp_path / "cut.ply", PTS, binary=False)
    text = path.read_text().rstrip("\n")
    path.write_text(text[: text.rindex(" ")])  # last line loses its z value
    assert "truncated" in load_error(path)


def test_ply_claiming_two_billion_points_is_refused_fast(tmp_path, no_open3d):
    path = write_ply(tmp_path / "huge.ply", PTS, count=2_000_000_000)
    t0 = time.perf_counter()
    msg = load_error(path)
    assert time.perf_counter() - t0 < 1.0
    assert "2,000,000,000" in msg


def test_ply_claiming_more_points_than_bytes(tmp_path, no_open3d):
    path = write_ply(tmp_path / "lie.ply", PTS, count=5_000_000)
    msg = load_error(path)
    assert "5,000,000 points" in msg and "truncated" in msg


def _pcd(n_claimed, data=b"", kind="binary"):
    header = ("# .PCD v0.7\nVERSION 0.7\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 1\n"
              f"WIDTH {n_claimed}\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS {n_claimed}\nDATA {kind}\n")
    return header.encode() + data


def test_pcd_claiming_too_many_points(tmp_path, no_open3d):
    path = tmp_path / "huge.pcd"
    path.write_bytes(_pcd(2_000_000_000, PTS.tobytes()))
    assert "2,000,000,000" in load_error(path)


def test_pcd_truncated(tmp_path, no_open3d):
    path = tmp_path / "cut.pcd"
    path.write_bytes(_pcd(100, PTS.tobytes()[:-12]))
    msg = load_error(path)
    assert "100 points" in msg and "truncated" in msg


def test_pcd_with_mismatched_size_list(tmp_path, no_open3d):
    path = tmp_path / "bad.pcd"
    path.write_bytes(_pcd(100, PTS.tobytes()).replace(b"SIZE 4 4 4", b"SIZE 4 4"))
    assert "SIZE" in load_error(path)


def test_text_file_named_ply(tmp_path, no_open3d):
    path = tmp_path / "notes.ply"
    path.write_text("hello, this is not a point cloud\n")
    msg = load_error(path)
    assert "not a PLY file" in msg and "text" in msg


def test_png_named_ply_says_what_it_is(tmp_path, no_open3d):
    path = tmp_path / "photo.ply"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    assert "PNG image" in load_error(path)


def test_ply_with_nan_and_inf_drops_and_counts_them(tmp_path):
    pts = PTS.copy()
    pts[3, 0] = np.nan
    pts[10, 2] = np.inf
    pts[11, 1] = -np.inf
    colors = np.arange(300).reshape(100, 3) % 256
    cloud = load_point_cloud(write_ply(tmp_path / "nan.ply", pts, colors))
    keep = np.ones(100, bool)
    keep[[3, 10, 11]] = False
    assert cloud.nonfinite_dropped == 3
    assert len(cloud) == 97
    np.testing.assert_array_equal(cloud.points, pts[keep])
    np.testing.assert_allclose(cloud.colors, colors[keep] / 255.0, atol=1e-6)
    assert any("3 points" in w and "NaN" in w and "dropped" in w for w in cloud.warnings)


def test_all_nan_cloud(tmp_path):
    msg = load_error(write_ply(tmp_path / "nan.ply", np.full((50, 3), np.nan)))
    assert "0 points" in msg and "50" in msg and "NaN" in msg


@pytest.mark.parametrize("n", [0, 1])
def test_cloud_with_too_few_points(tmp_path, n):
    msg = load_error(write_ply(tmp_path / f"n{n}.ply", PTS[:n]))
    assert f"{n} point" in msg and "at least 2" in msg


@pytest.mark.parametrize("n", [0, 1])
def test_npy_with_too_few_points(tmp_path, n):
    np.save(tmp_path / "few.npy", PTS[:n])
    assert f"{n} point" in load_error(tmp_path / "few.npy")


def test_xyz_without_numbers(tmp_path):
    path = tmp_path / "words.xyz"
    path.write_text("this is\nnot numbers\n")
    assert "0 points" in load_error(path)


def test_binary_data_in_xyz(tmp_path):
    path = tmp_path / "bin.xyz"
    path.write_bytes(PTS.tobytes())
    assert "binary" in load_error(path)


def test_pts_claiming_two_billion_points(tmp_path):
    path = tmp_path / "huge.pts"
    path.write_text("2000000000\n1 2 3\n")
    t0 = time.perf_counter()
    load_error(path)
    assert time.perf_counter() - t0 < 2.0


def test_directory(tmp_path):
    (tmp_path / "folder.ply").mkdir()
    assert "folder" in load_error(tmp_path / "folder.ply")
    assert "folder" in load_error(tmp_path / "folder.ply", load_any)


def test_missing_file(tmp_path):
    assert "no such file" in load_error(tmp_path / "gone.ply")


def test_unreadable_file(tmp_path, monkeypatch):
    import builtins

    path = write_ply(tmp_path / "locked.ply", PTS)
    real_open = builtins.open

    def guarded_open(file, *args, **kwargs):
        if str(file) == str(path):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)
    assert "permission denied" in load_error(path)


def test_unknown_extension_via_load_any(tmp_path):
    path = tmp_path / "model.fbx"
    path.write_bytes(b"Kaydara FBX Binary  \0\x1a\0")
    msg = load_error(path, load_any)
    assert "unknown file kind .fbx" in msg


def test_npy_object_dtype_is_refused_without_unpickling(tmp_path, monkeypatch):
    import pickle

    arr = np.empty((3, 3), dtype=object)
    np.save(tmp_path / "obj.npy", arr, allow_pickle=True)

    def no_unpickling(*a, **k):
        raise AssertionError("the reader unpickled a file")
    monkeypatch.setattr(pickle, "load", no_unpickling)
    monkeypatch.setattr(pickle, "loads", no_unpickling)
    assert "objects" in load_error(tmp_path / "obj.npy")


def test_npz_with_object_array_is_refused(tmp_path):
    np.savez(tmp_path / "obj.npz", points=np.empty((3, 3), dtype=object))
    load_error(tmp_path / "obj.npz")


@pytest.mark.parametrize("shape", [(10,), (10, 2), (2, 3, 4)])
def test_npy_wrong_shape(tmp_path, shape):
    np.save(tmp_path / "shape.npy", np.zeros(shape, np.float32))
    msg = load_error(tmp_path / "shape.npy")
    assert str(shape) in msg and "(N, 3)" in msg


def test_npy_string_dtype(tmp_path):
    np.save(tmp_path / "s.npy", np.array([["a", "b", "c"]] * 4))
    assert "dtype" in load_error(tmp_path / "s.npy")


def test_npy_header_claiming_huge_shape(tmp_path):
    path = tmp_path / "huge.npy"
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False,
                                                 "shape": (2_000_000_000, 3)})
        f.write(b"\0" * 24)
    assert "too large" in load_error(path)


def test_npy_truncated(tmp_path):
    np.save(tmp_path / "cut.npy", PTS)
    data = (tmp_path / "cut.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(data[:-50])
    assert "truncated" in load_error(tmp_path / "cut.npy")


def test_corrupt_npz(tmp_path):
    np.savez(tmp_path / "bad.npz", points=PTS)
    data = bytearray((tmp_path / "bad.npz").read_bytes())
    (tmp_path / "bad.npz").write_bytes(bytes(data[: len(data) // 2]))
    load_error(tmp_path / "bad.npz")


def test_stl_claiming_too_many_triangles(tmp_path, no_open3d):
    path = write_stl(tmp_path / "huge.stl", CUBE_VERTICES, CUBE_TRIANGLES, count=2_000_000_000)
    assert "2,000,000,000 triangles" in load_error(path)


def test_truncated_binary_stl(tmp_path, no_open3d):
    path = write_stl(tmp_path / "cut.stl", CUBE_VERTICES, CUBE_TRIANGLES)
    path.write_bytes(path.read_bytes()[:-20])
    assert "truncated" in load_error(path)


def test_off_truncated(tmp_path):
    path = tmp_path / "cut.off"
    path.write_text("OFF\n8 6 0\n0 0 0\n1 0 0\n")
    msg = load_error(path)
    assert "8 vertices" in msg and "truncated" in msg


def test_off_face_with_negative_corner_count_does_not_hang(tmp_path):
    path = tmp_path / "neg.off"
    path.write_text("OFF\n3 1000000 0\n0 0 0\n1 0 0\n0 1 0\n-1 0 1 2\n" + "3 0 1 2\n" * 10)
    t0 = time.perf_counter()
    load_error(path)
    assert time.perf_counter() - t0 < 2.0


def test_off_face_index_out_of_range(tmp_path):
    path = tmp_path / "idx.off"
    path.write_text("OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 7\n")
    assert "do not exist" in load_error(path)


def test_off_nan_vertices(tmp_path):
    path = tmp_path / "nan.off"
    path.write_text("OFF\n3 1 0\nnan 0 0\n1 0 0\n0 1 0\n3 0 1 2\n")
    assert "NaN" in load_error(path)


def test_obj_face_index_out_of_range(tmp_path):
    path = tmp_path / "bad.obj"
    path.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 9\n")
    assert "does not exist" in load_error(path)


def test_obj_without_vertices(tmp_path):
    path = tmp_path / "none.obj"
    path.write_text("# nothing here\no empty\n")
    assert "no vertices" in load_error(path)


def test_npz_member_that_inflates_too_far_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(pc_module, "MAX_ARRAY_VALUES", 1000)
    np.savez_compressed(tmp_path / "bomb.npz", points=np.zeros((10_000, 3), np.float64))
    assert "inflates" in load_error(tmp_path / "bomb.npz")


def test_npy_header_with_absurd_shape(tmp_path):
    path = tmp_path / "absurd.npy"
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False,
                                                 "shape": (2**40, 2**40, 3)})
        f.write(b"\0" * 24)
    assert "too large" in load_error(path)
