"""The store of derived results: exact round trips, misses on changed inputs or code, damaged entries."""

from __future__ import annotations

import pickle
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from alignbook import paths, store


@dataclass(frozen=True)
class Options:
    k: int
    name: str = "x"


def counting(sources=None):
    """A stored function that counts its computations and returns a table with mixed dtypes."""
    calls = []

    @store.remembered(sources, ignore=("workers",))
    def table(values, scale=1.0, options=None, workers=1):
        calls.append(1)
        values = np.asarray(values, dtype=float)
        frame = pd.DataFrame({"value": values * scale, "count": np.arange(len(values), dtype=np.int32),
                              "label": [f"v{i}" for i in range(len(values))],
                              "flag": values > values.mean()}, index=pd.Index(values.astype(int), name="key"))
        return frame, {"options": options, "sum": float(values.sum() * scale)}

    return table, calls


def entries():
    return sorted((paths.cache_dir() / store.FOLDER).rglob("*.json"))


def test_a_stored_result_reads_back_exactly_without_computing():
    table, calls = counting()
    first = table([3, 1, 2], scale=0.1, options=Options(2))
    second = table([3, 1, 2], scale=0.1, options=Options(2), workers=4)  # `workers` is not in the key
    assert len(calls) == 1 and len(entries()) == 1
    pd.testing.assert_frame_equal(first[0], second[0], check_exact=True)
    assert list(second[0].dtypes) == list(first[0].dtypes) and second[1] == first[1]
    assert pickle.dumps(second) == pickle.dumps(first)
    assert first[0] is not second[0]  # read back from disk, not kept in memory
    assert table.compute([3, 1, 2], 0.1, Options(2))[1] == first[1] and len(calls) == 2


@pytest.mark.parametrize("changed", [
    dict(values=[3, 1, 4]), dict(scale=0.2), dict(options=Options(3)), dict(options=Options(2, "y")),
    dict(values=np.array([3.0, 1.0, 2.0], dtype=np.float32)),
])
def test_a_changed_argument_misses(changed):
    table, calls = counting()
    base = dict(values=np.array([3.0, 1.0, 2.0]), scale=0.1, options=Options(2))
    table(**base)
    table(**{**base, "values": np.array([3.0, 1.0, 2.0])})  # an equal array, another object: a hit
    assert len(calls) == 1
    table(**{**base, **changed})
    assert len(calls) == 2 and len(entries()) == 2


def test_changed_source_misses(tmp_path, monkeypatch):
    package = tmp_path / "package"
    package.mkdir()
    module = package / "module.py"
    module.write_text("VALUE = 1\n")
    monkeypatch.setattr(store, "PACKAGE_ROOT", package)
    store._source_hash.cache_clear()
    table, calls = counting(sources=["module.py"])
    table([1, 2])
    table([1, 2])
    assert len(calls) == 1
    module.write_text("VALUE = 2\n")
    store._source_hash.cache_clear()  # as a new process would see it
    table([1, 2])
    assert len(calls) == 2
    store._source_hash.cache_clear()
    with pytest.raises(ValueError, match="^modules: 'missing.py' is not a module"):
        store.source_hash(["missing.py"])
    store._source_hash.cache_clear()


@pytest.mark.parametrize("damage", ["flip", "truncate", "other_entry"])
def test_a_damaged_entry_warns_and_is_recomputed(damage):
    table, calls = counting()
    expected = table([1, 2, 3])
    table([4, 5])
    (path, other) = sorted(entries(), key=lambda p: p.stat().st_mtime_ns)
    data = path.read_bytes()
    if damage == "flip":
        middle = data.index(b'"payload": "') + 40
        path.write_bytes(data[:middle] + bytes([data[middle] ^ 1]) + data[middle + 1:])
    elif damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    else:  # a valid entry of another result under this key
        path.write_bytes(other.read_bytes())
    with pytest.warns(UserWarning, match=f"stored result {path} .*: recomputing it"):
        again = table([1, 2, 3])
    assert len(calls) == 3 and pickle.dumps(again) == pickle.dumps(expected)
    table([1, 2, 3])  # the recomputed result was stored again
    assert len(calls) == 3


def test_arguments_that_cannot_key_a_result_are_refused():
    table, calls = counting()
    with pytest.raises(ValueError, match=r"^options\[0\]: a object cannot key a stored result"):
        table([1, 2], options=[object()])
    assert calls == []


def test_a_mapping_keys_by_its_order():
    assert store.describe({"a": 1, "b": 2}) != store.describe({"b": 2, "a": 1})
    assert store.describe(range(3)) == store.describe([0, 1, 2])


def test_a_read_only_cache_still_returns_the_result(monkeypatch):
    def refuse(path, data):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(store, "atomic_write", refuse)
    table, calls = counting()
    with pytest.warns(UserWarning, match="not stored"):
        value = table([1, 2])
    assert value[1]["sum"] == 3.0 and entries() == []


def test_tables_are_described_by_content_not_by_layout():
    columns = pd.DataFrame({"lam": [0.0, 1.0, 2.0], "acc": [0.5, 0.6, 0.7], "name": ["a", "b", "c"]})
    rows = pd.concat([pd.DataFrame([row]) for row in columns.to_dict("records")], ignore_index=True)
    assert store.describe(columns) == store.describe(rows)
    changed = columns.copy()
    changed.loc[1, "acc"] = 0.6000000000000001
    assert store.describe(changed) != store.describe(columns)
    assert store.describe(columns.set_index("lam")) != store.describe(columns)
    assert store.describe(columns["acc"]) != store.describe(columns[["acc"]])
    assert store.describe(columns.astype({"lam": "float32"})) != store.describe(columns)
    nested = pd.DataFrame({"history": [[1, 2], [3]]})  # cells pandas cannot hash: pickled instead
    assert store.describe(nested) == store.describe(nested.copy())
