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


def test_a_run_trains_on_denser_scenes_and_measures_on_the_scenes_as_set(monkeypatch):
    """LoopConfig.extra_objects: the training stream paints up to that many more objects a scene;
    the validation scenes (the mAP curve) keep the configured count."""
    import torch

    from lab_app.core.control import Control
    from lab_app.core.events import drain
    from lab_app.data.scenes import make_scenes
    from lab_app.detection import training
    from models.centernet import CenterNet, CenterNetConfig

    counts = {"train": [], "val": []}

    class Recording(training.SceneStream):
        def batch(self, k):
            scenes = super().batch(k)
            counts["train"] += [len(sc.boxes) for sc in scenes]
            return scenes

    def recorded_val(cfg, count, seed=0):
        scenes = make_scenes(cfg, count, seed)
        counts["val"] += [len(sc.boxes) for sc in scenes]
        return scenes

    monkeypatch.setattr(training, "SceneStream", Recording)
    monkeypatch.setattr(training, "make_scenes", recorded_val)
    scenes = SceneConfig(size=64, classes=2, max_objects=2, small_share=1.0)
    for extra in (0, 10):
        counts["train"].clear()
        counts["val"].clear()
        torch.manual_seed(0)
        model = CenterNet(CenterNetConfig(num_classes=2, width=8, input_size=64))
        loop = training.LoopConfig(steps=6, batch_size=4, eval_every=100, eval_scenes=6, lanes=1,
                                   extra_objects=extra)
        _, trained = drain(training.train_detector(model, loop, scenes, Control()))
        assert 1 <= min(counts["val"]) and max(counts["val"]) <= 2
        assert trained.train_config["scenes"]["max_objects"] == 2
        assert trained.train_config["train_scenes"]["max_objects"] == 2 + extra
        if extra:
            assert max(counts["train"]) > 2 and np.mean(counts["train"]) > 4
        else:
            assert max(counts["train"]) <= 2
