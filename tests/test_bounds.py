"""Each bound is defined once in `alignbook.checks` and every layer accepts and refuses the same values."""

from __future__ import annotations

import numpy as np
import pytest

from alignbook.checks import MAX_DEPTH, MAX_REDUNDANCY, MAX_SEED, check_parameters
from alignbook.data import from_arrays, synthetic
from alignbook.info import estimate_pid
from alignbook.sweep import SweepSpec


def tiny():
    rng = np.random.default_rng(0)
    return from_arrays(rng.normal(size=(40, 3)), rng.normal(size=(40, 2)), np.arange(40) % 2)


def spec(**changes):
    values = {"name": "bounds", "lams": [0.0], "seeds": [0]}
    values.update(changes)
    return SweepSpec.from_dict(values)


def test_seed_bound_is_the_same_everywhere():
    from alignbook.training.single import fit
    from alignbook.training.vectorized import fit_many

    check_parameters(seed=MAX_SEED, seeds=[MAX_SEED])
    spec(seeds=[MAX_SEED], data_seed=MAX_SEED)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 2)), np.arange(40) % 2
    refusals = [
        lambda: check_parameters(seed=MAX_SEED + 1),
        lambda: check_parameters(seeds=[0, MAX_SEED + 1]),
        lambda: spec(seeds=[MAX_SEED + 1]),
        lambda: spec(data_seed=MAX_SEED + 1),
        lambda: synthetic.make_dataset(0, n_samples=100, seed=MAX_SEED + 1),
        lambda: synthetic.frozen_map(1, transform_seed=MAX_SEED + 1),
        lambda: from_arrays(x, x, y, seed=MAX_SEED + 1),
        lambda: estimate_pid(x, x, y, seed=MAX_SEED + 1),
        lambda: fit(tiny(), seed=MAX_SEED + 1),
        lambda: fit_many(tiny(), [0.0], [MAX_SEED + 1]),
    ]
    for refuse in refusals:
        with pytest.raises(ValueError, match=f"0..{MAX_SEED}"):
            refuse()


def test_depth_and_redundancy_bounds_are_the_same_everywhere():
    assert synthetic.NUM_SHARED == MAX_REDUNDANCY  # the generator's shared bits are the bound
    check_parameters(depth=MAX_DEPTH, redundancy=MAX_REDUNDANCY, depths=[0, MAX_DEPTH])
    assert len(synthetic.frozen_map(MAX_DEPTH)) == 2 * MAX_DEPTH + 1
    for refuse, bound in [
        (lambda: check_parameters(depth=MAX_DEPTH + 1), MAX_DEPTH),
        (lambda: check_parameters(depths=[MAX_DEPTH + 1]), MAX_DEPTH),
        (lambda: synthetic.frozen_map(MAX_DEPTH + 1), MAX_DEPTH),
        (lambda: synthetic.make_dataset(0, depth=MAX_DEPTH + 1, n_samples=100), MAX_DEPTH),
        (lambda: check_parameters(redundancy=MAX_REDUNDANCY + 1), MAX_REDUNDANCY),
        (lambda: synthetic.make_dataset(MAX_REDUNDANCY + 1, n_samples=100), MAX_REDUNDANCY),
        (lambda: synthetic.exact_info(MAX_REDUNDANCY + 1), MAX_REDUNDANCY),
    ]:
        with pytest.raises(ValueError, match=f"0..{bound}"):
            refuse()


@pytest.mark.parametrize("lam", [-0.5, float("nan"), float("inf"), True])
def test_lam_bound_is_the_same_everywhere(lam):
    from alignbook.models import ContrastiveAligner
    from alignbook.training.single import fit
    from alignbook.training.vectorized import fit_many

    for refuse in (lambda: check_parameters(lam=lam), lambda: check_parameters(lams=[0.0, lam]),
                   lambda: spec(lams=[lam]), lambda: fit(tiny(), lam=lam),
                   lambda: fit_many(tiny(), [lam], [0]), lambda: ContrastiveAligner(lam)):
        with pytest.raises(ValueError, match="lam"):
            refuse()


def test_the_smallest_synthetic_sample_is_what_the_generators_split_needs():
    from alignbook.checks import MIN_SYNTHETIC_SAMPLES
    from alignbook.data import split_sizes

    def parts_hold_every_class(n):  # each of train, valid and test at least as large as the classes
        try:
            return min(split_sizes(n, (0.7, 0.15, 0.15))) >= synthetic.NUM_CLASSES
        except ValueError:  # a part would be empty
            return False

    assert [n for n in range(1, 5000) if not parts_hold_every_class(n)][-1] == MIN_SYNTHETIC_SAMPLES - 1
    assert synthetic.MIN_SAMPLES == MIN_SYNTHETIC_SAMPLES
    assert check_parameters(n_samples=MIN_SYNTHETIC_SAMPLES)["n_samples"] == MIN_SYNTHETIC_SAMPLES
