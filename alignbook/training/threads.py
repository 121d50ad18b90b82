"""How many threads the small training computations use."""

from __future__ import annotations

import contextlib

from alignbook.checks import check_positive_int

# Threads of every trainer unless its caller asks for more (`threads=`): see `limited_threads`.
DEFAULT_THREADS = 1


@contextlib.contextmanager
def limited_threads(count: int = DEFAULT_THREADS):
    """Run the block with `count` torch and BLAS threads, restoring the caller's settings afterwards.

    The synthetic study's matrices are tiny: extra threads add synchronisation, and on a busy machine
    oversubscribed threads stall each other (measured: a small `fit` took 0.59 s on torch's default 2 threads
    next to one busy process, 0.15 s on 1). So every trainer runs on one thread by default, whoever calls it;
    larger encoders may ask for more. Parallelism across runs comes from batching them
    (`alignbook.training.vectorized`) and from worker processes (`alignbook.sweep`).
    """
    import torch
    from threadpoolctl import threadpool_limits

    count = check_positive_int("threads", count)
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        with threadpool_limits(count):
            yield
    finally:
        torch.set_num_threads(before)
