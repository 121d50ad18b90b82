"""The paired-data container, splitting, standardisation, configuration and parameter checks."""

import numpy as np
import pytest

from alignbook.data import PairedDataset, PairedSplit, split_indices, split_sizes, standardize


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

