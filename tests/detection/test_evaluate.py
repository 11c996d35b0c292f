import numpy as np

from lab_app.data.scenes import SceneConfig, make_scenes
from lab_app.detection.evaluate import coco_map
from lab_app.detection.postprocess import Detections


def test_perfect_predictions_score_one_and_shifted_ones_less():
    scenes = make_scenes(SceneConfig(size=256), 10)
    truths = [(s.boxes, s.labels) for s in scenes]
    perfect = [Detections(s.boxes, np.ones(len(s.boxes), np.float32), s.labels) for s in scenes]
    m = coco_map(perfect, truths, 5)
    assert m["map50"] == 1.0 and m["map50_95"] == 1.0
    shifted = [Detections(s.boxes + 3, np.ones(len(s.boxes), np.float32), s.labels) for s in scenes]
    m2 = coco_map(shifted, truths, 5)
    assert m2["map50_95"] < 0.8 and m2["map_small"] < m2["map_large"]   # 3 px hurts small boxes most
    wrong = [Detections(s.boxes, np.ones(len(s.boxes), np.float32), (s.labels + 1) % 5) for s in scenes]
    assert coco_map(wrong, truths, 5)["map50"] == 0.0
    assert coco_map([Detections.empty() for _ in scenes], truths, 5)["map50"] == 0.0
