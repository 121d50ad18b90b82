"""Sealed records: what `seal` wrote reads back, anything else is refused with the reason."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import change_one_byte

from alignbook.storage.records import checked_body, material_key, seal, unseal


def test_a_sealed_record_reads_back_as_plain_json():
    body = {"b": [1, 2.5, None], "a": {"x": np.float32(0.5)}, "nan": float("nan")}
    back = unseal(seal(body))
    assert back["b"] == [1, 2.5, None] and back["a"] == {"x": 0.5} and np.isnan(back["nan"])


def test_every_random_byte_change_is_caught():
    data = seal({"key": "k" * 64, "values": list(range(20)), "text": "héllo"})
    rng = np.random.default_rng(0)
    for _ in range(200):
        with pytest.raises(ValueError):
            unseal(change_one_byte(data, rng))


@pytest.mark.parametrize("edit, reason", [
    (lambda d: d.replace(b'"values": [', b'"values":  ['), "not laid out as it was written"),
    (lambda d: json.dumps({**json.loads(d), "values": [9]}, sort_keys=True, indent=1).encode(), "checksum"),
    (lambda d: d[: len(d) // 2], "not JSON"),
    (lambda d: b"\xff" + d, "not UTF-8"),
    (lambda d: b"[]", "no checksum"),
])
def test_each_kind_of_damage_is_named(edit, reason):
    with pytest.raises(ValueError, match=reason):
        unseal(edit(seal({"values": [1, 2]})))


def test_a_record_must_describe_the_key_it_is_stored_under():
    material = {"dataset": "x", "lam": 0.5}
    key = material_key(material)
    record = seal({"kind": "run", "format": 3, "key": key, "key_material": material})
    assert checked_body(record, key, "run", 3)[1] == material
    with pytest.raises(ValueError, match="not a 'run' record of format 4"):
        checked_body(record, key, "run", 4)
    other = material_key({**material, "lam": 1.0})
    with pytest.raises(ValueError, match="under key"):
        checked_body(record, other, "run", 3)
    forged = seal({"kind": "run", "format": 3, "key": other, "key_material": material})
    with pytest.raises(ValueError, match="does not hash to its key"):
        checked_body(forged, other, "run", 3)


def test_keys_differ_for_different_material_and_not_for_key_order():
    assert material_key({"a": 1, "b": 2}) == material_key({"b": 2, "a": 1})
    assert material_key({"a": 1}) != material_key({"a": 1.5}) and len(material_key({})) == 64
