"""Counting n-grams at scale: a vocabulary of integer ids and a trie of sorted integer keys.

Every k-gram (k = 1..order) is one integer. The unigram table is dense (index = word id). A k-gram
g = (h, w), h its first k-1 tokens, gets the key

    key(g) = index(h) * V + w          (index(h): position of h in the sorted (k-1)-gram table)

so the table of order k is a sorted int64 array and finding g is k-1 binary searches
(``np.searchsorted``), all vectorised over a batch of queries. Keys stay below S * V (S the number of
distinct (k-1)-grams, V the vocabulary), far inside int64 for any text that fits in memory, whatever
the order. Building order k from order k-1 is one ``np.unique`` over the keys of all windows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

UNK, BOS, EOS = "<unk>", "<s>", "</s>"


class Vocabulary:
    """Tokens <-> ids. Ids 0, 1, 2 are <unk>, <s>, </s>; then words by falling frequency."""

    def __init__(self, words: Sequence[str], counts: Sequence[int] | None = None):
        specials = [UNK, BOS, EOS]
        self.words: list[str] = specials + [w for w in words if w not in specials]
        self.ids: dict[str, int] = {w: i for i, w in enumerate(self.words)}
        self.train_counts = np.zeros(len(self.words), np.int64)
        if counts is not None:
            self.train_counts[3:] = [c for w, c in zip(words, counts, strict=True) if w not in specials]

    unk, bos, eos = 0, 1, 2

    @classmethod
    def build(cls, sentences: Iterable[Sequence[str]], min_count: int = 1) -> Vocabulary:
        """Words seen at least ``min_count`` times; the rest will read as <unk>."""
        counter = Counter(t for s in sentences for t in s)
        kept = sorted((w for w, c in counter.items() if c >= min_count), key=lambda w: (-counter[w], w))
        vocab = cls(kept, [counter[w] for w in kept])
        vocab.train_counts[cls.unk] = sum(c for w, c in counter.items() if c < min_count)
        return vocab

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.ids

    def encode(self, tokens: Sequence[str]) -> np.ndarray:
        """(len(tokens),) int64 ids; unknown tokens become <unk>."""
        get = self.ids.get
        return np.fromiter((get(t, 0) for t in tokens), np.int64, count=len(tokens))

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.words[int(i)] for i in ids]


def sentence_stream(id_sentences: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """All sentences as one id stream ``<s> w1 .. wm </s> <s> ...`` and, per position, the index
    one past the end of its sentence. Shapes (L,), (L,). One concatenation and two scatters, not a
    Python loop over the sentences (it runs in a worker beside the UI thread, and Python loops
    there hold the interpreter the UI thread needs)."""
    lengths = np.fromiter((len(s) for s in id_sentences), np.int64, count=len(id_sentences)) + 2
    if not len(lengths):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    ends = np.cumsum(lengths)
    starts = ends - lengths
    stream = np.empty(int(ends[-1]), np.int64)
    words = np.ones(len(stream), bool)
    words[starts] = words[ends - 1] = False
    stream[starts], stream[ends - 1] = Vocabulary.bos, Vocabulary.eos
    stream[words] = np.concatenate([np.asarray(s, np.int64).reshape(-1) for s in id_sentences])
    return stream, np.repeat(ends, lengths)


@dataclass(frozen=True)
class EncodedCorpus:
    """Training sentences as ids under the vocabulary they build (words seen ``min_count`` times).
    Fitting several models of one text (the perplexity sweep: every order and smoothing) shares
    one: building the vocabulary and encoding every token is per-token Python work."""

    vocab: Vocabulary
    ids: list[np.ndarray]
    min_count: int

    @classmethod
    def of(cls, sentences: Iterable[Sequence[str]], min_count: int = 1) -> EncodedCorpus:
        sentences = [list(s) for s in sentences]
        vocab = Vocabulary.build(sentences, min_count)
        return cls(vocab, [vocab.encode(s) for s in sentences], int(min_count))


@dataclass
class NGramCounts:
    """Raw counts of every k-gram, k = 1..order, in sentences padded with one <s> and one </s>.

    keys[k-1]   (S_k,) sorted int64 trie keys (order 1: arange(V), dense)
    counts[k-1] (S_k,) how often each k-gram occurs
    suffix[k-1] (S_k,) index in table k-1 of the k-gram's last k-1 tokens (order 1: None)
    first[k-1]  (S_k,) id of the k-gram's first token
    """

    order: int
    vocab_size: int
    keys: list[np.ndarray]
    counts: list[np.ndarray]
    suffix: list[np.ndarray | None]
    first: list[np.ndarray]

    @classmethod
    def count(cls, id_sentences: Sequence[np.ndarray], order: int, vocab_size: int) -> NGramCounts:
        V = vocab_size
        stream, ends = sentence_stream(id_sentences)
        L = len(stream)
        positions = np.arange(L)
        keys = [np.arange(V, dtype=np.int64)]
        counts = [np.bincount(stream, minlength=V).astype(np.int64)]
        suffix: list[np.ndarray | None] = [None]
        first = [np.arange(V, dtype=np.int64)]
        at = stream.copy()  # at[p]: index of the (k-1)-gram starting at p in its table, -1: none
        for k in range(2, order + 1):
            valid = np.flatnonzero((positions + k - 1 < ends) & (at >= 0))
            window_keys = at[valid] * V + stream[valid + k - 1]
            table, inverse, n = np.unique(window_keys, return_inverse=True, return_counts=True)
            one_position = np.empty(len(table), np.int64)
            one_position[inverse] = valid  # any occurrence will do: they are all the same k-gram
            suffix.append(at[one_position + 1])  # the (k-1)-gram starting one later
            first.append(stream[one_position])
            keys.append(table)
            counts.append(n.astype(np.int64))
            at = np.full(L, -1, np.int64)
            at[valid] = inverse
        return cls(order, V, keys, counts, suffix, first)

    def sizes(self) -> list[int]:
        """Number of distinct k-grams seen, k = 1..order (order 1: word types seen)."""
        return [int((self.counts[0] > 0).sum())] + [len(k) for k in self.keys[1:]]

    def child(self, k: int, parent: np.ndarray, word: np.ndarray) -> np.ndarray:
        """Index in table k of (h, w), h the (k-1)-gram at index ``parent`` (-1 where absent)."""
        if k == 1:
            return np.where(word >= 0, word, -1)
        table = self.keys[k - 1]
        ok = (parent >= 0) & (word >= 0)
        key = np.where(ok, parent * self.vocab_size + word, -1)
        pos = np.minimum(np.searchsorted(table, key), max(len(table) - 1, 0))
        if len(table) == 0:
            return np.full(len(key), -1, np.int64)
        return np.where(ok & (table[pos] == key), pos, -1)

    def index(self, tokens: np.ndarray) -> np.ndarray:
        """Index of each row of ``tokens`` (M, j) in table j; -1 if unseen or a token is -1."""
        tokens = np.asarray(tokens, np.int64)
        idx = np.where(tokens[:, 0] >= 0, tokens[:, 0], -1)
        for i in range(1, tokens.shape[1]):
            idx = self.child(i + 1, idx, tokens[:, i])
        return idx

    def prefix(self, k: int) -> np.ndarray:
        """Index in table k-1 of each k-gram's first k-1 tokens (its context); order 1: all 0."""
        if k == 1:
            return np.zeros(self.vocab_size, np.int64)
        return self.keys[k - 1] // self.vocab_size

    def tokens(self, k: int) -> np.ndarray:
        """(S_k, k) the ids of every k-gram in table k."""
        if k == 1:
            return self.keys[0][:, None]
        parents = self.tokens(k - 1)
        return np.column_stack([parents[self.prefix(k)], self.keys[k - 1] % self.vocab_size])

    def count_of_counts(self, k: int, max_count: int = 10) -> np.ndarray:
        """n_r for r = 1..max_count: how many k-grams occur exactly r times."""
        c = self.counts[k - 1]
        return np.bincount(c[c > 0], minlength=max_count + 1)[1:max_count + 1]
