"""The local process pool of a sweep: spawned worker processes that never outlive the sweep.

A worker exits on its own when the sweep process that started it dies, however it dies (SIGKILL, the
out-of-memory killer, a CI timeout): on Linux the kernel kills it (`PR_SET_PDEATHSIG`), and on every
system a watcher thread checks every `PARENT_CHECK_SECONDS` that its parent is still the sweep, also in the
middle of a long group. When the sweep stops early (an error, Ctrl-C), `process_pool` cancels the groups
not yet started and makes the running workers exit at once: finished runs are cached, the rest is trained
by the next sweep. With the workers gone, multiprocessing's resource tracker, which lives as long as some
process holds its pipe, exits too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading

PARENT_CHECK_SECONDS = 0.5
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>: the signal a process gets when its parent dies


def _exit_with_parent(parent_pid: int, stop) -> None:
    """Pool initializer, run in each worker before its first task."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no prctl: the watcher below still notices
            pass
    if os.getppid() != parent_pid:  # the sweep died before the request above took effect
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid, stop), name="alignbook-watch-parent",
                     daemon=True).start()


def _watch_parent(parent_pid: int, stop) -> None:
    while not stop.wait(PARENT_CHECK_SECONDS):
        if os.getppid() != parent_pid:  # orphaned: adopted by another process
            os._exit(1)
    os._exit(1)  # the sweep stopped early: drop the group being trained


@contextlib.contextmanager
def process_pool(workers: int):
    """A spawn `ProcessPoolExecutor` of `workers` processes that die with this one and are stopped, not
    waited for, when the block ends with an exception (or the generator using it is closed)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_exit_with_parent,
                               initargs=(os.getpid(), stop))
    try:
        yield pool
    except BaseException:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
