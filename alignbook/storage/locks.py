"""Claims: which process computes an entry, shown alive by a heartbeat.

A process about to compute an entry claims it (`claim`): an exclusive lock (`flock`) on the entry's `.lock`
file, which names the holder (host and process) and whose modification time the holder refreshes every
`HEARTBEAT_SECONDS` from a background thread. The operating system drops the lock when the holder dies,
however it dies, so the claim of a killed process is taken over at once. A holder that is alive but does not
move (stopped with SIGSTOP, hung, or on another machine of a shared disk that went away) stops its heartbeat:
a process waiting for it (`claim(..., wait=True)`) then fails with `ClaimStalled`, naming the holder, instead
of waiting forever. Waits of any length on a live holder are legitimate: chapters executed side by side wait
for each other's runs.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

from alignbook.storage.files import open_lock_file

try:
    import fcntl
except ImportError:  # Windows: claims are not enforced there
    fcntl = None

HEARTBEAT_SECONDS = 2.0  # how often a holder refreshes the time of its lock files
STALE_SECONDS = 60.0  # a holder whose heartbeat is older than this is reported, not waited for
POLL_SECONDS = 0.5  # how often a waiter looks again


class ClaimStalled(RuntimeError):
    """The holder of a claim stopped showing that it is alive."""


class _Heartbeat:
    """One daemon thread per process that touches the lock file of every claim this process holds."""

    def __init__(self):
        self.handles: set[int] = set()
        self.guard = threading.Lock()
        self.thread: threading.Thread | None = None
        self.owner = 0  # pid that started the thread (a forked child starts its own)

    def add(self, handle: int) -> None:
        with self.guard:
            self.handles.add(handle)
            if self.thread is None or self.owner != os.getpid() or not self.thread.is_alive():
                self.owner = os.getpid()
                self.thread = threading.Thread(target=self._beat, name="alignbook-claims-heartbeat",
                                               daemon=True)
                self.thread.start()

    def remove(self, handle: int) -> None:
        with self.guard:
            self.handles.discard(handle)

    def _beat(self) -> None:
        while True:
            time.sleep(HEARTBEAT_SECONDS)
            with self.guard:
                handles = list(self.handles)
            for handle in handles:
                try:
                    os.utime(handle)
                except OSError:  # released meanwhile
                    pass


_HEARTBEAT = _Heartbeat()


class Claim:
    """This process computes the entry: an exclusive lock on its lock file, held until `release`."""

    def __init__(self, path: Path, handle: int | None):
        """The claim of the lock file `path`, held through the open file `handle`."""
        self.path, self.handle = path, handle

    def release(self) -> None:
        """Give the entry up (idempotent): remove the lock file, then unlock it."""
        if self.handle is None:
            return
        _HEARTBEAT.remove(self.handle)
        try:
            self.path.unlink()  # before unlocking: a process waiting on this file then retries the path
        except OSError:
            pass
        os.close(self.handle)
        self.handle = None

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def holder(path: Path) -> str:
    """Who holds the claim at `path`, for a message: "process 123 on host-a", or what is known."""
    try:
        with open(path, "rb") as stream:
            found = json.loads(stream.read(4096).decode("utf-8"))
        return f"process {int(found['pid'])} on {found['host']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "an unknown process"


def _stalled_error(path: Path, age: float) -> ClaimStalled:
    return ClaimStalled(
        f"{path.name}: held by {holder(path)}, whose heartbeat stopped {age:.0f} s ago (the process is "
        f"stopped, hung, or on a machine that went away): end or resume that process, or remove {path} if "
        "it is gone")


def claim(path: Path, wait: bool = False, stale_seconds: float | None = None) -> Claim | None:
    """Claim the lock file `path` for this process: a `Claim`, or None when another live process holds it.

    With `wait`, block until the holder releases it or dies, or raise `ClaimStalled` once the holder's
    heartbeat is older than `stale_seconds`. A claim found may be one whose holder has just finished: read the
    entry before computing it. A link or a folder at `path` is refused (`files.UnsafePathError`).
    """
    stale_seconds = STALE_SECONDS if stale_seconds is None else stale_seconds
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        handle = open_lock_file(path)
        try:
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            age = time.time() - os.fstat(handle).st_mtime
            os.close(handle)
            if not wait:
                return None
            if age > stale_seconds:
                raise _stalled_error(path, age) from None
            time.sleep(POLL_SECONDS)
            continue
        except BaseException:
            os.close(handle)
            raise
        try:
            current = os.stat(path, follow_symlinks=False).st_ino
        except FileNotFoundError:
            current = None
        if current != os.fstat(handle).st_ino:  # the holder removed the file while we opened it: try again
            os.close(handle)
            continue
        os.ftruncate(handle, 0)
        os.pwrite(handle, json.dumps({"host": socket.gethostname(), "pid": os.getpid(),
                                      "since": round(time.time(), 3)}).encode(), 0)
        os.utime(handle)
        _HEARTBEAT.add(handle)
        return Claim(path, handle)
