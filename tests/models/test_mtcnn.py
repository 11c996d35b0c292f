"""Our MTCNN: the pyramid's level count, the vendored weights against the wheel's, and the boxes
against facenet-pytorch's own implementation (fixtures/make_mtcnn_reference.py made the fixture by
running that code from the wheel)."""

import json
import math
import os
import pickle
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from models import mtcnn as M

FIXTURES = Path(__file__).parent / "fixtures"
REFERENCE = json.loads((FIXTURES / "mtcnn_reference.json").read_text())
sys.path.insert(0, str(FIXTURES))
from make_mtcnn_reference import case_image  # noqa: E402


@pytest.fixture(scope="module")
def model():
    from lab_app.topics.pyramids.faces import load_mtcnn

    return load_mtcnn("cpu")


@pytest.mark.parametrize("h,w,min_face,factor", [
    (512, 512, 20, 0.709), (480, 640, 12, 0.709), (480, 640, 8, 0.709), (300, 451, 40, 0.5),
    (1067, 1600, 20, 0.8), (100, 37, 36, 0.709), (37, 100, 37, 0.709), (64, 64, 16, 0.9)])
def test_level_count_formula_is_the_pyramid_built(h, w, min_face, factor):
    scales = M.pyramid_scales(h, w, min_face, factor)
    assert M.level_count(h, w, min_face, factor) == len(scales)
    # the formula's meaning: the last level still shows a min_face face at >= 12 px, the next would not
    assert min(h, w) * scales[-1] >= 12 > min(h, w) * scales[-1] * factor
    assert scales[0] == pytest.approx(12 / min_face)
    assert all(b / a == pytest.approx(factor) for a, b in zip(scales, scales[1:]))


def test_halving_min_face_quadruples_pnet_pixels():
    def pixels(mf):
        return sum(a * b for a, b in (M.level_shape(480, 640, s) for s in M.pyramid_scales(480, 640, mf)))

    assert pixels(10) / pixels(20) == pytest.approx(4.0, rel=0.05)


def test_image_smaller_than_min_face_has_no_level():
    assert M.level_count(8, 8, 20) == 0 and M.pyramid_scales(8, 8, 20) == []


def test_vendored_weights_load_without_unpickling_and_match_the_wheel(monkeypatch):
    from lab_app.topics.pyramids.faces import load_mtcnn

    def refuse(*a, **k):
        raise AssertionError("unpickling while loading the vendored weights")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    model = load_mtcnn.__wrapped__("cpu")
    for net, tensors in REFERENCE["weights"].items():
        state = getattr(model, net).state_dict()
        assert set(state) == set(tensors), net
        for name, ref in tensors.items():
            t = state[name].double()
            assert list(t.shape) == ref["shape"], name
            assert float(t.sum()) == pytest.approx(ref["sum"], rel=1e-12, abs=1e-9), name
            assert float(t.abs().sum()) == pytest.approx(ref["abs_sum"], rel=1e-12), name
            assert t.flatten()[:4].tolist() == ref["first"], name


@pytest.mark.skipif(not os.environ.get("LAB_FACENET_WHEEL"),
                    reason="set LAB_FACENET_WHEEL to the wheel's path")
def test_vendored_weights_equal_the_wheels_tensors_exactly(model):
    import io

    with zipfile.ZipFile(os.environ["LAB_FACENET_WHEEL"]) as zf:
        for net in M.NET_NAMES:
            state = torch.load(io.BytesIO(zf.read(f"facenet_pytorch/data/{net}.pt")), weights_only=True)
            ours = getattr(model, net).state_dict()
            assert all(torch.equal(ours[k], v) for k, v in state.items())


@pytest.mark.parametrize("case", REFERENCE["cases"], ids=[c["name"] for c in REFERENCE["cases"]])
def test_boxes_and_landmarks_match_facenet_pytorch(model, case):
    final = model.detect(case_image(case["image"]), case["min_face"], case["factor"], case["thresholds"])
    ref_boxes = np.asarray(case["boxes"]).reshape(-1, 4)
    assert len(final) == len(ref_boxes) > 0
    ours = final.boxes.numpy()
    diff = np.abs(ref_boxes[:, None, :] - ours[None]).max(2)
    pair = diff.argmin(1)
    assert len(set(pair.tolist())) == len(ref_boxes)                 # one to one
    assert diff.min(1).max() <= 1.0                                  # within a pixel
    assert np.abs(np.asarray(case["landmarks"]) - final.landmarks.numpy()[pair]).max() <= 1.0
    assert np.abs(np.asarray(case["scores"]) - final.scores.numpy()[pair]).max() <= 1e-3


def test_lfw_mosaic_finds_each_of_its_sixteen_faces_once(model):
    final = model.detect(case_image("lfw_mosaic"))
    cx = (final.boxes[:, 0] + final.boxes[:, 2]).numpy() / 2
    cy = (final.boxes[:, 1] + final.boxes[:, 3]).numpy() / 2
    cells = sorted(zip((cy // 75).astype(int).tolist(), (cx // 75).astype(int).tolist()))
    assert cells == [(r, c) for r in range(4) for c in range(4)]


def test_square_keeps_the_centre_and_takes_the_longer_side():
    out = M.square(torch.tensor([[10.0, 20.0, 30.0, 60.0]]))
    assert out.tolist() == [[0.0, 20.0, 40.0, 60.0]]


def test_regress_moves_edges_by_offsets_times_plus_one_widths():
    out = M.regress(torch.tensor([[0.0, 0.0, 9.0, 19.0]]), torch.tensor([[0.1, -0.1, 0.2, 0.0]]))
    assert out[0].tolist() == pytest.approx([1.0, -2.0, 11.0, 19.0])


def test_min_nms_drops_a_box_inside_a_bigger_one_that_iou_would_keep():
    from torchvision.ops import nms

    boxes = torch.tensor([[0.0, 0.0, 99.0, 99.0], [10.0, 10.0, 39.0, 39.0], [200.0, 0.0, 240.0, 40.0]])
    scores = torch.tensor([0.9, 0.95, 0.8])
    # the big box holds the better-scored small one: intersection / smaller area = 1 drops it
    assert sorted(M.nms_min(boxes, scores, 0.7).tolist()) == [1, 2]
    assert sorted(nms(boxes, scores, 0.7).tolist()) == [0, 1, 2]        # IoU 0.09 keeps all three


def test_pnet_windows_map_back_to_image_pixels():
    # One level at scale 0.5: cell (x=3, y=1) saw the level's 12 px window from (6, 2); in the image
    # (the reference's rounding) floor((2 cell + 1) / scale) to floor((2 cell + 12) / scale)
    maps = M.PNetMaps([0.5], [torch.zeros(5, 6)], [torch.zeros(4, 5, 6)], [(20, 22)])
    maps.probs[0][1, 3] = 0.9
    props = M.pnet_propose(maps, 0.6, (40, 44))
    assert props.raw.boxes.tolist() == [[math.floor(7 / 0.5), math.floor(3 / 0.5),
                                         math.floor(18 / 0.5), math.floor(14 / 0.5)]]
    assert len(props.candidates) == 1 and props.raw.levels.tolist() == [0]
