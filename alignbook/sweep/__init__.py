"""Sweeps: a grid of datasets x alignment weights `lam` x seeds, trained, cached and tabulated.

`spec` parses and validates what a sweep trains (`SweepSpec`), `cache` stores one entry per run keyed by
everything that decides it (`RunCache`, `run_key`), `run` builds the datasets, trains the missing runs in
this process or in workers and returns the results (`run_sweep`), `ray_backend` trains them on a Ray
cluster instead (optional, imported only when asked for), `table` lays them out one row per run and
encoder. The public names of each are re-exported here, with the dataset registry's.
"""

from alignbook.data.registry import CUSTOM_KIND, build_dataset, dataset_kinds, register_dataset
from alignbook.sweep.cache import (
    CACHE_FORMAT,
    NOT_IN_RUN_KEYS,
    RunCache,
    package_source_hash,
    run_key,
    run_sources,
)
from alignbook.sweep.run import (
    AUTO_PARALLEL_MIN_WORK,
    SweepResult,
    resolve_workers,
    run_sweep,
    vectorization_blocker,
)
from alignbook.sweep.spec import RunSpec, SweepSpec, load_spec
from alignbook.sweep.table import table_columns

__all__ = [
    "AUTO_PARALLEL_MIN_WORK", "CACHE_FORMAT", "CUSTOM_KIND", "NOT_IN_RUN_KEYS", "RunCache", "RunSpec",
    "SweepResult", "SweepSpec", "build_dataset", "dataset_kinds", "load_spec", "package_source_hash",
    "register_dataset", "resolve_workers", "run_key", "run_sources", "run_sweep", "table_columns",
    "vectorization_blocker",
]
