"""The contrastive tab with CPC and patch position chosen in its Objective list (qtbot): the run
goes to the CPC page, which draws the per-k curves, the example and the probes; a dropped image is
explained there; choosing InfoNCE again brings the embedding views back."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from lab_app.io import save_image
from lab_app.qt.tab_base import LabContext
from lab_app.topics.representation.tab import RepresentationTab

QUICK = dict(dataset="mnist5k", steps=20, width=4, embed_dim=8, limit=300, projection="PCA")
KNOBS = dict(images_per_batch=8, negatives=15, steps_ahead=2, compare_simclr=False)


@pytest.fixture
def tab(qtbot):
    torch.set_num_threads(1)
    t = RepresentationTab(LabContext(torch.device("cpu")))
    qtbot.addWidget(t)
    t.resize(1400, 900)
    t.show()
    yield t
    assert t.shutdown()


def test_choosing_cpc_trains_and_draws_the_per_k_curves(tab, qtbot, tmp_path):
    tab.params.set_config(replace(tab.config, **QUICK))
    panel = tab.cpc_panel
    panel.params.set_config(replace(panel.params.config, **KNOBS))
    with qtbot.waitSignal(tab.demo_ready, timeout=120_000):
        tab.params.control("objective").setCurrentText("CPC")  # a restart knob: this starts the run
    assert tab.views_stack.currentWidget() is panel
    result = panel.result
    assert result is not None and result.config["objective"] == "CPC" and result.config["steps_ahead"] == 2

    # The per-k curves: bound of each k over training under its log N ceiling, and the values against k.
    log_n = np.log(16)
    assert panel.curve.names() == ["k = 1", "k = 2", "log N"]
    steps, ceiling = panel.curve.series("log N")
    assert len(steps) >= 2 and np.allclose(ceiling, log_n)
    for name in ("k = 1", "k = 2"):
        assert np.all(panel.curve.series(name)[1] <= log_n + 1e-5)
    assert np.array_equal(panel.per_k.k, [1, 2]) and panel.per_k.log_n == pytest.approx(log_n)
    assert np.allclose(panel.per_k.accuracy, result.pick_accuracy)
    assert np.allclose(panel.per_k.bound, result.bound)
    x, y = panel.per_k.chance_curve.getData()
    assert np.allclose(y, 1 / 16)

    # The example: the true patch first, framed green; the image shows the context and the true box.
    ex = panel.example.example
    assert ex is not None and ex.n == 16
    assert panel.example.captions()[0].startswith("true ")
    assert "#2ca02c" in panel.example.tiles[0].image.styleSheet()
    assert panel.example.image.image() is not None and len(panel.example.image._boxes) >= 2

    # Probes of the finished run, pixels / random / trained (no SimCLR asked for).
    values = panel.probes.values()
    assert values[3] == pytest.approx(result.scores["encoder"]["linear"])
    assert values[0] == pytest.approx(result.scores["raw pixels"]["linear"])
    assert np.isnan(values[2])

    # A dropped image is explained on the CPC page.
    digit = (tab.data.x_test[3, 0] * 255).astype(np.uint8)
    path = save_image(tmp_path / "digit.png", np.repeat(digit[:, :, None], 3, 2))
    with qtbot.waitSignal(panel.runner.finished, timeout=60_000):
        tab.open_path(path)
    assert "digit.png" in panel.example.title.text() and panel.example.example.step == -1
    assert np.allclose(panel.example.example.image, tab.data.x_test[3], atol=1 / 255 + 1e-6)

    # Patch position: the pairs view, its accuracy curve against chance.
    with qtbot.waitSignal(tab.demo_ready, timeout=120_000):
        tab.params.control("objective").setCurrentText("patch position")
    assert panel.examples.currentWidget() is panel.pairs and not panel.per_k.isVisible()
    assert panel.curve.names() == ["accuracy", "chance 1/8"]
    assert panel.pairs.example is not None and len(panel.pairs.example.labels) == 8
    assert "true " in panel.pairs.boards[0].caption.text()


def test_cpc_on_8px_digits_switches_to_mnist5k(tab, qtbot):
    tab.params.set_config(replace(tab.config, **{**QUICK, "dataset": "digits"}))
    tab.cpc_panel.params.set_config(replace(tab.cpc_panel.params.config, **KNOBS))
    messages = []
    tab.status_message.connect(messages.append)
    with qtbot.waitSignal(tab.demo_ready, timeout=120_000):
        tab.start_training(replace(tab.config, objective="CPC"))
    assert tab.config.dataset == "mnist5k" and tab.data.name == "mnist5k"
    assert any("mnist5k" in m for m in messages)
