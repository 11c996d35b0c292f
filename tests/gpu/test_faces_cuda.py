"""The faces cascade on the device named by LAB_TEST_DEVICE (see test_cuda_paths.py): the same boxes
and landmarks as on the CPU, and the cached stage outputs stay on the device."""

from __future__ import annotations

import pytest
import torch

from lab_app.core.control import Control
from lab_app.core.events import drain
from tests.gpu.test_cuda_paths import DEVICE, _unavailable_reason, exact_float32

pytestmark = [pytest.mark.skipif(_unavailable_reason() is not None, reason=_unavailable_reason() or ""),
              pytest.mark.slow]


def test_cascade_on_the_device_matches_the_cpu():
    pytest.importorskip("skimage")
    from lab_app.topics.pyramids import faces as F

    photo = F.load_photo("crowd", seed=3)
    cfg = F.FacesConfig(min_face=24)
    with exact_float32():
        _, dev = drain(F.cascade_task(photo, cfg, Control(DEVICE)))
        _, cpu = drain(F.cascade_task(photo, cfg, Control("cpu")))
    assert dev.img.device.type == DEVICE.type and dev.final.boxes.device.type == DEVICE.type
    assert len(dev.final) == len(cpu.final) > 0
    assert torch.allclose(dev.final.boxes.cpu(), cpu.final.boxes, atol=0.05)
    assert torch.allclose(dev.final.landmarks.cpu(), cpu.final.landmarks, atol=0.05)
    _, again = drain(F.cascade_task(photo, F.FacesConfig(min_face=24, t2=0.9), Control(DEVICE), cache=dev))
    assert again.final.scores.device.type == DEVICE.type and len(again.final) <= len(dev.final)
