"""The CUDA code paths of the Qt-free parts, run on the device named by ``LAB_TEST_DEVICE``.

``LAB_TEST_DEVICE`` defaults to "cuda"; without a CUDA GPU every test here is skipped with the
reason. ``LAB_TEST_DEVICE=cpu`` runs the same tests on the CPU (how CI-less machines check that they
pass and can fail). They compare the device against the CPU where the numbers must agree: a model's
outputs (with TF32 off, which cuDNN would otherwise use for float32 convolutions), the VAE's loss for
a given seed, PointNet's folded inference path.

No Qt, open3d or mlxtend is imported: the GPU machine has none of them.
"""

from __future__ import annotations

import copy
import importlib
import math
import os
from contextlib import contextmanager
from dataclasses import fields, replace

import numpy as np
import pytest
import torch

from lab_app.core.events import drain

DEVICE_NAME = os.environ.get("LAB_TEST_DEVICE", "cuda")
DEVICE = torch.device(DEVICE_NAME)   # an invalid name fails collection with torch's message
IS_CUDA = DEVICE.type == "cuda"


def _unavailable_reason() -> str | None:
    if DEVICE.type == "cuda" and not torch.cuda.is_available():
        return (f"LAB_TEST_DEVICE={DEVICE_NAME!r} but torch.cuda.is_available() is False (no CUDA GPU, or a "
                f"CPU-only torch {torch.__version__}); set LAB_TEST_DEVICE=cpu to run these on the CPU")
    if DEVICE.type == "cuda" and DEVICE.index is not None and DEVICE.index >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        return f"LAB_TEST_DEVICE={DEVICE_NAME!r} but torch sees only {count} CUDA device(s)"
    if DEVICE.type == "mps":
        backend = getattr(torch.backends, "mps", None)
        if not (backend is not None and backend.is_available()):
            return f"LAB_TEST_DEVICE={DEVICE_NAME!r} but this torch has no usable MPS backend"
    return None


# slow: the detector runs take 5-15 s each on a 2-core CPU (LAB_TEST_DEVICE=cpu), far less on a GPU
pytestmark = [pytest.mark.skipif(_unavailable_reason() is not None, reason=_unavailable_reason() or ""),
              pytest.mark.slow]


@contextmanager
def exact_float32():
    """cuDNN computes float32 convolutions in TF32 by default (10-bit mantissa): switch that (and
    TF32 matmuls) off while a result is compared with the CPU's."""
    if not IS_CUDA:
        yield
        return
    old = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old


drive = drain   # (events, result) of a task run to its end without a runner


def on_device(t: torch.Tensor) -> bool:
    return t.device.type == DEVICE.type


# --- device choice --------------------------------------------------------------------------------


@pytest.mark.skipif(not IS_CUDA, reason="checks the CUDA choice; LAB_TEST_DEVICE is not cuda")
def test_auto_device_is_the_gpu():
    from lab_app.core.device import choose_device, runtime_info
    from lab_app.core.lanes import default_lanes

    assert choose_device("auto") == torch.device("cuda")
    assert choose_device("cuda") == torch.device("cuda")
    info = runtime_info()
    assert info.gpu_name and info.cuda.startswith("available")
    assert default_lanes(choose_device("auto")) == 1      # one lane: a GPU step is one kernel stream


# --- detection tasks ------------------------------------------------------------------------------

DETECTORS = [
    pytest.param("lab_app.topics.anchorfree.task", {"head": "CenterNet"}, id="centernet"),
    pytest.param("lab_app.topics.anchorfree.task", {"head": "FCOS"}, id="fcos"),
    pytest.param("lab_app.topics.yolo.task", {"grid": 8}, id="yolo"),
]


def _match_candidates(dev, cpu) -> None:
    """Candidates decoded on the device match those decoded on the CPU from the same raw outputs:
    the same count, the same sorted scores, and each confident device box has a CPU box of the same
    class at (nearly) the same place and score (near-equal scores may swap places in a top-k)."""
    for (bd, sd, ld), (bc, sc, lc) in zip(dev, cpu, strict=True):
        assert on_device(bd) and on_device(sd) and on_device(ld)
        bd, sd, ld = bd.cpu(), sd.cpu(), ld.cpu()
        assert sd.shape == sc.shape and bd.shape == bc.shape
        torch.testing.assert_close(sd.sort(descending=True).values, sc.sort(descending=True).values,
                                   atol=1e-5, rtol=1e-4)
        keep = sd > sd.min() + 1e-4                 # leave out the boundary of the top-k
        assert keep.sum() >= min(5, len(sd) - 1)
        gap = ((bd[keep, None] - bc[None]).abs().amax(-1) + 1e3 * (sd[keep, None] - sc[None]).abs()
               + 1e9 * (ld[keep, None] != lc[None]))
        assert gap.min(1).values.max() < 1e-2


@pytest.mark.parametrize("module, extra", DETECTORS)
def test_detector_trains_on_the_device_and_agrees_with_the_cpu(module, extra, monkeypatch):
    pytest.importorskip("pycocotools")
    from lab_app.core.control import Control
    from lab_app.core.events import Progress
    from lab_app.core.lanes import Lanes, default_lanes
    from lab_app.data.scenes import batch_arrays, make_scenes
    from lab_app.detection import training
    from lab_app.detection.training import Weights, evaluate_model

    task = importlib.import_module(module)
    names = {f.name for f in fields(task.Config)}
    small = {k: v for k, v in {**extra, "image_size": 128}.items() if k in names}
    cfg = replace(task.Config(), classes=3, max_objects=4, steps=30, eval_every=30, eval_scenes=8, lr=2e-3,
                  **small)

    lane_counts = []

    class CountedLanes(Lanes):
        def __init__(self, model, lanes=1, threads=1):
            super().__init__(model, lanes, threads)
            lane_counts.append(self.count)
            assert all(on_device(p) for p in model.parameters())   # moved before the loop starts

    monkeypatch.setattr(training, "Lanes", CountedLanes)
    events, trained = drive(task.train(cfg, None, Control(DEVICE)))

    assert lane_counts == [default_lanes(DEVICE)]
    if IS_CUDA:
        assert lane_counts == [1]
    losses = [e.metrics["loss"] for e in events if isinstance(e, Progress) and "loss" in e.metrics]
    assert len(losses) == cfg.steps // 5 and all(math.isfinite(v) for v in losses)
    assert np.mean(losses[-3:]) < losses[0], losses
    assert trained.metrics["steps"] == cfg.steps
    for state in [trained.state] + [e.state for e in events if isinstance(e, Weights)]:
        for name, t in state.items():
            assert t.device.type == "cpu", name
            assert torch.isfinite(t.float()).all(), name

    model = task.build_model(trained.model_config, trained.state)          # CPU, eval mode
    dev_model = copy.deepcopy(model).to(DEVICE).eval()
    scenes = make_scenes(cfg.scenes(), 8, seed=4242)
    x = torch.from_numpy(batch_arrays(scenes))
    with torch.no_grad(), exact_float32():
        out_cpu, out_dev = model(x), dev_model(x.to(DEVICE))
        assert out_cpu.keys() == out_dev.keys()
        for k in out_cpu:
            assert on_device(out_dev[k]), k
            torch.testing.assert_close(out_dev[k].cpu(), out_cpu[k], atol=1e-3, rtol=1e-3, msg=k)
        # the decoding (its aranges and gathers) on the device, from identical raw outputs
        same_raw = {k: v.cpu() for k, v in out_dev.items()}
        _match_candidates(dev_model.candidates(out_dev), model.candidates(same_raw))

    metrics = evaluate_model(dev_model, scenes, 3, DEVICE)
    assert metrics and all(math.isfinite(v) for v in metrics.values()), metrics
    assert 0.0 <= metrics["map50"] <= 1.0
    assert all(on_device(p) for p in dev_model.parameters())   # evaluation did not move the model


# --- VAE ------------------------------------------------------------------------------------------


def _small_vae():
    from models.vae import VAE, VAEConfig

    torch.manual_seed(0)
    return VAE(VAEConfig(input_dim=64, latent_dim=3, hidden=(32, 16)))


def test_vae_loss_draws_eps_on_the_generators_device():
    from models.vae import vae_loss

    cpu_model = _small_vae()
    model = copy.deepcopy(cpu_model).to(DEVICE)
    x_cpu = torch.rand(16, 64, generator=torch.Generator().manual_seed(1))
    x = x_cpu.to(DEVICE)

    def loss(m, xb, seed, device="cpu"):
        return vae_loss(m, xb, beta=1.0, generator=torch.Generator(device=device).manual_seed(seed))

    with exact_float32():
        a, terms = loss(model, x, 7)                      # CUDA model, CPU generator
        b, _ = loss(model, x, 7)
        c, _ = loss(model, x, 8)
        ref, ref_terms = loss(cpu_model, x_cpu, 7)        # eps does not depend on the model's device
    assert on_device(a) and torch.equal(a, b)
    assert not torch.equal(a, c)
    torch.testing.assert_close(a.cpu(), ref, atol=1e-4, rtol=1e-4)
    assert terms.keys() == ref_terms.keys() and all(math.isfinite(v) for v in terms.values())
    a.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(on_device(g) and torch.isfinite(g).all() for g in grads)

    # a generator on the device works too, and reproduces by seed
    d, _ = loss(model, x, 7, DEVICE)
    e, _ = loss(model, x, 7, DEVICE)
    assert on_device(d) and torch.equal(d, e)


def _vae_task_config():
    from lab_app.topics.vae.task import VaeTaskConfig

    return VaeTaskConfig(dataset="digits", epochs=4, batch_size=32, width=64, iw_k=0, manifold=3,
                         recon_count=2, frame_seconds=1e9, limit=600)


def test_vae_task_loss_falls_with_the_device_control():
    pytest.importorskip("sklearn")
    from lab_app.core.control import Control
    from lab_app.core.events import Progress
    from lab_app.topics.vae import task

    events, trained = drive(task.train(_vae_task_config(), None, Control(DEVICE)))
    losses = [e.metrics["loss"] for e in events if isinstance(e, Progress)]
    assert len(losses) >= 3 and all(math.isfinite(v) for v in losses)
    assert np.mean(losses[-2:]) < losses[0], losses
    assert all(t.device.type == "cpu" and torch.isfinite(t).all() for t in trained.state_dict.values())


def test_vae_task_trains_on_the_device(monkeypatch):
    pytest.importorskip("sklearn")
    from lab_app.core.control import Control
    from lab_app.topics.vae import task

    seen = []

    def spy(model, x, *args, **kwargs):
        seen.append((next(model.parameters()).device.type, x.device.type))
        return real(model, x, *args, **kwargs)

    real = task.vae_loss
    monkeypatch.setattr(task, "vae_loss", spy)
    drive(task.train(replace(_vae_task_config(), epochs=1), None, Control(DEVICE)))
    assert seen and set(seen) == {(DEVICE.type, DEVICE.type)}


# --- PointNet -------------------------------------------------------------------------------------


def _pointnet(**kw):
    from models.pointnet import PointNet, PointNetConfig

    cfg = PointNetConfig(num_classes=4, points=128, local_widths=(16,), global_widths=(32, 64),
                         head_widths=(32,), tnet_widths=(8, 16, 32), **kw)
    torch.manual_seed(0)
    return PointNet(cfg)


@pytest.mark.parametrize("pose", [False, True], ids=["plain", "pca-outliers"])
def test_pointnet_training_step_on_the_device_matches_the_cpu(pose):
    from models.pointnet import pointnet_loss

    kw = {"canonical_pose": True, "outlier_cell": 0.1} if pose else {}
    cpu_model = _pointnet(dropout=0.0, **kw)      # no dropout: its masks are drawn per device
    model = copy.deepcopy(cpu_model).to(DEVICE)
    g = torch.Generator().manual_seed(3)
    x = torch.randn(8, 128, 3, generator=g) * torch.tensor([0.5, 0.3, 0.2])
    y = torch.arange(8) % 4
    with exact_float32():
        out = model(x.to(DEVICE))
        loss = pointnet_loss(out, y.to(DEVICE), 1e-3)
        loss.backward()
        ref = pointnet_loss(cpu_model(x), y, 1e-3)
        ref.backward()
    assert on_device(loss) and on_device(out.logits) and on_device(out.critical)
    torch.testing.assert_close(loss.cpu(), ref, atol=1e-5, rtol=1e-4)
    for (name, p), q in zip(model.named_parameters(), cpu_model.parameters(), strict=True):
        assert p.grad is not None and on_device(p.grad), name
        torch.testing.assert_close(p.grad.cpu(), q.grad, atol=1e-4, rtol=1e-3, msg=name)


@pytest.mark.parametrize("tnets", [True, False])
def test_pointnet_folded_eval_path_matches_the_modules_on_the_device(tnets):
    model = _pointnet(input_transform=tnets, feature_transform=tnets).to(DEVICE)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 128, 3, generator=g).to(DEVICE)
    for _ in range(2):
        model.train()
        for _ in range(3):
            loss = model(torch.randn(8, 128, 3, generator=g).to(DEVICE)).logits.pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with exact_float32():
            with torch.enable_grad():
                ref = model(x)
            with torch.no_grad():
                fast = model(x)
            with torch.inference_mode():
                fastest = model(x)
        # checked twice: the second time after more steps, so a stale fold would show
        assert on_device(fast.logits) and on_device(fastest.logits)
        torch.testing.assert_close(fast.logits, ref.logits.detach(), atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(fastest.logits, ref.logits.detach(), atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(fast.global_feature, ref.global_feature.detach(), atol=1e-4, rtol=1e-4)
        # near-ties may pick another winner after the fold's different rounding; nearly all agree
        assert (fast.critical == ref.critical).float().mean() >= 0.98


def test_pointnet_task_batches_on_the_device():
    """make_batch gathers a random subset of points and rotates the clouds of a batch held on the
    task's device (the task keeps the whole training set there)."""
    from lab_app.topics.pointcloud.pointnet_task import make_batch

    clouds = torch.randn(12, 64, 3, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(12) % 3
    idx = torch.from_numpy(np.random.default_rng(1).permutation(12)[:6])   # as the task makes it
    xb_cpu, yb_cpu = make_batch(clouds, labels, idx, "up", np.random.default_rng(5), 32)
    xb, yb = make_batch(clouds.to(DEVICE), labels.to(DEVICE), idx, "up", np.random.default_rng(5), 32)
    assert on_device(xb) and on_device(yb) and xb.shape == (6, 32, 3)
    torch.testing.assert_close(xb.cpu(), xb_cpu, atol=1e-5, rtol=1e-5)
    assert torch.equal(yb.cpu(), yb_cpu)


def test_pointnet_task_trains_on_the_device():
    from lab_app.core.control import Control
    from lab_app.core.events import Progress
    from lab_app.data.shapes import PointSetDataset
    from lab_app.topics.pointcloud import pointnet_task as task

    rng = np.random.default_rng(0)

    def clouds(n):   # class 0: a stick along z; class 1: a disc in the xy plane (both survive "up" turns)
        t = rng.uniform(-1, 1, (n, 64))
        stick = np.stack([0.03 * rng.normal(size=(n, 64)), 0.03 * rng.normal(size=(n, 64)), t], -1)
        a, r = rng.uniform(0, 2 * np.pi, (n, 64)), np.sqrt(rng.uniform(0, 1, (n, 64)))
        disc = np.stack([r * np.cos(a), r * np.sin(a), 0.03 * rng.normal(size=(n, 64))], -1)
        return np.concatenate([stick, disc]).astype(np.float32), np.repeat([0, 1], n).astype(np.int64)

    train_x, train_y = clouds(32)
    test_x, test_y = clouds(8)
    data = PointSetDataset(("stick", "disc"), train_x, train_y, test_x, test_y, source="test clouds")
    cfg = replace(task.TrainConfig(), epochs=8, batch_size=16, global_width=32, points=64, train_points=32,
                  eval_clouds=16, report_every=1, lr=1e-2)
    events, trained = drive(task.train(cfg, data, Control(DEVICE)))
    losses = [e.metrics["loss"] for e in events if isinstance(e, Progress) and "loss" in e.metrics]
    assert len(losses) == 8 * 4 and np.mean(losses[-3:]) < losses[0], losses
    assert all(t.device.type == "cpu" and torch.isfinite(t.float()).all() for t in trained.state.values())
    assert trained.metrics["test_accuracy"] >= 0.75, trained.metrics   # 3 epochs gave 0.625 once on an H200


# --- other device-dependent branches --------------------------------------------------------------


def test_contrastive_augmentations_and_losses_on_the_device():
    from models.contrastive import augment, info_nce_loss, rotate_batch

    x = torch.rand(6, 1, 16, 16, generator=torch.Generator().manual_seed(0)).to(DEVICE)

    def views(seed):
        return augment(x, 1.0, torch.Generator(device=DEVICE).manual_seed(seed))

    a, b, c = views(1), views(1), views(2)
    assert on_device(a) and a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, c)
    assert 0.0 <= float(a.min()) and float(a.max()) <= 1.0 and not torch.allclose(a, x)
    assert augment(x, 0.0) is x

    rotated, k = rotate_batch(x, torch.Generator(device=DEVICE).manual_seed(3))
    assert on_device(rotated) and on_device(k) and set(k.tolist()) <= {0, 1, 2, 3}
    for i in range(len(x)):
        assert torch.equal(rotated[i], torch.rot90(x[i], int(k[i]), dims=(1, 2)))

    z1 = torch.randn(6, 8, generator=torch.Generator().manual_seed(4))
    z2 = z1 + 0.1 * torch.randn(6, 8, generator=torch.Generator().manual_seed(5))
    with exact_float32():
        dev = info_nce_loss(z1.to(DEVICE), z2.to(DEVICE), 0.5)
    assert on_device(dev)
    torch.testing.assert_close(dev.cpu(), info_nce_loss(z1, z2, 0.5), atol=1e-5, rtol=1e-5)


def test_skipgram_trainer_on_the_device_follows_the_cpu():
    from models.word2vec import SkipGramConfig, SkipGramTrainer

    rng = np.random.default_rng(0)
    sentences = [rng.integers(0, 40, size=12) for _ in range(60)]
    cfg = SkipGramConfig(dim=16, window=2, negatives=3, batch_size=64, lr=0.02, seed=0)

    def run(device):
        trainer = SkipGramTrainer(sentences, 40, cfg, device)
        return trainer, [trainer.step() for _ in range(8)]

    cpu_trainer, cpu_losses = run("cpu")
    trainer, losses = run(DEVICE)
    assert all(on_device(p) for p in trainer.model.parameters())
    np.testing.assert_allclose(losses, cpu_losses, rtol=1e-4)
    assert losses[-1] < losses[0]
    np.testing.assert_allclose(trainer.model.embeddings(), cpu_trainer.model.embeddings(), atol=1e-5)



# --- the detectors' inference on the device: the folded (BatchNorm-free) copy and the TTA views ----------


def _detector(module, extra):
    task = importlib.import_module(module)
    names = {f.name for f in fields(task.Config)}
    cfg = replace(task.Config(), classes=3, image_size=128, **{k: v for k, v in extra.items() if k in names})
    model_config = cfg.model_config().to_dict()
    torch.manual_seed(0)
    model = task.build_model(model_config).train()
    from lab_app.data.scenes import make_scenes

    scenes = make_scenes(cfg.scenes(), 6, seed=11)
    with torch.no_grad():      # running statistics of real images, so eval mode is not the identity
        for s in range(0, 6, 3):
            model(torch.from_numpy(np.stack([sc.image for sc in scenes[s:s + 3]])).permute(0, 3, 1, 2).float() / 255)
    return task, model.eval(), np.stack([sc.image for sc in scenes[:2]])


@pytest.mark.parametrize("module, extra", DETECTORS)
def test_detector_folded_inference_and_tta_on_the_device(module, extra):
    from torch import nn

    from lab_app.detection.tta import PLAIN, folded, run_views, views_for

    task, cpu_model, images = _detector(module, extra)
    dev_model = copy.deepcopy(cpu_model).to(DEVICE).eval()
    fast = folded(dev_model)
    assert all(on_device(p) for p in fast.parameters())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fast.modules())

    with exact_float32():
        x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255).to(DEVICE)
        with torch.no_grad():
            plain, fused = dev_model(x), fast(x)
        for k in plain:                                   # the fold is the same function
            torch.testing.assert_close(fused[k], plain[k], atol=1e-3, rtol=1e-3, msg=k)
        for mode in ("off", "flip", "flip + 1.25x"):
            views = views_for(mode) if mode != "off" else PLAIN
            base_dev, cand_dev = run_views(dev_model, images, views, DEVICE)
            base_cpu, cand_cpu = run_views(cpu_model, images, views, "cpu")
            for k in base_cpu:
                assert on_device(base_dev[k]), k
                torch.testing.assert_close(base_dev[k].cpu(), base_cpu[k], atol=1e-3, rtol=1e-3, msg=f"{mode}: {k}")
            if len(views.scales) == 1:
                _match_candidates(cand_dev, cand_cpu)
            else:                                         # merged by NMS: the confident boxes agree
                for (bd, sd, ld), (bc, sc, lc) in zip(cand_dev, cand_cpu, strict=True):
                    top = sd.cpu().argsort(descending=True)[:5]
                    for i in top:
                        gap = ((bd[i].cpu() - bc).abs().amax(-1) + 1e3 * (sd[i].cpu() - sc).abs()
                               + 1e9 * (ld[i].cpu() != lc))
                        assert gap.min() < 1e-2, (mode, i)

    # the tab's detect() on a model that lives on the device: boxes drawn in photo pixels, as on the CPU
    photo = np.ascontiguousarray(images[0][:100])          # not square: letterboxed
    views = views_for("flip + 1.25x")
    with exact_float32():
        dev = task.detect(dev_model, photo, ("a", "b", "c"), views=views)
        cpu = task.detect(cpu_model, photo, ("a", "b", "c"), views=views)
    assert dev.candidates.boxes.shape == cpu.candidates.boxes.shape
    order_d, order_c = np.argsort(-dev.candidates.scores)[:5], np.argsort(-cpu.candidates.scores)[:5]
    np.testing.assert_allclose(dev.candidates.scores[order_d], cpu.candidates.scores[order_c], atol=1e-4)
