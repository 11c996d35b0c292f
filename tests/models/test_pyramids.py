"""The pyramid models: FPN shapes and strides, the level rule, the image-pyramid merge, SNIP's ranges."""

import numpy as np
import pytest
import torch

from models.pyramids import (PyramidConfig, PyramidDetector, SnipConfig, SnipTrainer, assign_levels, decode,
                             encode, in_valid_range, merge_scales)


def test_fpn_gives_p3_to_p6_at_strides_8_to_64_and_boxes_on_their_grids():
    torch.manual_seed(0)
    cfg = PyramidConfig(num_classes=2, width=8, channels=16, input_size=256, arch="fpn")
    net = PyramidDetector(cfg).eval()
    out = net(torch.rand(2, 3, 256, 256))
    assert [tuple(m.shape) for m in out["cls"]] == [(2, 2, 32, 32), (2, 2, 16, 16), (2, 2, 8, 8), (2, 2, 4, 4)]
    assert [tuple(m.shape) for m in out["features"]] == [(2, 16, 32, 32), (2, 16, 16, 16), (2, 16, 8, 8), (2, 16, 4, 4)]
    assert cfg.strides == (8, 16, 32, 64)
    # with all distances zeroed, each candidate box collapses onto its cell centre: (i + 1/2) * stride
    zero = {**out, "ltrb": [torch.zeros_like(m) for m in out["ltrb"]]}
    boxes, _, _, level = decode(zero, cfg, k=10_000)[0]
    for i, stride in enumerate(cfg.strides):
        centres = boxes[level == i][:, 0].numpy()
        assert np.allclose((centres / stride - 0.5) % 1, 0) and centres.max() == 256 - stride / 2
    single = PyramidDetector(PyramidConfig(num_classes=2, width=8, input_size=256, arch="single")).eval()
    assert [tuple(m.shape) for m in single(torch.rand(1, 3, 256, 256))["cls"]] == [(1, 2, 32, 32)]


def test_level_rule_puts_each_size_where_the_formula_says():
    # k = floor(4 + log2(sqrt(wh) / 32)), clamped to 3..6
    sizes = {5: 3, 16: 3, 31.9: 3, 32: 4, 63: 4, 64: 5, 127: 5, 128: 6, 400: 6}
    boxes = np.array([[0, 0, s, s] for s in sizes], np.float32)
    assert assign_levels(boxes).tolist() == list(sizes.values())
    # a 2:1 box counts by sqrt(w h): 128 x 32 -> sqrt = 64 -> P5
    assert assign_levels(np.array([[0, 0, 128, 32]])).tolist() == [5]
    # encoding: the object's positives exist only on its own level
    cfg = PyramidConfig(num_classes=1, input_size=256)
    t = encode(np.array([[100, 100, 148, 148]]), np.array([0]), cfg)     # 48 px -> P4
    assert set(t["level"][t["pos"] > 0].tolist()) == {4}
    assert t["pos"].sum() == 9                           # centre sampling: 3 x 3 cells of stride 16 (radius 1.5)


def test_image_pyramid_merge_maps_boxes_back_exactly():
    at_2x = (torch.tensor([[20.0, 40.0, 60.0, 100.0]]), torch.tensor([0.9]), torch.tensor([1]))
    at_half = (torch.tensor([[10.0, 10.0, 50.0, 30.0]]), torch.tensor([0.8]), torch.tensor([0]))
    b, s, lab, lev = merge_scales([at_2x, at_half], [2.0, 0.5])
    assert b.tolist() == [[10.0, 20.0, 30.0, 50.0], [20.0, 20.0, 100.0, 60.0]]
    assert lev.tolist() == [0, 1] and lab.tolist() == [1, 0]
    # the same object found at both scales: NMS keeps the better-scored one
    same = (torch.tensor([[20.0, 40.0, 60.0, 100.0]]) / 4, torch.tensor([0.5]), torch.tensor([1]))
    b, s, _, lev = merge_scales([at_2x, same], [2.0, 0.5])
    assert len(b) == 1 and s.tolist() == [pytest.approx(0.9)] and lev.tolist() == [0]


def test_snip_range_filter_keeps_exactly_the_in_range_objects():
    sides = np.array([10, 23.9, 24, 50, 112, 112.5])
    boxes = np.stack([np.zeros(6), np.zeros(6), sides, sides], 1)
    assert in_valid_range(boxes, (24, 112)).tolist() == [False, False, True, True, True, False]
    # at test time: a scale's boxes outside its range are dropped (sizes measured after mapping back)
    found = (torch.tensor([[0.0, 0.0, 20.0, 20.0], [0.0, 0.0, 100.0, 100.0]]), torch.tensor([0.9, 0.8]),
             torch.tensor([0, 0]))
    b, *_ = merge_scales([found], [2.0], valid=[(0.0, 40.0)])
    assert b.tolist() == [[0.0, 0.0, 10.0, 10.0]]
    # in training: an out-of-range object is ignored (no positive, no background) at that scale
    cfg = SnipConfig(PyramidConfig(num_classes=1, width=8, input_size=128, arch="single").to_dict(),
                     factors=(0.5, 2.0), valid=((60.0, 1e4), (0.0, 40.0)))
    t = SnipTrainer(cfg).encode(np.array([[10, 10, 30, 30], [40, 40, 120, 120]], np.float32), np.array([0, 0]))
    # 0.5x learns the 80 px object only; 2x the 20 px one only
    assert t["s0_pos"].sum() > 0 and t["s1_pos"].sum() > 0
    small_at_half = t["s0_weight"].reshape(8, 8)[1, 1]       # the 20 px box's centre cell at 0.5x (stride 8)
    assert small_at_half == 0 and t["s0_pos"].reshape(8, 8)[1, 1] == 0
    big_at_2x = t["s1_weight"].reshape(32, 32)[20, 20]        # the 80 px box's centre at 2x: (160, 160) / 8
    assert big_at_2x == 0 and t["s1_pos"].reshape(32, 32)[20, 20] == 0
    assert t["s1_pos"].reshape(32, 32)[5, 5] == 1             # the 20 px box's centre at 2x: (40, 40) / 8


def test_snip_trains_each_step_at_one_scale_in_turn_with_that_scales_targets():
    torch.manual_seed(0)
    cfg = SnipConfig(PyramidConfig(num_classes=1, width=8, input_size=128, arch="single").to_dict(),
                     factors=(0.5, 1.0, 2.0), valid=((60.0, 1e4), (20.0, 70.0), (0.0, 40.0)))
    snip = SnipTrainer(cfg).train()
    boxes, labels = np.array([[10, 10, 30, 30], [40, 40, 120, 120]], np.float32), np.array([0, 0])
    per_image = [snip.encode(boxes, labels) for _ in range(4)]
    tgt = {k: torch.from_numpy(np.stack([t[k] for t in per_image])) for k in per_image[0]}
    sides = []
    for step in range(4):                          # the whole batch at 0.5x, 1x, 2x, then 0.5x again
        j, out = snip(torch.rand(4, 3, 128, 128))
        assert j == step % 3 and out["cls"][0].shape[0] == 4
        sides.append(out["cls"][0].shape[-1])
        # the loss reads that scale's targets: the positives it normalises by are those of scale j
        loss = snip.loss((j, out), tgt)
        expected = snip.detector.loss(out, {k[3:]: v for k, v in tgt.items() if k.startswith(f"s{j}_")})
        assert torch.allclose(loss["loss"], expected["loss"])
    assert sides == [8, 16, 32, 8]
    # another scale's targets do not even fit this scale's map
    j, out = snip(torch.rand(4, 3, 128, 128))
    assert j == 1
    with pytest.raises((RuntimeError, ValueError)):
        snip.detector.loss(out, {k[3:]: v for k, v in tgt.items() if k.startswith("s0_")})
