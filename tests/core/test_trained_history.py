"""A checkpoint's training history comes back as the curves it was saved with; points that are not
(step, {name: number}) are dropped, and the weights still load (the detector and PointNet tabs replay
the history as their loss curves)."""

import torch

from lab_app.core.trained import Trained, cpu_state
from lab_app.topics.yolo import task as yolo


def test_a_loaded_history_keeps_its_points_and_drops_malformed_ones(tmp_path):
    torch.manual_seed(0)
    model = yolo.build_model({"num_classes": 3, "width": 8, "grid": 7, "boxes": 2})
    history = [[10, {"loss": 2.0}], "not a point", [20, {"loss": 1.5, "mAP@0.5": 0.3, "note": "text"}],
               [30, ["loss", 1.0]], [40, {"loss": 1.25}]]
    trained = Trained(cpu_state(model), model.cfg.to_dict(), ("circle", "square", "triangle"),
                      {"map50": 0.25}, history)
    path = yolo.SPEC.save(tmp_path / "h.safetensors", trained)
    ready = yolo.SPEC.load(path)
    assert ready.trained.history == [[10, {"loss": 2.0}], [20, {"loss": 1.5, "mAP@0.5": 0.3}],
                                     [40, {"loss": 1.25}]]
    assert ready.model.cfg.num_classes == 3
