"""Representation tab with qtbot: training moves the scatter's points, probes and histograms are drawn,
a dropped image finds neighbours, the encoder saves and loads, the embedding exports."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from lab_app.io import save_image
from lab_app.qt.tab_base import LabContext
from lab_app.topics.representation import shipped, task
from lab_app.topics.representation.tab import RepresentationTab

QUICK = dict(steps=40, batch_size=64, probe_every=40, width=4, limit=400, frame_seconds=0.0, projection="PCA")


@pytest.fixture
def tab(qtbot):
    torch.set_num_threads(1)
    t = RepresentationTab(LabContext(torch.device("cpu")))
    qtbot.addWidget(t)
    t.resize(1400, 900)
    t.show()
    yield t
    assert t.shutdown()


def test_training_moves_the_points_and_draws_the_panels(tab, qtbot, tmp_path):
    frames = []
    tab.runner.event.connect(
        lambda ev: frames.append(ev.xy.copy()) if isinstance(ev, task.EmbeddingFrame) else None
    )
    with qtbot.waitSignal(tab.demo_ready, timeout=60_000):
        tab.start_training(replace(tab.config, **QUICK))
    assert len(frames) >= 2
    moved = np.abs(frames[-1] - frames[0]).mean()
    assert moved > 1e-3  # the embedding changed while it trained
    xy, labels = tab.scatter.data()
    assert np.array_equal(xy, frames[-1]) and np.array_equal(labels, tab.data.y_train[tab.shown])
    assert tab.frames_drawn >= 2
    pos, neg = tab.histogram.counts
    assert pos.sum() > 0 and neg.sum() > 0 and not tab.histogram.margin_line.isVisible()
    values = tab.probes.values()
    scores = (
        tab.trained.scores
    )  # the bars show the probes of the finished run (task tests check their values)
    assert values[2] == pytest.approx(scores["encoder"]["linear"])
    assert values[1] == pytest.approx(scores["random encoder"]["linear"])
    assert values[3] == pytest.approx(scores["raw pixels"]["knn"])
    assert "alignment" in tab.numbers.text()

    # Hover shows the image of the point under the mouse.
    tab.scatter.hovered.emit(3)
    assert tab.neighbours.query.caption.text().startswith(f"#{tab.shown[3]}:")

    # A dropped image (a training digit as a dark-on-light PNG) finds that digit first.
    i = int(tab.shown[5])
    grey = (255 - tab.data.x_train[i, 0] * 255).astype(np.uint8)
    path = save_image(tmp_path / "digit.png", np.repeat(grey[:, :, None], 3, 2))
    with qtbot.waitSignal(tab.file_runner.finished, timeout=20_000):
        tab.open_path(path)
    assert tab.nearest_indices[0] == i
    assert tab.neighbours.neighbours[0].caption.text() == tab.data.class_names[int(tab.data.y_train[i])]

    # Save, load, export.
    with qtbot.waitSignal(tab.ckpt_runner.finished, timeout=20_000):
        tab.save_encoder(tmp_path / "enc.safetensors")
    features = tab.trained.train_features.copy()
    with qtbot.waitSignal(tab.demo_ready, timeout=20_000):
        tab.load_encoder(tmp_path / "enc.safetensors")
    assert np.allclose(tab.trained.train_features, features, atol=1e-5)
    tab.scatter.export_data(tmp_path / "emb.npy")
    table = np.load(tmp_path / "emb.npy")
    assert table.shape == (len(tab.shown), 3)


def test_live_margin_moves_the_line_and_mi_panel_draws(tab, qtbot):
    cfg = replace(tab.config, objective="pairwise contrastive", **QUICK)
    with qtbot.waitSignal(tab.demo_ready, timeout=60_000):
        tab.start_training(cfg)
    assert tab.histogram.margin_line.isVisible() and tab.histogram.margin_line.value() == cfg.margin
    tab.params.control("margin").setValue(2.0)
    assert tab.histogram.margin_line.value() == pytest.approx(2.0) and tab._live["margin"] == pytest.approx(
        2.0
    )

    from lab_app.topics.representation.mi_task import MIConfig

    with qtbot.waitSignal(tab.mi_runner.finished, timeout=60_000):
        tab.start_mi(MIConfig(steps=30, report_every=5, dim=4, mi_batch=16))
    steps, log_n = tab.mi_curve.series("log N")
    assert len(steps) >= 5 and np.allclose(log_n, np.log(16))
    assert len(tab.mi_curve.series("InfoNCE")[1]) == len(steps)


def test_the_trained_embedding_is_a_result_before_its_t_sne(tab, qtbot):
    """The last step's PCA frame is the tab's result (``has_result``); the t-SNE that replaces it
    seconds later ends the demo."""
    seen = []
    tab.result_shown.connect(lambda: seen.append((tab.demo_done, tab.scatter.plot_item.titleLabel.text)))
    cfg = replace(tab.config, **{**QUICK, "projection": "t-SNE at the end"})
    with qtbot.waitSignal(tab.demo_ready, timeout=60_000):
        tab.start_training(cfg)
    assert seen and seen[0] == (False, f"embedding of the training set, PCA, step {cfg.steps}")
    assert tab.has_result and tab.frame.projection == "t-SNE"
    assert tab.scatter.plot_item.titleLabel.text.endswith(f"t-SNE, step {cfg.steps}")


def test_the_train_button_trains_with_the_panels_config(tab, qtbot):
    """A click passes ``checked`` to its slot: the Train button must not hand it on as a config."""
    from PySide6.QtWidgets import QPushButton

    tab.params.set_config(replace(tab.config, **QUICK))
    (button,) = [b for b in tab.findChildren(QPushButton) if b.text() == "Train"]
    with qtbot.waitSignal(tab.runner.started, timeout=10_000):
        button.click()
    assert tab.runner.busy and tab.config.steps == QUICK["steps"]
    tab.runner.cancel()


def _ship(tmp_path, monkeypatch, seed: int = 0) -> task.Trained:
    """A small encoder in the shipped checkpoint's place (the real one is the default config)."""
    from lab_app.topics.representation import make_checkpoint

    path, trained = make_checkpoint.make(tmp_path / "shipped.safetensors", seed=seed, steps=40, batch_size=64,
                                         probe_every=40, width=4, limit=400, frame_seconds=0.0)
    monkeypatch.setattr(shipped, "CHECKPOINT", path)
    return trained


def test_the_tab_opens_on_the_shipped_encoder_and_train_trains_one_live(tab, qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QPushButton

    shipped = _ship(tmp_path, monkeypatch)
    started, messages = [], []
    tab.runner.started.connect(started.append)
    tab.status_message.connect(messages.append)
    with qtbot.waitSignal(tab.demo_ready, timeout=60_000):
        tab.start_demo()
    assert started == [] and tab.trained is not None   # nothing trained: the shipped encoder is on screen
    assert tab.frame.projection == "t-SNE"             # laid out as its training's last frame was
    assert tab.scatter.plot_item.titleLabel.text.endswith("t-SNE, step 40")
    assert tab.probes.values()[2] == pytest.approx(shipped.scores["encoder"]["linear"])
    steps, losses = tab.loss_curve.series("loss")      # the curve of the run that made it
    assert list(steps) == [s for s, _ in shipped.history]
    assert np.allclose(losses, [m["loss"] for _, m in shipped.history])
    assert any(m.startswith("the shipped encoder (InfoNCE, 40 steps, digits)") for m in messages)
    assert tab.mi_runner.busy or tab.mi_curve.names()  # the MI estimators' demo runs beside it

    (button,) = [b for b in tab.findChildren(QPushButton) if b.text() == "Train"]
    with qtbot.waitSignal(tab.runner.started, timeout=10_000):
        button.click()
    assert started == ["training encoder"]
    tab.runner.cancel()


def test_another_seed_or_no_shipped_encoder_trains_one(tab, qtbot, tmp_path, monkeypatch):
    """The shipped encoder stands for the default seed only: with --seed 7 the demo trains one with
    7 (the run card states the seed that made what is on screen); without the file it trains too."""
    _ship(tmp_path, monkeypatch, seed=0)
    tab.params.set_config(replace(tab.config, seed=7, **QUICK))
    with qtbot.waitSignal(tab.runner.started, timeout=10_000):
        tab.start_demo()
    assert tab.runner.label == "training encoder" and tab.config.seed == 7
    tab.runner.cancel()
    qtbot.waitUntil(lambda: not tab.runner.busy, timeout=10_000)

    monkeypatch.setattr(shipped, "CHECKPOINT", tmp_path / "none.safetensors")
    tab.params.set_config(replace(tab.config, seed=0))
    with qtbot.waitSignal(tab.runner.started, timeout=10_000):
        tab.start_demo()
    assert tab.runner.label == "training encoder" and not tab.ckpt_runner.busy
    tab.runner.cancel()
