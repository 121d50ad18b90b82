"""Sweeps: a grid of datasets x alignment weights `lam` x seeds, trained, cached and tabulated.

A sweep is described by a `SweepSpec` (usually a YAML file, see `configs/`) and run by `run_sweep`, which

- builds each dataset of the grid (`build_dataset`, or the user's own `PairedDataset`s),
- looks every run up in an on-disk cache (one entry per run, keyed by everything that decides its result,
  including the package's version and the source of every module a run goes through, `run_sources()`, so
  changed training code never serves a stale result),
- trains the missing runs: runs sharing a dataset are trained together by `vectorized.fit_many` when the
  configuration allows it (MLP encoders, fixed temperature), otherwise one at a time by `train.fit`,
- writes each finished run's cache entry at once (an interrupted sweep resumes where it stopped), and
- returns and stores a tidy table with one row per run and encoder.

Cache entry layout: `<cache>/runs/<key[:2]>/<key>.json` holds the run's scores, history and the inputs of its
key; `<key>.npz` (arrays `z1`, `z2`) holds the test representations when the sweep keeps them, and the JSON
records that file's sha256. Both are written atomically; the JSON, written last, marks the entry complete.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import io
import itertools
import json
import logging
import math
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import Any

import numpy as np

from alignbook import paths
from alignbook.checks import fail
from alignbook.config import TrainConfig
from alignbook.data import PairedDataset
from alignbook.results import FitResult
from alignbook.runtime import limited_threads

logger = logging.getLogger("alignbook")

CACHE_FORMAT = 1
CUSTOM_KIND = "custom"  # dataset kind recorded for datasets handed to run_sweep directly
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

# ---------------------------------------------------------------------------------------------------------
# dataset registry


@dataclass(frozen=True)
class _Builder:
    """A dataset builder: a callable, or a "module:function" path imported on first use (cheap import)."""

    target: Callable[..., PairedDataset] | str
    # Output decided by the parameters and the package source alone (no files read): the dataset's
    # fingerprint may then be remembered, and a fully cached sweep need not build the dataset again.
    deterministic: bool = False

    def resolve(self, kind: str) -> Callable[..., PairedDataset]:
        if callable(self.target):
            return self.target
        module_name, _, function_name = self.target.partition(":")
        try:
            return getattr(import_module(module_name), function_name)
        except (ImportError, AttributeError) as exc:
            fail("dataset.kind", f"{kind!r} needs {self.target}, which cannot be imported ({exc})")


_BUILDERS: dict[str, _Builder] = {
    "synthetic": _Builder("alignbook.synthetic:make_dataset", deterministic=True),
    "mfeat": _Builder("alignbook.data:load_mfeat"),
    "basicmotions": _Builder("alignbook.data:load_basicmotions"),
    "multibench": _Builder("alignbook.data:load_multibench"),
    "avmnist": _Builder("alignbook.data:load_avmnist"),
}


def register_dataset(kind: str, builder: Callable[..., PairedDataset], *,
                     deterministic: bool = False) -> None:
    """Make `kind` usable in sweep specs: `builder(**params)` must return a `PairedDataset`.

    `deterministic=True` promises that the data depend on the parameters and alignbook's source only (no
    files, no other package's version): re-runs then skip building datasets whose runs are all cached.
    Registration lives in the current process; worker processes receive built datasets, not builders.
    """
    if not isinstance(kind, str) or not _NAME_PATTERN.match(kind) or kind == CUSTOM_KIND:
        fail("kind", f"must be a short name of letters, digits, '_', '.', '-' (not {CUSTOM_KIND!r}), "
                     f"got {kind!r}")
    if not callable(builder):
        fail("builder", f"must be callable, got {type(builder).__name__}")
    _BUILDERS[kind] = _Builder(builder, deterministic=bool(deterministic))


def dataset_kinds() -> list[str]:
    """The dataset kinds a spec may name."""
    return sorted(_BUILDERS)


def _builder(kind: str) -> Callable[..., PairedDataset]:
    if kind not in _BUILDERS:
        fail("dataset.kind", f"unknown dataset kind {kind!r}", f"known kinds: {', '.join(dataset_kinds())}")
    return _BUILDERS[kind].resolve(kind)


def _accepted_params(builder: Callable) -> tuple[set[str], bool]:
    """Names a builder accepts and whether it takes arbitrary keyword arguments."""
    try:
        parameters = inspect.signature(builder).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature: accept anything
        return set(), True
    names = {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return names, any(p.kind == p.VAR_KEYWORD for p in parameters)


def build_dataset(kind: str, **params) -> PairedDataset:
    """Build a dataset of a registered kind, e.g. `build_dataset("synthetic", redundancy=4, depth=1)`."""
    builder = _builder(kind)
    names, any_keyword = _accepted_params(builder)
    unknown = sorted(set(params) - names) if not any_keyword else []
    if unknown:
        fail(f"dataset.{unknown[0]}", f"is not a parameter of dataset kind {kind!r}",
             f"accepted: {', '.join(sorted(names))}")
    call_params = {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}
    dataset = builder(**call_params)
    if not isinstance(dataset, PairedDataset):
        fail("dataset.kind", f"builder of {kind!r} returned {type(dataset).__name__}, not a PairedDataset")
    return dataset


# ---------------------------------------------------------------------------------------------------------
# sweep specification

_SPEC_KEYS = ("name", "dataset", "dataset_grid", "lams", "seeds", "train", "keep_representations",
              "data_seed")


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _plain(value, param: str):
    """A JSON/YAML-safe copy of a dataset parameter value (scalars and lists of them)."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if _is_int(value):
        return int(value)
    if _is_number(value):
        if not math.isfinite(float(value)):
            fail(param, f"must be finite, got {value!r}")
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v, param) for v in value]
    fail(param, f"must be a number, string, boolean or list of them, got {type(value).__name__} {value!r}")


def _check_no_duplicates(param: str, values: list) -> None:
    seen: set[str] = set()
    for value in values:
        text = json.dumps(value, sort_keys=True)
        if text in seen:
            fail(param, f"contains {value!r} more than once")
        seen.add(text)


def _check_list(param: str, values) -> list:
    if not isinstance(values, (list, tuple)):
        fail(param, f"expected a list, got {type(values).__name__} {values!r}")
    if len(values) == 0:
        fail(param, "must not be empty")
    return list(values)


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: a point of the dataset grid, a `lam` and a seed."""

    dataset_params: dict
    lam: float
    seed: int


@dataclass(frozen=True)
class SweepSpec:
    """What a sweep trains: every dataset of the grid x every `lam` x every seed, with one training config.

    `dataset` holds the dataset kind and its fixed parameters (e.g. `{"kind": "synthetic", "n_samples":
    65536}`), `dataset_grid` the varied ones (cartesian product, e.g. `{"redundancy": [0, 4], "depth": [1,
    3]}`), `train` overrides of `TrainConfig`, `data_seed` the seed that draws and splits the data (passed as
    `seed` to builders that take one). `dataset` may be empty when `run_sweep` gets the data directly.
    """

    name: str
    lams: tuple[float, ...]
    seeds: tuple[int, ...]
    dataset: dict = field(default_factory=dict)
    dataset_grid: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)
    keep_representations: bool = False
    data_seed: int = 0

    @classmethod
    def from_dict(cls, values: Mapping) -> SweepSpec:
        """Validate a plain dict (e.g. parsed YAML); every error names the offending field."""
        if not isinstance(values, Mapping):
            fail("spec", f"expected a mapping of {', '.join(_SPEC_KEYS)}, got {type(values).__name__}")
        unknown = [k for k in values if k not in _SPEC_KEYS]
        if unknown:
            fail(str(unknown[0]), "is not a sweep spec key", f"known keys: {', '.join(_SPEC_KEYS)}")
        for required in ("name", "lams", "seeds"):
            if required not in values:
                fail(required, "is required")

        name = values["name"]
        if not isinstance(name, str) or not _NAME_PATTERN.match(name):
            fail("name", f"must be a short name of letters, digits, '_', '.', '-' (used as a file name), "
                         f"got {name!r}")

        lams = _check_list("lams", values["lams"])
        for lam in lams:
            if not _is_number(lam):
                fail("lams", f"expected numbers, got {type(lam).__name__} {lam!r}")
            if not math.isfinite(float(lam)) or lam < 0:
                fail("lams", f"every lam must be a finite number >= 0, got {lam!r}")
        lams = [float(lam) for lam in lams]
        _check_no_duplicates("lams", lams)

        seeds = _check_list("seeds", values["seeds"])
        for seed in seeds:
            if not _is_int(seed) or seed < 0:
                fail("seeds", f"expected integers >= 0, got {seed!r}")
        seeds = [int(s) for s in seeds]
        _check_no_duplicates("seeds", seeds)

        dataset = values.get("dataset") or {}
        if not isinstance(dataset, Mapping):
            fail("dataset", f"expected a mapping with 'kind' and fixed parameters, got "
                            f"{type(dataset).__name__}")
        dataset = {str(k): _plain(v, f"dataset.{k}") for k, v in dataset.items()}
        grid = values.get("dataset_grid") or {}
        if not isinstance(grid, Mapping):
            fail("dataset_grid", f"expected a mapping of parameter -> list of values, got "
                                 f"{type(grid).__name__}")
        grid = {str(k): _check_list(f"dataset_grid.{k}", v) for k, v in grid.items()}
        grid = {k: [_plain(v, f"dataset_grid.{k}") for v in vs] for k, vs in grid.items()}
        for key, grid_values in grid.items():
            _check_no_duplicates(f"dataset_grid.{key}", grid_values)
            if key == "kind":
                fail("dataset_grid.kind", "the dataset kind cannot vary within a sweep",
                     "write one spec per kind")
            if key in dataset:
                fail(f"dataset_grid.{key}", "is also a fixed parameter in 'dataset'; give it in one place")
        if dataset:
            kind = dataset.get("kind")
            if not isinstance(kind, str):
                fail("dataset.kind", f"is required and must be a string, got {kind!r}",
                     f"known kinds: {', '.join(dataset_kinds())}")
            if kind not in _BUILDERS:
                fail("dataset.kind", f"unknown dataset kind {kind!r}",
                     f"known kinds: {', '.join(dataset_kinds())}")
        elif grid:
            fail("dataset.kind", "dataset_grid is given but dataset names no kind")

        data_seed = values.get("data_seed", 0)
        if not _is_int(data_seed) or data_seed < 0:
            fail("data_seed", f"must be an integer >= 0, got {data_seed!r}")
        if "data_seed" in values and ("seed" in dataset or "seed" in grid):
            fail("data_seed", "the data seed is also given as dataset parameter 'seed'; give it in one place")

        train = values.get("train") or {}
        if not isinstance(train, Mapping):
            fail("train", f"expected a mapping of training options, got {type(train).__name__}")
        train = dict(train)
        TrainConfig.from_dict(train)  # unknown options and bad values fail here, before any training

        keep = values.get("keep_representations", False)
        if not isinstance(keep, bool):
            fail("keep_representations", f"must be true or false, got {keep!r}")

        return cls(name=name, lams=tuple(lams), seeds=tuple(seeds), dataset=dataset, dataset_grid=grid,
                   train=train, keep_representations=keep, data_seed=int(data_seed))

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> SweepSpec:
        """Read and validate a YAML spec file."""
        import yaml

        path = Path(path)
        try:
            text = path.read_text()
        except OSError as exc:
            fail("spec", f"cannot read {path} ({exc.strerror or exc})")
        try:
            values = yaml.load(text, Loader=_spec_loader())
        except yaml.YAMLError as exc:
            fail("spec", f"{path} is not valid YAML ({exc})")
        return cls.from_dict(values if values is not None else {})

    def to_dict(self) -> dict:
        """Plain data (lists, dicts, scalars) that `from_dict` turns back into an equal spec."""
        return {"name": self.name, "dataset": dict(self.dataset),
                "dataset_grid": {k: list(v) for k, v in self.dataset_grid.items()},
                "lams": list(self.lams), "seeds": list(self.seeds), "train": dict(self.train),
                "keep_representations": self.keep_representations, "data_seed": self.data_seed}

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None)

    @property
    def kind(self) -> str | None:
        return self.dataset.get("kind")

    def config(self) -> TrainConfig:
        return TrainConfig.from_dict(self.train)

    def grid_points(self) -> list[dict]:
        """Every combination of the grid's values, in the order given (one dict per dataset)."""
        keys = list(self.dataset_grid)
        return [dict(zip(keys, combo, strict=True))
                for combo in itertools.product(*(self.dataset_grid[k] for k in keys))]

    def dataset_params(self, point: Mapping) -> dict:
        """The builder arguments of one grid point: fixed parameters and the point's (the data seed is added
        by the sweep for builders that take `seed`)."""
        params = {k: v for k, v in self.dataset.items() if k != "kind"}
        params.update(point)
        return params

    def expand(self) -> list[RunSpec]:
        """All runs, dataset-major then `lam` then seed (the order of the result table)."""
        return [RunSpec(point, lam, seed)
                for point in self.grid_points() for lam in self.lams for seed in self.seeds]

    def __len__(self) -> int:
        return len(self.grid_points()) * len(self.lams) * len(self.seeds)


@functools.cache
def _spec_loader() -> type:
    """A safe YAML loader that also reads `1e-3` as a number (YAML 1.1 reads it as a string)."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    float_pattern = re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$")
    Loader.add_implicit_resolver("tag:yaml.org,2002:float", float_pattern, list("-+0123456789"))
    return Loader


def load_spec(spec: SweepSpec | Mapping | str | os.PathLike) -> SweepSpec:
    """Accept a spec, a dict or a YAML path."""
    if isinstance(spec, SweepSpec):
        return spec
    if isinstance(spec, Mapping):
        return SweepSpec.from_dict(spec)
    if isinstance(spec, (str, os.PathLike)):
        return SweepSpec.from_yaml(spec)
    fail("spec", f"expected a SweepSpec, a dict or a YAML path, got {type(spec).__name__}")


# ---------------------------------------------------------------------------------------------------------
# cache keys and entries


# Modules that only drive, analyse or present results: a cached run never passes through them (dataset
# builders, trainers, metrics and this module do), so editing them keeps the cache. Data that a study module
# builds still enters the key through the dataset's fingerprint.
NOT_IN_RUN_KEYS = frozenset({"__main__.py", "analysis.py", "analysis_study.py", "bench.py", "book.py",
                             "claims.py", "cli.py", "paths.py", "plotting.py", "realdata_study.py",
                             "studies.py"})


def run_sources() -> list[Path]:
    """The package's Python files whose code can change a run's result: all but NOT_IN_RUN_KEYS."""
    root = Path(__file__).resolve().parent
    return [source for source in sorted(root.rglob("*.py"))
            if source.relative_to(root).as_posix() not in NOT_IN_RUN_KEYS]


@functools.cache
def package_source_hash() -> str:
    """sha256 of `run_sources()`: any change to code a run goes through invalidates cached runs."""
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for source in run_sources():
        digest.update(source.relative_to(root).as_posix().encode() + b"\0")
        digest.update(source.read_bytes() + b"\0")
    return digest.hexdigest()


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "tolist"):  # numpy arrays and torch tensors
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _hash_inputs(inputs: dict) -> str:
    """sha256 of `inputs` plus the package version and the source of the code runs go through."""
    import alignbook

    text = json.dumps({**inputs, "version": alignbook.__version__, "source": package_source_hash()},
                      sort_keys=True, default=_json_default)
    return hashlib.sha256(text.encode()).hexdigest()


def run_key(dataset_kind: str, dataset_params: Mapping, fingerprint: str, config: TrainConfig, lam: float,
            seed: int, keep_representations: bool) -> str:
    """sha256 of everything that decides a run's cached result, the package version and source included."""
    return _hash_inputs({"dataset": {"kind": dataset_kind, "params": dict(dataset_params),
                                     "fingerprint": fingerprint},
                         "config": config.to_dict(), "lam": float(lam), "seed": int(seed),
                         "keep_representations": bool(keep_representations)})


def _check_writable(folder: Path, env_var: str, what: str) -> None:
    """Fail early, before any training, when results could not be stored."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-"):
            pass
    except OSError as exc:
        fail(what, f"cannot write to {folder} ({exc.strerror or exc})",
             f"set the environment variable {env_var} to a writable folder")


def _atomic_write(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over `path` (never half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


class RunCache:
    """One JSON (+ npz) entry per run under `<root>/runs/<key[:2]>/`."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.runs_dir = self.root / "runs"

    def json_path(self, key: str) -> Path:
        return self.runs_dir / key[:2] / f"{key}.json"

    def npz_path(self, key: str) -> Path:
        return self.runs_dir / key[:2] / f"{key}.npz"

    def check_writable(self) -> None:
        _check_writable(self.runs_dir, "ALIGNBOOK_CACHE", "cache_dir")

    def _fingerprint_path(self, kind: str, params: Mapping) -> Path:
        return self.root / "datasets" / f"{_hash_inputs({'kind': kind, 'params': dict(params)})}.json"

    def remembered_dataset(self, kind: str, params: Mapping) -> dict | None:
        """Fingerprint, name and modality names a deterministic builder gave for these parameters."""
        try:
            entry = json.loads(self._fingerprint_path(kind, params).read_text())
            if isinstance(entry["fingerprint"], str) and isinstance(entry["name"], str) \
                    and len(entry["modalities"]) == 2:
                return entry
        except (OSError, ValueError, KeyError, TypeError):  # absent or damaged: the dataset is built
            pass
        return None

    def remember_dataset(self, kind: str, params: Mapping, described: Mapping) -> None:
        _atomic_write(self._fingerprint_path(kind, params), json.dumps(dict(described)).encode())

    def write(self, key: str, result: FitResult, inputs: Mapping) -> None:
        """Store one run; the representations (if any) first, the JSON that completes the entry last."""
        representations = None
        if result.z1 is not None and result.z2 is not None:
            buffer = io.BytesIO()
            np.savez(buffer, z1=np.asarray(result.z1), z2=np.asarray(result.z2))
            data = buffer.getvalue()
            _atomic_write(self.npz_path(key), data)
            representations = {"file": self.npz_path(key).name, "sha256": hashlib.sha256(data).hexdigest()}
        scalars = {f.name: getattr(result, f.name) for f in dataclasses.fields(result)
                   if f.name not in ("config", "z1", "z2")}
        entry = {"format": CACHE_FORMAT, "key": key, "inputs": dict(inputs),
                 "config": result.config.to_dict(), "result": scalars, "representations": representations}
        text = json.dumps(entry, default=_json_default, indent=1)
        _atomic_write(self.json_path(key), text.encode())

    def read(self, key: str, lam: float, seed: int, want_representations: bool) -> FitResult | None:
        """The cached run, or None when absent; an unreadable entry is logged and treated as absent."""
        path = self.json_path(key)
        if not path.exists():
            return None
        try:
            return self._read(path, key, lam, seed, want_representations)
        except Exception as exc:  # a damaged entry must never crash the sweep nor enter the table
            logger.warning("cache entry %s is unreadable (%s: %s); recomputing that run",
                           path, type(exc).__name__, exc)
            return None

    def _read(self, path: Path, key: str, lam: float, seed: int, want_representations: bool) -> FitResult:
        entry = json.loads(path.read_text())
        if not isinstance(entry, dict) or entry.get("format") != CACHE_FORMAT or entry.get("key") != key:
            raise ValueError("not an entry of this key and cache format")
        scalars = entry["result"]
        known = {f.name for f in dataclasses.fields(FitResult)} - {"config", "z1", "z2"}
        result = FitResult(config=TrainConfig.from_dict(entry["config"]),
                           **{k: v for k, v in scalars.items() if k in known})
        if result.lam != float(lam) or result.seed != int(seed) or result.status not in ("ok", "failed"):
            raise ValueError(f"holds lam={result.lam}, seed={result.seed}, status={result.status!r}")
        if want_representations:
            info = entry.get("representations")
            if not info:
                raise ValueError("has no representations")
            data = self.npz_path(key).read_bytes()
            if hashlib.sha256(data).hexdigest() != info["sha256"]:
                raise ValueError(f"{self.npz_path(key).name} does not match its recorded checksum")
            with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
                result.z1, result.z2 = arrays["z1"], arrays["z2"]
        return result


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


def _fit_many(dataset, lams, seeds, config, *, keep_representations):
    """The vectorised trainer (a seam tests replace)."""
    from alignbook.vectorized import fit_many

    return fit_many(dataset, lams, seeds, config, keep_representations=keep_representations, progress=False)


def _fit(dataset, lam, seed, config, *, keep_representations):
    """The one-run trainer (a seam tests replace)."""
    from alignbook.train import fit

    return fit(dataset, lam=lam, seed=seed, config=config, keep_representations=keep_representations,
               on_divergence="mark", progress=False)


def _run_group(task: _GroupTask) -> dict[str, FitResult]:
    """Train one group, write each run's cache entry, return the results by cache key."""
    cache = RunCache(task.cache_root)
    results: dict[str, FitResult] = {}
    with limited_threads(task.threads):
        if task.vectorized:
            # configurations fit_many refuses never get here (vectorization_blocker): an error here is real;
            # fit_many returns the runs (lams[i], seeds[i]) in the order given
            trained = _fit_many(task.dataset, [lam for lam, _, _ in task.runs],
                                [seed for _, seed, _ in task.runs], task.config,
                                keep_representations=task.keep_representations)
            results = {key: result for (_, _, key), result in zip(task.runs, trained, strict=True)}
        for lam, seed, key in task.runs:
            if key not in results:
                results[key] = _fit(task.dataset, lam, seed, task.config,
                                    keep_representations=task.keep_representations)
            cache.write(key, results[key], {**task.inputs, "lam": lam, "seed": seed})
    return results


def vectorization_blocker(config: TrainConfig) -> str:
    """Why runs with `config` cannot be trained together by `fit_many` ('' when they can)."""
    if config.encoder != "mlp":
        return f"encoder {config.encoder!r} is not an MLP"
    if config.learn_temperature:
        return "the temperature is learned"
    try:
        from alignbook.vectorized import check_vectorizable
    except ImportError as exc:
        return f"alignbook.vectorized is unavailable ({exc})"
    try:
        check_vectorizable(config)
    except ValueError as exc:
        return str(exc)
    return ""


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
    builder = _builder(spec.kind)
    names, any_keyword = _accepted_params(builder)
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
                                _BUILDERS[spec.kind].deterministic))
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
    if not _is_int(workers) or workers < 1:
        fail("workers", f"must be a positive integer or 'auto', got {workers!r}")
    return int(workers)


def _progress_bar(total: int, initial: int, enabled: bool, name: str):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="run", desc=name, disable=not enabled, dynamic_ncols=True)


def run_sweep(spec: SweepSpec | Mapping | str | os.PathLike, data: PairedDataset | Mapping | None = None, *,
              cache_dir: str | os.PathLike | None = None, workers: int | str = "auto", progress: bool = True,
              force: bool = False) -> SweepResult:
    """Train every run of `spec` not yet cached, then return and store the tidy results table.

    `spec` is a `SweepSpec`, a dict or a YAML path; `data` a `PairedDataset` (or dict name -> dataset) to use
    instead of the spec's dataset kind. `cache_dir` defaults to `paths.cache_dir()` ($ALIGNBOOK_CACHE);
    `force` retrains and overwrites cached runs; `workers` > 1 trains groups in that many processes.
    """
    import pandas as pd

    start = time.perf_counter()
    spec = load_spec(spec)
    config = spec.config()
    jobs = _dataset_jobs(spec, data)
    if workers != "auto":
        resolve_workers(workers, 1)  # validate before any work
    cache = RunCache(Path(cache_dir) if cache_dir is not None else paths.cache_dir())
    cache.check_writable()
    results_folder = paths.results_dir()
    _check_writable(results_folder, "ALIGNBOOK_RESULTS", "results_dir")

    blocker = vectorization_blocker(config)
    if blocker:
        logger.info("training runs one at a time with train.fit: %s", blocker)

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

    work = sum(len(t.runs) * config.num_epochs * len(t.dataset.train) for t in tasks)
    n_workers = resolve_workers(workers, sum(len(t.runs) for t in tasks), work)
    tasks = _split_for_workers(tasks, n_workers)
    for task in tasks:
        task.threads = max(1, (os.cpu_count() or 1) // n_workers) if n_workers > 1 else 1
    if tasks:
        logger.info("%s: computing %d runs in %d groups with %d worker(s); %d runs from cache", spec.name,
                    sum(len(t.runs) for t in tasks), len(tasks), n_workers, n_cached)
    computed: dict[str, FitResult] = {}
    with _progress_bar(len(records), n_cached, progress, spec.name) as bar:
        for task, group_results in _execute(tasks, n_workers):
            computed.update(group_results)
            bar.set_postfix_str(f"last: {task.label}", refresh=False)
            bar.update(len(task.runs))

    runs: list[FitResult] = []
    for record in records:
        if record["result"] is None:
            record["result"] = computed[record["key"]]
        runs.append(record["result"])
    table = _table(spec, records, pd)
    path = results_folder / f"{spec.name}.csv"
    _atomic_write(path, table.to_csv(index=False).encode())
    _atomic_write(results_folder / f"{spec.name}.yaml", spec.to_yaml().encode())
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

    # each task runs under limited_threads(task.threads): workers do not oversubscribe the cores
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


_ENCODER_FIELDS = ("acc", "loss", "val_acc", "best_epoch")


def _table(spec: SweepSpec, records: list[dict], pd) -> Any:
    """Tidy table: one row per run and encoder, columns documented in `table_columns`."""
    # Dataset parameter columns: the varied ones first, then the fixed ones; the data's seed is `data_seed`
    # (`seed` is the run's). Datasets handed over directly have none.
    param_keys = [k for k in spec.dataset_grid]
    for record in records:
        if record["job"].kind != CUSTOM_KIND:
            param_keys += [k for k in record["job"].params if k not in param_keys]
    column_of = {k: "data_seed" if k == "seed" else k for k in param_keys}
    align_names = sorted({m for r in records for m in r["result"].alignment})
    chance_names = sorted({m for r in records for m in r["result"].alignment_chance})
    rows = []
    for index, record in enumerate(records):
        result: FitResult = record["result"]
        job: _DatasetJob = record["job"]
        for encoder in (1, 2):
            row = {"spec": spec.name, "dataset_kind": job.kind, "dataset": record["dataset_name"]}
            if job.kind != CUSTOM_KIND:
                row.update({column_of[k]: _cell(job.params.get(k)) for k in param_keys})
            row.update({"lam": result.lam, "seed": result.seed, "encoder": encoder,
                        "modality": record["modalities"][encoder - 1]})
            for name in _ENCODER_FIELDS:
                row[name] = getattr(result, f"{name}{encoder}")
            row.update({f"align_{m}": result.alignment.get(m, float("nan")) for m in align_names})
            row.update({f"chance_{m}": result.alignment_chance.get(m, float("nan")) for m in chance_names})
            row.update({"time_s": result.time_s, "status": result.status, "error": result.error,
                        "config": result.config.key(), "key": record["key"], "run": index})
            rows.append(row)
    columns = table_columns([column_of[k] for k in param_keys], align_names, chance_names)
    return pd.DataFrame(rows, columns=columns)


def _cell(value):
    return ",".join(str(v) for v in value) if isinstance(value, (list, tuple)) else value


def table_columns(param_keys: Iterable[str] = (), align_names: Iterable[str] = (),
                  chance_names: Iterable[str] = ()) -> list[str]:
    """Columns of a sweep table, in order.

    spec, dataset_kind, dataset (name), one column per dataset parameter (grid ones first; the data's seed as
    data_seed), lam, seed (of the run), encoder (1 or 2), modality, acc, loss, val_acc, best_epoch (of that
    encoder), align_<metric> and chance_<metric> (of the run, repeated on both encoder rows), time_s, status
    ("ok"/"failed"), error, config (TrainConfig.key()), key (cache key of the run), run (index into
    SweepResult.runs).
    """
    return ["spec", "dataset_kind", "dataset", *param_keys, "lam", "seed", "encoder", "modality",
            *_ENCODER_FIELDS, *(f"align_{m}" for m in align_names), *(f"chance_{m}" for m in chance_names),
            "time_s", "status", "error", "config", "key", "run"]
