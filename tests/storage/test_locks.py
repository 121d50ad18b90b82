"""Claims: one holder at a time, a heartbeat while it lives, and an error naming a holder that stopped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from alignbook.storage import locks

HOLDER = """
import sys, time
from alignbook.storage import locks
locks.HEARTBEAT_SECONDS = 0.1
claim = locks.claim(__import__("pathlib").Path(sys.argv[1]))
print("claimed", flush=True)
time.sleep(600)
"""


@pytest.fixture
def holder(tmp_path):
    """A separate process holding the claim of `<tmp>/run.lock`, stopped or killed by the test."""
    path = tmp_path / "run.lock"
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "claimed"
    yield path, process
    process.send_signal(signal.SIGCONT)
    process.kill()
    process.wait()


def test_one_holder_at_a_time(tmp_path):
    path = tmp_path / "run.lock"
    first = locks.claim(path)
    assert first is not None and "pid" in path.read_text()
    assert locks.claim(path) is None  # flock is per open file: this process's second claim is refused too
    first.release()
    second = locks.claim(path)
    assert second is not None
    second.release()
    second.release()  # idempotent
    assert not path.exists()


@pytest.mark.processes
def test_the_heartbeat_refreshes_the_lock_while_the_holder_lives(holder):
    path, _ = holder
    before = os.stat(path).st_mtime
    time.sleep(0.5)
    assert os.stat(path).st_mtime > before
    assert locks.claim(path) is None


@pytest.mark.processes
def test_a_stopped_holder_is_named_not_waited_for(holder):
    path, process = holder
    process.send_signal(signal.SIGSTOP)
    time.sleep(0.3)
    started = time.monotonic()
    with pytest.raises(locks.ClaimStalled, match=rf"held by process {process.pid} on "
                                                 rf"{socket.gethostname()}, whose heartbeat stopped"):
        locks.claim(path, wait=True, stale_seconds=1.0)
    assert time.monotonic() - started < 10


@pytest.mark.processes
def test_the_claim_of_a_killed_holder_is_taken_over_at_once(holder):
    path, process = holder
    process.kill()
    process.wait()
    claim = locks.claim(path, wait=True, stale_seconds=1.0)
    assert claim is not None
    claim.release()


def test_a_planted_link_or_folder_at_the_lock_is_refused(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    (tmp_path / "a.lock").symlink_to(victim)
    with pytest.raises(ValueError, match="is a link"):
        locks.claim(tmp_path / "a.lock")
    (tmp_path / "b.lock").mkdir()
    with pytest.raises(ValueError, match="is a folder"):
        locks.claim(tmp_path / "b.lock")
    assert victim.read_text() == "keep me"
