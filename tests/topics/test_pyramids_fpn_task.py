"""The pyramids sub-tab's task: each pipeline trained briefly beats an untrained one on held-out
scenes; a seed reproduces; a photo goes through every pipeline level by level; a drawn box names its
level; the checkpoint round-trips and a wrong file is refused."""

from dataclasses import replace

import numpy as np
import pytest

from lab_app.core.control import Control
from lab_app.core.events import Progress, drain
from lab_app.topics.pyramids import fpn_task as task

SMALL = task.FpnConfig(classes=1, max_objects=3, small_share=0.4, width=8, image_size=128, batch_size=4,
                       steps=10, lr=4e-3, eval_scenes=3)
# Long enough to learn something on easy scenes (one class, 1-2 objects): about a minute on 2 cores
# (SNIP's valid ranges scaled with the image: the default ones are for 384 px scenes, whose objects reach 192 px)
LEARN = task.FpnConfig(classes=1, max_objects=2, small_share=0.3, width=8, image_size=128, batch_size=4,
                       steps=150, lr=4e-3, eval_scenes=12, snip_valid=((27.0, 1e4), (8.0, 37.0), (0.0, 13.0)))


@pytest.fixture(scope="module")
def trained():
    events, (models, table) = drain(task.train_all(SMALL, Control()))
    return events, models, table


def untrained_models(cfg):
    import torch

    torch.manual_seed(0)
    nets = {n: task.build(n, cfg).eval() for n in ("single", "fpn", "snip")}
    return task.Models(nets["single"], nets["fpn"], nets["snip"].detector, nets["snip"].cfg,
                       {}, task.class_names(cfg.classes))


def test_training_runs_each_pipeline_and_scores_all_four(trained):
    events, models, table = trained
    assert set(table.rows) == set(task.PIPELINES) and table.scenes == 3
    assert models.train_steps == {"single": 10, "fpn": 10, "snip": 10, "image_pyramid": 10}
    # per-level times: 1 level for single, 3 for the image pyramid (0.5x, 1x, 2x), 4 for the FPN
    assert table.rows["single"]["level_names"] == ["P3"]
    assert table.rows["image_pyramid"]["level_names"] == ["0.5x", "1x", "2x"]
    assert table.rows["snip"]["level_names"] == ["0.5x", "1x", "2x"]
    assert table.rows["fpn"]["level_names"] == ["P3", "P4", "P5", "P6"]
    assert all(len(r["ap_by_size"]) == len(task.SIZE_EDGES) - 1 for r in table.rows.values())
    losses = [e.metrics["loss"] for e in events if isinstance(e, Progress) and "loss" in e.metrics]
    assert len(losses) == 3 * 10 // 5
    done = [e.name for e in events if isinstance(e, task.PipelineTrained)]
    assert done == ["single", "fpn", "snip"]


@pytest.mark.slow
def test_short_training_of_each_pipeline_beats_the_untrained_one():
    events, (models, table) = drain(task.train_all(LEARN, Control()))
    _, base = drain(task.evaluate(untrained_models(LEARN), LEARN, Control()))
    for name in task.PIPELINES:
        assert table.rows[name]["map50"] > base.rows[name]["map50"] + 0.02, name
    losses = [e.metrics["loss"] for e in events if isinstance(e, Progress) and "loss" in e.metrics]
    per = len(losses) // 3
    # single and FPN (SNIP's loss sums scales whose in-range objects vary from step to step: too noisy)
    for k in range(2):
        run = losses[k * per:(k + 1) * per]
        assert np.mean(run[-5:]) < 0.8 * np.mean(run[:5])


def test_a_seed_reproduces_the_first_losses():
    cfg = replace(SMALL, steps=5, eval_scenes=1)

    def first(c):
        gen = task.train_all(c, Control())
        out = []
        for ev in gen:
            if isinstance(ev, Progress) and "loss" in ev.metrics:
                return ev.metrics["loss"]
        return out

    assert first(cfg) == first(cfg) != first(replace(cfg, seed=1))


def test_a_photo_goes_through_every_pipeline_level_by_level(trained):
    _, models, _ = trained
    photo = np.zeros((100, 200, 3), np.uint8)
    run = drain(task.run_image(models, photo, replace(SMALL, levels=2, factor=1.5), Control()))[1]
    assert run.letterbox.scale == 128 / 200
    fpn = run.runs["fpn"]
    assert [lv.name for lv in fpn.levels] == ["P3", "P4", "P5", "P6"]
    assert [lv.energy.shape for lv in fpn.levels] == [(16, 16), (8, 8), (4, 4), (2, 2)]
    assert fpn.levels[0].stride == pytest.approx(8 * 200 / 128)           # a P3 cell in photo pixels
    pyramid = run.runs["image_pyramid"]
    assert [lv.name for lv in pyramid.levels] == ["1x", "1.5x"] and pyramid.levels[1].side == 192
    for r in run.runs.values():
        assert len(r.level_of) == len(r.merged)
        if len(r.merged):
            assert r.merged.boxes[:, 2].max() <= 200 + 1e-3 and r.merged.boxes[:, 3].max() <= 100 + 1e-3
    huge = np.zeros((3000, 2100, 3), np.uint8)
    big = drain(task.run_image(models, huge, SMALL, Control(), only=("single",)))[1]
    assert big.image.shape == (2048, 1434, 3) and "downscaled" in big.note and set(big.runs) == {"single"}


def test_a_drawn_box_names_its_fpn_level_and_snip_scales():
    from lab_app.detection.postprocess import letterbox

    _, lb = letterbox(np.zeros((768, 768, 3), np.uint8), 384)               # photo -> model: x 0.5
    rep = task.box_report(np.array([100, 100, 200, 200]), lb, task.FpnConfig())   # 50 px in the model
    assert rep.fpn_level == 4 and rep.size == pytest.approx(50)
    assert rep.positives.shape == (24, 24) and rep.positives.sum() > 0
    assert rep.snip_in_range == (False, True, False)          # 0.5x: >= 80, 1x: 24-112, 2x: <= 40
    assert "P4" in rep.text


def test_checkpoint_round_trip_and_a_wrong_file_is_refused(trained, tmp_path):
    import torch

    from lab_app.io.errors import LoadError

    _, models, _ = trained
    path = task.save_models(tmp_path / "p.safetensors", models, SMALL)
    loaded, cfg, card = task.load_models(path)
    assert cfg == SMALL and card["train_steps"]["fpn"] == 10
    for name in ("single", "fpn", "snip"):
        a, b = getattr(models, name).state_dict(), getattr(loaded, name).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"nope")
    with pytest.raises(LoadError, match="bad.safetensors"):
        task.load_models(bad)


def test_the_tab_keeps_its_detectors_sealed_and_runs_images_and_tables_on_them(trained, tmp_path):
    """What the panel gets from its load and train tasks crosses from the worker as bytes (nothing
    rebuilt in the window) and still drives the image and table tasks there."""
    import pickle

    _, models, _ = trained
    path = task.save_models(tmp_path / "p.safetensors", models, SMALL)
    sealed, cfg, _ = pickle.loads(pickle.dumps(drain(task.load_task(path, Control()))[1]))
    assert not sealed.is_open
    assert sealed.meta == {"class_names": models.class_names, "train_steps": models.train_steps}
    sent = pickle.loads(pickle.dumps(sealed))                    # as an image run takes it to the worker
    run = drain(task.image_task(sent, cfg, Control(), seed=1))[1]
    want = drain(task.image_task(models, cfg, Control(), seed=1))[1]
    assert set(run.runs) == set(task.PIPELINES)
    for name in task.PIPELINES:
        np.testing.assert_allclose(run.runs[name].merged.scores, want.runs[name].merged.scores, rtol=1e-5)
    table = drain(task.evaluate_task(sent, cfg, Control(), only=("fpn",)))[1]
    assert set(table.rows) == {"fpn"} and not sealed.is_open
    _, (trained_sealed, _) = drain(task.train_task(replace(SMALL, steps=2, eval_scenes=1), Control()))
    assert trained_sealed.meta["train_steps"]["fpn"] == 2 and trained_sealed.open().fpn is not None
