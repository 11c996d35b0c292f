"""Every task that trains reads ``ctl.device``, on the device named by ``LAB_TEST_DEVICE`` (default
"cuda"; skipped without one, ``LAB_TEST_DEVICE=cpu`` runs them on the CPU): its model and batches live
there, and a seed gives (nearly) the same first losses as on the CPU, the tasks drawing their noise on
CPU generators. (Split from test_cuda_paths.py, whose helpers it uses.)"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tests.gpu.test_cuda_paths import DEVICE, _unavailable_reason, drive, exact_float32

pytestmark = [pytest.mark.skipif(_unavailable_reason() is not None, reason=_unavailable_reason() or ""),
              pytest.mark.slow]


class DeviceSpy:
    """Wraps a task module's loss function: records, at every call, the device of the model's
    parameters and the devices of the tensors it is given."""

    def __init__(self, monkeypatch, module, name: str, model_arg: int = 0):
        self.seen: list[tuple[str, frozenset]] = []
        real = getattr(module, name)

        def spy(*args, **kwargs):
            tensors = frozenset(a.device.type for a in args if isinstance(a, torch.Tensor))
            self.seen.append((next(args[model_arg].parameters()).device.type, tensors))
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, spy)


def first_metrics(task, names: tuple[str, ...], limit: int = 400) -> tuple[float, ...]:
    """The named metrics of the first Progress that has them; the task generator is then closed."""
    from lab_app.core.events import Progress

    try:
        for _, ev in zip(range(limit), task, strict=False):
            if isinstance(ev, Progress) and all(n in ev.metrics for n in names):
                return tuple(float(ev.metrics[n]) for n in names)
    finally:
        task.close()
    raise AssertionError(f"no {names} within {limit} events")


def assert_trains_on_the_device(make_task, names, spies, atol=5e-3, rtol=1e-3):
    """Run the task to its first losses on the device (every spied loss sees the model and its batch
    there), then on the CPU: the same seed gives close losses. Some first reports come after an Adam
    step, whose first update is lr * g / |g|: a parameter whose gradient is ~0 may move by lr either
    way on the two devices, hence the absolute tolerance."""
    from lab_app.core.control import Control

    with exact_float32():
        dev = first_metrics(make_task(Control(DEVICE)), names)
        for spy in spies:
            assert spy.seen, "the loss was never computed"
            assert all(p == DEVICE.type and t == {DEVICE.type} for p, t in spy.seen), spy.seen
        cpu = first_metrics(make_task(Control("cpu")), names)
    assert all(math.isfinite(v) for v in dev), dev
    np.testing.assert_allclose(dev, cpu, atol=atol, rtol=rtol)


@pytest.mark.parametrize("objective", ["InfoNCE", "pairwise contrastive", "rotation pretext"])
def test_contrastive_task_trains_on_the_device(objective, monkeypatch):
    pytest.importorskip("sklearn")
    from lab_app.core.control import Control
    from lab_app.topics.representation import task

    cfg = task.RepresentationConfig(objective=objective, batch_size=32, embed_dim=8, width=4, feature_dim=16,
                                    steps=2, limit=240, frame_points=50, probe_every=1000, seed=2)
    spy = DeviceSpy(monkeypatch, task, "objective_loss", model_arg=1)
    assert_trains_on_the_device(lambda ctl: task.train(cfg, None, ctl), ("loss", "alignment", "uniformity"),
                                [spy])
    events, trained = drive(task.train(cfg, None, Control(DEVICE)))
    assert all(t.device.type == "cpu" for t in trained.state_dict.values())   # the tab gets CPU weights
    frames = [e for e in events if isinstance(e, task.EmbeddingFrame)]
    ready = next(e for e in events if isinstance(e, task.DatasetReady))
    assert frames and np.isfinite(frames[-1].xy).all() and len(frames[-1].xy) == len(ready.shown)
    assert trained.train_features.shape == (len(ready.dataset.x_train), cfg.feature_dim)


def test_mi_task_trains_on_the_device(monkeypatch):
    from lab_app.topics.representation import mi_task

    seen = []
    real = mi_task.MIEstimators.step

    def spy(self, x, y):
        seen.append((next(self.nce_critic.parameters()).device.type, next(self.nwj_critic.parameters()).device.type,
                     x.device.type, y.device.type))
        return real(self, x, y)

    monkeypatch.setattr(mi_task.MIEstimators, "step", spy)
    cfg = mi_task.MIConfig(mi_batch=32, steps=3, report_every=1, seed=1)
    assert_trains_on_the_device(lambda ctl: mi_task.estimate_mi(cfg, {}, ctl), ("InfoNCE", "NWJ"), [])
    assert seen and set(seen[0]) == {DEVICE.type}


@pytest.mark.parametrize("which", ["gan", "vae"])
def test_transforms_tasks_train_on_the_device(which, monkeypatch):
    from lab_app.core.control import Control
    from lab_app.topics.transforms import task

    cfg = task.TransformsConfig(batch_size=64, hidden=16, steps=3, field_size=8, shown_samples=64, seed=1)
    if which == "gan":
        spies = [DeviceSpy(monkeypatch, task, "discriminator_loss"), DeviceSpy(monkeypatch, task, "generator_loss")]
        train, names = task.train_gan, ("d_loss", "g_loss")
    else:
        spies = [DeviceSpy(monkeypatch, task, "vae_loss")]
        train, names = task.train_vae, ("vae_loss", "kl")
    assert_trains_on_the_device(lambda ctl: train(cfg, {}, ctl), names, spies)
    events, state = drive(train(cfg, {}, Control(DEVICE)))
    frames = [e for e in events if isinstance(e, task.TransformFrame)]
    assert frames and np.isfinite(frames[-1].samples).all() and math.isfinite(frames[-1].distance)
    assert all(t.device.type == "cpu" for t in state.values())


def test_categorical_vae_task_trains_on_the_device(monkeypatch):
    pytest.importorskip("sklearn")
    from lab_app.core.control import Control
    from lab_app.topics.reparam import vae_task

    cfg = vae_task.CategoricalVAEConfig(latent_vars=4, classes=5, steps=4, batch_size=16, report_every=2,
                                        eval_every=4, hidden=32, seed=1)
    spy = DeviceSpy(monkeypatch, vae_task, "vae_loss")
    assert_trains_on_the_device(lambda ctl: vae_task.train(cfg, {}, ctl), ("categorical loss", "Gaussian loss"),
                                [spy])
    events, result = drive(vae_task.train(cfg, {}, Control(DEVICE)))
    decoded = [e for e in events if isinstance(e, vae_task.Decoded)]
    assert decoded and decoded[-1].variations.shape[0] == cfg.classes
    assert math.isfinite(result.test_elbo) and math.isfinite(result.gaussian_test_elbo)
    for model in (result.categorical, result.gaussian):   # handed to the tab on the CPU
        assert all(p.device.type == "cpu" for p in model.parameters())


