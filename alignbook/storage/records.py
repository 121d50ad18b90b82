"""Self-verifying records: the one stored form of everything a cache keeps.

A record is a JSON object plus the sha256 of its canonical form (`seal`); `unseal` gives the object back only
if the bytes are exactly what `seal` wrote, so a changed byte, a changed number, a reordered or repeated key
is caught. Keys are the sha256 of canonical JSON (`material_key`): what decides a stored result is written out
as plain data (its *key material*), hashed into its key, and stored beside the result, so an entry can show
that it describes what it is stored under (`checked_body`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np


def json_default(value):
    """JSON form of the values key material may hold beyond JSON's own: numpy scalars and arrays, sets,
    paths."""
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "tolist"):  # numpy arrays and torch tensors
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def canonical(value) -> bytes:
    """`value` as compact JSON with sorted keys: equal data give equal bytes.

    NaN and infinities are written as JSON does not define them but Python reads them back (`NaN`,
    `Infinity`), so a failed run's scores survive.
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=json_default).encode()


def material_key(material: Mapping) -> str:
    """Sha256 of key material: the key of the entry it describes."""
    return hashlib.sha256(canonical(dict(material))).hexdigest()


def seal(body: Mapping) -> bytes:
    """The stored form of a record: `body` as indented JSON plus the sha256 of its canonical content."""
    body = json.loads(canonical(dict(body)))  # plain JSON values: what a reader gets back
    record = {**body, "checksum": hashlib.sha256(canonical(body)).hexdigest()}
    return json.dumps(record, sort_keys=True, indent=1).encode()


def unseal(data: bytes) -> dict:
    """The body of a record `seal` wrote; a ValueError saying what is wrong unless `data` is exactly that."""
    try:
        record = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"is not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(record, dict) or not isinstance(record.get("checksum"), str):
        raise ValueError("has no checksum")
    body = {k: v for k, v in record.items() if k != "checksum"}
    if hashlib.sha256(canonical(body)).hexdigest() != record["checksum"]:
        raise ValueError("does not match its checksum: it was changed after it was written")
    if seal(body) != data:  # a change that JSON does not see (spacing, escapes, a repeated key)
        raise ValueError("is not laid out as it was written: it was changed after it was written")
    return body


def checked_body(data: bytes, key: str, kind: str, version: int) -> tuple[dict, dict]:
    """The body and key material of a record of `kind` and format `version` stored under `key`; a ValueError
    unless the record is intact, of that kind and version, and its key material hashes to `key`."""
    body = unseal(data)
    if body.get("kind") != kind or body.get("format") != version or body.get("key") != key:
        raise ValueError(f"holds a {body.get('kind')!r} record of format {body.get('format')!r} under key "
                         f"{str(body.get('key'))[:12]}..., not a {kind!r} record of format {version} under "
                         f"{key[:12]}...")
    material = body.get("key_material")
    if not isinstance(material, dict) or material_key(material) != key:
        raise ValueError("its key material does not hash to its key: it describes another entry")
    return body, material

