"""ModelSlot: which model a tab uses after a run, also when the run went to the worker process and
its model came back as a copy."""

import pickle
from pathlib import Path

from lab_app.core.trained import ModelRun, ModelSlot, Ready


def _ready(name: str, origin: str = "trained") -> Ready:
    return Ready({"weights": name}, ("a", "b"), None, origin)


def _copied(run: ModelRun) -> ModelRun:
    return pickle.loads(pickle.dumps(run))        # as the worker process sends it back


def test_a_run_of_the_model_in_use_is_not_a_new_model_even_as_a_copy():
    slot = ModelSlot()
    slot.offer(_ready("first"))
    source = slot.start()
    assert slot.finished(_copied(ModelRun(source, None, None)))     # the offered model: new
    in_use = slot.ready
    assert slot.start() is in_use
    assert not slot.finished(_copied(ModelRun(in_use, "boxes", None)))   # the same model, run again
    assert slot.ready is in_use


def test_a_loaded_checkpoint_is_new_once_and_then_in_use():
    slot = ModelSlot()
    slot.load(Path("model.safetensors"))
    slot.start()
    loaded = _ready("from file", origin="checkpoint")
    assert slot.finished(_copied(ModelRun(loaded, None, None))) and slot.pending is None
    assert slot.ready.model == {"weights": "from file"}
    slot.start()
    assert not slot.finished(_copied(ModelRun(slot.ready, "boxes", None)))
