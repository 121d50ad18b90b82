"""The paired-data container, splitting, standardisation, configuration and parameter checks."""

import numpy as np

from alignbook.training.seeding import batch_indices, branch_seed


def test_branch_seeds_differ_and_batches_cover_the_data():
    assert branch_seed(0, 1) != branch_seed(0, 2) != branch_seed(1, 2)
    batches = batch_indices(10, 3, seed=0, epoch=0)
    assert [len(b) for b in batches] == [3, 3, 3]
    assert len(np.unique(np.concatenate(batches))) == 9
    assert not np.array_equal(batches[0], batch_indices(10, 3, seed=0, epoch=1)[0])
