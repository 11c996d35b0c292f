"""Text corpora for the language tab (no Qt): the shipped Shakespeare plays or any dropped text file,
cut into sentences of tokens.

Tokenisation modes:
- "words": words (letters, digits, inner apostrophes: "Show'd", "o'er") and punctuation marks as
  tokens, case kept;
- "lower": the same, lower-cased (a smaller vocabulary, so better estimates on little text);
- "characters": every character of a line is a token (spaces too, shown as "_"), one line = one sentence.

Word sentences end after ".", "!" or "?" (the mark stays, as the last token) or at a blank line
(the end of a speech). Sentence boundary tokens <s> / </s> are added by the model, not here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from lab_app.io.errors import LoadError
from lab_app.io.text import load_text

TOKENISATIONS = ("words", "lower", "characters")
TEXT_DIR = Path(__file__).resolve().parents[2] / "resources" / "text"
DEFAULT_PLAYS = ("hamlet", "macbeth", "othello", "king-lear")
SPACE_TOKEN = "_"

# A word: letters/digits joined by inner apostrophes or hyphens ("o'er", "ill-favour'd"); or one
# punctuation mark. A leading apostrophe ("'Gainst") is split off as punctuation.
_TOKEN = re.compile(r"\w+(?:['\u2019-]\w+)*|[^\w\s]", re.UNICODE)
_SENTENCE_END = {".", "!", "?"}


def tokenize(text: str, mode: str = "words") -> list[list[str]]:
    """Cut ``text`` into sentences of tokens (see the module docstring). Empty text gives []."""
    if mode not in TOKENISATIONS:
        raise ValueError(f"tokenisation must be one of {TOKENISATIONS}, not {mode!r}")
    if mode == "characters":
        return [[SPACE_TOKEN if c.isspace() else c for c in line.strip()]
                for line in text.splitlines() if line.strip()]
    sentences: list[list[str]] = []
    for block in re.split(r"\n\s*\n", text):  # blank lines end a speech, hence a sentence
        current: list[str] = []
        for token in _TOKEN.findall(block.lower() if mode == "lower" else block):
            current.append(token)
            if token in _SENTENCE_END:
                sentences.append(current)
                current = []
        if current:
            sentences.append(current)
    return sentences


def tokenize_line(text: str, mode: str = "words") -> list[str]:
    """One typed line as a flat list of tokens (no sentence split): what the chain-rule view scores."""
    if mode == "characters":
        return [SPACE_TOKEN if c.isspace() else c for c in text.strip()]
    return [t for sentence in tokenize(text.replace("\n", " "), mode) for t in sentence]


@dataclass(frozen=True)
class Document:
    """One text: its name and raw content."""

    name: str
    text: str


@dataclass(frozen=True)
class Corpus:
    """Tokenised documents split into training and held-out sentences.

    The held-out part is the *last document* when there are several (a play the model never saw,
    as in the benchmark), else the last ``heldout_fraction`` of the sentences of the only document.
    """

    name: str
    mode: str
    train: list[list[str]]
    heldout: list[list[str]]
    heldout_name: str

    @property
    def n_train_tokens(self) -> int:
        return sum(len(s) for s in self.train)

    @property
    def n_heldout_tokens(self) -> int:
        return sum(len(s) for s in self.heldout)

    def summary(self) -> str:
        return (f"{self.name}: {len(self.train):,} training sentences ({self.n_train_tokens:,} tokens), "
                f"held out {self.heldout_name}: {len(self.heldout):,} sentences ({self.n_heldout_tokens:,} tokens)")


def default_documents(plays: tuple[str, ...] = DEFAULT_PLAYS) -> list[Document]:
    """The shipped plays (resources/text), in order; the last one is held out by ``make_corpus``."""
    return [Document(name, load_text(TEXT_DIR / f"{name}.txt")) for name in plays]


def load_document(path: str | Path) -> Document:
    """A dropped text file; LoadError (message starts with the file name) when it is not usable text."""
    path = Path(path)
    text = load_text(path)  # UTF-8 check, binary check, size cap
    if not re.search(r"\w", text):
        raise LoadError(path, "holds no words to learn from")
    return Document(path.stem, text)


def make_corpus(documents: list[Document], mode: str = "words", heldout_fraction: float = 0.1,
                max_heldout_tokens: int | None = None) -> Corpus:
    """Tokenise ``documents`` and split off held-out sentences (see ``Corpus``)."""
    if not documents:
        raise ValueError("no documents")
    per_doc = [tokenize(d.text, mode) for d in documents]
    if len(documents) > 1:
        train = [s for doc in per_doc[:-1] for s in doc]
        heldout, heldout_name = per_doc[-1], documents[-1].name
    else:
        sentences = per_doc[0]
        cut = len(sentences) - max(1, int(round(heldout_fraction * len(sentences)))) if len(sentences) > 1 else 1
        train, heldout = sentences[:cut], sentences[cut:]
        heldout_name = f"last {len(heldout):,} sentences of {documents[0].name}"
    if max_heldout_tokens is not None:
        heldout = take_tokens(heldout, max_heldout_tokens)
    if not train:
        raise ValueError("the text has no sentences to train on")
    name = " + ".join(d.name for d in documents)
    return Corpus(name, mode, train, heldout, heldout_name)


def take_tokens(sentences: list[list[str]], n_tokens: int) -> list[list[str]]:
    """The first whole sentences holding at most ``n_tokens`` tokens (at least one sentence)."""
    taken, total = [], 0
    for s in sentences:
        if taken and total + len(s) > n_tokens:
            break
        taken.append(s)
        total += len(s)
    return taken
