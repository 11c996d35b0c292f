"""VQ-VAE / VQGAN stage 1 (no Qt): train the tokenizer live and report its codebook.

``train`` yields DatasetReady once, Progress points (reconstruction, codebook, commitment, GAN terms and
the adaptive weight lambda), coalescable CodebookFrame snapshots (code usage on held-out images,
perplexity, dead codes, the codebook's PCA, reconstructions, rate) and returns a Trained result.
``live`` (a dict the tab writes) carries the knobs that act on the running training: beta, EMA and
its decay, the dead-code threshold, the VQGAN switch, its start step and weight.
Dropped images: ``tokenize_file`` (token map and reconstruction) and ``code_patch``."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields

import numpy as np
import torch
from torch.nn import functional as F

from lab_app.core.control import Control
from lab_app.core.device import seed_everything, seeded_init
from lab_app.core.events import Event, Message, Progress
from lab_app.data.datasets import ImageDataset, load_dataset, load_folder
from lab_app.io.errors import LoadError
from models.vq import code_counts, perplexity
from models.vq_tokenizer import QUANTIZERS, TokenizerConfig, VQTokenizer, rate_bits
from models.vqgan import (
    PatchDiscriminator,
    adaptive_weight,
    generator_loss,
    hinge_d_loss,
    lpips_or_reason,
    perceptual_loss,
)

DATASET_CHOICES = ("mnist5k", "digits", "mnist", "fashion_mnist", "cifar10", "folder")
PHOTO_SIZE = 64          # an image folder is resized to this and tokenized with f = 8
# FSQ levels per codebook size, from the FSQ paper's table (K = prod(levels), near a power of two)
FSQ_LEVELS = {64: (4, 4, 4), 256: (8, 6, 5), 512: (8, 8, 8), 1024: (8, 5, 5, 5), 4096: (7, 5, 5, 5, 5)}


@dataclass
class VqTaskConfig:
    dataset: str = field(default="mnist5k", metadata={
        "label": "Dataset", "choices": DATASET_CHOICES,
        "tip": "mnist5k and digits are built in; mnist/fashion_mnist/cifar10 need their torchvision folder; "
               "folder: one sub-folder of photos per class, resized to 64 px"})
    quantizer: str = field(default="vq", metadata={
        "label": "Quantizer", "choices": QUANTIZERS,
        "tip": "vq: the nearest-code quantizer written out in models/vq.py; fsq and lfq: implicit codebooks "
               "from vector-quantize-pytorch (no codebook loss)"})
    num_codes: int = field(default=256, metadata={
        "label": "Codebook size K", "min": 16, "max": 1024, "step": 16,
        "tip": "number of codes; fsq rounds to its nearest level table, lfq to a power of two"})
    code_dim: int = field(default=16, metadata={
        "label": "Code dim", "min": 2, "max": 64,
        "tip": "below the latent dim (64): the look-up happens in this low-dimensional space (linear maps in "
               "and out), which keeps more codes alive"})
    l2: bool = field(default=False, metadata={
        "label": "l2-normalised codes", "tip": "compare unit vectors: nearest code = highest cosine similarity"})
    kmeans_init: bool = field(default=True, metadata={
        "label": "k-means init", "tip": "start the codebook at the k-means centroids of the first batch"})
    ema: bool = field(default=True, metadata={
        "label": "EMA codebook", "live": True,
        "tip": "codes follow moving averages of their assigned vectors instead of a codebook loss"})
    decay: float = field(default=0.99, metadata={
        "label": "EMA decay", "min": 0.8, "max": 0.999, "step": 0.001, "live": True})
    dead_after: int = field(default=100, metadata={
        "label": "Restart after (batches)", "min": 0, "max": 1000, "live": True,
        "tip": "a code no vector chose for this many batches restarts on a random encoder output (0: never)"})
    beta: float = field(default=0.25, metadata={
        "label": "beta (commitment)", "min": 0.0, "max": 2.0, "step": 0.05, "live": True,
        "tip": "L = ||sg[z]-e||^2 + beta ||z-sg[e]||^2: how strongly the encoder is held to its codes"})
    gan: bool = field(default=False, metadata={
        "label": "VQGAN (patch discriminator)", "live": True,
        "tip": "add a patch discriminator with hinge loss from the start step, weighted adaptively"})
    gan_start: int = field(default=300, metadata={
        "label": "GAN start step", "min": 0, "max": 5000, "step": 50, "live": True})
    gan_weight: float = field(default=0.1, metadata={
        "label": "GAN weight", "min": 0.0, "max": 1.0, "step": 0.05, "live": True,
        "tip": "multiplies the adaptive weight lambda = ||grad L_rec|| / (||grad L_GAN|| + 1e-4)"})
    width: int = field(default=16, metadata={
        "label": "Conv width", "min": 8, "max": 64, "step": 8, "tip": "channels; 2x on the token grid"})
    epochs: int = field(default=6, metadata={"label": "Epochs", "min": 1, "max": 200})
    lr: float = field(default=2e-3, metadata={"label": "Learning rate", "min": 1e-4, "max": 1e-2, "log": True})
    latent_dim: int = 64
    batch_size: int = 64
    frame_images: int = 500       # held-out images behind the live usage statistics
    recon_count: int = 8
    frame_seconds: float = 1.0
    data_root: str = ""
    limit: int | None = None
    max_seconds: float | None = None   # stop early after this much training time (benchmarks)
    seed: int = 0


LIVE_KEYS = tuple(f.name for f in fields(VqTaskConfig) if f.metadata.get("live"))


@dataclass(frozen=True)
class DatasetReady(Event):
    dataset: ImageDataset


@dataclass(frozen=True)
class CodebookFrame(Event):
    coalesce = True
    step: int
    epoch: int
    counts: np.ndarray            # (K,) code use over the held-out images
    perplexity: float             # exp(H(usage))
    dead: int                     # codes not used by any held-out image
    pca_xy: np.ndarray            # (K, 2) the codebook in its top-2 principal axes
    originals: np.ndarray         # (R, H, W) or (R, H, W, 3) in [0, 1]
    reconstructions: np.ndarray
    recon_mse: float
    psnr: float
    token_bits: float             # per image: tokens x log2 K
    raw_bits: float               # per image: pixels x channels x 8


@dataclass(frozen=True)
class Trained(Event):
    config: dict                  # the task config
    tokenizer: dict               # the TokenizerConfig
    state_dict: dict
    scores: dict
    class_names: tuple = ()
    history: tuple = ()           # ((step, {term: value}), ...): the loss curves, kept with the checkpoint


@dataclass(frozen=True)
class TokenMap(Event):
    name: str
    image: np.ndarray             # the input as the model saw it: (H, W) or (H, W, 3)
    indices: np.ndarray           # (h, w) code per token
    reconstruction: np.ndarray


def tokenizer_config(cfg: VqTaskConfig, shape: tuple[int, int, int]) -> TokenizerConfig:
    c, h, _ = shape
    f = 2 if h <= 16 else 4 if h <= 32 else 8
    k = cfg.num_codes
    levels = (8, 8, 8)
    if cfg.quantizer == "fsq":
        k = min(FSQ_LEVELS, key=lambda n: abs(math.log(n / cfg.num_codes)))
        levels = FSQ_LEVELS[k]
    elif cfg.quantizer == "lfq":
        k = 2 ** max(1, round(math.log2(cfg.num_codes)))
    return TokenizerConfig(in_channels=c, image_size=h, downsample=f, width=cfg.width, latent_dim=cfg.latent_dim,
                           quantizer=cfg.quantizer, num_codes=k, code_dim=cfg.code_dim, beta=cfg.beta, ema=cfg.ema,
                           decay=cfg.decay, kmeans_init=cfg.kmeans_init, dead_after=cfg.dead_after, l2=cfg.l2,
                           fsq_levels=levels)


def build_tokenizer(tcfg: TokenizerConfig | dict, state: dict | None = None) -> VQTokenizer:
    if isinstance(tcfg, dict):
        tcfg = TokenizerConfig(**{**tcfg, "fsq_levels": tuple(tcfg.get("fsq_levels", (8, 8, 8)))})
    model = VQTokenizer(tcfg)
    if state is not None:
        model.load_state_dict(state)
    return model


def get_dataset(cfg: VqTaskConfig) -> ImageDataset:
    if cfg.dataset == "folder":
        if not cfg.data_root:
            raise LoadError(None, "the folder dataset needs a folder (one sub-folder of images per class)")
        return load_folder(cfg.data_root, size=PHOTO_SIZE, seed=cfg.seed, limit=cfg.limit)
    return load_dataset(cfg.dataset, cfg.data_root or None, seed=cfg.seed, limit=cfg.limit)


def as_display(x: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) -> (N, H, W) grey or (N, H, W, 3) colour, float32 numpy in [0, 1]."""
    x = x.detach().clamp(0, 1).cpu()
    return (x[:, 0] if x.shape[1] == 1 else x.permute(0, 2, 3, 1)).numpy().astype(np.float32)


def pca_2d(vectors: np.ndarray) -> np.ndarray:
    """(K, C) -> (K, 2): coordinates on the top-2 principal axes (signs fixed so frames do not flip)."""
    v = vectors - vectors.mean(0)
    if v.shape[1] == 1:
        return np.concatenate([v, np.zeros_like(v)], 1).astype(np.float32)
    _, _, vt = np.linalg.svd(v, full_matrices=False)
    axes = vt[:2] * np.sign(vt[:2, :1] + 1e-12)
    return (v @ axes.T).astype(np.float32)


@torch.no_grad()
def codebook_frame(model: VQTokenizer, x_eval: torch.Tensor, originals: torch.Tensor, step: int,
                   epoch: int) -> CodebookFrame:
    was_training = model.training
    model.eval()
    idx, sq_err = [], 0.0
    for b in x_eval.split(250):
        x_hat, q = model(b)
        idx.append(q.indices)
        sq_err += float(F.mse_loss(x_hat, b, reduction="sum"))
    counts = code_counts(torch.cat(idx), model.num_codes).cpu()
    mse = sq_err / x_eval.numel()
    recon = model(originals)[0]
    codes = model.quantizer.codes().detach().float().cpu().numpy()
    model.train(was_training)
    token_bits, raw_bits = rate_bits(model.cfg, model.num_codes)
    return CodebookFrame(step, epoch, counts.numpy(), perplexity(counts), int((counts == 0).sum()), pca_2d(codes),
                         as_display(originals), as_display(recon), mse, 10 * math.log10(1.0 / max(mse, 1e-12)),
                         token_bits, raw_bits)


def apply_live(model: VQTokenizer, live: dict) -> None:
    """Hand the quantizer the live knobs (beta, EMA on/off and decay, the restart threshold)."""
    q = model.quantizer
    if not hasattr(q, "ema_update"):
        return
    c = q.cfg
    c.beta, c.decay, c.dead_after = float(live["beta"]), float(live["decay"]), int(live["dead_after"])
    if bool(live["ema"]) != c.ema:
        c.ema = bool(live["ema"])
        q.codebook.requires_grad_(not c.ema)
        with torch.no_grad():   # EMA statistics start from the codebook as it is now
            q.ema_count.fill_(1.0)
            q.ema_sum.copy_(q.codebook)


def train(cfg: VqTaskConfig, live: dict | None, ctl: Control, data: ImageDataset | None = None) -> Iterator[Event]:
    seed_everything(cfg.seed)
    data = data if data is not None else get_dataset(cfg)
    ctl.checkpoint()
    yield DatasetReady(data)
    live = live if live is not None else {}
    for key in LIVE_KEYS:
        live.setdefault(key, getattr(cfg, key))
    device = ctl.device
    x_train = torch.from_numpy(data.x_train).to(device)
    x_eval = torch.from_numpy(data.x_test[: cfg.frame_images]).to(device)
    originals = torch.from_numpy(data.x_test[: cfg.recon_count]).to(device)
    tcfg = tokenizer_config(cfg, data.image_shape)
    with seeded_init(cfg.seed):
        model = build_tokenizer(tcfg).to(device)
        disc = PatchDiscriminator(tcfg.in_channels, width=2 * cfg.width).to(device)
    gen = torch.Generator().manual_seed(cfg.seed)
    if hasattr(model.quantizer, "generator"):
        model.quantizer.generator = gen if device.type == "cpu" else torch.Generator(device).manual_seed(cfg.seed)
    opt = torch.optim.Adam([p for p in model.parameters()], lr=cfg.lr)
    opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.lr, betas=(0.5, 0.9))
    lpips_net, lpips_note = None, ""
    n, batch = len(x_train), min(cfg.batch_size, len(x_train))
    per_epoch = (n + batch - 1) // batch
    total, step, last_frame, gap = cfg.epochs * per_epoch, 0, 0.0, cfg.frame_seconds
    start = time.monotonic()
    out_of_time, history = False, []
    for epoch in range(1, cfg.epochs + 1):
        order = torch.randperm(n, generator=gen).to(device)
        for b in range(per_epoch):
            ctl.checkpoint()
            if cfg.max_seconds is not None and time.monotonic() - start > cfg.max_seconds:
                out_of_time = True
                break
            step += 1
            apply_live(model, live)
            gan_on = bool(live["gan"]) and step >= int(live["gan_start"])
            if live["gan"] and lpips_net is None and not lpips_note:
                lpips_net, lpips_note = lpips_or_reason()
                lpips_net = lpips_net.to(device) if lpips_net is not None else None
                # off: a warning, so the tab's banner says the perceptual term is missing and why
                yield Message(lpips_note, "info" if lpips_net is not None else "warning")
            x = x_train[order[b * batch:(b + 1) * batch]]
            x_hat, q = model(x)
            rec = F.mse_loss(x_hat, x)
            nll = rec + (perceptual_loss(lpips_net, x, x_hat) if lpips_net is not None and live["gan"] else 0.0)
            loss = nll + q.loss
            terms = {"loss": 0.0, "reconstruction": rec.item(), "codebook": q.codebook_loss.item(),
                     "commitment": q.commitment_loss.item()}
            if gan_on:
                g_loss = generator_loss(disc(x_hat))
                lam = adaptive_weight(nll, g_loss, model.decoder.out.weight) * float(live["gan_weight"])
                loss = loss + lam * g_loss
                terms.update({"GAN (generator)": g_loss.item(), "lambda": lam.item()})
            terms["loss"] = loss.item()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if gan_on:
                d_loss = hinge_d_loss(disc(x), disc(x_hat.detach()))
                opt_d.zero_grad(set_to_none=True)
                d_loss.backward()
                opt_d.step()
                terms["GAN (discriminator)"] = d_loss.item()
            if step % 5 == 0 or step == total:
                history.append((step, terms))
                yield Progress(step, total, terms, text=f"epoch {epoch}/{cfg.epochs}")
            if time.monotonic() - last_frame >= gap:
                t0 = time.monotonic()
                frame = codebook_frame(model, x_eval, originals, step, epoch)
                last_frame = time.monotonic()
                gap = max(cfg.frame_seconds, 20 * (last_frame - t0))  # frames cost at most ~5% of the time
                yield frame
        if out_of_time:
            break
    train_seconds = time.monotonic() - start
    x_test = torch.from_numpy(data.x_test).to(device)
    frame = codebook_frame(model, x_test, originals, step, min(epoch, cfg.epochs))
    yield frame
    scores = {"test_mse": frame.recon_mse, "test_psnr": frame.psnr, "perplexity": frame.perplexity,
              "codes_used": int((frame.counts > 0).sum()), "num_codes": model.num_codes, "steps": step,
              "train_seconds": round(train_seconds, 1)}
    final_cfg = {**asdict(cfg), **{k: live[k] for k in LIVE_KEYS}}
    tcfg_final = asdict(model.cfg) | {k: live[k] for k in ("beta", "ema", "decay", "dead_after")}
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return Trained(final_cfg, tcfg_final, state, scores, tuple(data.class_names), tuple(thin(history)))


def thin(history: list, keep: int = 300) -> list:
    """At most ``keep`` evenly spaced points of a curve (always the last)."""
    if len(history) <= keep:
        return list(history)
    idx = np.unique(np.linspace(0, len(history) - 1, keep).round().astype(int))
    return [history[i] for i in idx]


# --- dropped images -----------------------------------------------------------------------------------


def image_for(rgb: np.ndarray, shape: tuple[int, int, int], dark_background: bool = True) -> np.ndarray:
    """A uint8 (H, W, 3) image as the tokenizer expects: (C, H, W) float in [0, 1] at its size (centre
    square crop first). Grey models: light-background images are inverted when the data are light on dark."""
    from PIL import Image

    c, h, w = shape
    im = Image.fromarray(rgb)
    side = min(im.size)
    left, top = (im.size[0] - side) // 2, (im.size[1] - side) // 2
    im = im.crop((left, top, left + side, top + side)).resize((w, h), Image.BILINEAR)
    if c == 1:
        arr = np.asarray(im.convert("L"), np.float32)[None] / 255.0
        if dark_background and arr.mean() > 0.5:
            arr = 1.0 - arr
        return arr
    return np.asarray(im.convert("RGB"), np.float32).transpose(2, 0, 1) / 255.0


@torch.no_grad()
def tokenize(model: VQTokenizer, x: np.ndarray, name: str = "") -> TokenMap:
    """x (C, H, W) in [0, 1] -> its token map and reconstruction."""
    model.eval()
    t = torch.from_numpy(np.ascontiguousarray(x, np.float32))[None].to(next(model.parameters()).device)
    x_hat, q = model(t)
    return TokenMap(name, as_display(t)[0], q.indices[0].cpu().numpy(), as_display(x_hat)[0])


def tokenize_file(path, model: VQTokenizer, shape, dark_background: bool, ctl: Control) -> TokenMap:
    """Read a dropped image (LoadError for a bad file) and tokenize it (run as a task: file reading
    stays off the UI thread)."""
    from pathlib import Path

    from lab_app.io.image import load_image

    rgb = load_image(path)
    ctl.checkpoint()
    return tokenize(model, image_for(rgb, shape, dark_background), Path(path).name)


@torch.no_grad()
def code_patch(model: VQTokenizer, code: int, background: int, context: int = 1) -> np.ndarray:
    """What one code decodes to on its own: a token grid of the ``background`` code with ``code`` in the
    middle, decoded; the crop of (2 context + 1) tokens around it."""
    model.eval()
    g = model.cfg.grid
    grid = torch.full((1, g, g), int(background), dtype=torch.long, device=next(model.parameters()).device)
    grid[0, g // 2, g // 2] = int(code)
    image = as_display(model.decode_indices(grid))[0]
    f = model.cfg.downsample
    lo, hi = (g // 2 - context) * f, (g // 2 + context + 1) * f
    return image[max(lo, 0):hi, max(lo, 0):hi]
