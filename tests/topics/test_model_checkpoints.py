"""One checkpoint code (lab_app.core.trained.ModelSpec) for YOLO, the anchor-free heads and PointNet:
a saved model loads back to the same outputs, and every kind of wrong file is refused with a
message naming it. No Qt."""

import pickle

import numpy as np
import pytest
import torch

from lab_app.core.control import Control
from lab_app.core.events import drain
from lab_app.core.trained import ModelRun, Trained, Weights, cpu_state
from lab_app.data.scenes import SceneConfig, make_scene
from lab_app.detection.detector import detector_run
from lab_app.detection.tta import PLAIN
from lab_app.io.checkpoint import Checkpoint, save_checkpoint
from lab_app.io.errors import LoadError
from lab_app.topics.anchorfree import task as anchorfree
from lab_app.topics.pointcloud import pointnet_task as pointnet
from lab_app.topics.yolo import task as yolo


def _trained(model, names) -> Trained:
    return Trained(cpu_state(model), model.cfg.to_dict(), tuple(names), {"map50": 0.5},
                   [[5, {"loss": 1.25}]], {"seed": 3}, {"note": "test"})


DETECTORS = {
    "yolo": (yolo, {"num_classes": 2, "width": 8, "grid": 7, "boxes": 2, "input_size": 128}),
    "centernet": (anchorfree, {"num_classes": 2, "width": 8, "input_size": 128}),
    "fcos": (anchorfree, {"arch": "fcos", "num_classes": 2, "width": 8, "input_size": 128}),
}


@pytest.mark.parametrize("name", list(DETECTORS))
def test_a_detector_round_trips_to_identical_outputs(name, tmp_path):
    task, config = DETECTORS[name]
    torch.manual_seed(1)
    model = task.build_model(config)
    path = task.SPEC.save(tmp_path / f"{name}.safetensors", _trained(model, ("circle", "square")))
    ready = task.SPEC.load(path)
    assert ready.origin == "checkpoint" and ready.path == path and ready.class_names == ("circle", "square")
    assert ready.trained.history == [[5, {"loss": 1.25}]] and ready.trained.train_config == {"seed": 3}
    assert ready.trained.extra["note"] == "test" and ready.trained.metrics == {"map50": 0.5}
    image = make_scene(SceneConfig(size=128, classes=2), 5).image
    a = task.detect(model, image, ready.class_names)
    b = task.detect(ready.model, image, ready.class_names)
    assert len(a.candidates) > 0
    assert np.array_equal(a.candidates.boxes, b.candidates.boxes) and np.array_equal(a.candidates.scores,
                                                                                      b.candidates.scores)
    # the runner's task builds the same model from every kind of source
    live = Weights(ready.trained.state, ready.trained.model_config, ("a", "b"), 7)
    for source in (path, ready.trained, live):
        _, run = drain(detector_run(task.SPEC, task.detect, source, image, PLAIN, Control()))
        assert isinstance(run, ModelRun) and run.inputs is image
        assert np.array_equal(run.output.candidates.scores, a.candidates.scores)
    assert run.ready.origin == "weights" and run.ready.step == 7 and run.ready.class_names == ("a", "b")


def test_pointnet_round_trips_to_identical_outputs(tmp_path):
    torch.manual_seed(2)
    config = pointnet.TrainConfig(global_width=64).model_config(3, 256).to_dict()
    model = pointnet.build_model(config)
    trained = Trained(cpu_state(model), config, ("a", "b", "c"), {"test_accuracy": 0.5}, [],
                      {"seed": 0}, {"confusion": [[1, 0, 0], [0, 2, 0], [0, 0, 3]], "data": "test"})
    path = pointnet.SPEC.save(tmp_path / "pn.safetensors", trained)
    cloud = np.random.default_rng(0).normal(size=(256, 3)).astype(np.float32)
    _, run = drain(pointnet.classify_run(path, cloud, "blob", 256, 0, Control()))
    direct = pointnet.classify(model, run.inputs.points, ("a", "b", "c"))
    assert np.array_equal(run.output.probabilities, direct.probabilities)
    assert np.array_equal(run.output.critical, direct.critical)
    assert np.array_equal(pointnet.confusion_of(run.ready.trained), np.diag([1, 2, 3]))


def _wrong_files(tmp_path, tab, arch):
    """(file, what the message must say) for each way a file can be wrong for ``tab``."""
    other = "yolo" if tab != "yolo" else "anchorfree"
    save_checkpoint(tmp_path / "other.safetensors", Checkpoint(other, "x", {"w": torch.zeros(2)}))
    save_checkpoint(tmp_path / "arch.safetensors", Checkpoint(tab, "resnet-9000", {"w": torch.zeros(2)}))
    save_checkpoint(tmp_path / "unfit.safetensors", Checkpoint(tab, arch, {"w": torch.zeros(2)},
                                                               {"num_classes": 2}, ("a", "b")))
    good = tmp_path / "good.safetensors"
    save_checkpoint(good, Checkpoint(tab, arch, {"w": torch.zeros(1000)}))
    (tmp_path / "cut.safetensors").write_bytes(good.read_bytes()[:-1500])
    (tmp_path / "pickle.safetensors").write_bytes(pickle.dumps({"w": [0.0] * 10}))
    return [("other.safetensors", f"not of the {tab} tab"), ("arch.safetensors", "unknown architecture"),
            ("unfit.safetensors", "do not fit"), ("cut.safetensors", "not fully covered"),
            ("pickle.safetensors", "not a readable safetensors")]


@pytest.mark.parametrize("module", [yolo, anchorfree, pointnet], ids=["yolo", "anchorfree", "pointcloud"])
def test_every_wrong_file_is_refused_by_name(module, tmp_path):
    spec = module.SPEC
    for name, expect in _wrong_files(tmp_path, spec.tab, spec.architecture):
        with pytest.raises(LoadError) as e:
            module.SPEC.load(tmp_path / name)
        assert name in str(e.value) and expect in str(e.value), str(e.value)
