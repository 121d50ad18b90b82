"""The paired-data container, splitting, standardisation, configuration and parameter checks."""

import numpy as np
import pytest

from alignbook.checks import check_parameters
from alignbook.config import TrainConfig
from alignbook.data import PairedDataset, PairedSplit, split_indices, split_sizes, standardize
from alignbook.training.seeding import batch_indices, branch_seed


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


def test_config_round_trips_and_rejects_unknown_or_bad_fields():
    config = TrainConfig(num_epochs=3)
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert config.key() == TrainConfig(num_epochs=3).key() != TrainConfig().key()
    with pytest.raises(ValueError, match="num_epoch"):
        TrainConfig.from_dict({"num_epoch": 3})
    with pytest.raises(ValueError, match="lr"):
        TrainConfig(lr=-1.0)
    with pytest.raises(ValueError, match="encoder"):
        TrainConfig(encoder="cnn")


def test_branch_seeds_differ_and_batches_cover_the_data():
    assert branch_seed(0, 1) != branch_seed(0, 2) != branch_seed(1, 2)
    batches = batch_indices(10, 3, seed=0, epoch=0)
    assert [len(b) for b in batches] == [3, 3, 3]
    assert len(np.unique(np.concatenate(batches))) == 9
    assert not np.array_equal(batches[0], batch_indices(10, 3, seed=0, epoch=1)[0])


@pytest.mark.parametrize(
    ("values", "name"),
    [({"lam": -1}, "lam"), ({"redundancy": 11}, "redundancy"), ({"lams": [0.0, -0.5]}, "lams"),
     ({"seeds": []}, "seeds"), ({"num_epochs": 0}, "num_epochs"), ({"lr": 0.0}, "lr")],
)
def test_notebook_parameters_are_checked_by_name(values, name):
    with pytest.raises(ValueError, match=f"^{name}:"):
        check_parameters(**values)


def test_valid_notebook_parameters_pass():
    check_parameters(lam=0.0, redundancy=8, lams=[0, 0.5, 4], seeds=[0, 1], depth=1, lr=1e-3, other="x")


def test_importing_the_package_has_no_side_effects():
    import subprocess
    import sys

    code = ("import sys, numpy as np, matplotlib; state = np.random.get_state()[1].copy(); "
            "rc = repr(dict(matplotlib.rcParams)); import alignbook; "
            "assert 'torch' not in sys.modules, 'importing alignbook must stay cheap'; "
            "import alignbook.plotting, alignbook.sweep, alignbook.training.single; "
            "assert (np.random.get_state()[1] == state).all(), 'global RNG touched'; "
            "assert repr(dict(matplotlib.rcParams)) == rc, 'matplotlib settings changed'")
    subprocess.run([sys.executable, "-c", code], check=True)
