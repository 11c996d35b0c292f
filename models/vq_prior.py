"""Stage 2: a small causal Transformer over token grids (GPT in nanoGPT's spirit).

A token grid (h x w codes) read in raster order is a sequence x_1..x_T, T = h w. The prior factorises

    p(x_1..x_T | c) = prod_t p(x_t | x_<t, c)

with c a leading token: the class (class-conditional) or a "no class" token. Training minimises the
token NLL -log p(x_t | x_<t, c) with teacher forcing; the input at position t is the token before it,
the first input is c. With ``class_dropout`` > 0 a fraction of the training sequences start with the
"no class" token, so one model samples both ways.

Sampling draws x_1, x_2, ... one at a time from softmax(logits / temperature), restricted to the top-k
logits; each layer keeps the keys and values of the tokens already drawn (the KV cache), so every step
costs one token's forward pass instead of the whole prefix's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F


@dataclass
class PriorConfig:
    vocab_size: int = 512         # K: the tokenizer's codebook size
    block_size: int = 49          # T: tokens per image
    num_classes: int = 0          # > 0: class tokens K .. K + num_classes - 1; K + num_classes = "no class"
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    class_dropout: float = 0.1    # training: this fraction of sequences start with "no class"

    @property
    def null_token(self) -> int:
        return self.vocab_size + self.num_classes


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: PriorConfig):
        super().__init__()
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd)
        self.dropout = cfg.dropout

    def forward(self, x: Tensor, cache: dict | None = None) -> Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=2)
        q, k, v = (a.view(b, t, self.n_head, c // self.n_head).transpose(1, 2) for a in (q, k, v))  # (B, h, t, d)
        if cache is not None:            # append this step's keys and values to the ones kept
            if "k" in cache:
                k, v = torch.cat([cache["k"], k], 2), torch.cat([cache["v"], v], 2)
            cache["k"], cache["v"] = k, v
        # with a cache the new token(s) come last: position i may see keys 0 .. past + i
        causal = t > 1
        if cache is not None and t > 1 and k.shape[2] != t:
            raise ValueError("a cached forward with several new tokens needs an empty cache")
        y = F.scaled_dot_product_attention(q, k, v, is_causal=causal,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.proj(y.transpose(1, 2).reshape(b, t, c))


class Block(nn.Module):
    def __init__(self, cfg: PriorConfig):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(cfg.n_embd), nn.LayerNorm(cfg.n_embd)
        self.attn = CausalSelfAttention(cfg)
        self.mlp = nn.Sequential(nn.Linear(cfg.n_embd, 4 * cfg.n_embd), nn.GELU(),
                                 nn.Linear(4 * cfg.n_embd, cfg.n_embd), nn.Dropout(cfg.dropout))

    def forward(self, x: Tensor, cache: dict | None = None) -> Tensor:
        x = x + self.attn(self.ln1(x), cache)
        return x + self.mlp(self.ln2(x))


class TokenPrior(nn.Module):
    """idx (B, t) of input tokens (first: the class / no-class token) -> logits (B, t, K) over codes."""

    def __init__(self, cfg: PriorConfig):
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(cfg.vocab_size + cfg.num_classes + 1, cfg.n_embd)
        self.pos = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)

    def forward(self, idx: Tensor, start: int = 0, caches: list[dict] | None = None) -> Tensor:
        t = idx.shape[1]
        pos = torch.arange(start, start + t, device=idx.device)
        x = self.tok(idx) + self.pos(pos)[None]
        for i, block in enumerate(self.blocks):
            x = block(x, None if caches is None else caches[i])
        return self.head(self.ln_f(x))

    def start_tokens(self, labels: Tensor | None, batch: int, device) -> Tensor:
        """(B, 1): K + label for a class-conditional model given labels, else the no-class token."""
        if labels is None or self.cfg.num_classes == 0:
            return torch.full((batch, 1), self.cfg.null_token, dtype=torch.long, device=device)
        return (self.cfg.vocab_size + labels.long().to(device)).view(batch, 1)

    def loss(self, tokens: Tensor, labels: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        """Mean NLL (nats per token) of token sequences (B, T). Training drops the class token for a
        ``class_dropout`` fraction of the sequences (drawn with ``generator``)."""
        b = tokens.shape[0]
        start = self.start_tokens(labels, b, tokens.device)
        if labels is not None and self.training and self.cfg.class_dropout > 0 and self.cfg.num_classes:
            drop = torch.rand(b, generator=generator).to(tokens.device) < self.cfg.class_dropout
            start = torch.where(drop[:, None], torch.full_like(start, self.cfg.null_token), start)
        inputs = torch.cat([start, tokens[:, :-1]], 1)
        logits = self(inputs)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens.reshape(-1))

    @torch.no_grad()
    def sample_steps(self, n: int, labels: Tensor | None = None, temperature: float | Callable[[], float] = 1.0,
                     top_k: int | Callable[[], int] | None = None,
                     generator: torch.Generator | None = None) -> Iterator[Tensor]:
        """Draw n sequences token by token with the KV cache; yields the tokens drawn so far (n, t) after
        each step, t = 1..T. ``temperature`` and ``top_k`` may be callables, read at every step (live knobs)."""
        device = next(self.parameters()).device
        caches: list[dict] = [{} for _ in self.blocks]
        x = self.start_tokens(labels, n, device)
        drawn = torch.empty(n, 0, dtype=torch.long, device=device)
        for t in range(self.cfg.block_size):
            logits = self(x, start=t, caches=caches)[:, -1]            # (n, K): only the new position
            temp = temperature() if callable(temperature) else temperature
            k = top_k() if callable(top_k) else top_k
            nxt = sample_logits(logits, temp, k, generator)
            drawn = torch.cat([drawn, nxt[:, None]], 1)
            x = nxt[:, None]
            yield drawn

    @torch.no_grad()
    def sample(self, n: int, labels: Tensor | None = None, temperature: float = 1.0, top_k: int | None = None,
               generator: torch.Generator | None = None) -> Tensor:
        """(n, T) sampled token sequences."""
        out = None
        for out in self.sample_steps(n, labels, temperature, top_k, generator):
            pass
        return out


def sample_logits(logits: Tensor, temperature: float, top_k: int | None,
                  generator: torch.Generator | None = None) -> Tensor:
    """One draw per row from softmax(logits / temperature) over the top_k largest logits (all if None
    or 0). Temperature 0 is the argmax."""
    if temperature <= 0:
        return logits.argmax(-1)
    logits = logits.float() / temperature
    if top_k:
        kth = torch.topk(logits, min(int(top_k), logits.shape[-1]), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = F.softmax(logits, -1)
    g = generator if generator is not None and generator.device == probs.device else None
    if g is None and generator is not None:   # a CPU generator for a GPU model: draw on the CPU
        return torch.multinomial(probs.cpu(), 1, generator=generator).squeeze(1).to(logits.device)
    return torch.multinomial(probs, 1, generator=g).squeeze(1)


def unigram_nll(train_tokens: Tensor, test_tokens: Tensor, vocab: int) -> float:
    """The baseline: NLL (nats/token) of test tokens under the training tokens' frequencies (add-one)."""
    counts = torch.bincount(train_tokens.flatten(), minlength=vocab).double() + 1.0
    logp = (counts / counts.sum()).log()
    return float(-logp[test_tokens.flatten()].mean())
