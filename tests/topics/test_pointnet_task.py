"""The 3D tab's PointNet work without Qt: preparing clouds, training, classifying, saving, folders."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from lab_app.core.control import Cancelled, Control
from lab_app.core.events import Progress, drain
from lab_app.data.shapes import ShapesConfig, make_shapes
from lab_app.io import LoadError
from lab_app.io.checkpoint import Checkpoint, save_checkpoint
from lab_app.topics.pointcloud import pointnet_task as pt
from lab_app.topics.pointcloud import representations as rep

TINY = replace(pt.TrainConfig(), epochs=6, batch_size=16, global_width=64, points=128, train_points=0,
               report_every=2, eval_clouds=1000, lr=5e-3)


run = drain   # (events, result) of a task run to its end without a runner


@pytest.fixture(scope="module")
def trained():
    data = make_shapes(ShapesConfig(classes=("sphere", "cube", "torus", "arrow"), points=128,
                                    train_per_class=32, test_per_class=10))
    events, result = run(pt.train(TINY, data, Control()))
    return data, events, result


def test_short_training_beats_chance_by_far(trained):
    data, events, result = trained
    assert result.metrics["test_accuracy"] >= 0.7  # chance is 0.25
    losses = [e.metrics["loss"] for e in events if isinstance(e, Progress) and "loss" in e.metrics]
    assert losses[-1] < losses[0]
    confusions = [e for e in events if isinstance(e, pt.Confusion)]
    assert len(confusions) == 6 and confusions[-1].matrix.sum() == len(data.test_x)
    confusion = pt.confusion_of(result)
    assert np.trace(confusion) / confusion.sum() == pytest.approx(result.metrics["test_accuracy"])
    assert any(isinstance(e, pt.Weights) for e in events)
    assert result.history and result.history[-1][1] == {"test_acc": result.metrics["test_accuracy"]}


def test_classify_is_order_invariant_and_finds_critical_points(trained):
    data, _, result = trained
    model = pt.build_model(result.model_config, result.state)
    cloud = data.test_x[0]
    a = pt.classify(model, cloud, data.class_names)
    perm = np.random.default_rng(0).permutation(len(cloud))
    b = pt.classify(model, cloud[perm], data.class_names)
    assert np.allclose(a.probabilities, b.probabilities, atol=1e-6)
    assert a.probabilities.sum() == pytest.approx(1.0)
    assert 1 <= len(a.critical) <= 64 and a.critical.max() < 128
    assert np.array_equal(np.sort(perm[b.critical]), a.critical)


def test_save_load_round_trip_gives_identical_outputs(trained, tmp_path):
    data, _, result = trained
    path = pt.SPEC.save(tmp_path / "pn.safetensors", result, {"command": "test"})
    ready = pt.SPEC.load(path)
    model, names = ready.model, ready.class_names
    assert names == data.class_names and ready.trained.extra["command"] == "test"
    ref = pt.build_model(result.model_config, result.state)
    x = torch.from_numpy(data.test_x[:4])
    with torch.no_grad():
        assert torch.equal(model(x).logits, ref(x).logits)
    back = ready.trained
    assert np.array_equal(pt.confusion_of(back), pt.confusion_of(result)) and back.history == result.history
    assert back.extra["data"] == result.extra["data"] and back.train_config == result.train_config


def test_checkpoint_of_another_model_or_mismatched_weights_is_refused(tmp_path):
    save_checkpoint(tmp_path / "vae.safetensors", Checkpoint("vae", "vae-mlp", {"w": torch.zeros(2)}))
    with pytest.raises(LoadError, match="checkpoint of the vae tab, not of the pointcloud tab"):
        pt.SPEC.load(tmp_path / "vae.safetensors")
    save_checkpoint(tmp_path / "bad.safetensors", Checkpoint("pointcloud", "pointnet", {"w": torch.zeros(2)},
                                                             {"num_classes": 3, "class_names": ["a", "b", "c"]}))
    with pytest.raises(LoadError, match="do not fit"):
        pt.SPEC.load(tmp_path / "bad.safetensors")


def test_prepare_cloud_normalises_resamples_and_refuses_bad_clouds():
    rng = np.random.default_rng(0)
    pts = rng.normal(5.0, 3.0, size=(5000, 3))
    out, notes = pt.prepare_cloud(pts, 1024)
    assert out.shape == (1024, 3) and out.dtype == np.float32
    assert np.linalg.norm(out, axis=1).max() <= 1.0 + 1e-6 and np.abs(out.mean(0)).max() < 0.05
    assert "5,000 points, randomly sampled down" in notes[0]
    few, notes = pt.prepare_cloud(pts[:100], 1024)
    assert few.shape == (1024, 3) and "fewer than the model's 1,024" in notes[0]
    nan = pts[:300].copy()
    nan[:10, 0] = np.nan
    ok, notes = pt.prepare_cloud(nan, 256)
    assert np.isfinite(ok).all() and any("10 points with NaN" in n for n in notes)
    with pytest.raises(ValueError, match="same place"):
        pt.prepare_cloud(np.ones((50, 3)), 64)
    with pytest.raises(ValueError, match="no point with finite"):
        pt.prepare_cloud(np.full((5, 3), np.inf), 64)


def test_training_refuses_a_dataset_it_cannot_split():
    data = make_shapes(ShapesConfig(classes=("sphere", "cube"), points=64, train_per_class=2, test_per_class=1))
    data.test_x, data.test_y = data.test_x[:1], data.test_y[:1]   # no test cloud of 'cube'
    with pytest.raises(ValueError, match="test split has no clouds of cube"):
        run(pt.train(TINY, data, Control()))


def test_training_can_be_cancelled():
    ctl = Control()
    ctl.cancel()
    data = make_shapes(ShapesConfig(classes=("sphere", "cube"), points=64, train_per_class=4, test_per_class=2))
    with pytest.raises(Cancelled):
        run(pt.train(TINY, data, ctl))


def test_representations():
    cloud = pt.prepare_cloud(np.random.default_rng(0).normal(size=(800, 3)), 512)[0]
    mv = rep.multi_view(cloud, 4, resolution=32)
    assert mv.depths.shape == (4, 32, 32) and np.array_equal(mv.pooled, mv.depths.max(0))
    assert (mv.depths > 0).mean() > 0.2
    # Rotating the object by 360/K about the up axis permutes the views: the pooled image is unchanged.
    c, s = np.cos(np.pi / 2), np.sin(np.pi / 2)
    turned = cloud @ np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]], np.float32).T
    assert np.mean(np.abs(rep.multi_view(turned, 4, resolution=32).pooled - mv.pooled) < 1e-3) > 0.97
    v8, v16 = rep.voxelize(cloud, 8), rep.voxelize(cloud, 16)
    assert 0 < v8.occupied <= 512 and v16.occupied > v8.occupied
    assert v16.dense_bytes() == 8 * v8.dense_bytes() and v16.conv_flops() == 8 * v8.conv_flops()
    keys = np.floor((cloud + 1) / v8.size).astype(int)
    assert {tuple(k) for k in keys} == {tuple(k) for k in v8.indices}
    e = rep.knn_edges(cloud, 5)
    assert (e[:, 0] < e[:, 1]).all() and 512 * 5 / 2 <= len(e) <= 512 * 5
    assert len(rep.knn_edges(cloud, 10)) > len(e)
