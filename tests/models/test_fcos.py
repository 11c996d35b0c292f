import numpy as np
import torch

from lab_app.data.scenes import SceneConfig, make_scenes
from lab_app.detection.postprocess import Detections, filter_detections
from models.fcos import FCOS, FcosConfig, decode_fcos, encode_fcos, fcos_loss


def test_encode_then_decode_gives_back_the_ground_truth_boxes():
    cfg = FcosConfig(num_classes=5, input_size=256, stride=4)
    for sc in make_scenes(SceneConfig(size=256, max_objects=5, max_occlusion=0.0), 6, seed=5):
        t = encode_fcos(sc.boxes, sc.labels, cfg)
        # perfect predictions: class score 1 at positives weighted by the centre-ness target
        scores = torch.from_numpy(t["cls"] * np.sqrt(t["centerness"])[None])[None]
        boxes, s, labels = decode_fcos(scores, torch.from_numpy(t["ltrb"])[None], 4, k=5000)[0]
        det = filter_detections(Detections.from_torch(boxes, s, labels), 1e-6, 0.5)
        got = {tuple(np.round(b, 2)) + (int(k),) for b, k in zip(det.boxes, det.labels, strict=True)}
        truth = {tuple(np.round(b, 2)) + (int(k),) for b, k in zip(sc.boxes, sc.labels, strict=True)}
        assert truth <= got, truth - got


def test_targets_distances_and_centerness_on_a_hand_made_box():
    cfg = FcosConfig(num_classes=2, input_size=32, stride=4)
    t = encode_fcos(np.array([[4, 4, 20, 12]]), np.array([1]), cfg)
    # location (10, 6) is cell (row 1, col 2): l = 6, t = 2, r = 10, b = 6
    assert t["pos"][1, 2] == 1 and t["ltrb"][:, 1, 2].tolist() == [6, 2, 10, 6]
    assert np.isclose(t["centerness"][1, 2], np.sqrt(6 / 10 * 2 / 6))
    assert t["pos"].sum() == 4 * 2 and t["cls"][1].sum() == 8 and t["cls"][0].sum() == 0
    tiny = encode_fcos(np.array([[9, 9, 11, 11]]), np.array([0]), cfg)     # smaller than a cell
    assert tiny["pos"].sum() == 1 and tiny["pos"][2, 2] == 1


def test_loss_terms_and_shapes():
    cfg = FcosConfig(num_classes=3, width=8, input_size=64)
    model = FCOS(cfg)
    out = model(torch.rand(2, 3, 64, 64))
    assert out["cls"].shape == (2, 3, 16, 16) and out["ltrb"].shape == (2, 4, 16, 16) and (out["ltrb"] > 0).all()
    t = encode_fcos(np.array([[8, 8, 40, 30]]), np.array([2]), cfg)
    tgt = {k: torch.from_numpy(np.stack([v, v])) for k, v in t.items()}
    terms = fcos_loss(out, tgt, cfg)
    assert set(terms) == {"loss", "class", "giou", "centerness"} and all(torch.isfinite(v) for v in terms.values())
    perfect = {"cls": torch.logit(tgt["cls"].clamp(1e-6, 1 - 1e-6)), "ltrb": tgt["ltrb"] + 1e-3,
               "ctr": torch.logit(tgt["centerness"].clamp(1e-6, 1 - 1e-6))[:, None]}
    assert fcos_loss(perfect, tgt, cfg)["giou"] < 1e-3 < terms["giou"]
