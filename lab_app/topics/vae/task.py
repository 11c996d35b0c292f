"""VAE on images (no Qt): train an MLP VAE on digits / mnist5k and report its latent space live.

``train`` yields the dataset once, Progress points (loss, elbo, recon, kl per example), coalescable
LatentFrame snapshots (the test set's posterior means in 2D, the decoded manifold over that plane,
reconstructions, per-unit activity) and IWEstimate events (importance-weighted log-likelihood of the
test set). beta is read from ``live`` every step, so changing it continues from the current weights.
Returns a Trained result (config, state dict, scores, and an eval-mode CPU copy of the model).

Everything else the tab needs off the UI thread is here too: ``save_vae`` / ``load_vae`` (the lab's
checkpoint API) and ``open_image`` (a dropped photo as the model sees it, its posterior mean, its
reconstruction and the interpolation from the previous drop)."""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from lab_app.core.control import Control
from lab_app.core.device import seed_everything, seeded_init
from lab_app.core.events import Event, Progress
from lab_app.core.seeds import seed_field
from lab_app.core.tiling import tile
from lab_app.data.datasets import ImageDataset, load_dataset
from lab_app.io import load_image
from lab_app.io.checkpoint import Checkpoint, load_checkpoint, load_state_into, save_checkpoint
from models.vae import VAE, VAEConfig, elbo, iw_log_likelihood, vae_loss

MODEL_NAME = "vae-mlp"  # the architecture in the checkpoint header
DATASET_CHOICES = ("digits", "mnist5k", "mnist", "fashion_mnist")


@dataclass
class VaeTaskConfig:
    dataset: str = field(default="digits", metadata={
        "label": "Dataset", "choices": DATASET_CHOICES,
        "tip": "digits (8x8) and mnist5k (28x28) are built in; mnist/fashion_mnist need their torchvision folder"})
    beta: float = field(default=1.0, metadata={
        "label": "beta", "min": 0.0, "max": 8.0, "step": 0.1, "live": True,
        "tip": "weight of the KL term. Acts on the running training at once; after a run, continues "
               "training from the current weights"})
    latent_dim: int = field(default=2, metadata={
        "label": "Latent dim", "min": 1, "max": 64,
        "tip": "2: the plot is the latent space itself; more: a PCA projection of the posterior means"})
    width: int = field(default=256, metadata={
        "label": "Hidden width", "min": 16, "max": 1024, "step": 16, "tip": "encoder widths: width, width/2"})
    epochs: int = field(default=60, metadata={"label": "Epochs", "min": 1, "max": 500})
    lr: float = field(default=2e-3, metadata={"label": "Learning rate", "min": 1e-4, "max": 1e-2, "log": True})
    batch_size: int = 128
    iw_k: int = 100                # samples of the importance-weighted estimate (0: none)
    iw_every: int = 20             # epochs between IW estimates (and at the end)
    iw_points: int = 500           # test images in the IW estimate during training (all at the end)
    manifold: int = 12             # the manifold mosaic is manifold x manifold decoded images
    recon_count: int = 10
    frame_seconds: float = 0.5
    data_root: str = ""
    limit: int | None = None
    seed: int = seed_field()


@dataclass(frozen=True)
class DatasetReady(Event):
    dataset: ImageDataset


@dataclass(frozen=True)
class LatentFrame(Event):
    coalesce = True
    step: int
    epoch: int
    xy: np.ndarray                 # (M, 2) test-set posterior means in the plotted plane
    plane: tuple                   # (origin (J,), axes (2, J)): z = origin + x * axes[0] + y * axes[1]
    extent: tuple                  # (x0, x1, y0, y1) covered by the manifold mosaic
    manifold: np.ndarray           # (G*H, G*W) decoded images over the plane, row 0 at the bottom (y0)
    originals: np.ndarray          # (R, H, W)
    reconstructions: np.ndarray    # (R, H, W)
    activity: np.ndarray           # (J,) Cov_x E[z_j | x]
    active: int
    # the weights that drew this frame (CPU copies): a file dropped mid-training is shown with them
    state_dict: dict = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class IWEstimate(Event):
    step: int
    k: int
    nll: float                     # -mean log p(x) in nats, test images
    elbo: float                    # mean test ELBO (nats) on the same images


@dataclass(frozen=True)
class Trained(Event):
    config: dict
    state_dict: dict
    scores: dict
    model: VAE | None = field(default=None, compare=False, repr=False)  # eval-mode, CPU, for clicks


@dataclass(frozen=True)
class Loaded(Event):
    """A checkpoint read and rebuilt in the worker: the model, its data and its first frame."""

    path: str
    trained: Trained
    data: ImageDataset
    frame: LatentFrame


@dataclass(frozen=True)
class FileResult(Event):
    """A dropped image through the model."""

    name: str
    x: np.ndarray                  # (C*H*W,) the image as the model sees it
    seen: np.ndarray               # (H, W) the same, first channel
    reconstruction: np.ndarray     # (H, W) decoded from the posterior mean
    z: np.ndarray                  # (J,) posterior mean
    interpolation: np.ndarray | None  # (steps, H, W) from the previous drop's posterior mean to this one


def model_config(cfg: VaeTaskConfig, data: ImageDataset) -> VAEConfig:
    c, h, w = data.image_shape
    return VAEConfig(input_dim=c * h * w, latent_dim=cfg.latent_dim, hidden=(cfg.width, max(cfg.width // 2, 8)))


def config_from(values: dict) -> VaeTaskConfig:
    """The task config from a checkpoint's or a run's dict (keys this version does not know ignored)."""
    return VaeTaskConfig(**{k: v for k, v in values.items() if k in VaeTaskConfig.__dataclass_fields__})


def build_model(cfg: VaeTaskConfig, data: ImageDataset, state: dict | None = None) -> VAE:
    model = VAE(model_config(cfg, data))
    if state is not None:
        model.load_state_dict(state)
    return model


def get_dataset(cfg: VaeTaskConfig) -> ImageDataset:
    return load_dataset(cfg.dataset, cfg.data_root or None, seed=cfg.seed, limit=cfg.limit)


def stream_seed(seed: int, purpose: str) -> int:
    """A seed for one purpose, derived from the run's seed: independent streams, same reproducibility."""
    words = np.random.SeedSequence([seed, zlib.crc32(purpose.encode())]).generate_state(2)
    return int(words[0]) << 31 | int(words[1]) >> 1


def latent_plane(mu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The plane the scatter shows: the first two axes for a 2D latent, else the top-2 principal
    axes of the posterior means (signs fixed so frames do not flip)."""
    j = mu.shape[1]
    if j == 1:
        return np.zeros(1, np.float32), np.array([[1.0], [0.0]], np.float32)
    if j == 2:
        return np.zeros(2, np.float32), np.eye(2, dtype=np.float32)
    origin = mu.mean(0)
    _, _, vt = np.linalg.svd(mu - origin, full_matrices=False)
    axes = vt[:2] * np.sign(vt[:2, :1] + 1e-12)
    return origin.astype(np.float32), axes.astype(np.float32)


def to_plane(mu: np.ndarray, plane) -> np.ndarray:
    origin, axes = plane
    xy = (mu - origin) @ axes.T
    return xy if mu.shape[1] > 1 else np.stack([xy[:, 0], np.zeros(len(mu), np.float32)], 1)


def from_plane(xy: np.ndarray, plane) -> np.ndarray:
    origin, axes = plane
    return (origin + np.asarray(xy, np.float32) @ axes).astype(np.float32)


@torch.no_grad()
def decode_images(model: VAE, z: np.ndarray, shape: tuple) -> np.ndarray:
    """z (N, J) -> (N, H, W) mean images (first channel)."""
    c, h, w = shape
    z = torch.from_numpy(np.asarray(z, np.float32)).to(next(model.parameters()).device)
    return model.mean(z).reshape(-1, c, h, w)[:, 0].cpu().numpy()


def manifold_of(model: VAE, plane, extent, g: int, shape) -> np.ndarray:
    """Decode a g x g grid over the plane; row 0 of the result is the bottom (y = y0), so an
    ImageItem placed at the extent shows each image where its z lies."""
    x0, x1, y0, y1 = extent
    xs, ys = np.linspace(x0, x1, g), np.linspace(y0, y1, g)
    gx, gy = np.meshgrid(xs, ys)                                       # row = y index
    imgs = decode_images(model, from_plane(np.stack([gx.ravel(), gy.ravel()], 1), plane), shape)
    imgs = imgs[:, ::-1, :]                                            # each image upright with y up
    return tile(imgs, columns=g)


@torch.no_grad()
def latent_frame(model: VAE, x_test: torch.Tensor, originals: torch.Tensor, step: int, epoch: int,
                 cfg: VaeTaskConfig, shape) -> LatentFrame:
    was_training = model.training
    model.eval()
    mu_t = torch.cat([model.encode(b)[0] for b in x_test.split(2000)])
    mu = mu_t.cpu().numpy()
    plane = latent_plane(mu)
    xy = to_plane(mu, plane)
    lo, hi = np.percentile(xy, 1, 0), np.percentile(xy, 99, 0)
    half = max(float((hi - lo).max()) / 2 * 1.1, 1.0)
    c = (lo + hi) / 2
    extent = (float(c[0] - half), float(c[0] + half), float(c[1] - half), float(c[1] + half))
    recon = model.mean(model.encode(originals)[0])
    activity = mu_t.var(0)  # = active_units(model, x_test) without encoding the test set again
    count = int((activity > 0.01).sum())
    was_training = model.training
    model.eval()
    c_, h, w = shape
    frame = LatentFrame(step, epoch, xy.astype(np.float32), plane, extent,
                        manifold_of(model, plane, extent, cfg.manifold, shape),
                        originals.reshape(-1, c_, h, w)[:, 0].cpu().numpy(),
                        recon.reshape(-1, c_, h, w)[:, 0].cpu().numpy(), activity.cpu().numpy(), count,
                        {k: v.detach().cpu().clone() for k, v in model.state_dict().items()})
    model.train(was_training)
    return frame


def iw_estimate(model: VAE, x: torch.Tensor, k: int, step: int, seed: int = 0) -> IWEstimate:
    model.eval()
    ll = iw_log_likelihood(model, x, k, generator=torch.Generator().manual_seed(seed))
    e = elbo(model, x)["elbo"]
    model.train()
    return IWEstimate(step, k, float(-ll.mean()), e)


def train(cfg: VaeTaskConfig, live: dict | None, ctl: Control, data: ImageDataset | None = None,
          init_state: dict | None = None) -> Iterator[Event]:
    """Train for cfg.epochs epochs (from ``init_state`` when given: beta changed after a run)."""
    seed_everything(cfg.seed)
    data = data if data is not None else get_dataset(cfg)
    ctl.checkpoint()
    yield DatasetReady(data)
    shape = data.image_shape
    device = ctl.device                   # the whole (small) dataset lives there: no copies per batch
    x_train = torch.from_numpy(data.x_train.reshape(len(data.x_train), -1)).to(device)
    x_test = torch.from_numpy(data.x_test.reshape(len(data.x_test), -1)).to(device)
    originals = x_test[: cfg.recon_count]
    with seeded_init(cfg.seed):    # another runner may build or draw at the same time
        model = build_model(cfg, data, init_state).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    # Batch order and eps: this task's own generator, on a stream of its own. Seeded with cfg.seed
    # itself it would replay the very numbers that drew the initial weights (the same Mersenne
    # Twister from the same seed), and every eps would be a function of a first-layer weight.
    gen = torch.Generator().manual_seed(stream_seed(cfg.seed, "vae batches and eps"))
    n, batch = len(x_train), min(cfg.batch_size, len(x_train))
    per_epoch = (n + batch - 1) // batch
    total = cfg.epochs * per_epoch
    step, last_frame, gap, scores = 0, 0.0, cfg.frame_seconds, {}
    for epoch in range(1, cfg.epochs + 1):
        order = torch.randperm(n, generator=gen)
        for b in range(per_epoch):
            ctl.checkpoint()
            step += 1
            beta = float(live.get("beta", cfg.beta)) if live else cfg.beta
            loss, terms = vae_loss(model, x_train[order[b * batch:(b + 1) * batch]], beta, generator=gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if step % 10 == 0 or step == total:
                yield Progress(step, total, terms, text=f"epoch {epoch}/{cfg.epochs}")
            if time.monotonic() - last_frame >= gap:
                t0 = time.monotonic()
                frame = latent_frame(model, x_test, originals, step, epoch, cfg, shape)
                last_frame = time.monotonic()
                # frames take at most ~4% of the time: the next waits 25x this one's cost
                gap = max(cfg.frame_seconds, 25 * (last_frame - t0))
                yield frame
        if cfg.iw_k and (epoch % cfg.iw_every == 0 or epoch == cfg.epochs):
            ctl.checkpoint()
            subset = x_test if epoch == cfg.epochs else x_test[: cfg.iw_points]
            est = iw_estimate(model, subset, cfg.iw_k, step, cfg.seed)
            scores = {"iw_nll_nats": est.nll, "test_elbo_nats": est.elbo, "iw_k": est.k, "iw_images": len(subset)}
            yield est
    frame = latent_frame(model, x_test, originals, step, cfg.epochs, cfg, shape)
    yield frame
    scores["active_units"] = frame.active
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return Trained(asdict(cfg), state, scores, build_model(cfg, data, state).eval())


def image_for(image_rgb: np.ndarray, data: ImageDataset) -> np.ndarray:
    """A dropped uint8 (H, W, 3) image as the model expects: (C*H*W,) float in [0, 1], at the
    dataset's size; light-background images are inverted (digits are light on dark)."""
    from PIL import Image

    c, h, w = data.image_shape
    im = Image.fromarray(image_rgb).convert("L").resize((w, h), Image.BILINEAR)
    arr = np.asarray(im, np.float32) / 255.0
    if arr.mean() > 0.5 and data.x_train.mean() < 0.5:
        arr = 1.0 - arr
    return np.repeat(arr[None], c, 0).reshape(-1)


@torch.no_grad()
def interpolate(model: VAE, a: np.ndarray, b: np.ndarray, shape, steps: int = 10) -> np.ndarray:
    """Decode the straight line between the posterior means of images a and b: (steps, H, W)."""
    mu = model.encode(torch.from_numpy(np.stack([a, b]).astype(np.float32)))[0].numpy()
    t = np.linspace(0, 1, steps, dtype=np.float32)[:, None]
    return decode_images(model, (1 - t) * mu[0] + t * mu[1], shape)


# --- checkpoints and files (run by the tab's runners, never on the UI thread) ---------------------------
def save_vae(path, trained: Trained, dataset_info: str = "", ctl: Control | None = None) -> Path:
    """Write ``trained`` as a checkpoint of the VAE tab."""
    return save_checkpoint(path, Checkpoint("vae", MODEL_NAME, trained.state_dict, trained.config,
                                            metrics=trained.scores, seed=trained.config.get("seed"),
                                            extra={"dataset": dataset_info}))


def load_vae(path, data: ImageDataset | None = None, ctl: Control | None = None) -> Loaded:
    """Read a VAE checkpoint, load its dataset (``data`` reused when it is the same one), rebuild the
    model and draw its first frame. A wrong file raises LoadError naming it; nothing is half-loaded."""
    ckpt = load_checkpoint(path, tab="vae", architectures=(MODEL_NAME,))
    cfg = config_from(ckpt.config)
    if data is None or data.name != cfg.dataset:
        data = get_dataset(cfg)
    if ctl is not None:
        ctl.checkpoint()
    model = VAE(model_config(cfg, data))
    load_state_into(model, ckpt, path)
    model.eval()
    x_test = torch.from_numpy(data.x_test.reshape(len(data.x_test), -1))
    frame = latent_frame(model, x_test, x_test[: cfg.recon_count], 0, cfg.epochs, cfg, data.image_shape)
    scores = ckpt.metrics or ckpt.extra.get("scores", {})
    state = {k: v.clone() for k, v in model.state_dict().items()}
    return Loaded(str(path), Trained(asdict(cfg), state, scores, model), data, frame)


def open_image(path, config: dict, state: dict, data: ImageDataset, previous: np.ndarray | None = None,
               ctl: Control | None = None) -> FileResult:
    """Read an image file and pass it through the VAE with weights ``state``: the image at the
    model's size, its posterior mean and reconstruction, and the interpolation from ``previous``
    (an earlier drop, as the model sees it) when given. A bad file raises LoadError naming it."""
    rgb = load_image(path)
    if ctl is not None:
        ctl.checkpoint()
    model = build_model(config_from(config), data, state).eval()
    x = image_for(rgb, data)
    c, h, w = data.image_shape
    with torch.no_grad():
        mu = model.encode(torch.from_numpy(x[None]))[0]
        recon = model.mean(mu).reshape(c, h, w)[0].numpy()
    frames = interpolate(model, previous, x, data.image_shape) if previous is not None else None
    return FileResult(Path(path).name, x, x.reshape(c, h, w)[0].copy(), recon, mu[0].numpy(), frames)
