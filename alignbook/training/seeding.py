"""Every random draw in training flows from the run's seed through these functions.

The one-run trainer and the vectorised trainer both call them, which is what makes their runs comparable and
`lam = 0` identical to training each encoder alone.
"""

from __future__ import annotations

import numpy as np


def branch_seed(seed: int, modality: int) -> int:
    """Seed for the initial weights of one branch (encoder, task head, projection head) of a run.

    Each branch gets its own stream, so encoder 1 starts from the same weights whether or not encoder 2
    is trained beside it.
    """
    return int(np.random.SeedSequence([int(seed), 1000 + int(modality)]).generate_state(1, np.uint32)[0])


def epoch_permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    """Order in which the `n` training examples are visited in `epoch` (0-based) of a run with `seed`."""
    return np.random.default_rng([int(seed), 2000, int(epoch)]).permutation(n)


def batch_indices(n: int, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    """Mini-batches of one epoch; the last incomplete batch is dropped so every batch has the same size."""
    order = epoch_permutation(n, seed, epoch)
    num_batches = max(n // batch_size, 1)
    size = min(batch_size, n)
    return [order[i * size : (i + 1) * size] for i in range(num_batches)]
