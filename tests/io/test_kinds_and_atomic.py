"""file_kind by extension and by content; atomic saving."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

from lab_app.io import CHECKPOINT, IMAGE, POINTCLOUD, TEXT, file_kind, load_any, save_checkpoint
from lab_app.io.atomic import atomic_save, atomic_write_bytes, atomic_write_text
from tests.io.helpers import write_ply


@pytest.mark.parametrize("name,kind", [
    ("a.ply", POINTCLOUD), ("a.PCD", POINTCLOUD), ("a.xyz", POINTCLOUD), ("a.npy", POINTCLOUD),
    ("a.npz", POINTCLOUD), ("a.off", POINTCLOUD), ("a.obj", POINTCLOUD), ("a.stl", POINTCLOUD),
    ("a.png", IMAGE), ("a.JPG", IMAGE), ("a.jpeg", IMAGE), ("a.tiff", IMAGE), ("a.webp", IMAGE),
    ("a.txt", TEXT), ("a.md", TEXT), ("a.safetensors", CHECKPOINT), ("a.fbx", None), ("a.pkl", None),
])
def test_by_extension(tmp_path, name, kind):
    # The extension decides even when the file does not exist yet.
    assert file_kind(tmp_path / name) == kind


def _save_npy(p, arr):
    with open(p, "wb") as f:  # np.save(path) would add '.npy'
        np.save(f, arr)


def _write_png(p):
    Image.new("RGB", (2, 2)).save(p, format="PNG")


def _write_jpeg(p):
    Image.new("RGB", (2, 2)).save(p, format="JPEG")


def _write_webp(p):
    Image.new("RGB", (2, 2)).save(p, format="WEBP")


def _save_checkpoint_as(path):
    from lab_app.io.checkpoint import Checkpoint

    save_checkpoint(path, Checkpoint("vae", "m", {"w": torch.zeros(2)}))


@pytest.mark.parametrize("writer,kind", [
    (_write_png, IMAGE), (_write_jpeg, IMAGE), (_write_webp, IMAGE),
    (lambda p: write_ply(p, np.zeros((3, 3))), POINTCLOUD),
    (lambda p: _save_npy(p, np.zeros((3, 3))), POINTCLOUD),
    (lambda p: p.write_text("OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n"), POINTCLOUD),
    (lambda p: p.write_text("# .PCD v0.7\nVERSION 0.7\nFIELDS x y z\n"), POINTCLOUD),
    (lambda p: _save_checkpoint_as(p), CHECKPOINT),
    (lambda p: p.write_text("Once upon a time\n"), TEXT),
    (lambda p: p.write_bytes(bytes(range(256))), None),
])
def test_by_magic_bytes_without_extension(tmp_path, writer, kind):
    path = tmp_path / "noext"
    writer(path)
    if path.suffix:  # save_checkpoint keeps the given name
        pytest.fail("writer added an extension")
    assert file_kind(path) == kind


def test_load_any_reads_extensionless_files_by_content(tmp_path):
    pts = np.random.default_rng(0).normal(size=(10, 3)).astype(np.float32)
    write_ply(tmp_path / "cloud", pts)
    kind, cloud = load_any(tmp_path / "cloud")
    assert kind == POINTCLOUD
    np.testing.assert_array_equal(cloud.points, pts)
    _save_npy(tmp_path / "arr", pts)
    np.testing.assert_array_equal(load_any(tmp_path / "arr")[1].points, pts)
    _write_png(tmp_path / "pic")
    kind, img = load_any(tmp_path / "pic")
    assert kind == IMAGE and img.shape == (2, 2, 3)


def test_directory_and_missing_file(tmp_path):
    (tmp_path / "d").mkdir()
    assert file_kind(tmp_path / "d") is None
    assert file_kind(tmp_path / "missing") is None


# --- atomic writes ------------------------------------------------------------------------

def _leftovers(folder, keep):
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


def test_failing_writer_leaves_old_file_and_no_temp(tmp_path):
    target = tmp_path / "data.bin"
    target.write_bytes(b"old contents")

    def writer(tmp):
        tmp.write_bytes(b"half of the new")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_save(target, writer)
    assert target.read_bytes() == b"old contents"
    assert _leftovers(tmp_path, {"data.bin"}) == []


def test_interrupted_writer_leaves_old_file(tmp_path):
    target = tmp_path / "t.txt"
    target.write_text("keep me")

    def writer(tmp):
        tmp.write_text("partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_save(target, writer)
    assert target.read_text() == "keep me"
    assert _leftovers(tmp_path, {"t.txt"}) == []


def test_successful_write_replaces_and_cleans_up(tmp_path):
    target = tmp_path / "sub" / "t.txt"
    atomic_write_text(target, "first")
    atomic_write_bytes(target, b"second")
    assert target.read_bytes() == b"second"
    assert _leftovers(target.parent, {"t.txt"}) == []


def test_new_file_gets_normal_permissions_and_existing_keeps_its_own(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    target = tmp_path / "new.txt"
    atomic_write_text(target, "x")
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    os.chmod(target, 0o640)
    atomic_write_text(target, "y")
    assert target.stat().st_mode & 0o777 == 0o640


def test_writer_sees_the_requested_suffix(tmp_path):
    seen = []
    atomic_save(tmp_path / "out.ply", lambda tmp: (seen.append(tmp.suffix), tmp.write_bytes(b"ply")))
    assert seen == [".ply"]
