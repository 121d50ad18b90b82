"""Running a sweep: a grid of datasets x alignment weights `lam` x seeds, trained, cached and tabulated.

`run_sweep` takes a `SweepSpec` (`alignbook.sweep.spec`) and

- builds each dataset of the grid (`alignbook.data.registry.build_dataset`, or the user's own
  `PairedDataset`s),
- looks every run up in the on-disk cache (`alignbook.sweep.cache`),
- trains the missing runs: runs sharing a dataset are trained together by `training.vectorized.fit_many`
  when the configuration allows it (MLP encoders, fixed temperature), otherwise one at a time by
  `training.single.fit`, in this process, in worker processes or, with `backend="ray"`, as tasks on a Ray
  cluster (`alignbook.sweep.ray_backend`, which returns the results to this process),
- writes each finished run's cache entry at once (an interrupted sweep resumes where it stopped), and
- returns and stores the tidy table (`alignbook.sweep.table`), one row per run and encoder.

Locally, every run is claimed while it is trained (`RunCache.claim`): a second sweep on the same cache leaves
the runs the first one is training to it and waits for their entries, and takes over the runs of a sweep
that died. Nothing is trained unless its entry can be stored: the cache must be writable and have room for
the runs to compute (`cache.entry_size`); a fully cached sweep only reads, so a read-only cache serves it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alignbook import paths
from alignbook.checks import check_workers, fail
from alignbook.config import TrainConfig
from alignbook.data.container import PairedDataset
from alignbook.data.registry import CUSTOM_KIND, accepted_params, build_dataset, builder_for, is_deterministic
from alignbook.sweep.cache import (
    DiskFullError,
    RunCache,
    atomic_write,
    check_space,
    check_writable,
    entry_size,
    group_material,
    material_key,
    remove_stale_temporaries,
    run_material,
)
from alignbook.sweep.spec import SweepSpec, load_spec
from alignbook.sweep.table import results_table
from alignbook.sweep.workers import process_pool
from alignbook.training.results import FitResult

logger = logging.getLogger("alignbook")

# ---------------------------------------------------------------------------------------------------------
# training groups (run in this process or in a worker process)


@dataclass
class _GroupTask:
    """Runs of one dataset and config, trained together, their cache entries written as soon as done."""

    label: str
    dataset: PairedDataset
    config: TrainConfig
    runs: list[tuple[float, int, str]]  # (lam, seed, cache key)
    inputs: dict  # key material the runs share (`cache.group_material`); each entry stores its run's
    keep_representations: bool
    cache_root: Path
    vectorized: bool
    threads: int = 1  # torch and BLAS threads while training this group
    force: bool = False  # retrain even a run another sweep finished meanwhile


def _fit_many(dataset, lams, seeds, config, *, keep_representations, threads):
    """The vectorised trainer (a seam tests replace)."""
    from alignbook.training.vectorized import fit_many

    return fit_many(dataset, lams, seeds, config, keep_representations=keep_representations, progress=False,
                    threads=threads)


def _fit(dataset, lam, seed, config, *, keep_representations, threads):
    """The one-run trainer (a seam tests replace)."""
    from alignbook.training.single import fit

    return fit(dataset, lam=lam, seed=seed, config=config, keep_representations=keep_representations,
               on_divergence="mark", progress=False, threads=threads)


def _run_group(task: _GroupTask) -> dict[str, FitResult]:
    """Train the group's runs no other sweep is training, write each one's cache entry, return the results
    by cache key (in this process or a local worker).

    Runs another live sweep has claimed are left out of the results (`run_sweep` waits for them); a run
    another sweep finished since the lookup is read, not trained again.
    """
    cache = RunCache(task.cache_root)
    results: dict[str, FitResult] = {}
    claims = []
    try:
        todo = []
        for lam, seed, key in task.runs:
            claim = cache.claim(key)
            if claim is None:
                continue
            claims.append(claim)
            # quiet: a damaged entry was reported at the lookup
            found = None if task.force else cache.read(key, lam, seed, task.keep_representations, warn=False)
            if found is None:
                todo.append((lam, seed, key))
            else:
                results[key] = found
        if todo:
            todo_task = dataclasses.replace(task, runs=todo)
            trained = _train_group(todo_task)
            _store_group(todo_task, trained)
            results.update(trained)
    finally:
        for claim in claims:
            claim.release()
    return results


def _store_group(task: _GroupTask, results: dict[str, FitResult]) -> None:
    """Write the cache entry of each run of a trained group."""
    cache = RunCache(task.cache_root)
    for lam, seed, key in task.runs:
        cache.write(key, results[key], run_material(task.inputs, lam, seed))


def _train_group(task: _GroupTask) -> dict[str, FitResult]:
    """Train one group, return the results by cache key; nothing is written (a Ray node may run this)."""
    results: dict[str, FitResult] = {}
    if task.vectorized:
        # configurations fit_many refuses never get here (vectorization_blocker): an error here is real;
        # fit_many returns the runs (lams[i], seeds[i]) in the order given
        trained = _fit_many(task.dataset, [lam for lam, _, _ in task.runs],
                            [seed for _, seed, _ in task.runs], task.config,
                            keep_representations=task.keep_representations, threads=task.threads)
        results = {key: result for (_, _, key), result in zip(task.runs, trained, strict=True)}
    for lam, seed, key in task.runs:
        if key not in results:
            results[key] = _fit(task.dataset, lam, seed, task.config,
                                keep_representations=task.keep_representations, threads=task.threads)
    return results


def vectorization_blocker(config: TrainConfig) -> str:
    """Why runs with `config` cannot be trained together by `fit_many` ('' when they can).

    `training.vectorized.vectorization_blocker` decides; it is imported on use (it needs torch) and called
    through this seam, which tests replace.
    """
    from alignbook.training.vectorized import vectorization_blocker as blocker

    return blocker(config)


def _split_for_workers(tasks: list[_GroupTask], workers: int) -> list[_GroupTask]:
    """Halve the largest groups until every worker has one (a sweep over a single dataset still runs in
    parallel); groups are otherwise kept whole, as larger groups vectorise better."""
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


# ---------------------------------------------------------------------------------------------------------
# running a sweep


@dataclass
class SweepResult:
    """A finished sweep: the tidy `table` (two rows per run, one per encoder), the `runs` (row column `run`
    indexes this list), where the table was stored, and how many runs came from the cache."""

    spec: SweepSpec
    table: Any  # pandas.DataFrame
    runs: list[FitResult]
    path: Path
    n_cached: int = 0
    n_computed: int = 0
    seconds: float = 0.0

    def __repr__(self) -> str:
        return (f"SweepResult({self.spec.name!r}, {len(self.runs)} runs: {self.n_cached} cached, "
                f"{self.n_computed} computed in {self.seconds:.1f} s, table at {self.path})")


@dataclass
class _DatasetJob:
    """One dataset of the sweep and its runs."""

    label: str
    kind: str
    params: dict  # builder arguments (part of the cache key)
    build: Callable[[], PairedDataset]
    deterministic: bool = False


def _dataset_jobs(spec: SweepSpec, data) -> list[_DatasetJob]:
    if data is not None:
        if spec.kind is not None or spec.dataset_grid:
            fail("data", f"the spec already names dataset kind {spec.kind!r}; give the data one way only")
        if isinstance(data, PairedDataset):
            data = {data.name: data}
        if not isinstance(data, Mapping) or not data:
            fail("data", f"expected a PairedDataset or a non-empty dict name -> PairedDataset, got "
                         f"{type(data).__name__}")
        jobs = []
        for label, dataset in data.items():
            if not isinstance(dataset, PairedDataset):
                fail(f"data[{label!r}]", f"expected a PairedDataset, got {type(dataset).__name__}")
            jobs.append(_DatasetJob(str(label), CUSTOM_KIND, {"name": str(label), **dataset.params},
                                    functools.partial(lambda d: d, dataset)))
        return jobs
    if spec.kind is None:
        fail("dataset.kind", "the spec names no dataset", "give dataset.kind, or pass data= to run_sweep")
    builder = builder_for(spec.kind)
    names, any_keyword = accepted_params(builder)
    jobs = []
    for point in spec.grid_points():
        params = spec.dataset_params(point)
        if "seed" not in params and ("seed" in names or any_keyword):
            params["seed"] = spec.data_seed
        unknown = sorted(set(params) - names) if not any_keyword else []
        if unknown:
            where = "dataset_grid" if unknown[0] in spec.dataset_grid else "dataset"
            fail(f"{where}.{unknown[0]}", f"is not a parameter of dataset kind {spec.kind!r}",
                 f"accepted: {', '.join(sorted(names))}")
        label = ",".join(f"{k}={v}" for k, v in point.items()) or spec.kind
        jobs.append(_DatasetJob(label, spec.kind, params,
                                functools.partial(build_dataset, spec.kind, **params),
                                is_deterministic(spec.kind)))
    return jobs


def _describe(dataset: PairedDataset, job: _DatasetJob) -> dict:
    """What the table and the cache keys need of a dataset (remembered for deterministic kinds)."""
    name = dataset.name if job.kind != CUSTOM_KIND else job.label
    return {"fingerprint": dataset.fingerprint(), "name": name, "modalities": list(dataset.modality_names)}


def _lookup_runs(spec: SweepSpec, config: TrainConfig, job: _DatasetJob, cache: RunCache, fingerprint: str,
                 force: bool) -> list[tuple[tuple[float, int, str], FitResult | None]]:
    """Each run of one dataset, in table order, with its cache key and its cached result (or None)."""
    group = group_material(job.kind, job.params, fingerprint, config, spec.keep_representations)
    found = []
    for lam in spec.lams:
        for seed in spec.seeds:
            key = material_key(run_material(group, lam, seed))
            result = None if force else cache.read(key, lam, seed, spec.keep_representations)
            found.append(((lam, seed, key), result))
    return found


# Bytes a results table takes per row (an encoder of a run), generously: a dozen numbers, two hashes.
TABLE_ROW_BYTES = 1024

# Below this much training (runs x epochs x training examples) 'auto' stays in one process: starting spawned
# workers (each imports torch) costs seconds, more than such a sweep takes.
AUTO_PARALLEL_MIN_WORK = 200_000


def resolve_workers(workers: int | str, n_runs: int, work: int | None = None) -> int:
    """Number of worker processes for `n_runs` runs (`work` = runs x epochs x training examples).

    'auto' uses one process per core (at most one per run) unless the work is too small to repay starting
    them. Measured on a 2-core machine (48 runs, 2 x 24 per dataset, 46k training examples, 2 epochs): two
    single-threaded workers took 197 s, one two-threaded process 420 s; the small MLPs of the synthetic study
    are dominated by per-operation overhead, which threads do not share out but processes do.
    """
    if check_workers("workers", workers) == "auto":
        if work is not None and work < AUTO_PARALLEL_MIN_WORK:
            return 1
        return max(1, min(os.cpu_count() or 1, n_runs))
    return check_workers("workers", workers)


def _progress_bar(total: int, initial: int, enabled: bool, name: str):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="run", desc=name, disable=not enabled, dynamic_ncols=True)


def run_sweep(spec: SweepSpec | Mapping | str | os.PathLike, data: PairedDataset | Mapping | None = None, *,
              cache_dir: str | os.PathLike | None = None, workers: int | str = "auto", progress: bool = True,
              force: bool = False, backend: str = "local", address: str | None = None) -> SweepResult:
    """Train every run of `spec` not yet cached, then return and store the tidy results table.

    `spec` is a `SweepSpec`, a dict or a YAML path; `data` a `PairedDataset` (or dict name -> dataset) to use
    instead of the spec's dataset kind. `cache_dir` defaults to `paths.cache_dir()` ($ALIGNBOOK_CACHE);
    `force` retrains and overwrites cached runs; `workers` > 1 trains groups in that many processes.
    `backend="ray"` trains the groups as tasks of a Ray cluster instead (`workers` is then unused): a local
    instance with this machine's cores when `address` is None, the cluster at `address` ("HOST:PORT" of its
    head, or "auto") otherwise; see `alignbook.sweep.ray_backend`.
    """
    import pandas as pd

    start = time.perf_counter()
    spec = load_spec(spec)
    config = spec.config()
    jobs = _dataset_jobs(spec, data)
    if workers != "auto":
        resolve_workers(workers, 1)  # validate before any work
    cluster = None
    if backend == "ray":  # fails at once when Ray is missing or no cluster answers at `address`
        from alignbook.sweep.ray_backend import RayBackend

        cluster = RayBackend(address)
    elif backend != "local":
        fail("backend", f"must be 'local' or 'ray', got {backend!r}")
    elif address is not None:
        fail("address", f"names a Ray cluster ({address!r}), which only backend='ray' uses")
    if cache_dir is not None and not str(cache_dir).strip():
        fail("cache_dir", "is empty", "give a folder, or None for $ALIGNBOOK_CACHE")
    cache = RunCache(Path(cache_dir) if cache_dir is not None else paths.cache_dir())
    results_folder = paths.results_dir()
    check_writable(results_folder, "ALIGNBOOK_RESULTS", "results_dir")  # every sweep writes its table
    removed = cache.remove_stale_temporaries() + remove_stale_temporaries(results_folder)
    if removed:
        logger.info("removed %d temporary files that killed sweeps left behind", removed)

    blocker = None  # asked once a run is missing: the trainer it asks imports torch, which takes seconds

    # Pass 1: build each dataset, look its runs up, queue the missing ones as groups.
    records: list[dict] = []  # one per run, in table order
    tasks: list[_GroupTask] = []
    n_cached = 0
    for job in jobs:
        # A deterministic dataset whose description is remembered is built only if some run is missing.
        remember = job.deterministic and not force
        described = cache.remembered_dataset(job.kind, job.params) if remember else None
        dataset = None if described else job.build()
        if dataset is not None:
            described = _describe(dataset, job)
        lookup = _lookup_runs(spec, config, job, cache, described["fingerprint"], force)
        if dataset is None and any(result is None for _, result in lookup):
            dataset = job.build()
            if dataset.fingerprint() != described["fingerprint"]:  # not as deterministic as promised
                described = _describe(dataset, job)
                lookup = _lookup_runs(spec, config, job, cache, described["fingerprint"], force)
        if dataset is not None and job.deterministic:
            cache.remember_dataset(job.kind, job.params, described)
        inputs = group_material(job.kind, job.params, described["fingerprint"], config,
                                spec.keep_representations)
        missing: list[tuple[float, int, str]] = []
        for (lam, seed, key), result in lookup:
            n_cached += result is not None
            if result is None:
                missing.append((lam, seed, key))
            records.append({"job": job, "dataset_name": described["name"],
                            "modalities": described["modalities"], "key": key, "result": result})
        logger.info("%s [%s]: %d runs, %d cached, %d to compute", spec.name, job.label,
                    len(spec.lams) * len(spec.seeds), len(spec.lams) * len(spec.seeds) - len(missing),
                    len(missing))
        if not missing:
            continue
        if blocker is None:
            blocker = vectorization_blocker(config)
            if blocker:
                logger.info("training runs one at a time with single.fit: %s", blocker)
        run_groups = [missing] if not blocker else [[run] for run in missing]
        for runs in run_groups:
            tasks.append(_GroupTask(job.label, dataset, config, runs, inputs, spec.keep_representations,
                                    cache.root, vectorized=not blocker, force=force))
        del dataset  # groups hold what they need; the rest can be freed

    if tasks:
        # nothing is trained that could not be stored: a full or read-only disk fails here, not after hours
        cache.check_writable()
        cache.check_space(sum(entry_size(config, len(t.dataset.test), spec.keep_representations) * len(t.runs)
                              for t in tasks))
    check_space(results_folder, TABLE_ROW_BYTES * 2 * len(records), "ALIGNBOOK_RESULTS", "results_dir")
    computed: dict[str, FitResult] = {}
    with contextlib.ExitStack() as stack:
        if cluster is not None and tasks:
            n_workers = stack.enter_context(cluster).cpus  # a task per CPU, one thread each
            tasks = _split_for_workers(tasks, n_workers)
            # closed before the cluster: groups still queued or running are cancelled first
            finished = stack.enter_context(contextlib.closing(cluster.execute(tasks, _train_group)))
        else:
            work = sum(len(t.runs) * config.num_epochs * len(t.dataset.train) for t in tasks)
            n_workers = resolve_workers(workers, sum(len(t.runs) for t in tasks), work)
            tasks = _split_for_workers(tasks, n_workers)
            for task in tasks:
                task.threads = max(1, (os.cpu_count() or 1) // n_workers) if n_workers > 1 else 1
            finished = _execute(tasks, n_workers)
        if tasks:
            logger.info("%s: computing %d runs in %d groups with %d worker(s); %d runs from cache", spec.name,
                        sum(len(t.runs) for t in tasks), len(tasks), n_workers, n_cached)
        with _progress_bar(len(records), n_cached, progress, spec.name) as bar:
            for task, group_results in finished:
                if cluster is not None:  # Ray nodes return their results: this process stores them
                    _store_group(task, group_results)
                computed.update(group_results)
                bar.set_postfix_str(f"last: {task.label}", refresh=False)
                bar.update(len(group_results))
            # local groups leave out the runs another sweep on this cache was training: wait for those,
            # and train those it did not finish
            while tasks := _wait_for_other_sweeps(tasks, computed, cache, bar):
                for _, group_results in _execute(tasks, n_workers):
                    computed.update(group_results)
                    bar.update(len(group_results))

    runs: list[FitResult] = []
    for record in records:
        if record["result"] is None:
            record["result"] = computed[record["key"]]
        runs.append(record["result"])
    table = results_table(spec, records, pd)
    path = results_folder / f"{spec.name}.csv"
    atomic_write(path, table.to_csv(index=False).encode())
    atomic_write(results_folder / f"{spec.name}.yaml", spec.to_yaml().encode())
    seconds = time.perf_counter() - start
    logger.info("%s: %d runs (%d cached, %d computed) in %.1f s; table written to %s", spec.name, len(runs),
                n_cached, len(computed), seconds, path)
    return SweepResult(spec, table, runs, path, n_cached, len(computed), seconds)


def _wait_for_other_sweeps(tasks: list[_GroupTask], computed: dict[str, FitResult], cache: RunCache,
                           bar) -> list[_GroupTask]:
    """Wait for the runs of `tasks` that another sweep was training, read their entries into `computed`, and
    return, as groups, those it did not finish (it died or failed): they are trained next."""
    waiting = [(task, run) for task in tasks for run in task.runs if run[2] not in computed]
    if not waiting:
        return []
    logger.info("waiting for %d runs that another sweep on this cache is training", len(waiting))
    unfinished: dict[int, list[tuple[float, int, str]]] = {}
    for task, (lam, seed, key) in waiting:
        claim = cache.claim(key, wait=True)  # returns once the other sweep released the run or died
        try:
            found = cache.read(key, lam, seed, task.keep_representations)
        finally:
            claim.release()
        if found is None:
            unfinished.setdefault(id(task), []).append((lam, seed, key))
        else:
            computed[key] = found
            bar.update(1)
    return [dataclasses.replace(task, runs=unfinished[id(task)]) for task in tasks if id(task) in unfinished]


def _execute(tasks: list[_GroupTask], workers: int) -> Iterator[tuple[_GroupTask, dict[str, FitResult]]]:
    """Yield each group with its results as it finishes: in this process, or in a spawn process pool whose
    workers die with this process (`alignbook.sweep.workers`)."""
    if not tasks:
        return
    if workers == 1:
        for task in tasks:
            yield task, _run_group(task)
        return
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures.process import BrokenProcessPool

    # each task trains on task.threads threads: workers do not oversubscribe the cores; if this generator
    # stops early (an error, Ctrl-C), the pool stops the workers: finished groups are cached
    with process_pool(workers) as pool:
        pending = {pool.submit(_run_group, task): task for task in tasks}
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
