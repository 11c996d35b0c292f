"""VQ stage 2 (no Qt): a causal Transformer prior over the tokenizer's token grids, and sampling.

``train_prior`` tokenizes the dataset with the (frozen) tokenizer, yields TokensReady (with the unigram
baseline), Progress points of the token NLL (train batches, and the test set once per epoch) and
returns a PriorTrained result. ``sample`` draws images token by token with the KV cache and yields a
SampleStep after every token: the tokens drawn so far and the decoded images as they fill in.
Temperature and top-k are read from ``live`` at every token."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from lab_app.core.control import Control
from lab_app.core.device import seeded_init
from lab_app.core.events import Event, Progress
from lab_app.data.datasets import ImageDataset
from lab_app.topics.vq.task import as_display, thin
from models.vq_prior import PriorConfig, TokenPrior, unigram_nll
from models.vq_tokenizer import VQTokenizer

SAMPLE_MODES = ("one per class", "unconditional")


@dataclass
class PriorTaskConfig:
    n_layer: int = field(default=2, metadata={"label": "Layers", "min": 1, "max": 8})
    n_embd: int = field(default=64, metadata={"label": "Width", "min": 32, "max": 256, "step": 32,
                                               "tip": "embedding width (4 heads)"})
    class_conditional: bool = field(default=True, metadata={
        "label": "Class token", "tip": "start each sequence with its class token (10% of them with "
                                       "'no class', so one model samples both ways)"})
    epochs: int = field(default=8, metadata={"label": "Prior epochs", "min": 1, "max": 200})
    lr: float = field(default=3e-3, metadata={"label": "Prior learning rate", "min": 1e-4, "max": 1e-2, "log": True})
    temperature: float = field(default=0.8, metadata={
        "label": "Temperature", "min": 0.05, "max": 2.0, "step": 0.05, "live": True,
        "tip": "softmax(logits / T): low T plays safe (and repeats), high T gets wild"})
    top_k: int = field(default=0, metadata={
        "label": "Top-k", "min": 0, "max": 256, "live": True, "tip": "draw among the k likeliest codes (0: all)"})
    sample_mode: str = field(default="one per class", metadata={
        "label": "Samples", "choices": SAMPLE_MODES, "live": True})
    n_head: int = 4
    batch_size: int = 64
    token_delay: float = 0.01     # seconds between drawn tokens in the tab, so the fill-in can be seen
    seed: int = 0


@dataclass(frozen=True)
class TokensReady(Event):
    train_tokens: int
    test_tokens: int
    unigram_nll: float            # nats/token of the test tokens under the training frequencies


@dataclass(frozen=True)
class PriorTrained(Event):
    config: dict                  # PriorTaskConfig
    prior: dict                   # PriorConfig
    state_dict: dict
    scores: dict
    history: tuple = ()           # ((step, {curve: value}), ...)


@dataclass(frozen=True)
class SampleStep(Event):
    coalesce = True
    t: int                        # tokens drawn (1..T)
    total: int
    tokens: np.ndarray            # (n, h, w) codes, -1 where not drawn yet
    images: np.ndarray            # (n, H, W[, 3]) decoded, not-drawn regions dimmed
    labels: tuple                 # class per sample (None: unconditional)


@torch.no_grad()
def tokenize_all(model: VQTokenizer, x: np.ndarray, device, batch: int = 250) -> torch.Tensor:
    model.eval()
    out = [model.encode(torch.from_numpy(x[i:i + batch]).to(device)).flatten(1) for i in range(0, len(x), batch)]
    return torch.cat(out).cpu()                                             # (N, T)


def prior_config(cfg: PriorTaskConfig, tokenizer: VQTokenizer, num_classes: int) -> PriorConfig:
    return PriorConfig(vocab_size=tokenizer.num_codes, block_size=tokenizer.cfg.grid ** 2,
                       num_classes=num_classes if cfg.class_conditional else 0,
                       n_layer=cfg.n_layer, n_head=cfg.n_head, n_embd=cfg.n_embd)


def build_prior(pcfg: PriorConfig | dict, state: dict | None = None) -> TokenPrior:
    model = TokenPrior(PriorConfig(**pcfg) if isinstance(pcfg, dict) else pcfg)
    if state is not None:
        model.load_state_dict(state)
    return model


@torch.no_grad()
def eval_nll(prior: TokenPrior, tokens: torch.Tensor, labels: torch.Tensor | None, device) -> float:
    prior.eval()
    total = 0.0
    for i in range(0, len(tokens), 500):
        lab = None if labels is None else labels[i:i + 500].to(device)
        total += float(prior.loss(tokens[i:i + 500].to(device), lab)) * len(tokens[i:i + 500])
    prior.train()
    return total / len(tokens)


def train_prior(cfg: PriorTaskConfig, tokenizer: VQTokenizer, data: ImageDataset, ctl: Control,
                max_seconds: float | None = None) -> Iterator[Event]:
    """Tokenize ``data`` with the frozen tokenizer and fit the prior (at most ``max_seconds`` if given)."""
    device = ctl.device
    tokenizer = tokenizer.to(device)
    train_tok = tokenize_all(tokenizer, data.x_train, device)
    ctl.checkpoint()
    test_tok = tokenize_all(tokenizer, data.x_test, device)
    k = tokenizer.num_codes
    uni = unigram_nll(train_tok, test_tok, k)
    yield TokensReady(train_tok.numel(), test_tok.numel(), uni)
    pcfg = prior_config(cfg, tokenizer, data.num_classes)
    y_train = torch.from_numpy(data.y_train) if pcfg.num_classes else None
    y_test = torch.from_numpy(data.y_test) if pcfg.num_classes else None
    with seeded_init(cfg.seed):
        prior = build_prior(pcfg).to(device)
    opt = torch.optim.AdamW(prior.parameters(), lr=cfg.lr, weight_decay=0.01)
    gen = torch.Generator().manual_seed(cfg.seed)
    n, batch = len(train_tok), min(cfg.batch_size, len(train_tok))
    per_epoch = (n + batch - 1) // batch
    total = cfg.epochs * per_epoch
    step, start, test_nll, history = 0, time.monotonic(), float("nan"), []
    for epoch in range(1, cfg.epochs + 1):
        order = torch.randperm(n, generator=gen)
        for b in range(per_epoch):
            ctl.checkpoint()
            step += 1
            # warm up over the first 10% of the run, then a cosine to zero; "the run" is the steps, or
            # the seconds when ``max_seconds`` bounds it (a step count planned for 1000 epochs would
            # never leave the warm-up)
            done = (time.monotonic() - start) / max_seconds if max_seconds else (step - 1) / total
            for group in opt.param_groups:
                group["lr"] = cfg.lr * lr_factor(min(done, 1.0))
            idx = order[b * batch:(b + 1) * batch]
            loss = prior.loss(train_tok[idx].to(device), None if y_train is None else y_train[idx].to(device), gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(prior.parameters(), 1.0)
            opt.step()
            if step % 5 == 0:
                history.append((step, {"token NLL (train)": loss.item(), "unigram baseline": uni}))
                yield Progress(step, total, history[-1][1], text=f"prior epoch {epoch}/{cfg.epochs}")
            if max_seconds is not None and time.monotonic() - start > max_seconds:
                break
        test_nll = eval_nll(prior, test_tok, y_test, device)
        history.append((step, {"token NLL (test)": test_nll, "unigram baseline": uni}))
        yield Progress(step, total, history[-1][1], text=f"prior epoch {epoch}/{cfg.epochs}")
        if max_seconds is not None and time.monotonic() - start > max_seconds:
            break
    prior.eval()
    state = {n_: v.detach().cpu().clone() for n_, v in prior.state_dict().items()}
    scores = {"token_nll": test_nll, "unigram_nll": uni, "steps": step,
              "train_seconds": round(time.monotonic() - start, 1)}
    return PriorTrained(asdict(cfg), asdict(pcfg), state, scores, tuple(thin(history)))


def lr_factor(done: float, warmup: float = 0.1) -> float:
    """Learning-rate multiplier at ``done`` (0..1) of the run: linear warm-up, then cosine decay."""
    if done < warmup:
        return 0.04 + 0.96 * done / warmup
    return 0.5 * (1 + math.cos(math.pi * (done - warmup) / (1 - warmup)))


def sample_labels(prior: TokenPrior, mode: str, n: int) -> list[int | None]:
    if prior.cfg.num_classes and mode == "one per class":
        return [i % prior.cfg.num_classes for i in range(n)]
    return [None] * n


@torch.no_grad()
def partial_images(tokenizer: VQTokenizer, drawn: torch.Tensor, grid: int, background: int) -> np.ndarray:
    """Decode (n, t) drawn tokens on a grid whose other tokens are the ``background`` code; the
    not-yet-drawn tokens' pixels are dimmed."""
    n, t = drawn.shape
    full = torch.full((n, grid * grid), background, dtype=torch.long, device=drawn.device)
    full[:, :t] = drawn
    images = as_display(tokenizer.decode_indices(full.view(n, grid, grid)))
    f = tokenizer.cfg.downsample
    mask = np.zeros((grid * grid,), np.float32)
    mask[:t] = 1.0
    mask = np.kron(mask.reshape(grid, grid), np.ones((f, f), np.float32))
    dim = 0.35 + 0.65 * mask
    return images * (dim[None, ..., None] if images.ndim == 4 else dim[None])


def sample(prior: TokenPrior, tokenizer: VQTokenizer, n: int, live: dict, seed: int, background: int,
           ctl: Control, delay: float = 0.0) -> Iterator[Event]:
    """Draw n images token by token; ``live`` holds temperature, top_k and sample_mode."""
    device = ctl.device
    prior, tokenizer = prior.to(device).eval(), tokenizer.to(device).eval()
    labels = sample_labels(prior, live.get("sample_mode", SAMPLE_MODES[0]), n)
    lab_t = None if labels[0] is None else torch.tensor(labels)
    grid = tokenizer.cfg.grid
    gen = torch.Generator().manual_seed(seed)
    total = grid * grid
    drawn = None
    steps = prior.sample_steps(n, lab_t, lambda: float(live.get("temperature", 1.0)),
                               lambda: int(live.get("top_k", 0)), gen)
    for drawn in steps:
        ctl.checkpoint()
        t = drawn.shape[1]
        tokens = np.full((n, total), -1, np.int64)
        tokens[:, :t] = drawn.cpu().numpy()
        yield SampleStep(t, total, tokens.reshape(n, grid, grid), partial_images(tokenizer, drawn, grid, background),
                         tuple(labels))
        if delay:
            time.sleep(delay)
    return drawn.cpu().numpy().reshape(n, grid, grid)


def background_code(tokenizer: VQTokenizer, data: ImageDataset | None) -> int:
    """The code of an empty patch: what the tokenizer assigns to a blank image of the data's background."""
    c, h, w = (tokenizer.cfg.in_channels, tokenizer.cfg.image_size, tokenizer.cfg.image_size)
    level = 0.0 if data is None else float(np.median(data.x_train[:200]))
    with torch.no_grad():
        tokenizer.eval()
        x = torch.full((1, c, h, w), level, device=next(tokenizer.parameters()).device)
        idx = tokenizer.encode(x).flatten()
    return int(torch.mode(idx).values)


def bits_per_token(nll_nats: float) -> float:
    return nll_nats / math.log(2)
