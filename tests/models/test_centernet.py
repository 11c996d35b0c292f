import numpy as np
import torch
import torch.nn.functional as F

from lab_app.data.scenes import SceneConfig, make_scenes
from models.centernet import (
    CenterNet,
    CenterNetConfig,
    centernet_loss,
    decode_centernet,
    encode_centernet,
    gaussian_radius,
    max3x3,
    peaks,
)


def _targets_as_outputs(t):
    """Perfect predictions: the encoded targets themselves (heatmap as probabilities)."""
    return (torch.from_numpy(t["heatmap"])[None], torch.from_numpy(t["offset"])[None],
            torch.from_numpy(t["size"])[None])


def test_encode_then_decode_gives_back_the_ground_truth_boxes():
    cfg = CenterNetConfig(num_classes=5, input_size=256, stride=4)
    for sc in make_scenes(SceneConfig(size=256, max_objects=6), 8, seed=3):
        t = encode_centernet(sc.boxes, sc.labels, cfg)
        centres = (sc.boxes[:, :2] + sc.boxes[:, 2:]) / 2 // 4
        distinct = len({(int(k), int(x), int(y)) for k, (x, y) in zip(sc.labels, centres, strict=True)})
        boxes, scores, labels = decode_centernet(*_targets_as_outputs(t), stride=4, k=50)[0]
        keep = scores >= 1.0 - 1e-6            # exactly the centre cells hold 1
        assert int(keep.sum()) == distinct
        found = {tuple(np.round(b, 3)) + (int(k),) for b, k in zip(boxes[keep].numpy(), labels[keep].numpy(), strict=True)}
        for b, k in zip(sc.boxes, sc.labels, strict=True):
            if distinct == len(sc.boxes):
                assert tuple(np.round(b, 3)) + (int(k),) in found


def test_gaussian_radius_grows_with_size_and_keeps_iou():
    r_small, r_big = gaussian_radius(4, 4), gaussian_radius(40, 40)
    assert 0 < r_small < r_big
    # CornerNet's closed form (as in the official code): a shrunk box of side 40 - r still
    # overlaps the original with IoU (40 - r)^2 / 40^2 >= 0.7 - shrinking, not shifting, is its worst case
    assert (40 - r_big) ** 2 / 1600 >= 0.5 and r_big < 20
    assert abs(gaussian_radius(40, 40) - 2 * gaussian_radius(20, 20)) < 1e-6   # scale-equivariant


def test_maxpool_peaks_keep_only_local_maxima():
    heat = torch.zeros(1, 1, 5, 5)
    heat[0, 0, 2, 2], heat[0, 0, 2, 3], heat[0, 0, 0, 0] = 0.9, 0.5, 0.3
    p = peaks(heat)
    assert p[0, 0, 2, 2] == 0.9 and p[0, 0, 2, 3] == 0 and p[0, 0, 0, 0] == 0.3


def test_max3x3_is_the_papers_max_pool_exactly():
    g = torch.Generator().manual_seed(0)
    for x in (torch.rand(2, 3, 17, 23, generator=g),
              torch.rand(1, 16, 12, 12, generator=g).contiguous(memory_format=torch.channels_last)[:, :3],
              torch.randint(0, 3, (1, 2, 9, 9), generator=g).float()):      # ties
        assert torch.equal(max3x3(x), F.max_pool2d(x, 3, stride=1, padding=1))


def test_loss_is_lowest_for_the_targets_and_the_model_has_the_right_shapes():
    cfg = CenterNetConfig(num_classes=3, width=8, input_size=64)
    model = CenterNet(cfg)
    out = model(torch.rand(2, 3, 64, 64))
    assert out["heatmap"].shape == (2, 3, 16, 16) and out["size"].shape == (2, 2, 16, 16)
    boxes = np.array([[8, 8, 24, 30]], np.float32)
    t = {k: torch.from_numpy(v)[None] for k, v in encode_centernet(boxes, np.array([1]), cfg).items()}
    logits = torch.logit(t["heatmap"].clamp(1e-4, 1 - 1e-4))
    perfect = centernet_loss({"heatmap": logits, "offset": t["offset"], "size": t["size"]}, t)
    wrong = centernet_loss({"heatmap": torch.zeros_like(logits), "offset": t["offset"] + 0.5,
                            "size": t["size"] + 1}, t)
    assert perfect["loss"] < 0.05 and perfect["offset"] == 0 and perfect["size"] == 0
    assert wrong["loss"] > 10 * perfect["loss"]


def test_class_targets_name_each_objects_cells_and_the_smaller_object_keeps_its_own():
    cfg = CenterNetConfig(num_classes=3, input_size=256, stride=4)
    big = [40.0, 40.0, 200.0, 200.0]                 # centre cell (30, 30)
    small = [112.0, 112.0, 128.0, 128.0]             # centre cell (30, 30) too, inside the big one
    t = encode_centernet(np.array([small, big], np.float32), np.array([2, 1]), cfg)
    assert t["class_map"][30, 30] == 2 and t["class_weight"][30, 30] == 1.0
    assert t["class_map"][30, 36] == 1 and 0 < t["class_weight"][30, 36] < 1    # the big one's ring
    assert t["class_weight"][0, 0] == 0.0


def test_class_term_rewards_the_right_channel_and_is_off_at_weight_zero():
    cfg = CenterNetConfig(num_classes=3, input_size=64, stride=4)
    t = encode_centernet(np.array([[16.0, 16.0, 48.0, 48.0]], np.float32), np.array([1]), cfg)
    tgt = {k: torch.from_numpy(v)[None] for k, v in t.items()}
    zeros = torch.zeros(1, 2, 16, 16)

    def terms(right: float, wrong: float, weight: float):
        logits = torch.full((1, 3, 16, 16), -4.0)
        logits[0, 1][t["class_weight"] > 0] = right
        logits[0, 0][t["class_weight"] > 0] = wrong
        return centernet_loss({"heatmap": logits, "offset": zeros, "size": zeros}, tgt, class_weight=weight)

    good, bad = terms(2.0, -2.0, 1.0), terms(-2.0, 2.0, 1.0)
    assert good["class"] < 0.1 < 3.0 < bad["class"]
    off = terms(-2.0, 2.0, 0.0)
    assert "class" not in off and torch.isclose(off["loss"], bad["loss"] - bad["class"])


def test_every_cell_near_a_centre_decodes_its_objects_box_and_the_giou_term_scores_it():
    from models.centernet import decoded_boxes

    cfg = CenterNetConfig(num_classes=2, input_size=128, stride=4)
    boxes = np.array([[10.0, 20.0, 70.0, 60.0], [80.0, 80.0, 96.0, 100.0]], np.float32)
    t = encode_centernet(boxes, np.array([0, 1]), cfg)
    near = t["box_weight"] > 0
    assert near.sum() > 2 and np.array_equal(near & (t["mask"] > 0), t["mask"] > 0)
    rows, cols = np.nonzero(near)
    owner = {tuple(b) for b in (t["box"][:, rows, cols].T * 4).tolist()}
    assert owner == {tuple(b) for b in boxes.tolist()}            # each near cell names one of the two
    # Outputs that decode each near cell's box exactly: offset = box centre - cell, size = box size.
    b = torch.from_numpy(t["box"])
    ys, xs = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    offset = torch.stack([(b[0] + b[2]) / 2 - xs, (b[1] + b[3]) / 2 - ys])[None]
    size = torch.stack([b[2] - b[0], b[3] - b[1]])[None]
    assert torch.allclose(decoded_boxes(offset, size)[0][torch.from_numpy(near)], b.permute(1, 2, 0)[near], atol=1e-5)
    tgt = {k: torch.from_numpy(v)[None] for k, v in t.items()}
    heat = torch.zeros(1, 2, 32, 32)
    perfect = centernet_loss({"heatmap": heat, "offset": offset, "size": size}, tgt, box_weight=2.0)
    shrunk = centernet_loss({"heatmap": heat, "offset": offset, "size": size * 0.5}, tgt, box_weight=2.0)
    assert perfect["GIoU"] < 1e-5 and shrunk["GIoU"] > 0.3
