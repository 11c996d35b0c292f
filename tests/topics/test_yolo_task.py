from dataclasses import replace

import numpy as np

from lab_app.core.control import Control
from lab_app.core.events import Progress
from lab_app.data.scenes import make_scenes
from lab_app.detection.training import Trained, evaluate_model
from lab_app.topics.yolo import task


def test_short_training_lowers_every_loss_term_and_beats_the_untrained_model(tmp_path):
    # extra_objects=0: the loss terms are compared early vs late, on training scenes like the evaluated
    # ones (summed over up to 18 objects a 128 px scene, the coordinate term swings more than it falls)
    cfg = task.Config(classes=1, max_objects=2, small_share=0.0, width=16, grid=8, steps=120, lr=2e-3,
                      batch_size=4, image_size=128, eval_every=60, eval_scenes=16, extra_objects=0)
    val = make_scenes(cfg.scenes(), cfg.eval_scenes, seed=cfg.seed + 7919)
    baseline = evaluate_model(task.build_model(cfg.model_config().to_dict()), val, 1)["map50"]
    gen = task.train(cfg, None, Control())
    events = []
    try:
        while True:
            events.append(next(gen))
    except StopIteration as stop:
        trained = stop.value
    assert isinstance(trained, Trained)
    terms = [e.metrics for e in events if isinstance(e, Progress) and "coord" in e.metrics]
    assert set(terms[0]) == {"loss", "coord", "object", "no-object", "class"}
    first, last = terms[:4], terms[-4:]
    assert np.mean([m["loss"] for m in last]) < 0.6 * np.mean([m["loss"] for m in first])
    assert np.mean([m["coord"] for m in last]) < np.mean([m["coord"] for m in first])
    assert trained.metrics["map50"] > max(3 * baseline, baseline + 0.02)   # YOLO v1 starts slowly
    ready = task.SPEC.load(task.SPEC.save(tmp_path / "y.safetensors", trained))
    model, names = ready.model, ready.class_names
    res = task.detect(model, np.zeros((64, 256, 3), np.uint8), names)
    assert res.cell_boxes.shape == (8, 8, 2, 4) and len(res.candidates) == 128
    assert res.cell_at(10, 10) == (0, 0) and res.cell_at(255, 255) == (7, 7) and res.cell_at(300, 10) is None


def test_drawn_box_picks_the_cell_and_the_best_box():
    from lab_app.detection.postprocess import Detections, letterbox

    _, lb = letterbox(np.zeros((256, 256, 3), np.uint8), 256)
    cells = np.zeros((7, 7, 2, 4), np.float32)
    cells[2, 3, 0] = [0, 0, 10, 10]                 # far from the drawn box
    cells[2, 3, 1] = [100, 70, 140, 110]            # on it
    res = task.Inference(np.zeros((256, 256, 3), np.uint8), lb, Detections.empty(), cells,
                         np.zeros((7, 7, 2)), np.zeros((7, 7, 3)), ("a", "b", "c"))
    t = task.box_targets(np.array([100, 70, 140, 110]), res, replace(task.Config(), grid=7).model_config())
    # centre (120, 90): cell 256 / 7 = 36.6 px -> col 3, row 2
    assert t.cell == (3, 2) and t.responsible_box == 1 and t.ious[1] == 1.0 and t.ious[0] == 0.0
    assert np.allclose(t.xy, (120 / 256 * 7 - 3, 90 / 256 * 7 - 2))
    assert np.allclose(t.sqrt_wh, np.sqrt([40 / 256, 40 / 256]))
