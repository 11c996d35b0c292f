"""Test-time augmentation (TTA): run a detector on a few views of the image and merge what they see.

The two views of CenterNet's own evaluation (Zhou et al. 2019, "flip" and "multi-scale" testing):
- **flip**: the image and its left-right mirror go through the net as one batch; the model's
  ``merge_flipped`` averages the two dense outputs cell by cell (the mirror's flipped back) before
  decoding, so an object seen well in either view scores well.
- **scales**: the image is also enlarged (bilinear, to a multiple of 32 px) and decoded there; the
  boxes are scaled back and the views' boxes merged by class-aware NMS (torchvision ``batched_nms``).
  A net trained on 256 px scenes sees a small object better at 1.5x, where it looks like the medium
  objects it learned best; the 1x view keeps the large ones. The enlarged view is not mirrored.

Every view raises mAP, the enlarged ones most on small objects, and each costs about one more pass
of the model (the figures per mode are in the centernet_scenes and yolo_scenes benchmarks'
docstrings). What the tabs draw (heatmap, grid cells) is the 1x view, flip-merged.
"""

from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from models.centernet import channels_last

MERGE_IOU = 0.5           # boxes of one class from different scales overlapping more than this: one object
# Candidates scored below this are dropped before the views are merged: a YOLO hands over all S*S*B
# boxes of each view, most of them scored near 0, and NMS over all of them is not free.
MERGE_MIN_SCORE = 1e-3
TTA_MODES = ("off", "flip", "1.25x", "flip + 1.25x", "1.5x", "flip + 1.5x")
TTA_TIP = ("Run the model on more views of the image and merge what they find. flip: the image and "
           "its mirror, heatmaps / cells averaged. 1.25x / 1.5x: also the image enlarged, where small "
           "objects look like the medium ones the model learned best; boxes merged by NMS at IoU 0.5. "
           "The grid and heatmap drawn are the 1x view's")


@dataclass(frozen=True)
class Views:
    flip: bool = False
    scales: tuple[float, ...] = (1.0,)      # the first is 1.0: the view the tab draws

    def __post_init__(self):
        if not self.scales or self.scales[0] != 1.0 or any(s <= 0 for s in self.scales):
            raise ValueError(f"scales must start with 1.0 and be positive, got {self.scales}")


PLAIN = Views()           # the image alone


def views_for(mode: str) -> Views:
    """A TTA_MODES name -> its Views."""
    if mode == "off":
        return PLAIN
    if mode == "flip":
        return Views(flip=True)
    if mode in TTA_MODES:                     # "[flip + ]<scale>x"
        flip = mode.startswith("flip + ")
        return Views(flip=flip, scales=(1.0, float(mode.removeprefix("flip + ")[:-1])))
    raise ValueError(f"unknown test-time augmentation {mode!r}; choose one of {', '.join(TTA_MODES)}")


def resized(images: np.ndarray, scale: float, multiple: int = 32) -> tuple[np.ndarray, float]:
    """uint8 (B, H, W, 3) -> the images resized (bilinear) by about ``scale`` to sides that are
    multiples of ``multiple`` (the detectors' coarsest stride), and the factor used along the width.
    PIL on the uint8 pixels: faster than torch's interpolate on floats."""
    from PIL import Image

    h, w = images.shape[1:3]
    nh = max(multiple, round(h * scale / multiple) * multiple)
    nw = max(multiple, round(w * scale / multiple) * multiple)
    if (nh, nw) == (h, w):
        return images, 1.0
    bilinear = Image.Resampling.BILINEAR
    out = np.stack([np.asarray(Image.fromarray(im).resize((nw, nh), bilinear)) for im in images])
    return out, nw / w


def to_tensor(images: np.ndarray, device) -> torch.Tensor:
    """uint8 (B, H, W, 3) -> float (B, 3, H, W) in [0, 1] on ``device``, channels-last in memory (the
    pixels' own order: no copy for the detectors' ``normalise``)."""
    x = torch.from_numpy(np.ascontiguousarray(images)).to(device)
    return x.permute(0, 3, 1, 2).float().div_(255.0)


def folded(model: nn.Module) -> nn.Module:
    """An eval-mode copy of ``model`` with each BatchNorm folded into the convolution before it
    (``torch.nn.utils.fusion.fuse_conv_bn_eval``): the same function with one pass over the
    activations fewer per layer (a faster forward). Cached on the model and
    rebuilt when any of its tensors changed (an optimiser step or load_state_dict bumps their version)."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    tensors = list(model.state_dict().values())
    key = tuple((t.data_ptr(), t._version) for t in tensors)
    cached = model.__dict__.get("_folded_cache")
    if cached is not None and cached[0] == key:
        return cached[1]
    model.__dict__.pop("_folded_cache", None)       # not copied along
    copy = deepcopy(model).eval()
    for seq in copy.modules():
        if isinstance(seq, nn.Sequential):
            for i in range(len(seq) - 1):
                if isinstance(seq[i], nn.Conv2d) and isinstance(seq[i + 1], nn.BatchNorm2d):
                    seq[i] = fuse_conv_bn_eval(seq[i], seq[i + 1])
                    seq[i + 1] = nn.Identity()
    copy = channels_last(copy)
    model.__dict__["_folded_cache"] = (key, copy)
    return copy


def forward_view(model, x: torch.Tensor, flip: bool) -> dict[str, torch.Tensor]:
    """The model's output for ``x``; with ``flip``, merged with its output for the mirrored images
    (one batch of both)."""
    if not flip:
        return model(x)
    both = model(torch.cat([x, x.flip(3)]))
    n = len(x)
    return model.merge_flipped({k: v[:n] for k, v in both.items()}, {k: v[n:] for k, v in both.items()})


@torch.no_grad()
def run_views(model, images: np.ndarray, views: Views, device="cpu"
              ) -> tuple[dict[str, torch.Tensor], list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]]:
    """uint8 (B, H, W, 3) images -> (the model's 1x output, flip-merged if asked; candidates per image
    (boxes xyxy in the images' pixels, scores, labels), before threshold and the user's NMS). Runs the
    model in eval mode, BatchNorm folded (``folded``). The mirror is used at 1x only (see Views)."""
    net = folded(model) if not model.training else model
    outs = [(forward_view(net, to_tensor(images, device), views.flip), 1.0)]
    for s in views.scales[1:]:
        im, f = resized(images, s)
        outs.append((net(to_tensor(im, device)), f))
    base = outs[0][0]
    per_scale = [[(b / f, sc, lb) for b, sc, lb in net.candidates(out)] for out, f in outs]
    if len(per_scale) == 1:
        return base, per_scale[0]
    from torchvision.ops import batched_nms  # lazy: ~2 s import

    merged = []
    for i in range(len(images)):
        b, sc, lb = (torch.cat([p[i][j] for p in per_scale]) for j in range(3))
        live = torch.nonzero(sc >= MERGE_MIN_SCORE).squeeze(1)
        keep = live[batched_nms(b[live].float(), sc[live].float(), lb[live], MERGE_IOU)]
        merged.append((b[keep], sc[keep], lb[keep]))
    return base, merged
