"""Save and load both VQ stages with the lab's one checkpoint API (no Qt).

Stage 1 is architecture ``vq-tokenizer`` (config: the task config and the TokenizerConfig); stage 2
is ``vq-prior`` (config: the prior task config and PriorConfig; extra: the codebook size and a
fingerprint of the tokenizer it was trained on). A prior over another codebook size, or over another
tokenizer's codes, is refused by name: its tokens would mean nothing to the loaded tokenizer."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lab_app.core.control import Control
from lab_app.core.events import Event
from lab_app.core.tiling import tile
from lab_app.data.datasets import ImageDataset
from lab_app.io.checkpoint import Checkpoint, history_from, load_checkpoint, save_checkpoint
from lab_app.io.errors import LoadError
from lab_app.topics.vq import prior_task as pt
from lab_app.topics.vq import task
from models.vq_prior import TokenPrior
from models.vq_tokenizer import VQTokenizer

TAB = "vq"
TOKENIZER = "vq-tokenizer"
PRIOR = "vq-prior"
RESOURCES = Path(__file__).resolve().parents[3] / "resources" / "checkpoints"
SHIPPED_TOKENIZER = RESOURCES / "vq.safetensors"
SHIPPED_PRIOR = RESOURCES / "vq.prior.safetensors"


def fingerprint(model: VQTokenizer) -> str:
    """A short hash of the tokenizer's weights: a prior remembers which tokenizer made its tokens."""
    h = hashlib.sha1()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().float().numpy().tobytes())
    return h.hexdigest()[:16]


def save_tokenizer(path, trained: task.Trained, dataset_info: str = "", card: dict | None = None) -> Path:
    return save_checkpoint(path, Checkpoint(
        TAB, TOKENIZER, trained.state_dict, {"task": trained.config, "tokenizer": trained.tokenizer},
        class_names=trained.class_names, metrics=trained.scores, seed=trained.config.get("seed"),
        extra={"dataset": dataset_info, "history": list(trained.history), **(card or {})}))


def load_tokenizer(path) -> tuple[VQTokenizer, task.Trained]:
    ckpt = load_checkpoint(path, tab=TAB, architectures=(TOKENIZER,))
    cfg, tcfg = ckpt.config.get("task"), ckpt.config.get("tokenizer")
    if not isinstance(cfg, dict) or not isinstance(tcfg, dict):
        raise LoadError(path, "the checkpoint's config lacks the task and tokenizer sections")
    try:
        model = task.build_tokenizer(tcfg)
    except (TypeError, ValueError) as e:
        raise LoadError(path, f"its tokenizer config cannot be built ({e})") from None
    try:
        model.load_state_dict(ckpt.state_dict)
    except (RuntimeError, KeyError) as e:
        first = str(e).strip().splitlines()
        raise LoadError(path, f"the weights do not fit the {TOKENIZER} model ({first[0] if first else e})") from None
    known = task.VqTaskConfig.__dataclass_fields__
    cfg = {k: v for k, v in cfg.items() if k in known}
    return model.eval(), task.Trained(cfg, tcfg, ckpt.state_dict, ckpt.metrics, tuple(ckpt.class_names),
                                      history_from(ckpt.extra))


def save_prior(path, trained: pt.PriorTrained, tokenizer: VQTokenizer, card: dict | None = None) -> Path:
    return save_checkpoint(path, Checkpoint(
        TAB, PRIOR, trained.state_dict, {"task": trained.config, "prior": trained.prior},
        metrics=trained.scores, seed=trained.config.get("seed"),
        extra={"num_codes": tokenizer.num_codes, "tokenizer": fingerprint(tokenizer),
               "history": list(trained.history), **(card or {})}))


def load_prior(path, tokenizer: VQTokenizer | None) -> tuple[TokenPrior, pt.PriorTrained]:
    """LoadError for a prior over another codebook size or another tokenizer's codes."""
    if tokenizer is None:
        raise LoadError(path, "load or train a tokenizer (stage 1) before its prior")
    ckpt = load_checkpoint(path, tab=TAB, architectures=(PRIOR,))
    pcfg, cfg = ckpt.config.get("prior"), ckpt.config.get("task", {})
    if not isinstance(pcfg, dict):
        raise LoadError(path, "the checkpoint's config lacks the prior section")
    k = pcfg.get("vocab_size")
    if k != tokenizer.num_codes:
        raise LoadError(path, f"is a prior over a codebook of {k} codes; the tokenizer has {tokenizer.num_codes}")
    if ckpt.extra.get("tokenizer") not in (None, fingerprint(tokenizer)):
        raise LoadError(path, "is a prior over another tokenizer's codes (same codebook size, other weights); "
                              "load the tokenizer it was trained with, or train a new prior")
    try:
        prior = pt.build_prior(pcfg, ckpt.state_dict)
    except (RuntimeError, KeyError, TypeError) as e:
        first = str(e).strip().splitlines()
        raise LoadError(path, f"the weights do not fit the {PRIOR} model ({first[0] if first else e})") from None
    known = pt.PriorTaskConfig.__dataclass_fields__
    return prior.eval(), pt.PriorTrained({k_: v for k_, v in cfg.items() if k_ in known}, pcfg, ckpt.state_dict,
                                         ckpt.metrics, history_from(ckpt.extra))


@dataclass(frozen=True)
class Loaded(Event):
    """A load's first event: the tokenizer, its record and the dataset, for the tab to take in. Its
    codebook frame (a CodebookFrame) and ``LoadedShown`` follow as events of their own: the tab draws
    each in a tick of the runner's drain (one handler drawing all of it held the UI thread for 57 ms)."""

    tokenizer: VQTokenizer
    trained: task.Trained
    data: ImageDataset | None
    background: int = 0
    note: str = ""


@dataclass(frozen=True)
class LoadedShown(Event):
    """A load's last event: the demo image's tokens (None without the dataset) and the prior, if one
    was loaded too."""

    demo_map: task.TokenMap | None = None
    prior: TokenPrior | None = None
    prior_trained: pt.PriorTrained | None = None


def load_stage1(path, ctl: Control, data: ImageDataset | None = None, prior_path=None) -> Iterator[Event]:
    """A task: read a tokenizer (and optionally its prior), its dataset, and compute what to draw:
    ``Loaded``, then the codebook's frame (with the dataset), then ``LoadedShown``."""
    tokenizer, trained = load_tokenizer(path)
    ctl.checkpoint()
    cfg = task.VqTaskConfig(**trained.config)
    note = ""
    try:
        if data is None or data.name != cfg.dataset:
            data = task.get_dataset(cfg)
    except LoadError as e:   # the tokenizer still works on dropped images without its dataset
        data, note = None, f"its dataset is not here ({e}): no codebook statistics"
    frame = demo_map = None
    background = 0
    if data is not None:
        x_test = torch.from_numpy(data.x_test)
        frame = task.codebook_frame(tokenizer, x_test, x_test[: cfg.recon_count], trained.scores.get("steps", 0),
                                    cfg.epochs)
        background = pt.background_code(tokenizer, data)
        demo_map = task.tokenize(tokenizer, data.x_test[0], f"test image 0 (class {data.class_names[data.y_test[0]]})")
    prior = prior_trained = None
    if prior_path is not None:
        ctl.checkpoint()
        prior, prior_trained = load_prior(prior_path, tokenizer)
    yield Loaded(tokenizer, trained, data, background, note)
    if frame is not None:
        yield frame
    yield LoadedShown(demo_map, prior, prior_trained)
    return None


def load_prior_task(path, tokenizer: VQTokenizer, ctl: Control) -> tuple[TokenPrior, pt.PriorTrained]:
    ctl.checkpoint()
    return load_prior(path, tokenizer)


def sample_grid(images: np.ndarray, cols: int) -> np.ndarray:
    """(N, H, W[, 3]) -> one mosaic with a grey gap between tiles."""
    return tile(images, columns=cols, fill=0.35)
