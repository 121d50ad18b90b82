"""Groups of runs: what a worker process or a Ray node trains and measures, and how groups wait for each
other.

A `GroupTask` holds the runs of one grid point (each on its own data draw), to train together and measure
(`train=True`), or cached runs whose measurement is missing (`train=False`). `compute_group` does the work and
writes nothing (a Ray node runs it); `run_group` claims the runs, skips those another sweep holds or finished
meanwhile, computes and writes the entries (a local worker runs it). `execute` runs groups in this process or
in a pool of worker processes that die with the sweep; `wait_for_other_sweeps` waits for the runs another
sweep on the same cache is training; `claim_for_cluster` claims, in the sweep's own process, the runs a Ray
cluster is to train. A run's numbers do not depend on its group (`training.vectorized`), so
`split_for_workers` may split groups by the number of workers without changing any result.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from alignbook.config import TrainConfig
from alignbook.data.container import PairedDataset
from alignbook.storage.files import DiskFullError
from alignbook.storage.records import material_key
from alignbook.sweep.cache import RunCache
from alignbook.sweep.measure import Measurements
from alignbook.sweep.trainer import Trainer
from alignbook.sweep.workers import process_pool
from alignbook.training.results import FitResult

logger = logging.getLogger("alignbook")


@dataclass(frozen=True)
class GroupRun:
    """One run of a group: its `lam`, seed, the index of its dataset in the group, and its entries' keys and
    key material (computed once, by the sweep's process, so that an edit of the package while workers start
    cannot give an entry a key its material does not hash to)."""

    lam: float
    seed: int
    dataset: int
    key: str
    material: dict = field(repr=False)
    measure_material: dict = field(repr=False)

    @property
    def measure_key(self) -> str:
        return material_key(self.measure_material)


@dataclass
class GroupTask:
    """Runs of one grid point (each on its own data draw), trained together or measured from stored
    weights."""

    label: str
    config: TrainConfig
    runs: list[GroupRun]
    datasets: list[PairedDataset | None]
    train: bool  # False: the runs are trained and cached; only their measurements are missing
    vectorized: bool
    cache_root: Path
    trainer: Trainer
    stored: dict[str, FitResult] = field(default_factory=dict)  # measure-only: the runs with their weights
    threads: int = 1  # torch and BLAS threads while working on this group
    force: bool = False  # retrain even a run another sweep finished meanwhile


def compute_group(task: GroupTask) -> dict[str, FitResult]:
    """Train (or take from `task.stored`) and measure the group's runs; return them by run key with their
    weights, alignment and chance levels.

    Writes nothing (a Ray node may run this).
    """
    trainer, config = task.trainer, task.config
    if not task.train:
        cache = RunCache(task.cache_root)
        results = {run.key: task.stored.get(run.key) or stored_run(cache, run, task.config)
                   for run in task.runs}
    elif task.vectorized:
        trained = trainer.fit_many([task.datasets[run.dataset] for run in task.runs],
                                   [run.lam for run in task.runs], [run.seed for run in task.runs], config,
                                   threads=task.threads)
        results = {run.key: result for run, result in zip(task.runs, trained, strict=True)}
    else:
        results = {run.key: trainer.fit(task.datasets[run.dataset], run.lam, run.seed, config,
                                        threads=task.threads) for run in task.runs}
    for run in task.runs:
        result = results[run.key]
        result.alignment, result.alignment_chance = trainer.measure(task.datasets[run.dataset], result,
                                                                     threads=task.threads)
    return results


def stored_run(cache: RunCache, run: GroupRun, config: TrainConfig) -> FitResult:
    """A cached run with its weights, to be measured."""
    found = cache.read(run.key, run.lam, run.seed, config, weights=True)
    if found is None:
        raise RuntimeError(f"run lam={run.lam}, seed={run.seed} left the cache {cache.root} while the sweep "
                           "ran: run the sweep again")
    return found


def store_group(task: GroupTask, results: dict[str, FitResult]) -> None:
    """Write the run entry (when trained here) and the measurement entry of each run of a group."""
    cache, measurements = RunCache(task.cache_root), Measurements(task.cache_root)
    for run in task.runs:
        result = results[run.key]
        if task.train:
            cache.write(run.key, result, run.material)
        measurements.write(run.measure_key, run.measure_material, result.alignment, result.alignment_chance)


def without_weights(results: dict[str, FitResult]) -> dict[str, FitResult]:
    """The results without their weights (stored already; the table does not need them)."""
    return {key: dataclasses.replace(result, weights1=None, weights2=None) for key, result in results.items()}


def run_group(task: GroupTask) -> dict[str, FitResult]:
    """Train and measure the group's runs no other sweep is training, write their entries, return the results
    by run key (in this process or a local worker).

    Runs another live sweep has claimed are left out of the results (`run_sweep` waits for them); a run
    another sweep finished since the lookup is read and measured, not trained again.
    """
    if not task.train:
        results = compute_group(task)
        store_group(task, results)
        return without_weights(results)
    cache = RunCache(task.cache_root)
    results: dict[str, FitResult] = {}
    claims = []
    try:
        todo, finished = [], []
        for run in task.runs:
            claim = cache.claim(run.key)
            if claim is None:
                continue
            claims.append(claim)
            found = None if task.force else cache.read(run.key, run.lam, run.seed, task.config, weights=True,
                                                       warn=False)
            if found is None:
                todo.append(run)
            else:
                finished.append(run)
                task.stored[run.key] = found
        for runs, train in ((todo, True), (finished, False)):
            if runs:
                part = dataclasses.replace(task, runs=runs, train=train)
                computed = compute_group(part)
                store_group(part, computed)
                results.update(without_weights(computed))
    finally:
        for claim in claims:
            claim.release()
    return results


def split_for_workers(tasks: list[GroupTask], workers: int) -> list[GroupTask]:
    """Halve the largest groups until every worker has one (a sweep over a single dataset still runs in
    parallel); groups are otherwise kept whole, as larger groups vectorise better.

    A run's numbers do not depend on its group, so this changes speed only.
    """
    tasks = list(tasks)
    while 0 < len(tasks) < workers:
        largest = max(range(len(tasks)), key=lambda i: len(tasks[i].runs))
        task = tasks[largest]
        if len(task.runs) < 2:
            break
        half = len(task.runs) // 2
        tasks[largest : largest + 1] = [dataclasses.replace(task, runs=task.runs[:half]),
                                        dataclasses.replace(task, runs=task.runs[half:])]
    return tasks


def execute(tasks: list[GroupTask], workers: int) -> Iterator[tuple[GroupTask, dict[str, FitResult]]]:
    """Yield each group with its results as it finishes: in this process, or in a spawn process pool whose
    workers die with this process (`alignbook.sweep.workers`)."""
    if not tasks:
        return
    if workers == 1:
        for task in tasks:
            yield task, run_group(task)
        return
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures.process import BrokenProcessPool

    # each task works on task.threads threads: workers do not oversubscribe the cores; if this generator stops
    # early (an error, Ctrl-C), the pool stops the workers: finished groups are cached
    with process_pool(workers) as pool:
        pending = {pool.submit(run_group, task): task for task in tasks}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                task = pending.pop(future)
                try:
                    group_results = future.result()
                except BrokenProcessPool as exc:
                    raise RuntimeError(
                        "a sweep worker process died (out of memory, killed, or the calling script lacks "
                        "an `if __name__ == '__main__':` guard, which spawned workers need); finished groups "
                        "are cached: rerun, or pass workers=1") from exc
                except DiskFullError as exc:
                    raise exc from None  # its one line says it all; the worker's traceback does not help
                yield task, group_results


def wait_for_other_sweeps(tasks: list[GroupTask], computed: dict[str, FitResult], cache: RunCache,
                           bar) -> list[GroupTask]:
    """Wait for the runs of `tasks` that another sweep was training, and return, as groups, those it did not
    finish (it died or failed) and those it finished but this sweep still has to measure."""
    waiting = [(task, run) for task in tasks if task.train for run in task.runs if run.key not in computed]
    if not waiting:
        return []
    logger.info("waiting for %d runs that another sweep on this cache is training", len(waiting))
    left: dict[int, list[GroupRun]] = {}
    for task, run in waiting:
        claim = cache.claim(run.key, wait=True)  # returns once the other sweep released the run or died
        claim.release()
        left.setdefault(id(task), []).append(run)  # its entry is read (not trained) by `run_group`
    return [dataclasses.replace(task, runs=left[id(task)]) for task in tasks if id(task) in left]


def claim_for_cluster(tasks: list[GroupTask], cache: RunCache, config: TrainConfig
                       ) -> tuple[list[GroupTask], list[GroupTask], list]:
    """Claim, in this process, every run the cluster is to train (the claims live as long as the sweep, with
    their heartbeat, like a local sweep's), and split the groups three ways: runs still missing, for the
    cluster to train; runs another sweep finished since the lookup, for the cluster to measure only (Ray nodes
    cannot read the cache: these groups carry their stored weights); runs another sweep holds, left to it
    (`run_sweep` waits for them, then reads and measures them here).

    Returns the cluster's groups, the groups of held runs, and the claims.
    """
    claims, mine, held = [], [], []
    for task in tasks:
        if not task.train:
            task.stored = {run.key: stored_run(cache, run, config) for run in task.runs}
            mine.append(task)
            continue
        todo, finished, others = [], {}, []
        for run in task.runs:
            claim = cache.claim(run.key)
            if claim is None:
                others.append(run)
                continue
            claims.append(claim)
            found = None if task.force else cache.read(run.key, run.lam, run.seed, config, weights=True,
                                                       warn=False)
            if found is None:
                todo.append(run)
            else:
                finished[run.key] = found
        if todo:
            mine.append(dataclasses.replace(task, runs=todo))
        if finished:
            read = [run for run in task.runs if run.key in finished]
            mine.append(dataclasses.replace(task, runs=read, train=False, stored=finished))
        if others:
            held.append(dataclasses.replace(task, runs=others))
    return mine, held, claims
