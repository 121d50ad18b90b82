"""Running a sweep: a grid of datasets x `lam` x seeds, trained, measured, cached and tabulated.

`run_sweep` takes a `SweepSpec` (`alignbook.sweep.spec`) and

- builds the datasets of the grid (`alignbook.data.registry.build_dataset`, or the user's own
  `PairedDataset`s): one per grid point, or, with `data_seed: seed`, one per grid point and seed, so that a
  seed replicates the whole draw (samples, split, labelled subset) as well as the initialisation;
- looks every run up in the run cache (`sweep.cache`) and its alignment in the measurement cache
  (`sweep.measure`);
- trains the missing runs, a grid point's runs together (`Trainer.fit_many`, each run on its own data draw)
  when the configuration allows it, else one at a time (`Trainer.fit`), in this process, in worker processes
  or, with `backend="ray"`, as tasks of a Ray cluster (`sweep.ray_backend`, which returns the results here);
  each trained run is measured at once from its weights;
- measures, from their stored weights, the cached runs whose measurement is missing (an edit of the metrics
  retrains nothing);
- writes each finished run's entries at once (an interrupted sweep resumes where it stopped), and
- returns and stores the tidy table (`sweep.table`), one row per run and encoder.

Results do not depend on how runs are grouped: a run's numbers are the same alone or in any group
(`training.vectorized`), so the number of workers, the cluster's size and the machine do not change a run, its
key or its entry. Every run being trained is claimed (`storage.locks`): a second sweep on the same cache
leaves the runs the first one is training to it and waits for their entries, takes over the runs of a sweep
that died, and stops with an error naming the holder when a holder stops showing that it is alive. Nothing is
trained unless its entry can be stored: the cache must be writable and have room (`cache.entry_size`); a fully
cached sweep only reads.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alignbook import paths
from alignbook.checks import check_workers, fail
from alignbook.config import TrainConfig
from alignbook.data.container import PairedDataset
from alignbook.data.registry import (
    CUSTOM_KIND,
)
from alignbook.storage.files import (
    atomic_write,
    check_space,
    check_writable,
    remove_stale_temporaries,
)
from alignbook.storage.records import material_key
from alignbook.sweep.cache import RunCache, entry_size, group_material, run_material
from alignbook.sweep.datasets import Point, ensure_described, grid_points
from alignbook.sweep.groups import (
    GroupRun,
    GroupTask,
    claim_for_cluster,
    compute_group,
    execute,
    split_for_workers,
    store_group,
    wait_for_other_sweeps,
    without_weights,
)
from alignbook.sweep.measure import Measurements, measurement_key, measurement_material
from alignbook.sweep.spec import SweepSpec, load_spec
from alignbook.sweep.table import results_table
from alignbook.sweep.trainer import Trainer
from alignbook.training.results import FitResult

logger = logging.getLogger("alignbook")





























# ---------------------------------------------------------------------------------------------------------
# workers


# Below this much training (optimiser steps x batch size, summed over runs) 'auto' stays in one process:
# starting spawned workers (each imports torch) costs seconds, more than such a sweep takes.
AUTO_PARALLEL_MIN_WORK = 2_000_000


def run_steps(config: TrainConfig, n_train: int) -> int:
    """The most optimiser steps a run of `config` on `n_train` examples takes (its cap with early
    stopping)."""
    per_epoch = max(n_train // config.batch_size, 1)
    return config.num_steps or config.num_epochs * per_epoch


def resolve_workers(workers: int | str, n_runs: int, work: int | None = None) -> int:
    """Number of worker processes for `n_runs` runs (`work`: optimiser steps x batch size, summed over runs).

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






# ---------------------------------------------------------------------------------------------------------
# running a sweep


@dataclass
class SweepResult:
    """A finished sweep: the tidy `table` (two rows per run, one per encoder), the `runs` (row column `run`
    indexes this list; without weights), where the table was stored, and how many runs came from the cache.

    `representations(i)` recomputes run i's representations from its stored weights (for probes and any later
    analysis of representations): nothing but the weights is kept in memory or on disk.
    """

    spec: SweepSpec
    table: Any  # pandas.DataFrame
    runs: list[FitResult]
    path: Path
    n_cached: int = 0
    n_computed: int = 0
    seconds: float = 0.0
    n_measured: int = 0  # cached runs measured again (their measurement was missing)
    cache_dir: Path | None = None
    draws: list = field(default_factory=list, repr=False)  # run i's dataset draw

    def __repr__(self) -> str:
        return (f"SweepResult({self.spec.name!r}, {len(self.runs)} runs: {self.n_cached} cached, "
                f"{self.n_computed} computed, {self.n_measured} measured again in {self.seconds:.1f} s, "
                f"table at {self.path})")

    def dataset(self, run: int) -> PairedDataset:
        """The dataset run `run` was trained on (built again when the sweep did not need it)."""
        return self.draws[run].load()

    def weights(self, run: int) -> FitResult:
        """Run `run` with its stored best-checkpoint weights (read from the cache)."""
        result = self.runs[run]
        draw = self.draws[run]
        group = group_material(draw.kind, draw.params, draw.described["fingerprint"], result.config)
        key = material_key(run_material(group, result.lam, result.seed))
        found = RunCache(self.cache_dir).read(key, result.lam, result.seed, result.config, weights=True)
        if found is None:
            fail("run", f"run {run} (lam={result.lam}, seed={result.seed}) is no longer in the cache "
                        f"{self.cache_dir}", "run the sweep again")
        return found

    def representations(self, run: int, split: str = "test", rows: int | None = None, layers: bool = False):
        """`(z1, z2)` of run `run` on the first `rows` examples of `split`
        (`sweep.measure.representations`)."""
        from alignbook.sweep.measure import representations

        return representations(self.dataset(run), self.weights(run), split, rows, layers)


def _progress_bar(total: int, initial: int, enabled: bool, name: str):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="run", desc=name, disable=not enabled, dynamic_ncols=True)


# Bytes a results table takes per row (an encoder of a run), generously: a dozen numbers, two hashes.
TABLE_ROW_BYTES = 1024


def _lookup(spec: SweepSpec, config: TrainConfig, points: list[Point], cache: RunCache,
            measurements: Measurements, force: bool) -> list[dict]:
    """One record per run, in table order: its point, draw, keys, cached result and cached measurement."""
    records = []
    for point in points:
        for lam in spec.lams:
            for seed in spec.seeds:
                draw = point.draw_for(spec, seed)
                ensure_described(draw, cache, force)
                group = group_material(draw.kind, draw.params, draw.described["fingerprint"], config)
                material = run_material(group, lam, seed)
                key = material_key(material)
                result = None if force else cache.read(key, lam, seed, config)
                measured = None if result is None else measurements.read(measurement_key(key, config))
                records.append({"point": point, "draw": draw, "lam": lam, "seed": seed, "key": key,
                                "material": material, "result": result, "measured": measured})
    return records


def _tasks(spec: SweepSpec, config: TrainConfig, records: list[dict], cache: RunCache, trainer: Trainer,
           force: bool) -> list[GroupTask]:
    """Groups of the runs to train (per grid point) and of the cached runs to measure (per grid point)."""
    blocker = None  # asked only when a run is missing: the trainer imports torch, which takes seconds
    tasks = []
    by_point: dict[int, dict[str, list[dict]]] = {}
    for record in records:
        if record["result"] is None:
            by_point.setdefault(id(record["point"]), {}).setdefault("train", []).append(record)
        elif record["measured"] is None:
            by_point.setdefault(id(record["point"]), {}).setdefault("measure", []).append(record)
    for parts in by_point.values():
        for kind, part in parts.items():
            draws = list(dict.fromkeys(id(r["draw"]) for r in part))
            draw_of = {id(r["draw"]): r["draw"] for r in part}
            runs = [GroupRun(r["lam"], r["seed"], draws.index(id(r["draw"])), r["key"], r["material"],
                         measurement_material(r["key"], config)) for r in part]
            datasets = [draw_of[d].load() for d in draws]
            label = part[0]["point"].label
            if kind == "train" and blocker is None:
                blocker = trainer.blocker(config)
                if blocker:
                    logger.info("training runs one at a time with single.fit: %s", blocker)
            vectorized = kind == "train" and not blocker
            groups = [runs] if vectorized or kind == "measure" else [[run] for run in runs]
            for group in groups:
                tasks.append(GroupTask(label, config, group, datasets, kind == "train", vectorized,
                                        cache.root, trainer, force=force))
    return tasks


# The book's runner names a file here for each notebook it executes; from the keys written to it, the next
# build counts the runs already cached before it starts (`cached_keys`)
RUN_LOG_VARIABLE = "ALIGNBOOK_RUN_LOG"


def log_run_keys(records: list[dict]) -> None:
    """Append the keys of a sweep's runs, one per line, to the file $ALIGNBOOK_RUN_LOG names (nothing when the
    variable is unset or empty)."""
    target = os.environ.get(RUN_LOG_VARIABLE, "").strip()
    if target:
        with open(target, "a", encoding="ascii") as log:
            log.write("".join(record["key"] + "\n" for record in records))


def cached_keys(keys, cache_dir: str | os.PathLike | None = None) -> int:
    """How many of the run keys `keys` have an entry in the cache (default $ALIGNBOOK_CACHE). Counts entries
    present without reading them: a damaged one is found, and retrained, when a sweep reads it."""
    runs = RunCache(Path(cache_dir) if cache_dir is not None else paths.cache_dir()).runs
    return sum(runs.record_path(key).is_file() for key in keys)


def count_cached(spec: SweepSpec | Mapping | str | os.PathLike,
                 data: PairedDataset | Mapping | None = None, *,
                 cache_dir: str | os.PathLike | None = None) -> tuple[int, int]:
    """`(cached, to_train)`: how many runs of `spec` the cache holds and how many a sweep would train, without
    training (datasets whose description is not remembered are built to be described). For the wait a build
    announces before it starts."""
    spec = load_spec(spec)
    cache = RunCache(Path(cache_dir) if cache_dir is not None else paths.cache_dir())
    records = _lookup(spec, spec.config(), grid_points(spec, data), cache, Measurements(cache.root),
                      force=False)
    missing = sum(record["result"] is None for record in records)
    return len(records) - missing, missing


def run_sweep(spec: SweepSpec | Mapping | str | os.PathLike, data: PairedDataset | Mapping | None = None, *,
              cache_dir: str | os.PathLike | None = None, workers: int | str = "auto", progress: bool = True,
              force: bool = False, backend: str = "local", address: str | None = None,
              trainer: Trainer | None = None) -> SweepResult:
    """Train and measure every run of `spec` not yet cached, then return and store the tidy results table.

    `spec` is a `SweepSpec`, a dict or a YAML path; `data` a `PairedDataset` (or dict name -> dataset) to use
    instead of the spec's dataset kind. `cache_dir` defaults to `paths.cache_dir()` ($ALIGNBOOK_CACHE);
    `force` retrains and overwrites cached runs; `workers` > 1 trains groups in that many processes ('auto':
    one per core when the work repays starting them). `backend="ray"` trains the groups as tasks of a Ray
    cluster instead (`workers` is then unused): the cluster at `address` ("HOST:PORT" of its head, or "auto"),
    else the one the RAY_ADDRESS environment variable names, else a local instance with this machine's cores;
    see `alignbook.sweep.ray_backend`. `trainer` replaces the package's trainers and measurement
    (`sweep.trainer`: stand-ins for tests, or another trainer).
    """
    import pandas as pd

    start = time.perf_counter()
    spec = load_spec(spec)
    config = spec.config()
    trainer = trainer if trainer is not None else Trainer()
    points = grid_points(spec, data)
    if workers != "auto":
        resolve_workers(workers, 1)  # validate before any work
    cluster = None
    if backend == "ray":  # fails at once when Ray is missing or no cluster answers at the address
        from alignbook.sweep.ray_backend import RayBackend

        cluster = RayBackend(address if address is not None else os.environ.get("RAY_ADDRESS") or None)
    elif backend != "local":
        fail("backend", f"must be 'local' or 'ray', got {backend!r}")
    elif address is not None:
        fail("address", f"names a Ray cluster ({address!r}), which only backend='ray' uses")
    if cache_dir is not None and not str(cache_dir).strip():
        fail("cache_dir", "is empty", "give a folder, or None for $ALIGNBOOK_CACHE")
    cache = RunCache(Path(cache_dir) if cache_dir is not None else paths.cache_dir())
    measurements = Measurements(cache.root)
    results_folder = paths.results_dir()
    check_writable(results_folder, "ALIGNBOOK_RESULTS", "results_dir")  # every sweep writes its table
    removed = (cache.remove_stale_temporaries() + measurements.remove_stale_temporaries()
               + remove_stale_temporaries(results_folder))
    if removed:
        logger.info("removed %d temporary files that killed sweeps left behind", removed)

    records = _lookup(spec, config, points, cache, measurements, force)
    log_run_keys(records)
    tasks = _tasks(spec, config, records, cache, trainer, force)
    n_train = sum(len(t.runs) for t in tasks if t.train)
    n_measure = sum(len(t.runs) for t in tasks if not t.train)
    n_cached = len(records) - n_train
    logger.info("%s: %d runs, %d cached (%d of them to measure), %d to train", spec.name, len(records),
                n_cached, n_measure, n_train)
    if n_train:  # nothing is trained that could not be stored: a full or read-only disk fails here
        cache.check_writable()
        cache.check_space(entry_size(config) * n_train)
    check_space(results_folder, TABLE_ROW_BYTES * 2 * len(records), "ALIGNBOOK_RESULTS", "results_dir")

    computed: dict[str, FitResult] = {}
    claims = []
    with contextlib.ExitStack() as stack:
        if cluster is not None and tasks:
            n_workers = stack.enter_context(cluster).cpus  # a task per CPU, one thread each
            tasks, held, claims = claim_for_cluster(tasks, cache, config)
            tasks = split_for_workers(tasks, n_workers)
            # closed before the cluster: groups still queued or running are cancelled first
            finished = stack.enter_context(contextlib.closing(cluster.execute(tasks, compute_group)))
        else:
            work = sum(run_steps(config, len(t.datasets[0].train)) * config.batch_size * len(t.runs)
                       for t in tasks if t.train)
            n_workers = resolve_workers(workers, sum(len(t.runs) for t in tasks), work)
            tasks = split_for_workers(tasks, n_workers)
            for task in tasks:
                task.threads = max(1, (os.cpu_count() or 1) // n_workers) if n_workers > 1 else 1
            finished = execute(tasks, n_workers)
            held = tasks  # local groups leave out the runs another sweep on this cache is training
        if tasks:
            logger.info("%s: training %d and measuring %d runs in %d groups with %d worker(s)", spec.name,
                        n_train, n_measure, len(tasks), n_workers)
        try:
            with _progress_bar(len(records), n_cached - n_measure, progress, spec.name) as bar:
                for task, group_results in finished:
                    if cluster is not None:  # Ray nodes return their results: this process stores them
                        store_group(task, group_results)
                        group_results = without_weights(group_results)
                    computed.update(group_results)
                    bar.set_postfix_str(f"last: {task.label}", refresh=False)
                    bar.update(len(group_results))
                # wait for the runs another sweep on this cache was training, then read (or train, if it
                # died) and measure them here
                local_workers = 1 if cluster is not None else n_workers
                while held := wait_for_other_sweeps(held, computed, cache, bar):
                    for _, group_results in execute(held, local_workers):
                        computed.update(group_results)
                        bar.update(len(group_results))
        finally:
            for claim in claims:
                claim.release()

    runs: list[FitResult] = []
    for record in records:
        if record["key"] in computed:
            record["result"] = computed[record["key"]]
        else:
            record["result"].alignment, record["result"].alignment_chance = record["measured"]
        runs.append(record["result"])
    table = results_table(spec, records, pd)
    for record in records:  # built datasets are not kept: `SweepResult.dataset` builds one again when asked
        if record["draw"].kind != CUSTOM_KIND:
            record["draw"].dataset = None
    safe_name = spec.name  # validated by the spec: one plain file name
    path = results_folder / f"{safe_name}.csv"
    atomic_write(path, table.to_csv(index=False).encode())
    atomic_write(results_folder / f"{safe_name}.yaml", spec.to_yaml().encode())
    seconds = time.perf_counter() - start
    logger.info("%s: %d runs (%d cached, %d trained, %d measured again) in %.1f s; table written to %s",
                spec.name, len(runs), n_cached, n_train, n_measure, seconds, path)
    return SweepResult(spec, table, runs, path, n_cached, n_train, seconds, n_measure, cache.root,
                       [record["draw"] for record in records])


