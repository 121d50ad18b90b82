"""The run cache: one entry per run, keyed by everything that decides its result, and checked on every read.

Keys include the package's version and the source of every module a run goes through (`run_sources()`), so
changed training code never serves a stale result. Cache entry layout: `<cache>/runs/<key[:2]>/<key>.json`
holds the run's scores, history and the full material of its key; `<key>.npz` (arrays `z1`, `z2`) holds the
test representations when the sweep keeps them, and the JSON records that file's sha256. Both are written
atomically; the JSON, written last, marks the entry complete.

Entries verify themselves (`seal`, `unseal`): the JSON carries the sha256 of its content, must read back
byte for byte as it was written, its key material must hash to its key and its result must have every field
of a `FitResult` with the right type. An entry failing any check is reported in a warning that names it and
is recomputed; the descriptions of deterministic datasets (`<cache>/datasets/`) are checked alike.

A run being trained is claimed (`RunCache.claim`): an exclusive lock on `<key>.lock` that the operating
system drops when its process dies, so two sweeps on one cache never train the same run twice and the runs of
a killed sweep are free again at once. Temporary files name their writer (`temporary_tag`), so the next
sweep removes those a killed writer left (`remove_stale_temporaries`).
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import hashlib
import io
import json
import logging
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from alignbook.checks import fail
from alignbook.config import TrainConfig
from alignbook.training.results import FitResult

logger = logging.getLogger("alignbook")

CACHE_FORMAT = 2
# A temporary file this old is a leftover whoever wrote it (a write takes well under a second).
STALE_TEMPORARY_SECONDS = 86_400
FILE_BLOCK = 4096  # disk space is allocated in blocks: a small file takes one


# Modules that only drive, analyse, store or present results: a cached run never passes through them (dataset
# builders, trainers, metrics and the sweep do; the Ray backend only carries runs and results), so editing
# them keeps the cache. Data that a chapter module builds still enters the key through the dataset's
# fingerprint. The PID estimators of samples (`info/estimate.py`, `info/learned.py`) are imported with
# `info` but never run by a dataset builder or a trainer (the generator's exact PID is `info/exact.py`'s).
NOT_IN_RUN_KEYS = frozenset({
    "__main__.py", "cli.py", "paths.py", "plotting.py", "training/bench.py",
    "sweep/ray_backend.py", "info/estimate.py", "info/learned.py",
    "analysis/__init__.py", "analysis/claims.py", "analysis/curves.py", "analysis/predictor.py",
    "analysis/probes.py", "analysis/search.py",
    "chapters/__init__.py", "chapters/choosing_lam.py", "chapters/book.py", "chapters/pid_validation.py",
    "chapters/publish.py", "chapters/real_data.py", "chapters/regime_map.py", "chapters/scoreboard.py",
    "chapters/studies.py", "store.py",
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


# ---------------------------------------------------------------------------------------------------------
# keys and self-verifying records


def material_key(material: Mapping) -> str:
    """sha256 of key material: the cache key of the run (or dataset description) it describes."""
    text = json.dumps(dict(material), sort_keys=True, default=_json_default)
    return hashlib.sha256(text.encode()).hexdigest()


def _with_code(inputs: dict) -> dict:
    """`inputs` plus the package version and the source of the code runs go through."""
    import alignbook

    return {**inputs, "version": alignbook.__version__, "source": package_source_hash()}


def group_material(dataset_kind: str, dataset_params: Mapping, fingerprint: str, config: TrainConfig,
                   keep_representations: bool) -> dict:
    """The key material the runs of one dataset and configuration share: everything but `lam` and `seed`."""
    return _with_code({"dataset": {"kind": dataset_kind, "params": dict(dataset_params),
                                   "fingerprint": fingerprint},
                       "config": config.to_dict(), "keep_representations": bool(keep_representations)})


def run_material(group: Mapping, lam: float, seed: int) -> dict:
    """Everything that decides one run's cached result: hashed into its key and stored in its entry."""
    return {**group, "lam": float(lam), "seed": int(seed)}


def run_key(dataset_kind: str, dataset_params: Mapping, fingerprint: str, config: TrainConfig, lam: float,
            seed: int, keep_representations: bool) -> str:
    """sha256 of everything that decides a run's cached result, the package version and source included."""
    group = group_material(dataset_kind, dataset_params, fingerprint, config, keep_representations)
    return material_key(run_material(group, lam, seed))


def _canonical(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_json_default).encode()


def seal(body: Mapping) -> bytes:
    """The stored form of a self-verifying record: `body` as indented JSON plus the sha256 of its content."""
    body = json.loads(_canonical(dict(body)))  # plain JSON values: what a reader gets back
    record = {**body, "checksum": hashlib.sha256(_canonical(body)).hexdigest()}
    return json.dumps(record, sort_keys=True, indent=1).encode()


def unseal(data: bytes) -> dict:
    """The body of a record `seal` wrote; a ValueError saying what is wrong unless `data` is exactly that."""
    try:
        record = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if not isinstance(record, dict) or not isinstance(record.get("checksum"), str):
        raise ValueError("has no checksum")
    body = {k: v for k, v in record.items() if k != "checksum"}
    if hashlib.sha256(_canonical(body)).hexdigest() != record["checksum"]:
        raise ValueError("does not match its checksum: it was changed after it was written")
    if seal(body) != data:  # a change that JSON does not see (spacing, escapes, a repeated key)
        raise ValueError("is not laid out as it was written: it was changed after it was written")
    return body


def _unseal_entry(data: bytes, key: str) -> tuple[dict, dict]:
    """The body and the key material of a record stored under `key`, checked against each other."""
    body = unseal(data)
    if body.get("format") != CACHE_FORMAT or body.get("key") != key:
        raise ValueError(f"holds format {body.get('format')!r} and key {str(body.get('key'))[:12]}..., not "
                         f"format {CACHE_FORMAT} and the key {key[:12]}... it is stored under")
    material = body.get("key_material")
    if not isinstance(material, dict) or material_key(material) != key:
        raise ValueError("its key material does not hash to its key: it describes another run")
    return body, material


# What JSON gives back for each annotated type of a FitResult field.
_STORED_TYPES = {"float": (int, float), "int": (int,), "str": (str,), "dict": (dict,), "list": (list,)}
_NOT_STORED = ("config", "z1", "z2")


def _checked_result(fields) -> dict:
    """The stored scalars of a run, if they are every field of a `FitResult` with the right type."""
    if not isinstance(fields, dict):
        raise ValueError(f"its result is a {type(fields).__name__}, not a mapping")
    expected = {f.name: f.type for f in dataclasses.fields(FitResult) if f.name not in _NOT_STORED}
    missing, unknown = sorted(set(expected) - set(fields)), sorted(set(fields) - set(expected))
    if missing or unknown:
        raise ValueError(f"its result lacks fields {missing} and has unknown fields {unknown}")
    for name, annotation in expected.items():
        allowed = _STORED_TYPES.get(annotation, object)
        if isinstance(fields[name], bool) or not isinstance(fields[name], allowed):
            raise ValueError(f"its result field {name} holds {fields[name]!r}, not a {annotation}")
    if fields["status"] not in ("ok", "failed"):
        raise ValueError(f"its result has status {fields['status']!r}")
    return fields


def _checked_description(description) -> dict:
    if not (isinstance(description, dict) and set(description) == {"fingerprint", "name", "modalities"}
            and isinstance(description["fingerprint"], str) and isinstance(description["name"], str)
            and isinstance(description["modalities"], list) and len(description["modalities"]) == 2
            and all(isinstance(m, str) for m in description["modalities"])):
        raise ValueError(f"does not describe a dataset: {description!r}")
    return description


# ---------------------------------------------------------------------------------------------------------
# writing files: atomically, with a name that says who writes, and with one-line errors for full disks


class DiskFullError(OSError):
    """A write refused for lack of space or quota; the message names the folder and the space needed."""


@functools.cache
def _host() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def temporary_tag() -> str:
    """`<host>-<pid>` of this process: part of the name of every temporary file it writes."""
    return f"{_host()}-{os.getpid()}"


_TEMPORARY_NAME = re.compile(r"\.(?P<host>[0-9a-f]{8})-(?P<pid>\d+)\.[A-Za-z0-9_]+\.tmp$")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_stale_temporaries(folder: Path) -> int:
    """Remove the temporary files killed writers left in `folder`; return how many.

    A temporary file is stale when its writer, a process of this machine, no longer runs, or when it is a
    day old. A live writer's file is kept; a folder that cannot be changed (read-only) is left as it is.
    """
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    removed = 0
    for entry in entries:
        if not (entry.name.startswith(".") and entry.name.endswith(".tmp")):
            continue
        writer = _TEMPORARY_NAME.search(entry.name)
        try:
            dead = writer is not None and writer["host"] == _host() and not _process_alive(int(writer["pid"]))
            if dead or time.time() - entry.stat().st_mtime > STALE_TEMPORARY_SECONDS:
                os.unlink(entry.path)
                removed += 1
        except OSError:  # gone meanwhile, or not ours to remove
            pass
    return removed


def describe_size(size: float) -> str:
    """A number of bytes for people: '512 bytes', '13.0 KB', '1.2 MB'."""
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _free_space(folder: Path) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def atomic_write(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over `path` (never half a file).

    A full disk or quota raises a one-line `DiskFullError` naming the folder and the bytes needed.
    """
    temp_name = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{temporary_tag()}.",
                                             suffix=".tmp")
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp_name, path)
    except BaseException as exc:
        if temp_name is not None:
            Path(temp_name).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            free = _free_space(path.parent)
            raise DiskFullError(
                f"no space left in {path.parent}: writing {path.name} needs {describe_size(len(data))}, "
                f"{describe_size(free) if free is not None else 'an unknown amount'} free (free some space, "
                "or set ALIGNBOOK_CACHE / ALIGNBOOK_RESULTS to a folder on a disk with room)") from None
        raise


def check_writable(folder: Path, env_var: str, what: str) -> None:
    """Fail early, before any training, when results could not be stored."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-"):
            pass
    except OSError as exc:
        fail(what, f"cannot write to {folder} ({exc.strerror or exc})",
             f"set the environment variable {env_var} to a writable folder")


def check_space(folder: Path, needed: int, env_var: str, what: str) -> None:
    """Fail early, before any training, when `folder`'s disk has less than `needed` bytes free."""
    free = _free_space(folder)
    if free is not None and free < needed:
        fail(what, f"{folder} has {describe_size(free)} free, but the runs to compute need about "
                   f"{describe_size(needed)}", f"free some space, or set {env_var} to a folder on a disk "
                                              "with room")


def _on_disk(size: int) -> int:
    return -(-size // FILE_BLOCK) * FILE_BLOCK


def entry_size(config: TrainConfig, n_test: int, keep_representations: bool) -> int:
    """A generous estimate of the disk space of one run's entry.

    Measured: ~3 KB of JSON plus ~0.35 KB per epoch of history; the arrays take 4 bytes per value of the
    two (n_test, repr_dim) representations (at most `eval_max_samples` rows). Rounded up to whole blocks.
    """
    size = _on_disk(8192 + 1024 * config.num_epochs)
    if keep_representations:
        rows = min(n_test, config.eval_max_samples)
        size += _on_disk(2 * 4 * rows * config.repr_dim + 4096)
    return size


# ---------------------------------------------------------------------------------------------------------
# claims: which process trains a run


try:
    import fcntl
except ImportError:  # Windows: claims are not enforced there
    fcntl = None


class Claim:
    """This process trains the run: an exclusive lock on its `<key>.lock`, held until `release`.

    The operating system drops the lock when the process dies, however it dies, so the claim of a killed
    sweep is taken over at once; the file it leaves behind holds no lock and is removed by the next holder.
    """

    def __init__(self, path: Path, handle: int | None):
        """The claim of the lock file `path`, held through the open file `handle`."""
        self.path, self.handle = path, handle

    def release(self) -> None:
        """Give the run up (idempotent): remove the lock file, then unlock it."""
        if self.handle is None:
            return
        try:
            self.path.unlink()  # before unlocking: a process waiting on this file then retries the path
        except OSError:
            pass
        os.close(self.handle)
        self.handle = None


# ---------------------------------------------------------------------------------------------------------
# the cache


class RunCache:
    """One self-verifying JSON (+ npz) entry per run under `<root>/runs/<key[:2]>/`."""

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

    def lock_path(self, key: str) -> Path:
        """The lock file of run `key` while a process claims it (`claim`)."""
        return self.runs_dir / key[:2] / f"{key}.lock"

    def check_writable(self) -> None:
        """Fail before any training when the cache folder cannot be written."""
        check_writable(self.runs_dir, "ALIGNBOOK_CACHE", "cache_dir")

    def check_space(self, needed: int) -> None:
        """Fail before any training when the cache's disk has less than `needed` bytes free."""
        check_space(self.runs_dir, needed, "ALIGNBOOK_CACHE", "cache_dir")

    def remove_stale_temporaries(self) -> int:
        """Remove what killed writers left in the cache (see `remove_stale_temporaries`)."""
        folders = [self.root / "datasets"]
        if self.runs_dir.is_dir():
            folders += [p for p in self.runs_dir.iterdir() if p.is_dir()]
        return sum(remove_stale_temporaries(folder) for folder in folders)

    # -------------------------------------------------------------------------- datasets

    def _description_path(self, kind: str, params: Mapping) -> tuple[Path, dict]:
        material = _with_code({"kind": kind, "params": dict(params)})
        return self.root / "datasets" / f"{material_key(material)}.json", material

    def remembered_dataset(self, kind: str, params: Mapping) -> dict | None:
        """Fingerprint, name and modality names a deterministic builder gave for these parameters."""
        path, material = self._description_path(kind, params)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            body, stored = _unseal_entry(data, path.stem)
            if stored != json.loads(_canonical(material)):
                raise ValueError("describes other dataset parameters")
            return _checked_description(body.get("description"))
        except Exception as exc:  # damaged or changed: the dataset is built again
            logger.warning("dataset description %s is unreadable (%s); building the dataset again", path, exc)
            return None

    def remember_dataset(self, kind: str, params: Mapping, described: Mapping) -> None:
        """Store a deterministic dataset's description; where the cache cannot be written, skip it."""
        path, material = self._description_path(kind, params)
        body = {"format": CACHE_FORMAT, "key": path.stem, "key_material": material,
                "description": dict(described)}
        try:
            atomic_write(path, seal(body))
        except OSError as exc:  # remembering only saves building the dataset next time
            logger.info("cannot remember the description of %s %s (%s)", kind, dict(params), exc)

    # -------------------------------------------------------------------------- runs

    def write(self, key: str, result: FitResult, material: Mapping) -> None:
        """Store one run; the representations (if any) first, the JSON that completes the entry last."""
        if material_key(material) != key:
            raise ValueError(f"key material does not hash to the key {key[:12]}... it is written under")
        representations = None
        if result.z1 is not None and result.z2 is not None:
            buffer = io.BytesIO()
            np.savez(buffer, z1=np.asarray(result.z1), z2=np.asarray(result.z2))
            data = buffer.getvalue()
            atomic_write(self.npz_path(key), data)
            representations = {"file": self.npz_path(key).name, "sha256": hashlib.sha256(data).hexdigest()}
        scalars = {f.name: getattr(result, f.name) for f in dataclasses.fields(result)
                   if f.name not in _NOT_STORED}
        body = {"format": CACHE_FORMAT, "key": key, "key_material": dict(material), "result": scalars,
                "representations": representations}
        atomic_write(self.json_path(key), seal(body))

    def read(self, key: str, lam: float, seed: int, want_representations: bool,
             warn: bool = True) -> FitResult | None:
        """The cached run, or None when absent; an entry failing a check is logged and treated as absent."""
        path = self.json_path(key)
        if not path.exists():
            return None
        try:
            return self._read(path.read_bytes(), key, lam, seed, want_representations)
        except Exception as exc:  # a damaged entry must never crash the sweep nor enter the table
            if warn:
                logger.warning("cache entry %s is unreadable (%s); recomputing that run", path, exc)
            return None

    def _read(self, data: bytes, key: str, lam: float, seed: int, want_representations: bool) -> FitResult:
        body, material = _unseal_entry(data, key)
        if material.get("lam") != float(lam) or material.get("seed") != int(seed) \
                or material.get("keep_representations") != bool(want_representations):
            raise ValueError(f"its key material holds lam={material.get('lam')}, seed={material.get('seed')}")
        fields = _checked_result(body.get("result"))
        if fields["lam"] != material["lam"] or fields["seed"] != material["seed"]:
            raise ValueError(f"its result holds lam={fields['lam']}, seed={fields['seed']}, not those of its "
                             f"key")
        result = FitResult(config=TrainConfig.from_dict(material["config"]), **fields)
        info = body.get("representations")
        if want_representations:
            if not isinstance(info, dict) or info.get("file") != self.npz_path(key).name:
                raise ValueError("has no representations")
            arrays_data = self.npz_path(key).read_bytes()
            if hashlib.sha256(arrays_data).hexdigest() != info.get("sha256"):
                raise ValueError(f"{self.npz_path(key).name} does not match its recorded checksum")
            with np.load(io.BytesIO(arrays_data), allow_pickle=False) as arrays:
                result.z1, result.z2 = arrays["z1"], arrays["z2"]
        elif info is not None:
            raise ValueError("holds representations its key does not ask for")
        return result

    # -------------------------------------------------------------------------- claims

    def claim(self, key: str, wait: bool = False) -> Claim | None:
        """Claim the run for this process: a `Claim`, or None when another live process holds it.

        With `wait`, block until the holder releases it or dies. A claim found can be one whose holder has
        just finished the run: read the entry before training.
        """
        path = self.lock_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                if fcntl is not None:
                    fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                os.close(handle)
                return None
            except BaseException:
                os.close(handle)
                raise
            try:
                current = os.stat(path).st_ino
            except FileNotFoundError:
                current = None
            if current == os.fstat(handle).st_ino:
                os.ftruncate(handle, 0)
                os.write(handle, f"{temporary_tag()}\n".encode())  # who trains it, for a person looking
                return Claim(path, handle)
            os.close(handle)  # the holder removed the file while we opened it: claim the one there now
