"""Property tests: arbitrary or damaged bytes never raise anything but LoadError, and never hang;
random finite clouds round-trip exactly."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from lab_app.io import LoadError, load_any, load_image, load_point_cloud, load_text
from lab_app.io.checkpoint import load_checkpoint
from tests.io.helpers import CUBE_QUADS, CUBE_TRIANGLES, CUBE_VERTICES, write_obj, write_off, write_ply, write_stl

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _valid_samples() -> dict[str, bytes]:
    """One small valid file of each kind; mutations of these reach deep into the parsers."""
    out: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        pts = np.random.default_rng(3).normal(size=(20, 3)).astype(np.float32)
        out[".ply"] = write_ply(d / "a.ply", pts, np.full((20, 3), 9)).read_bytes()
        out[".off"] = write_off(d / "a.off", CUBE_VERTICES, CUBE_QUADS, modelnet_header=True).read_bytes()
        buf = io.BytesIO()
        np.save(buf, pts)
        out[".npy"] = buf.getvalue()
        buf = io.BytesIO()
        Image.fromarray(np.arange(48, dtype=np.uint8).reshape(4, 4, 3)).save(buf, "PNG")
        out[".png"] = buf.getvalue()
        out[".pcd"] = ("# .PCD v0.7\nVERSION 0.7\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 1\n"
                       "WIDTH 20\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS 20\nDATA binary\n").encode() + pts.tobytes()
        out[".obj"] = write_obj(d / "a.obj", CUBE_VERTICES, CUBE_QUADS).read_bytes()
        out[".stl"] = write_stl(d / "a.stl", CUBE_VERTICES, CUBE_TRIANGLES).read_bytes()
        out[".txt"] = "Plain text, ünïcödé.\n".encode()
    return out


SAMPLES = _valid_samples()
READERS = {".ply": load_point_cloud, ".pcd": load_point_cloud, ".off": load_point_cloud,
           ".obj": load_point_cloud, ".stl": load_point_cloud,
           ".npy": load_point_cloud, ".png": load_image, ".txt": load_text}


def _only_load_error(tmp_path: Path, ext: str, data: bytes):
    path = tmp_path / f"fuzz{ext}"
    path.write_bytes(data)
    try:
        READERS[ext](path)
    except LoadError as e:
        assert str(e).startswith(f"{path.name}: ")
    try:
        load_any(path)
    except LoadError:
        pass


@pytest.mark.parametrize("ext", sorted(READERS))
@FUZZ
@given(data=st.binary(max_size=2048))
def test_arbitrary_bytes_only_raise_load_error(tmp_path, ext, data):
    _only_load_error(tmp_path, ext, data)


@st.composite
def mutated(draw, ext):
    """A valid file with some bytes overwritten, a chunk deleted or inserted, or cut short."""
    data = bytearray(SAMPLES[ext])
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "truncate"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[pos:pos + draw(st.integers(1, 16))]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        else:
            del data[pos:]
    return bytes(data)


@pytest.mark.parametrize("ext", sorted(READERS))
@FUZZ
@given(data=st.data())
def test_damaged_files_only_raise_load_error(tmp_path, ext, data):
    _only_load_error(tmp_path, ext, data.draw(mutated(ext)))


@FUZZ
@given(data=st.binary(max_size=512))
def test_arbitrary_safetensors_bytes(tmp_path, data):
    path = tmp_path / "fuzz.safetensors"
    path.write_bytes(data)
    try:
        load_checkpoint(path)
    except LoadError:
        pass


finite_float32 = st.floats(allow_nan=False, allow_infinity=False, width=32)
clouds = arrays(np.float32, st.tuples(st.integers(2, 200), st.just(3)), elements=finite_float32)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(points=clouds)
def test_binary_ply_round_trips_exactly(tmp_path, points):
    cloud = load_point_cloud(write_ply(tmp_path / "p.ply", points))
    np.testing.assert_array_equal(cloud.points, points)
    assert cloud.nonfinite_dropped == 0


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(points=clouds, colors=st.booleans())
def test_npy_round_trips_exactly(tmp_path, points, colors):
    rgb = (np.arange(len(points) * 3).reshape(-1, 3) % 256).astype(np.float32)
    np.save(tmp_path / "p.npy", np.hstack([points, rgb]) if colors else points)
    cloud = load_point_cloud(tmp_path / "p.npy")
    np.testing.assert_array_equal(cloud.points, points)
    if colors:
        # Any value above 1 means the colours are 0-255.
        expected = rgb / 255.0 if rgb.max() > 1 else rgb
        np.testing.assert_allclose(cloud.colors, expected, atol=1e-6)
