"""Cached computations: a deterministic function's results kept on disk, keyed by its arguments and its code.

`@remembered()` turns a function whose result depends only on its arguments (a PID table, a probe table, a
search) into one that keeps each result in an `EntryStore` of kind "derived" under the run cache's root
(`paths.cache_dir()`, that is $ALIGNBOOK_CACHE): `<cache>/derived/<key[:2]>/<key>.json`. The key is the sha256
of the function's name, its arguments described by value (`describe`), the package version and the code of
every module the function's module reaches by its imports (`deps.code_hash`): a changed argument or a changed
dependency computes anew; nothing is listed by hand.

Arguments are described by value *with their types*, so no two different arguments share a key: `0`, `0.0`,
`-0.0`, `"0"`, `False` and `None` all differ; tables by their column and index labels (typed), names, dtypes,
categories and their order, and every value (numeric columns by their bytes, other columns element by element,
typed); object arrays element by element; datasets by their fingerprint, name and parameters; dataclasses by
their fields. Anything else is refused with an error naming the argument.

The result is stored pickled (so a table reads back exactly, dtypes and index included) inside the sealed
record. Pickles run code when read: the checksum catches damage, not forgery, so a cache folder must be
writable only by people whose code you would run (see the cluster page of the book). A cache that cannot be
written (read-only, full) still serves what it has; a result that cannot be stored (full disk, or not
picklable) is returned with a warning.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import inspect
import logging
import math
import pickle
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from alignbook import paths
from alignbook.checks import fail
from alignbook.storage import deps
from alignbook.storage.entries import EntryStore
from alignbook.storage.records import canonical, material_key

logger = logging.getLogger("alignbook")

KIND, FOLDER, FORMAT = "derived", "derived", 2


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _scalar(value):
    """A typed description of a scalar, or None when `value` is not one."""
    if value is None:
        return {"none": None}
    if isinstance(value, (bool, np.bool_)):
        return {"bool": bool(value)}
    if isinstance(value, (int, np.integer)):
        return {"int": int(value)}
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return {"float": repr(value) if not math.isfinite(value) or value == 0 else value.hex()}
    if isinstance(value, str):
        return {"str": value}
    if isinstance(value, bytes):
        return {"bytes": _digest(value)}
    return None


def describe(value, param: str = "value"):
    """A JSON value equal for equal inputs of a computation and different otherwise, types included; a
    ValueError naming `param` for a value it cannot describe."""
    scalar = _scalar(value)
    if scalar is not None:
        return scalar
    if isinstance(value, (list, tuple, range)):
        return {type(value).__name__: [describe(v, f"{param}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, Mapping):  # in order: the order of a mapping decides the order of a table's rows
        return {"mapping": [[describe(k, f"{param} key"), describe(v, f"{param}[{k!r}]")]
                            for k, v in value.items()]}
    if isinstance(value, (set, frozenset)):
        return {"set": sorted((describe(v, param) for v in value), key=canonical)}
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch tensor, without importing torch
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return _describe_array(value, param)
    if type(value).__module__.startswith("pandas"):
        return _describe_pandas(value, param)
    if callable(getattr(value, "fingerprint", None)) and hasattr(value, "params"):  # a PairedDataset
        return {"dataset": value.fingerprint(), "name": describe(getattr(value, "name", None), param),
                "params": describe(dict(value.params), f"{param}.params")}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: describe(getattr(value, f.name), f"{param}.{f.name}")
                  for f in dataclasses.fields(value)}
        return {"dataclass": f"{type(value).__module__}.{type(value).__qualname__}", "fields": fields}
    if isinstance(value, Path):
        fail(param, f"a path ({value}) cannot key a stored result: the file's content would not be part "
                    "of it",
             "pass the data read from the file instead")
    fail(param, f"a {type(value).__name__} cannot key a stored result",
         "pass numbers, text, lists, mappings, arrays, tables, datasets or dataclasses")


def _describe_array(array: np.ndarray, param: str) -> dict:
    if array.dtype == object:
        return {"object_array": [describe(v, param) for v in array.ravel()], "shape": list(array.shape)}
    contiguous = np.ascontiguousarray(array)
    return {"array": _digest(contiguous.tobytes()), "dtype": contiguous.dtype.str, "shape": list(array.shape)}


def _describe_values(values, param: str) -> dict:
    """A column's or an index's values: numeric and boolean ones by their bytes, others element by element."""
    import pandas as pd

    if isinstance(values.dtype, pd.CategoricalDtype):
        categorical = values.cat if hasattr(values, "cat") else values  # a Series, or a CategoricalIndex
        return {"categories": _describe_values(categorical.categories, param),
                "ordered": bool(values.dtype.ordered),
                "codes": _describe_array(np.asarray(categorical.codes), param)}
    array = values.to_numpy()
    if array.dtype != object and array.dtype.kind in "biufcmM":
        return {"dtype": str(values.dtype), **_describe_array(array, param)}
    return {"dtype": str(values.dtype), "values": _digest(canonical([describe(v, param) for v in array]))}


def _describe_index(index, param: str) -> dict:
    import pandas as pd

    names = [describe(name, f"{param}.names") for name in index.names]
    if isinstance(index, pd.RangeIndex):
        return {"range": [index.start, index.stop, index.step], "names": names}
    if isinstance(index, pd.MultiIndex):
        return {"levels": [_describe_index(index.get_level_values(i), param) for i in range(index.nlevels)],
                "names": names}
    return {"type": type(index).__name__, "names": names, "values": _describe_values(index, param)}


def _describe_pandas(value, param: str) -> dict:
    import pandas as pd

    if isinstance(value, pd.Index):
        return {"index": _describe_index(value, param)}
    if isinstance(value, pd.Series):
        return {"series": {"name": describe(value.name, f"{param}.name"), "index":
        _describe_index(value.index, param),
                           "values": _describe_values(value, param)}}
    if isinstance(value, pd.DataFrame):
        return {"frame": {"columns": _describe_index(value.columns, f"{param}.columns"),
                          "index": _describe_index(value.index, f"{param}.index"),
                          "data": [_describe_values(value.iloc[:, i], param) for i in range(value.shape[1])],
                          "attrs": describe(dict(value.attrs), f"{param}.attrs")}}
    fail(param, f"a {type(value).__name__} cannot key a stored result", "pass a DataFrame, Series or Index")


def key_material(function: Callable, arguments: Mapping) -> dict:
    """What decides a stored result: the function's name, its arguments by name (`describe`), the package
    version and the code its module reaches (`deps.code_hash`)."""
    import alignbook

    return {"function": f"{function.__module__}.{function.__qualname__}",
            "arguments": {name: describe(value, name) for name, value in arguments.items()},
            "code": deps.module_code(function.__module__), "version": alignbook.__version__}


def store(root: Path | None = None) -> EntryStore:
    """The store of derived results under `root` (default: `paths.cache_dir()`)."""
    return EntryStore(root if root is not None else paths.cache_dir(), FOLDER, KIND, FORMAT)


def read(key: str, root: Path | None = None) -> tuple[bool, object]:
    """`(True, value)` stored under `key`, or `(False, None)` when absent or failing a check (with a
    warning)."""
    found = store(root).read(key)
    if found is None:
        return False, None
    body, _ = found
    try:
        payload = base64.b64decode(body["payload"].encode("ascii"), validate=True)
        return True, pickle.loads(payload)  # noqa: S301 - a sealed entry of this store (module docstring)
    except Exception as exc:  # noqa: BLE001 - any damage means: compute again
        logger.warning("derived entry %s does not unpickle (%s); computing it again", key[:12], exc)
        return False, None


def write(key: str, material: Mapping, value, root: Path | None = None) -> None:
    """Store `value` under `key`; a warning, not an error, when it cannot be pickled or the cache cannot take
    it."""
    try:
        payload = pickle.dumps(value, protocol=5)
    except Exception as exc:  # noqa: BLE001 - local classes, lambdas, open files...
        warnings.warn(f"result of {material['function']} not stored: it cannot be pickled ({exc}); it will "
                      "be computed again next time", stacklevel=3)
        return
    entries = store(root)
    try:
        entries.write(key, material, {"payload": base64.b64encode(payload).decode("ascii")})
        entries.remove_stale_temporaries()
    except OSError as exc:
        warnings.warn(f"result of {material['function']} not stored ({exc}): it will be computed again",
                      stacklevel=3)


def remembered(ignore: tuple[str, ...] = ()):
    """Decorator: keep the function's results on disk (see the module docstring).

    The function must be deterministic: equal arguments and code give an equal result; arguments named in
    `ignore` (worker counts, progress bars) must not change it and stay out of the key. The wrapper has
    `compute` (the undecorated function) and `lookup(*args, **kwargs) -> (found, value)` (read without
    computing).
    """

    def decorate(function: Callable) -> Callable:
        signature = inspect.signature(function)
        unknown = sorted(set(ignore) - set(signature.parameters))
        if unknown:
            raise TypeError(f"{function.__qualname__} has no parameter {unknown[0]!r} to ignore")

        def keyed(args, kwargs) -> tuple[str, dict]:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            material = key_material(function, {k: v for k, v in bound.arguments.items() if k not in ignore})
            return material_key(material), material

        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            key, material = keyed(args, kwargs)
            found, value = read(key)
            if found:
                logger.info("%s: stored result %s", material["function"], key[:12])
                return value
            value = function(*args, **kwargs)
            write(key, material, value)
            return value

        def lookup(*args, **kwargs):
            return read(keyed(args, kwargs)[0])

        wrapper.compute = function
        wrapper.lookup = lookup
        return wrapper

    return decorate
