"""One object, four representations (no Qt): multi-view depth images with view pooling, a voxel
grid, the points themselves, and a k-nearest-neighbour graph. All take a normalised cloud (N, 3)
inside the unit sphere and are fast enough (milliseconds for 1-2k points) to follow a slider live.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lab_app.io.pointcloud import open3d_module


def view_rotation(azimuth: float, elevation: float) -> np.ndarray:
    """World -> camera rotation: camera x right, y up, z towards the viewer (angles in radians)."""
    ca, sa, ce, se = np.cos(azimuth), np.sin(azimuth), np.cos(elevation), np.sin(elevation)
    right = np.array([-sa, ca, 0.0])
    toward = np.array([ce * ca, ce * sa, se])          # from the object towards the camera
    up = np.cross(toward, right)
    return np.stack([right, up, toward]).astype(np.float32)


@dataclass(frozen=True)
class MultiView:
    depths: np.ndarray       # (K, R, R) float32, 1 = nearest, 0 = background
    pooled: np.ndarray       # (R, R) element-wise max over the K views (view pooling)
    azimuths: np.ndarray     # (K,) degrees


def depth_image(points: np.ndarray, rotation: np.ndarray, resolution: int) -> np.ndarray:
    """Orthographic z-buffer of a cloud in the unit sphere: the nearest point wins each pixel."""
    cam = points @ rotation.T                                        # (N, 3) camera coordinates
    ij = np.clip(((cam[:, :2] + 1.0) * 0.5 * resolution).astype(np.int64), 0, resolution - 1)
    depth = (cam[:, 2] + 1.0) * 0.5                                  # 1 near the camera, 0 far
    flat = (resolution - 1 - ij[:, 1]) * resolution + ij[:, 0]       # row 0 at the top
    image = np.zeros(resolution * resolution, np.float32)
    np.maximum.at(image, flat, depth.astype(np.float32))
    return image.reshape(resolution, resolution)


def multi_view(points: np.ndarray, views: int, resolution: int = 48, elevation_deg: float = 25.0) -> MultiView:
    """Depth images from ``views`` cameras evenly spaced around the up axis, and their view pooling.

    MVCNN pools per-view CNN features with an element-wise max; with the depth image as the 'feature'
    of a view, the pooled image is max_k depth_k. Rotating the object by 360/K degrees about the up
    axis only permutes the views, so the pooled result does not change: view pooling is symmetric."""
    views = max(1, int(views))
    az = np.arange(views) * 360.0 / views
    depths = np.stack([depth_image(points, view_rotation(np.radians(a), np.radians(elevation_deg)), resolution)
                       for a in az])
    return MultiView(depths, depths.max(axis=0), az)


@dataclass(frozen=True)
class Voxels:
    resolution: int
    indices: np.ndarray      # (M, 3) int grid coordinates of occupied voxels
    size: float              # side of a voxel (the grid spans [-1, 1]^3)

    @property
    def occupied(self) -> int:
        return len(self.indices)

    @property
    def cells(self) -> int:
        return self.resolution ** 3

    def dense_bytes(self, channels: int = 1, bytes_per_value: int = 4) -> int:
        """Memory of the dense float32 grid a 3D CNN would read: r^3 * channels * 4 bytes."""
        return self.cells * channels * bytes_per_value

    def conv_flops(self, c_in: int = 32, c_out: int = 32, kernel: int = 3) -> float:
        """Multiply-adds of one dense k x k x k convolution layer over the grid: r^3 * k^3 * c_in * c_out."""
        return float(self.cells) * kernel ** 3 * c_in * c_out

    def centres(self) -> np.ndarray:
        return ((self.indices + 0.5) * self.size - 1.0).astype(np.float32)


def voxelize(points: np.ndarray, resolution: int) -> Voxels:
    """Occupied cells of an r x r x r grid over [-1, 1]^3 (Open3D's VoxelGrid)."""
    o3d = open3d_module()
    r = max(1, int(resolution))
    size = 2.0 / r
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.asarray(points, np.float64)))
    grid = o3d.geometry.VoxelGrid.create_from_point_cloud_within_bounds(
        pcd, voxel_size=size, min_bound=np.full(3, -1.0), max_bound=np.full(3, 1.0))
    voxels = grid.get_voxels()
    idx = np.array([v.grid_index for v in voxels], dtype=np.int64).reshape(-1, 3)
    return Voxels(r, np.clip(idx, 0, r - 1), size)


def knn_edges(points: np.ndarray, k: int) -> np.ndarray:
    """Undirected edges (E, 2) of the k-nearest-neighbour graph (scipy's KD-tree), each listed once."""
    from scipy.spatial import cKDTree

    n = len(points)
    k = int(max(1, min(k, n - 1)))
    if n < 2:
        return np.zeros((0, 2), np.int64)
    _, nbr = cKDTree(points).query(points, k=k + 1)                  # first neighbour is the point itself
    src = np.repeat(np.arange(n), k)
    dst = nbr[:, 1:].reshape(-1)
    edges = np.sort(np.stack([src, dst], axis=1), axis=1)
    return np.unique(edges, axis=0)


def project(points: np.ndarray, azimuth_deg: float = 35.0, elevation_deg: float = 20.0) -> tuple[np.ndarray, np.ndarray]:
    """A fixed oblique camera for the 2D panels: (N, 2) screen positions and (N,) depth (1 = near)."""
    cam = np.asarray(points, np.float32) @ view_rotation(np.radians(azimuth_deg), np.radians(elevation_deg)).T
    return cam[:, :2], (cam[:, 2] + 1.0) * 0.5


@dataclass(frozen=True)
class Computed:
    """What ``compute`` made for the panel: the parts asked for (None for the others)."""

    points: np.ndarray
    parts: frozenset
    xy: np.ndarray                     # (N, 2) the points through the panel's camera
    depth: np.ndarray                  # (N,)
    multiview: MultiView | None = None
    voxels: Voxels | None = None
    voxel_xy: np.ndarray | None = None
    voxel_depth: np.ndarray | None = None
    edges: np.ndarray | None = None


def compute(points: np.ndarray, parts, views: int, resolution: int, neighbours: int, ctl):
    """Task generator for the panel's runner: the representations named in ``parts`` ("views",
    "voxels", "graph") of a normalised cloud (N, 3), at the sliders' values."""
    parts = frozenset(parts)
    points = np.asarray(points, np.float32)
    xy, depth = project(points)
    mv = vox = vxy = vdepth = edges = None
    if "views" in parts:
        mv = multi_view(points, views)
        ctl.checkpoint()
    if "voxels" in parts:
        vox = voxelize(points, resolution)
        vxy, vdepth = project(vox.centres())
        ctl.checkpoint()
    if "graph" in parts:
        edges = knn_edges(points, neighbours)
    return Computed(points, parts, xy, depth, mv, vox, vxy, vdepth, edges)
    yield  # pragma: no cover  (makes this a generator)
