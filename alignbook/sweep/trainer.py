"""How a sweep trains and measures its runs: `Trainer`, which `run_sweep(..., trainer=...)` can replace.

The default trains with the package's trainers: runs of one dataset shape together with
`training.vectorized.fit_many` when `blocker(config)` is empty (MLP encoders, a fixed temperature), one at a
time with `training.single.fit` otherwise, and measures a trained run with `sweep.measure.measure_run`. A
replacement (a stand-in whose runs are instant, for tests; another trainer) is an object with the same four
methods returning the same kinds of results. It is pickled into worker processes, so define it at the top
level of a module.
"""

from __future__ import annotations

from collections.abc import Sequence

from alignbook.config import TrainConfig
from alignbook.data.container import PairedDataset
from alignbook.training.results import FitResult


class Trainer:
    """The package's trainers and measurement (imported on use: they import torch)."""

    def blocker(self, config: TrainConfig) -> str:
        """Why runs with `config` cannot be trained together by `fit_many` ('' when they can)."""
        from alignbook.training.vectorized import vectorization_blocker

        return vectorization_blocker(config)

    def fit_many(self, datasets: Sequence[PairedDataset], lams: Sequence[float], seeds: Sequence[int],
                 config: TrainConfig, *, threads: int) -> list[FitResult]:
        """Runs `(lams[i], seeds[i])`, run i on `datasets[i]`, trained together."""
        from alignbook.training.vectorized import fit_many

        return fit_many(list(datasets), list(lams), list(seeds), config, progress=False, threads=threads)

    def fit(self, dataset: PairedDataset, lam: float, seed: int, config: TrainConfig, *,
            threads: int) -> FitResult:
        """One run; a diverged run is returned failed, not raised."""
        from alignbook.training.single import fit

        return fit(dataset, lam=lam, seed=seed, config=config, on_divergence="mark", progress=False,
                   threads=threads)

    def measure(self, dataset: PairedDataset, result: FitResult, *, threads: int) -> tuple[dict, dict]:
        """`(alignment, chance)` of a trained run (with its weights) on `dataset`'s test split."""
        from alignbook.sweep.measure import measure_run
        from alignbook.training.threads import limited_threads

        with limited_threads(threads):
            return measure_run(dataset, result)
