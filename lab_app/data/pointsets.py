"""Datasets of clouds from a folder: ModelNet's layout (<class>/train/*.off, <class>/test/*.off) or
any folder with one sub-folder of clouds/meshes per class (split 80/20 per class, seeded).

Every file becomes ``points`` points (meshes sampled uniformly by area, clouds resampled), centred
and scaled into the unit sphere. Unreadable files are skipped and counted in the dataset's notes;
a folder without classes, or with fewer than two usable ones, raises LoadError.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from lab_app.data.shapes import PointSetDataset, normalise_clouds
from lab_app.io.errors import LoadError
from lab_app.io.headers import read_off
from lab_app.io.pointcloud import MESH_EXTENSIONS, POINT_CLOUD_EXTENSIONS, load_point_cloud

CLOUD_FILES = POINT_CLOUD_EXTENSIONS + MESH_EXTENSIONS


def sample_triangles(vertices: np.ndarray, triangles: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` points uniformly on a triangle mesh's surface (area-weighted faces, uniform barycentrics)."""
    tri = vertices[triangles]                                        # (F, 3, 3)
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    if not np.isfinite(area).all() or area.sum() <= 0:
        raise ValueError("the mesh's faces have zero area")
    face = rng.choice(len(tri), size=n, p=area / area.sum())
    u, v = rng.random((2, n))
    flip = u + v > 1
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    t = tri[face]
    return (t[:, 0] + u[:, None] * (t[:, 1] - t[:, 0]) + v[:, None] * (t[:, 2] - t[:, 0])).astype(np.float32)


def resample(points: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Exactly ``n`` rows: a random subset, or every point plus random repeats when there are fewer."""
    m = len(points)
    if m >= n:
        return points[rng.choice(m, n, replace=False)]
    return points[np.concatenate([np.arange(m), rng.integers(0, m, n - m)])]


def cloud_from_file(path: Path, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 3) float32 points from a mesh or cloud file (LoadError/ValueError when it cannot)."""
    if path.suffix.lower() == ".off":  # ModelNet: sample the mesh directly at n points (fast)
        v, t = read_off(path)
        if len(v) == 0:
            raise LoadError(path, "the mesh has no vertices")
        pts = sample_triangles(np.asarray(v, np.float64), np.asarray(t), n, rng) if len(t) else v
    else:
        pts = load_point_cloud(path).points
    pts = np.asarray(pts, np.float32)
    if not np.isfinite(pts).all():
        raise LoadError(path, "NaN or infinite coordinates")
    return resample(pts, n, rng)


def _class_files(folder: Path) -> dict[str, list[Path]]:
    return {split: sorted(p for p in (folder / split).iterdir() if p.suffix.lower() in CLOUD_FILES)
            for split in ("train", "test") if (folder / split).is_dir()}


def scan_folder(root: str | Path) -> tuple[dict[str, dict[str, list[Path]]], list[str]]:
    """{class: {"train": files, "test": files} or {"all": files}}, and notes on skipped classes."""
    root = Path(root)
    if not root.is_dir():
        raise LoadError(root, "is not a folder")
    classes: dict[str, dict[str, list[Path]]] = {}
    notes = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        splits = _class_files(sub)
        if not splits:
            splits = {"all": sorted(p for p in sub.iterdir() if p.suffix.lower() in CLOUD_FILES)}
        if sum(len(v) for v in splits.values()) == 0:
            notes.append(f"class '{sub.name}' has no clouds or meshes ({', '.join(CLOUD_FILES)}): skipped")
            continue
        classes[sub.name] = splits
    if not classes:
        raise LoadError(root, "no class folders with clouds found: expected <folder>/<class>/*.off "
                              "(or <class>/train/ and <class>/test/ as in ModelNet)")
    if len(classes) < 2:
        raise LoadError(root, f"only one class with clouds ({next(iter(classes))}): a classifier needs at "
                              "least two" + ("; " + "; ".join(notes) if notes else ""))
    return classes, notes


def load_folder_dataset(root: str | Path, points: int = 1024, seed: int = 0,
                        max_per_class: int | None = None) -> PointSetDataset:
    """Read a class folder into a PointSetDataset (see ``read_folder_dataset``)."""
    gen = read_folder_dataset(root, points, seed, max_per_class)
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


def read_folder_dataset(root: str | Path, points: int = 1024, seed: int = 0,
                        max_per_class: int | None = None) -> Iterator[tuple[int, int]]:
    """Generator: yields (files done, files in all) as it reads; returns the PointSetDataset."""
    root = Path(root)
    classes, notes = scan_folder(root)
    rng = np.random.default_rng(seed)
    names = tuple(classes)
    jobs: list[tuple[str, int, Path]] = []   # (split, label, path)
    for label, name in enumerate(names):
        splits = classes[name]
        if "all" in splits:
            files = [splits["all"][i] for i in rng.permutation(len(splits["all"]))]
            if len(files) < 2:
                raise ValueError(f"{root.name}: class '{name}' has {len(files)} cloud: cannot split it into "
                                 "train and test (it needs at least 2, or train/ and test/ sub-folders)")
            n_test = max(1, round(0.2 * len(files)))
            splits = {"test": files[:n_test], "train": files[n_test:]}
        for split in ("train", "test"):
            files = splits.get(split, [])[: max_per_class]
            jobs += [(split, label, f) for f in files]
    out: dict[str, tuple[list, list]] = {"train": ([], []), "test": ([], [])}
    bad = []
    for i, (split, label, path) in enumerate(jobs):
        if i % 16 == 0:
            yield i, len(jobs)
        try:
            out[split][0].append(cloud_from_file(path, points, rng))
            out[split][1].append(label)
        except (LoadError, ValueError, OSError) as e:
            bad.append(f"{path.name}: {e}")
    if bad:
        notes.append(f"{len(bad)} unreadable file(s) skipped, e.g. {bad[0]}")

    def arrays(split):
        xs, ys = out[split]
        x = normalise_clouds(np.stack(xs)) if xs else np.zeros((0, points, 3), np.float32)
        return x, np.asarray(ys, np.int64)

    train_x, train_y = arrays("train")
    test_x, test_y = arrays("test")
    return PointSetDataset(names, train_x, train_y, test_x, test_y, source=root.name, notes=notes)
