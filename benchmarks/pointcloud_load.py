"""Loading a 2M-point binary PLY (xyz float32 + rgb uchar): the lab's reader against bare Open3D.

``load_point_cloud`` adds header checks, NaN/Inf filtering and colour normalisation on top of
``open3d.io.read_point_cloud``; the baseline does the read plus the same float32 conversions of
points and colours. The two are timed interleaved (so drift on a noisy machine hits both) and the
median of several runs of each is reported. ``ratio`` = seconds / open3d_seconds; target <= 1.15.
``pair_ratio_median`` is the median of the per-run ratios.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def add_arguments(parser) -> None:
    parser.add_argument("--points", type=int, default=2_000_000, help="points in the test cloud")
    parser.add_argument("--runs", type=int, default=7, help="timed loads of each reader (median reported)")


def _write_ply(path: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    rec = np.empty(n, dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"),
                             ("red", "u1"), ("green", "u1"), ("blue", "u1")])
    xyz = rng.normal(size=(n, 3)).astype(np.float32)
    rec["x"], rec["y"], rec["z"] = xyz.T
    rgb = rng.integers(0, 256, size=(n, 3), dtype=np.uint8)
    rec["red"], rec["green"], rec["blue"] = rgb.T
    header = ("ply\nformat binary_little_endian 1.0\n"
              f"element vertex {n}\nproperty float x\nproperty float y\nproperty float z\n"
              "property uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n")
    with open(path, "wb") as f:
        f.write(header.encode("ascii"))
        f.write(rec.tobytes())


def run(args) -> dict:
    import open3d as o3d

    from lab_app.io.pointcloud import load_point_cloud

    o3d.utility.set_verbosity_level(o3d.utility.VerbosityLevel.Error)
    n = int(getattr(args, "points", 2_000_000))
    runs = max(1, int(getattr(args, "runs", 7)))

    def bare_open3d(path: Path):
        pcd = o3d.io.read_point_cloud(str(path), format="ply", remove_nan_points=False,
                                      remove_infinite_points=False)
        points = np.asarray(pcd.points, dtype=np.float32)
        colors = np.asarray(pcd.colors, dtype=np.float32)
        return points, colors

    ours_s, base_s = [], []
    with tempfile.TemporaryDirectory(prefix="lab-bench-") as d:
        path = Path(d) / "cloud.ply"
        _write_ply(path, n)
        # Warm-up: imports, page cache, allocator.
        cloud = load_point_cloud(path)
        points, _ = bare_open3d(path)
        assert len(cloud) == n and len(points) == n and cloud.colors is not None
        del cloud, points
        for i in range(runs):
            order = (("ours", load_point_cloud), ("open3d", bare_open3d))
            for name, fn in (order if i % 2 == 0 else order[::-1]):
                t0 = time.perf_counter()
                result = fn(path)
                dt = time.perf_counter() - t0
                del result
                (ours_s if name == "ours" else base_s).append(dt)
    seconds = statistics.median(ours_s)
    open3d_seconds = statistics.median(base_s)
    return {
        "points": n,
        "seconds": round(seconds, 4),
        "open3d_seconds": round(open3d_seconds, 4),
        "ratio": round(seconds / open3d_seconds, 3),
        # Each run times both readers back to back, so the ratio within a pair shares the machine's
        # load at that moment: the median of those is steadier than the ratio of the medians.
        "pair_ratio_median": round(statistics.median(a / b for a, b in zip(ours_s, base_s)), 3),
        "runs_each": runs,
    }
