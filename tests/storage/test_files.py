"""Cache files: paths stay inside the cache, links are refused, writes are atomic, leftovers are removed."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from alignbook.storage import files
from alignbook.storage.files import UnsafePathError


def test_names_that_leave_the_cache_are_refused(tmp_path):
    for parts in (("..", "x"), ("a/b",), ("",), (".",), ("x\0y",)):
        with pytest.raises(UnsafePathError, match="not a plain file name"):
            files.inside(tmp_path, *parts)
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "ab").symlink_to(outside)
    with pytest.raises(UnsafePathError, match="leads outside the cache"):
        files.inside(tmp_path / "cache", "ab", "entry.json")
    assert files.inside(tmp_path / "cache", "cd", "entry.json") == tmp_path / "cache" / "cd" / "entry.json"


def test_reads_and_locks_never_follow_a_link(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("someone's file")
    planted = tmp_path / "entry.lock"
    planted.symlink_to(victim)
    with pytest.raises(UnsafePathError, match="is a link"):
        files.open_lock_file(planted)
    with pytest.raises(UnsafePathError, match="is a link"):
        files.read_bytes(planted)
    assert victim.read_text() == "someone's file"
    folder = tmp_path / "folder.lock"
    folder.mkdir()
    with pytest.raises(UnsafePathError, match="is a folder"):
        files.open_lock_file(folder)
    assert files.read_bytes(tmp_path / "missing") is None


def test_an_atomic_write_replaces_a_planted_link_without_touching_its_target(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("someone's file")
    entry = tmp_path / "entry.json"
    entry.symlink_to(victim)
    files.atomic_write(entry, b"new")
    assert not entry.is_symlink() and entry.read_bytes() == b"new" and victim.read_text() == "someone's file"


def test_leftovers_of_dead_writers_are_removed_and_live_ones_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    leftover = tmp_path / f".entry.json.{files.host_tag()}-{dead}.abc123.tmp"
    live = tmp_path / f".entry.json.{files.temporary_tag()}.def456.tmp"
    other_host = tmp_path / ".entry.json.00000000-1.ghi789.tmp"
    for path in (leftover, live, other_host):
        path.write_bytes(b"half")
    assert files.remove_stale_temporaries(tmp_path) == 1
    assert not leftover.exists() and live.exists() and other_host.exists()
    old = os.path.getmtime(other_host) - files.STALE_TEMPORARY_SECONDS - 10
    os.utime(other_host, (old, old))
    assert files.remove_stale_temporaries(tmp_path) == 1 and not other_host.exists()


def test_sizes_for_people():
    assert files.describe_size(512) == "512 bytes" and files.describe_size(13 * 1024) == "13.0 KB"
    assert files.on_disk(1) == files.FILE_BLOCK
    assert files.on_disk(files.FILE_BLOCK + 1) == 2 * files.FILE_BLOCK
