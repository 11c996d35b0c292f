"""ngram_vs_nltk: our interpolated modified Kneser-Ney trigram vs NLTK's KneserNeyInterpolated.

Both train on the same tokens of three plays (hamlet, macbeth, othello; words, case kept) and score
the first 5000 held-out tokens of a fourth (king-lear), in the same run. NLTK scores about 55
trigrams/s here, so it scores only the first --nltk-tokens predictions (its rate and perplexity are
over those). Fields: perplexity, fit_seconds, ngrams_per_s, nltk_perplexity, nltk_fit_seconds,
nltk_ngrams_per_s, speedup (ngrams_per_s / nltk_ngrams_per_s). NLTK fields are null, with a note,
when nltk is not installed. Targets: finite perplexity, speedup >= 1000, ngrams_per_s >= 1e6.
"""

from __future__ import annotations

import math
import os
import statistics
import time


def add_arguments(parser) -> None:
    parser.add_argument("--heldout-tokens", type=int, default=5000)
    parser.add_argument("--nltk-tokens", type=int, default=300, help="predictions NLTK scores (it is slow)")
    parser.add_argument("--order", type=int, default=3)


def _data(heldout_tokens: int):
    from lab_app.data.corpus import default_documents, make_corpus

    corpus = make_corpus(default_documents(("hamlet", "macbeth", "othello", "king-lear")), "words",
                         max_heldout_tokens=heldout_tokens)
    return corpus.train, corpus.heldout


def run(args) -> dict:
    from lab_app.core.device import apply_thread_policy
    from models.ngram import NGramLM

    apply_thread_policy(None)
    train, heldout = _data(args.heldout_tokens)
    t0 = time.perf_counter()
    model = NGramLM(args.order, "kneser_ney").fit(train)
    fit_seconds = time.perf_counter() - t0
    contexts, words = model._queries([model.vocab.encode(s) for s in heldout])
    times = []
    for _ in range(7):  # scoring only (tokens already ids): the vectorised path
        t0 = time.perf_counter()
        logp, _ = model.score_ids(contexts, words)
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    perplexity = model.perplexity(heldout)  # end to end, tokens to perplexity
    end_to_end = time.perf_counter() - t0
    out = {
        "train_tokens": sum(map(len, train)), "heldout_predictions": int(len(words)),
        "perplexity": perplexity, "fit_seconds": fit_seconds,
        "ngrams_per_s": len(words) / statistics.median(times),
        "ngrams_per_s_end_to_end": len(words) / end_to_end,
        "load_average_1min": os.getloadavg()[0],
    }
    out.update(_nltk(train, heldout, args.order, args.nltk_tokens))
    if out.get("nltk_ngrams_per_s"):
        out["speedup"] = out["ngrams_per_s"] / out["nltk_ngrams_per_s"]
    return out


def _nltk(train, heldout, order: int, n_tokens: int) -> dict:
    try:
        from nltk.lm import KneserNeyInterpolated
        from nltk.lm.preprocessing import padded_everygram_pipeline, pad_both_ends
        from nltk.util import ngrams
    except ImportError:
        return {"nltk_perplexity": None, "nltk_fit_seconds": None, "nltk_ngrams_per_s": None, "speedup": None,
                "note": "nltk not installed (pip install nltk): NLTK fields skipped"}
    t0 = time.perf_counter()
    grams, vocab = padded_everygram_pipeline(order, train)
    lm = KneserNeyInterpolated(order)
    lm.fit(grams, vocab)
    fit_seconds = time.perf_counter() - t0
    queries = []
    for sentence in heldout:
        for g in ngrams(list(pad_both_ends(sentence, n=order)), order):
            queries.append((g[-1], g[:-1]))
            if len(queries) >= n_tokens:
                break
        if len(queries) >= n_tokens:
            break
    t0 = time.perf_counter()
    scores = [lm.logscore(w, ctx) for w, ctx in queries]  # log2
    seconds = time.perf_counter() - t0
    mean = sum(scores) / len(scores)
    return {"nltk_perplexity": 2 ** (-mean) if math.isfinite(mean) else float("inf"),
            "nltk_fit_seconds": fit_seconds, "nltk_ngrams_per_s": len(queries) / seconds,
            "nltk_scored": len(queries),
            "nltk_note": "NLTK pads with n-1 <s>; its unseen words get probability 0, hence inf perplexity"}
