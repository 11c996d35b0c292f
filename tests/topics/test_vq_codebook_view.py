"""The VQ tab's codebook scatter: a code's point grows with its use, in whole pixels; unused codes
are drawn apart."""

import numpy as np

from lab_app.topics.vq.codebook_views import CodebookScatter


def test_points_grow_with_use_in_whole_pixels_and_dead_codes_are_apart(qtbot):
    view = CodebookScatter()
    qtbot.addWidget(view)
    xy = np.random.default_rng(0).normal(size=(6, 2))
    counts = np.array([0, 1, 4, 100, 0, 25])
    view.set_codebook(xy, counts)
    sizes = np.asarray(view.used.data["size"], float)
    assert len(sizes) == 4 and np.array_equal(sizes, np.round(sizes))   # few distinct symbol sizes
    live = counts > 0
    assert np.all(np.diff(sizes[np.argsort(counts[live])]) > 0)         # more use, a bigger point
    assert np.allclose(view.used.data["x"], xy[live, 0]) and np.allclose(view.dead.data["x"], xy[~live, 0])
    view.set_codebook(xy, counts * 3)                                   # the same shares: the same sizes
    assert np.array_equal(np.asarray(view.used.data["size"], float), sizes)
