"""PointNet work of the 3D tab (no Qt): train on a point-set dataset with live metrics, classify a
cloud with its critical points, save and load the trained model.

``train`` is a task generator for the TaskRunner: it yields Progress (loss, train/test accuracy),
a ``Confusion`` snapshot after every evaluation and a ``Weights`` snapshot (so the tab can classify
the cloud on screen with the model as it is now), and returns a ``Trained`` result.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path

import numpy as np
import torch

from lab_app.core.control import Control
from lab_app.core.device import seed_everything, seeded_init
from lab_app.core.events import Event, Message, Progress
from lab_app.core.seeds import seed_field
from lab_app.core.trained import ModelRun, ModelSpec, Trained, Weights, cpu_state, model_task
from lab_app.data.pointsets import read_folder_dataset, resample
from lab_app.data.shapes import (
    PointSetDataset,
    ShapesConfig,
    augment,
    make_shapes,
    random_rotations,
    sample_shape,
)
from models.pointnet import PointNet, PointNetConfig, pointnet_loss

MODEL_NAME = "pointnet"
#: The PointNet the tab shows at once (made by ``python -m lab_app.topics.pointcloud.make_checkpoint``).
CHECKPOINT = Path(__file__).resolve().parents[3] / "resources" / "checkpoints" / "pointcloud.safetensors"
OUTLIER_CELL = 0.16     # grid cell (at 1024 points) in which a lone point counts as an outlier
DATASETS = ("Shapes", "Shapes (hard)")


@dataclass(frozen=True)
class TrainConfig:
    """Training knobs (ParamPanel builds the controls; all of them restart training)."""

    dataset: str = field(default="Shapes", metadata={
        "label": "Dataset", "choices": list(DATASETS),
        "tip": "Shapes: 11 procedural classes, rotated about the up axis, scaled and jittered. "
               "Hard: any 3D rotation, 30% cut from one side, 2% outliers. Or open a folder."})
    epochs: int = field(default=3, metadata={"label": "Epochs", "min": 1, "max": 60})
    batch_size: int = field(default=32, metadata={"label": "Batch size", "min": 4, "max": 128, "step": 4})
    lr: float = field(default=3e-3, metadata={"label": "Learning rate", "min": 1e-4, "max": 3e-2,
                                               "log": True})
    global_width: int = field(default=256, metadata={
        "label": "Global feature D", "min": 32, "max": 1024, "step": 32,
        "tip": "Width of the max-pooled feature: at most D critical points"})
    dropout: float = field(default=0.3, metadata={"label": "Dropout", "min": 0.0, "max": 0.8, "step": 0.05})
    input_transform: bool = field(default=True, metadata={
        "label": "Input transform (T-Net 3x3)", "tip": "Learn a 3x3 alignment of the input cloud"})
    feature_transform: bool = field(default=True, metadata={
        "label": "Feature transform (T-Net)", "tip": "Learn a feature alignment, kept near-orthogonal "
                                                     "by ||I - AA^T||^2"})
    canonical_pose: bool = field(default=False, metadata={
        "label": "Align to principal axes (PCA)",
        "tip": "Rotate every cloud into the eigenvectors of its covariance before the network: "
               "a closed-form answer to arbitrary 3D rotations"})
    equalise_axes: bool = field(default=False, metadata={
        "label": "Equalise the principal axes",
        "tip": "With the PCA alignment: scale the three axes to the same spread, undoing any stretch "
               "of a shape along its axes (a box becomes a cube)"})
    ignore_outliers: bool = field(default=False, metadata={
        "label": "Ignore isolated points",
        "tip": "Leave out of the pose and of the max-pool every point with no other point near it "
               "(stray outliers in the volume)"})
    rotation: str = field(default="up", metadata={
        "label": "Random rotation", "choices": ["none", "up", "so3"],
        "tip": "Rotation applied afresh to every training batch (on top of the dataset's own)"})
    points: int = 1024
    train_points: int = 512          # random subset of each cloud's points per training step (0: all)
    report_every: int = 4            # steps between Progress events
    eval_clouds: int = 352           # test clouds scored after each epoch but the last (all at the end)
    seed: int = seed_field()

    def model_config(self, num_classes: int, points: int) -> PointNetConfig:
        d = int(self.global_width)
        return PointNetConfig(num_classes=num_classes, points=points, global_widths=(max(32, d // 2), d),
                              dropout=self.dropout, input_transform=self.input_transform,
                              feature_transform=self.feature_transform, canonical_pose=self.canonical_pose,
                              equalise_axes=self.equalise_axes,
                              outlier_cell=OUTLIER_CELL if self.ignore_outliers else 0.0)


def shapes_dataset(cfg: TrainConfig) -> PointSetDataset:
    """The dataset named by ``cfg.dataset`` (the built-in ones; folders come from pointsets)."""
    base = ShapesConfig(points=cfg.points, seed=cfg.seed)
    if cfg.dataset == "Shapes (hard)":
        base = base.hard()
    elif cfg.dataset != "Shapes":
        raise ValueError(f"unknown dataset {cfg.dataset!r}")
    return make_shapes(base)


# --- events and results ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Confusion(Event):
    """Rows: true class, columns: predicted class (counts on the evaluated test clouds)."""

    coalesce = True
    matrix: np.ndarray
    class_names: tuple[str, ...]
    epoch: int
    accuracy: float


def confusion_of(trained: Trained) -> np.ndarray:
    """The confusion matrix a run kept (rows: true class), (0, k) when it kept none."""
    k = len(trained.class_names)
    m = trained.extra.get("confusion") or []
    return np.asarray(m, np.int64).reshape(-1, k) if len(m) else np.zeros((0, k), np.int64)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    return np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)


# --- training ----------------------------------------------------------------------------------------


def make_batch(x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor, rotation: str,
               rng: np.random.Generator, points: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Gather a batch, keep a random ``points`` of each cloud's points (0: all) and rotate every
    cloud afresh (one bmm for the batch).

    Training on random halves of the clouds is an augmentation (the max-pool sees a different subset
    every time) and halves the cost of a step; the model is evaluated on all points."""
    xb = x[idx]
    if 0 < points < xb.shape[1]:
        keep = np.argsort(rng.random((len(idx), xb.shape[1])), axis=1)[:, :points]
        keep = torch.from_numpy(keep).to(xb.device)
        xb = torch.gather(xb, 1, keep[:, :, None].expand(-1, -1, 3))
    if rotation != "none":
        rot = torch.from_numpy(random_rotations(len(idx), rng, rotation)).to(xb.device, xb.dtype)
        xb = torch.bmm(xb, rot.transpose(1, 2))
    return xb, y[idx]


def train_step(model: PointNet, opt: torch.optim.Optimizer, xb: torch.Tensor, yb: torch.Tensor,
               reg_weight: float) -> tuple[float, int]:
    """One optimiser step; returns (loss, correct predictions in the batch)."""
    out = model(xb)
    loss = pointnet_loss(out, yb, reg_weight)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.item(), int((out.logits.detach().argmax(1) == yb).sum())


@torch.inference_mode()
def predict(model: PointNet, x: torch.Tensor, batch: int = 128) -> np.ndarray:
    model.eval()
    preds = [model(x[i:i + batch]).logits.argmax(1) for i in range(0, len(x), batch)]
    return torch.cat(preds).cpu().numpy()


def make_optimizer(model: PointNet, cfg: TrainConfig, total_steps: int):
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    # One cycle: a short warm-up, then cosine decay to ~0; reaches high accuracy in few epochs.
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=max(1, total_steps),
                                                pct_start=0.15)
    return opt, sched


def train(cfg: TrainConfig, data: PointSetDataset | None, ctl: Control):
    """Train a PointNet on ``data`` (None: the dataset ``cfg`` names). Yields events; returns Trained."""
    if data is None:
        yield Progress(0, 0, text=f"generating {cfg.dataset}")
        data = shapes_dataset(cfg)
        ctl.checkpoint()
    data.check_trainable()
    k = len(data.class_names)
    rng = seed_everything(cfg.seed)
    model_cfg = cfg.model_config(k, data.points)
    with seeded_init(cfg.seed):   # the initial weights are the seed's, whatever other runners draw
        model = PointNet(model_cfg).to(ctl.device)
    x_train = torch.from_numpy(data.train_x).to(ctl.device)
    y_train = torch.from_numpy(data.train_y.astype(np.int64)).to(ctl.device)
    x_test = torch.from_numpy(data.test_x).to(ctl.device)
    bs = min(cfg.batch_size, len(x_train))
    steps_per_epoch = max(1, len(x_train) // bs)
    total = cfg.epochs * steps_per_epoch
    opt, sched = make_optimizer(model, cfg, total)
    # A fixed, class-balanced-by-construction subset of the test set for the evaluations mid-run.
    sub = np.sort(np.random.default_rng(cfg.seed).permutation(len(x_test))[: cfg.eval_clouds])
    yield Message(f"training PointNet on {data.source}: {len(x_train):,} train / {len(x_test):,} test "
                  f"clouds, {k} classes, {data.points} points each")
    t0 = time.perf_counter()
    step, samples, loss_sum, correct_sum, seen = 0, 0, 0.0, 0, 0
    test_acc = 0.0
    history: list = []
    confusion = np.zeros((k, k), np.int64)
    for epoch in range(cfg.epochs):
        model.train()
        order = torch.from_numpy(rng.permutation(len(x_train)))
        for b in range(steps_per_epoch):
            ctl.checkpoint()
            xb, yb = make_batch(x_train, y_train, order[b * bs:(b + 1) * bs], cfg.rotation, rng,
                                cfg.train_points)
            loss, correct = train_step(model, opt, xb, yb, model_cfg.reg_weight)
            sched.step()
            step += 1
            samples += len(yb)
            loss_sum, correct_sum, seen = loss_sum + loss * len(yb), correct_sum + correct, seen + len(yb)
            if step % cfg.report_every == 0 or step == total:
                metrics = {"loss": loss_sum / seen, "train_acc": correct_sum / seen}
                history.append([step, metrics])
                yield Progress(step, total, metrics, text=f"epoch {epoch + 1}/{cfg.epochs}")
                loss_sum, correct_sum, seen = 0.0, 0, 0
        last = epoch == cfg.epochs - 1
        idx = np.arange(len(x_test)) if last else sub
        pred = predict(model, x_test[torch.from_numpy(idx)])
        confusion = confusion_matrix(data.test_y[idx], pred, k)
        test_acc = float(np.trace(confusion) / max(1, confusion.sum()))
        history.append([step, {"test_acc": test_acc}])
        yield Progress(step, total, {"test_acc": test_acc}, text=f"epoch {epoch + 1}: test accuracy "
                                                                  f"{test_acc:.1%}")
        yield Confusion(confusion, data.class_names, epoch + 1, test_acc)
        yield Weights(cpu_state(model), model_cfg.to_dict(), data.class_names, step)
    seconds = time.perf_counter() - t0
    metrics = {"test_accuracy": test_acc, "train_seconds": seconds, "samples_per_s": samples / seconds,
               "epochs": cfg.epochs, "steps": step}
    return Trained(cpu_state(model), model_cfg.to_dict(), data.class_names, metrics, history, asdict(cfg),
                   {"confusion": confusion.tolist(), "data": data.source})


# --- a trained model: build, classify, save, load ------------------------------------------------------


def build_model(model_config: dict, state: dict | None = None) -> PointNet:
    """A PointNet in eval mode, with ``state`` loaded when given (numpy arrays or tensors)."""
    model = PointNet(PointNetConfig.from_dict(model_config))
    if state is not None:
        model.load_state_dict({n: torch.as_tensor(v) for n, v in state.items()})
    return model.eval()


SPEC = ModelSpec("pointcloud", MODEL_NAME, "PointNet", build_model)   # save, load (lab_app.core.trained)


@dataclass(frozen=True)
class Classification:
    points: np.ndarray           # (N, 3) the normalised cloud the model saw
    probabilities: np.ndarray    # (classes,)
    critical: np.ndarray         # sorted distinct indices into ``points``
    class_names: tuple[str, ...]

    @property
    def predicted(self) -> int:
        return int(np.argmax(self.probabilities))


@torch.inference_mode()
def classify(model: PointNet, points: np.ndarray, class_names: tuple[str, ...]) -> Classification:
    """Probabilities and critical points of one prepared cloud (N, 3)."""
    model.eval()
    out = model(torch.from_numpy(np.ascontiguousarray(points, np.float32))[None])
    probs = torch.softmax(out.logits[0].double(), dim=0).numpy()
    critical = np.unique(out.critical[0].numpy())
    return Classification(points, probs, critical, tuple(class_names))


@dataclass(frozen=True)
class PreparedCloud:
    points: np.ndarray           # (n, 3) the cloud as the model sees it
    notes: tuple[str, ...]       # what preparing it changed, for the user
    name: str


def classify_run(source, cloud, name: str, points: int, seed: int, ctl: Control):
    """Task generator: prepare ``cloud`` (raw (N, 3) points, a callable that makes them, an already
    prepared PreparedCloud, or None: build the model alone), build or load the model ``source``
    names (a checkpoint path, Weights, Trained, Ready; None: no model yet) and classify the cloud.
    Returns a ModelRun whose ``inputs`` is the PreparedCloud and ``output`` the Classification;
    without a model both ``output`` and ``ready`` are None. A cloud that cannot be classified
    raises ValueError naming it."""
    ctl.checkpoint()
    if cloud is None:                                 # load the model alone (a checkpoint opened first)
        return (yield from model_task(SPEC, source, None, None, ctl))
    if not isinstance(cloud, PreparedCloud):
        raw = cloud() if callable(cloud) else cloud
        try:
            pts, notes = prepare_cloud(raw, points, seed)
        except ValueError as e:
            raise ValueError(f"{name + ': ' if name else ''}{e}") from None
        cloud = PreparedCloud(pts, tuple(notes), name)
    if source is None:
        return ModelRun(None, None, cloud)
    run = partial(_classify_prepared, cloud.points)
    return (yield from model_task(SPEC, source, run, cloud, ctl))


def _classify_prepared(points: np.ndarray, model: PointNet, class_names) -> Classification:
    return classify(model, points, class_names)


def demo_cloud(shape: str, seed: int) -> np.ndarray:
    """The demo's object: one procedural shape, augmented as the training clouds are."""
    rng = np.random.default_rng(seed)
    return augment(sample_shape(shape, 1024, seed=seed)[None], ShapesConfig(), rng)[0]


def benchmark_config(hard: bool = False) -> TrainConfig:
    """The configuration the benchmarks and the shipped checkpoint use.

    Hard: the closed-form pose (principal axes, equalised) and the outlier filter do what the T-Nets
    did not (with the pose they cost time for no accuracy): they are off. The figures are in the
    pointnet_shapes_hard benchmark's docstring."""
    cfg = TrainConfig(epochs=2)
    if not hard:
        return cfg
    return replace(cfg, dataset="Shapes (hard)", rotation="so3", canonical_pose=True, equalise_axes=True,
                   ignore_outliers=True, input_transform=False, feature_transform=False, epochs=8)


# --- input clouds --------------------------------------------------------------------------------------


def prepare_cloud(points: np.ndarray, n: int, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """A cloud as the model wants it: finite points, centred on the centroid, inside the unit sphere,
    exactly ``n`` points. Returns (points (n, 3) float32, notes for the user). ValueError when the
    cloud cannot be classified (no finite point, all points identical)."""
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f"a cloud must be (N, 3) points, got shape {pts.shape}")
    notes = []
    finite = np.isfinite(pts).all(axis=1)
    if not finite.all():
        notes.append(f"{int((~finite).sum()):,} points with NaN/Inf coordinates ignored")
        pts = pts[finite]
    if len(pts) == 0:
        raise ValueError("the cloud has no point with finite coordinates: nothing to classify")
    pts = pts - pts.mean(axis=0)
    radius = float(np.sqrt((pts * pts).sum(axis=1)).max())
    if radius <= 1e-9:
        raise ValueError(f"all {len(pts):,} points are at the same place: a single location has no shape "
                         "to classify")
    pts /= radius
    rng = np.random.default_rng(seed)
    if len(pts) < n:
        notes.append(f"{len(pts):,} points, fewer than the model's {n:,}: resampled to {n:,} with repeats")
    elif len(pts) > n:
        notes.append(f"{len(pts):,} points, randomly sampled down to the model's {n:,}")
    return resample(pts, n, rng).astype(np.float32), notes


def load_folder(root: str | Path, points: int, seed: int, ctl: Control):
    """Task: read a ModelNet-style or class-per-folder dataset, with progress and cancel."""
    root = Path(root)
    yield Progress(0, 0, text=f"scanning {root.name}")
    gen = read_folder_dataset(root, points, seed)
    while True:
        ctl.checkpoint()
        try:
            done, total = next(gen)
        except StopIteration as stop:
            data = stop.value
            break
        yield Progress(done, total, text=f"reading {root.name}: {done:,}/{total:,} files")
    for note in data.notes:
        yield Message(f"{root.name}: {note}", "warning")
    data.check_trainable()
    return data
