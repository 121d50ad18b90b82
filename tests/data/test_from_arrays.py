"""Real and user-supplied paired data: validation, splitting, standardisation and the file loaders.

Benchmark files (MultiBench pickles, AV-MNIST folders, .ts files) are faked here with the real structure.
"""

from __future__ import annotations

import numpy as np
import pytest

from alignbook.data import (
    from_arrays,
)


def _arrays(n=60, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    x1 = rng.normal(5.0, 3.0, size=(n, 4)) + y[:, None]
    x2 = rng.normal(-2.0, 0.5, size=(n, 6, 2))
    return x1, x2, y


def test_from_arrays_stratifies_and_remaps_labels():
    x1, x2, y = _arrays(n=100, classes=4)
    dataset = from_arrays(x1, x2, y * 10 + 5, seed=3)  # labels 5, 15, 25, 35
    assert [len(s) for s in dataset.splits.values()] == [70, 15, 15]
    assert dataset.num_classes == 4 and dataset.info["class_labels"] == [5, 15, 25, 35]
    assert dataset.train.y.dtype == np.int64
    for split in dataset.splits.values():
        counts = np.bincount(split.y, minlength=4)
        assert counts.max() - counts.min() <= 1  # each class spread in proportion
    assert dataset.input_shapes == ((4,), (6, 2))


def test_from_arrays_standardises_with_train_statistics_only():
    x1, x2, y = _arrays()
    raw = from_arrays(x1, x2, y, seed=1, standardize=False)
    scaled = from_arrays(x1, x2, y, seed=1)
    assert np.allclose(scaled.train.x1.mean(axis=0), 0, atol=1e-5)
    assert np.allclose(scaled.train.x1.std(axis=0), 1, atol=1e-4)
    assert np.allclose(scaled.train.x2.mean(axis=(0, 1)), 0, atol=1e-5)  # per channel for sequences
    mean, std = raw.train.x1.mean(axis=0), raw.train.x1.std(axis=0)
    assert np.allclose(scaled.test.x1, (raw.test.x1 - mean) / std, atol=1e-4)
    assert not np.allclose(scaled.test.x1.mean(axis=0), 0, atol=1e-3)  # valid/test statistics never used
    assert scaled.train.x1.dtype == np.float32


def test_from_arrays_n_train_subsamples_training_only():
    x1, x2, y = _arrays(n=400, classes=4)
    full = from_arrays(x1, x2, y, seed=2)
    frequency = np.bincount(full.train.y) / len(full.train)
    for n in (4, 30, 280):
        dataset = from_arrays(x1, x2, y, seed=2, n_train=n)
        assert len(dataset.train) == n and dataset.params["n_train"] == n
        assert np.abs(np.bincount(dataset.train.y, minlength=4) - n * frequency).max() < 1
        for split in ("valid", "test"):  # z-scored with the whole training split: identical arrays
            for array in ("x1", "x2", "y"):
                assert np.array_equal(getattr(dataset.splits[split], array),
                                      getattr(full.splits[split], array))
        rows = {tuple(r) for r in full.train.x1}
        assert {tuple(r) for r in dataset.train.x1} <= rows
    regression = from_arrays(x1, x2, y.astype(float) - 1.5, task="regression", seed=2, n_train=1)
    assert len(regression.train) == 1


@pytest.mark.parametrize("n_train, match", [
    (281, "n_train: is 281 but the training split holds only 280"),
    (3, r"n_train: must be at least the number of classes \(4\)"),
    (2.5, "n_train: must be an integer"),
])
def test_from_arrays_rejects_bad_n_train(n_train, match):
    x1, x2, y = _arrays(n=400, classes=4)
    with pytest.raises(ValueError, match=match):
        from_arrays(x1, x2, y, n_train=n_train)


def test_from_arrays_is_deterministic_under_its_seed():
    x1, x2, y = _arrays()
    assert from_arrays(x1, x2, y, seed=4).fingerprint() == from_arrays(x1, x2, y, seed=4).fingerprint()
    assert from_arrays(x1, x2, y, seed=4).fingerprint() != from_arrays(x1, x2, y, seed=5).fingerprint()


def test_from_arrays_regression_and_torch_inputs():
    torch = pytest.importorskip("torch")
    x1, x2, _ = _arrays()
    target = np.linspace(-3, 3, len(x1))
    dataset = from_arrays(torch.tensor(x1), x2, target[:, None], task="regression")
    assert dataset.task == "regression" and dataset.train.y.dtype == np.float32
    assert sorted(np.concatenate([s.y for s in dataset.splits.values()]).tolist()) == pytest.approx(target)


def test_from_arrays_accepts_integer_valued_floats_and_booleans():
    x1, x2, y = _arrays(classes=2)
    assert from_arrays(x1, x2, y.astype(float)).num_classes == 2
    assert from_arrays(x1, x2, y.astype(bool)).info["class_labels"] == [0, 1]


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda x1, x2, y: (x1[:-1], x2, y), "same number of rows"),
        (lambda x1, x2, y: (np.where(x1 > 9, np.nan, x1), x2, y), "x1: contains .* non-finite"),
        (lambda x1, x2, y: (x1, np.where(x2 > -2, np.inf, x2), y), "x2: contains .* non-finite"),
        (lambda x1, x2, y: (x1, x2, np.zeros_like(y)), "y: has only one class"),
        (lambda x1, x2, y: (x1, x2, y + 0.5), "y: classification labels must be integers.*regression"),
        (lambda x1, x2, y: (x1, x2, np.array(["a", "b", "c"])[y]), "y: .*strings?|y: .*np.unique"),
        (lambda x1, x2, y: (x1, x2, np.where(np.arange(len(y)) < 2, 7, y)), r"y: classes \[7\] have fewer"),
        (lambda x1, x2, y: (x1[:8], x2[:8], y[:8]), "at least 10 examples"),
        (lambda x1, x2, y: (x1[:, 0], x2, y), "x1: must have shape"),
        (lambda x1, x2, y: (x1, x2, np.stack([y, y], 1)), "y: must be one label"),
        (lambda x1, x2, y: (x1.astype(str), x2, y), "x1: features must be numeric"),
    ],
)
def test_from_arrays_rejects_bad_input(change, match):
    with pytest.raises(ValueError, match=match):
        from_arrays(*change(*_arrays()))


def test_from_arrays_rejects_bad_options():
    x1, x2, y = _arrays()
    with pytest.raises(ValueError, match="task"):
        from_arrays(x1, x2, y, task="ranking")
    with pytest.raises(ValueError, match="split"):
        from_arrays(x1, x2, y, split=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="seed"):
        from_arrays(x1, x2, y, seed=-1)
    with pytest.raises(ValueError, match="y: contains"):
        from_arrays(x1, x2, np.where(y > 1, np.nan, 0.0), task="regression")
