"""N-gram model: counts, normalisation, a hand-worked Kneser-Ney example, perplexity, ARPA, sampling."""

from collections import Counter

import numpy as np
import pytest

from models.ngram import BOS, EOS, UNK, NGramLM, modified_kn_discounts, sample_index
from models.ngram_arpa import ArpaModel
from models.ngram_counts import NGramCounts, Vocabulary

SMALL = [
    "the cat sat on the mat".split(),
    "the dog sat on the log".split(),
    "a cat saw the dog".split(),
    "the cat sat".split(),
    "dogs and cats".split(),
]
HELDOUT = ["the cat sat on the log".split(), "a zebra saw the mat".split()]


def test_trie_counts_match_a_plain_counter():
    rng = np.random.default_rng(0)
    sentences = [rng.integers(3, 9, size=rng.integers(0, 7)) for _ in range(60)]
    counts = NGramCounts.count(sentences, 4, 9)
    for k in range(1, 5):
        expected = Counter()
        for s in sentences:
            padded = [1, *s.tolist(), 2]
            expected.update(tuple(padded[i:i + k]) for i in range(len(padded) - k + 1))
        got = {tuple(g): int(c) for g, c in zip(counts.tokens(k).tolist(), counts.counts[k - 1].tolist()) if c > 0}
        assert got == dict(expected)
        # every k-gram is found again by its tokens, and its suffix index points at its last k-1 tokens
        grams = counts.tokens(k)
        assert np.array_equal(counts.index(grams), np.arange(len(grams)))
        if k > 1:
            assert np.array_equal(counts.tokens(k - 1)[counts.suffix[k - 1]], grams[:, 1:])


@pytest.mark.parametrize("smoothing", ["kneser_ney", "interpolated", "add_k"])
@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_every_context_sums_to_one(smoothing, order):
    model = NGramLM(order, smoothing, k=0.3).fit(SMALL)
    contexts = [(), (BOS,), ("zebra",), ("the", "zebra"), (BOS, "the"), ("sat", "on", "the")]
    if order > 1:
        contexts += [tuple(model.vocab.decode(g)) for g in model.counts.tokens(order - 1)]
    for ctx in contexts:
        p = model.next_distribution(ctx)
        assert p.sum() == pytest.approx(1.0, abs=1e-12), ctx
        assert p[Vocabulary.bos] == 0.0 and (p[np.arange(len(p)) != Vocabulary.bos] > 0).all()


def test_kneser_ney_matches_a_hand_worked_bigram():
    # Sentences <s> a b </s>, <s> a c </s>, <s> b c </s>; bigram KN with one discount D = 0.5.
    # Unigram level (continuation counts: distinct words before): a 1, b 2, c 2, </s> 2 -> total 7;
    # 4 word types each lose 0.5 -> 2 goes to the uniform 1/5 (5 predictable: <unk> </s> a b c).
    #   p1(c) = (2 - 0.5 + 2/5) / 7 = 1.9/7,   p1(a) = (1 - 0.5 + 2/5) / 7 = 0.9/7
    # Context b: (b c) 1, (b </s>) 1 -> total 2, gamma mass 2 * 0.5 = 1:
    #   p(c | b) = (1 - 0.5 + 1 * 1.9/7) / 2 = 27/70,   p(a | b) = (0 + 0.9/7) / 2 = 9/140
    # Context <s>: (<s> a) 2, (<s> b) 1 -> total 3, gamma mass 1:  p(a | <s>) = (1.5 + 0.9/7) / 3 = 11.4/21
    model = NGramLM(2, "kneser_ney", discount=0.5).fit([["a", "b"], ["a", "c"], ["b", "c"]])
    assert np.exp(model.logprob("c", ("b",))) == pytest.approx(27 / 70, rel=1e-12)
    assert np.exp(model.logprob("a", ("b",))) == pytest.approx(9 / 140, rel=1e-12)
    assert np.exp(model.logprob("a", (BOS,))) == pytest.approx(11.4 / 21, rel=1e-12)
    assert np.exp(model.logprob("c", ())) == pytest.approx(1.9 / 7, rel=1e-12)
    assert np.exp(model.logprob("nothing-like-it", ())) == pytest.approx(0.4 / 7, rel=1e-12)  # <unk>


def test_modified_discounts_follow_chen_goodman():
    # Y = 10 / (10 + 2*5) = 0.5; D1 = 1 - 2Y*5/10, D2 = 2 - 3Y*3/5, D3+ = 3 - 4Y*2/3
    assert modified_kn_discounts(10, 5, 3, 2) == pytest.approx((0.5, 1.1, 3 - 4 / 3))
    assert modified_kn_discounts(10, 0, 3, 2) == (0.5, 1.0, 1.5)  # undefined: the fallback
    model = NGramLM(3).fit(SMALL * 3)
    assert len(model.discounts) == 3 and all(0 <= d1 <= 1 for d1, _, _ in model.discounts)


@pytest.mark.parametrize("order", [1, 3])
def test_uniform_model_has_perplexity_equal_to_vocabulary_size(order):
    model = NGramLM(order, "add_k", k=1e12).fit(SMALL)
    assert model.perplexity(HELDOUT) == pytest.approx(model.n_predictable, rel=1e-6)
    assert model.n_predictable == len({w for s in SMALL for w in s}) + 2  # + <unk>, </s>


def test_smoothing_beats_add_k_and_unknown_words_read_as_unk():
    kn = NGramLM(3, "kneser_ney").fit(SMALL)
    add = NGramLM(3, "add_k", k=1.0).fit(SMALL)
    assert np.isfinite(kn.perplexity(HELDOUT)) and kn.perplexity(HELDOUT) < add.perplexity(HELDOUT)
    assert kn.logprob("zebra", ("a",)) == kn.logprob(UNK, ("a",))
    rare = NGramLM(2, min_count=2).fit(SMALL)
    assert "dogs" not in rare.vocab and "cat" in rare.vocab
    assert rare.logprob("dogs", (BOS,)) == rare.logprob(UNK, (BOS,))


def test_interpolation_weights_are_fit_on_heldout_sentences():
    model = NGramLM(3, "interpolated").fit(SMALL * 4)
    assert len(model.lambdas) == 3 and all(0 < lam < 1 for lam in model.lambdas)
    # Repeated text: the trigram estimate is reliable on the held-out copy, so it gets most weight.
    assert model.lambdas[2] > 0.5


def test_explain_is_the_chain_rule():
    model = NGramLM(3).fit(SMALL)
    tokens = "the cat sat on the zebra".split()
    rows = model.explain(tokens)
    assert [r["token"] for r in rows] == tokens + [EOS]
    assert sum(r["logp"] for r in rows) == pytest.approx(model.sentence_logprobs([tokens]).sum())
    assert rows[0]["context"] == (BOS,) and rows[2]["context_used"] == ("the", "cat")
    assert not rows[2]["backed_off"] and rows[2]["order"] == 3
    zebra = rows[5]
    assert zebra["unknown"] and zebra["backed_off"] and zebra["order"] == 0


@pytest.mark.parametrize("smoothing", ["kneser_ney", "interpolated"])
def test_arpa_export_round_trips(tmp_path, smoothing):
    model = NGramLM(3, smoothing).fit(SMALL)
    path = model.to_arpa(tmp_path / "small.arpa")
    text = path.read_text()
    assert text.startswith("\\data\\\nngram 1=") and text.rstrip().endswith("\\end\\")
    arpa = ArpaModel(path)
    for sentence in HELDOUT + SMALL:
        ours = model.sentence_logprobs([sentence]) / np.log(10)
        assert np.allclose(arpa.sentence_log10probs(sentence), ours, atol=1e-6)


def test_add_k_cannot_be_exported(tmp_path):
    with pytest.raises(ValueError, match="not a back-off model"):
        NGramLM(2, "add_k").fit(SMALL).to_arpa(tmp_path / "x.arpa")
    assert not (tmp_path / "x.arpa").exists()


def test_kenlm_scores_the_exported_model_like_ours(tmp_path):
    kenlm = pytest.importorskip("kenlm")
    model = NGramLM(4, "kneser_ney").fit(SMALL * 2 + [["the", "log", "and", "the", "mat"]])
    path = model.to_arpa(tmp_path / "k.arpa")
    ken = kenlm.Model(str(path))
    for sentence in HELDOUT + SMALL:
        theirs = [score for score, _, _ in ken.full_scores(" ".join(sentence), bos=True, eos=True)]
        assert np.allclose(theirs, model.sentence_logprobs([sentence]) / np.log(10), atol=1e-5)


def test_sampling_temperature_and_top_k():
    rng = np.random.default_rng(0)
    p = np.array([0.5, 0.3, 0.15, 0.05])
    assert sample_index(p, rng, temperature=0.0) == 0
    assert {sample_index(p, rng, 1.0, top_k=1) for _ in range(20)} == {0}
    draws = np.bincount([sample_index(p, rng, 2.0, top_k=2) for _ in range(4000)], minlength=4)
    q = np.sqrt(p[:2]) / np.sqrt(p[:2]).sum()  # T = 2 flattens: p^(1/2), renormalised over the top 2
    assert draws[2:].sum() == 0 and draws[0] / 4000 == pytest.approx(q[0], abs=0.03)
    model = NGramLM(2).fit(SMALL)
    sentence = model.sample(np.random.default_rng(1), temperature=0.0)
    for i, word in enumerate(sentence):  # T = 0: the most likely word at every step (greedy loops)
        assert model.vocab.words[int(np.argmax(model.next_distribution([BOS] + sentence[:i])))] == word
    assert sentence[:4] == ["the", "cat", "sat", "on"] and len(sentence) == 40
    assert all(w in model.vocab and w != UNK for w in model.sample(np.random.default_rng(2), 1.0))


def test_bad_arguments():
    with pytest.raises(ValueError, match="order"):
        NGramLM(6)
    with pytest.raises(ValueError, match="smoothing"):
        NGramLM(2, "witten_bell")


def test_fits_sharing_one_encoded_corpus_equal_fits_on_their_own():
    from models.ngram_counts import EncodedCorpus, sentence_stream

    shared = EncodedCorpus.of(SMALL, min_count=1)
    for smoothing in ("kneser_ney", "interpolated", "add_k"):
        for order in (1, 2, 3):
            alone = NGramLM(order, smoothing).fit(SMALL)
            together = NGramLM(order, smoothing).fit(SMALL, shared)
            assert together.vocab.words == alone.vocab.words
            assert together.perplexity(HELDOUT) == pytest.approx(alone.perplexity(HELDOUT), rel=1e-12)
    # an encoding made with another vocabulary cut-off is not used: the model's own cut-off holds
    cut = NGramLM(2, min_count=2).fit(SMALL, shared)
    assert "mat" not in cut.vocab and cut.vocab.words == NGramLM(2, min_count=2).fit(SMALL).vocab.words
    # the stream: <s> words </s> per sentence, empty sentences included, each position's sentence end
    stream, ends = sentence_stream([np.array([5, 6]), np.array([], np.int64), np.array([7])])
    assert stream.tolist() == [1, 5, 6, 2, 1, 2, 1, 7, 2]
    assert ends.tolist() == [4, 4, 4, 4, 6, 6, 9, 9, 9]
