"""Files of a cache: paths that stay inside it, reads and writes that refuse links, atomic writes, disk space.

A cache may live on a disk other people can write to (a team folder, a cluster's shared disk), and its file
names are predictable from a sweep spec. So every file a cache reads, writes or locks is named through
`inside(root, ...)`, which refuses names that leave the cache and folders that are links out of it, and is
opened with `O_NOFOLLOW`, so a link planted at an entry's or a lock's name is an error, never followed. Writes
are atomic (`atomic_write`: a temporary file in the same folder, fsync, rename), and temporary files carry
their writer's host and process, so the next start removes those a killed writer left
(`remove_stale_temporaries`).
"""

from __future__ import annotations

import errno
import functools
import hashlib
import os
import re
import shutil
import socket
import stat
import tempfile
import time
from pathlib import Path

from alignbook.checks import fail

# A temporary file this old is a leftover whoever wrote it (a write takes well under a second).
STALE_TEMPORARY_SECONDS = 86_400
FILE_BLOCK = 4096  # disk space is allocated in blocks: a small file takes one


class DiskFullError(OSError):
    """A write refused for lack of space or quota; the message names the folder and the space needed."""


class UnsafePathError(ValueError):
    """A cache path that is a link, or that leads outside the cache."""


def inside(root: Path, *parts: str) -> Path:
    """`root / parts...`, checked to stay inside `root`: each part is one plain name (no separator, no '..'),
    and no existing folder on the way is a link that leads out of the cache.

    Raises UnsafePathError.
    """
    path = Path(root)
    for part in parts:
        if not part or part in (".", "..") or "/" in part or "\0" in part or os.sep in part:
            raise UnsafePathError(f"{part!r} is not a plain file name inside the cache {root}")
        path = path / part
    real_root = os.path.realpath(root)
    real_parent = os.path.realpath(path.parent)
    if os.path.commonpath([real_root, real_parent]) != real_root:
        raise UnsafePathError(f"{path.parent} leads outside the cache {root} (to {real_parent}): a folder "
                              "inside the cache is a link; remove it")
    return path


def _link_error(path: Path) -> UnsafePathError:
    return UnsafePathError(f"{path} is a link, not a file of the cache: remove it (links are never followed, "
                           "so a cache others can write to cannot make this process read or overwrite "
                           "another file)")


def read_bytes(path: Path) -> bytes | None:
    """The bytes of the regular file at `path`, or None when there is none; UnsafePathError for a link, an
    OSError for a folder or another kind of file at that name."""
    try:
        handle = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _link_error(path) from None
        raise
    try:
        if not stat.S_ISREG(os.fstat(handle).st_mode):
            raise OSError(errno.EINVAL, f"{path} is not a regular file")
        with os.fdopen(handle, "rb") as stream:
            handle = None
            return stream.read()
    finally:
        if handle is not None:
            os.close(handle)


def open_lock_file(path: Path) -> int:
    """An open read-write descriptor of the regular file at `path`, created if absent, never through a
    link."""
    try:
        handle = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _link_error(path) from None
        if exc.errno == errno.EISDIR:
            raise UnsafePathError(f"{path} is a folder, not a lock file: remove it") from None
        raise
    if not stat.S_ISREG(os.fstat(handle).st_mode):
        os.close(handle)
        raise UnsafePathError(f"{path} is not a regular file: remove it")
    return handle


@functools.cache
def host_tag() -> str:
    """A short, stable tag of this machine's name (temporary files and claims name their writer with it)."""
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def temporary_tag() -> str:
    """`<host>-<pid>` of this process: part of the name of every temporary file it writes."""
    return f"{host_tag()}-{os.getpid()}"


_TEMPORARY_NAME = re.compile(r"\.(?P<host>[0-9a-f]{8})-(?P<pid>\d+)\.[A-Za-z0-9_]+\.tmp$")


def process_alive(pid: int) -> bool:
    """Whether a process `pid` runs on this machine (someone else's counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(folder: Path) -> int:
    """Remove the temporary files killed writers left in `folder`; return how many.

    A temporary file is stale when its writer, a process of this machine, no longer runs, or when it is a day
    old. A live writer's file is kept; a folder that cannot be changed (read-only) is left as it is.
    """
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    removed = 0
    for entry in entries:
        if not (entry.name.startswith(".") and entry.name.endswith(".tmp")) or entry.is_symlink():
            continue
        writer = _TEMPORARY_NAME.search(entry.name)
        try:
            ours = writer is not None and writer["host"] == host_tag()
            dead = ours and not process_alive(int(writer["pid"]))
            if dead or time.time() - entry.stat(follow_symlinks=False).st_mtime > STALE_TEMPORARY_SECONDS:
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


def on_disk(size: int) -> int:
    """Bytes a file of `size` bytes takes on disk (whole blocks)."""
    return -(-size // FILE_BLOCK) * FILE_BLOCK


def free_space(folder: Path) -> int | None:
    """Free bytes on `folder`'s disk, or None when it cannot be asked."""
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def atomic_write(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over `path` (never half a file).

    The temporary file is created exclusively (a planted name is never reused) and the rename replaces
    whatever is at `path`, a planted link included, without following it. A full disk or quota raises a one-
    line `DiskFullError` naming the folder and the bytes needed.
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
            free = free_space(path.parent)
            raise DiskFullError(
                f"no space left in {path.parent}: writing {path.name} needs {describe_size(len(data))}, "
                f"{describe_size(free) if free is not None else 'an unknown amount'} free (free some space, "
                "or set ALIGNBOOK_CACHE / ALIGNBOOK_RESULTS to a folder on a disk with room)") from None
        raise


def check_writable(folder: Path, env_var: str, what: str) -> None:
    """Fail early, before any work, when results could not be stored in `folder`."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-"):
            pass
    except OSError as exc:
        fail(what, f"cannot write to {folder} ({exc.strerror or exc})",
             f"set the environment variable {env_var} to a writable folder")


def check_space(folder: Path, needed: int, env_var: str, what: str) -> None:
    """Fail early, before any work, when `folder`'s disk has less than `needed` bytes free."""
    free = free_space(folder)
    if free is not None and free < needed:
        fail(what, f"{folder} has {describe_size(free)} free, but the work to do needs about "
                   f"{describe_size(needed)}", f"free some space, or set {env_var} to a folder on a disk "
                                              "with room")
