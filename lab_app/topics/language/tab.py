"""The language-model tab: n-gram models on Shakespeare (or any dropped text), the chain rule drawn
word by word as you type, perplexity against n for each smoothing, counts, sampling, and skip-gram
embeddings trained live. Three runners: the n-gram analysis, the embedding training (so changing n
does not stop it) and small jobs (sampling, ARPA export)."""

from __future__ import annotations

from dataclasses import asdict
from functools import partial
from pathlib import Path

import numpy as np
from PySide6.QtWidgets import (
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from lab_app.data.corpus import tokenize_line
from lab_app.qt.layout import side_panel_split
from lab_app.qt.tab_base import TopicTab
from lab_app.qt.widgets.bars import Bars
from lab_app.qt.widgets.loss_curve import LossCurve
from lab_app.qt.widgets.param_panel import ParamPanel
from lab_app.topics.language import task
from lab_app.topics.language.views import (
    BigramHeatmap,
    ChainRuleBars,
    CountOfCountsPlot,
    EmbeddingView,
    PerplexityPlot,
)
from models.word2vec import analogy, cosine_neighbours

IDEA = """
<b>Language models</b> score a sentence by the chain rule:
p(w<sub>1</sub>..w<sub>m</sub>) = &prod;<sub>i</sub> p(w<sub>i</sub> | w<sub>1</sub>..w<sub>i-1</sub>).
An <i>n</i>-gram model keeps only the last n-1 words of the context and counts.
Counts give zero to anything unseen, so the mass is <b>smoothed</b>: add k to every count, interpolate
with shorter contexts, or (Kneser-Ney) subtract a discount D and hand it to a lower order that counts
<i>in how many contexts</i> a word appears.<br><br>
<b>Perplexity</b> = exp(-mean ln p) on held-out text: the number of equally likely words the model
hesitates between. Without smoothing, larger n over-fits and perplexity climbs again.<br><br>
<b>Skip-gram with negative sampling</b> trades the normalised softmax for a binary task: tell a real
(word, context) pair from k noise pairs,
-log &sigma;(u<sub>o</sub>&middot;v<sub>c</sub>) - &Sigma; log &sigma;(-u<sub>n</sub>&middot;v<sub>c</sub>);
words that share contexts end up close.
"""


class LanguageTab(TopicTab):
    def __init__(self, ctx, parent=None):
        super().__init__(ctx, parent)
        self.embed_runner = self.add_runner()
        self.aux_runner = self.add_runner("cpu")
        self.documents: list | None = None  # what the shown model was trained on
        self.source = "Shakespeare (4 plays)"
        self.model = None
        self.corpus = None
        self.embeddings: task.Embeddings | None = None
        self._pending_source = self.source
        self._pending_documents = None   # what a re-analysis runs on (see _on_analysis)
        self._ngram_key: tuple | None = None
        self._embed_key: tuple | None = None
        self._sample_count = 0
        self._got_perplexity = False
        self._build()
        self.runner.event.connect(self._on_event)
        self.runner.finished.connect(self._on_analysis)
        self.embed_runner.event.connect(self._on_embed_event)
        self.embed_runner.progress.connect(lambda p: self.loss_curve.append(p.step, {"loss": p.metrics["loss"]}))
        self.embed_runner.finished.connect(self._on_embeddings)
        self.aux_runner.finished.connect(self._on_aux)

    # --- layout -------------------------------------------------------------------------------------
    def _build(self) -> None:
        side = QWidget()
        col = QVBoxLayout(side)
        col.addWidget(self.idea_label(IDEA))
        box = QGroupBox("Corpus")
        bl = QVBoxLayout(box)
        row = QHBoxLayout()
        self.open_button = QPushButton("Open text...")
        self.open_button.setToolTip("Train on a .txt / .md file (UTF-8); you can also drop one anywhere")
        self.open_button.clicked.connect(self._open_dialog)
        self.demo_button = QPushButton("Shakespeare")
        self.demo_button.setToolTip("Back to the four shipped plays (the last one is held out)")
        self.demo_button.clicked.connect(self.start_demo)
        self.arpa_button = QPushButton("Export ARPA...")
        self.arpa_button.setToolTip("Save the current n-gram model in the ARPA format (KenLM, SRILM)")
        self.arpa_button.clicked.connect(self._export_arpa_dialog)
        for b in (self.open_button, self.demo_button, self.arpa_button):
            row.addWidget(b)
        bl.addLayout(row)
        self.corpus_label = QLabel("-")
        self.corpus_label.setWordWrap(True)
        bl.addWidget(self.corpus_label)
        col.addWidget(box)
        self.params = ParamPanel(task.LanguageConfig(seed=self.ctx.seed))
        self.params.live_changed.connect(self._live_changed)
        self.params.restart_changed.connect(self._restart_changed)
        col.addWidget(self.params)
        col.addStretch(1)

        self.sentence_edit = QLineEdit(task.DEMO_SENTENCE)
        self.sentence_edit.setPlaceholderText("Type a sentence: the chain rule is drawn word by word")
        self.sentence_edit.textChanged.connect(self._update_sentence)
        self.sentence_label = QLabel()
        self.chain_bars = ChainRuleBars()
        self.perplexity_plot = PerplexityPlot()
        self.next_bars = Bars(value_format="{:.3f}", title="Next word after the typed text (end mark dropped)")
        self.samples = QPlainTextEdit()
        self.samples.setReadOnly(True)
        self.sample_button = QPushButton("Sample 5 sentences")
        self.sample_button.setToolTip("Draw sentences from the model (temperature and top-k knobs), "
                                      "starting with the typed text")
        self.sample_button.clicked.connect(self._sample)
        self.counts_plot = CountOfCountsPlot()
        self.heatmap = BigramHeatmap()
        self.embedding_view = EmbeddingView()
        self.loss_curve = LossCurve(title="Skip-gram loss", y_label="loss")
        self.neighbour_edit = QLineEdit("king")
        self.neighbour_edit.setPlaceholderText("a word")
        self.neighbour_edit.textChanged.connect(self._update_probes)
        self.analogy_edits = [QLineEdit(w) for w in ("man", "king", "woman")]
        for e in self.analogy_edits:
            e.textChanged.connect(self._update_probes)
        self.probe_label = QLabel()
        self.probe_label.setWordWrap(True)
        self.train_button = QPushButton("Train embeddings")
        self.train_button.setToolTip("Train the skip-gram embeddings again from a fresh start on the current "
                                     "text and settings (after Cancel, or to watch them form again)")
        self.train_button.setEnabled(False)   # until a text is read
        self.train_button.clicked.connect(self.train_embeddings)

        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.banner)
        rl.addWidget(self.sentence_edit)
        rl.addWidget(self.sentence_label)
        top = QSplitter()
        top.addWidget(self.chain_bars)
        top.addWidget(self.perplexity_plot)
        top.setSizes([620, 420])
        self.views_tabs = QTabWidget()
        gen = QWidget()
        gl = QGridLayout(gen)
        gl.addWidget(self.next_bars, 0, 0, 2, 1)
        gl.addWidget(self.sample_button, 0, 1)
        gl.addWidget(self.samples, 1, 1)
        gl.setColumnStretch(0, 1)
        gl.setColumnStretch(1, 1)
        self.views_tabs.addTab(gen, "Next word and sampling")
        counts = QSplitter()
        counts.addWidget(self.counts_plot)
        counts.addWidget(self.heatmap)
        self.views_tabs.addTab(counts, "Counts and bigrams")
        emb = QSplitter()
        emb.addWidget(self.embedding_view)
        probes = QWidget()
        pl = QVBoxLayout(probes)
        pl.addWidget(QLabel("Nearest neighbours of"))
        pl.addWidget(self.neighbour_edit)
        pl.addWidget(QLabel("Analogy: a is to b as c is to ?"))
        arow = QHBoxLayout()
        for e in self.analogy_edits:
            arow.addWidget(e)
        pl.addLayout(arow)
        pl.addWidget(self.probe_label, 1)
        pl.addWidget(self.train_button)
        pl.addWidget(self.loss_curve, 1)
        emb.addWidget(probes)
        emb.setSizes([650, 350])
        self.views_tabs.addTab(emb, "Embeddings (skip-gram)")
        split_v = QSplitter()
        split_v.setOrientation(split_v.orientation().Vertical)
        split_v.addWidget(top)
        split_v.addWidget(self.views_tabs)
        split_v.setSizes([470, 380])
        rl.addWidget(split_v, 1)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(side_panel_split(side, right, 380))

    # --- actions ------------------------------------------------------------------------------------
    @property
    def config(self) -> task.LanguageConfig:
        return self.params.config

    def start_demo(self) -> None:
        self.demo_started = True
        self._start(None, "Shakespeare (4 plays)")

    def open_path(self, path: Path) -> None:
        self.demo_started = True
        self._start(Path(path), Path(path).name)

    def _start(self, path: Path | None, source: str) -> None:
        """Read (in the worker) and analyse; the shown model stays until the new one is ready."""
        self.banner.clear()
        self._pending_source = source
        self._pending_documents = None          # read by the task
        self.runner.start(partial(task.read_and_analyse, path, self.config), label=f"reading {source}")

    def _reanalyse(self) -> None:
        if self.documents is None:
            return
        docs, cfg = self.documents, self.config
        self._pending_source = self.source
        self._pending_documents = docs          # the same text: the task (maybe in the worker) returns a copy
        self.runner.start(partial(task.analyse_documents, docs, cfg), label="fitting n-gram models")

    def _open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open text", "", "Text (*.txt *.md *.text);;All files (*)")
        if path:
            self.open_path(Path(path))

    def _export_arpa_dialog(self) -> None:
        if self.model is None:
            return
        if self.model.smoothing == "add_k":
            self.banner.show_message("add-k is not a back-off model: choose Kneser-Ney or interpolated "
                                     "smoothing to export ARPA", "warning")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export ARPA", f"{self.model.order}gram.arpa", "ARPA (*.arpa)")
        if path:
            self.export_arpa(Path(path))

    def export_arpa(self, path: Path) -> None:
        self.aux_runner.start(partial(task.export_arpa, self.model, Path(path)), label="writing ARPA")

    def _sample(self) -> None:
        if self.model is None:
            return
        cfg = self.config
        prefix = tokenize_line(self.sentence_edit.text(), cfg.tokenisation)
        prefix = prefix[: max(0, len(prefix) - 1)] if prefix and prefix[-1] in ".!?" else prefix
        self._sample_count += 1
        self.aux_runner.start(partial(task.sample_sentences, self.model, cfg.temperature, cfg.top_k,
                                      prefix[-3:], 5, cfg.seed + self._sample_count), label="sampling")

    def _live_changed(self, name, value) -> None:
        pass  # temperature and top-k are read when sampling

    def _restart_changed(self, name, value) -> None:
        cfg = self.config
        if self.documents is not None and cfg.ngram_key() != self._ngram_key:
            self._reanalyse()
        elif self.corpus is not None and cfg.embed_key() != self._embed_key:
            self._start_embeddings()

    def train_embeddings(self) -> None:
        """Train the skip-gram embeddings from a fresh start on the text shown (nothing before a text is
        read)."""
        if self.corpus is not None:
            self._start_embeddings()

    def _start_embeddings(self) -> None:
        cfg = self.config
        self._embed_key = cfg.embed_key()
        self.loss_curve.clear()
        self.embed_runner.start(partial(task.train_embeddings, cfg, self.corpus), label="skip-gram")

    # --- results ------------------------------------------------------------------------------------
    def _on_event(self, ev) -> None:
        if isinstance(ev, task.ModelFitted):
            self.model, self.corpus = ev.model, ev.corpus
            self.train_button.setEnabled(True)
            self.corpus_label.setText(f"{self._pending_source}<br>{ev.corpus.summary()}<br>"
                                      f"{self._model_text(ev.model, ev.heldout_perplexity)}")
            self.arpa_button.setEnabled(ev.model.smoothing != "add_k")
            self.perplexity_plot.mark(ev.model.order, ev.heldout_perplexity)
            self._update_sentence()
        elif isinstance(ev, task.Snapshot) and ev.name == "perplexity":
            self.perplexity_plot.set_grid(ev.data)
        elif isinstance(ev, task.Snapshot) and ev.name == "counts":
            self.counts_plot.set_counts(ev.data["n_r"])
            self.heatmap.set_matrix(ev.data["words"], ev.data["heatmap"])

    @staticmethod
    def _model_text(model, pp: float) -> str:
        name = {"kneser_ney": "Kneser-Ney", "interpolated": "interpolated", "add_k": f"add-k (k={model.k:g})"}
        extra = ""
        if model.smoothing == "kneser_ney" and model.discounts:
            extra = "; D1, D2, D3+ = " + ", ".join(f"{d:.2f}" for d in model.discounts[-1])
        elif model.smoothing == "interpolated":
            extra = "; lambdas " + ", ".join(f"{x:.2f}" for x in model.lambdas)
        return (f"<b>{model.order}-gram, {name[model.smoothing]}</b>{extra}<br>vocabulary {len(model.vocab):,}, "
                f"held-out perplexity <b>{pp:.1f}</b>")

    def _on_analysis(self, result) -> None:
        documents, analysis = result
        if self._pending_documents is not None:  # a re-analysis of the text shown: keep this object
            documents = self._pending_documents
        new_text = documents is not self.documents
        self.documents, self.source = documents, self._pending_source
        self._ngram_key = self.config.ngram_key()
        self.perplexity_plot.set_grid(analysis.perplexity)
        if new_text or self.config.embed_key() != self._embed_key:
            self._start_embeddings()
        if not self.samples.toPlainText():
            self._sample()
        self.demo_ready.emit()

    def _update_sentence(self) -> None:
        """Chain-rule bars and next-word bars for the typed text (a few ms: done right here)."""
        if self.model is None:
            return
        tokens = tokenize_line(self.sentence_edit.text(), self.config.tokenisation)
        rows = self.model.explain(tokens)
        self.chain_bars.set_rows(rows)
        total_bits = -sum(r["logp"] for r in rows) / np.log(2)
        backed = sum(r["backed_off"] for r in rows)
        self.sentence_label.setText(
            f"p(sentence) = exp({sum(r['logp'] for r in rows):.2f}) = 2^-{total_bits:.1f} over {len(rows)} "
            f"predictions (with &lt;/s&gt;); per-word perplexity {2 ** (total_bits / len(rows)):.1f}; "
            f"{backed} backed off")
        context = ["<s>"] + [t for t in tokens if t not in ".!?"][-4:]
        p = self.model.next_distribution(context)
        top = np.argsort(-p)[:12]
        self.next_bars.set_values(self.model.vocab.decode(top), p[top])

    def _on_embed_event(self, ev) -> None:
        if isinstance(ev, task.Snapshot) and ev.name == "embedding":
            words = ev.data["words"]
            self.embedding_view.set_words(ev.data["xy"], words, task.frequency_labels(len(words)),
                                          task.FREQUENCY_CLASSES)

    def _on_embeddings(self, result: task.Embeddings) -> None:
        self.embeddings = result
        self._update_probes()

    def _update_probes(self) -> None:
        emb = self.embeddings
        if emb is None:
            return
        index = {w: i for i, w in enumerate(emb.words)}
        lines, marked = [], []
        word = self.neighbour_edit.text().strip()
        if word in index:
            top, sims = cosine_neighbours(emb.vectors, emb.vectors[index[word]], 8, exclude=(index[word],))
            lines.append("<b>" + word + "</b>: " + ", ".join(f"{emb.words[i]} ({s:.2f})" for i, s in zip(top, sims)))
            marked += [index[word], *top.tolist()]
        elif word:
            lines.append(f"'{word}' has no embedding (rare or unseen)")
        a, b, c = (e.text().strip() for e in self.analogy_edits)
        if all(w in index for w in (a, b, c)):
            top, sims = analogy(emb.vectors, index[a], index[b], index[c], 5)
            lines.append(f"<b>{a} : {b} = {c} : ?</b> " + ", ".join(f"{emb.words[i]} ({s:.2f})" for i, s in zip(top, sims)))
            marked += top[:1].tolist()
        self.probe_label.setText("<br>".join(lines))
        self.embedding_view.mark_words(marked)

    def _on_aux(self, result) -> None:
        if isinstance(result, Path):
            self.status_message.emit(f"saved ARPA model to {result}")
        elif isinstance(result, list):
            self.samples.setPlainText("\n\n".join(" ".join(s) for s in result))

    # --- TopicTab -----------------------------------------------------------------------------------
    def views(self):
        return {"chain_rule": self.chain_bars, "perplexity": self.perplexity_plot, "next_word": self.next_bars,
                "count_of_counts": self.counts_plot, "bigrams": self.heatmap, "embeddings": self.embedding_view,
                "skipgram_loss": self.loss_curve}

    def run_config(self):
        return {**asdict(self.config), "corpus": self.source,
                "documents": [d.name for d in self.documents] if self.documents else []}

