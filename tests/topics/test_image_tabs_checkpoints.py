"""The VAE and contrastive tabs' checkpoints through the lab's one API: a round trip gives the same
model outputs; another tab's file, a cut-short file, a pickle and weights of another shape are refused
with a LoadError naming the file (never load_state_dict's RuntimeError), and on the tabs the current
model stays."""


import numpy as np
import pytest
import torch

from lab_app.core.control import Control
from lab_app.data.datasets import load_dataset
from lab_app.io import LoadError
from lab_app.io.checkpoint import Checkpoint, save_checkpoint
from lab_app.qt.tab_base import LabContext
from lab_app.topics.representation import task as rtask
from lab_app.topics.representation.probes import encode
from lab_app.topics.representation.tab import RepresentationTab
from lab_app.topics.vae import task as vtask
from lab_app.topics.vae.tab import VaeTab


def finish(gen):
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", seed=0, limit=300)


@pytest.fixture(scope="module")
def vae_trained(digits):
    torch.set_num_threads(1)
    cfg = vtask.VaeTaskConfig(epochs=2, batch_size=64, width=32, iw_k=10, iw_every=2, manifold=3, seed=3)
    return finish(vtask.train(cfg, None, Control(), data=digits))


@pytest.fixture(scope="module")
def rep_trained(digits):
    torch.set_num_threads(1)
    cfg = rtask.RepresentationConfig(steps=20, batch_size=64, probe_every=20, width=4, projection="PCA", seed=4)
    return finish(rtask.train(cfg, {}, Control(), data=digits))


@pytest.fixture
def files(tmp_path, digits, vae_trained, rep_trained):
    """A good checkpoint of each tab, and the wrong ones."""
    out = {"vae": vtask.save_vae(tmp_path / "vae.safetensors", vae_trained, digits.info),
           "representation": rtask.save_encoder(tmp_path / "enc.safetensors", rep_trained, digits.info)}
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(out["vae"].read_bytes()[:-200])
    out["cut"] = cut
    pickled = tmp_path / "pickled.safetensors"
    torch.save(vae_trained.state_dict, pickled)
    out["pickle"] = pickled
    # the VAE's header, the weights of a wider VAE: load_state_dict would raise a size mismatch
    wider = vtask.build_model(vtask.config_from({**vae_trained.config, "width": 48}), digits)
    out["mismatch-vae"] = save_checkpoint(tmp_path / "mismatch-vae.safetensors", Checkpoint(
        "vae", vtask.MODEL_NAME, wider.state_dict(), vae_trained.config))
    enc = rtask.build_encoder(rtask.config_from({**rep_trained.config, "width": 8}), digits)
    out["mismatch-representation"] = save_checkpoint(tmp_path / "mismatch-representation.safetensors", Checkpoint(
        "representation", rtask.MODEL_NAME, enc.state_dict(), rep_trained.config))
    return out


def test_vae_round_trip_gives_the_same_outputs(files, digits, vae_trained):
    loaded = vtask.load_vae(files["vae"], digits)
    x = torch.from_numpy(digits.x_test.reshape(len(digits.x_test), -1))
    with torch.no_grad():
        for a, b in zip(loaded.trained.model.encode(x), vae_trained.model.encode(x), strict=True):
            assert torch.equal(a, b)
        z = torch.randn(5, 2, generator=torch.Generator().manual_seed(0))
        assert torch.equal(loaded.trained.model.decode(z), vae_trained.model.decode(z))
    assert loaded.trained.config == vae_trained.config and loaded.trained.config["seed"] == 3
    assert loaded.trained.scores == pytest.approx(vae_trained.scores)
    assert loaded.frame.xy.shape == (len(digits.x_test), 2)


def test_vae_loads_its_dataset_when_not_given(files, vae_trained):
    loaded = vtask.load_vae(files["vae"])  # the dataset named in the checkpoint's config
    assert loaded.data.name == "digits" and loaded.trained.config["width"] == 32


def test_encoder_round_trip_gives_the_same_outputs(files, digits, rep_trained):
    loaded = rtask.load_encoder(files["representation"], digits)
    x = torch.from_numpy(digits.x_test)
    assert np.array_equal(encode(loaded.trained.encoder, x), encode(rep_trained.encoder, x))
    assert np.allclose(loaded.trained.train_features, rep_trained.train_features, atol=1e-6)
    assert loaded.trained.config == rep_trained.config and loaded.trained.config["seed"] == 4


WRONG = {
    "vae": [("representation", "representation tab"), ("cut", "cut.safetensors"), ("pickle", "safetensors"),
            ("mismatch-vae", "do not fit")],
    "representation": [("vae", "vae tab"), ("cut", "cut.safetensors"), ("pickle", "safetensors"),
                       ("mismatch-representation", "do not fit")],
}
CASES = [(tab, kind, why) for tab, cases in WRONG.items() for kind, why in cases]


@pytest.mark.parametrize("tab,kind,why", CASES)
def test_a_wrong_checkpoint_is_a_load_error_naming_the_file(files, digits, tab, kind, why):
    load = vtask.load_vae if tab == "vae" else rtask.load_encoder
    with pytest.raises(LoadError) as err:
        load(files[kind], digits)
    assert files[kind].name in str(err.value) and why in str(err.value)


@pytest.mark.parametrize("cls", [VaeTab, RepresentationTab])
def test_a_wrong_checkpoint_on_the_tab_keeps_the_current_model(qtbot, files, cls):
    tab = cls(LabContext(torch.device("cpu")))
    qtbot.addWidget(tab)
    tab.show()
    name = "vae" if cls is VaeTab else "representation"
    load = tab.load_model if cls is VaeTab else tab.load_encoder
    try:
        with qtbot.waitSignal(tab.demo_ready, timeout=30_000):
            tab.open_path(files[name])  # a checkpoint opened or dropped on the tab is loaded
        assert tab.trained.config["seed"] == (3 if cls is VaeTab else 4) and not tab.runner.busy
        trained = tab.trained
        for kind, why in WRONG[name]:
            with qtbot.waitSignal(tab.ckpt_runner.errored, timeout=30_000):
                load(files[kind])
            assert files[kind].name in tab.banner.text and why in tab.banner.text
            assert tab.trained is trained
    finally:
        assert tab.shutdown()
