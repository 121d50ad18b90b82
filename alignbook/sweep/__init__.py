"""Sweeps: a grid of datasets x alignment weights `lam` x seeds, trained, measured, cached and tabulated.

`spec` parses and validates what a sweep trains (`SweepSpec`), `cache` stores one entry per trained run keyed
by everything that decides its training (`RunCache`, `run_key`), `measure` the alignment of each run's
encoders, computed from its stored weights and cached apart, `trainer` says how runs are trained and measured
(`Trainer`, replaceable), `run` builds the datasets, trains the missing runs in this process or in workers and
returns the results (`run_sweep`), `ray_backend` trains them on a Ray cluster instead (optional, imported only
when asked for), `table` lays them out one row per run and encoder. The public names of each are re-exported
here, with the dataset registry's.
"""

from alignbook.data.registry import (
    CUSTOM_KIND,
    build_dataset,
    dataset_kinds,
    register_dataset,
    unregister_dataset,
)
from alignbook.sweep.cache import MEASUREMENT_FIELDS, TRAINERS, RunCache, run_key, training_code
from alignbook.sweep.measure import Measurements, measure_run, measurement_key, representations
from alignbook.sweep.run import (
    AUTO_PARALLEL_MIN_WORK,
    RUN_LOG_VARIABLE,
    SweepResult,
    cached_keys,
    count_cached,
    resolve_workers,
    run_steps,
    run_sweep,
)
from alignbook.sweep.spec import RunSpec, SweepSpec, load_spec
from alignbook.sweep.table import table_columns
from alignbook.sweep.trainer import Trainer

__all__ = [
    "AUTO_PARALLEL_MIN_WORK", "CUSTOM_KIND", "MEASUREMENT_FIELDS", "RUN_LOG_VARIABLE", "TRAINERS",
    "build_dataset", "cached_keys", "count_cached", "dataset_kinds", "load_spec", "measure_run",
    "measurement_key", "Measurements", "register_dataset", "representations", "resolve_workers", "run_key",
    "run_steps", "run_sweep", "RunCache", "RunSpec", "SweepResult", "SweepSpec", "table_columns", "Trainer",
    "training_code", "unregister_dataset",
]
