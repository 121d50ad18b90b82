"""Entry stores: what was written reads back; damaged, swapped or forged entries are reported, not served."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from alignbook.storage.entries import EntryStore, check_key
from alignbook.storage.records import material_key


def entry(store: EntryStore, value: float, arrays: bool = True) -> str:
    material = {"value": value}
    key = material_key(material)
    store.write(key, material, {"result": value * 2},
                {"w": np.arange(3, dtype=np.float32) * value} if arrays else None)
    return key


def test_an_entry_reads_back_with_its_arrays(tmp_path):
    store = EntryStore(tmp_path, "things", "thing", 1)
    key = entry(store, 1.5)
    body, arrays = store.read(key, arrays=True)
    assert body["result"] == 3.0 and body["key_material"] == {"value": 1.5}
    np.testing.assert_array_equal(arrays["w"], np.array([0, 1.5, 3], dtype=np.float32))
    assert store.read(key)[1] is None  # arrays only when asked for
    assert store.read(material_key({"value": 2.0})) is None


@pytest.mark.parametrize("damage", ["record", "arrays", "swap", "kind"])
def test_a_damaged_entry_is_reported_and_absent(tmp_path, caplog, damage):
    store = EntryStore(tmp_path, "things", "thing", 1)
    key, other = entry(store, 1.0), entry(store, 2.0)
    if damage == "record":
        path = store.record_path(key)
        path.write_bytes(path.read_bytes().replace(b"2.0", b"2.5"))
    elif damage == "arrays":
        path = store.arrays_path(key)
        data = bytearray(path.read_bytes())
        data[-30] ^= 1
        path.write_bytes(bytes(data))
    elif damage == "swap":  # a valid entry of another key copied over this one
        store.record_path(key).write_bytes(store.record_path(other).read_bytes())
    else:  # a valid entry of another kind
        EntryStore(tmp_path, "things", "other", 1).write(key, {"value": 1.0}, {"result": 2.0})
    with caplog.at_level(logging.WARNING, logger="alignbook"):
        assert store.read(key, arrays=True) is None
    assert str(store.record_path(key)) in caplog.text


def test_content_may_not_overwrite_the_record_and_material_must_match(tmp_path):
    store = EntryStore(tmp_path, "things", "thing", 1)
    with pytest.raises(ValueError, match="does not hash"):
        store.write(material_key({"a": 1}), {"a": 2}, {})
    with pytest.raises(ValueError, match="record's own fields"):
        store.write(material_key({"a": 1}), {"a": 1}, {"key": "x"})
    with pytest.raises(ValueError, match="not an entry key"):
        store.record_path("../../etc/passwd")
    assert check_key("0" * 64) == "0" * 64
