import pytest
import torch

from lab_app.detection import pretrained


def test_missing_weights_give_a_plain_message_and_no_download(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    for name in pretrained.PRETRAINED_NAMES:
        with pytest.raises(pretrained.PretrainedUnavailable) as e:
            pretrained.load_pretrained(name)
        assert "not in the torch hub cache" in str(e.value) and str(tmp_path) in str(e.value)
    assert not any(tmp_path.rglob("*.pth"))


def test_a_corrupt_cached_file_is_refused_with_a_message(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    name = pretrained.PRETRAINED_NAMES[2]
    path = pretrained.cached_weights(name)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"truncated")
    with pytest.raises(pretrained.PretrainedUnavailable, match="could not be loaded"):
        pretrained.load_pretrained(name)


def test_cached_weights_load_and_detect(tmp_path, monkeypatch):
    """A cached file in torchvision's own format works (random weights stand in for the real ones)."""
    from torchvision.models import detection as d

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    name = pretrained.PRETRAINED_NAMES[2]
    path = pretrained.cached_weights(name)
    path.parent.mkdir(parents=True)
    torch.save(d.fasterrcnn_mobilenet_v3_large_320_fpn(weights=None, weights_backbone=None, num_classes=91)
               .state_dict(), path)
    model, names = pretrained.load_pretrained(name)
    assert len(names) == 91 and names[1] == "person"
    import numpy as np

    det = pretrained.detect_pretrained(model, np.zeros((60, 80, 3), np.uint8))
    assert det.boxes.shape[1] == 4 and (len(det) == 0 or det.boxes[:, 2].max() <= 80)


def test_weight_file_names_are_torchvisions_and_availability_follows_the_cache(tmp_path, monkeypatch):
    from pathlib import Path

    for name in pretrained.PRETRAINED_NAMES:
        assert pretrained.WEIGHT_FILES[name] == Path(pretrained._registry()[name][1].url).name
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    assert pretrained.available() == ()
    path = pretrained.cached_weights(pretrained.PRETRAINED_NAMES[1])
    path.parent.mkdir(parents=True)
    path.write_bytes(b"x")
    assert pretrained.available() == (pretrained.PRETRAINED_NAMES[1],)
