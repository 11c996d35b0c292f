"""Test-time augmentation: the mirror and the enlarged view give back boxes in the image's own pixels,
the folded (BatchNorm-free) copy is the same function, and the modes parse."""

import numpy as np
import pytest
import torch

from lab_app.detection.tta import TTA_MODES, Views, folded, resized, run_views, views_for
from models.centernet import CenterNet, CenterNetConfig
from models.fcos import FCOS, FcosConfig
from models.yolo import YoloConfig, YoloV1


def _image(seed=0, size=256):
    return (np.random.default_rng(seed).random((1, size, size, 3)) * 255).astype(np.uint8)


def _trained_a_little(model):
    """Random weights with non-trivial BatchNorm statistics (a few training-mode passes)."""
    torch.manual_seed(0)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.rand(2, 3, 64, 64))
    return model.eval()


def test_modes_parse_and_unknown_ones_are_refused():
    assert views_for("off") == Views() and views_for("flip") == Views(flip=True)
    assert [views_for(m) for m in TTA_MODES[2:]] == [Views(False, (1.0, 1.25)), Views(True, (1.0, 1.25)),
                                                     Views(False, (1.0, 1.5)), Views(True, (1.0, 1.5))]
    for bad in ("mirror", "flip + 2x", "2x"):
        with pytest.raises(ValueError, match="flip \\+ 1.5x"):
            views_for(bad)
    with pytest.raises(ValueError, match="start with 1.0"):
        Views(scales=(1.5,))


def test_resized_keeps_multiples_of_32_and_reports_the_factor():
    big, f = resized(_image(size=256), 1.5)
    assert big.shape == (1, 384, 384, 3) and f == 1.5 and big.dtype == np.uint8
    same, f = resized(_image(size=64), 1.1)        # 70.4 -> 64: nothing to do
    assert same.shape == (1, 64, 64, 3) and f == 1.0


@pytest.mark.parametrize("make", [lambda: YoloV1(YoloConfig(num_classes=3, width=8)),
                                  lambda: FCOS(FcosConfig(num_classes=3, width=8))], ids=["yolo", "fcos"])
def test_flip_view_is_mirror_symmetric(make):
    """Averaging an image's output with its mirror's: the mirrored image gives the mirrored boxes."""
    torch.manual_seed(0)
    model = _trained_a_little(make())
    image = _image(1)
    _, (a,) = run_views(model, image, Views(flip=True))
    _, (b,) = run_views(model, np.ascontiguousarray(image[:, :, ::-1]), Views(flip=True))
    mirrored = torch.stack([256 - b[0][:, 2], b[0][:, 1], 256 - b[0][:, 0], b[0][:, 3]], 1)
    ia, ib = a[1].argsort(descending=True)[:20], b[1].argsort(descending=True)[:20]
    assert torch.allclose(a[1][ia], b[1][ib], atol=1e-5)
    assert torch.allclose(a[0][ia], mirrored[ib], atol=1e-3)
    merged, _ = run_views(model, image, Views(flip=True))
    alone, _ = run_views(model, image, Views())
    changed = [not torch.allclose(merged[k], alone[k], atol=1e-6) for k in alone if k != "cell"]
    assert all(changed)                                        # the mirror changed every output map


def test_centernet_flip_averages_the_heatmaps():
    model = _trained_a_little(CenterNet(CenterNetConfig(num_classes=3, width=8)))
    image = _image(2)
    x = torch.from_numpy(image).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        p = torch.sigmoid(model(x)["heatmap"])
        q = torch.sigmoid(model(x.flip(3))["heatmap"]).flip(3)
    out, _ = run_views(model, image, Views(flip=True))
    assert torch.allclose(torch.sigmoid(out["heatmap"]), (p + q) / 2, atol=1e-5)


class Blob(torch.nn.Module):
    """A toy detector that is exactly scale-equivariant: the box of the bright pixels, in the input's
    pixels, scored 1 (and a faint second guess, to see the merge)."""

    training = False

    def forward(self, x):
        return {"mask": (x.mean(1) > 0.5).float()}

    def merge_flipped(self, out, mirrored):
        return {"mask": (out["mask"] + mirrored["mask"].flip(2)) / 2}

    def candidates(self, out):
        result = []
        for m in out["mask"]:
            ys, xs = torch.nonzero(m > 0.5, as_tuple=True)
            box = torch.stack([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]).float()[None]
            w, h = box[0, 2] - box[0, 0], box[0, 3] - box[0, 1]
            shifted = box + torch.stack([w, h, w, h]) / 4        # scales with the image too
            far = torch.tensor([[0.0, 0.0, 8.0, 8.0]])          # a near-zero score: dropped by a merge
            scores = torch.tensor([1.0, 0.1, 1e-4])
            result.append((torch.cat([box, shifted, far]), scores, torch.zeros(3, dtype=torch.long)))
        return result


def test_enlarged_view_boxes_come_back_in_the_images_pixels_and_merge():
    image = np.zeros((1, 256, 256, 3), np.uint8)
    image[0, 50:90, 100:160] = 255                          # box (100, 50, 160, 90)
    base, (single,) = run_views(Blob(), image, Views())
    _, (merged,) = run_views(Blob(), image, Views(flip=True, scales=(1.0, 1.5)))
    assert single[0][0].tolist() == [100, 50, 160, 90] and len(single[0]) == 3    # one view: all kept
    # both scales found the box and the faint guess: NMS kept one of each (best score first)
    assert len(merged[0]) == 2 and merged[1].tolist() == pytest.approx([1.0, 0.1])
    assert np.allclose(merged[0][0].numpy(), [100, 50, 160, 90], atol=1.0)
    _, scaled = run_views(Blob(), image, Views(scales=(1.0, 1.5)))
    assert len(scaled[0][0]) == 2                            # a view only at 1.5x would be at (150, 75, ...)


def test_folded_copy_is_the_same_function_and_follows_the_weights():
    model = _trained_a_little(CenterNet(CenterNetConfig(num_classes=3, width=8)))
    x = torch.rand(2, 3, 64, 64)
    f = folded(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in f.modules())
    assert folded(model) is f                                # cached while the weights stay
    with torch.no_grad():
        assert torch.allclose(f(x)["heatmap"], model(x)["heatmap"], atol=1e-4)
        model.backbone.s2[0].weight.mul_(1.5)                # the weights change (in place, like a step)
        g = folded(model)
        assert g is not f and torch.allclose(g(x)["heatmap"], model(x)["heatmap"], atol=1e-4)
    assert "_folded_cache" not in dict(model.named_modules())


def test_yolo_at_a_larger_input_uses_a_proportional_grid_and_image_sized_units():
    model = _trained_a_little(YoloV1(YoloConfig(num_classes=3, width=8, grid=7)))
    with torch.no_grad():
        out = model(torch.rand(1, 3, 384, 384))
    assert out["boxes"].shape[1] == 10 and out["cell"][0] == pytest.approx(38.4)   # round(7 * 1.5)
    boxes, _, _ = model.candidates(out)[0]
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    assert centres.min() >= 0 and centres.max() <= 384       # on the 384 px input, not 256 * 10 / 7
    sizes = boxes[:, 2:] - boxes[:, :2]
    assert torch.allclose(sizes, out["boxes"][0, ..., 2:4].reshape(-1, 2) ** 2 * 256, atol=1e-4)
