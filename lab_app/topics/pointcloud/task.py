"""Work of the 3D point-cloud tab (no Qt): load, make the demo cloud, voxel down-sample,
estimate normals, summarise. Each long step is a generator run by the TaskRunner; the result is
returned (StopIteration value), never drawn here."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lab_app.core.colormaps import height_colors, normal_colors
from lab_app.core.control import Control
from lab_app.core.events import Message, Progress
from lab_app.data.shapes import demo_scene
from lab_app.io.pointcloud import PointCloud, from_open3d, load_point_cloud, to_open3d


@dataclass(frozen=True)
class CloudStats:
    points: int
    bounds_min: tuple[float, float, float]
    bounds_max: tuple[float, float, float]
    centroid: tuple[float, float, float]
    diagonal: float
    nonfinite_dropped: int
    has_colors: bool
    has_normals: bool

    def lines(self) -> list[str]:
        f = lambda v: "(" + ", ".join(f"{x:.3g}" for x in v) + ")"  # noqa: E731
        return [
            f"points     {self.points:,}",
            f"min        {f(self.bounds_min)}",
            f"max        {f(self.bounds_max)}",
            f"centroid   {f(self.centroid)}",
            f"diagonal   {self.diagonal:.4g}",
            f"NaN/Inf    {self.nonfinite_dropped:,} dropped",
            f"colours    {'yes' if self.has_colors else 'no'}    normals  {'yes' if self.has_normals else 'no'}",
        ]


COLOR_MODES = ("auto", "rgb", "height", "normals")


@dataclass(frozen=True)
class ViewerConfig:
    """The tab's knobs (ParamPanel builds the controls from the metadata)."""

    color_mode: str = field(default="auto", metadata={
        "label": "Colour by", "choices": list(COLOR_MODES), "live": True,
        "tip": "auto: the file's RGB when it has colours, else height"})
    point_size: float = field(default=2.0, metadata={
        "label": "Point size", "min": 0.5, "max": 8.0, "step": 0.5, "live": True,
        "tip": "Point size in screen pixels"})
    voxel_percent: float = field(default=0.0, metadata={
        "label": "Voxel (% of diag.)", "min": 0.0, "max": 5.0, "step": 0.05, "live": False,
        "tip": "Voxel down-sampling: side of the voxel as a percentage of the cloud's bounding-box "
               "diagonal (0 = off). Every voxel's points are replaced by their mean."})
    neighbours: int = field(default=20, metadata={
        "label": "Normals: k", "min": 3, "max": 100, "live": False,
        "tip": "How many nearest neighbours each normal is fitted to (re-estimates shown normals)"})


def cloud_stats(cloud: PointCloud) -> CloudStats:
    p = cloud.points
    lo, hi = p.min(axis=0), p.max(axis=0)
    return CloudStats(
        points=len(p),
        bounds_min=tuple(float(x) for x in lo),
        bounds_max=tuple(float(x) for x in hi),
        centroid=tuple(float(x) for x in p.mean(axis=0, dtype=np.float64)),
        diagonal=float(np.linalg.norm(hi - lo)),
        nonfinite_dropped=cloud.nonfinite_dropped,
        has_colors=cloud.colors is not None,
        has_normals=cloud.normals is not None,
    )


@dataclass(frozen=True)
class Loaded:
    """What a load or transform returns: the cloud, its statistics and notes for the user."""

    cloud: PointCloud
    stats: CloudStats
    notes: list[str] = field(default_factory=list)


def load(path: str | Path, ctl: Control):
    """Read a cloud from disk (LoadError reaches the UI as the run's error message)."""
    path = Path(path)
    yield Progress(0, 0, text=f"reading {path.name}")
    cloud = load_point_cloud(path)
    ctl.checkpoint()
    for w in cloud.warnings:
        yield Message(f"{path.name}: {w}", "warning")
    return Loaded(cloud, cloud_stats(cloud), list(cloud.warnings))


def demo(n: int, seed: int, ctl: Control):
    """The embedded default: a procedural tabletop scene."""
    yield Progress(0, 0, text="sampling the demo scene")
    cloud = demo_scene(n, seed)
    return Loaded(cloud, cloud_stats(cloud))


def voxel_downsample(cloud: PointCloud, voxel: float, ctl: Control):
    """Average the points in each cube of side ``voxel`` (Open3D); ``voxel <= 0`` keeps the cloud."""
    if voxel <= 0:
        return Loaded(cloud, cloud_stats(cloud))
    yield Progress(0, 0, text=f"voxel down-sampling ({voxel:.3g})")
    out = from_open3d(to_open3d(cloud).voxel_down_sample(float(voxel)), cloud)
    ctl.checkpoint()
    return Loaded(out, cloud_stats(out), [f"{len(cloud):,} -> {len(out):,} points (voxel {voxel:.3g})"])


def estimate_normals(cloud: PointCloud, neighbours: int, ctl: Control):
    """Normals from the ``neighbours`` nearest points (PCA of each neighbourhood, Open3D's KD-tree),
    oriented towards the outside of the cloud's centroid so colours are consistent."""
    import open3d as o3d

    if len(cloud) < 3:
        raise ValueError("normals need at least 3 points")
    yield Progress(0, 0, text=f"estimating normals ({neighbours} neighbours)")
    pcd = to_open3d(cloud)
    pcd.estimate_normals(o3d.geometry.KDTreeSearchParamKNN(knn=int(max(3, neighbours))))
    ctl.checkpoint()
    normals = np.asarray(pcd.normals, dtype=np.float32)
    outward = cloud.points - cloud.points.mean(axis=0)
    flip = np.einsum("ij,ij->i", normals, outward) < 0
    normals[flip] *= -1
    out = PointCloud(cloud.points, cloud.colors, normals, cloud.source, [], cloud.nonfinite_dropped)
    return Loaded(out, cloud_stats(out), [f"normals estimated from {neighbours} neighbours"])


# --- colouring (pure numpy, used by the tab) ------------------------------------------------------


def colors_for(cloud: PointCloud, mode: str) -> tuple[np.ndarray, str]:
    """Colours for ``mode`` and the mode really used (falls back to height when data is missing)."""
    if mode in ("auto", "rgb") and cloud.colors is not None:
        return cloud.colors, "rgb"
    if mode == "normals" and cloud.normals is not None:
        return normal_colors(cloud.normals), "normals"
    return height_colors(cloud.points), "height"
