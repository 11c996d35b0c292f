"""Representation learning task (no Qt): train an encoder with a contrastive or pretext objective
and report what its embedding space looks like while it trains.

``train`` is a generator. It yields the dataset once (the tab needs the images for hover and
neighbours), the probe accuracies of raw pixels and of the untrained (random) encoder, then
Progress points (loss, alignment, uniformity), coalescable EmbeddingFrame snapshots (a 2D layout
of the training set, positive / negative pair distances) and ProbeScores at evaluations. It returns
a Trained result: weights, the training set's features (for nearest neighbours), the loss curve.
Margin, temperature and the 2D projection are read from ``live`` every step.

Also here, for the tab's runners: ``save_encoder`` / ``load_encoder`` (the lab's checkpoint API;
``tsne_frame`` lays a loaded embedding out as training's last frame is) and ``query`` (an image's
nearest training images). The encoder the tab opens on: shipped.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from lab_app.core.control import Control
from lab_app.core.device import apply_thread_policy, seed_everything, seeded_init
from lab_app.core.events import Event, Progress
from lab_app.core.seeds import seed_field
from lab_app.data.datasets import ImageDataset, load_dataset
from lab_app.io import load_image
from lab_app.io.checkpoint import (
    Checkpoint,
    history_from,
    load_checkpoint,
    load_state_into,
    save_checkpoint,
)
from lab_app.topics.representation.probes import (
    encode,
    knn_probe,
    linear_probe,
    project_2d,
    warm_imports,
)
from models.contrastive import (
    Encoder,
    EncoderConfig,
    RotationHead,
    alignment,
    augment,
    contrastive_loss,
    info_nce_loss,
    rotate_batch,
    rotation_loss,
    siamese_pairs,
    uniformity,
)

MODEL_NAME = "representation-encoder"  # the architecture in the checkpoint header
# The last two run in cpc_task.py (their own task and views; the tab routes them there).
OBJECTIVES = ("InfoNCE", "pairwise contrastive", "rotation pretext", "CPC", "patch position")
DATASET_CHOICES = ("digits", "mnist5k", "mnist", "fashion_mnist", "cifar10", "folder")
PROJECTIONS = ("t-SNE at the end", "PCA")
LIVE_NOW = "Acts on the running training at once (and on the plots), no restart."


@dataclass
class RepresentationConfig:
    dataset: str = field(
        default="digits",
        metadata={
            "label": "Dataset",
            "choices": DATASET_CHOICES,
            "tip": "digits and mnist5k are built in; the torchvision sets and 'folder' read a folder "
            "you choose",
        },
    )
    objective: str = field(
        default="InfoNCE",
        metadata={
            "label": "Objective",
            "choices": OBJECTIVES,
            "tip": "InfoNCE: one positive among 2N-2 negatives; pairwise: Siamese pairs with a margin; "
            "rotation: predict which of 4 rotations was applied (labels made from the data); "
            "CPC: predict the patches k rows below from the rows above, among negatives; "
            "patch position: which of 8 neighbours of a patch another patch is",
        },
    )
    margin: float = field(
        default=1.0,
        metadata={
            "label": "Margin m",
            "min": 0.1,
            "max": 5.0,
            "step": 0.1,
            "live": True,
            "tip": "pairwise loss: negatives closer than m are pushed apart. " + LIVE_NOW,
        },
    )
    temperature: float = field(
        default=0.2,
        metadata={
            "label": "Temperature",
            "min": 0.02,
            "max": 2.0,
            "log": True,
            "live": True,
            "tip": "InfoNCE: small = sharp softmax, hard negatives dominate. " + LIVE_NOW,
        },
    )
    batch_size: int = field(
        default=256,
        metadata={
            "label": "Batch size N",
            "min": 16,
            "max": 512,
            "step": 16,
            "tip": "InfoNCE: each image sees 2N-2 negatives",
        },
    )
    embed_dim: int = field(
        default=32,
        metadata={
            "label": "Embedding dim",
            "min": 2,
            "max": 128,
            "tip": "2: the plot shows the embedding itself; more: its 2D projection",
        },
    )
    augment_strength: float = field(
        default=1.0,
        metadata={
            "label": "Augmentation",
            "min": 0.0,
            "max": 2.0,
            "step": 0.1,
            "tip": "how different the two views are: shifts, rotation, scale, contrast, noise",
        },
    )
    steps: int = field(default=200, metadata={"label": "Steps", "min": 20, "max": 5000, "step": 10})
    projection: str = field(
        default="t-SNE at the end",
        metadata={
            "label": "2D view",
            "choices": PROJECTIONS,
            "live": True,
            "tip": "frames during training are a PCA of the embedding (fast, linear); t-SNE (a few seconds) "
            "shows the neighbourhoods of the final embedding. " + LIVE_NOW,
        },
    )
    width: int = 16  # channels of the encoder's first conv layer
    encoder: str = "cnn"
    feature_dim: int = 128
    lr: float = 2e-3
    probe_every: int = 100  # steps between linear/kNN probes (and at the end)
    frame_seconds: float = 0.5  # at most one embedding frame per this many seconds of training
    frame_points: int = 5000  # training images shown in the scatter (a seeded subset beyond)
    data_root: str = ""  # folder for the torchvision sets / the image folder
    limit: int | None = None  # at most this many images (tests, quick runs)
    seed: int = seed_field()


@dataclass(frozen=True)
class DatasetReady(Event):
    dataset: ImageDataset
    shown: np.ndarray  # indices of x_train drawn in the scatter


@dataclass(frozen=True)
class EmbeddingFrame(Event):
    coalesce = True
    step: int
    xy: np.ndarray  # (M, 2) layout of the shown training images
    projection: str
    positive_d: np.ndarray  # distances between two views of one image
    negative_d: np.ndarray  # distances between views of different images
    alignment: float
    uniformity: float
    margin: float | None  # drawn on the histogram for the pairwise loss
    # the weights that drew this frame (CPU copies): an image dropped mid-training is embedded with them
    state_dict: dict = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class ProbeScores(Event):
    step: int
    scores: dict  # "linear"/"knn" of "encoder"/"raw pixels"/"random encoder"


@dataclass(frozen=True)
class Trained(Event):
    config: dict
    state_dict: dict  # CPU tensors
    train_features: np.ndarray  # (N, F) L2-normalised features of x_train, for nearest neighbours
    scores: dict
    encoder: Encoder | None = field(default=None, compare=False, repr=False)  # eval-mode copy, CPU
    history: tuple = field(default=(), compare=False, repr=False)  # ((step, {"loss": v}), ...), saved with it


@dataclass(frozen=True)
class Loaded(Event):
    """A checkpoint read and rebuilt in the worker, with the embedding of its training set."""

    path: str
    trained: Trained
    data: ImageDataset
    shown: np.ndarray
    frame: EmbeddingFrame
    embedding: np.ndarray | None = field(default=None, compare=False, repr=False)  # z of the shown images


@dataclass(frozen=True)
class QueryResult(Event):
    """An image as the encoder sees it and its nearest training images."""

    caption: str
    image: np.ndarray  # (C, H, W)
    indices: np.ndarray  # (k,) into x_train, nearest first
    names: tuple[str, ...]  # their class names


def encoder_config(cfg: RepresentationConfig, data: ImageDataset) -> EncoderConfig:
    c, h, _ = data.image_shape
    return EncoderConfig(
        channels=c,
        size=h,
        kind=cfg.encoder,
        width=cfg.width,
        feature_dim=cfg.feature_dim,
        embed_dim=cfg.embed_dim,
    )


def config_from(values: dict) -> RepresentationConfig:
    """The config from a checkpoint's or a run's dict (keys this version does not know ignored)."""
    return RepresentationConfig(**{k: v for k, v in values.items() if k in RepresentationConfig.__dataclass_fields__})


def build_encoder(cfg: RepresentationConfig, data: ImageDataset, state: dict | None = None) -> Encoder:
    """An eval-mode encoder for ``data``'s images, with ``state`` loaded when given."""
    model = Encoder(encoder_config(cfg, data))
    if state is not None:
        model.load_state_dict(state)
    return model.eval()


def get_dataset(cfg: RepresentationConfig) -> ImageDataset:
    return load_dataset(cfg.dataset, cfg.data_root or None, seed=cfg.seed, limit=cfg.limit)


def _live(cfg: RepresentationConfig, live: dict | None) -> RepresentationConfig:
    return RepresentationConfig(**{**asdict(cfg), **live}) if live else cfg


def objective_loss(cfg, model, head, x, gen) -> torch.Tensor:
    """The training loss of one batch x (B, C, H, W) under cfg.objective."""
    s = cfg.augment_strength
    if cfg.objective == "InfoNCE":
        return info_nce_loss(model(augment(x, s, gen)), model(augment(x, s, gen)), cfg.temperature)
    if cfg.objective == "pairwise contrastive":
        partner, same = siamese_pairs(len(x), gen)
        return contrastive_loss(
            model(augment(x, s, gen)), model(augment(x[partner], s, gen)), same, cfg.margin
        )
    rotated, k = rotate_batch(augment(x, s, gen), gen)
    return rotation_loss(head, model.features(rotated), k)


@torch.no_grad()
def pair_geometry(cfg, model, x: torch.Tensor, gen) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Distances of positive pairs (two views of one image) and of negative pairs (views of two
    different images), plus alignment and uniformity, on a batch x. Distances are measured where the
    objective measures them: on the unit sphere for InfoNCE, raw for the pairwise loss, on features
    for the rotation pretext."""
    model.eval()
    embed = model.features if cfg.objective == "rotation pretext" else model
    z1, z2 = embed(augment(x, cfg.augment_strength, gen)), embed(augment(x, cfg.augment_strength, gen))
    model.train()
    if cfg.objective != "pairwise contrastive":
        z1, z2 = torch.nn.functional.normalize(z1, dim=1), torch.nn.functional.normalize(z2, dim=1)
    positive = torch.linalg.vector_norm(z1 - z2, dim=1)
    negative = torch.linalg.vector_norm(z1 - z2.roll(1, 0), dim=1)
    return positive.cpu().numpy(), negative.cpu().numpy(), alignment(z1, z2), uniformity(z1)


def probe_scores(model, data: ImageDataset, x_train: torch.Tensor, x_test: torch.Tensor) -> dict:
    f_train, f_test = encode(model, x_train), encode(model, x_test)
    return {
        "linear": linear_probe(f_train, data.y_train, f_test, data.y_test),
        "knn": knn_probe(f_train, data.y_train, f_test, data.y_test),
    }


def train(
    cfg: RepresentationConfig, live: dict | None, ctl: Control, data: ImageDataset | None = None
) -> Iterator[Event]:
    """Train an encoder on ``data`` (loaded from cfg.dataset when None) for cfg.steps steps."""
    warm_imports()
    apply_thread_policy()  # also in the runner's thread; here for benchmarks and tests
    rng = seed_everything(cfg.seed)
    # This task's own CPU generator for batches and augmentations: the same draws on any device
    # (models.contrastive draws where the generator lives), and none of the MI runner's draws.
    gen = torch.Generator().manual_seed(cfg.seed)
    device = ctl.device
    data = data if data is not None else get_dataset(cfg)
    ctl.checkpoint()
    n = len(data.x_train)
    shown = np.sort(rng.permutation(n)[: cfg.frame_points]) if n > cfg.frame_points else np.arange(n)
    yield DatasetReady(data, shown)

    # the whole set stays one tensor on the device: batches are index gathers
    x_train = torch.from_numpy(data.x_train).to(device)
    x_test = torch.from_numpy(data.x_test).to(device)
    with seeded_init(cfg.seed):   # the MI estimators build theirs in another runner at the same time
        # channels-last: oneDNN's convolutions of these small images (and their backward, the largest
        # part of a step) run faster in that layout on the CPU (README, "The contrastive tab's first
        # result")
        model = Encoder(encoder_config(cfg, data)).to(device, memory_format=torch.channels_last)
        head = RotationHead(cfg.feature_dim).to(device)
    params = list(model.parameters()) + (
        list(head.parameters()) if cfg.objective == "rotation pretext" else []
    )
    opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=1e-5)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, total_steps=max(cfg.steps, 2), pct_start=0.1
    )

    raw = {
        "linear": linear_probe(
            data.x_train.reshape(n, -1), data.y_train, data.x_test.reshape(len(x_test), -1), data.y_test
        ),
        "knn": knn_probe(
            data.x_train.reshape(n, -1), data.y_train, data.x_test.reshape(len(x_test), -1), data.y_test
        ),
    }
    baselines = {"raw pixels": raw, "random encoder": probe_scores(model, data, x_train, x_test)}
    yield ProbeScores(0, dict(baselines))

    geometry_batch = x_train[torch.randperm(n, generator=gen)[: min(512, n)].to(device)]
    batch = min(cfg.batch_size, n)
    previous_xy: np.ndarray | None = None
    last_frame, gap = 0.0, cfg.frame_seconds
    scores, history = dict(baselines), []
    for step in range(1, cfg.steps + 1):
        ctl.checkpoint()
        now = _live(cfg, live)
        idx = torch.randint(0, n, (batch,), generator=gen).to(device)
        loss = objective_loss(now, model, head, x_train[idx], gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()

        evaluate = step % cfg.probe_every == 0 or step == cfg.steps
        frame_due = time.monotonic() - last_frame >= gap
        if step % 10 == 0 or evaluate or frame_due:
            pos, neg, align, unif = pair_geometry(now, model, geometry_batch, gen)
            history.append((step, {"loss": float(loss.detach())}))
            yield Progress(step, cfg.steps, {**history[-1][1], "alignment": align, "uniformity": unif})
        if evaluate:
            scores = {**baselines, "encoder": probe_scores(model, data, x_train, x_test)}
            yield ProbeScores(step, dict(scores))
        if frame_due or evaluate:
            ctl.checkpoint()
            t0 = time.monotonic()
            z = embedding_of(now, model, x_train[torch.from_numpy(shown).to(device)])
            state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            margin = now.margin if now.objective == "pairwise contrastive" else None
            previous_xy = project_2d(z, "PCA", previous_xy, cfg.seed)
            yield EmbeddingFrame(step, previous_xy, "PCA", pos, neg, align, unif, margin, state)
            if step == cfg.steps and now.projection.startswith("t-SNE"):
                # after the last step's PCA frame (the trained embedding on screen at once), its
                # t-SNE, seconds of work, which takes the PCA frame's place
                ctl.checkpoint()
                xy = project_2d(z, "t-SNE", None, cfg.seed)
                yield EmbeddingFrame(step, xy, "t-SNE", pos, neg, align, unif, margin, state)
            last_frame = time.monotonic()
            if cfg.frame_seconds > 0:  # frames take at most ~4% of the time, as in the VAE task
                gap = max(cfg.frame_seconds, 25 * (last_frame - t0))

    features = encode(model, x_train)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return Trained(asdict(cfg), state, features, scores, build_encoder(cfg, data, state), tuple(history))


@torch.no_grad()
def embedding_of(cfg: RepresentationConfig, model: Encoder, x: torch.Tensor) -> np.ndarray:
    """What the scatter shows: z (on the sphere for InfoNCE), or the features h for the pretext task."""
    model.eval()
    try:
        if cfg.objective == "rotation pretext":
            return torch.cat([model.features(b) for b in x.split(2048)]).cpu().numpy()
        z = torch.cat([model(b) for b in x.split(2048)])
        if cfg.objective == "InfoNCE":
            z = torch.nn.functional.normalize(z, dim=1)
        return z.cpu().numpy()
    finally:
        model.train()


def image_for(image_rgb: np.ndarray, data: ImageDataset) -> np.ndarray:
    """A dropped uint8 (H, W, 3) image as the encoder expects it: float (C, H, W) in [0, 1] at the
    dataset's size, grey for 1-channel sets. Digits are white on black, so a light-background image
    is inverted."""
    from PIL import Image

    c, h, w = data.image_shape
    im = Image.fromarray(image_rgb).convert("L" if c == 1 else "RGB").resize((w, h), Image.BILINEAR)
    arr = np.asarray(im, np.float32) / 255.0
    if c == 1:
        if arr.mean() > 0.5 and data.x_train.mean() < 0.5:
            arr = 1.0 - arr
        return arr[None]
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


def embed_image(model: Encoder, image: np.ndarray) -> np.ndarray:
    """L2-normalised features (F,) of one (C, H, W) image."""
    return encode(model, torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None])[0]


def nearest(features: np.ndarray, query: np.ndarray, k: int = 8) -> np.ndarray:
    """Indices of the k training images whose normalised features are closest (cosine) to query."""
    return np.argsort(-(features @ query))[:k]


# --- checkpoints and files (run by the tab's runners, never on the UI thread) ---------------------------
def save_encoder(path, trained: Trained, dataset_info: str = "", ctl: Control | None = None) -> Path:
    """Write ``trained`` as a checkpoint of the representation tab."""
    return save_checkpoint(path, Checkpoint("representation", MODEL_NAME, trained.state_dict, trained.config,
                                            metrics=trained.scores, seed=trained.config.get("seed"),
                                            extra={"dataset": dataset_info,
                                                   "history": list(trained.history)}))


def load_encoder(path, data: ImageDataset | None = None, ctl: Control | None = None) -> Loaded:
    """Read an encoder checkpoint, load its dataset (``data`` reused when it is the same one), rebuild
    the encoder, encode the training set (for neighbours) and lay it out in 2D (PCA). A wrong file
    raises LoadError naming it; nothing is half-loaded."""
    ckpt = load_checkpoint(path, tab="representation", architectures=(MODEL_NAME,))
    cfg = config_from(ckpt.config)
    if data is None or data.name != cfg.dataset:
        data = get_dataset(cfg)
    if ctl is not None:
        ctl.checkpoint()
    model = Encoder(encoder_config(cfg, data))
    load_state_into(model, ckpt, path)
    model.eval()
    x_train = torch.from_numpy(data.x_train)
    features = encode(model, x_train)
    rng, gen = np.random.default_rng(cfg.seed), torch.Generator().manual_seed(cfg.seed)
    n = len(x_train)
    shown = np.sort(rng.permutation(n)[: cfg.frame_points]) if n > cfg.frame_points else np.arange(n)
    pos, neg, align, unif = pair_geometry(cfg, model, x_train[torch.randperm(n, generator=gen)[:512]], gen)
    model.eval()
    z = embedding_of(cfg, model, x_train[torch.from_numpy(shown)])
    xy = project_2d(z, "PCA", None, cfg.seed)
    model.eval()
    margin = cfg.margin if cfg.objective == "pairwise contrastive" else None
    frame = EmbeddingFrame(cfg.steps, xy, "PCA", pos, neg, align, unif, margin, ckpt.state_dict)
    scores = ckpt.metrics or ckpt.extra.get("scores", {})
    history = history_from(ckpt.extra)
    trained = Trained(asdict(cfg), dict(ckpt.state_dict), features, scores, model, history)
    return Loaded(str(path), trained, data, shown, frame, z)


def tsne_frame(frame: EmbeddingFrame, z: np.ndarray, seed: int = 0,
               ctl: Control | None = None) -> EmbeddingFrame:
    """``frame`` laid out by a t-SNE of ``z`` (seconds): a loaded encoder's view ends as a training's."""
    return replace(frame, xy=project_2d(z, "t-SNE", None, seed), projection="t-SNE")


def query(source, caption: str, config: dict, state: dict, data: ImageDataset,
          features: np.ndarray | None = None, k: int = 8, ctl: Control | None = None) -> QueryResult:
    """``source``, an image file (read here; a bad one raises LoadError naming it) or a (C, H, W)
    array, through the encoder with weights ``state``: the image as the encoder sees it and the k
    training images nearest to it. ``features`` None (mid-training): the training set is encoded."""
    image = source if isinstance(source, np.ndarray) else image_for(load_image(source), data)
    if ctl is not None:
        ctl.checkpoint()
    model = build_encoder(config_from(config), data, state)
    if features is None:
        features = encode(model, torch.from_numpy(data.x_train))
    idx = nearest(features, embed_image(model, image), k)
    return QueryResult(caption, image, idx, tuple(data.class_names[int(data.y_train[i])] for i in idx))
