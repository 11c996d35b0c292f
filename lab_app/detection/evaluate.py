"""COCO evaluation with pycocotools (the reference implementation, not a re-write):
mAP at IoU 0.5, mAP averaged over IoU 0.5:0.95, and AP for small (< 32^2 px), medium and large
(> 96^2 px) objects."""

from __future__ import annotations

import contextlib
import io

import numpy as np

from lab_app.detection.postprocess import Detections


def _coco_records(predictions: list[Detections], truths: list[tuple[np.ndarray, np.ndarray]]):
    """COCO's images, ground-truth annotations (xywh) and detection results for pycocotools."""
    images, annotations, results = [], [], []
    for i, (boxes, labels) in enumerate(truths):
        images.append({"id": i, "width": 0, "height": 0})
        for b, k in zip(np.asarray(boxes, float).reshape(-1, 4), np.asarray(labels).reshape(-1), strict=True):
            w, h = float(b[2] - b[0]), float(b[3] - b[1])
            annotations.append({"id": len(annotations) + 1, "image_id": i, "category_id": int(k),
                                "bbox": [float(b[0]), float(b[1]), w, h], "area": w * h, "iscrowd": 0})
    for i, det in enumerate(predictions):
        for b, s, k in zip(det.boxes.astype(float), det.scores.astype(float), det.labels, strict=True):
            results.append({"image_id": i, "category_id": int(k), "score": float(s),
                            "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]]})
    return images, annotations, results


def coco_map(predictions: list[Detections], truths: list[tuple[np.ndarray, np.ndarray]],
             num_classes: int) -> dict[str, float]:
    """``predictions[i]`` and ``truths[i] = (boxes xyxy, labels)`` belong to image i. Returns
    map50, map50_95, map75, map_small, map_medium, map_large (-1: no object of that size)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images, annotations, results = _coco_records(predictions, truths)
    keys = ("map50_95", "map50", "map75", "map_small", "map_medium", "map_large")
    if not annotations:
        return dict.fromkeys(keys, -1.0)
    if not results:
        return dict.fromkeys(keys, 0.0)
    gt = COCO()
    # "info": pycocotools 2.0.10's loadRes copies it (KeyError without it; 2.0.11 does not need it)
    gt.dataset = {"info": {}, "images": images, "annotations": annotations,
                  "categories": [{"id": k} for k in range(num_classes)]}
    with contextlib.redirect_stdout(io.StringIO()):   # pycocotools prints its progress
        gt.createIndex()
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {k: float(v) for k, v in zip(keys, ev.stats[:6], strict=True)}


def ap_by_size(predictions: list[Detections], truths: list[tuple[np.ndarray, np.ndarray]],
               num_classes: int, edges, iou: float = 0.5) -> list[float]:
    """AP at IoU ``iou`` for objects whose size sqrt(w h) lies in each bin [edges[i], edges[i + 1])
    (pycocotools' area ranges; detections matched to no object of the bin and outside it are
    ignored, as for COCO's small / medium / large). -1 where a bin holds no object."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images, annotations, results = _coco_records(predictions, truths)
    bins = len(edges) - 1
    if not results:                        # nothing found: 0 where a bin holds objects, else -1
        areas = np.array([a["area"] for a in annotations])
        return [0.0 if np.any((areas >= edges[i] ** 2) & (areas < edges[i + 1] ** 2)) else -1.0
                for i in range(bins)]
    if not annotations:
        return [-1.0] * bins
    gt = COCO()
    gt.dataset = {"info": {}, "images": images, "annotations": annotations,
                  "categories": [{"id": k} for k in range(num_classes)]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(results), "bbox")
        ev.params.iouThrs = np.array([iou])
        ev.params.areaRng = [[float(edges[i]) ** 2, float(edges[i + 1]) ** 2] for i in range(bins)]
        ev.params.areaRngLbl = [f"bin{i}" for i in range(bins)]
        ev.params.maxDets = [100]
        ev.evaluate()
        ev.accumulate()
    out = []
    for a in range(bins):
        p = ev.eval["precision"][0, :, :, a, 0]              # (recall thresholds, classes)
        p = p[:, (p > -1).all(0)]
        out.append(float(p.mean()) if p.size else -1.0)
    return out
