"""A sweep that the fault-injection tests (`test_faults.py`) run in a process of its own, to kill it.

    python fault_sweep.py CACHE WORKERS

Its trainer is a stand-in (no torch): it appends one line per run it trains to the file named by
$FAULT_SWEEP_LOG (`<pid> <lam> <seed>`), sleeps $FAULT_SWEEP_SECONDS, then returns fixed scores. Run as a
script, the file installs the stand-in when it is loaded, so spawned worker processes, which load it again
as `__mp_main__`, train with it too. Imported by the tests, it changes nothing.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

from alignbook.config import TrainConfig
from alignbook.training.results import FitResult

SPEC = {"name": "faults", "lams": [0.0, 1.0, 2.0], "seeds": [0, 1], "train": {"num_epochs": 1}}


def datasets() -> dict:
    """Two small paired datasets: two groups of six runs."""
    from alignbook.data import from_arrays

    x = np.random.default_rng(0).normal(size=(200, 4))
    return {name: from_arrays(x + shift, np.tanh(x) - shift, (x[:, 0] > 0).astype(int), name=name)
            for name, shift in (("a", 0.0), ("b", 1.0))}


def result(lam: float, seed: int, config: TrainConfig) -> FitResult:
    score = 0.5 + 0.1 * lam + 0.01 * seed
    return FitResult(lam=float(lam), seed=int(seed), config=config, acc1=score, acc2=score, loss1=0.5,
                     loss2=0.5, val_acc1=score, val_acc2=score, best_epoch1=0, best_epoch2=0,
                     alignment={"cka": 0.1}, alignment_chance={"cka": 0.0}, history=[{"epoch": 0}],
                     time_s=0.0)


def logged_fit_many(dataset, lams, seeds, config, *, keep_representations, threads):
    lines = "".join(f"{os.getpid()} {lam} {seed}\n" for lam, seed in zip(lams, seeds, strict=True))
    handle = os.open(os.environ["FAULT_SWEEP_LOG"], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        os.write(handle, lines.encode())  # one appending write: lines of two processes never mix
    finally:
        os.close(handle)
    time.sleep(float(os.environ["FAULT_SWEEP_SECONDS"]))
    return [result(lam, seed, config) for lam, seed in zip(lams, seeds, strict=True)]


if __name__ in ("__main__", "__mp_main__"):
    from alignbook.sweep import run as sweep_run

    # the stand-in needs no torch: nor does its vectorisation check (importing torch takes seconds)
    sweep_run._fit_many = logged_fit_many
    sweep_run.vectorization_blocker = lambda config: ""

if __name__ == "__main__":
    import signal

    from alignbook.sweep import run_sweep

    # A shell starts background commands with SIGINT ignored, and children inherit that; this sweep stands
    # for one started from a terminal, where Ctrl-C raises KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.default_int_handler)

    run_sweep(SPEC, datasets(), cache_dir=sys.argv[1], workers=int(sys.argv[2]), progress=False)
