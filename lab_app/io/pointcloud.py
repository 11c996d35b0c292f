"""Point-cloud readers: PLY, PCD, XYZ/XYZN/XYZRGB, PTS (Open3D), OFF/OBJ/STL meshes sampled to
points, and NPY/NPZ arrays. Headers are checked first (see headers.py); non-finite points are
dropped and counted; every failure is a LoadError that names the file and the problem."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lab_app.io import headers
from lab_app.io.errors import LoadError, check_readable_file

POINT_CLOUD_EXTENSIONS = (".ply", ".pcd", ".xyz", ".xyzn", ".xyzrgb", ".pts", ".npy", ".npz")
MESH_EXTENSIONS = (".off", ".obj", ".stl")
MIN_POINTS = 2
#: Points sampled from a mesh's surface (uniformly by area).
MESH_SAMPLES = 100_000


@dataclass
class PointCloud:
    """``points`` float32 (N, 3); ``colors`` float32 (N, 3) in [0, 1] or None; ``normals`` or None."""

    points: np.ndarray
    colors: np.ndarray | None = None
    normals: np.ndarray | None = None
    source: str = ""
    warnings: list[str] = field(default_factory=list)
    nonfinite_dropped: int = 0

    def __post_init__(self):
        self.points = np.ascontiguousarray(self.points, dtype=np.float32)
        n = len(self.points)
        for name in ("colors", "normals"):
            arr = getattr(self, name)
            if arr is not None:
                arr = np.ascontiguousarray(arr, dtype=np.float32)
                if arr.shape != (n, 3):
                    raise ValueError(f"{name} has shape {arr.shape}, expected ({n}, 3)")
                setattr(self, name, arr)

    def __len__(self) -> int:
        return len(self.points)

    def subset(self, index: np.ndarray) -> PointCloud:
        return PointCloud(
            self.points[index],
            None if self.colors is None else self.colors[index],
            None if self.normals is None else self.normals[index],
            self.source, list(self.warnings), self.nonfinite_dropped,
        )


def _o3d():
    import open3d as o3d

    o3d.utility.set_verbosity_level(o3d.utility.VerbosityLevel.Error)
    return o3d


def _finish(path: Path, points, colors=None, normals=None, warnings=None) -> PointCloud:
    """Common tail of every reader: drop non-finite points, check the count, build the cloud."""
    points = np.asarray(points)
    warnings = list(warnings or [])
    if points.ndim != 2 or points.shape[1] != 3:
        raise LoadError(path, f"expected points of shape (N, 3), got {points.shape}")
    if colors is not None and len(colors) != len(points):
        colors = None
    if normals is not None and len(normals) != len(points):
        normals = None
    finite = np.isfinite(points).all(axis=1)
    dropped = int(len(points) - finite.sum())
    if dropped:
        points = points[finite]
        colors = None if colors is None else colors[finite]
        normals = None if normals is None else normals[finite]
        warnings.append(f"{dropped:,} points had NaN or infinite coordinates and were dropped")
    if len(points) < MIN_POINTS:
        what = f"{len(points)} point" + ("" if len(points) == 1 else "s")
        extra = " left after dropping NaN/Inf" if dropped else ""
        raise LoadError(path, f"{what}{extra}; a cloud needs at least {MIN_POINTS}")
    if colors is not None:
        colors = np.asarray(colors, dtype=np.float32)
        if colors.size and np.nanmax(colors) > 1.0:
            colors = colors / 255.0
        colors = np.clip(np.nan_to_num(colors), 0.0, 1.0)
    return PointCloud(points, colors, normals, str(path), warnings, dropped)


def _from_o3d_cloud(path: Path, pcd, warnings=None) -> PointCloud:
    pts = np.asarray(pcd.points, dtype=np.float32)
    colors = np.asarray(pcd.colors, dtype=np.float32) if pcd.has_colors() else None
    normals = np.asarray(pcd.normals, dtype=np.float32) if pcd.has_normals() else None
    return _finish(path, pts, colors, normals, warnings)


def _read_o3d_cloud(path: Path, fmt: str):
    o3d = _o3d()
    try:
        return o3d.io.read_point_cloud(str(path), format=fmt, remove_nan_points=False,
                                       remove_infinite_points=False)
    except (RuntimeError, MemoryError) as e:
        raise LoadError(path, f"Open3D could not read it ({e})") from None


def _sample_mesh(path: Path, vertices: np.ndarray, triangles: np.ndarray, warnings: list[str]) -> PointCloud:
    o3d = _o3d()
    vertices = np.asarray(vertices, dtype=np.float64)
    if len(vertices) == 0:
        raise LoadError(path, "the mesh has no vertices")
    if len(triangles) == 0:
        warnings.append(f"the mesh has no faces: showing its {len(vertices):,} vertices as points")
        return _finish(path, vertices, warnings=warnings)
    finite = np.isfinite(vertices).all(axis=1)
    if not finite.all():
        raise LoadError(path, f"{int((~finite).sum()):,} mesh vertices have NaN or infinite coordinates")
    mesh = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(vertices),
                                     o3d.utility.Vector3iVector(np.asarray(triangles, dtype=np.int32)))
    if mesh.get_surface_area() <= 0:
        warnings.append("the mesh's faces have zero area: showing its vertices as points")
        return _finish(path, vertices, warnings=warnings)
    mesh.compute_triangle_normals()
    pcd = mesh.sample_points_uniformly(number_of_points=MESH_SAMPLES, use_triangle_normal=True)
    warnings.append(f"mesh with {len(vertices):,} vertices and {len(triangles):,} faces, "
                    f"sampled to {MESH_SAMPLES:,} points")
    return _from_o3d_cloud(path, pcd, warnings)


def _read_mesh_o3d(path: Path):
    o3d = _o3d()
    try:
        mesh = o3d.io.read_triangle_mesh(str(path))
    except (RuntimeError, MemoryError) as e:
        raise LoadError(path, f"Open3D could not read the mesh ({e})") from None
    return np.asarray(mesh.vertices), np.asarray(mesh.triangles)


def _read_numpy(path: Path) -> PointCloud:
    try:
        data = np.load(path, allow_pickle=False)
    except ValueError as e:
        raise LoadError(path, f"not a plain numeric array file ({e})") from None
    except (OSError, EOFError) as e:
        raise LoadError(path, f"not a readable .npy/.npz file ({e})") from None
    colors = normals = None
    if isinstance(data, np.lib.npyio.NpzFile):
        with data:
            keys = list(data.keys())
            key = next((k for k in ("points", "xyz", "pos", "vertices") if k in keys), keys[0] if keys else None)
            if key is None:
                raise LoadError(path, "the .npz archive is empty")
            arr = data[key]
            if "colors" in keys:
                colors = data["colors"]
            if "normals" in keys:
                normals = data["normals"]
    else:
        arr = data
    if arr.dtype.kind not in "fiu":
        raise LoadError(path, f"array has dtype {arr.dtype}; expected numbers")
    if arr.ndim != 2 or arr.shape[1] < 3:
        raise LoadError(path, f"array has shape {arr.shape}; expected (N, 3) xyz, (N, 6) xyz+rgb "
                              "or (N, 9) xyz+rgb+normal")
    if colors is None and arr.shape[1] >= 6:
        colors = arr[:, 3:6]
    if normals is None and arr.shape[1] >= 9:
        normals = arr[:, 6:9]
    return _finish(path, arr[:, :3].astype(np.float32), colors, normals)


def load_point_cloud(path: str | Path) -> PointCloud:
    """Read any supported cloud or mesh file into a PointCloud. Raises LoadError."""
    path = check_readable_file(path)
    ext = path.suffix.lower()
    if ext == ".ply":
        info = headers.check_ply(path)
        if info["faces"] > 0 and info["vertices"] < 20_000:
            v, t = _read_mesh_o3d(path)
            return _sample_mesh(path, v, t, [])
        return _from_o3d_cloud(path, _read_o3d_cloud(path, "ply"))
    if ext == ".pcd":
        headers.check_pcd(path)
        return _from_o3d_cloud(path, _read_o3d_cloud(path, "pcd"))
    if ext in (".xyz", ".xyzn", ".xyzrgb", ".pts"):
        if headers.looks_binary(path):
            raise LoadError(path, f"holds binary data, but {ext} is a text format (x y z per line)")
        return _from_o3d_cloud(path, _read_o3d_cloud(path, ext[1:]))
    if ext in (".npy", ".npz"):
        return _read_numpy(path)
    if ext == ".off":
        v, t = headers.read_off(path)
        return _sample_mesh(path, v, t, [])
    if ext == ".stl":
        headers.check_stl(path)
        v, t = _read_mesh_o3d(path)
        return _sample_mesh(path, v, t, [])
    if ext == ".obj":
        if headers.looks_binary(path):
            raise LoadError(path, "holds binary data, but .obj is a text format")
        v, t = _read_mesh_o3d(path)
        return _sample_mesh(path, v, t, [])
    raise LoadError(path, f"unknown point-cloud extension {ext or '(none)'}; the lab reads "
                          + ", ".join(POINT_CLOUD_EXTENSIONS + MESH_EXTENSIONS))


def save_point_cloud(path: str | Path, cloud: PointCloud) -> Path:
    """Write a cloud as binary PLY (or .npy / .pcd by extension), atomically."""
    from lab_app.io.atomic import atomic_save

    path = Path(path)
    ext = path.suffix.lower()
    if ext == ".npy":
        cols = [cloud.points] + [a for a in (cloud.colors, cloud.normals) if a is not None]
        return atomic_save(path, lambda tmp: np.save(tmp, np.hstack(cols)), suffix=".npy")
    if ext not in (".ply", ".pcd"):
        raise ValueError(f"cannot save a cloud as {ext}; use .ply, .pcd or .npy")
    o3d = _o3d()
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(cloud.points.astype(np.float64)))
    if cloud.colors is not None:
        pcd.colors = o3d.utility.Vector3dVector(cloud.colors.astype(np.float64))
    if cloud.normals is not None:
        pcd.normals = o3d.utility.Vector3dVector(cloud.normals.astype(np.float64))

    def write(tmp: Path):
        if not o3d.io.write_point_cloud(str(tmp), pcd, write_ascii=False):
            raise OSError(f"Open3D could not write {path.name}")

    return atomic_save(path, write, suffix=ext)
