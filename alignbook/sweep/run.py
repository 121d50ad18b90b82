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
from alignbook.checks import fail, is_int
from alignbook.config import TrainConfig
from alignbook.data.container import PairedDataset
from alignbook.data.registry import CUSTOM_KIND, accepted_params, build_dataset, builder_for, is_deterministic
from alignbook.sweep.cache import RunCache, atomic_write, check_writable, run_key
from alignbook.sweep.spec import SweepSpec, load_spec
from alignbook.sweep.table import results_table
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
    inputs: dict  # key inputs shared by the runs, stored in each entry for inspection
    keep_representations: bool
    cache_root: Path
    vectorized: bool
    threads: int = 1  # torch and BLAS threads while training this group


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
    """Train one group, write each run's cache entry, return the results by cache key."""
    results = _train_group(task)
    _store_group(task, results)
    return results


def _store_group(task: _GroupTask, results: dict[str, FitResult]) -> None:
    """Write the cache entry of each run of a trained group."""
    cache = RunCache(task.cache_root)
    for lam, seed, key in task.runs:
        cache.write(key, results[key], {**task.inputs, "lam": lam, "seed": seed})


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
    found = []
    for lam in spec.lams:
        for seed in spec.seeds:
            key = run_key(job.kind, job.params, fingerprint, config, lam, seed, spec.keep_representations)
            result = None if force else cache.read(key, lam, seed, spec.keep_representations)
            found.append(((lam, seed, key), result))
    return found


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
    if workers == "auto":
        if work is not None and work < AUTO_PARALLEL_MIN_WORK:
            return 1
        return max(1, min(os.cpu_count() or 1, n_runs))
    if not is_int(workers) or workers < 1:
        fail("workers", f"must be a positive integer or 'auto', got {workers!r}")
    return int(workers)


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
    cache = RunCache(Path(cache_dir) if cache_dir is not None else paths.cache_dir())
    cache.check_writable()
    results_folder = paths.results_dir()
    check_writable(results_folder, "ALIGNBOOK_RESULTS", "results_dir")

    blocker = vectorization_blocker(config)
    if blocker:
        logger.info("training runs one at a time with single.fit: %s", blocker)

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
        inputs = {"dataset_kind": job.kind, "dataset_params": job.params,
                  "fingerprint": described["fingerprint"], "config_key": config.key()}
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
        run_groups = [missing] if not blocker else [[run] for run in missing]
        for runs in run_groups:
            tasks.append(_GroupTask(job.label, dataset, config, runs, inputs, spec.keep_representations,
                                    cache.root, vectorized=not blocker))
        del dataset  # groups hold what they need; the rest can be freed

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
                bar.update(len(task.runs))

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


def _execute(tasks: list[_GroupTask], workers: int) -> Iterator[tuple[_GroupTask, dict[str, FitResult]]]:
    """Yield each group with its results as it finishes: in this process, or in a spawn process pool."""
    if not tasks:
        return
    if workers == 1:
        for task in tasks:
            yield task, _run_group(task)
        return
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    # each task trains on task.threads threads: workers do not oversubscribe the cores
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    try:
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
                yield task, group_results
    except BaseException:
        # Interrupted or a group failed: drop what has not started; finished groups are already cached.
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
