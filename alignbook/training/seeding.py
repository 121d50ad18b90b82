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


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Optimiser steps in one epoch (`batch_indices` drops the last incomplete batch)."""
    return max(n // batch_size, 1)


def run_batches(n: int, batch_size: int, seed: int, start: int, stop: int) -> list[np.ndarray]:
    """Mini-batches of steps `start`..`stop - 1` (0-based) of a run, which takes the batches of epochs 0, 1,
    2, ... one after another: step s is batch `s % steps_per_epoch` of epoch `s // steps_per_epoch`."""
    per_epoch = steps_per_epoch(n, batch_size)
    batches: list[np.ndarray] = []
    for epoch in range(start // per_epoch, (stop - 1) // per_epoch + 1):
        first = epoch * per_epoch
        batches += batch_indices(n, batch_size, seed, epoch)[max(start - first, 0) : stop - first]
    return batches


def checkpoint_steps(total_steps: int, per_epoch: int, num_checkpoints: int = 0,
                     check_every: int = 0) -> list[int]:
    """After how many steps a run is validated (and its best checkpoint possibly taken), the last one
    always after the last step.

    `check_every = S > 0`: every S steps. Else `num_checkpoints = 0`: at the end of every epoch (`per_epoch`
    steps). Else `K > 0`: K steps spaced geometrically from 1 % of the run to its end, rounded (coinciding
    ones merged): dense early, where small training sets reach their best validation score, sparse late,
    where validation would cost more than it tells.
    """
    if check_every:
        stops = list(range(check_every, total_steps + 1, check_every))
    elif num_checkpoints == 0:
        stops = list(range(per_epoch, total_steps + 1, per_epoch))
    else:
        spaced = np.geomspace(max(1.0, total_steps / 100), total_steps, num_checkpoints)
        stops = sorted({int(round(step)) for step in spaced})
    if not stops or stops[-1] != total_steps:
        stops.append(total_steps)
    return stops
