"""The VQ tab's Qt-free tasks: stage-1 training events, seeds, dropped files, checkpoints, the prior."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from lab_app.core.control import Control
from lab_app.core.events import Progress, drain
from lab_app.io.checkpoint import Checkpoint, save_checkpoint
from lab_app.io.errors import LoadError
from lab_app.topics.vq import checkpoints as ck
from lab_app.topics.vq import prior_task as pt
from lab_app.topics.vq import task

TINY = replace(task.VqTaskConfig(), dataset="digits", limit=300, epochs=1, batch_size=32, num_codes=32,
               code_dim=4, width=8, frame_images=40, recon_count=3, dead_after=5, frame_seconds=0.0)


@pytest.fixture(scope="module")
def trained():
    events, result = drain(task.train(TINY, None, Control()))
    return events, result


def test_training_reports_codebook_frames_and_loss_terms(trained):
    events, result = trained
    assert isinstance(events[0], task.DatasetReady)
    frames = [e for e in events if isinstance(e, task.CodebookFrame)]
    assert frames, "no codebook frame"
    last = frames[-1]
    assert last.counts.shape == (32,) and last.pca_xy.shape == (32, 2)
    assert last.counts.sum() == 60 * 16             # 60 test digits x (8/2)^2 tokens
    assert last.dead == int((last.counts == 0).sum())
    assert 1.0 <= last.perplexity <= 32.0
    assert last.originals.shape == (3, 8, 8) and last.reconstructions.shape == (3, 8, 8)
    assert last.token_bits == pytest.approx(16 * 5) and last.raw_bits == 64 * 8
    progress = [e for e in events if isinstance(e, Progress)]
    assert {"reconstruction", "codebook", "commitment"} <= set(progress[0].metrics)
    assert result.scores["num_codes"] == 32 and result.tokenizer["num_codes"] == 32


def test_same_seed_same_losses_other_seed_other_losses():
    cfg = replace(TINY, limit=120, epochs=1)

    def first_losses(c):
        events, _ = drain(task.train(c, None, Control()))
        return [e.metrics["loss"] for e in events if isinstance(e, Progress)][:2]

    a, b = first_losses(cfg), first_losses(cfg)
    assert a == b
    assert first_losses(replace(cfg, seed=1)) != a


def test_gan_switch_adds_the_adaptive_weight():
    cfg = replace(TINY, limit=120, gan=True, gan_start=2)
    events, _ = drain(task.train(cfg, None, Control()))
    metrics = [e.metrics for e in events if isinstance(e, Progress)]
    assert all("lambda" in m and m["lambda"] >= 0 for m in metrics)   # reported from step 5 on
    notes = [e.text for e in events if type(e).__name__ == "Message"]
    assert notes and "LPIPS" in notes[0]                                 # says whether LPIPS is on or why not


@pytest.mark.parametrize("mode,size", [("L", (40, 30)), ("RGBA", (28, 28)), ("I;16", (20, 20)), ("RGB", (2, 2))])
def test_dropped_images_of_any_kind_give_a_token_map(trained, tmp_path, mode, size):
    _, result = trained
    model = task.build_tokenizer(result.tokenizer, result.state_dict)
    arr = (np.arange(size[0] * size[1]).reshape(size[1], size[0]) % 255).astype(np.uint16 if mode == "I;16" else np.uint8)
    im = Image.fromarray(arr).convert(mode) if mode != "I;16" else Image.fromarray(arr * 200)
    path = tmp_path / "drop.png"
    im.save(path)
    tm = task.tokenize_file(path, model, (1, 8, 8), True, Control())
    assert tm.indices.shape == (4, 4)
    assert tm.image.shape == (8, 8) and tm.reconstruction.shape == (8, 8)
    assert 0 <= tm.indices.min() and tm.indices.max() < 32


def test_a_corrupt_image_is_refused_by_name(trained, tmp_path):
    _, result = trained
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    with pytest.raises(LoadError, match="broken.png"):
        task.tokenize_file(bad, task.build_tokenizer(result.tokenizer, result.state_dict), (1, 8, 8), True, Control())


def test_a_folder_without_images_is_refused(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with pytest.raises(LoadError, match="readable images"):
        task.get_dataset(replace(TINY, dataset="folder", data_root=str(tmp_path)))


def test_code_patch_shows_the_code_alone(trained):
    _, result = trained
    model = task.build_tokenizer(result.tokenizer, result.state_dict)
    patch = task.code_patch(model, 3, 0)
    assert patch.shape == (6, 6)                      # 3 x 3 tokens of f = 2 pixels
    assert not np.allclose(patch, task.code_patch(model, 17, 0))


def test_checkpoints_round_trip_and_refuse_the_wrong_ones(trained, tmp_path):
    _, result = trained
    path = ck.save_tokenizer(tmp_path / "tok.safetensors", result, "digits")
    model, again = ck.load_tokenizer(path)
    x = torch.rand(2, 1, 8, 8)
    original = task.build_tokenizer(result.tokenizer, result.state_dict).eval()
    assert torch.equal(model.encode(x), original.encode(x))
    assert again.scores == result.scores

    other_tab = save_checkpoint(tmp_path / "vae.safetensors", Checkpoint("vae", "vae-mlp", {"w": torch.zeros(1)}))
    with pytest.raises(LoadError, match="vae tab"):
        ck.load_tokenizer(other_tab)

    data = task.get_dataset(TINY)
    prior_cfg = replace(pt.PriorTaskConfig(), n_layer=1, n_embd=32, epochs=1, batch_size=64)
    events, prior = drain(pt.train_prior(prior_cfg, model, data, Control()))
    ready = next(e for e in events if isinstance(e, pt.TokensReady))
    assert ready.train_tokens == len(data.x_train) * 16 and ready.unigram_nll > 0
    assert "token NLL (test)" in [k for e in events if isinstance(e, Progress) for k in e.metrics]
    prior_path = ck.save_prior(tmp_path / "prior.safetensors", prior, model)
    loaded, _ = ck.load_prior(prior_path, model)
    assert loaded.cfg.vocab_size == 32

    bigger = task.build_tokenizer({**result.tokenizer, "num_codes": 64})
    with pytest.raises(LoadError, match="codebook of 32 codes; the tokenizer has 64"):
        ck.load_prior(prior_path, bigger)
    retrained = task.build_tokenizer(result.tokenizer)         # same K, other weights
    with pytest.raises(LoadError, match="another tokenizer"):
        ck.load_prior(prior_path, retrained)

    # sampling fills the grid token by token; undrawn tokens are -1
    steps, final = drain(pt.sample(loaded, model, 4, {"temperature": 1.0, "top_k": 5}, 0, 0, Control()))
    assert [s.t for s in steps] == list(range(1, 17))
    assert (steps[0].tokens.reshape(4, -1)[:, 1:] == -1).all() and (steps[-1].tokens >= 0).all()
    assert steps[-1].images.shape == (4, 8, 8) and final.shape == (4, 4, 4)
    assert steps[0].labels == (0, 1, 2, 3)


def test_loading_the_shipped_models_comes_as_three_events_drawn_one_after_another():
    """The models and dataset first, then the codebook's frame, then the demo's tokens and the prior:
    the runner's drain gives each its own tick when the one before spent its budget."""
    if not (ck.SHIPPED_TOKENIZER.exists() and ck.SHIPPED_PRIOR.exists()):
        pytest.skip("no shipped checkpoints (python -m lab_app.topics.vq.make_checkpoint makes them)")
    events = list(ck.load_stage1(ck.SHIPPED_TOKENIZER, Control(), prior_path=ck.SHIPPED_PRIOR))
    assert [type(e).__name__ for e in events] == ["Loaded", "CodebookFrame", "LoadedShown"]
    loaded, frame, shown = events
    assert loaded.data is not None and len(frame.counts) == loaded.tokenizer.num_codes
    assert shown.demo_map.indices.shape == (7, 7) and shown.prior is not None
    assert shown.prior_trained.history   # the prior's curves travel with it
