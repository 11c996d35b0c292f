"""VQ tab with qtbot: a dropped image gets its token map (of the tokenizer's grid) and reconstruction; a
clicked token outlines every place the image uses its code and shows the code decoded alone; a wrong
checkpoint leaves the loaded tokenizer in place."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lab_app.io import save_image
from lab_app.io.checkpoint import Checkpoint, save_checkpoint
from lab_app.qt.tab_base import LabContext
from lab_app.topics.vq import task
from lab_app.topics.vq.tab import VqTab
from models.vq_tokenizer import TokenizerConfig


@pytest.fixture
def tab(qtbot):
    torch.set_num_threads(1)
    t = VqTab(LabContext(torch.device("cpu")))
    qtbot.addWidget(t)
    t.resize(1400, 900)
    t.show()
    torch.manual_seed(0)
    t.tokenizer = task.build_tokenizer(TokenizerConfig(num_codes=16, code_dim=4, width=8)).eval()
    yield t
    assert t.shutdown()


def digit_png(tmp_path, name="seven.png"):
    img = np.full((56, 56, 3), 255, np.uint8)       # dark strokes on white, twice the model's size
    img[8:14, 10:46] = 0
    img[14:50, 34:40] = 0
    return save_image(tmp_path / name, img)


def test_drop_an_image_shows_its_token_map_and_reconstruction(tab, qtbot, tmp_path):
    with qtbot.waitSignal(tab.drop_runner.finished, timeout=30_000):
        tab.open_path(digit_png(tmp_path))
    tm = tab.token_map
    assert tm is not None and tm.indices.shape == (7, 7)                 # 28 px / f = 4
    assert np.array_equal(tab.tokens.indices, tm.indices)
    assert tab.tokens.image_item.image.shape[:2] == (28, 28)            # colours over the input
    assert tab.drop_recon.image.shape == (28, 56)                       # input | reconstruction
    with torch.no_grad():
        expected = tab.tokenizer(torch.from_numpy(tm.image)[None, None])[0][0, 0].clamp(0, 1).numpy()
    assert np.allclose(tab.drop_recon.image[:, 28:], expected, atol=1e-5)
    assert tm.image[5, 15] > 0.9 and tm.image[0, 0] < 0.1              # inverted: light strokes on dark

    # click a token: every place the image uses that code is outlined, the code is decoded alone
    code = int(tm.indices[2, 5])
    places = tab.tokens.select(2, 5)
    assert sorted(places) == sorted(map(tuple, np.argwhere(tm.indices == code).tolist()))
    assert sorted(tab.tokens.outlined()) == sorted(places)
    assert np.allclose(tab.code_view.image, task.code_patch(tab.tokenizer, code, tab.background))
    assert f"code {code}" in tab.code_view.plot_item.titleLabel.text


def test_bad_files_leave_the_tokenizer_and_say_why(tab, qtbot, tmp_path):
    before = tab.tokenizer
    other = save_checkpoint(tmp_path / "vae.safetensors", Checkpoint("vae", "vae-mlp", {"w": torch.zeros(1)}))
    with qtbot.waitSignal(tab.runner.errored, timeout=30_000):
        tab.load_model(other)
    assert tab.tokenizer is before
    assert "vae tab" in tab.banner.text
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image at all")
    with qtbot.waitSignal(tab.drop_runner.errored, timeout=30_000):
        tab.open_path(broken)
    assert "broken.png" in tab.banner.text and tab.tokenizer is before


@pytest.mark.slow
def test_the_tab_opens_on_the_shipped_models(qtbot):
    from lab_app.topics.vq import checkpoints as ck

    if not ck.SHIPPED_TOKENIZER.exists():
        pytest.skip("no shipped checkpoint (python -m lab_app.topics.vq.make_checkpoint makes it)")
    tab = VqTab(LabContext(torch.device("cpu")))
    qtbot.addWidget(tab)
    tab.resize(1400, 900)
    tab.show()
    try:
        with qtbot.waitSignal(tab.demo_ready, timeout=240_000):
            tab.ensure_demo()
        k = tab.tokenizer.num_codes
        assert len(tab.usage.sorted_share) == k and tab.usage.sorted_share.sum() == pytest.approx(100.0)
        assert tab.tokens.indices.shape == (7, 7)
        assert tab.recon.image.shape == (2 * 28 + 1, 8 * 28 + 7)          # 8 digits over their reconstructions
        assert tab.loss_curve.names() and tab.prior_panel.curve.names()     # the shipped runs' curves
        step = tab.prior_panel.last_step
        assert step.t == step.total == 49 and (step.tokens >= 0).all()
        assert step.labels == tuple(range(10))                              # one sample per class token
        assert tab.prior_panel.samples.image.shape == (2 * 29 - 1, 5 * 29 - 1)
    finally:
        assert tab.shutdown()
