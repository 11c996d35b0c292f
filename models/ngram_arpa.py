"""The ARPA back-off format: the standard text exchange format of n-gram models (SRILM, KenLM).

A file lists, for every stored n-gram g = (h, w), log10 p(w | h) and, when g can be a context,
its back-off weight log10 b(g). A reader scores

    p(w | h) = p_stored(h w)                   if (h w) is listed
             = b(h) * p(w | h')                otherwise (b = 1 when h is not listed)

Interpolated models (Kneser-Ney, Jelinek-Mercer) fit this exactly: store the interpolated
probability of each seen n-gram and b(h) = gamma(h) / denom(h), the mass the context hands down.
Add-k does not (its unseen words share k / (c(h) + kV), not a multiple of a lower order), so it
is not exported.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lab_app.io.atomic import atomic_write_text
from models.ngram_counts import BOS, EOS, UNK

NO_PROB = -99.0  # the conventional log10 "probability" of <s>, which is never predicted


def write_arpa(model, path: str | Path) -> Path:
    """Write a fitted ``NGramLM`` (kneser_ney or interpolated) as an ARPA file, atomically."""
    if model.smoothing == "add_k":
        raise ValueError("add-k smoothing is not a back-off model: ARPA export needs "
                         "Kneser-Ney or interpolated smoothing")
    counts, n, V = model.counts, model.order, len(model.vocab)
    words = np.array(model.vocab.words, dtype=object)
    sections, sizes = [], []
    for k in range(1, n + 1):
        grams = counts.tokens(k)  # (S_k, k)
        if k == 1:
            grams = grams[(counts.counts[0] > 0) | (np.arange(V) <= 2)]  # seen words and the specials
        else:
            grams = grams[model._levels[k - 1][0] >= 0]
        contexts = np.full((len(grams), max(n - 1, 0)), -1, np.int64)
        if k > 1:
            contexts[:, n - k:] = grams[:, :-1]
        logp, _ = model.score_ids(contexts, grams[:, -1])
        log10p = np.where(np.isfinite(logp), logp / np.log(10.0), NO_PROB)
        lines = []
        if k < n:
            _, gamma, denom = model._levels[k]  # level k+1: its contexts are the k-grams
            idx = counts.index(grams)
            d = denom[idx]
            with np.errstate(divide="ignore", invalid="ignore"):
                backoff = np.where(d > 0, np.log10(gamma[idx] / np.where(d > 0, d, 1.0)), 0.0)
            has_backoff = (d > 0) & (grams[:, -1] != 2)  # nothing follows </s>
        texts = [" ".join(words[g]) for g in grams]
        for i, text in enumerate(texts):
            line = f"{log10p[i]:.7f}\t{text}"
            if k < n and has_backoff[i]:
                line += f"\t{backoff[i]:.7f}"
            lines.append(line)
        sizes.append(len(lines))
        sections.append(f"\\{k}-grams:\n" + "\n".join(lines) + "\n")
    header = "\\data\\\n" + "".join(f"ngram {k}={s}\n" for k, s in enumerate(sizes, 1))
    text = header + "\n" + "\n".join(sections) + "\n\\end\\\n"
    path = Path(path)
    atomic_write_text(path, text)
    return path


class ArpaModel:
    """A plain reader of ARPA files that scores with the back-off rule (for checks and tests)."""

    def __init__(self, path: str | Path):
        self.prob: dict[tuple[str, ...], float] = {}
        self.backoff: dict[tuple[str, ...], float] = {}
        self.order = 0
        section = 0
        for raw in Path(path).read_text(encoding="utf-8").splitlines():
            line = raw.strip()
            if not line or line == "\\data\\" or line.startswith("ngram "):
                continue
            if line.endswith("-grams:"):
                section = int(line[1:].split("-")[0])
                self.order = max(self.order, section)
                continue
            if line == "\\end\\":
                break
            parts = line.split("\t")
            gram = tuple(parts[1].split(" "))
            self.prob[gram] = float(parts[0])
            if len(parts) > 2:
                self.backoff[gram] = float(parts[2])

    def log10prob(self, word: str, context: Sequence[str]) -> float:
        word = word if (word,) in self.prob else UNK
        context = tuple(c if (c,) in self.prob else UNK for c in context)
        context = context[len(context) - (self.order - 1):] if self.order > 1 else ()
        total = 0.0
        while True:
            if context + (word,) in self.prob:
                return total + self.prob[context + (word,)]
            total += self.backoff.get(context, 0.0)
            context = context[1:]

    def sentence_log10probs(self, tokens: Sequence[str]) -> list[float]:
        """log10 p of each token and of </s>, starting from <s>."""
        history, out = [BOS], []
        for w in list(tokens) + [EOS]:
            out.append(self.log10prob(w, history))
            history.append(w)
        return out
