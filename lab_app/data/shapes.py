"""Procedural 3D shapes sampled to point clouds (Open3D primitives), deterministic by seed.

Used as the 3D tab's embedded default and, later, as a classification dataset. Points are sampled
uniformly by surface area (Open3D's sample_points_uniformly), so a shape's density says nothing
about its tessellation.
"""

from __future__ import annotations

from collections.abc import Callable

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
    }


SHAPE_NAMES = (
    "sphere", "cube", "cylinder", "cone", "torus", "tetrahedron", "octahedron", "icosahedron", "arrow", "mobius",
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
