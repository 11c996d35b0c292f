"""Corpus loading and tokenisation: edge cases, modes, held-out split, bad files."""

import pytest

from lab_app.data.corpus import (
    DEFAULT_PLAYS,
    SPACE_TOKEN,
    Document,
    default_documents,
    load_document,
    make_corpus,
    take_tokens,
    tokenize,
    tokenize_line,
)
from lab_app.io.errors import LoadError


def test_empty_and_one_word():
    assert tokenize("") == [] and tokenize("   \n\n ") == []
    assert tokenize("Anon") == [["Anon"]]
    assert tokenize("Anon", "lower") == [["anon"]]
    assert tokenize("Anon", "characters") == [["A", "n", "o", "n"]]


def test_words_punctuation_and_sentences():
    text = "Fair is foul, and foul is fair:\nHover through the fog. Is it? O'er the heath!\n\nShow'd 'Gainst"
    assert tokenize(text) == [
        ["Fair", "is", "foul", ",", "and", "foul", "is", "fair", ":", "Hover", "through", "the", "fog", "."],
        ["Is", "it", "?"],
        ["O'er", "the", "heath", "!"],
        ["Show'd", "'", "Gainst"],  # a blank line ends a speech, hence a sentence
    ]


def test_non_ascii_and_modes():
    assert tokenize("Ça va? Naïve café — très bien.") == [["Ça", "va", "?"], ["Naïve", "café", "—", "très", "bien", "."]]
    assert tokenize("ÉTÉ Été", "lower") == [["été", "été"]]
    assert tokenize("a b\n\nçé", "characters") == [["a", SPACE_TOKEN, "b"], ["ç", "é"]]
    assert tokenize_line("to be. or not", "words") == ["to", "be", ".", "or", "not"]
    assert tokenize_line("to be", "characters") == ["t", "o", SPACE_TOKEN, "b", "e"]
    with pytest.raises(ValueError, match="tokenisation"):
        tokenize("x", "bytes")


def test_default_corpus_holds_out_the_last_play():
    docs = default_documents()
    assert [d.name for d in docs] == list(DEFAULT_PLAYS)
    corpus = make_corpus(docs, "words", max_heldout_tokens=5000)
    assert corpus.heldout_name == DEFAULT_PLAYS[-1]
    assert 4000 < corpus.n_heldout_tokens <= 5000 and corpus.n_train_tokens > 50_000
    assert corpus.train[0] == ["Hamlet"]  # the title line


def test_single_document_split_and_take_tokens():
    doc = Document("t", ". ".join(f"word{i} here" for i in range(50)) + ".")
    corpus = make_corpus([doc], heldout_fraction=0.2)
    assert len(corpus.heldout) == 10 and len(corpus.train) == 40
    assert corpus.heldout[0] == ["word40", "here", "."]
    assert take_tokens([["a", "b"], ["c"], ["d", "e"]], 3) == [["a", "b"], ["c"]]
    assert take_tokens([["a", "b", "c"]], 1) == [["a", "b", "c"]]  # at least one sentence
    one_word = make_corpus([Document("w", "Anon")])
    assert one_word.train == [["Anon"]] and one_word.heldout == []


def test_bad_files_raise_load_error(tmp_path):
    binary = tmp_path / "model.bin.txt"
    binary.write_bytes(b"\x00\x01\x02 binary stuff" * 10)
    with pytest.raises(LoadError, match="binary"):
        load_document(binary)
    latin = tmp_path / "latin.txt"
    latin.write_bytes("caf\xe9 au lait".encode("latin-1"))
    with pytest.raises(LoadError, match="not valid UTF-8") as err:
        load_document(latin)
    assert str(err.value).startswith("latin.txt")
    symbols = tmp_path / "symbols.md"
    symbols.write_text("   \n")
    with pytest.raises(LoadError, match="whitespace"):
        load_document(symbols)
    symbols.write_text("*** --- ***\n")
    with pytest.raises(LoadError, match="no words"):
        load_document(symbols)
    good = tmp_path / "play.md"
    good.write_text("To be, or not to be.\n", encoding="utf-8")
    assert load_document(good) == Document("play", "To be, or not to be.\n")
