"""Procedural 3D shapes sampled to point clouds (Open3D primitives), deterministic by seed.

Used as the 3D tab's demo scene and as the ``Shapes`` classification dataset (``make_shapes``).
Points are sampled uniformly by surface area (Open3D's sample_points_uniformly), so a shape's
density says nothing about its tessellation. Folders of real clouds (ModelNet) are read by
``lab_app.data.pointsets``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from dataclasses import field as dc_field

import numpy as np

from lab_app.io.pointcloud import PointCloud
from lab_app.io.pointcloud import open3d_module as _o3d


def _primitives() -> dict[str, Callable]:
    g = _o3d().geometry.TriangleMesh
    return {
        "sphere": lambda: g.create_sphere(radius=0.5, resolution=40),
        "cube": lambda: g.create_box(1.0, 1.0, 1.0).translate((-0.5, -0.5, -0.5)),
        "cylinder": lambda: g.create_cylinder(radius=0.35, height=1.0, resolution=48, split=4),
        "cone": lambda: g.create_cone(radius=0.45, height=1.0, resolution=48, split=4).translate((0, 0, -0.5)),
        "torus": lambda: g.create_torus(torus_radius=0.4, tube_radius=0.14, radial_resolution=48,
                                        tubular_resolution=24),
        "tetrahedron": lambda: g.create_tetrahedron(radius=0.6),
        "octahedron": lambda: g.create_octahedron(radius=0.5),
        "icosahedron": lambda: g.create_icosahedron(radius=0.31),
        "arrow": lambda: g.create_arrow(cylinder_radius=0.08, cone_radius=0.18, cylinder_height=0.6,
                                        cone_height=0.35).translate((0, 0, -0.5)),
        "mobius": lambda: g.create_mobius(length_split=80, width_split=8, twists=1, radius=0.45, flatness=1,
                                          width=0.3, scale=1),
        "capsule": lambda: _capsule(radius=0.25, height=0.5),
    }


def _capsule(radius: float, height: float):
    """A sphere whose upper and lower halves are pulled apart by ``height``: the band of triangles
    across the equator stretches into the cylinder between two hemispheres (Open3D has no capsule)."""
    g = _o3d().geometry.TriangleMesh
    mesh = g.create_sphere(radius=radius, resolution=40)
    v = np.asarray(mesh.vertices)
    v[:, 2] += np.sign(np.round(v[:, 2], 9)) * height / 2
    mesh.vertices = _o3d().utility.Vector3dVector(v)
    return mesh


SHAPE_NAMES = (
    "sphere", "cube", "cylinder", "cone", "torus", "tetrahedron", "octahedron", "icosahedron", "arrow", "mobius",
    "capsule",
)


def sample_shape(name: str, n: int, seed: int = 0, with_normals: bool = False):
    """``n`` points uniformly on the surface of primitive ``name``, float32 (n, 3), about unit size.

    With ``with_normals`` returns (points, normals): each point's outward surface normal (of the
    face it was sampled from, so edges stay sharp).
    """
    makers = _primitives()
    if name not in makers:
        raise ValueError(f"unknown shape {name!r}; choose from {', '.join(makers)}")
    o3d = _o3d()
    o3d.utility.random.seed(int(seed) % (2**31))
    mesh = makers[name]()
    mesh.compute_triangle_normals()
    pcd = mesh.sample_points_uniformly(number_of_points=int(n), use_triangle_normal=True)
    points = np.asarray(pcd.points, dtype=np.float32)
    if not with_normals:
        return points
    return points, np.asarray(pcd.normals, dtype=np.float32)


def lambert_shade(rgb, normals: np.ndarray, light=(-0.35, -0.55, 0.75)) -> np.ndarray:
    """Colour times a simple Lambert term (ambient + diffuse): points get the depth cues of a lit
    surface, so a flat-coloured cube still reads as a cube."""
    light = np.asarray(light, dtype=np.float32)
    light /= np.linalg.norm(light)
    diffuse = np.abs(normals @ light)  # two-sided: open surfaces (the Mobius strip) have no outside
    return np.clip(np.asarray(rgb, dtype=np.float32) * (0.35 + 0.65 * diffuse)[:, None], 0, 1).astype(np.float32)


# Object, position on the ground, scale, colour (RGB in [0, 1]).
_SCENE = (
    ("torus", (0.2, -1.5, 0.0), 1.2, (0.95, 0.55, 0.15)),
    ("sphere", (0.0, 0.0, 0.5), 1.0, (0.25, 0.6, 0.95)),
    ("cube", (1.4, -0.6, 0.4), 0.8, (0.9, 0.3, 0.35)),
    ("cone", (-0.9, 1.2, 0.5), 1.0, (0.4, 0.8, 0.4)),
    ("cylinder", (1.2, 1.2, 0.5), 1.0, (0.7, 0.5, 0.9)),
    ("icosahedron", (-1.5, -0.7, 0.3), 1.0, (0.95, 0.85, 0.3)),
)


def demo_scene(n: int = 300_000, seed: int = 0) -> PointCloud:
    """A small tabletop: six coloured, lit primitives on a noisy ground plane, ``n`` points in all,
    with their true surface normals.

    Deterministic by seed; the colours are per object so 'colour by RGB' and 'colour by height'
    look different, and the ground is sampled more sparsely than the objects as in a real scan.
    """
    rng = np.random.default_rng(seed)
    n_ground = n // 4
    per_object = (n - n_ground) // len(_SCENE)
    parts, colors, normals = [], [], []
    for i, (name, pos, scale, rgb) in enumerate(_SCENE):
        pts, nrm = sample_shape(name, per_object, seed=seed * 31 + i, with_normals=True)
        pts = pts * scale + np.asarray(pos, dtype=np.float32)
        pts[:, 2] -= float(pts[:, 2].min())  # rest on the ground
        parts.append(pts)
        normals.append(nrm)
        colors.append(lambert_shade(rgb, nrm))
    rest = n - per_object * len(_SCENE)
    ground = np.column_stack([rng.uniform(-2.6, 2.6, rest), rng.uniform(-2.6, 2.6, rest),
                              rng.normal(0.0, 0.004, rest)]).astype(np.float32)
    parts.append(ground)
    normals.append(np.tile(np.array([[0, 0, 1]], dtype=np.float32), (rest, 1)))
    colors.append(np.repeat(np.array([[0.55, 0.55, 0.58]], dtype=np.float32), rest, axis=0)
                  * (0.9 + 0.1 * rng.random((rest, 1), dtype=np.float32)))
    return PointCloud(np.concatenate(parts), np.concatenate(colors), np.concatenate(normals),
                      source="demo scene (procedural)")


# --- the Shapes classification dataset ------------------------------------------------------------


@dataclass(frozen=True)
class ShapesConfig:
    """Shapes: every class of SHAPE_NAMES sampled to ``points`` points, then augmented (seeded).

    Train and test draw from separate random streams (SeedSequence([seed, split])), including their
    own surface samples, so no test cloud shares a random number with a training cloud."""

    classes: tuple[str, ...] = SHAPE_NAMES
    points: int = 1024
    train_per_class: int = 256
    test_per_class: int = 64
    rotation: str = "up"             # "none" | "up" (about z) | "so3" (uniformly random 3D rotation)
    scale: tuple[float, float] = (0.75, 1.25)   # anisotropic: each axis scaled by U(lo, hi)
    jitter: float = 0.01             # Gaussian noise (clipped at 3 sigma), after normalisation
    drop: float = 0.0                # fraction of points dropped at random (refilled by repeats)
    partial: float = 0.0             # fraction removed from one side (a partial view), refilled
    outliers: float = 0.0            # fraction replaced by uniform points in the unit ball
    seed: int = 0

    def hard(self) -> ShapesConfig:
        """The harder variant: full 3D rotations, 30% cut from one side, 2% outliers."""
        return replace(self, rotation="so3", partial=0.3, outliers=0.02)


@dataclass
class PointSetDataset:
    """Clouds as (M, N, 3) float32 arrays (centred, unit sphere) with int64 labels, split in two."""

    class_names: tuple[str, ...]
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    source: str = ""
    notes: list[str] = dc_field(default_factory=list)

    @property
    def points(self) -> int:
        return int(self.train_x.shape[1])

    def check_trainable(self) -> None:
        """Raise ValueError saying why this dataset cannot be trained and tested on."""
        if len(self.class_names) < 2:
            raise ValueError(f"{self.source or 'the dataset'}: {len(self.class_names)} class; "
                             "classification needs at least 2")
        for split, y in (("training", self.train_y), ("test", self.test_y)):
            counts = np.bincount(y, minlength=len(self.class_names))
            empty = [self.class_names[i] for i in np.flatnonzero(counts == 0)]
            if empty:
                raise ValueError(f"{self.source or 'the dataset'}: the {split} split has no clouds of "
                                 f"{', '.join(empty)}: cannot train and test on it")


def random_rotations(m: int, rng: np.random.Generator, kind: str) -> np.ndarray:
    """(m, 3, 3) rotation matrices: about z ("up"), uniform on SO(3) ("so3"), or identities."""
    if kind == "none":
        return np.tile(np.eye(3, dtype=np.float32), (m, 1, 1))
    if kind == "up":
        a = rng.uniform(0, 2 * np.pi, m)
        c, s = np.cos(a), np.sin(a)
        r = np.zeros((m, 3, 3))
        r[:, 0, 0], r[:, 0, 1], r[:, 1, 0], r[:, 1, 1], r[:, 2, 2] = c, -s, s, c, 1
        return r.astype(np.float32)
    if kind == "so3":  # a normalised Gaussian 4-vector is a uniform unit quaternion
        q = rng.normal(size=(4, m))
        w, x, y, z = q / np.linalg.norm(q, axis=0)
        r = np.stack([
            1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
            2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
            2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], axis=1)
        return r.reshape(m, 3, 3).astype(np.float32)
    raise ValueError(f"rotation must be 'none', 'up' or 'so3', not {kind!r}")


def normalise_clouds(x: np.ndarray) -> np.ndarray:
    """Centre each cloud of (M, N, 3) on its centroid and scale it into the unit sphere."""
    x = x - x.mean(axis=1, keepdims=True)
    radius = np.sqrt((x * x).sum(axis=2)).max(axis=1)
    return (x / np.maximum(radius, 1e-12)[:, None, None]).astype(np.float32)


def _keep_and_refill(x: np.ndarray, keys: np.ndarray, keep: int, rng: np.random.Generator) -> np.ndarray:
    """Keep the ``keep`` points of each cloud with the smallest ``keys`` and refill the cloud to N
    points with repeats of kept ones (so every cloud keeps the model's N)."""
    m, n, _ = x.shape
    order = np.argsort(keys, axis=1)[:, :keep]                       # (M, keep)
    refill = order[np.arange(m)[:, None], rng.integers(0, keep, (m, n - keep))]
    idx = np.concatenate([order, refill], axis=1)
    return np.take_along_axis(x, idx[:, :, None], axis=1)


def augment(x: np.ndarray, cfg: ShapesConfig, rng: np.random.Generator) -> np.ndarray:
    """Vectorised over the batch (M, N, 3): scale, rotate, cut a side, drop, normalise, jitter, outliers."""
    m, n, _ = x.shape
    x = x * rng.uniform(*cfg.scale, (m, 1, 3)).astype(np.float32)
    x = np.einsum("mnj,mij->mni", x, random_rotations(m, rng, cfg.rotation))
    if cfg.partial > 0:  # points farthest along a random direction are hidden, as in a one-sided scan
        d = rng.normal(size=(m, 3))
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        x = _keep_and_refill(x, np.einsum("mnj,mj->mn", x, d), int(round(n * (1 - cfg.partial))), rng)
    if cfg.drop > 0:
        x = _keep_and_refill(x, rng.random((m, n)), int(round(n * (1 - cfg.drop))), rng)
    x = normalise_clouds(x)
    if cfg.jitter > 0:
        x = x + np.clip(rng.normal(0, cfg.jitter, x.shape), -3 * cfg.jitter, 3 * cfg.jitter).astype(np.float32)
    if cfg.outliers > 0:
        k = max(1, int(round(n * cfg.outliers)))
        which = np.argsort(rng.random((m, n)), axis=1)[:, :k]
        ball = rng.normal(size=(m, k, 3))
        ball *= (rng.random((m, k, 1)) ** (1 / 3)) / np.linalg.norm(ball, axis=2, keepdims=True)
        np.put_along_axis(x, which[:, :, None], ball.astype(np.float32), axis=1)
    return x.astype(np.float32)


POOL_POINTS = 40_000  # surface samples per class and split; clouds are drawn from these


def _split(cfg: ShapesConfig, split: int, per_class: int) -> tuple[np.ndarray, np.ndarray]:
    seq = np.random.SeedSequence([cfg.seed, split])
    rng = np.random.default_rng(seq)
    clouds = []
    for c, name in enumerate(cfg.classes):
        pool = sample_shape(name, POOL_POINTS, seed=int(seq.generate_state(1)[0]) + c)
        clouds.append(pool[rng.integers(0, len(pool), (per_class, cfg.points))])
    x = augment(np.concatenate(clouds), cfg, rng)
    y = np.repeat(np.arange(len(cfg.classes)), per_class)
    return x, y


def make_shapes(cfg: ShapesConfig = ShapesConfig()) -> PointSetDataset:
    """The Shapes dataset: deterministic by ``cfg.seed``; train and test from disjoint seeds."""
    unknown = [c for c in cfg.classes if c not in SHAPE_NAMES]
    if unknown:
        raise ValueError(f"unknown shapes {unknown}; choose from {', '.join(SHAPE_NAMES)}")
    train_x, train_y = _split(cfg, 0, cfg.train_per_class)
    test_x, test_y = _split(cfg, 1, cfg.test_per_class)
    return PointSetDataset(tuple(cfg.classes), train_x, train_y, test_x, test_y,
                           source=f"Shapes ({len(cfg.classes)} classes, rotation {cfg.rotation})")
