"""Cached computations: exact round trips, misses on changed inputs or code, damaged entries, typed keys."""

from __future__ import annotations

import logging
import pickle
import subprocess
import sys
import threading
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from alignbook import paths
from alignbook.storage import deps, files, memo
from alignbook.storage.records import canonical


@dataclass(frozen=True)
class Options:
    k: int
    name: str = "x"


def counting():
    """A stored function that counts its computations and returns a table with mixed dtypes."""
    calls = []

    @memo.remembered(ignore=("workers",))
    def table(values, scale=1.0, options=None, workers=1):
        calls.append(1)
        values = np.asarray(values, dtype=float)
        frame = pd.DataFrame({"value": values * scale, "count": np.arange(len(values), dtype=np.int32),
                              "label": [f"v{i}" for i in range(len(values))],
                              "flag": values > values.mean()}, index=pd.Index(values.astype(int), name="key"))
        return frame, {"options": options, "sum": float(values.sum() * scale)}

    return table, calls


def entries():
    return sorted((paths.cache_dir() / memo.FOLDER).rglob("*.json"))


def test_a_stored_result_reads_back_exactly_without_computing():
    table, calls = counting()
    first = table([3, 1, 2], scale=0.1, options=Options(2))
    second = table([3, 1, 2], scale=0.1, options=Options(2), workers=4)  # `workers` is not in the key
    assert len(calls) == 1 and len(entries()) == 1
    pd.testing.assert_frame_equal(first[0], second[0], check_exact=True)
    assert list(second[0].dtypes) == list(first[0].dtypes) and second[1] == first[1]
    assert pickle.dumps(second) == pickle.dumps(first)
    assert first[0] is not second[0]  # read back from disk, not kept in memory
    assert table.lookup([3, 1, 2], 0.1, Options(2))[0] and not table.lookup([3, 1, 2], 0.2, Options(2))[0]
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


def test_changed_code_misses(monkeypatch):
    table, calls = counting()
    table([1, 2])
    table([1, 2])
    assert len(calls) == 1
    monkeypatch.setattr(deps, "module_code", lambda module: "other code")  # as after an edit
    table([1, 2])
    assert len(calls) == 2


@pytest.mark.parametrize("damage", ["flip", "truncate", "other_entry"])
def test_a_damaged_entry_warns_and_is_recomputed(damage, caplog):
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
    with caplog.at_level(logging.WARNING, logger="alignbook"):
        again = table([1, 2, 3])
    assert f"derived entry {path} is unreadable" in caplog.text
    assert len(calls) == 3 and pickle.dumps(again) == pickle.dumps(expected)
    table([1, 2, 3])  # the recomputed result was stored again
    assert len(calls) == 3


def test_a_write_removes_what_killed_writers_left_in_the_store():
    table, _ = counting()
    table([1, 2])
    (entry,) = entries()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    leftover = entry.parent / f".{entry.name}.{files.host_tag()}-{dead}.abc123.tmp"
    leftover.write_bytes(b"half an entry")
    table([3, 4])
    assert not leftover.exists() and len(entries()) == 2


def test_arguments_that_cannot_key_a_result_are_refused():
    table, calls = counting()
    with pytest.raises(ValueError, match=r"^options\[0\]: a object cannot key a stored result"):
        table([1, 2], options=[object()])
    with pytest.raises(ValueError, match=r"^options: a path .* cannot key a stored result"):
        table([1, 2], options=paths.cache_dir())
    assert calls == []


def test_a_result_that_cannot_be_pickled_is_returned_with_a_warning():
    @memo.remembered()
    def locked(n):
        return threading.Lock(), n

    with pytest.warns(UserWarning, match="cannot be pickled"):
        assert locked(3)[1] == 3
    assert entries() == []


def test_a_read_only_cache_still_returns_the_result(monkeypatch):
    def refuse(path, data):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(memo.EntryStore, "write", lambda self, *a, **k: refuse(None, None))
    table, calls = counting()
    with pytest.warns(UserWarning, match="not stored"):
        value = table([1, 2])
    assert value[1]["sum"] == 3.0 and entries() == []


def described(value) -> bytes:
    return canonical(memo.describe(value))


def test_different_arguments_never_share_a_key():
    frame = pd.DataFrame({"a": [1, 2]})
    named = frame.copy()
    named.columns.name = "what"
    distinct = [
        0, 0.0, -0.0, "0", False, None, 1, 1.0, [1], (1,), {"a": 1}, {"b": 1}, range(3), [0, 1, 2],
        {"a": 1, "b": 2}, {"b": 2, "a": 1}, np.array([1, 2]), np.array([1.0, 2.0]), np.array([[1, 2]]),
        frame, named, pd.DataFrame({"0": [1, 2]}), pd.DataFrame({0: [1, 2]}), frame["a"],
        pd.Series([1, 2], name=None), pd.Series([1, 2], name=0), pd.Series([1, 2], name="0"),
        pd.DataFrame({"a": pd.Categorical(["x", "y"], categories=["x", "y"])}),
        pd.DataFrame({"a": pd.Categorical(["x", "y"], categories=["y", "x"])}),
        pd.DataFrame({"a": pd.Categorical(["x", "y"], ordered=True)}),
        pd.DataFrame({"a": [1, "1"]}, dtype=object), pd.DataFrame({"a": ["1", 1]}, dtype=object),
        pd.DataFrame({"a": [None]}, dtype=object), pd.DataFrame({"a": [np.nan]}, dtype=object),
        pd.DataFrame({("a", "b"): [1]}), pd.DataFrame({"('a', 'b')": [1]}),
        np.array([[1, 2], [3]], dtype=object), np.array([[1, 2], [4]], dtype=object),
        Options(1), Options(1, "y"),
    ]
    keys = [described(value) for value in distinct]
    assert len(set(keys)) == len(keys), [v for v, k in zip(distinct, keys, strict=True) if keys.count(k) > 1]


def test_equal_tables_built_differently_share_a_key():
    columns = pd.DataFrame({"lam": [0.0, 1.0, 2.0], "acc": [0.5, 0.6, 0.7], "name": ["a", "b", "c"]})
    rows = pd.concat([pd.DataFrame([row]) for row in columns.to_dict("records")], ignore_index=True)
    assert described(columns) == described(rows)
    changed = columns.copy()
    changed.loc[1, "acc"] = 0.6000000000000001
    assert described(changed) != described(columns)
    nested = pd.DataFrame({"history": [[1, 2], [3]]})
    assert described(nested) == described(nested.copy())
    assert described(pd.DataFrame({"history": [[1, 2], [4]]})) != described(nested)
