"""The paired-data container, splitting, standardisation, configuration and parameter checks."""

import numpy as np
import pytest

from alignbook.data import PairedDataset, PairedSplit, from_arrays, split_indices, split_sizes, standardize


def test_split_sizes_are_exact_for_the_synthetic_sample_count():
    assert split_sizes(65536, (0.7, 0.15, 0.15)) == (45875, 9830, 9831)


def test_stratified_split_partitions_and_keeps_class_proportions():
    y = np.repeat(np.arange(4), [400, 300, 200, 100])
    train, valid, test = split_indices(y, (0.7, 0.15, 0.15), seed=3)
    everything = np.concatenate([train, valid, test])
    assert np.array_equal(np.sort(everything), np.arange(len(y)))
    assert np.array_equal(np.bincount(y[train]), [280, 210, 140, 70])
    assert np.array_equal(np.bincount(y[valid]), [60, 45, 30, 15])


def test_split_is_deterministic_and_seed_dependent():
    y = np.arange(100) % 3
    a = split_indices(y, (0.6, 0.2, 0.2), seed=0)
    b = split_indices(y, (0.6, 0.2, 0.2), seed=0)
    c = split_indices(y, (0.6, 0.2, 0.2), seed=1)
    assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])


def test_standardize_uses_train_statistics_only():
    train = np.array([[0.0, 5.0], [2.0, 5.0]])
    other = np.array([[4.0, 6.0]])
    train_z, other_z = standardize(train, other)
    assert np.allclose(train_z, [[-1, 0], [1, 0]])  # the constant feature stays finite
    assert np.allclose(other_z, [[3, 1]])


def test_split_rejects_mismatched_rows():
    with pytest.raises(ValueError, match="same number of rows"):
        PairedSplit(np.zeros((3, 2)), np.zeros((4, 2)), np.zeros(3))


def test_dataset_fingerprint_changes_with_any_value():
    split = PairedSplit(np.zeros((4, 2), np.float32), np.ones((4, 2), np.float32), np.arange(4) % 2)
    a = PairedDataset(split, split, split)
    changed = PairedSplit(split.x1.copy(), split.x2.copy(), split.y.copy())
    changed.x1[0, 0] = 1e-3
    assert a.fingerprint() == PairedDataset(split, split, split).fingerprint()
    assert a.fingerprint() != PairedDataset(changed, split, split).fingerprint()
    assert a.num_classes == 2


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
    from alignbook.data.container import labelled_subset, stratified_order

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
