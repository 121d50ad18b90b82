"""Derived results of the chapters, stored on disk: a deterministic computation runs once per input and code.

`remembered(sources)` turns a function whose result depends only on its arguments (a PID table, a probe
table, a search) into one that keeps each result under the run cache's root (`paths.cache_dir()`, that is
$ALIGNBOOK_CACHE): `<cache>/derived/<key[:2]>/<key>.json`. The key is the sha256 of the function's name, its
arguments and the source of the modules it runs through (`source_hash`): a changed argument or a changed
module computes anew. Arguments are described by value (`describe`): numbers, text, lists and mappings as
they are, arrays by the sha256 of their bytes, tables by their labels, dtypes and a hash of each row,
datasets by their fingerprint, dataclasses by their fields; anything else is refused with an error naming
the argument.

An entry is a self-verifying record of the run cache (`sweep.cache.seal`): its key material, and the result
pickled (so a table reads back exactly as it was, dtypes and index included), written atomically. An entry
that fails a check (changed bytes, another key, a payload that does not unpickle) is reported in a warning
that names it and is recomputed, never served. Entries are read with `pickle`: keep the cache folder as
private as the code that wrote it. A cache that cannot be written (read-only, full) still serves what it has;
a result that cannot be stored is returned with a warning.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import inspect
import logging
import pickle
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from alignbook import paths
from alignbook.checks import fail
from alignbook.sweep.cache import PACKAGE_ROOT, atomic_write, material_key, seal, unseal

logger = logging.getLogger("alignbook")

STORE_FORMAT = 1
FOLDER = "derived"


def source_hash(modules: Sequence[str] | None = None) -> str:
    """sha256 of the path and content of `modules` (paths relative to the package, such as
    "info/exact.py"), or of every Python file of the package when None."""
    return _source_hash(None if modules is None else tuple(modules))


@functools.cache  # sources do not change while a process runs (as `sweep.cache.package_source_hash`)
def _source_hash(modules: tuple[str, ...] | None) -> str:
    if modules is None:
        modules = [p.relative_to(PACKAGE_ROOT).as_posix() for p in sorted(PACKAGE_ROOT.rglob("*.py"))]
    digest = hashlib.sha256()
    for relative in modules:
        source = PACKAGE_ROOT / relative
        if not source.is_file():
            fail("modules", f"{relative!r} is not a module of the package")
        digest.update(relative.encode() + b"\0" + source.read_bytes() + b"\0")
    return digest.hexdigest()


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def describe(value, param: str = "value"):
    """A JSON value that is equal for equal inputs of a computation and differs otherwise; a ValueError
    naming `param` for a value it cannot describe."""
    import pandas as pd

    from alignbook.data.container import PairedDataset

    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float, np.integer, np.floating, np.bool_)):
        return value.item() if isinstance(value, np.generic) else value
    if isinstance(value, (list, tuple, range)):
        return [describe(v, f"{param}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):  # in order: the order of a mapping decides the order of a table's rows
        return {"mapping": [[describe(k, param), describe(v, f"{param}[{k!r}]")] for k, v in value.items()]}
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch tensor, without importing torch
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        return {"array": _digest(array.tobytes()), "dtype": str(array.dtype), "shape": list(array.shape)}
    if isinstance(value, (pd.DataFrame, pd.Series)):
        return _describe_table(value)
    if isinstance(value, PairedDataset):
        return {"dataset": value.fingerprint(), "name": value.name}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: describe(getattr(value, f.name), f"{param}.{f.name}")
                  for f in dataclasses.fields(value)}
        return {"dataclass": f"{type(value).__module__}.{type(value).__qualname__}", "fields": fields}
    fail(param, f"a {type(value).__name__} cannot key a stored result",
         "pass numbers, text, lists, mappings, arrays, tables, datasets or dataclasses")


def _describe_table(table) -> dict:
    """A table by its content: labels, dtypes and a hash of every row with its index (pandas' own), so
    equal tables built differently (a cold sweep's, a cached one's) describe alike."""
    import pandas as pd

    frame = table.to_frame() if isinstance(table, pd.Series) else table
    try:
        rows = pd.util.hash_pandas_object(frame, index=True).to_numpy()
    except TypeError:  # cells pandas cannot hash (lists, dicts): the pickled table then
        return {"table": _digest(pickle.dumps(table, protocol=5))}
    return {"table": _digest(rows.tobytes()), "columns": [str(c) for c in frame.columns],
            "dtypes": [str(d) for d in frame.dtypes], "index": [str(n) for n in frame.index.names],
            "series": isinstance(table, pd.Series)}


def key_material(function: Callable, arguments: Mapping, sources: str) -> dict:
    """What decides a stored result: the function's name, its arguments by name (`describe`) and the
    `source_hash` of its modules."""
    import alignbook

    return {"function": f"{function.__module__}.{function.__qualname__}", "format": STORE_FORMAT,
            "arguments": {name: describe(value, name) for name, value in arguments.items()},
            "source": sources, "version": alignbook.__version__}


def entry_path(key: str) -> Path:
    return paths.cache_dir() / FOLDER / key[:2] / f"{key}.json"


def read(key: str):
    """The result stored under `key`: (True, value), or (False, None) when absent or failing a check (with
    a warning that names the entry)."""
    path = entry_path(key)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return False, None
    except OSError as exc:
        warnings.warn(f"stored result {path} cannot be read ({exc.strerror or exc}): recomputing it",
                      stacklevel=3)
        return False, None
    try:
        body = unseal(data)
        if body.get("format") != STORE_FORMAT or body.get("key") != key:
            raise ValueError(f"holds format {body.get('format')!r} and key {str(body.get('key'))[:12]}..., "
                             f"not format {STORE_FORMAT} and its key {key[:12]}...")
        material = body.get("key_material")
        if not isinstance(material, dict) or material_key(material) != key:
            raise ValueError("its key material does not hash to its key: it describes another result")
        payload = base64.b64decode(body["payload"].encode("ascii"), validate=True)
        return True, pickle.loads(payload)  # noqa: S301 - written by this module, checksummed
    except Exception as exc:  # noqa: BLE001 - any damage means: recompute
        warnings.warn(f"stored result {path} {exc}: recomputing it", stacklevel=3)
        return False, None


def write(key: str, material: Mapping, value) -> None:
    """Store `value` under `key` atomically; a warning, not an error, when the cache cannot take it."""
    payload = pickle.dumps(value, protocol=5)
    record = seal({"format": STORE_FORMAT, "key": key, "key_material": dict(material),
                   "payload": base64.b64encode(payload).decode("ascii")})
    try:
        atomic_write(entry_path(key), record)
    except OSError as exc:
        warnings.warn(f"result of {material['function']} not stored ({exc}): it will be computed again",
                      stacklevel=3)


def remembered(sources: Sequence[str] | None = None, ignore: Sequence[str] = ()):
    """Decorator: store the function's results on disk, keyed by its arguments and the source of `sources`
    (module paths relative to the package; None: the whole package). The function must be deterministic:
    equal arguments and code give an equal result; arguments named in `ignore` (worker counts, progress
    bars) must not change it and stay out of the key. `function.compute` is the undecorated function."""
    def decorate(function: Callable) -> Callable:
        signature = inspect.signature(function)

        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            arguments = {k: v for k, v in bound.arguments.items() if k not in ignore}
            material = key_material(function, arguments, source_hash(sources))
            key = material_key(material)
            found, value = read(key)
            if found:
                logger.info("%s: stored result %s", material["function"], key[:12])
                return value
            value = function(*args, **kwargs)
            write(key, material, value)
            return value

        wrapper.compute = function
        return wrapper

    return decorate
