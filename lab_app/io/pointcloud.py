"""Point-cloud readers: PLY, PCD, XYZ/XYZN/XYZRGB, PTS (Open3D), OFF/OBJ/STL meshes sampled to
points, and NPY/NPZ arrays. Headers are checked first (see headers.py); non-finite points are
dropped and counted; every failure is a LoadError that names the file and the problem."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lab_app.io import headers
from lab_app.io.errors import LoadError, check_readable_file
from lab_app.io.obj import read_obj

POINT_CLOUD_EXTENSIONS = (".ply", ".pcd", ".xyz", ".xyzn", ".xyzrgb", ".pts", ".npy", ".npz")
MESH_EXTENSIONS = (".off", ".obj", ".stl")
MIN_POINTS = 2
#: Points sampled from a mesh's surface (uniformly by area).
MESH_SAMPLES = 100_000
#: Largest .npy/.npz array accepted, in values (3 x MAX_POINTS).
MAX_ARRAY_VALUES = 3 * headers.MAX_POINTS


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


def open3d_module():
    """Open3D, imported on first use and told to keep its warnings to itself (we report our own)."""
    import open3d as o3d

    o3d.utility.set_verbosity_level(o3d.utility.VerbosityLevel.Error)
    return o3d


_o3d = open3d_module


def to_open3d(cloud: PointCloud):
    """The cloud as an ``open3d.geometry.PointCloud`` (float64, colours and normals carried)."""
    o3d = open3d_module()
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(cloud.points.astype(np.float64)))
    if cloud.colors is not None:
        pcd.colors = o3d.utility.Vector3dVector(cloud.colors.astype(np.float64))
    if cloud.normals is not None:
        pcd.normals = o3d.utility.Vector3dVector(cloud.normals.astype(np.float64))
    return pcd


def from_open3d(pcd, like: PointCloud | None = None) -> PointCloud:
    """An Open3D cloud back as a PointCloud; ``like`` lends its source and NaN count."""
    return PointCloud(
        np.asarray(pcd.points, dtype=np.float32),
        np.asarray(pcd.colors, dtype=np.float32) if pcd.has_colors() else None,
        np.asarray(pcd.normals, dtype=np.float32) if pcd.has_normals() else None,
        like.source if like is not None else "", [], like.nonfinite_dropped if like is not None else 0,
    )


def _finish(path: Path, points, colors=None, normals=None, warnings=None) -> PointCloud:
    """Common tail of every reader: drop non-finite points, check the count, build the cloud."""
    points = np.asarray(points)
    warnings = list(warnings or [])
    if points.ndim != 2 or points.shape[1] != 3:
        raise LoadError(path, f"expected points of shape (N, 3), got {points.shape}")
    points = np.ascontiguousarray(points, dtype=np.float32)
    if colors is not None and len(colors) != len(points):
        warnings.append(f"{len(colors):,} colours for {len(points):,} points: colours ignored")
        colors = None
    if normals is not None and len(normals) != len(points):
        warnings.append(f"{len(normals):,} normals for {len(points):,} points: normals ignored")
        normals = None
    # One flat pass over the values answers the common case (all finite) in a few ms; the per-row
    # mask (a slow length-3 reduction as .all(axis=1)) is only built when something is not finite.
    finite_values = np.isfinite(points)
    dropped = 0
    if not finite_values.all():
        finite = finite_values[:, 0] & finite_values[:, 1] & finite_values[:, 2]
        dropped = int(len(points) - np.count_nonzero(finite))
    if dropped:
        points = points[finite]
        colors = None if colors is None else colors[finite]
        normals = None if normals is None else normals[finite]
        warnings.append(f"{dropped:,} points had NaN or infinite coordinates and were dropped")
    if len(points) < MIN_POINTS:
        what = f"{len(points)} point" + ("" if len(points) == 1 else "s")
        extra = f" left after dropping {dropped:,} with NaN/Inf coordinates" if dropped else ""
        raise LoadError(path, f"{what}{extra}; a cloud needs at least {MIN_POINTS}")
    if colors is not None:
        colors = _unit_colors(colors)
    return PointCloud(points, colors, normals, str(path), warnings, dropped)


def _unit_colors(colors) -> np.ndarray:
    """Colours as float32 in [0, 1]: integer arrays (and float arrays above 1) are 0-255."""
    colors = np.asarray(colors)
    scale_255 = colors.dtype.kind in "iub"
    colors = np.asarray(colors, dtype=np.float32)
    if colors.size == 0:
        return colors
    with np.errstate(invalid="ignore"):
        lo, hi = float(np.min(colors)), float(np.max(colors))
    if scale_255 or hi > 1.0:
        colors = colors * np.float32(1.0 / 255.0)
        lo, hi = lo / 255.0, hi / 255.0
    if not (0.0 <= lo and hi <= 1.0):  # also true when NaN is present (comparisons are False)
        colors = np.clip(np.nan_to_num(colors), 0.0, 1.0)
    return colors


def _from_o3d_cloud(path: Path, pcd, warnings=None, claimed: int | None = None) -> PointCloud:
    pts = np.asarray(pcd.points, dtype=np.float32)
    if len(pts) == 0 and claimed:
        raise LoadError(path, f"the header declares {claimed:,} points but Open3D could read none of them: "
                              "the data is corrupt")
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


def _read_mesh_o3d(path: Path, fmt: str | None = None):
    o3d = _o3d()
    try:
        if fmt is not None and path.suffix.lower() != f".{fmt}":
            # Open3D picks the mesh reader by extension only: give it a name it understands.
            import shutil
            import tempfile

            with tempfile.TemporaryDirectory() as d:
                tmp = Path(d) / f"mesh.{fmt}"
                shutil.copyfile(path, tmp)
                mesh = o3d.io.read_triangle_mesh(str(tmp))
        else:
            mesh = o3d.io.read_triangle_mesh(str(path))
    except (RuntimeError, MemoryError) as e:
        raise LoadError(path, f"Open3D could not read the mesh ({e})") from None
    return np.asarray(mesh.vertices), np.asarray(mesh.triangles)


def _check_npy_header(path: Path) -> None:
    """A .npy header's shape is checked against the file size before numpy allocates anything."""
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, _fortran, dtype = read_header(f)
            offset = f.tell()
    except Exception as e:  # numpy's header parser raises ValueError, SyntaxError, tokenize.TokenError...
        raise LoadError(path, f"not a readable .npy file (bad header: {type(e).__name__}: {e})") from None
    if dtype.hasobject:
        raise LoadError(path, "the array holds Python objects; the lab reads only plain numeric arrays "
                              "(it never unpickles files)")
    count = math.prod(shape)  # exact: np.prod would wrap around for absurd shapes
    if count > MAX_ARRAY_VALUES:
        raise LoadError(path, f"array of shape {shape} is too large (the lab reads up to "
                              f"{MAX_ARRAY_VALUES:,} values)")
    need = count * dtype.itemsize
    have = path.stat().st_size - offset
    if need > have:
        raise LoadError(path, f"array of shape {shape} needs {need:,} bytes but the file holds {have:,}: "
                              "truncated or corrupt")


def _read_numpy(path: Path) -> PointCloud:
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic == b"\x93NUMPY":
        _check_npy_header(path)
    elif magic[:4] != b"PK\x03\x04":
        raise LoadError(path, f"not a .npy or .npz file{headers.describe_content(magic)}")
    colors = normals = None
    try:
        data = np.load(path, allow_pickle=False)
        if isinstance(data, np.lib.npyio.NpzFile):
            with data:
                keys = list(data.keys())
                for info in data.zip.infolist():  # a zip bomb: tiny compressed, huge once inflated
                    if info.file_size > 8 * MAX_ARRAY_VALUES + 4096:
                        raise LoadError(path, f"'{info.filename}' inflates to {info.file_size:,} bytes; "
                                              "too large to load")
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
    except LoadError:
        raise
    except ValueError as e:
        raise LoadError(path, f"not a plain numeric array file ({e})") from None
    except MemoryError:
        raise LoadError(path, "the array is too large to load") from None
    except Exception as e:  # zipfile.BadZipFile, zlib.error, EOFError, OSError...: all corrupt input
        raise LoadError(path, f"not a readable .npy/.npz file ({type(e).__name__}: {e})") from None
    for name, a in (("points", arr), ("colors", colors), ("normals", normals)):
        if a is not None and a.dtype.kind not in "fiub":
            raise LoadError(path, f"{name} array has dtype {a.dtype}; expected numbers")
    if arr.ndim != 2 or arr.shape[1] < 3:
        raise LoadError(path, f"array has shape {arr.shape}; expected (N, 3) xyz, (N, 6) xyz+rgb "
                              "or (N, 9) xyz+rgb+normal")
    for name, a in (("colors", colors), ("normals", normals)):
        if a is not None and (a.ndim != 2 or a.shape[1] != 3):
            raise LoadError(path, f"{name} array has shape {a.shape}; expected (N, 3)")
    if colors is None and arr.shape[1] >= 6:
        colors = arr[:, 3:6]
    if normals is None and arr.shape[1] >= 9:
        normals = arr[:, 6:9]
    return _finish(path, arr[:, :3].astype(np.float32), colors, normals)


def _sniff_format(path: Path) -> str:
    """The format of a file whose extension does not say: from its first bytes."""
    with open(path, "rb") as f:
        head = f.read(512)
    if head.startswith(b"ply"):
        return ".ply"
    if head.startswith(b"\x93NUMPY"):
        return ".npy"
    if head.startswith(b"PK\x03\x04"):
        return ".npz"
    if head.lstrip().startswith(b"OFF") or head[:4] in (b"COFF", b"NOFF"):
        return ".off"
    text = head.decode("ascii", errors="replace")
    if "\nFIELDS" in text or text.startswith(("# .PCD", "VERSION")):
        return ".pcd"
    return ""


def load_point_cloud(path: str | Path) -> PointCloud:
    """Read any supported cloud or mesh file into a PointCloud. Raises LoadError."""
    path = check_readable_file(path)
    ext = path.suffix.lower()
    if ext not in POINT_CLOUD_EXTENSIONS + MESH_EXTENSIONS:
        ext = _sniff_format(path) or ext
    if ext == ".ply":
        info = headers.check_ply(path)
        if info["faces"] > 0 and info["vertices"] < 20_000:
            v, t = _read_mesh_o3d(path, "ply")
            return _sample_mesh(path, v, t, [])
        return _from_o3d_cloud(path, _read_o3d_cloud(path, "ply"), claimed=info["vertices"])
    if ext == ".pcd":
        info = headers.check_pcd(path)
        return _from_o3d_cloud(path, _read_o3d_cloud(path, "pcd"), claimed=info["vertices"])
    if ext in (".xyz", ".xyzn", ".xyzrgb", ".pts"):
        if headers.looks_binary(path):
            raise LoadError(path, f"holds binary data, but {ext} is a text format (x y z per line)")
        cloud = _read_o3d_cloud(path, ext[1:])
        if not cloud.has_points():
            layout = {".xyz": "x y z", ".xyzn": "x y z nx ny nz", ".xyzrgb": "x y z r g b",
                      ".pts": "a point count, then x y z [intensity] [r g b]"}[ext]
            raise LoadError(path, f"0 points could be read: expected lines of '{layout}'")
        return _from_o3d_cloud(path, cloud)
    if ext in (".npy", ".npz"):
        return _read_numpy(path)
    if ext == ".off":
        v, t = headers.read_off(path)
        return _sample_mesh(path, v, t, [])
    if ext == ".stl":
        headers.check_stl(path)
        v, t = _read_mesh_o3d(path)
        if len(v) == 0:
            raise LoadError(path, "Open3D found no triangles in this STL: it is empty or corrupt")
        return _sample_mesh(path, v, t, [])
    if ext == ".obj":
        if headers.looks_binary(path):
            raise LoadError(path, "holds binary data, but .obj is a text format")
        v, t = read_obj(path)
        if len(v) == 0:
            raise LoadError(path, "no vertices ('v x y z' lines) could be read from this OBJ")
        return _sample_mesh(path, v, t, [])
    with open(path, "rb") as f:
        head = f.read(16)
    raise LoadError(path, f"unknown point-cloud extension {ext or '(none)'}; the lab reads "
                          + ", ".join(POINT_CLOUD_EXTENSIONS + MESH_EXTENSIONS) + headers.describe_content(head))


def save_point_cloud(path: str | Path, cloud: PointCloud) -> Path:
    """Write a cloud atomically: binary PLY or PCD, .npz (points/colors/normals keys), or .npy.

    A .npy holds (N, 3) xyz, (N, 6) xyz+rgb or (N, 9) xyz+rgb+normal; normals without colours
    cannot be told apart from colours there, so they are left out (use .ply or .npz to keep them).
    """
    from lab_app.io.atomic import atomic_save

    path = Path(path)
    ext = path.suffix.lower()
    if ext == ".npy":
        cols = [cloud.points]
        if cloud.colors is not None:
            cols.append(cloud.colors)
            if cloud.normals is not None:
                cols.append(cloud.normals)
        return atomic_save(path, lambda tmp: np.save(tmp, np.hstack(cols), allow_pickle=False), suffix=".npy")
    if ext == ".npz":
        arrays = {"points": cloud.points}
        arrays.update({k: v for k, v in (("colors", cloud.colors), ("normals", cloud.normals)) if v is not None})
        return atomic_save(path, lambda tmp: np.savez(tmp, **arrays), suffix=".npz")
    if ext not in (".ply", ".pcd"):
        raise ValueError(f"cannot save a cloud as {ext}; use .ply, .pcd, .npz or .npy")
    o3d = open3d_module()
    pcd = to_open3d(cloud)

    def write(tmp: Path):
        if not o3d.io.write_point_cloud(str(tmp), pcd, write_ascii=False):
            raise OSError(f"Open3D could not write {path.name}")

    return atomic_save(path, write, suffix=ext)
