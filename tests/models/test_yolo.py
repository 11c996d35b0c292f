import numpy as np
import torch

from lab_app.data.scenes import SceneConfig, make_scenes
from models.yolo import YoloConfig, YoloV1, decode_yolo, encode_yolo, responsible_cell, yolo_loss


def test_responsible_cell_rule_on_hand_made_cases():
    # 448 px image, S = 7: cells of 64 px
    assert responsible_cell(0, 0, 7, 448) == (0, 0)
    assert responsible_cell(63.9, 64.0, 7, 448) == (0, 1)
    assert responsible_cell(200, 100, 7, 448) == (3, 1)
    assert responsible_cell(448, 448, 7, 448) == (6, 6)          # the far edge belongs to the last cell
    cfg = YoloConfig(num_classes=2, grid=7, input_size=448)
    t = encode_yolo(np.array([[100, 100, 300, 164]]), np.array([1]), cfg)   # centre (200, 132)
    assert t["obj"].sum() == 1 and t["obj"][2, 3] == 1
    assert np.allclose(t["xy"][2, 3], [200 / 64 - 3, 132 / 64 - 2])
    assert np.allclose(t["sqrt_wh"][2, 3], np.sqrt([200 / 448, 64 / 448]))
    assert t["cls"][2, 3].tolist() == [0, 1]


def test_two_centres_in_one_cell_the_larger_object_wins():
    cfg = YoloConfig(num_classes=2, grid=2, input_size=100)
    t = encode_yolo(np.array([[10, 10, 20, 20], [0, 0, 40, 40]]), np.array([0, 1]), cfg)
    assert t["obj"].sum() == 1 and t["cls"][0, 0].tolist() == [0, 1]


def _perfect_prediction(t, b):
    """Predictions made from the targets: every box of a cell = the truth, conf 1 where an object is."""
    xy, wh = torch.from_numpy(t["xy"]), torch.from_numpy(t["sqrt_wh"])
    conf = torch.from_numpy(t["obj"])[..., None]
    one = torch.cat([xy, wh, conf], -1)[None, :, :, None, :].expand(1, *xy.shape[:2], b, 5)
    probs = torch.from_numpy(t["cls"])[None] + (1 - conf[None]) / t["cls"].shape[-1]
    return one, probs


def test_encode_then_decode_gives_back_the_ground_truth_boxes():
    cfg = YoloConfig(num_classes=5, grid=7, boxes=2, input_size=256)
    for sc in make_scenes(SceneConfig(size=256, max_objects=5), 8, seed=4):
        t = encode_yolo(sc.boxes, sc.labels, cfg)
        boxes, scores, labels = decode_yolo(*_perfect_prediction(t, 2), 256)[0]
        kept = scores > 0.5
        assert int(kept.sum()) == 2 * int(t["obj"].sum())          # both of the B boxes carry it
        got = {tuple(np.round(b, 2)) + (int(k),) for b, k in zip(boxes[kept].numpy(), labels[kept].numpy(), strict=True)}
        truth = {tuple(np.round(b, 2)) + (int(k),) for b, k in zip(sc.boxes, sc.labels, strict=True)}
        assert got <= truth and len(got) == int(t["obj"].sum())    # each cell's object, exactly


def test_loss_terms_and_the_responsible_box():
    cfg = YoloConfig(num_classes=2, grid=2, boxes=2, input_size=100)
    t = {k: torch.from_numpy(v)[None] for k, v in encode_yolo(np.array([[10, 10, 40, 40]]), np.array([0]), cfg).items()}
    pred, probs = _perfect_prediction({k: v[0].numpy() for k, v in t.items()}, 2)
    pred = pred.clone()
    pred[0, 0, 0, 1, :4] = torch.tensor([0.9, 0.9, 0.1, 0.1])   # box 2 of the cell is off: box 1 is responsible
    terms = yolo_loss({"boxes": pred, "probs": probs}, t, cfg)
    assert terms["coord"] == 0 and terms["class"] == 0 and terms["object"] == 0
    # the off box is not responsible, so it is pushed towards confidence 0 with weight 0.5
    assert torch.isclose(terms["no-object"], torch.tensor(0.5))
    model = YoloV1(YoloConfig(num_classes=3, grid=5, boxes=3, width=8, input_size=128))
    out = model(torch.rand(2, 3, 128, 128))
    assert out["boxes"].shape == (2, 5, 5, 3, 5) and out["probs"].shape == (2, 5, 5, 3)
    assert torch.allclose(out["probs"].sum(-1), torch.ones(2, 5, 5))


def test_the_no_object_weight_is_the_papers_on_its_grid_and_spread_over_finer_ones():
    from models.yolo import noobj_weight

    assert noobj_weight(YoloConfig(grid=7)) == 0.5 and noobj_weight(YoloConfig(grid=2)) == 0.5
    assert noobj_weight(YoloConfig(grid=14)) == 0.125
    cfg = YoloConfig(num_classes=2, grid=14, boxes=2, input_size=140)
    t = {k: torch.from_numpy(v)[None] for k, v in encode_yolo(np.zeros((0, 4)), np.zeros(0, np.int64), cfg).items()}
    pred = torch.zeros(1, 14, 14, 2, 5)
    pred[..., 4] = 1.0                                  # every box claims an object: 392 boxes
    terms = yolo_loss({"boxes": pred, "probs": torch.full((1, 14, 14, 2), 0.5)}, t, cfg)
    assert torch.isclose(terms["no-object"], torch.tensor(0.125 * 392))
