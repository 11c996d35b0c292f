"""pointnet_shapes_hard: as pointnet_shapes, but with uniformly random 3D rotations (in the data and
afresh every batch), 30% of each cloud cut away from one side (a partial view) and 2% outliers.

Fields: classes, points, test_accuracy, train_seconds, data_seconds, infer_ms_per_cloud, threads.
Target: test_accuracy >= 0.90 within train_seconds <= 120.
"""

from __future__ import annotations

from benchmarks.pointnet_shapes import add_arguments, run_training  # noqa: F401 - same options


def run(args) -> dict:
    return run_training(args, hard=True)
