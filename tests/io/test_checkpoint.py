"""Checkpoints: one format (safetensors + a JSON header); never unpickled; another tab's file, an
unknown architecture, a cut-short file and a pickle are refused with a message naming the file."""

from __future__ import annotations

import json

import pytest
import torch

from lab_app.io import LoadError, load_any, save_checkpoint
from lab_app.io.checkpoint import (
    Checkpoint,
    checkpoint_tab,
    load_checkpoint,
    load_state_into,
    peek_checkpoint,
)


@pytest.fixture
def state():
    torch.manual_seed(0)
    return {"layer.weight": torch.randn(4, 3), "layer.bias": torch.zeros(4)}


def _ckpt(state, tab="pointcloud", arch="pointnet", **kw):
    return Checkpoint(tab, arch, state, {"k": 3}, ("a", "b"), {"acc": 0.5}, seed=7, **kw)


def test_round_trip(tmp_path, state):
    path = save_checkpoint(tmp_path / "m.safetensors", _ckpt(state, extra={"note": "x"}))
    back = load_checkpoint(path, tab="pointcloud", architectures=("pointnet",))
    assert set(back.state_dict) == set(state)
    for k in state:
        assert torch.equal(back.state_dict[k], state[k])
    assert (back.tab, back.architecture, back.config, back.class_names) == ("pointcloud", "pointnet", {"k": 3},
                                                                             ("a", "b"))
    assert back.metrics == {"acc": 0.5} and back.seed == 7 and back.extra == {"note": "x"}
    assert {"lab", "torch", "numpy", "python"} <= set(back.versions)
    assert load_any(path)[0] == "checkpoint"
    assert peek_checkpoint(path)["tab"] == "pointcloud" == checkpoint_tab(path)


def test_checkpoint_of_another_tab_is_refused(tmp_path, state):
    path = save_checkpoint(tmp_path / "m.safetensors", _ckpt(state, tab="yolo", arch="yolo-v1"))
    with pytest.raises(LoadError) as info:
        load_checkpoint(path, tab="pointcloud")
    msg = str(info.value)
    assert msg.startswith("m.safetensors: ") and "yolo" in msg and "pointcloud" in msg


def test_unknown_architecture_is_refused(tmp_path, state):
    path = save_checkpoint(tmp_path / "m.safetensors", _ckpt(state, arch="pointnet++"))
    with pytest.raises(LoadError, match=r"m.safetensors: .*unknown architecture 'pointnet\+\+'.*pointnet"):
        load_checkpoint(path, tab="pointcloud", architectures=("pointnet",))


def test_mismatched_weights_are_a_load_error(tmp_path, state):
    path = save_checkpoint(tmp_path / "m.safetensors", _ckpt(state))
    with pytest.raises(LoadError, match="m.safetensors: the weights do not fit the pointnet model"):
        load_state_into(torch.nn.Linear(5, 4), load_checkpoint(path), path)


def test_truncated_file(tmp_path, state):
    path = save_checkpoint(tmp_path / "m.safetensors", _ckpt(state))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 20])
    with pytest.raises(LoadError, match="m.safetensors: "):
        load_checkpoint(path)


def test_safetensors_without_the_lab_header(tmp_path, state):
    from safetensors.torch import save_file

    save_file(state, str(tmp_path / "hub.safetensors"))
    with pytest.raises(LoadError, match="hub.safetensors: .*without the lab's header"):
        load_checkpoint(tmp_path / "hub.safetensors")


def test_newer_format_is_refused(tmp_path, state):
    from safetensors.torch import save_file

    save_file(state, str(tmp_path / "new.safetensors"), metadata={"lab": json.dumps({"format": 99, "tab": "vae"})})
    with pytest.raises(LoadError, match="newer lab"):
        load_checkpoint(tmp_path / "new.safetensors")


def test_legacy_format_still_loads(tmp_path, state):
    from safetensors.torch import save_file

    meta = {"model": "yolo-v1", "config": json.dumps({"grid": 7}),
            "card": json.dumps({"class_names": ["circle"], "metrics": {"map50": 0.9}, "history": [1]})}
    save_file(state, str(tmp_path / "old.safetensors"), metadata=meta)
    back = load_checkpoint(tmp_path / "old.safetensors", tab="yolo", architectures=("yolo-v1",))
    assert back.config == {"grid": 7} and back.class_names == ("circle",) and back.metrics == {"map50": 0.9}
    assert back.extra["history"] == [1]


def test_checkpoint_tab_of_legacy_files_without_decoding_a_card_that_names_none(tmp_path, state, monkeypatch):
    """Routing a dropped file reads what names its tab: a legacy card (the shipped detectors' hold their
    training history) is decoded only when it has a tab of its own, which then wins as in the header."""
    from safetensors.torch import save_file

    history = [{"step": i, "loss": 1.0 / (i + 1)} for i in range(5000)]
    save_file(state, str(tmp_path / "old.safetensors"),
              metadata={"model": "yolo-v1", "config": "{}", "card": json.dumps({"history": history})})
    save_file(state, str(tmp_path / "named.safetensors"),
              metadata={"model": "yolo-v1", "config": "{}", "card": json.dumps({"tab": "anchorfree"})})
    assert peek_checkpoint(tmp_path / "old.safetensors")["tab"] == "yolo"
    assert peek_checkpoint(tmp_path / "named.safetensors")["tab"] == "anchorfree"
    decoded, real_loads = [], json.loads

    def loads(text, *args, **kwargs):
        decoded.append(text)
        return real_loads(text, *args, **kwargs)

    monkeypatch.setattr(json, "loads", loads)
    assert checkpoint_tab(tmp_path / "old.safetensors") == "yolo" and decoded == []
    assert checkpoint_tab(tmp_path / "named.safetensors") == "anchorfree" and decoded
    with pytest.raises(LoadError, match="hub.safetensors: .*without the lab's header"):
        save_file(state, str(tmp_path / "hub.safetensors"))
        checkpoint_tab(tmp_path / "hub.safetensors")


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
