"""AP against object size (pycocotools with one area range per size bin)."""

import numpy as np
import pytest

from lab_app.detection.evaluate import ap_by_size
from lab_app.detection.postprocess import Detections


def test_each_bin_scores_only_its_own_objects():
    small = [10, 10, 20, 20]          # sqrt(wh) = 10
    large = [50, 50, 150, 150]        # 100
    truths = [(np.array([small, large], np.float32), np.array([0, 0]))]
    found_large_only = [Detections(np.array([large], np.float32), np.array([0.9], np.float32), np.array([0]))]
    edges = (0, 32, 64, 1000)
    # the small object missed: its bin 0; nothing between 32 and 64: -1; the large one found: 1
    assert ap_by_size(found_large_only, truths, 1, edges) == pytest.approx([0.0, -1.0, 1.0])
    both = [Detections(np.array([small, large], np.float32), np.array([0.8, 0.9], np.float32), np.array([0, 0]))]
    assert ap_by_size(both, truths, 1, edges) == pytest.approx([1.0, -1.0, 1.0])
    assert ap_by_size([Detections.empty()], truths, 1, edges) == [0.0, -1.0, 0.0]
