"""ngram_orders: held-out perplexity for n = 1..5 with each smoothing (the U-shape of add-k).

Train on hamlet, macbeth, othello (words, case kept), score the first 5000 tokens of king-lear.
Fields: perplexity[smoothing] = [n=1 .. n=5], fit_seconds[smoothing] likewise, k (add-k), best.
"""

from __future__ import annotations

import os
import time


def add_arguments(parser) -> None:
    parser.add_argument("--k", type=float, default=0.01, help="add-k pseudo-count")
    parser.add_argument("--heldout-tokens", type=int, default=5000)


def run(args) -> dict:
    from lab_app.data.corpus import default_documents, make_corpus
    from models.ngram import SMOOTHINGS, NGramLM

    corpus = make_corpus(default_documents(), "words", max_heldout_tokens=args.heldout_tokens)
    perplexity, fit_seconds = {}, {}
    for smoothing in SMOOTHINGS:
        perplexity[smoothing], fit_seconds[smoothing] = [], []
        for n in range(1, 6):
            t0 = time.perf_counter()
            model = NGramLM(n, smoothing, k=args.k).fit(corpus.train)
            fit_seconds[smoothing].append(round(time.perf_counter() - t0, 3))
            perplexity[smoothing].append(round(model.perplexity(corpus.heldout), 2))
    best = min(((s, n + 1, p) for s, ps in perplexity.items() for n, p in enumerate(ps)), key=lambda t: t[2])
    return {"perplexity": perplexity, "fit_seconds": fit_seconds, "k": args.k,
            "best": {"smoothing": best[0], "n": best[1], "perplexity": best[2]},
            "train_tokens": corpus.n_train_tokens, "heldout_tokens": corpus.n_heldout_tokens,
            "load_average_1min": os.getloadavg()[0]}
