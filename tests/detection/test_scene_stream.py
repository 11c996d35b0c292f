"""SceneStream: the training batches of a detector run (fresh scenes, and mirrored ones m steps later)."""

import numpy as np

from lab_app.data.scenes import SceneConfig, make_scene, mirror_scene
from lab_app.detection.training import SceneStream

CFG = SceneConfig(size=64, classes=3, max_objects=3)


def _same(a, b) -> bool:
    return all(np.array_equal(getattr(a, k), getattr(b, k)) for k in ("image", "boxes", "labels"))


def test_without_mirroring_every_image_is_painted_from_its_own_seed():
    stream = SceneStream(CFG, batch_size=4, seed=2)
    for k in (0, 5):
        batch = stream.batch(k)
        assert len(batch) == 4
        seeds = [2 * 1_000_003 + k * 4 + j + 10**7 for j in range(4)]
        assert all(_same(sc, make_scene(CFG, seed)) for sc, seed in zip(batch, seeds, strict=True))


def test_half_of_batch_k_mirrors_the_scenes_of_batch_k_minus_m():
    stream = SceneStream(CFG, batch_size=4, seed=0, mirror_after=3)
    batches = [stream.batch(k) for k in range(7)]
    assert all(len(b) == 4 for b in batches)
    for k in range(3):        # the first m batches are all fresh
        assert all(_same(sc, make_scene(CFG, k * 4 + j + 10**7)) for j, sc in enumerate(batches[k]))
    for k in range(3, 7):
        fresh, mirrored = batches[k][:2], batches[k][2:]
        assert all(_same(sc, make_scene(CFG, k * 4 + j + 10**7)) for j, sc in enumerate(fresh))
        assert all(_same(m, mirror_scene(sc)) for m, sc in zip(mirrored, batches[k - 3][:2], strict=True))
        assert not np.array_equal(mirrored[0].image, batches[k - 3][0].image)   # not the same picture
    # every kept scene was used once and let go
    assert sorted(stream._kept) == [4, 5, 6]


def test_two_streams_with_one_seed_give_the_same_batches():
    a, b = SceneStream(CFG, 4, seed=1, mirror_after=2), SceneStream(CFG, 4, seed=1, mirror_after=2)
    for k in range(5):
        assert all(_same(x, y) for x, y in zip(a.batch(k), b.batch(k), strict=True))
