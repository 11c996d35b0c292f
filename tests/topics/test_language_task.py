"""The language tab's work without Qt: analysis events and results, embeddings, bad files."""

import dataclasses

import numpy as np
import pytest
import torch

from lab_app.core.control import Control
from lab_app.core.events import Snapshot, drain
from lab_app.data.corpus import Document, default_documents
from lab_app.io import LoadError
from lab_app.topics.language import task

run = drain   # (events, result) of a task run to its end without a runner


TEXT = Document("tiny", "\n\n".join(
    ["The king is dead. Long live the king!", "The queen is here. The king is here.",
     "My lord, the king is dead.", "Good night, sweet prince.", "The king is gone. The queen is dead."] * 4))


def test_analyse_draws_the_model_first_then_the_perplexity_sweep():
    cfg = task.LanguageConfig(order=2)
    events, result = run(task.analyse(cfg, [TEXT], Control()))
    fitted = [i for i, e in enumerate(events) if isinstance(e, task.ModelFitted)]
    sweeps = [i for i, e in enumerate(events) if isinstance(e, Snapshot) and e.name == "perplexity"]
    assert len(fitted) == 1 and len(sweeps) == 15 and fitted[0] < sweeps[0]
    assert events[fitted[0]].model is result.model and result.model.order == 2
    assert all(np.isfinite(v).all() for v in result.perplexity.values())
    # the selected model's held-out perplexity is the grid's entry for it
    assert result.perplexity["kneser_ney"][1] == pytest.approx(events[fitted[0]].heldout_perplexity)
    # the text is repeated 4 times: no n-gram is seen once, "Good night, sweet prince" 4 times
    assert result.count_of_counts.shape == (3, task.MAX_COUNT) and result.count_of_counts[:, 0].sum() == 0
    assert result.count_of_counts[0, 3] > 0
    assert result.heatmap_words[:2] == ["is", "king"] and "," not in result.heatmap_words  # words by count
    assert (result.heatmap.sum(axis=1) <= 1 + 1e-9).all()
    row, col = result.heatmap_words.index("king"), result.heatmap_words.index("is")
    assert result.heatmap[row, col] == pytest.approx(np.exp(result.model.logprob("is", ("king",))))


def test_shakespeare_sweep_shows_the_u_shape_of_add_k():
    cfg = task.LanguageConfig()
    _, result = run(task.analyse(cfg, default_documents(), Control()))
    add_k, kn = result.perplexity["add_k"], result.perplexity["kneser_ney"]
    assert add_k[4] > add_k[1] * 3  # no real smoothing: longer contexts over-fit
    assert kn[2] < kn[0] and kn[2] < add_k[2] / 5  # Kneser-Ney keeps improving with n
    assert result.corpus.heldout_name == "king-lear"


def test_embeddings_train_and_report_the_space():
    torch.set_num_threads(1)
    cfg = dataclasses.replace(task.LanguageConfig(embed_dim=8, window=2), embed_steps=200)
    corpus = run(task.analyse(dataclasses.replace(cfg, order=1), [TEXT], Control()))[1].corpus
    events, emb = run(task.train_embeddings(cfg, corpus, Control()))
    snaps = [e for e in events if isinstance(e, Snapshot) and e.name == "embedding"]
    assert len(snaps) == 2 and snaps[-1].data["xy"].shape == (len(emb.words), 2)
    assert emb.vectors.shape == (len(emb.words), 8) and "king" in emb.words
    losses = [e.metrics["loss"] for e in events if hasattr(e, "metrics")]
    assert losses[-1] < losses[0]


def test_bad_dropped_file_raises_load_error(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_bytes(b"\xff\xfe\xfa\x00\x00binary")
    with pytest.raises(LoadError, match="notes.txt"):
        task.read_documents(bad)
    assert [d.name for d in task.read_documents(None)] == ["hamlet", "macbeth", "othello", "king-lear"]
