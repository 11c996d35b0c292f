"""Work of the language tab (no Qt): read a corpus, fit n-gram models, sweep perplexity over n and
smoothing, count counts, train skip-gram embeddings. Generators run by the TaskRunner; they yield
events to draw and return the final result."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lab_app.core.control import Control
from lab_app.core.device import seeded_init
from lab_app.core.events import Message, Progress, Snapshot
from lab_app.core.seeds import seed_field
from lab_app.data.corpus import TOKENISATIONS, Corpus, default_documents, load_document, make_corpus
from models.ngram import SMOOTHINGS, NGramLM
from models.ngram_counts import EncodedCorpus, NGramCounts, Vocabulary
from models.word2vec import SkipGramConfig, SkipGramTrainer, pca_2d

MAX_ORDER = 5
HELDOUT_TOKENS = 5000
HEATMAP_WORDS = 14
COUNT_ORDERS = 3
MAX_COUNT = 10
EMBED_VOCAB = 4000  # most frequent words that get an embedding
EMBED_SHOWN = 1500  # of those, how many the scatter draws
DEMO_SENTENCE = "To be, or not to be, that is the question."


@dataclass(frozen=True)
class LanguageConfig:
    """The tab's knobs (ParamPanel builds the controls from the metadata)."""

    tokenisation: str = field(default="words", metadata={
        "label": "Tokens", "choices": list(TOKENISATIONS),
        "tip": "words: words and punctuation, case kept; lower: lower-cased; characters: one token per "
               "character (a line is a sentence)"})
    order: int = field(default=3, metadata={
        "label": "n (order)", "min": 1, "max": MAX_ORDER,
        "tip": "The model conditions on the n-1 previous tokens"})
    smoothing: str = field(default="kneser_ney", metadata={
        "label": "Smoothing", "choices": list(SMOOTHINGS),
        "tip": "kneser_ney: modified Kneser-Ney; interpolated: Jelinek-Mercer, weights fit by EM on "
               "held-out sentences; add_k: add k to every count"})
    k: float = field(default=0.01, metadata={
        "label": "k (add-k)", "min": 1e-4, "max": 10.0, "log": True,
        "tip": "Pseudo-count of add-k smoothing. Small k and large n over-fit: held-out perplexity rises"})
    discount: float = field(default=0.0, metadata={
        "label": "KN discount", "min": 0.0, "max": 1.0, "step": 0.05,
        "tip": "0: the modified Kneser-Ney discounts D1, D2, D3+ from the count-of-counts; "
               "otherwise one absolute discount D for every count"})
    min_count: int = field(default=1, metadata={
        "label": "Vocab cut-off", "min": 1, "max": 20,
        "tip": "Words seen fewer times than this in training become <unk>"})
    temperature: float = field(default=1.0, metadata={
        "label": "Temperature", "min": 0.0, "max": 2.0, "step": 0.05, "live": True,
        "tip": "Sampling: p^(1/T), renormalised. T -> 0 always takes the most likely word"})
    top_k: int = field(default=0, metadata={
        "label": "Top-k", "min": 0, "max": 100, "live": True,
        "tip": "Sampling: keep only the k most likely next words (0: all)"})
    embed_dim: int = field(default=50, metadata={
        "label": "Embedding dim", "min": 2, "max": 200,
        "tip": "Size of the skip-gram word vectors"})
    window: int = field(default=3, metadata={
        "label": "Window", "min": 1, "max": 8,
        "tip": "Skip-gram: words at most this far apart count as co-occurring"})
    negatives: int = field(default=5, metadata={
        "label": "Negatives", "min": 1, "max": 20,
        "tip": "Noise words per real pair: the model learns to tell real contexts from these"})
    embed_steps: int = 3000
    seed: int = seed_field()

    def ngram_key(self) -> tuple:
        return (self.tokenisation, self.order, self.smoothing, self.k, self.discount, self.min_count)

    def embed_key(self) -> tuple:
        return (self.tokenisation, self.min_count, self.embed_dim, self.window, self.negatives, self.seed)

    def model(self, order: int | None = None, smoothing: str | None = None) -> NGramLM:
        return NGramLM(order or self.order, smoothing or self.smoothing, k=self.k,
                       discount=self.discount if self.discount > 0 else None, min_count=self.min_count)


@dataclass(frozen=True)
class ModelFitted:
    """The selected model is ready (drawn at once, before the perplexity sweep ends)."""

    coalesce = True
    model: NGramLM
    corpus: Corpus
    heldout_perplexity: float


@dataclass(frozen=True)
class Analysis:
    corpus: Corpus
    model: NGramLM
    perplexity: dict[str, np.ndarray]  # smoothing -> (MAX_ORDER,) held-out perplexity for n = 1..5
    count_of_counts: np.ndarray        # (COUNT_ORDERS, MAX_COUNT): n_r for r = 1..10, orders 1..3
    heatmap_words: list[str]
    heatmap: np.ndarray                # (W, W) p(column word | row word)


@dataclass(frozen=True)
class Embeddings:
    words: list[str]
    vectors: np.ndarray  # (V, d)
    xy: np.ndarray       # (min(V, EMBED_SHOWN), 2) PCA of the shown words


def read_documents(path: Path | None) -> list:
    """The shipped plays (path None) or one dropped file; LoadError for unusable files."""
    return default_documents() if path is None else [load_document(path)]


def read_and_analyse(path: Path | None, cfg: LanguageConfig, ctl: Control):
    """Task: read the documents (the shipped plays for None; LoadError for an unusable file) and
    analyse them; returns (documents, Analysis)."""
    documents = read_documents(path)
    yield Message(f"read {', '.join(d.name for d in documents)}")
    result = yield from analyse(cfg, documents, ctl)
    return documents, result


def analyse_documents(documents: list, cfg: LanguageConfig, ctl: Control):
    """Task: analyse documents already read (the config changed); returns (documents, Analysis)."""
    result = yield from analyse(cfg, documents, ctl)
    return documents, result


def analyse(cfg: LanguageConfig, documents: list, ctl: Control):
    """Tokenise, fit the selected model, then sweep perplexity over n and smoothing."""
    corpus = make_corpus(documents, cfg.tokenisation, max_heldout_tokens=HELDOUT_TOKENS)
    yield Message(corpus.summary())
    ctl.checkpoint()
    encoded = EncodedCorpus.of(corpus.train, cfg.min_count)    # once for every fit below
    model = cfg.model().fit(corpus.train, encoded)
    heldout_pp = model.perplexity(corpus.heldout) if corpus.heldout else float("nan")
    yield ModelFitted(model, corpus, heldout_pp)

    counts = NGramCounts.count(encoded.ids, COUNT_ORDERS, len(model.vocab))
    n_r = np.stack([counts.count_of_counts(k, MAX_COUNT) for k in range(1, COUNT_ORDERS + 1)])
    words, probs = bigram_heatmap(cfg, corpus, model if cfg.order == 2 else None, encoded)
    yield Snapshot("counts", {"n_r": n_r, "words": words, "heatmap": probs})

    grid = {s: np.full(MAX_ORDER, np.nan) for s in SMOOTHINGS}
    total = len(SMOOTHINGS) * MAX_ORDER
    for i, (smoothing, n) in enumerate((s, n) for s in SMOOTHINGS for n in range(1, MAX_ORDER + 1)):
        ctl.checkpoint()
        if corpus.heldout:
            same = (n, smoothing) == (cfg.order, cfg.smoothing)
            m = model if same else cfg.model(n, smoothing).fit(corpus.train, encoded)
            grid[smoothing][n - 1] = heldout_pp if same else m.perplexity(corpus.heldout)
        yield Progress(i + 1, total, text=f"perplexity: {smoothing}, n = {n}")
        yield Snapshot("perplexity", {s: v.copy() for s, v in grid.items()})
    return Analysis(corpus, model, grid, n_r, words, probs)


def bigram_heatmap(cfg: LanguageConfig, corpus: Corpus, model: NGramLM | None = None,
                   encoded: EncodedCorpus | None = None):
    """p(w2 | w1) of the current smoothing's bigram model for the most frequent word tokens."""
    model = model or cfg.model(2).fit(corpus.train, encoded)
    ids = [i for i, w in enumerate(model.vocab.words) if i > 2 and re.search(r"\w", w)][:HEATMAP_WORDS]
    words = model.vocab.decode(ids)
    probs = np.stack([model.next_distribution((w,))[ids] for w in words]) if ids else np.zeros((0, 0))
    return words, probs


def train_embeddings(cfg: LanguageConfig, corpus: Corpus, ctl: Control):
    """Skip-gram with negative sampling on the training sentences; the space (PCA) drawn live."""
    vocab = Vocabulary.build(corpus.train, max(cfg.min_count, 2))
    keep = min(len(vocab), EMBED_VOCAB + 3)
    words = vocab.words[3:keep]
    ids = [vocab.encode(s) for s in corpus.train]
    # Only the kept words take part (ids shifted past the specials); the rest are dropped, not <unk>.
    sentences = [s[(s >= 3) & (s < keep)] - 3 for s in ids]
    if not words:
        raise ValueError("too few repeated words to learn embeddings from (lower the vocabulary cut-off)")
    with seeded_init(cfg.seed):   # the trainer seeds torch's process-wide generator for its vectors
        trainer = SkipGramTrainer(sentences, len(words), SkipGramConfig(
            dim=cfg.embed_dim, window=cfg.window, negatives=cfg.negatives, seed=cfg.seed), ctl.device)
    shown = min(len(words), EMBED_SHOWN)
    yield Message(f"skip-gram: {len(words):,} words, {len(trainer.all_pairs):,} pairs "
                  f"(window {cfg.window}), {cfg.negatives} negatives each")
    smoothed = None
    for step in range(1, cfg.embed_steps + 1):
        ctl.checkpoint()
        loss = trainer.step()
        smoothed = loss if smoothed is None else 0.95 * smoothed + 0.05 * loss
        if step % 20 == 0 or step == cfg.embed_steps:
            yield Progress(step, cfg.embed_steps, {"loss": smoothed}, text=f"epoch {trainer.epoch}")
        if step % 100 == 0 or step == cfg.embed_steps:
            vectors = trainer.model.embeddings()
            yield Snapshot("embedding", {"xy": pca_2d(vectors[:shown]), "words": words[:shown]})
    vectors = trainer.model.embeddings()
    return Embeddings(words, vectors, pca_2d(vectors[:shown]))


def sample_sentences(model: NGramLM, temperature: float, top_k: int, prefix: list[str], count: int,
                     seed: int, ctl: Control):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        ctl.checkpoint()
        out.append(model.sample(rng, temperature, top_k, prefix=prefix))
        yield Progress(len(out), count)
    return out


def export_arpa(model: NGramLM, path: Path, ctl: Control):
    ctl.checkpoint()
    model.to_arpa(path)
    return path


def frequency_labels(n: int) -> np.ndarray:
    """Scatter colours by frequency rank: 0 = top 100, 1 = rank 100-500, 2 = rarer."""
    rank = np.arange(n)
    return np.where(rank < 100, 0, np.where(rank < 500, 1, 2))


FREQUENCY_CLASSES = ["100 most frequent", "rank 100-500", "rarer"]
