"""Writers for test files: exact bytes we control (not the readers under test)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

# A unit cube centred on the origin: 8 corners, 6 quads, 12 triangles (outward winding).
CUBE_VERTICES = np.array([[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)],
                         dtype=np.float64)
CUBE_QUADS = np.array([[0, 1, 3, 2], [4, 6, 7, 5], [0, 4, 5, 1], [2, 3, 7, 6], [0, 2, 6, 4], [1, 5, 7, 3]])
CUBE_TRIANGLES = np.concatenate([CUBE_QUADS[:, [0, 1, 2]], CUBE_QUADS[:, [0, 2, 3]]])


def write_ply(path: Path, points, colors=None, normals=None, binary: bool = True,
              count: int | None = None, faces=None) -> Path:
    """PLY with float32 xyz, optional float32 normals, optional uchar colours (0-255)."""
    points = np.asarray(points, dtype=np.float32)
    n = len(points)
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    if normals is not None:
        fields += [("nx", "<f4"), ("ny", "<f4"), ("nz", "<f4")]
    if colors is not None:
        fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
    rec = np.zeros(n, dtype=fields)
    rec["x"], rec["y"], rec["z"] = points.T
    if normals is not None:
        rec["nx"], rec["ny"], rec["nz"] = np.asarray(normals, dtype=np.float32).T
    if colors is not None:
        rec["red"], rec["green"], rec["blue"] = np.asarray(colors, dtype=np.uint8).T
    ply_types = {"<f4": "float", "u1": "uchar"}
    header = ["ply", f"format {'binary_little_endian' if binary else 'ascii'} 1.0",
              f"element vertex {n if count is None else count}"]
    header += [f"property {ply_types[t]} {name}" for name, t in fields]
    if faces is not None:
        header += [f"element face {len(faces)}", "property list uchar int vertex_indices"]
    header.append("end_header")
    with open(path, "wb") as f:
        f.write(("\n".join(header) + "\n").encode())
        if binary:
            f.write(rec.tobytes())
            if faces is not None:
                for face in faces:
                    f.write(struct.pack("<B", len(face)) + np.asarray(face, dtype="<i4").tobytes())
        else:
            for r in rec:
                f.write((" ".join(repr(float(v)) if isinstance(v, np.floating) else str(int(v)) for v in r)
                         + "\n").encode())
            if faces is not None:
                for face in faces:
                    f.write((f"{len(face)} " + " ".join(map(str, face)) + "\n").encode())
    return path


def write_off(path: Path, vertices, faces, modelnet_header: bool = False) -> Path:
    lines = [f"OFF{len(vertices)} {len(faces)} 0"] if modelnet_header else ["OFF", f"{len(vertices)} {len(faces)} 0"]
    lines += [" ".join(f"{v:.6f}" for v in row) for row in vertices]
    lines += [f"{len(face)} " + " ".join(map(str, face)) for face in faces]
    Path(path).write_text("\n".join(lines) + "\n")
    return path


def write_obj(path: Path, vertices, faces) -> Path:
    lines = [f"v {x} {y} {z}" for x, y, z in vertices]
    lines += ["f " + " ".join(str(i + 1) for i in face) for face in faces]
    Path(path).write_text("\n".join(lines) + "\n")
    return path


def _facet_normal(tri):
    n = np.cross(tri[1] - tri[0], tri[2] - tri[0])
    return n / (np.linalg.norm(n) or 1.0)


def write_stl(path: Path, vertices, triangles, binary: bool = True, header: bytes = b"lab test",
              count: int | None = None) -> Path:
    tris = np.asarray(vertices)[np.asarray(triangles)]
    if binary:
        with open(path, "wb") as f:
            f.write(header.ljust(80, b"\0")[:80])
            f.write(struct.pack("<I", len(tris) if count is None else count))
            for tri in tris:
                f.write(struct.pack("<12fH", *_facet_normal(tri), *tri.ravel(), 0))
    else:
        out = ["solid cube"]
        for tri in tris:
            out.append("  facet normal {:.6f} {:.6f} {:.6f}".format(*_facet_normal(tri)))
            out.append("    outer loop")
            out += ["      vertex {:.6f} {:.6f} {:.6f}".format(*v) for v in tri]
            out += ["    endloop", "  endfacet"]
        out.append("endsolid cube")
        Path(path).write_text("\n".join(out) + "\n")
    return path


def assert_on_cube_surface(points: np.ndarray, tol: float = 1e-4) -> None:
    """Every sample lies on the unit cube's surface: max |coord| is 0.5 (and none is beyond)."""
    a = np.abs(points)
    assert len(points) > 100
    assert a.max() <= 0.5 + tol
    np.testing.assert_allclose(a.max(axis=1), 0.5, atol=tol)
    # Samples cover all six faces, not just the corners.
    for axis in range(3):
        for sign in (-1, 1):
            assert np.any(np.isclose(points[:, axis], sign * 0.5, atol=tol))
    assert len(np.unique(points.round(3), axis=0)) > 50
