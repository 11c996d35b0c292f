import numpy as np

from lab_app.detection.postprocess import Detections, filter_detections, letterbox


def _det():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 10], [50, 50, 60, 60]], np.float32)
    return Detections(boxes, np.array([0.9, 0.8, 0.7, 0.3], np.float32), np.array([0, 0, 1, 0]))


def test_threshold_then_class_aware_nms():
    d = _det()
    kept = filter_detections(d, 0.5, 0.5)
    # box 1 overlaps box 0 (same class, IoU 0.68) and goes; box 2 is another class and stays
    assert kept.scores.tolist() == [np.float32(0.9), np.float32(0.7)]
    assert kept.labels.tolist() == [0, 1]
    assert len(filter_detections(d, 0.2, 0.5)) == 3
    assert len(filter_detections(d, 0.2, None)) == 4   # no NMS
    assert len(filter_detections(d, 0.95, 0.5)) == 0


def test_letterbox_maps_boxes_back_to_the_photo():
    photo = np.zeros((100, 200, 3), np.uint8)
    photo[20:40, 50:90] = 255
    square, lb = letterbox(photo, 256)
    assert square.shape == (256, 256, 3) and lb.scale == 256 / 200
    ys, xs = np.nonzero(square[..., 0] > 128)
    box_in_model = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32)
    back = lb.to_image(box_in_model)[0]
    assert np.allclose(back, [50, 20, 90, 40], atol=1.0)
    tiny, lb2 = letterbox(np.zeros((8, 8, 3), np.uint8), 256)
    assert tiny.shape == (256, 256, 3) and lb2.scale == 32
