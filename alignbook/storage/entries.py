"""A folder of self-verifying entries: the one mechanism under every cache of the package.

`EntryStore(root, folder, kind, version)` keeps one entry per key under `<root>/<folder>/<key[:2]>/`:
`<key>.json`, a sealed record (`records.seal`) holding the entry's key material and its content, and, when the
entry has arrays, `<key>.npz` (written first, read with `allow_pickle=False`) whose sha256 the record holds.
The record, written last and atomically, marks the entry complete. Reading checks everything: the record's
checksum and layout, its kind and format, that its key material hashes to its key, and the arrays' checksum;
an entry failing a check is reported in a warning that names it and treated as absent, so it is computed
again, never served. Paths never leave the store's folder and links are never followed (`files`); entries are
claimed while computed (`locks`).

The run cache (`sweep.cache`), the alignment measurements (`sweep.measure`) and the chapters' derived results
(`storage.memo`) are EntryStores of their own kinds.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from alignbook.storage import files, locks
from alignbook.storage.records import checked_body, material_key, seal

logger = logging.getLogger("alignbook")

KEY_CHARACTERS = frozenset("0123456789abcdef")


def check_key(key: str) -> str:
    """`key` if it is a sha256 in hex (every name a store builds from it is then a plain file name)."""
    if not isinstance(key, str) or len(key) != 64 or not set(key) <= KEY_CHARACTERS:
        raise ValueError(f"{key!r} is not an entry key (64 hexadecimal digits)")
    return key


class EntryStore:
    """Entries of one `kind` and format `version` under `<root>/<folder>/`."""

    def __init__(self, root: Path, folder: str, kind: str, version: int):
        self.root, self.kind, self.version = Path(root), kind, version
        self.folder = files.inside(self.root, folder)

    # ------------------------------------------------------------------------------------------ paths

    def _path(self, key: str, suffix: str) -> Path:
        check_key(key)
        return files.inside(self.root, self.folder.name, key[:2], f"{key}{suffix}")

    def record_path(self, key: str) -> Path:
        """Where the record of entry `key` lives."""
        return self._path(key, ".json")

    def arrays_path(self, key: str) -> Path:
        """Where the arrays of entry `key` live (when it has any)."""
        return self._path(key, ".npz")

    def lock_path(self, key: str) -> Path:
        """The lock file of entry `key` while a process computes it."""
        return self._path(key, ".lock")

    # ------------------------------------------------------------------------------------------ reading

    def read(self, key: str, arrays: bool = False, warn: bool = True) -> tuple[dict, dict | None] | None:
        """`(body, arrays)` of entry `key` (arrays: a dict of numpy arrays when asked for and present, else
        None), or None when the entry is absent or fails a check (with a warning naming it, unless `warn` is
        False)."""
        path = self.record_path(key)
        try:
            data = files.read_bytes(path)
            if data is None:
                return None
            body, _ = checked_body(data, key, self.kind, self.version)
            found = self._read_arrays(key, body.get("arrays"), load=arrays)
            return body, (found if arrays else None)
        except Exception as exc:  # noqa: BLE001 - a damaged entry must never be served nor crash the caller
            if warn:
                logger.warning("%s entry %s is unreadable (%s); computing it again", self.kind, path, exc)
            return None

    def _read_arrays(self, key: str, described, load: bool) -> dict | None:
        """The entry's arrays, checked against the record (loaded only when `load`; checked always, so an
        entry with damaged arrays is never served, even to a reader that does not need them)."""
        if described is None:
            return None
        if not isinstance(described, dict) or described.get("file") != self.arrays_path(key).name:
            raise ValueError("its record describes no arrays of its own")
        data = files.read_bytes(self.arrays_path(key))
        if data is None:
            raise ValueError(f"{self.arrays_path(key).name} is missing")
        if hashlib.sha256(data).hexdigest() != described.get("sha256"):
            raise ValueError(f"{self.arrays_path(key).name} does not match its recorded checksum")
        if not load:
            return None
        with np.load(io.BytesIO(data), allow_pickle=False) as stored:
            found = {name: stored[name] for name in stored.files}
        if sorted(found) != sorted(described.get("names", [])):
            raise ValueError(f"{self.arrays_path(key).name} holds other arrays than its record names")
        return found

    # ------------------------------------------------------------------------------------------ writing

    def write(self, key: str, material: Mapping, content: Mapping, arrays: Mapping | None = None) -> None:
        """Store entry `key`: its `material` (which must hash to `key`), its `content` (JSON data) and
        optional `arrays` (name -> numpy array, no objects).

        Arrays first, the record that completes the entry last.
        """
        if material_key(material) != key:
            raise ValueError(f"key material does not hash to the key {key[:12]}... it is written under")
        reserved = {"kind", "format", "key", "key_material", "arrays"} & set(content)
        if reserved:
            raise ValueError(f"content may not use the record's own fields {sorted(reserved)}")
        described = None
        if arrays:
            buffer = io.BytesIO()
            np.savez(buffer, **{name: np.asarray(value) for name, value in arrays.items()})
            data = buffer.getvalue()
            files.atomic_write(self.arrays_path(key), data)
            described = {"file": self.arrays_path(key).name, "sha256": hashlib.sha256(data).hexdigest(),
                         "names": sorted(arrays)}
        record = {"kind": self.kind, "format": self.version, "key": key, "key_material": dict(material),
                  **content, "arrays": described}
        files.atomic_write(self.record_path(key), seal(record))

    # ------------------------------------------------------------------------------------------ upkeep

    def claim(self, key: str, wait: bool = False, stale_seconds: float | None = None):
        """Claim entry `key` for this process (`locks.claim`): a Claim, or None when another live process has
        it."""
        return locks.claim(self.lock_path(key), wait=wait, stale_seconds=stale_seconds)

    def remove_stale_temporaries(self) -> int:
        """Remove what killed writers left in the store (`files.remove_stale_temporaries`); return how
        many."""
        if not self.folder.is_dir() or self.folder.is_symlink():
            return 0
        return sum(files.remove_stale_temporaries(part) for part in self.folder.iterdir()
                   if part.is_dir() and not part.is_symlink())

    def check_writable(self, env_var: str = "ALIGNBOOK_CACHE", what: str = "cache_dir") -> None:
        """Fail before any work when the store's folder cannot be written."""
        files.check_writable(self.folder, env_var, what)

    def check_space(self, needed: int, env_var: str = "ALIGNBOOK_CACHE", what: str = "cache_dir") -> None:
        """Fail before any work when the store's disk has less than `needed` bytes free."""
        files.check_space(self.folder, needed, env_var, what)
