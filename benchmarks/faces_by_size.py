"""faces_by_size: MTCNN (vendored P/R/O-Net weights, our cascade) against scikit-image's LBP cascade
on generated crowds: 100 images of 640 x 480 (seed 0), 12 real face crops each (lfw_subset, 8 to
128 px, drawn evenly over the size bins), pasted on photos without people, so every face has an exact
box. A face is found when a detection overlaps it with IoU >= 0.4 (one detection per face).

Fields: mtcnn_recall and lbp_recall (per size bin, keyed by the bin's lower edge in px; a bin runs to
the next edge), mtcnn_recall_24up and lbp_recall_24up (faces of 24 px and up), mtcnn_fp_per_image and
lbp_fp_per_image, mtcnn_ms and lbp_ms (median per image at min_face 20), mtcnn_ms_min12 (median
per image at min_face 12, on the first 20 images), levels (pyramid levels at min_face 20 and 12),
faces (per bin), loadavg_1m before and after, threads. Both detectors run one after the other in the
same process on one torch thread. Targets: MTCNN recall >= 0.9 for faces of 24 px and up at
min_face 20, above the LBP cascade's in every bin from 24 px; MTCNN at least as fast as LBP.
"""

from __future__ import annotations

import os
import statistics


def add_arguments(parser) -> None:
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min12-images", type=int, default=20)


def run(args) -> dict:
    import torch

    torch.set_num_threads(1)
    from lab_app.topics.pyramids import crowd as C
    from lab_app.topics.pyramids.faces import FacesConfig
    from lab_app.topics.pyramids.measure import crowd_seed, evaluate_crowds, mtcnn_detect
    from models import mtcnn as M

    load_before = os.getloadavg()[0]
    cfg = FacesConfig(min_face=20, seed=args.seed)
    mtcnn_detect(C.make_crowd(0).image, cfg)              # warm-up: weights, torchvision import
    tally = None
    for tally in evaluate_crowds(cfg, args.images):
        pass
    min12 = [mtcnn_detect(C.make_crowd(crowd_seed(args.seed, i)).image, cfg, min_face=12)[2]
             for i in range(min(args.min12_images, args.images))]
    n = tally.images
    bins_24 = [str(b) for b in tally.bins if b >= 24]
    mr, lr = tally.recall("mtcnn"), tally.recall("lbp")
    return {
        "images": n, "faces": {str(b): int(t) for b, t in zip(tally.bins, tally.totals, strict=True)},
        "mtcnn_recall": mr, "lbp_recall": lr,
        "mtcnn_recall_24up": round(tally.found_24up["mtcnn"] / tally.faces_24up, 4),
        "lbp_recall_24up": round(tally.found_24up["lbp"] / tally.faces_24up, 4),
        "mtcnn_fp_per_image": round(tally.fp["mtcnn"] / n, 3),
        "lbp_fp_per_image": round(tally.fp["lbp"] / n, 3),
        "mtcnn_ms": round(statistics.median(tally.ms["mtcnn"]), 1),
        "lbp_ms": round(statistics.median(tally.ms["lbp"]), 1),
        "mtcnn_ms_min12": round(statistics.median(min12), 1),
        "levels": {str(mf): M.level_count(480, 640, mf, cfg.factor) for mf in (20, 12)},
        "targets": {"mtcnn_recall_24up_ge_0.9": tally.found_24up["mtcnn"] / tally.faces_24up >= 0.9,
                    "mtcnn_above_lbp_every_bin_24up": all((mr[b] or 0) > (lr[b] or 0) for b in bins_24),
                    "mtcnn_at_least_lbp_every_bin_24up": all((mr[b] or 0) >= (lr[b] or 0) for b in bins_24),
                    "mtcnn_at_least_as_fast": statistics.median(tally.ms["mtcnn"])
                    <= statistics.median(tally.ms["lbp"])},
        "match_iou": C.MATCH_IOU, "lbp_scale_factor": cfg.lbp_scale, "threads": torch.get_num_threads(),
        "loadavg_1m_before": round(load_before, 2), "loadavg_1m_after": round(os.getloadavg()[0], 2),
    }
