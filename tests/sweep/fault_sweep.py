"""A sweep that the fault-injection tests (`test_cache_faults.py`) run in a process of its own, to kill it.

    python fault_sweep.py CACHE WORKERS

Its trainer is a stand-in (no torch, `LoggedTrainer`): it appends one line per run it trains to the file
named by $FAULT_SWEEP_LOG (`<pid> <lam> <seed>`), sleeps $FAULT_SWEEP_SECONDS, then returns fixed scores.
Spawned worker processes, which load this file again as `__mp_main__`, find the stand-in there. Imported by
the tests, it changes nothing.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

from alignbook.config import TrainConfig
from alignbook.sweep.trainer import Trainer
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
    weights = {"head.bias": np.full(2, lam, dtype=np.float32)}
    return FitResult(lam=float(lam), seed=int(seed), config=config, acc1=score, acc2=score, loss1=0.5,
                     loss2=0.5, val_acc1=score, val_acc2=score, best_epoch1=0, best_epoch2=0, steps=1,
                     hit_cap=True, history=[{"epoch": 0}], time_s=0.0, weights1=weights, weights2=weights)


class LoggedTrainer(Trainer):
    """Appends `<pid> <lam> <seed>` per run it trains to the file `log` (default $FAULT_SWEEP_LOG), sleeps
    `seconds` (default $FAULT_SWEEP_SECONDS), and returns fixed scores; needs no torch (nor does its
    vectorisation check). It carries its settings when pickled, so Ray workers, which do not share this
    process's environment, log to the same file."""

    def __init__(self, log: str | None = None, seconds: float | None = None):
        self.log = log or os.environ["FAULT_SWEEP_LOG"]
        self.seconds = float(os.environ["FAULT_SWEEP_SECONDS"]) if seconds is None else seconds

    def blocker(self, config) -> str:
        return ""

    def fit_many(self, datasets, lams, seeds, config, *, threads):
        lines = "".join(f"{os.getpid()} {lam} {seed}\n" for lam, seed in zip(lams, seeds, strict=True))
        handle = os.open(self.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            os.write(handle, lines.encode())  # one appending write: lines of two processes never mix
        finally:
            os.close(handle)
        time.sleep(self.seconds)
        return [result(lam, seed, config) for lam, seed in zip(lams, seeds, strict=True)]

    def measure(self, dataset, result, *, threads):
        return {"cka": 0.1}, {"cka": 0.0}


if __name__ == "__main__":
    import signal

    from alignbook.sweep import run_sweep

    # A shell starts background commands with SIGINT ignored, and children inherit that; this sweep stands
    # for one started from a terminal, where Ctrl-C raises KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.default_int_handler)

    run_sweep(SPEC, datasets(), cache_dir=sys.argv[1], workers=int(sys.argv[2]), progress=False,
              trainer=LoggedTrainer())
