"""Fault injection: whatever goes wrong, nothing wrong is served and nothing is left behind.

Each test plants a fault that a person, a machine or a second process can cause and checks what the package
does about it: a tampered, garbled or foreign cache entry is caught with a warning naming it and recomputed;
a killed sweep leaves no process behind and the next sweep takes over its runs; a full or read-only disk,
an empty environment variable, a duplicated YAML key and a bad notebook parameter give a one-line error
that names the culprit before any training; overflowing data give a clear error instead of silent zeros;
the PID solver finishes on dense joints and its advice, when it does not, works; two sweeps on one cache
never train the same run twice. Trainers are the counting stand-ins of `test_sweep` unless the fault is in
the training processes themselves (`fault_sweep.py`).
"""

from __future__ import annotations

import errno
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import psutil
import pytest
from conftest import FakeTrainers, change_one_byte, fake_result, spec_dict, tiny_dataset
from conftest import run_tiny as run

from alignbook import paths
from alignbook.cli import main as cli_main
from alignbook.data import registry
from alignbook.storage import files, locks
from alignbook.storage.records import seal, unseal
from alignbook.sweep import cache as sweep_cache
from alignbook.sweep import run_sweep

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parents[1]


def entry_runs(result) -> list[tuple[str, float, int]]:
    """(key, lam, seed) of every run of a sweep result."""
    rows = result.table.drop_duplicates("key")
    return list(zip(rows["key"], rows["lam"], rows["seed"], strict=True))



def test_every_random_byte_change_of_an_entry_is_caught(folders, trainers, caplog):
    first = run(spec_dict())
    cache = sweep_cache.RunCache(folders / "cache")
    runs = entry_runs(first)
    rng = np.random.default_rng(96)
    served = []
    for trial in range(96):
        key, lam, seed = runs[trial % len(runs)]
        # one trial in four damages the arrays
        path = cache.runs.record_path(key) if trial % 4 else cache.runs.arrays_path(key)
        original = path.read_bytes()
        path.write_bytes(change_one_byte(original, rng))
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="alignbook"):
            if cache.read(key, lam, seed, first.runs[0].config, weights=True) is not None:
                served.append((path.name, trial))
            else:
                assert cache.runs.record_path(key).name in caplog.text, "the warning names the entry"
        path.write_bytes(original)
    assert served == []


def test_tampered_entries_are_recomputed_and_the_table_is_unchanged(folders, trainers, caplog):
    first = run(spec_dict())
    cache = sweep_cache.RunCache(folders / "cache")
    (score, _, _), (removed, _, _), (config, _, _), (copied, _, _) = entry_runs(first)[:4]
    text = cache.runs.record_path(score).read_text()  # a score edited by hand: still valid JSON
    cache.runs.record_path(score).write_text(re.sub(r'"acc1": [0-9.]+', '"acc1": 0.99', text))
    edits = {removed: lambda e: e["result"].pop("best_epoch1"),
             config: lambda e: e["key_material"]["config"].update(width=99)}
    for key, edit in edits.items():  # checksums made to match: only the schema or the key tells
        body = unseal(cache.runs.record_path(key).read_bytes())
        edit(body)
        cache.runs.record_path(key).write_bytes(seal(body))
    cache.runs.record_path(copied).write_bytes(text.encode())  # another run's entry
    trainers.runs.clear()
    with caplog.at_level(logging.WARNING, logger="alignbook"):
        second = run(spec_dict())
    assert second.n_computed == 4 and len(trainers.runs) == 4
    for key in (score, removed, config, copied):
        assert sum(key in r.getMessage() for r in caplog.records) == 1, f"one warning names {key}"
    reasons = caplog.text
    assert "best_epoch1" in reasons and "key" in reasons
    assert second.table.equals(first.table)


def test_tampered_dataset_description_is_caught(folders, trainers, monkeypatch, caplog):
    registry.register_dataset("tiny_fixed", tiny_dataset, deterministic=True)
    first = run(spec_dict(lams=[0.0], dataset={"kind": "tiny_fixed"}))
    descriptions = sorted((folders / "cache" / "datasets").rglob("*.json"))
    assert len(descriptions) == 4
    renamed, garbled = descriptions[:2]
    renamed.write_text(re.sub(r'"name": "[^"]*"', '"name": "someone-else"', renamed.read_text()))  # by hand
    garbled.write_bytes(change_one_byte(garbled.read_bytes(), np.random.default_rng(0)))
    with caplog.at_level(logging.WARNING, logger="alignbook"):
        second = run(spec_dict(lams=[0.0], dataset={"kind": "tiny_fixed"}))
    registry.unregister_dataset("tiny_fixed")
    assert second.table.equals(first.table)
    assert renamed.name in caplog.text and garbled.name in caplog.text
    assert unseal(renamed.read_bytes())["description"]["name"] != "someone-else"


def start_fault_sweep(tmp_path: Path, seconds: float, workers: int, log: Path) -> subprocess.Popen:
    env = dict(os.environ, FAULT_SWEEP_LOG=str(log), FAULT_SWEEP_SECONDS=str(seconds),
               ALIGNBOOK_RESULTS=str(tmp_path / "results"), PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.Popen([sys.executable, str(TESTS / "fault_sweep.py"), str(tmp_path / "cache"),
                             str(workers)], env=env, cwd=tmp_path, stderr=subprocess.PIPE)


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {seconds} s waiting for {what}")
        time.sleep(0.1)


def trainers_started(log: Path) -> int:
    """How many processes have started training (distinct pids in the stand-in's log)."""
    return len({line.split()[0] for line in log.read_text().splitlines()}) if log.exists() else 0


def survivors(processes: list[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
        except psutil.NoSuchProcess:
            pass
    return alive


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_a_killed_sweep_leaves_no_process_behind(tmp_path, how):
    log = tmp_path / "trained.log"
    sweep = start_fault_sweep(tmp_path, seconds=600, workers=2, log=log)
    descendants = []
    try:
        wait_for(lambda: trainers_started(log) == 2 or sweep.poll() is not None, 120, "two training workers")
        assert sweep.poll() is None, sweep.stderr.read().decode()[-3000:]
        descendants = psutil.Process(sweep.pid).children(recursive=True)
        assert len(descendants) >= 2  # the two workers, and the resource tracker
        os.kill(sweep.pid, how)
        sweep.wait(timeout=20)
        deadline = time.monotonic() + 10
        while survivors(descendants) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = survivors(descendants)
        assert left == [], f"alive 10 s after the sweep's end: {[p.cmdline()[-2:] for p in left]}"
    finally:
        for process in survivors(descendants):
            process.kill()
        sweep.kill()
        sweep.wait()
        sweep.stderr.close()


def test_the_next_sweep_takes_over_the_runs_of_a_killed_one(tmp_path, monkeypatch):
    import fault_sweep

    log = tmp_path / "trained.log"
    sweep = start_fault_sweep(tmp_path, seconds=600, workers=1, log=log)
    try:
        wait_for(lambda: trainers_started(log) == 1 or sweep.poll() is not None, 120, "the training process")
    finally:
        sweep.kill()
        sweep.wait()
        sweep.stderr.close()
    monkeypatch.setenv("ALIGNBOOK_RESULTS", str(tmp_path / "results"))
    fake = FakeTrainers()
    result = run_sweep(fault_sweep.SPEC, fault_sweep.datasets(), cache_dir=tmp_path / "cache", workers=1,
                       progress=False, trainer=fake)
    assert result.n_computed == 12 and len(fake.runs) == 12
    assert not list((tmp_path / "cache").rglob("*.lock")) and not list((tmp_path / "cache").rglob("*.tmp"))


def test_two_sweeps_on_one_cache_train_each_run_once(tmp_path):
    log = tmp_path / "trained.log"
    sweeps = [start_fault_sweep(tmp_path, seconds=1.5, workers=1, log=log) for _ in range(2)]
    try:
        for sweep in sweeps:
            assert sweep.wait(timeout=120) == 0, sweep.stderr.read().decode()[-3000:]
    finally:
        for sweep in sweeps:
            sweep.kill()
            sweep.wait()
            sweep.stderr.close()
    trained = [tuple(line.split()[1:]) for line in log.read_text().splitlines()]
    assert len(trained) == 12 and len(set(trained)) == 6  # 6 (lam, seed) pairs on each of two datasets


@pytest.mark.processes
def test_a_stopped_sweep_holding_runs_is_named_not_waited_for_forever(tmp_path, monkeypatch):
    import fault_sweep

    log = tmp_path / "trained.log"
    sweep = start_fault_sweep(tmp_path, seconds=600, workers=1, log=log)
    try:
        wait_for(lambda: trainers_started(log) == 1 or sweep.poll() is not None, 120, "the training process")
        sweep.send_signal(signal.SIGSTOP)  # alive, holding its claims, but its heartbeat stops
        monkeypatch.setenv("ALIGNBOOK_RESULTS", str(tmp_path / "results"))
        monkeypatch.setattr(locks, "STALE_SECONDS", 2.0)
        started = time.monotonic()
        with pytest.raises(locks.ClaimStalled, match=rf"held by process {sweep.pid} on .*heartbeat stopped"):
            run_sweep(fault_sweep.SPEC, fault_sweep.datasets(), cache_dir=tmp_path / "cache", workers=1,
                      progress=False, trainer=FakeTrainers())
        assert time.monotonic() - started < 60
    finally:
        sweep.send_signal(signal.SIGCONT)
        sweep.kill()
        sweep.wait()
        sweep.stderr.close()


def test_a_run_claimed_by_a_live_sweep_is_waited_for_not_trained(folders, trainers):
    first = run(spec_dict(dataset_grid={"level": [0]}, lams=[0.0, 1.0], seeds=[0]))
    cache = sweep_cache.RunCache(folders / "cache")
    key, lam, seed = entry_runs(first)[1]
    body = unseal(cache.runs.record_path(key).read_bytes())
    cache.runs.record_path(key).unlink()
    claim = cache.claim(key)
    assert claim is not None and cache.claim(key) is None  # a second claim on the same run is refused

    def other_sweep():  # finishes the run a second later, with a score no stand-in gives
        time.sleep(1.0)
        finished = fake_result(lam, seed, first.runs[1].config)
        finished.acc1 = 0.123
        cache.write(key, finished, body["key_material"])
        claim.release()

    thread = threading.Thread(target=other_sweep)
    thread.start()
    trainers.runs.clear()
    second = run(spec_dict(dataset_grid={"level": [0]}, lams=[0.0, 1.0], seeds=[0]))
    thread.join()
    assert trainers.runs == []
    assert second.runs[1].acc1 == 0.123
    assert not list((folders / "cache").rglob("*.lock"))


def test_a_stale_claim_of_a_dead_process_is_taken_over(folders, trainers):
    first = run(spec_dict(dataset_grid={"level": [0]}, lams=[0.0], seeds=[0]))
    cache = sweep_cache.RunCache(folders / "cache")
    key = first.table["key"].iloc[0]
    cache.runs.record_path(key).unlink()
    cache.runs.lock_path(key).write_text("pid 999999999 on a machine that has gone\n")  # nobody holds it
    second = run(spec_dict(dataset_grid={"level": [0]}, lams=[0.0], seeds=[0]))
    assert second.n_computed == 1 and not cache.runs.lock_path(key).exists()


@contextmanager
def mounted_tmpfs(folder: Path, kilobytes: int):
    """A tiny filesystem of its own at `folder` (needs root); skips the test where mounting is refused."""
    folder.mkdir(parents=True, exist_ok=True)
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kilobytes}k", "tmpfs", str(folder)],
                           capture_output=True, text=True)
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a {kilobytes} KB tmpfs ({mount.stderr.strip() or 'not root'}); "
                    "test_simulated_full_disk covers the same paths without a mount")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def fill(folder: Path) -> None:
    """Write until the filesystem is full."""
    with (folder / "filler").open("ab", buffering=0) as stream:
        try:
            while True:
                stream.write(b"\0" * 4096)
        except OSError as error:
            assert error.errno == errno.ENOSPC


def one_line_error(capsys, code: int) -> str:
    err = capsys.readouterr().err.strip()
    assert code != 0 and "\n" not in err and "Traceback" not in err, err
    return err


def test_full_disk_fails_before_training_with_one_line(folders, trainers, tmp_path, capsys):
    import yaml

    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec_dict()))
    with mounted_tmpfs(tmp_path / "disk", 64) as disk:
        fill(disk)
        code = cli_main(["sweep", str(tmp_path / "spec.yaml"), "--cache", str(disk / "cache"),
                         "--workers", "1", "--quiet"])
        err = one_line_error(capsys, code)
        assert str(disk / "cache") in err and re.search(r"need[s]? about \d", err), err
        assert trainers.runs == []


def test_the_disk_estimate_counts_what_a_run_stores_not_how_long_it_trains():
    from alignbook.config import TrainConfig

    # an entry holds the best checkpoint's weights and a history capped by early stopping, whatever the budget
    short, long = TrainConfig(num_epochs=1), TrainConfig(num_epochs=500, num_steps=20000)
    assert sweep_cache.entry_size(short) == sweep_cache.entry_size(long) >= sweep_cache.RUN_ENTRY_BYTES
    wide = TrainConfig(width=512, repr_dim=256)
    assert sweep_cache.entry_size(wide) >= 2 * 4 * (512 * 512 * wide.depth + 512 * 256)  # float32 weights


class Bulky(FakeTrainers):
    """Stand-ins whose entries take about 300 KB each (a long history): more than the sweep's estimate."""

    def fit_many(self, datasets, lams, seeds, config, *, threads):
        results = super().fit_many(datasets, lams, seeds, config, threads=threads)
        for result in results:
            result.history = [{"epoch": i, "note": "x" * 3000} for i in range(100)]
        return results


def test_disk_filling_up_mid_sweep_gives_one_line_and_no_retraining(folders, tmp_path):
    trainer = Bulky()
    spec = spec_dict(lams=[0.0, 1.0], seeds=[0])
    with mounted_tmpfs(tmp_path / "disk", 1024) as disk:  # room for the estimate, not for the entries
        with pytest.raises(files.DiskFullError) as error:
            run(spec, cache_dir=disk / "cache", trainer=trainer)
        err = str(error.value)
        assert "\n" not in err and "no space left" in err.lower(), err
        assert str(disk / "cache") in err and re.search(r"\d+ (bytes|KB|MB)", err), err
        assert not list(disk.rglob("*.tmp"))
        fill(disk)  # still full at the rerun: it must fail before training again
        trainer.runs.clear()
        with pytest.raises(ValueError, match=r"^cache_dir: .*needs about \d"):
            run(spec, cache_dir=disk / "cache", trainer=trainer)
        assert trainer.runs == []


def test_simulated_full_disk(folders, trainers, monkeypatch):
    """The same two paths on any machine: no free space before training, and a write refused midway."""
    usage = shutil.disk_usage(folders)
    with monkeypatch.context() as patch:
        patch.setattr(files.shutil, "disk_usage", lambda path: usage._replace(free=0))
        with pytest.raises(ValueError, match=r"^cache_dir: .*needs about \d"):
            run(spec_dict())
    assert trainers.runs == []

    def refuse(handle):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as patch:
        patch.setattr(files.os, "fsync", refuse)
        with pytest.raises(files.DiskFullError) as error:
            run(spec_dict())
    assert "\n" not in str(error.value) and str(folders / "cache") in str(error.value)
    assert error.value.__cause__ is None and error.value.__suppress_context__  # no chained traceback
    assert not list((folders / "cache").rglob("*.tmp"))


def test_stale_temporary_files_are_removed_on_the_next_start(folders, trainers):
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True)
    dead = int(done.stdout)
    folder = folders / "cache" / "runs" / "ab"
    folder.mkdir(parents=True)
    tag = files.temporary_tag()
    stale = folder / f".ab12.json.{tag.rsplit('-', 1)[0]}-{dead}.x1y2.tmp"
    live = folder / f".ab34.json.{tag}.x3y4.tmp"
    legacy = folder / ".ab56.json.q8r9.tmp"
    for path in (stale, live, legacy):
        path.write_bytes(b"half an entry")
    day_old = time.time() - 2 * 86400
    os.utime(legacy, (day_old, day_old))
    run(spec_dict(lams=[0.0], seeds=[0]))
    assert not stale.exists() and not legacy.exists()
    assert live.exists()  # this process may still be writing it


@pytest.mark.parametrize("variable", ["ALIGNBOOK_CACHE", "ALIGNBOOK_RESULTS"])
def test_empty_environment_variables_are_errors(folders, trainers, monkeypatch, tmp_path, variable):
    monkeypatch.setenv(variable, "")
    monkeypatch.chdir(tmp_path)
    before = sorted(tmp_path.iterdir())
    with pytest.raises(ValueError, match=f"^{variable}: "):
        run(spec_dict())
    assert trainers.runs == [] and sorted(tmp_path.iterdir()) == before
    with pytest.raises(ValueError, match=f"^{variable}: "):
        paths.cache_dir() if variable == "ALIGNBOOK_CACHE" else paths.results_dir()


@contextmanager
def read_only(folder: Path):
    """`folder` made read-only for this process: a read-only mount for root (whom file modes do not stop),
    file modes otherwise."""
    if os.geteuid() == 0:
        shadow = folder.with_name(folder.name + "-rw")
        folder.rename(shadow)
        folder.mkdir()
        bind = subprocess.run(["mount", "--bind", "-o", "ro", str(shadow), str(folder)], capture_output=True,
                              text=True)
        if bind.returncode != 0:
            pytest.skip(f"cannot bind-mount {folder} read-only ({bind.stderr.strip()})")
        try:
            yield folder
        finally:
            subprocess.run(["umount", str(folder)], check=True)
            folder.rmdir()
            shadow.rename(folder)
        return
    modes = {path: path.stat().st_mode for path in [folder, *folder.rglob("*")]}
    for path in modes:
        path.chmod(modes[path] & ~0o222)
    try:
        yield folder
    finally:
        for path, mode in modes.items():
            path.chmod(mode)


def test_a_complete_read_only_cache_can_be_read(folders, trainers, monkeypatch):
    registry.register_dataset("tiny_fixed", tiny_dataset, deterministic=True)
    first = run(spec_dict(dataset={"kind": "tiny_fixed"}))
    trainers.runs.clear()
    with read_only(folders / "cache"):
        again = run(spec_dict(dataset={"kind": "tiny_fixed"}))
        assert again.n_cached == 24 and trainers.runs == []
        assert again.table.equals(first.table)
        with pytest.raises(ValueError, match="^cache_dir: cannot write"):  # new runs need a writable cache
            run(spec_dict(dataset={"kind": "tiny_fixed"}, seeds=[0, 1, 2]))
    registry.unregister_dataset("tiny_fixed")
    assert trainers.runs == []
