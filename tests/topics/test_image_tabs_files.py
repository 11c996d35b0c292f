"""A file opened or dropped always shows its result (issue 22, section 9), on the VAE, contrastive and
language tabs, whatever the tab is doing: a real photo (scikit-image's astronaut) opened on a fresh tab
starts the training and ends drawn through the trained model; dropped mid-training it is drawn through
the weights on screen while the training goes on. Also: cancel in the middle of a real VAE run, and
closing the window during one."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from skimage import data as skdata

from lab_app.core.tiling import tile
from lab_app.io import save_image
from lab_app.qt.tab_base import LabContext
from lab_app.topics.representation import shipped as rshipped
from lab_app.topics.representation import task as rtask
from lab_app.topics.representation.mi_task import MIConfig
from lab_app.topics.representation.probes import encode
from lab_app.topics.representation.tab import RepresentationTab
from lab_app.topics.vae import task as vtask
from lab_app.topics.vae.tab import STRIP_FILL, VaeTab

VAE_QUICK = dict(epochs=2, batch_size=64, width=32, limit=300, frame_seconds=0.0, iw_k=0, manifold=4)
REP_QUICK = dict(steps=30, batch_size=64, probe_every=30, width=4, limit=300, frame_seconds=0.0, projection="PCA")
LONG = 10**6  # a run that is still going when the test drops its file


@pytest.fixture
def photo(tmp_path):
    rgb = skdata.astronaut()
    return save_image(tmp_path / "astronaut.png", rgb), rgb


def make(qtbot, cls):
    torch.set_num_threads(1)
    t = cls(LabContext(torch.device("cpu")))
    qtbot.addWidget(t)
    t.resize(1400, 900)
    t.show()
    return t


@pytest.fixture
def vae(qtbot):
    t = make(qtbot, VaeTab)
    yield t
    assert t.shutdown()


@pytest.fixture
def rep(qtbot):
    t = make(qtbot, RepresentationTab)
    yield t
    assert t.shutdown()


def vae_view_of(model: vtask.VAE, x: np.ndarray, shape) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and the reconstruction decoded from it (sigmoid of the decoder's logits)."""
    c, h, w = shape
    with torch.no_grad():
        mu = model.encode(torch.from_numpy(x[None]))[0]
        recon = torch.sigmoid(model.decode(mu)).reshape(c, h, w)[0].numpy()
    return mu[0].numpy(), recon


def test_vae_photo_opened_on_a_fresh_tab_trains_then_shows_it(vae, qtbot, photo):
    path, rgb = photo
    vae.params.set_config(replace(vae.config, **VAE_QUICK))
    with qtbot.waitSignal(vae.demo_ready, timeout=120_000):
        vae.open_path(path)
        assert vae.runner.busy  # nothing was running: the file started the training
    seen = vtask.image_for(rgb, vae.data)
    assert vae.file_result.name == "astronaut.png" and np.array_equal(vae.file_result.x, seen)
    mu, recon = vae_view_of(vae.model, seen, vae.data.image_shape)  # the trained model's view
    assert np.allclose(vae.interp.image, tile([seen.reshape(8, 8), recon], fill=STRIP_FILL), atol=1e-5)
    assert "astronaut.png" in vae.interp.plot_item.titleLabel.text
    xs, ys = vae.file_marker.getData()
    assert np.allclose([xs[0], ys[0]], vtask.to_plane(mu[None], vae.frame.plane)[0], atol=1e-5)


def test_vae_photo_dropped_mid_training_shows_now_and_cancel_stops_the_run(vae, qtbot, photo):
    path, rgb = photo
    vae.start_training(replace(vae.config, **{**VAE_QUICK, "epochs": LONG, "limit": None}))
    qtbot.waitUntil(lambda: vae.frames_drawn >= 1, timeout=60_000)
    weights = vae.frame.state_dict  # what the tab shows when the file arrives
    with qtbot.waitSignal(vae.file_runner.finished, timeout=30_000):
        vae.open_path(path)
    assert vae.runner.busy and vae.trained is None  # the training went on meanwhile
    model = vtask.build_model(vtask.config_from(vae.frame_config), vae.data, weights).eval()
    mu, recon = vae_view_of(model, vtask.image_for(rgb, vae.data), vae.data.image_shape)
    assert np.allclose(vae.file_result.reconstruction, recon, atol=1e-5)
    assert np.allclose(vae.interp.image[:, 9:], recon, atol=1e-5)  # right of the input and its gap

    # cancel in the middle of the real run: its thread ends, what it drew stays
    drawn = vae.scatter.data()[0].copy()
    vae.runner.cancel()
    assert vae.runner.wait(10.0) and not vae.runner.busy
    assert np.array_equal(vae.scatter.data()[0], drawn) and vae.file_result.name == "astronaut.png"


def test_vae_window_closes_during_a_real_run(qtbot, tmp_path, monkeypatch):
    from lab_app.app import MainWindow

    monkeypatch.setenv("LAB_SETTINGS_DIR", str(tmp_path / "settings"))
    win = MainWindow(device_pref="cpu", start_tab="vae", demo=False)
    qtbot.addWidget(win)
    win.show()
    tab = win.tab_by_id["vae"]
    tab.start_training(replace(tab.config, **{**VAE_QUICK, "epochs": LONG, "limit": None}))
    qtbot.waitUntil(lambda: tab.frames_drawn >= 1, timeout=60_000)
    threads = [r.thread for runner in tab.runners() for r in runner._all_runs]
    assert any(t.is_alive() for t in threads)
    assert win.close()
    assert not any(t.is_alive() for t in threads) and not tab.runner.busy


def rep_neighbours(model, data, image: np.ndarray, k: int = 8) -> np.ndarray:
    """The k training images with the highest cosine similarity to ``image``'s features."""
    train = encode(model, torch.from_numpy(data.x_train))
    query = encode(model, torch.from_numpy(image[None]))[0]
    cos = train @ query / (np.linalg.norm(train, axis=1) * np.linalg.norm(query))
    return np.argsort(-cos, kind="stable")[:k]


@pytest.mark.parametrize("shipped", [True, False], ids=["shipped encoder", "none shipped"])
def test_contrastive_photo_opened_on_a_fresh_tab_gets_an_encoder_then_shows_its_neighbours(
        rep, qtbot, photo, shipped, tmp_path, monkeypatch):
    """A fresh tab loads the shipped encoder for it (when there is one for the tab's seed), else trains."""
    if shipped and not rshipped.CHECKPOINT.exists():
        pytest.skip("no shipped encoder (python -m lab_app.topics.representation.make_checkpoint)")
    if not shipped:
        monkeypatch.setattr(rshipped, "CHECKPOINT", tmp_path / "none.safetensors")
    path, rgb = photo
    rep.params.set_config(replace(rep.config, **REP_QUICK))
    rep.mi_params.set_config(MIConfig(steps=30, report_every=5, dim=4, mi_batch=16))
    with qtbot.waitSignal(rep.demo_ready, timeout=120_000):
        rep.open_path(path)
        assert (rep.ckpt_runner.busy, rep.runner.busy) == (shipped, not shipped)
    seen = rtask.image_for(rgb, rep.data)
    assert rep.query_result.caption == "astronaut.png" and np.array_equal(rep.query_result.image, seen)
    assert list(rep.nearest_indices) == list(rep_neighbours(rep.encoder, rep.data, seen))
    assert rep.neighbours.query.caption.text() == "astronaut.png"
    names = [rep.data.class_names[int(rep.data.y_train[i])] for i in rep.nearest_indices]
    assert [t.caption.text() for t in rep.neighbours.neighbours] == names


def test_contrastive_photo_dropped_mid_training_shows_its_neighbours_now(rep, qtbot, photo):
    path, rgb = photo
    rep.start_training(replace(rep.config, **{**REP_QUICK, "steps": LONG, "probe_every": LONG}))
    qtbot.waitUntil(lambda: rep.frames_drawn >= 1, timeout=60_000)
    weights, config = rep.frame.state_dict, rep.frame_config
    with qtbot.waitSignal(rep.file_runner.finished, timeout=30_000):
        rep.open_path(path)
    assert rep.runner.busy and rep.trained is None
    model = rtask.build_encoder(rtask.config_from(config), rep.data, weights)
    assert list(rep.nearest_indices) == list(rep_neighbours(model, rep.data, rtask.image_for(rgb, rep.data)))
    assert rep.neighbours.query.caption.text() == "astronaut.png"


def test_a_bad_photo_names_the_file_and_keeps_the_result(rep, qtbot, tmp_path):
    rep.params.set_config(replace(rep.config, **REP_QUICK))
    with qtbot.waitSignal(rep.demo_ready, timeout=120_000):
        rep.start_training()
    shown = rep.nearest_indices.copy()
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    with qtbot.waitSignal(rep.file_runner.errored, timeout=20_000):
        rep.open_path(bad)
    assert "broken.png" in rep.banner.text
    assert np.array_equal(rep.nearest_indices, shown)
