"""How many threads the small training computations use."""

from __future__ import annotations

import contextlib


@contextlib.contextmanager
def limited_threads(count: int = 1):
    """Run the block with `count` torch and BLAS threads, restoring the previous settings afterwards.

    The synthetic study's matrices are tiny: extra threads add synchronisation, and on a busy machine
    oversubscribed threads stall each other (measured: several times slower). Parallelism across runs comes
    from batching them (`alignbook.training.vectorized`) and from worker processes (`alignbook.sweep`).
    """
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        with threadpool_limits(count):
            yield
    finally:
        torch.set_num_threads(before)
