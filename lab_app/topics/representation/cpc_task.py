"""CPC and the relative-position pretext task in the contrastive tab (no Qt).

``train`` is a generator like ``task.train``: it yields the dataset, the loss as Progress, per-k
statistics of CPC (how often the true patch is picked among N, and the bound log N - L_k against
log N), a snapshot of one test image's prediction (its context, the patch it predicts, the scores of
the true patch and of the best negatives), or for the pretext task its accuracy and a few patch pairs
with the predicted and true neighbour. At the end it probes the frozen features (linear and kNN on
the test split) against raw pixels, the untrained encoder and the tab's SimCLR-style InfoNCE encoder
trained for as many seconds, and returns a CpcTrained result.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from lab_app.core.control import Control
from lab_app.core.device import apply_thread_policy, seed_everything, seeded_init
from lab_app.core.events import Event, Progress
from lab_app.data.datasets import ImageDataset, load_dataset
from lab_app.topics.representation import task as rep
from lab_app.topics.representation.probes import encode, knn_probe, linear_probe, warm_imports
from models.contrastive import Encoder, augment, info_nce_loss
from models.cpc import (
    CPC,
    CPCConfig,
    PatchPosition,
    PatchPositionConfig,
    cpc_loss,
    cpc_step_scores,
    grid_size,
    patch_grid,
    patch_position_loss,
    relative_position_pairs,
)

OBJECTIVES = ("CPC", "patch position")
ENCODE_BATCH = 256  # images per forward pass when encoding: 256 x 36 patches stays small in memory


@dataclass
class CpcConfig:
    steps_ahead: int = field(default=3, metadata={
        "label": "Rows ahead K", "min": 1, "max": 5,
        "tip": "CPC predicts the patch 1..K rows below each context position, one linear map W_k per k"})
    negatives: int = field(default=63, metadata={
        "label": "Negatives N-1", "min": 1, "max": 511, "step": 8,
        "tip": "CPC: how many wrong patches (other positions, other images) hide the true one; "
        "the bound log N - L can never exceed log N"})
    patch: int = field(default=8, metadata={
        "label": "Patch size", "min": 4, "max": 16, "tip": "side of a patch in pixels"})
    stride: int = field(default=4, metadata={
        "label": "Patch stride", "min": 1, "max": 16,
        "tip": "pixels between neighbouring patches; the overlap is patch - stride"})
    gap: int = field(default=1, metadata={
        "label": "Pretext gap", "min": 0, "max": 4,
        "tip": "patch position: pixels left between the 3 x 3 patches, so edges running across the "
        "border cannot give the answer away"})
    images_per_batch: int = field(default=32, metadata={
        "label": "Images per batch", "min": 4, "max": 128, "step": 4,
        "tip": "each image gives one query per grid position and k"})
    compare_simclr: bool = field(default=True, metadata={
        "label": "Also train SimCLR",
        "tip": "after CPC, train the tab's InfoNCE encoder for as many seconds and probe it too"})
    show_k: int = field(default=1, metadata={
        "label": "Show k", "min": 1, "max": 5, "live": True,
        "tip": "which step ahead the example image shows (at most K). Acts on the running training"})
    objective: str = "CPC"  # or "patch position"; chosen in the tab's Objective list
    dataset: str = "mnist5k"
    embed_dim: int = 32
    steps: int = 300
    lr: float = 2e-3
    width: int = 16
    context_dim: int = 64
    jitter: int = 1  # pretext: each patch moves by up to this many pixels
    report_every: int = 10  # steps between per-k statistics
    example_seconds: float = 0.5  # at most one example snapshot per this many seconds
    max_seconds: float | None = None  # stop training after this many seconds (benchmarks)
    simclr_seconds: float | None = None  # None: as long as CPC trained
    probes: bool = True  # probe the features at the end (tests of the training alone skip it)
    data_root: str = ""
    limit: int | None = None
    seed: int = 0


def from_tab(tab_cfg, knobs: CpcConfig) -> CpcConfig:
    """The CPC config for a run started from the tab: its own knobs, plus the tab's objective,
    dataset, embedding dim, steps, seed and data limits."""
    shared = ("objective", "dataset", "embed_dim", "steps", "lr", "width", "data_root", "limit", "seed")
    return CpcConfig(**{**asdict(knobs), **{k: getattr(tab_cfg, k) for k in shared}})


@dataclass(frozen=True)
class CpcStats(Event):
    step: int
    log_n: float
    pick_accuracy: np.ndarray  # (K,) how often the true patch scores highest among N, mean of the last steps
    bound: np.ndarray  # (K,) log N - L_k


@dataclass(frozen=True)
class CpcExample(Event):
    coalesce = True
    step: int
    image: np.ndarray  # (C, H, W) the test image
    patch: int
    stride: int
    row: int  # the context position (row, col): c sees patch rows 0..row
    col: int
    k: int  # the target is at (row + k, col)
    candidates: np.ndarray  # (S, C, p, p) the true patch first, then the best-scoring negatives
    where: np.ndarray  # (S, 3): image index in the batch (0 = this image), grid row, grid column
    scores: np.ndarray  # (S,) z^T W_k c of each shown candidate
    picked: int  # index into candidates of the highest score among all N
    n: int  # N, the number of candidates scored


@dataclass(frozen=True)
class PretextStats(Event):
    step: int
    accuracy: float  # mean over the last steps
    chance: float


@dataclass(frozen=True)
class PretextExample(Event):
    coalesce = True
    step: int
    first: np.ndarray  # (S, C, p, p) the centre patches
    second: np.ndarray  # (S, C, p, p) their neighbours
    labels: np.ndarray  # (S,) true neighbour index into models.cpc.NEIGHBOURS
    predicted: np.ndarray  # (S,)
    probs: np.ndarray  # (S, 8)


@dataclass(frozen=True)
class CpcProbeScores(Event):
    step: int
    scores: dict  # "raw pixels" / "random encoder" / "encoder" / "SimCLR encoder" -> linear, knn


@dataclass(frozen=True)
class CpcTrained(Event):
    config: dict
    state_dict: dict
    train_features: np.ndarray  # (N, F) L2-normalised, for nearest neighbours
    scores: dict
    pick_accuracy: list  # per k on the test split (CPC); [pretext accuracy] for the pretext task
    bound: list
    log_n: float
    train_seconds: float
    simclr_seconds: float


def build_model(cfg: CpcConfig, channels: int):
    if cfg.objective == "CPC":
        return CPC(CPCConfig(channels, cfg.patch, cfg.stride, cfg.width, cfg.embed_dim, cfg.context_dim,
                             cfg.steps_ahead, cfg.negatives))
    if cfg.objective == "patch position":
        return PatchPosition(PatchPositionConfig(channels, cfg.patch, cfg.stride, cfg.gap, cfg.jitter,
                                                 cfg.width, cfg.embed_dim))
    raise ValueError(f"unknown objective {cfg.objective!r} (choose one of {OBJECTIVES})")


def check_fits(cfg: CpcConfig, data: ImageDataset) -> None:
    """Refuse, with the sizes, a grid too small for K rows ahead (or a pretext layout too big)."""
    side = min(data.image_shape[1:])
    rows = grid_size(side, cfg.patch, cfg.stride)
    if cfg.objective == "CPC" and rows <= cfg.steps_ahead:
        raise ValueError(
            f"{data.name}: {side} px images give a grid of {rows} patch rows (patch {cfg.patch}, stride "
            f"{cfg.stride}), too few to predict {cfg.steps_ahead} rows ahead: use mnist5k or smaller patches")
    if cfg.objective == "patch position":
        from models.cpc import relative_position_layout

        relative_position_layout(side, cfg.patch, cfg.gap, cfg.jitter)


def train(
    cfg: CpcConfig, live: dict | None, ctl: Control, data: ImageDataset | None = None
) -> Iterator[Event]:
    warm_imports()
    apply_thread_policy()
    seed_everything(cfg.seed)
    dev = ctl.device
    gen = torch.Generator(device=dev).manual_seed(cfg.seed)
    data = data if data is not None else load_dataset(cfg.dataset, cfg.data_root or None, seed=cfg.seed,
                                                      limit=cfg.limit)
    check_fits(cfg, data)
    ctl.checkpoint()
    yield rep.DatasetReady(data, np.zeros(0, np.int64))
    x_train = torch.from_numpy(data.x_train).to(dev)
    x_test = torch.from_numpy(data.x_test).to(dev)
    with seeded_init(cfg.seed):
        model = build_model(cfg, data.image_shape[0]).to(dev)
    untrained = copy.deepcopy(model)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    n, batch = len(x_train), min(cfg.images_per_batch, len(x_train))
    shown = x_test[:1] if len(x_test) else x_train[:1]
    pool = torch.cat([shown, x_test[1:32] if len(x_test) > 1 else x_train[1:32]])  # the example's negatives
    seen: list[dict] = []
    last_example, start = -1e9, time.monotonic()
    step = 0
    for step in range(1, cfg.steps + 1):
        ctl.checkpoint()
        x = x_train[torch.randint(0, n, (batch,), generator=gen, device=dev)]
        if cfg.objective == "CPC":
            loss, per_k = cpc_loss(model, x, gen)
            seen.append({k: v.detach() for k, v in per_k.items()})
        else:
            loss, acc = patch_position_loss(model, x, gen)
            seen.append({"accuracy": acc.detach()})
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        out_of_time = cfg.max_seconds is not None and time.monotonic() - start >= cfg.max_seconds
        last = step == cfg.steps or out_of_time
        if step % cfg.report_every == 0 or last:
            yield Progress(step, cfg.steps, {"loss": float(loss.detach())})
            yield stats_event(cfg, step, seen)
            seen = []
        if time.monotonic() - last_example >= cfg.example_seconds or last:
            ctl.checkpoint()
            show_k = int((live or {}).get("show_k", cfg.show_k))
            yield example_event(cfg, model, pool, step, show_k)
            last_example = time.monotonic()
        if out_of_time:
            break
    train_seconds = time.monotonic() - start

    pick, bound = evaluate(cfg, model, x_test if len(x_test) else x_train, dev)
    ctl.checkpoint()
    encoders = {"random encoder": untrained, "encoder": model}
    simclr_seconds = 0.0
    if cfg.compare_simclr:
        budget = cfg.simclr_seconds if cfg.simclr_seconds is not None else train_seconds
        t0 = time.monotonic()
        encoders["SimCLR encoder"] = yield from train_simclr(cfg, data, x_train, budget, ctl, gen)
        simclr_seconds = time.monotonic() - t0
    scores = (yield from probe_all(data, x_train, x_test, encoders, ctl, step)) if cfg.probes else {}
    features = encode(model, x_train, ENCODE_BATCH)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return CpcTrained(asdict(cfg), state, features, scores, pick, bound, math.log(cfg.negatives + 1),
                      train_seconds, simclr_seconds)


def stats_event(cfg: CpcConfig, step: int, seen: list[dict]) -> Event:
    if cfg.objective == "CPC":
        mean = {k: torch.stack([s[k] for s in seen]).mean(0).cpu().numpy() for k in ("accuracy", "bound")}
        return CpcStats(step, math.log(cfg.negatives + 1), mean["accuracy"], mean["bound"])
    return PretextStats(step, float(torch.stack([s["accuracy"] for s in seen]).mean()), 1 / 8)


@torch.no_grad()
def evaluate(cfg: CpcConfig, model, x: torch.Tensor, dev) -> tuple[list, list]:
    """Per-k pick accuracy and bound on held-out images (CPC), or the pretext accuracy; the same
    negatives every time (a fixed generator), so two runs are compared on the same draws."""
    gen = torch.Generator(device=dev).manual_seed(12345)
    model.eval()
    try:
        totals = []
        for xb in x[:1024].split(64):  # 64 images: 2304 patches to score each query against
            if cfg.objective == "CPC":
                _, per_k = cpc_loss(model, xb, gen)
                totals.append(torch.stack([per_k["accuracy"], per_k["bound"]]))
            else:  # every image with each of its 8 neighbours
                accs = [patch_position_loss(model, xb, gen, torch.full((len(xb),), label, device=dev))[1]
                        for label in range(8)]
                totals.append(torch.stack([torch.stack(accs).mean()[None], torch.zeros(1, device=dev)]))
        mean = torch.stack(totals).mean(0).cpu().numpy()
    finally:
        model.train()
    if cfg.objective == "CPC":
        return [float(v) for v in mean[0]], [float(v) for v in mean[1]]
    return [float(mean[0][0])], []


@torch.no_grad()
def example_event(cfg: CpcConfig, model, pool: torch.Tensor, step: int, show_k: int) -> Event:
    model.eval()
    try:
        if cfg.objective == "CPC":
            return cpc_example(model, pool, step, show_k)
        return pretext_example(cfg, model, pool, step)
    finally:
        model.train()


@torch.no_grad()
def cpc_example(model: CPC, pool: torch.Tensor, step: int, k: int, shown: int = 8) -> CpcExample:
    """pool[0]'s prediction k rows ahead from the middle of its grid, scored against its true patch
    and N - 1 negatives from the other patches of pool (fixed draws, so frames are comparable)."""
    k = max(1, min(k, model.cfg.steps_ahead))
    z, c = model(pool)
    _, _, gh, gw = z.shape
    row, col = max(0, (gh - 1 - k) // 2), gw // 2
    gen = torch.Generator(device=pool.device).manual_seed(0)
    scores, cand = cpc_step_scores(z, c, model.predictors[k - 1], k, model.cfg.negatives, gen)
    query = row * gw + col  # the queries of image 0 come first, in (row, col) order
    s, idx = scores[query], cand[query]
    # The true patch, then the negatives by falling score: the model's pick is one of the first two.
    order = torch.cat([s.new_zeros(1, dtype=torch.long), 1 + s[1:].argsort(descending=True)])[:shown]
    picked = 0 if bool(s[0] > s[1:].max()) else 1  # a tie is not a pick of the true patch
    tiles = patch_grid(pool, model.cfg.patch, model.cfg.stride).flatten(0, 2)  # (B Gh Gw, C, p, p)
    chosen = idx[order]
    where = torch.stack([chosen // (gh * gw), (chosen // gw) % gh, chosen % gw], 1)
    return CpcExample(step, pool[0].cpu().numpy().copy(), model.cfg.patch, model.cfg.stride, row, col, k,
                      tiles[chosen].cpu().numpy().copy(), where.cpu().numpy(), s[order].cpu().numpy().copy(),
                      picked, len(s))


@torch.no_grad()
def pretext_example(cfg: CpcConfig, model: PatchPosition, pool: torch.Tensor, step: int, shown: int = 8):
    """One pair per neighbour position, cut from the pool's first images, with the model's answer."""
    gen = torch.Generator(device=pool.device).manual_seed(0)
    x = pool[:shown]
    labels = torch.arange(len(x), device=pool.device) % 8
    a, b, labels, _ = relative_position_pairs(x, cfg.patch, cfg.gap, cfg.jitter, gen, labels=labels)
    probs = F.softmax(model(a, b), 1)
    return PretextExample(step, a.cpu().numpy().copy(), b.cpu().numpy().copy(), labels.cpu().numpy(),
                          probs.argmax(1).cpu().numpy(), probs.cpu().numpy())


def train_simclr(cfg: CpcConfig, data: ImageDataset, x_train: torch.Tensor, seconds: float, ctl: Control,
                 gen: torch.Generator):
    """The tab's InfoNCE encoder (same architecture, temperature, augmentation and batch as the
    InfoNCE objective's defaults), trained for ``seconds`` of wall time at a constant learning rate
    (the InfoNCE run's one-cycle schedule needs a step count, which a time budget does not give)."""
    defaults = rep.RepresentationConfig(dataset=data.name, embed_dim=cfg.embed_dim, seed=cfg.seed)
    with seeded_init(cfg.seed):
        model = Encoder(rep.encoder_config(defaults, data)).to(x_train.device)
    opt = torch.optim.Adam(model.parameters(), lr=defaults.lr, weight_decay=1e-5)
    batch, start, step = min(defaults.batch_size, len(x_train)), time.monotonic(), 0
    while time.monotonic() - start < seconds:
        ctl.checkpoint()
        x = x_train[torch.randint(0, len(x_train), (batch,), generator=gen, device=x_train.device)]
        s = defaults.augment_strength
        loss = info_nce_loss(model(augment(x, s, gen)), model(augment(x, s, gen)), defaults.temperature)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % 10 == 1:
            done = min(time.monotonic() - start, seconds)
            yield Progress(int(done), max(1, int(seconds)), {"SimCLR loss": float(loss.detach())},
                           text="training the SimCLR encoder for the comparison")
    return model


def probe_all(data, x_train, x_test, encoders: dict, ctl: Control, step: int):
    """Linear and kNN probes of raw pixels and of each encoder's frozen features, on the test split."""
    n, m = len(data.x_train), len(data.x_test)
    pixels = data.x_train.reshape(n, -1), data.x_test.reshape(m, -1)
    scores = {"raw pixels": {"linear": linear_probe(pixels[0], data.y_train, pixels[1], data.y_test),
                             "knn": knn_probe(pixels[0], data.y_train, pixels[1], data.y_test)}}
    for name, model in encoders.items():
        ctl.checkpoint()
        f_train, f_test = encode(model, x_train, ENCODE_BATCH), encode(model, x_test, ENCODE_BATCH)
        scores[name] = {"linear": linear_probe(f_train, data.y_train, f_test, data.y_test),
                        "knn": knn_probe(f_train, data.y_train, f_test, data.y_test)}
        yield CpcProbeScores(step, dict(scores))
    return scores


def explain_file(path, state_dict: dict, config: dict, data: ImageDataset, live: dict, ctl: Control):
    """A dropped image through a trained CPC (its context, the true patch and what the model picks
    among that image's and 31 test images' patches) or patch-position model (its 8 neighbours)."""
    from lab_app.io import load_image

    cfg = CpcConfig(**{k: v for k, v in config.items() if k in CpcConfig.__dataclass_fields__})
    image = rep.image_for(load_image(path), data)  # LoadError names the file
    ctl.checkpoint()
    with seeded_init(cfg.seed):
        model = build_model(cfg, data.image_shape[0])
    model.load_state_dict(state_dict)
    model.to(ctl.device).eval()
    others = data.x_test[:31] if len(data.x_test) else data.x_train[:31]
    pool = torch.from_numpy(np.concatenate([image[None], others])).to(ctl.device)
    if cfg.objective == "CPC":
        yield cpc_example(model, pool, -1, int(live.get("show_k", cfg.show_k)))
    else:
        yield pretext_example(cfg, model, pool[:1].expand(8, -1, -1, -1).contiguous(), -1)
