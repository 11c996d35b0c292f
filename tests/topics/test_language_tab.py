"""The language tab through its real widgets: demo, typing, bad and good drops, ARPA export, sampling."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from lab_app.qt.tab_base import LabContext
from lab_app.topics.language.tab import LanguageTab
from lab_app.topics.language.views import BACKED_OFF_COLOR, FULL_CONTEXT_COLOR
from models.ngram_arpa import ArpaModel


@pytest.fixture
def tab(qtbot):
    t = LanguageTab(LabContext(torch.device("cpu")))
    qtbot.addWidget(t)
    t.resize(1400, 900)
    t.show()
    yield t
    assert t.shutdown()


def test_demo_then_typing_then_drops(qtbot, tab, tmp_path):
    with qtbot.waitSignal(tab.demo_ready, timeout=60000):
        tab.start_demo()
    model = tab.model
    assert model.order == 3 and tab.corpus.heldout_name == "king-lear"
    # chain rule: one bar per token and </s>, bar = -log2 p of the model's own conditional
    names = tab.chain_bars.names()
    assert names[0].startswith("To ") and names[-1].startswith("</s>") and len(names) == 14
    rows = model.explain(["To", "be"])
    assert tab.chain_bars.values()[0] == pytest.approx(-np.log2(rows[0]["p"]))
    colors = tab.chain_bars.bar_colors()
    assert {tuple(c) for c in colors} <= {BACKED_OFF_COLOR, FULL_CONTEXT_COLOR}
    assert [c == BACKED_OFF_COLOR for c in colors] == [r["backed_off"] for r in tab.chain_bars.rows]
    # perplexity vs n: five points per smoothing; the current model ringed
    for smoothing in ("kneser_ney", "interpolated", "add_k"):
        x, y = tab.perplexity_plot.curve_data(smoothing)
        assert list(x) == [1, 2, 3, 4, 5] and np.isfinite(y).all()
    assert tab.heatmap.probs.shape == (14, 14) and len(tab.counts_plot.curves[0].getData()[0]) > 5

    tab.sentence_edit.setText("the king")  # live: redrawn at once, no run
    assert [n.split()[0] for n in tab.chain_bars.names()] == ["the", "king", "</s>"]
    p = model.next_distribution(["<s>", "the", "king"])
    assert tab.next_bars.values()[0] == pytest.approx(p.max())

    bad = tmp_path / "latin.txt"
    bad.write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    with qtbot.waitSignal(tab.runner.errored, timeout=10000):
        tab.open_path(bad)
    assert "latin.txt" in tab.banner.text and "UTF-8" in tab.banner.text
    assert tab.model is model  # the previous corpus and model stay

    good = tmp_path / "play.txt"
    good.write_text("\n\n".join(["The cat sat on the mat.", "The dog sat on the log.", "A cat saw a dog."] * 5))
    with qtbot.waitSignal(tab.runner.finished, timeout=20000):
        tab.open_path(good)
    assert tab.model is not model and "cat" in tab.model.vocab and tab.source == "play.txt"

    path = tmp_path / "out.arpa"
    with qtbot.waitSignal(tab.aux_runner.finished, timeout=10000):
        tab.export_arpa(path)
    arpa = ArpaModel(path)
    assert arpa.order == 3
    assert arpa.log10prob("sat", ["The", "cat"]) == pytest.approx(tab.model.logprob("sat", ("The", "cat")) / np.log(10),
                                                                abs=1e-6)
    with qtbot.waitSignal(tab.aux_runner.finished, timeout=10000):
        tab._sample()
    assert len(tab.samples.toPlainText().split("\n\n")) == 5
    for name, view in tab.views().items():
        assert view.export_png(tmp_path / f"{name}.png").stat().st_size > 1000


PLAY = "\n\n".join(["The owl sat on the oak.", "The newt sat on the log.", "An owl saw a newt."] * 6)


def test_text_opened_on_a_fresh_tab_is_what_it_trains_on(qtbot, tab, tmp_path):
    path = tmp_path / "owls.txt"
    path.write_text(PLAY)
    with qtbot.waitSignal(tab.demo_ready, timeout=60000):
        tab.open_path(path)  # what the window does with a file given at start-up (demo off)
    assert tab.source == "owls.txt" and "owls.txt" in tab.corpus_label.text()
    assert "owl" in tab.model.vocab and "newt" in tab.model.vocab and "king" not in tab.model.vocab
    assert tab.embed_runner.busy or tab.embeddings is not None  # the skip-gram trains on it too


def test_text_dropped_while_the_demo_trains_replaces_it(qtbot, tab, tmp_path):
    path = tmp_path / "owls.txt"
    path.write_text(PLAY)
    tab.start_demo()
    assert tab.runner.busy
    with qtbot.waitSignal(tab.demo_ready, timeout=60000):
        tab.open_path(path)
    assert tab.source == "owls.txt" and "newt" in tab.model.vocab and "king" not in tab.model.vocab


def test_train_embeddings_starts_the_skip_gram_again_after_a_cancel(qtbot, tab, tmp_path):
    assert not tab.train_button.isEnabled()   # no text yet: nothing to train on
    tab.train_embeddings()
    assert not tab.embed_runner.busy
    path = tmp_path / "owls.txt"
    path.write_text(PLAY)
    with qtbot.waitSignal(tab.demo_ready, timeout=60000):
        tab.open_path(path)
    assert tab.train_button.isEnabled() and tab.embed_runner.busy
    qtbot.waitUntil(lambda: "loss" in tab.loss_curve.names() and len(tab.loss_curve.series("loss")[0]) >= 3,
                    timeout=30000)
    with qtbot.waitSignal(tab.embed_runner.cancelled, timeout=30000):
        tab.embed_runner.cancel()
    reached = tab.loss_curve.series("loss")[0][-1]
    assert not tab.embed_runner.busy and tab.embeddings is None
    tab.train_button.click()
    assert tab.embed_runner.busy and tab.loss_curve.names() == []   # a fresh run, its own curve
    qtbot.waitUntil(lambda: "loss" in tab.loss_curve.names(), timeout=30000)
    assert tab.loss_curve.series("loss")[0][0] < reached   # from the start again, not resumed


def test_embedding_view_labels_the_frequent_words_and_the_marked_ones(qtbot):
    from lab_app.topics.language.views import EmbeddingView

    view = EmbeddingView(n_labels=5)
    qtbot.addWidget(view)
    words = [f"w{i}" for i in range(30)]
    xy = np.random.default_rng(0).normal(size=(30, 2)).astype(np.float32)
    view.set_words(xy, words, np.zeros(30, np.int64), ["all"])
    assert view.label_texts() == words[:5]
    assert np.allclose([(x, y) for x, y, _ in view.label_points()], xy[:5], atol=1e-6)
    assert view._plain.texts() == words[:5] and view._yellow.texts() == []    # what each item paints
    view.mark_words([20, 2])                      # a rare word gets a label too; a frequent one keeps its own
    assert view.label_texts() == words[:5] + ["w20"]
    assert [yellow for *_, yellow in view.label_points()] == [False, False, True, False, False, True]
    assert view._yellow.texts() == ["w2", "w20"] and "w2" not in view._plain.texts()
    view.set_words(xy[:3], words[:3], np.zeros(3, np.int64), ["all"])   # fewer words: fewer labels
    assert view.label_texts() == words[:3]


@pytest.mark.slow
def test_the_analysis_runs_in_the_worker_and_a_reanalysis_keeps_the_text(qtbot, tab, caplog):
    """Tokenising and fitting the n-gram models holds the interpreter lock for seconds: with the
    worker process on, the analysis runs there (it pickles: no fallback to a thread); the result is a
    copy, yet a re-analysis of the same text keeps the tab's documents and does not retrain the
    skip-gram."""
    from lab_app.core.procpool import ProcessBackend

    caplog.set_level("INFO", logger="lab_app.qt.worker")
    backend = ProcessBackend()
    backend.start()
    try:
        tab.runner.backend = backend
        with qtbot.waitSignal(tab.demo_ready, timeout=90000):
            tab.start_demo()
        docs, model = tab.documents, tab.model
        assert model.order == 3 and tab.corpus.heldout_name == "king-lear"
        retrained = []
        tab._start_embeddings = lambda: retrained.append(True)
        tab.params.set_config(replace(tab.config, order=2))
        with qtbot.waitSignal(tab.runner.finished, timeout=60000):
            tab._reanalyse()
        assert tab.documents is docs and tab.model.order == 2 and retrained == []
        assert not [r for r in caplog.records if "runs in this process" in r.getMessage()]
    finally:
        tab.runner.backend = None
        assert tab.shutdown()
        backend.close()
