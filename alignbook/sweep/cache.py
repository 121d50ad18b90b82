"""The run cache: one entry per run, keyed by everything that decides its result.

Keys include the package's version and the source of every module a run goes through (`run_sources()`), so
changed training code never serves a stale result. Cache entry layout: `<cache>/runs/<key[:2]>/<key>.json`
holds the run's scores, history and the inputs of its key; `<key>.npz` (arrays `z1`, `z2`) holds the test
representations when the sweep keeps them, and the JSON records that file's sha256. Both are written
atomically; the JSON, written last, marks the entry complete.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from alignbook.checks import fail
from alignbook.compat import MOVED
from alignbook.config import TrainConfig
from alignbook.training.results import FitResult

logger = logging.getLogger("alignbook")

CACHE_FORMAT = 1


# Modules that only drive, analyse or present results: a cached run never passes through them (dataset
# builders, trainers, metrics and the sweep do), so editing them keeps the cache. Data that a chapter module
# builds still enters the key through the dataset's fingerprint. The deprecated aliases of moved modules
# (`compat.MOVED`) only re-export. The PID estimators of samples (`info/estimate.py`, `info/learned.py`)
# are imported with `info` but never run by a dataset builder or a trainer (the generator's exact PID is
# `info/exact.py`'s).
NOT_IN_RUN_KEYS = frozenset({
    "__main__.py", "cli.py", "compat.py", "paths.py", "plotting.py", "training/bench.py",
    "info/estimate.py", "info/learned.py",
    "analysis/__init__.py", "analysis/claims.py", "analysis/curves.py", "analysis/predictor.py",
    "analysis/search.py",
    "chapters/__init__.py", "chapters/analysis.py", "chapters/book.py", "chapters/pid_validation.py",
    "chapters/realdata.py", "chapters/studies.py",
    *(f"{old}.py" for old in MOVED),
})
PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def run_sources() -> list[Path]:
    """The package's Python files whose code can change a run's result: all but NOT_IN_RUN_KEYS."""
    return [source for source in sorted(PACKAGE_ROOT.rglob("*.py"))
            if source.relative_to(PACKAGE_ROOT).as_posix() not in NOT_IN_RUN_KEYS]


@functools.cache
def package_source_hash() -> str:
    """sha256 of `run_sources()`: any change to code a run goes through invalidates cached runs."""
    digest = hashlib.sha256()
    for source in run_sources():
        digest.update(source.relative_to(PACKAGE_ROOT).as_posix().encode() + b"\0")
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


def check_writable(folder: Path, env_var: str, what: str) -> None:
    """Fail early, before any training, when results could not be stored."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-"):
            pass
    except OSError as exc:
        fail(what, f"cannot write to {folder} ({exc.strerror or exc})",
             f"set the environment variable {env_var} to a writable folder")


def atomic_write(path: Path, data: bytes) -> None:
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
        """A cache rooted at the folder `root` (created on first write)."""
        self.root = Path(root)
        self.runs_dir = self.root / "runs"

    def json_path(self, key: str) -> Path:
        """Where the JSON entry of run `key` lives."""
        return self.runs_dir / key[:2] / f"{key}.json"

    def npz_path(self, key: str) -> Path:
        """Where the representations of run `key` live (when kept)."""
        return self.runs_dir / key[:2] / f"{key}.npz"

    def check_writable(self) -> None:
        """Fail before any training when the cache folder cannot be written."""
        check_writable(self.runs_dir, "ALIGNBOOK_CACHE", "cache_dir")

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
        """Store what `remembered_dataset` returns for these parameters (deterministic kinds only)."""
        atomic_write(self._fingerprint_path(kind, params), json.dumps(dict(described)).encode())

    def write(self, key: str, result: FitResult, inputs: Mapping) -> None:
        """Store one run; the representations (if any) first, the JSON that completes the entry last."""
        representations = None
        if result.z1 is not None and result.z2 is not None:
            buffer = io.BytesIO()
            np.savez(buffer, z1=np.asarray(result.z1), z2=np.asarray(result.z2))
            data = buffer.getvalue()
            atomic_write(self.npz_path(key), data)
            representations = {"file": self.npz_path(key).name, "sha256": hashlib.sha256(data).hexdigest()}
        scalars = {f.name: getattr(result, f.name) for f in dataclasses.fields(result)
                   if f.name not in ("config", "z1", "z2")}
        entry = {"format": CACHE_FORMAT, "key": key, "inputs": dict(inputs),
                 "config": result.config.to_dict(), "result": scalars, "representations": representations}
        text = json.dumps(entry, default=_json_default, indent=1)
        atomic_write(self.json_path(key), text.encode())

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
