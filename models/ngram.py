"""N-gram language models: the chain rule with a context cut to n-1 words, and three ways to smooth.

A language model gives a sentence the probability

    p(w1 .. wm) = prod_i p(wi | w1 .. wi-1)  ~  prod_i p(wi | wi-n+1 .. wi-1)

with <s> before w1 and </s> as the last word (so sentences of every length share one distribution).
Counts alone give zero to anything unseen, hence smoothing. With h a context, h' the context
without its first word, c(.) counts and V the number of words that can be predicted (all but <s>):

- add-k:         p(w | h) = (c(h w) + k) / (c(h) + k V)
- interpolated:  p(w | h) = lam_n c(h w) / c(h) + (1 - lam_n) p(w | h'), down to a uniform 1/V;
                 one lam per order, fit by EM on held-out sentences (the last 10% of training).
- Kneser-Ney (interpolated, modified; Chen & Goodman 1998):
                 p(w | h) = max(a(h w) - D(a), 0) / a(h .) + gamma(h) p(w | h'),
                 gamma(h) = (D1 N1(h .) + D2 N2(h .) + D3+ N3+(h .)) / a(h .),
  where a = the raw count at the highest order and, below it, the *continuation count* N1+(. g):
  in how many different contexts g was seen (and the raw count for n-grams starting with <s>).
  D1 = 1 - 2Y n2/n1, D2 = 2 - 3Y n3/n2, D3+ = 3 - 4Y n4/n3, Y = n1 / (n1 + 2 n2), with n_r the
  number of n-grams of that order with a = r. The unigram level interpolates with 1/V.

Where a context was never seen, every method uses the shorter context. Every level has the form
p_k = (numer(h w) + gamma(h) p_{k-1}) / denom(h), which is what ``_levels`` stores (vectorised,
numpy arrays indexed by the trie of ``ngram_counts``), and what the ARPA format writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from models.ngram_counts import BOS, EOS, UNK, EncodedCorpus, NGramCounts, Vocabulary

__all__ = ["NGramLM", "SMOOTHINGS", "BOS", "EOS", "UNK", "Vocabulary", "NGramCounts", "EncodedCorpus"]

SMOOTHINGS = ("kneser_ney", "interpolated", "add_k")
LN10 = np.log(10.0)


class NGramLM:
    """An n-gram model of ``order`` 1..5 with ``smoothing`` "kneser_ney" | "interpolated" | "add_k".

    ``k``: the add-k pseudo-count. ``discount``: None = modified Kneser-Ney discounts from the
    count-of-counts; a number = one absolute discount for every count (plain interpolated KN).
    ``min_count``: words seen fewer times in training become <unk>.
    """

    def __init__(self, order: int = 3, smoothing: str = "kneser_ney", k: float = 1.0,
                 discount: float | None = None, min_count: int = 1, heldout_fraction: float = 0.1):
        if not 1 <= order <= 5:
            raise ValueError(f"order must be 1..5, not {order}")
        if smoothing not in SMOOTHINGS:
            raise ValueError(f"smoothing must be one of {SMOOTHINGS}, not {smoothing!r}")
        if k <= 0:
            raise ValueError("k must be > 0")
        self.order, self.smoothing, self.k, self.discount = order, smoothing, float(k), discount
        self.min_count, self.heldout_fraction = int(min_count), heldout_fraction
        self.vocab: Vocabulary | None = None
        self.counts: NGramCounts | None = None
        self.lambdas: list[float] = []  # interpolated: weight of each order's ML estimate, k = 1..n
        self.discounts: list[tuple[float, float, float]] = []  # Kneser-Ney: (D1, D2, D3+) per order
        self._levels: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    # ------------------------------------------------------------------ fitting
    def fit(self, sentences: Sequence[Sequence[str]], encoded: EncodedCorpus | None = None) -> NGramLM:
        """Count and smooth. ``sentences``: lists of tokens, without <s> / </s>. ``encoded``: the same
        sentences already encoded (``EncodedCorpus.of(sentences, min_count)``), shared by several fits."""
        if encoded is None or encoded.min_count != self.min_count:
            encoded = EncodedCorpus.of(sentences, self.min_count)
        self.vocab, ids = encoded.vocab, encoded.ids
        if self.smoothing == "interpolated":
            self.lambdas = self._fit_lambdas(ids)
        self.counts = NGramCounts.count(ids, self.order, len(self.vocab))
        self._levels = [self._level(k) for k in range(1, self.order + 1)]
        return self

    @property
    def n_predictable(self) -> int:
        """V: every word but <s> can come next."""
        return len(self.vocab) - 1

    def _level(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(numer per k-gram, gamma per context, denom per context) of level k."""
        c = self.counts
        n_contexts = 1 if k == 1 else len(c.keys[k - 2])
        prefix = c.prefix(k)
        if self.smoothing == "kneser_ney":
            a = self._adjusted_counts(k)
            numer = np.maximum(a - self._discount_of(a, k), 0.0)
            denom = np.bincount(prefix, weights=a, minlength=n_contexts)
            gamma = np.bincount(prefix, weights=a - numer, minlength=n_contexts)  # exactly what was taken
            return numer, gamma, denom
        raw = c.counts[k - 1].astype(np.float64)
        if k == 1:
            raw = raw.copy()
            raw[Vocabulary.bos] = 0.0
        denom = np.bincount(prefix, weights=raw, minlength=n_contexts)
        if self.smoothing == "interpolated":
            lam = self.lambdas[k - 1]
            return lam * raw, (1.0 - lam) * denom, denom
        return raw, denom, denom  # add-k reads raw counts and context totals only

    def _adjusted_counts(self, k: int) -> np.ndarray:
        c = self.counts
        raw = c.counts[k - 1].astype(np.float64)
        if k == self.order:
            a = raw.copy()
        else:  # continuation count: distinct words seen before the k-gram
            a = np.bincount(c.suffix[k], minlength=len(raw)).astype(np.float64)
            starts = c.first[k - 1] == Vocabulary.bos  # nothing can come before <s>
            a[starts] = raw[starts]
        if k == 1:
            a[Vocabulary.bos] = 0.0
        return a

    def _discount_of(self, a: np.ndarray, k: int) -> np.ndarray:
        if self.discount is not None:
            d = (float(self.discount),) * 3
        else:
            n = np.bincount(a[a > 0].astype(np.int64), minlength=5)[1:5].astype(np.float64)  # n1..n4
            d = modified_kn_discounts(*n)
        if len(self.discounts) < k:
            self.discounts.append(d)
        else:
            self.discounts[k - 1] = d
        table = np.array([0.0, d[0], d[1], d[2]])
        return np.minimum(table[np.minimum(a, 3).astype(np.int64)], a)

    def _fit_lambdas(self, ids: list[np.ndarray], iterations: int = 40) -> list[float]:
        """Jelinek-Mercer weights by EM on the last ``heldout_fraction`` of the sentences."""
        n_dev = max(1, int(round(self.heldout_fraction * len(ids)))) if len(ids) > 1 else 0
        train, dev = ids[: len(ids) - n_dev], ids[len(ids) - n_dev:]
        if not dev or not train:
            return [0.5] * self.order
        self.counts = NGramCounts.count(train, self.order, len(self.vocab))
        self.lambdas = [1.0] * self.order
        contexts, words = self._queries(dev)
        ml, has_ctx = [], []
        for k in range(1, self.order + 1):
            numer, _, denom = self._level(k)
            h, hw = self._lookup(k, contexts, words)
            seen = (h >= 0) & (denom[np.maximum(h, 0)] > 0)
            ml.append(np.where(seen & (hw >= 0), numer[np.maximum(hw, 0)], 0.0) / np.where(seen, denom[np.maximum(h, 0)], 1.0))
            has_ctx.append(seen)
        uniform = np.where(words == Vocabulary.bos, 0.0, 1.0 / self.n_predictable)
        lam = np.full(self.order, 0.5)
        for _ in range(iterations):
            p = [uniform]
            for k in range(self.order):  # upward pass: p_k
                p.append(np.where(has_ctx[k], lam[k] * ml[k] + (1 - lam[k]) * p[-1], p[-1]))
            reach = np.ones_like(uniform)  # posterior that the word was generated at this level or below
            for k in reversed(range(self.order)):
                m = has_ctx[k]
                from_ml = reach * lam[k] * ml[k] / np.maximum(p[k + 1], 1e-300)
                lam[k] = from_ml[m].sum() / max(reach[m].sum(), 1e-300) if m.any() else lam[k]
                reach = np.where(m, reach - from_ml, reach)
            lam = np.clip(lam, 1e-4, 1 - 1e-4)
        return [float(x) for x in lam]

    # ------------------------------------------------------------------ scoring
    def _context_ids(self, context: Sequence[str]) -> np.ndarray:
        """(n-1,) ids right-aligned, -1 where no word (before <s>, or not given)."""
        context = list(context)
        if BOS in context:
            context = context[len(context) - 1 - context[::-1].index(BOS):]
        ids = [Vocabulary.bos if t == BOS else self.vocab.ids.get(t, Vocabulary.unk) for t in context]
        ids = ids[len(ids) - (self.order - 1):] if self.order > 1 else []
        return np.array([-1] * (self.order - 1 - len(ids)) + ids, np.int64)

    def _queries(self, id_sentences: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Every prediction in the sentences: contexts (M, n-1) right-aligned with -1, words (M,)."""
        from models.ngram_counts import sentence_stream

        lengths = np.fromiter((len(s) + 2 for s in id_sentences), np.int64, count=len(id_sentences))
        stream, _ = sentence_stream(id_sentences)
        starts = np.repeat(np.cumsum(lengths) - lengths, lengths)  # per position: where its sentence starts
        targets = np.flatnonzero(stream != Vocabulary.bos)  # <s> is given, never predicted
        contexts = np.full((len(targets), max(self.order - 1, 0)), -1, np.int64)
        for j in range(1, self.order):  # column n-1-j holds the word j back
            back = targets - j
            ok = back >= starts[targets]
            contexts[ok, self.order - 1 - j] = stream[back[ok]]
        return contexts, stream[targets]

    def _lookup(self, k: int, contexts: np.ndarray, words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Index of the order-k context h (table k-1; 0 for k = 1) and of (h, w) (table k)."""
        if k == 1:
            h = np.zeros(len(words), np.int64)
            return h, np.where(self.counts.counts[0][words] > 0, words, -1)
        h = self.counts.index(contexts[:, self.order - k:])
        return h, self.counts.child(k, h, words)

    def score_ids(self, contexts: np.ndarray, words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Natural-log p(w | context) for a batch, and the order of the longest n-gram (context
        words + w) seen in training (0: not even the word). contexts (M, n-1), words (M,)."""
        contexts = np.asarray(contexts, np.int64).reshape(len(words), max(self.order - 1, 0))
        words = np.asarray(words, np.int64)
        matched = np.zeros(len(words), np.int64)
        if self.smoothing == "add_k":
            return self._score_add_k(contexts, words, matched)
        p = np.where(words == Vocabulary.bos, 0.0, 1.0 / self.n_predictable)
        for k in range(1, self.order + 1):
            numer, gamma, denom = self._levels[k - 1]
            h, hw = self._lookup(k, contexts, words)
            hs = np.maximum(h, 0)
            seen = (h >= 0) & (denom[hs] > 0)
            own = np.where(hw >= 0, numer[np.maximum(hw, 0)], 0.0)
            p = np.where(seen, (own + gamma[hs] * p) / np.where(seen, denom[hs], 1.0), p)
            matched[(hw >= 0) & seen] = k
        with np.errstate(divide="ignore"):
            return np.log(p), matched

    def _score_add_k(self, contexts, words, matched):
        available = (contexts >= 0).sum(axis=1) if self.order > 1 else np.zeros(len(words), np.int64)
        top = np.minimum(available + 1, self.order)  # the longest context this word has
        p = np.empty(len(words))
        for k in np.unique(top):
            rows = np.flatnonzero(top == k)
            numer, _, denom = self._levels[k - 1]
            h, hw = self._lookup(int(k), contexts[rows], words[rows])
            c_h = np.where(h >= 0, denom[np.maximum(h, 0)], 0.0)
            c_hw = np.where(hw >= 0, numer[np.maximum(hw, 0)], 0.0)
            p[rows] = (c_hw + self.k) / (c_h + self.k * self.n_predictable)
            matched[rows] = np.where(c_hw > 0, k, 0)
        p[words == Vocabulary.bos] = 0.0
        with np.errstate(divide="ignore"):
            return np.log(p), matched

    def logprob(self, word: str, context: Sequence[str] = ()) -> float:
        """ln p(word | context); context: the preceding tokens (a leading <s> marks the sentence start)."""
        w = Vocabulary.bos if word == BOS else self.vocab.ids.get(word, Vocabulary.unk)
        lp, _ = self.score_ids(self._context_ids(context)[None, :], np.array([w]))
        return float(lp[0])

    def next_distribution(self, context: Sequence[str] = (BOS,)) -> np.ndarray:
        """p(w | context) for every word id, shape (V,), summing to 1 (0 for <s>)."""
        ctx = np.repeat(self._context_ids(context)[None, :], len(self.vocab), axis=0)
        lp, _ = self.score_ids(ctx, np.arange(len(self.vocab)))
        return np.exp(lp)

    def sentence_logprobs(self, sentences: Sequence[Sequence[str]]) -> np.ndarray:
        """ln p of every predicted token (words and each </s>), in order."""
        contexts, words = self._queries([self.vocab.encode(list(s)) for s in sentences])
        return self.score_ids(contexts, words)[0]

    def perplexity(self, sentences: Sequence[Sequence[str]]) -> float:
        """exp(- mean ln p) over every predicted token, </s> included."""
        lp = self.sentence_logprobs(sentences)
        return float(np.exp(-lp.mean())) if len(lp) else float("nan")

    def explain(self, tokens: Sequence[str], end: bool = True) -> list[dict]:
        """The chain rule for one sentence, word by word: token, p, the context used (the longest
        one seen with this word), the order of that match and whether the model backed off."""
        ids = self.vocab.encode(list(tokens))
        contexts, words = self._queries([ids])
        if not end:
            contexts, words = contexts[:-1], words[:-1]
        lp, matched = self.score_ids(contexts, words)
        shown = list(tokens) + ([EOS] if end else [])
        rows = []
        for i, (word, logp, m) in enumerate(zip(shown, lp.tolist(), matched.tolist(), strict=True)):
            full = [BOS] + list(tokens[:i])
            full = full[max(0, len(full) - (self.order - 1)):] if self.order > 1 else []
            used = full[len(full) - (m - 1):] if m > 1 else []
            rows.append({"token": word, "p": float(np.exp(logp)), "logp": logp, "order": int(m),
                         "context": tuple(full), "context_used": tuple(used),
                         "backed_off": m < len(full) + 1, "unknown": word not in self.vocab})
        return rows

    def sample(self, rng: np.random.Generator, temperature: float = 1.0, top_k: int = 0,
               max_tokens: int = 40, prefix: Sequence[str] = (), allow_unk: bool = False) -> list[str]:
        """Draw a sentence word by word from p(w | context)^(1/T), renormalised, over the top-k words."""
        out = list(prefix)
        for _ in range(max_tokens):
            p = self.next_distribution([BOS] + out)
            if not allow_unk:
                p[Vocabulary.unk] = 0.0
            w = sample_index(p, rng, temperature, top_k)
            if w == Vocabulary.eos:
                break
            out.append(self.vocab.words[w])
        return out

    def to_arpa(self, path: str | Path) -> Path:
        from models.ngram_arpa import write_arpa

        return write_arpa(self, path)


def modified_kn_discounts(n1: float, n2: float, n3: float, n4: float) -> tuple[float, float, float]:
    """(D1, D2, D3+) of Chen & Goodman from the count-of-counts, each clipped to [0, its count];
    when a count-of-counts is zero (tiny corpora) the estimate is undefined: 0.5, 1.0, 1.5 instead."""
    if min(n1, n2, n3, n4) <= 0:
        return 0.5, 1.0, 1.5
    y = n1 / (n1 + 2 * n2)
    d = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
    return tuple(float(np.clip(x, 0.0, i + 1)) for i, x in enumerate(d))


def sample_index(p: np.ndarray, rng: np.random.Generator, temperature: float = 1.0, top_k: int = 0) -> int:
    """One index from probabilities ``p`` sharpened (T < 1) or flattened (T > 1) by temperature,
    keeping only the ``top_k`` most likely (0: all). T -> 0 is the arg-max."""
    p = np.asarray(p, np.float64)
    if temperature <= 1e-6:
        return int(np.argmax(p))
    with np.errstate(divide="ignore"):
        logits = np.log(p) / temperature
    if 0 < top_k < len(p):
        cut = np.partition(logits, -top_k)[-top_k]
        logits = np.where(logits >= cut, logits, -np.inf)
    q = np.exp(logits - logits.max())
    return int(rng.choice(len(p), p=q / q.sum()))
