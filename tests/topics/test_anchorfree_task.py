import numpy as np

from lab_app.core.control import Control
from lab_app.core.events import Progress, drain
from lab_app.detection.training import Trained, Weights
from lab_app.topics.anchorfree import task

_run = drain   # (events, result) of a task run to its end without a runner


def test_short_training_beats_the_untrained_model_and_saves_and_loads(tmp_path):
    cfg = task.AnchorFreeConfig(classes=1, max_objects=2, small_share=0.0, width=16, steps=120, lr=2e-3,
                                batch_size=4, image_size=128, eval_every=60, eval_scenes=16)
    untrained = task.build_model(cfg.model_config().to_dict())
    from lab_app.data.scenes import make_scenes
    from lab_app.detection.training import evaluate_model

    val = make_scenes(cfg.scenes(), cfg.eval_scenes, seed=cfg.seed + 7919)
    baseline = evaluate_model(untrained, val, 1)["map50"]
    events, trained = _run(task.train(cfg, None, Control()))
    assert isinstance(trained, Trained) and trained.metrics["steps"] == 120
    losses = [e.metrics["loss"] for e in events if isinstance(e, Progress) and "loss" in e.metrics]
    assert np.mean(losses[-4:]) < 0.7 * np.mean(losses[:4])
    assert any(isinstance(e, Weights) for e in events)
    assert trained.metrics["map50"] > baseline + 0.1
    path = task.SPEC.save(tmp_path / "cn.safetensors", trained)
    ready = task.SPEC.load(path)
    model, names = ready.model, ready.class_names
    assert names == ("circle",) and abs(ready.trained.metrics["map50"] - trained.metrics["map50"]) < 1e-9

    # the loaded model runs on any image size, boxes come back in the photo's pixels
    photo = np.zeros((300, 500, 3), np.uint8)
    res = task.detect(model, photo, names)
    assert res.heatmap.shape == (1, 32, 32) and res.letterbox.scale == 128 / 500
    assert len(res.candidates) > 0 and res.candidates.boxes[:, 2].max() <= 500


def test_drawn_box_targets_name_the_centre_cell_and_sizes():
    from lab_app.detection.postprocess import letterbox

    _, lb = letterbox(np.zeros((512, 512, 3), np.uint8), 256)   # scale 0.5
    t = task.box_targets(np.array([100, 60, 180, 100]), lb, task.AnchorFreeConfig().model_config())
    # model-input box (50, 30, 90, 50): centre (70, 40) / 4 = (17.5, 10)
    assert t.cell == (17, 10) and t.offset == (0.5, 0.0) and t.size == (10.0, 5.0)
    assert t.heatmap[10, 17] == 1.0 and t.heatmap.max() == 1.0 and t.heatmap[0, 0] == 0


def test_bad_checkpoint_is_refused_with_a_message(tmp_path):
    import pytest

    from lab_app.io.errors import LoadError

    bad = tmp_path / "x.safetensors"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(LoadError):
        task.SPEC.load(bad)


def test_fcos_head_trains_through_the_same_task_and_explains_a_drawn_box(tmp_path):
    from lab_app.detection.postprocess import letterbox

    cfg = task.AnchorFreeConfig(head="FCOS", classes=2, width=8, steps=20, batch_size=2, image_size=128,
                                eval_every=20, eval_scenes=4)
    events, trained = _run(task.train(cfg, None, Control()))
    terms = [e.metrics for e in events if isinstance(e, Progress) and "loss" in e.metrics]
    assert {"class", "giou", "centerness"} <= set(terms[0])
    ready = task.SPEC.load(task.SPEC.save(tmp_path / "f.safetensors", trained))
    model, names = ready.model, ready.class_names
    assert isinstance(model.cfg, task.FcosConfig)
    res = task.detect(model, np.zeros((100, 100, 3), np.uint8), names)
    assert res.heatmap.shape == (2, 32, 32) and len(res.candidates) == 300
    _, lb = letterbox(np.zeros((128, 128, 3), np.uint8), 128)
    t = task.fcos_box_targets(np.array([16, 16, 48, 32]), lb, model.cfg)
    assert t.positives == 8 * 4 and t.centerness.max() == t.centerness[t.cell[1], t.cell[0]]
    assert sum(t.ltrb[::2]) == 32 and sum(t.ltrb[1::2]) == 16
