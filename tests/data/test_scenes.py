import numpy as np

from lab_app.data.scenes import SceneConfig, make_scene, make_scenes, shape_mask


def test_same_seed_same_scene_other_seed_other_scene():
    cfg = SceneConfig(size=128)
    a, b, c = make_scene(cfg, 3), make_scene(cfg, 3), make_scene(cfg, 4)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.boxes, b.boxes)
    assert np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.image, c.image)


def test_boxes_match_the_painted_pixels():
    cfg = SceneConfig(size=128, max_objects=8, noise=0.0)
    checked_tight = 0
    for sc in make_scenes(cfg, 12, seed=1):
        assert sc.image.shape == (128, 128, 3) and sc.image.dtype == np.uint8
        assert len(sc.boxes) == len(sc.labels) >= 1
        for i, (x0, y0, x1, y1) in enumerate(sc.boxes.astype(int)):
            rows, cols = np.nonzero(sc.instance_map == i)
            assert len(rows) > 0, "every shape stays visible"
            # visible pixels lie inside the box...
            assert cols.min() >= x0 and cols.max() < x1 and rows.min() >= y0 and rows.max() < y1
            # ...and an unoccluded shape's visible pixels span it exactly
            window = sc.instance_map[y0:y1, x0:x1]
            if not np.any((window >= 0) & (window > i)):
                assert (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1) == (x0, y0, x1, y1)
                checked_tight += 1
    assert checked_tight > 10


def test_sizes_span_small_to_half_the_image_and_occlusion_is_bounded():
    cfg = SceneConfig(size=256, small_share=0.3, max_occlusion=0.4, noise=0.0)
    scenes = make_scenes(cfg, 40, seed=2)
    sides = np.concatenate([np.maximum(s.boxes[:, 2] - s.boxes[:, 0], s.boxes[:, 3] - s.boxes[:, 1]) for s in scenes])
    assert sides.min() <= 10 and sides.max() >= 100 and sides.max() <= 256
    areas = np.concatenate([(s.boxes[:, 2] - s.boxes[:, 0]) * (s.boxes[:, 3] - s.boxes[:, 1]) for s in scenes])
    assert 0.1 < np.mean(areas < 32 ** 2) < 0.6
    for sc in scenes:   # no shape loses more than 40% of its own pixels to later ones
        for i, (x0, y0, x1, y1) in enumerate(sc.boxes.astype(int)):
            kind = ("circle", "square", "triangle", "star", "ring")[sc.labels[i]]
            assert kind
            visible = np.count_nonzero(sc.instance_map == i)
            assert visible > 0


def test_shape_masks_fill_their_window_edges():
    for kind in ("circle", "square", "triangle", "ring"):
        m = shape_mask(kind, 20, 30)
        assert m.any(axis=0)[[0, -1]].all() and m.any(axis=1)[[0, -1]].all(), kind
    assert shape_mask("ring", 21, 21)[10, 10] == 0 and shape_mask("circle", 21, 21)[10, 10] == 1


def test_shapes_stand_out_from_what_they_cover():
    from lab_app.data.scenes import _texture, _visible_texture

    mask = shape_mask("circle", 20, 20)
    for seed in range(100):
        # A background the same colour as the first texture the generator would draw.
        first = _texture(np.random.default_rng(seed), 20, 20)
        under = np.broadcast_to(first[mask].mean(axis=0), (20, 20, 3)).copy()
        tex = _visible_texture(np.random.default_rng(seed), 20, 20, mask, under, 48.0)
        assert np.linalg.norm(tex[mask].mean(axis=0) - under[mask].mean(axis=0)) >= 48.0


def test_an_impossible_contrast_gives_the_most_visible_draw():
    from lab_app.data.scenes import _texture, _visible_texture

    mask = np.ones((8, 8), bool)
    under = np.full((8, 8, 3), 128.0, np.float32)
    tex = _visible_texture(np.random.default_rng(3), 8, 8, mask, under, 10_000.0, tries=5)
    rng = np.random.default_rng(3)
    draws = [float(np.linalg.norm(_texture(rng, 8, 8).mean(axis=(0, 1)) - 128.0)) for _ in range(5)]
    assert np.linalg.norm(tex.mean(axis=(0, 1)) - 128.0) == max(draws)


def test_occlusion_budget_and_visible_counts_agree_with_the_instance_map():
    # The generator keeps each shape's visible pixel count incrementally; it must equal a recount
    # from the final instance map, and no shape may have lost more than max_occlusion of the pixels
    # it painted (the earlier test can only see that some pixels remain).
    from lab_app.data.scenes import _background, _paint_shapes

    checked_occluded = 0
    for cfg in (SceneConfig(size=128, max_objects=12, max_occlusion=0.4),
                SceneConfig(size=96, max_objects=16, max_occlusion=0.2, small_share=0.0, noise=0.0)):
        for seed in range(60):
            rng = np.random.default_rng([seed, 0x5CE7E])          # make_scene's stream, step by step
            chw = _background(rng, cfg).transpose(2, 0, 1)
            instance, boxes, labels, area, visible = _paint_shapes(rng, cfg, chw)
            assert np.array_equal(instance, make_scene(cfg, seed).instance_map)
            assert len(area) == len(visible) == len(boxes) == len(labels)
            recount = np.bincount(instance.ravel().astype(np.int64) + 1, minlength=len(area) + 1)[1:]
            assert np.array_equal(visible, recount)
            assert np.all(area - visible <= cfg.max_occlusion * area + 1e-9)
            checked_occluded += int(np.count_nonzero(visible < area))
    assert checked_occluded > 50          # the budget was actually exercised


def test_a_mirrored_scene_keeps_its_boxes_on_its_pixels():
    from lab_app.data.scenes import mirror_scene

    cfg = SceneConfig(size=96, max_objects=6)
    for sc in make_scenes(cfg, 6, seed=3):
        m = mirror_scene(sc)
        assert np.array_equal(m.image, sc.image[:, ::-1]) and np.array_equal(m.labels, sc.labels)
        for i, (x0, y0, x1, y1) in enumerate(m.boxes):
            rows, cols = np.nonzero(m.instance_map == i)
            # the instance's pixels lie in the mirrored box, and a box that was tight stays tight
            assert cols.min() >= x0 and cols.max() < x1 and rows.min() >= y0 and rows.max() < y1
            ox0, _, ox1, _ = sc.boxes[i]
            assert (x0, x1) == (96 - ox1, 96 - ox0)
        twice = mirror_scene(m)
        assert np.array_equal(twice.image, sc.image) and np.array_equal(twice.boxes, sc.boxes)
