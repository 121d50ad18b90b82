"""Fault injection: whatever goes wrong, nothing wrong is served and nothing is left behind.

Each test plants a fault that a person, a machine or a second process can cause and checks what the package
does about it: a tampered, garbled or foreign cache entry is caught with a warning naming it and recomputed;
a killed sweep leaves no process behind and the next sweep takes over its runs; a full or read-only disk,
an empty environment variable, a duplicated YAML key and a bad notebook parameter give a one-line error
that names the culprit before any training; overflowing data give a clear error instead of silent zeros;
the PID solver finishes on dense joints and its advice, when it does not, works; two sweeps on one cache
never train the same run twice. Trainers are the counting stand-ins of `test_sweep` unless the fault is in
the training processes themselves (`fault_sweep.py`).
"""

from __future__ import annotations

import numpy as np
import pytest

from alignbook.data import from_arrays


@pytest.mark.parametrize(("x1", "x2", "named"), [
    (np.full((60, 3), 3e37, np.float32) * np.linspace(1, 2, 60, dtype=np.float32)[:, None], None, "x1"),
    (None, np.linspace(-1e300, 1e300, 120).reshape(60, 2), "x2"),
    (np.zeros((60, 0)), None, "x1"),
    (None, np.zeros((60, 4, 0)), "x2"),
], ids=["float32-overflow", "float64-overflow", "no-features", "no-channels"])
def test_from_arrays_refuses_what_it_cannot_standardise(x1, x2, named):
    rng = np.random.default_rng(0)
    x1 = rng.normal(size=(60, 3)) if x1 is None else x1
    x2 = rng.normal(size=(60, 2)) if x2 is None else x2
    y = np.arange(60) % 2
    with np.errstate(all="raise"), pytest.raises(ValueError, match=f"^{named}: "):  # no numpy warning first
        from_arrays(x1, x2, y)
    if named == "x2" and x2.ndim == 2:
        with pytest.raises(ValueError, match="^x2: .*float32"):  # not representable in float32 either
            from_arrays(x1, x2, y, standardize=False)


def _arrays(n=60):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 3)), rng.normal(size=(n, 2)), np.arange(n) % 2


@pytest.mark.parametrize("split", [(0.98, 0.01, 0.01), (0.01, 0.98, 0.01), (0.5, 0.495, 0.005)])
def test_a_split_that_leaves_a_part_empty_is_refused_naming_split(split):
    from alignbook.data import split_sizes, synthetic

    with pytest.raises(ValueError, match=r"^split: .*(train|valid|test) part .*empty"):
        from_arrays(*_arrays(60), split=split)
    with pytest.raises(ValueError, match=r"^split: .*empty"):
        split_sizes(60, split)
    with pytest.raises(ValueError, match=r"^split: .*empty"):
        synthetic.make_dataset(0, n_samples=60, split=split)
    assert min(split_sizes(1000, split)) > 0  # the same fractions work with enough examples
    assert len(from_arrays(*_arrays(1000), split=split).test) == split_sizes(1000, split)[2]


@pytest.mark.parametrize("split", [(float("nan"), 0.5, 0.5), (0.7, float("nan"), 0.3), ("a", "b", "c"),
                                   (0.7, 0.3), 0.7, None, (float("inf"), -float("inf"), 1.0)])
def test_a_split_that_is_not_three_fractions_is_refused_naming_split(split):
    from alignbook.data import split_sizes, synthetic

    for refuse in (lambda: from_arrays(*_arrays(60), split=split), lambda: split_sizes(60, split),
                   lambda: synthetic.make_dataset(0, n_samples=60, split=split)):
        with pytest.raises(ValueError, match="^split: ") as error:
            refuse()
        assert "\n" not in str(error.value)


def test_a_dataset_with_an_empty_part_is_refused():
    from alignbook.data import PairedDataset, PairedSplit

    part = PairedSplit(np.zeros((4, 2)), np.zeros((4, 2)), np.arange(4) % 2)
    empty = part.subset(np.zeros(4, dtype=bool))
    for parts in ((empty, part, part), (part, empty, part), (part, part, empty)):
        with pytest.raises(ValueError, match="^dataset: its (train|valid|test) split is empty"):
            PairedDataset(*parts)
