"""The stage-2 prior: causal, its KV cache agrees with the full forward pass, seeded sampling repeats."""

from __future__ import annotations

import math

import pytest
import torch

from models.vq_prior import PriorConfig, TokenPrior, sample_logits, unigram_nll

CFG = PriorConfig(vocab_size=11, block_size=9, num_classes=3, n_layer=2, n_head=2, n_embd=16)


def prior(seed: int = 0) -> TokenPrior:
    torch.manual_seed(seed)
    return TokenPrior(CFG).eval()


def test_changing_a_later_token_never_changes_an_earlier_logit():
    p = prior()
    x = torch.randint(0, 11, (2, 9))
    x[:, 0] = 11 + 1                                   # a class token first
    base = p(x)
    for t in range(1, 9):
        y = x.clone()
        y[:, t] = (y[:, t] + 5) % 11
        out = p(y)
        assert torch.allclose(out[:, :t], base[:, :t], atol=1e-6), f"position {t} leaked backwards"
        assert not torch.allclose(out[:, t:], base[:, t:])   # and it does change its own and later logits


def test_kv_cache_gives_the_same_logits_as_the_full_pass():
    p = prior()
    x = torch.cat([p.start_tokens(torch.tensor([0, 2]), 2, "cpu"), torch.randint(0, 11, (2, 8))], 1)
    full = p(x)
    caches = [{} for _ in p.blocks]
    stepwise = torch.cat([p(x[:, t:t + 1], start=t, caches=caches) for t in range(9)], 1)
    assert torch.allclose(stepwise, full, atol=1e-5)


def test_sampling_with_a_fixed_seed_is_deterministic_and_another_seed_differs():
    p = prior()
    a = p.sample(6, torch.tensor([0, 1, 2, 0, 1, 2]), 1.0, None, torch.Generator().manual_seed(3))
    b = p.sample(6, torch.tensor([0, 1, 2, 0, 1, 2]), 1.0, None, torch.Generator().manual_seed(3))
    c = p.sample(6, torch.tensor([0, 1, 2, 0, 1, 2]), 1.0, None, torch.Generator().manual_seed(4))
    assert a.shape == (6, 9) and torch.equal(a, b)
    assert not torch.equal(a, c)
    assert int(a.min()) >= 0 and int(a.max()) < 11


def test_sample_steps_yield_one_more_token_each_time():
    lengths = [s.shape[1] for s in prior().sample_steps(2, None, 1.0, 3, torch.Generator().manual_seed(0))]
    assert lengths == list(range(1, 10))


def test_top_k_and_temperature():
    logits = torch.tensor([[0.0, 3.0, 1.0, 2.0]]).repeat(400, 1)
    draws = sample_logits(logits, 1.0, 2, torch.Generator().manual_seed(0))
    assert set(draws.tolist()) == {1, 3}                 # only the two largest logits
    assert sample_logits(logits, 0.0, None).unique().tolist() == [1]   # temperature 0: argmax
    cold = sample_logits(logits, 0.05, None, torch.Generator().manual_seed(0))
    assert (cold == 1).float().mean() > 0.99


def test_loss_of_a_uniform_prior_is_log_k_and_unigram_baseline():
    p = prior()
    with torch.no_grad():
        p.head.weight.zero_()                            # all logits equal: p = 1/K
    assert p.loss(torch.randint(0, 11, (4, 9)), torch.tensor([0, 1, 2, 0])).item() == pytest.approx(math.log(11))
    train = torch.tensor([[0, 0, 0, 1]])
    # add-one counts [4, 2, 1]: p(0) = 4/7
    assert unigram_nll(train, torch.tensor([[0]]), 3) == pytest.approx(-math.log(4 / 7))


def test_overfits_a_tiny_set():
    torch.manual_seed(0)
    p = TokenPrior(PriorConfig(vocab_size=5, block_size=6, num_classes=2, n_layer=1, n_head=2, n_embd=16,
                               class_dropout=0.0))
    seqs = torch.tensor([[0, 1, 2, 3, 4, 0], [4, 3, 2, 1, 0, 4]])
    labels = torch.tensor([0, 1])
    opt = torch.optim.Adam(p.parameters(), 1e-2)
    for _ in range(150):
        loss = p.loss(seqs, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05
    p.eval()
    assert torch.equal(p.sample(2, labels, temperature=0.0), seqs)   # each class token recalls its sequence
