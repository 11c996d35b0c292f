"""Checkpoints: safetensors + JSON card; never unpickled; another model's file is refused."""

from __future__ import annotations

import pytest
import torch

from lab_app.io import LoadError, load_any, save_checkpoint
from lab_app.io.checkpoint import load_checkpoint


@pytest.fixture
def state():
    torch.manual_seed(0)
    return {"layer.weight": torch.randn(4, 3), "layer.bias": torch.zeros(4)}


def test_round_trip(tmp_path, state):
    path = save_checkpoint(tmp_path / "m.safetensors", state, model="pointnet", config={"k": 3},
                           card={"seed": 1})
    tensors, config, card = load_checkpoint(path, model="pointnet")
    assert set(tensors) == set(state)
    for k in state:
        assert torch.equal(tensors[k], state[k])
    assert config == {"k": 3} and card == {"seed": 1}
    assert load_any(path)[0] == "checkpoint"


def test_checkpoint_of_another_model_is_refused(tmp_path, state):
    path = save_checkpoint(tmp_path / "m.safetensors", state, model="centernet")
    with pytest.raises(LoadError) as info:
        load_checkpoint(path, model="pointnet")
    msg = str(info.value)
    assert msg.startswith("m.safetensors: ") and "centernet" in msg and "pointnet" in msg


def test_non_safetensors_file(tmp_path, state):
    path = tmp_path / "fake.safetensors"
    torch.save(state, path)  # a pickle-based zip, not safetensors
    with pytest.raises(LoadError) as info:
        load_checkpoint(path)
    assert str(info.value).startswith("fake.safetensors: not a readable safetensors checkpoint")


def test_text_named_safetensors(tmp_path):
    path = tmp_path / "notes.safetensors"
    path.write_text("hello world, not weights")
    with pytest.raises(LoadError, match="safetensors"):
        load_checkpoint(path)


def test_empty(tmp_path):
    (tmp_path / "e.safetensors").write_bytes(b"")
    with pytest.raises(LoadError, match="empty"):
        load_checkpoint(tmp_path / "e.safetensors")
