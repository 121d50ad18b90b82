"""Scarce labels: which training examples keep their labels, and a dataset cut to fewer of them."""

import numpy as np
import pytest

from alignbook.data import (
    from_arrays,
    labelled_dataset,
    labelled_size,
    load_basicmotions,
    load_mfeat,
    synthetic,
)
from alignbook.data.labelled import labelled_subset, stratified_order


def _unchanged_order(y, seed):
    """`stratified_order` as the chapters' runs were first drawn: every class's members by (j + 0.5) / N."""
    rng = np.random.default_rng(seed)
    classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    keys = np.empty(len(y))
    for c in range(len(classes)):
        members = rng.permutation(np.flatnonzero(inverse == c))
        keys[members] = (np.arange(len(members)) + 0.5) / counts[c]
    return np.lexsort((inverse, keys))


def test_a_labelled_subset_as_large_as_the_classes_holds_every_class():
    y = np.repeat(np.arange(4), [100, 100, 100, 3])  # one rare class
    for seed in range(10):
        for n in range(4, 40):
            assert np.unique(y[labelled_subset(y, n, seed)]).tolist() == [0, 1, 2, 3], (seed, n)
        order = stratified_order(y, seed)
        assert all(np.isin(order[:n], order[:n + 1]).all() for n in range(1, 60))  # nested prefixes
    x = np.random.default_rng(0).normal(size=(len(y), 2))
    dataset = from_arrays(x, x, y, n_train=4)
    assert np.bincount(dataset.train.y).tolist() == [1, 1, 1, 1]
    for counts in ([200] * 10, [20, 20, 20, 20], [110, 95, 100, 37]):  # no class 3x another: order unchanged
        y = np.repeat(np.arange(len(counts)), counts)
        for seed in range(3):
            assert np.array_equal(stratified_order(y, seed), _unchanged_order(y, seed))



def test_labelled_size_rounds_and_keeps_one_example_per_class():
    assert labelled_size(0.05, 1400, 10) == 70  # an mfeat pair
    assert labelled_size(0.05, 40, 4) == 4  # BasicMotions: 2 rounded up to one series per activity
    assert labelled_size(0.001, 1400, 10) == 10
    assert labelled_size(1.0, 1400, 10) == 1400 and labelled_size(0.2, 3, 4) == 3
    for bad in (0.0, 1.5, True, "0.5"):
        with pytest.raises(ValueError, match="^fraction:"):
            labelled_size(bad, 1400, 10)


def _same(a, b):
    assert a.fingerprint() == b.fingerprint() and (a.params, a.info, a.name) == (b.params, b.info, b.name)
    for part in ("train", "valid", "test"):
        for array in ("x1", "x2", "y"):
            assert np.array_equal(getattr(a.splits[part], array), getattr(b.splits[part], array))


def test_a_dataset_cut_to_fewer_labels_is_what_its_builder_gives_with_n_train():
    _same(labelled_dataset(load_mfeat(("fou", "mor"), seed=1), 70),
          load_mfeat(("fou", "mor"), seed=1, n_train=70))
    split = (0.5, 0.15, 0.35)
    _same(labelled_dataset(load_basicmotions(seed=2, split=split), 4),
          load_basicmotions(seed=2, split=split, n_train=4))
    rng = np.random.default_rng(0)
    x1, x2 = rng.normal(size=(200, 3)), rng.normal(size=(200, 2))
    regression = from_arrays(x1, x2, x1[:, 0], task="regression", seed=5)
    _same(labelled_dataset(regression, 9),
          from_arrays(x1, x2, x1[:, 0], task="regression", seed=5, n_train=9))
    full = synthetic.make_dataset(6, n_samples=2000, seed=3)
    scarce = synthetic.make_dataset(6, n_samples=2000, seed=3, n_train=37)
    assert labelled_dataset(full, 37).fingerprint() == scarce.fingerprint()
    assert labelled_dataset(full, len(full.train)) is full and labelled_dataset(full, None) is full


def test_a_dataset_cut_twice_or_without_a_seed_is_refused():
    full = synthetic.make_dataset(6, n_samples=2000, seed=3)
    with pytest.raises(ValueError, match="^dataset: needs a dataset built from a seed"):
        labelled_dataset(labelled_dataset(full, 100), 50)
    with pytest.raises(ValueError, match="^n_train: must be at least the number of classes"):
        labelled_dataset(full, 3)
    with pytest.raises(ValueError, match="^n_train: is 5000"):
        labelled_dataset(full, 5000)
