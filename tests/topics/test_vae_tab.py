"""VAE tab with qtbot: training draws the latent space, manifold, reconstructions and meters; a
click in the latent plane decodes what the model decodes; two drops interpolate; beta continues
from the weights; save and load round-trip."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from lab_app.io import save_image
from lab_app.qt.tab_base import LabContext
from lab_app.topics.vae.tab import VaeTab

QUICK = dict(epochs=4, batch_size=64, width=32, limit=400, frame_seconds=0.0, iw_k=20, iw_every=2, manifold=5)


@pytest.fixture
def tab(qtbot):
    torch.set_num_threads(1)
    t = VaeTab(LabContext(torch.device("cpu")))
    qtbot.addWidget(t)
    t.resize(1400, 900)
    t.show()
    yield t
    assert t.shutdown()


def test_training_draws_the_latent_space_and_a_click_decodes(tab, qtbot, tmp_path):
    with qtbot.waitSignal(tab.demo_ready, timeout=60_000):
        tab.start_training(replace(tab.config, **QUICK))
    frame = tab.frame
    xy, labels = tab.scatter.data()
    assert np.array_equal(xy, frame.xy) and np.array_equal(labels, tab.data.y_test)
    assert np.array_equal(tab.manifold.image, frame.manifold)
    assert tab.recon.image.shape == (8 * 2 + 1, 10 * 8 + 9)  # originals over reconstructions
    assert list(tab.units.values()) == pytest.approx(list(frame.activity))
    assert "IW log-likelihood (k=20)" in tab.numbers.text() and "active units:" in tab.numbers.text()
    assert {"-ELBO", "reconstruction", "KL"} <= set(tab.loss_curve.names())

    # a click in the latent plane decodes what the model decodes at that z
    image = tab.decode_at(0.5, -0.3)
    with torch.no_grad():
        expected = torch.sigmoid(tab.model.decode(torch.tensor([[0.5, -0.3]]))).reshape(8, 8).numpy()
    assert np.allclose(image, expected, atol=1e-6) and np.array_equal(tab.decoded.image, image)

    # two dropped images (read and encoded in the worker): the interpolation between their posterior means
    for i in (0, 1):
        grey = (tab.data.x_test[i, 0] * 255).astype(np.uint8)
        with qtbot.waitSignal(tab.file_runner.finished, timeout=20_000):
            tab.open_path(save_image(tmp_path / f"d{i}.png", np.repeat(grey[:, :, None], 3, 2)))
    assert tab.interpolation.shape == (10, 8, 8)
    assert tab.interp.image.shape == (8, 12 * 8 + 11)

    # save, then load into a fresh state: the same decoder
    with qtbot.waitSignal(tab.ckpt_runner.finished, timeout=20_000):
        tab.save_model(tmp_path / "vae.safetensors")
    before = tab.decode_at(1.0, 1.0)
    tab.model = None
    with qtbot.waitSignal(tab.ckpt_runner.finished, timeout=20_000):
        tab.load_model(tmp_path / "vae.safetensors")
    assert np.allclose(tab.decode_at(1.0, 1.0), before, atol=1e-6)


def test_beta_after_a_run_continues_from_the_weights(tab, qtbot):
    with qtbot.waitSignal(tab.demo_ready, timeout=60_000):
        tab.start_training(replace(tab.config, **{**QUICK, "iw_k": 0, "epochs": 2}))
    trained = tab.trained.state_dict
    seen = []
    tab.runner.progress.connect(lambda p: seen.append(p.metrics))
    with qtbot.waitSignal(tab.runner.finished, timeout=60_000):
        tab.params.set_config(replace(tab.config, beta=3.0))
        tab._live_changed("beta", 3.0)
    assert seen and abs(seen[0]["loss"] - (seen[0]["recon"] + 3.0 * seen[0]["kl"])) < 1e-3
    assert not torch.equal(tab.trained.state_dict["to_mu.weight"], trained["to_mu.weight"])
    assert tab.loss_curve.series("KL")[0][0] < seen[0].get("step", 1e9)  # the old curve was kept
