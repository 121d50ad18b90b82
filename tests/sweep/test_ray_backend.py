"""The Ray backend of the sweep engine, against real Ray clusters on the loopback interface.

The tests start and stop their clusters themselves: a head node started by `ray start --head --block` with 2
CPUs (shared by the tests of this module, started again if a test stopped it) or the local instance
`run_sweep` starts itself. Ray stays on this machine and talks to no one: loopback addresses only, no usage
statistics, no dashboard, token authentication with a token made here. Teardown kills every process of a
head's session by PID, on failure too. Nothing is mocked except, in one test, the absence of Ray.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from pathlib import Path

import psutil
import pytest
import yaml

from alignbook.cli import main as cli_main
from alignbook.sweep import run_sweep
from alignbook.sweep.ray_backend import RAY_PIN

pytestmark = pytest.mark.ray

ROOT = Path(__file__).resolve().parents[2]
TASK_TITLE = "ray::_train_on_node"  # the process title of a Ray worker while it trains a group
# Two datasets x two lams: two vectorised groups, which 2 CPUs run without splitting them, as one local
# process does: results must then agree bit for bit.
SPEC = {"name": "ray_small", "dataset": {"kind": "synthetic", "n_samples": 1024, "depth": 1},
        "dataset_grid": {"redundancy": [0, 4]}, "lams": [0.0, 1.0], "seeds": [0],
        "train": {"num_epochs": 2, "eval_max_samples": 200}}
# Four runs trained one at a time (a learned temperature is not vectorised): four groups, two rounds on
# 2 CPUs.
SINGLE_RUNS = {**SPEC, "name": "ray_single", "dataset_grid": {"redundancy": [0]},
               "lams": [0.0, 0.5, 1.0, 1.5], "train": {**SPEC["train"], "learn_temperature": True}}
START_TIMEOUT_S = 120


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def ray_env():
    """The environment of every Ray process of these tests (drivers, heads, workers)."""
    values = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # bind 127.0.0.1, not the machine's address
              "RAY_USAGE_STATS_ENABLED": "0",
              "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32),
              # workers import this checkout's alignbook, as the driver does
              # and the stand-in trainer of the fault tests (`fault_sweep`)
              "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), str(ROOT / "tests" / "sweep"),
                                                          os.environ.get("PYTHONPATH")]))}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in values.items():
            patch.setenv(name, value)
        yield dict(os.environ)


class Head:
    """A one-node Ray cluster with 2 CPUs on 127.0.0.1, in its own session so that it can be torn down."""

    def __init__(self, env: dict):
        self.address = f"127.0.0.1:{free_port()}"
        self.temp = Path(tempfile.mkdtemp(prefix="ab-ray-"))  # short: Ray's socket paths have a length limit
        self.log = self.temp / "head.log"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [str(Path(sys.executable).parent / "ray"), "start", "--head", "--block", "--num-cpus", "2",
                 "--node-ip-address", "127.0.0.1", "--port", self.address.rpartition(":")[2],
                 "--include-dashboard=false", "--disable-usage-stats", "--temp-dir", str(self.temp)],
                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        while "Ray runtime started" not in self.log.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"the Ray head did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.2)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def processes(self) -> list[psutil.Process]:
        """Every process of the head's session: the head, its daemons and its workers."""
        found = []
        for process in psutil.process_iter():
            try:
                if os.getsid(process.pid) == self.process.pid:
                    found.append(process)
            except (ProcessLookupError, PermissionError):
                pass
        return found

    def stop(self) -> None:
        processes = self.processes()
        for process in processes:
            try:
                process.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(processes, timeout=30)
        self.process.wait(timeout=30)
        shutil.rmtree(self.temp, ignore_errors=True)


@pytest.fixture(scope="module")
def heads(ray_env):
    """The head nodes started for this module, all stopped at its end whatever happened."""
    started: list[Head] = []
    try:
        yield started
    finally:
        for cluster in started:
            cluster.stop()


@pytest.fixture
def head(heads, ray_env) -> Head:
    if not heads or not heads[-1].alive:
        heads.append(Head(ray_env))
    return heads[-1]


@pytest.fixture
def folders(tmp_path, monkeypatch, ray_env):
    monkeypatch.setenv("ALIGNBOOK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ALIGNBOOK_RESULTS", str(tmp_path / "results"))
    return tmp_path


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """SPEC trained by the local backend in this process."""
    folder = tmp_path_factory.mktemp("local")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ALIGNBOOK_RESULTS", str(folder / "results"))
        return run_sweep(SPEC, cache_dir=folder / "cache", workers=1, progress=False)


def same_results(a, b) -> bool:
    columns = [c for c in a.table.columns if c != "time_s"]
    return a.table[columns].equals(b.table[columns])


def entries(cache: Path) -> dict[Path, int]:
    """The finished cache entries and their modification times."""
    return {path: path.stat().st_mtime_ns for path in (cache / "runs").rglob("*.json")}


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)
    return value


def sweep_command(spec_file: Path, address: str) -> list[str]:
    return [sys.executable, "-m", "alignbook", "sweep", str(spec_file), "--backend", "ray",
            "--address", address, "--quiet"]


# ------------------------------------------------------------------------------------------------------ tests


def pins(path: Path) -> dict[str, str]:
    lines = [line.strip() for line in path.read_text().splitlines()]
    return dict(line.lower().replace("_", "-").split("==")
                for line in lines if line and not line.startswith("#"))


def test_ray_and_its_dependencies_are_pinned_and_installed():
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["ray"]
    assert extra == [RAY_PIN]
    ray_pins, base_pins = pins(ROOT / "requirements-ray.txt"), pins(ROOT / "requirements.txt")
    assert "==".join(["ray", ray_pins["ray"]]) == RAY_PIN and not set(ray_pins) & set(base_pins)
    needed = {re.match(r"[A-Za-z0-9._-]+", r)[0].lower().replace("_", "-")
              for r in importlib.metadata.requires("ray") if "extra ==" not in r}
    assert needed <= set(ray_pins) | set(base_pins), needed - set(ray_pins) - set(base_pins)
    for name, version in ray_pins.items():
        assert importlib.metadata.version(name) == version, name


def test_without_ray_the_backend_fails_at_once_saying_how_to_install(folders, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets when Ray is not installed
    with pytest.raises(ImportError, match=r'pip install -e "\.\[ray\]"') as error:
        run_sweep(SPEC, backend="ray", progress=False)
    assert RAY_PIN in str(error.value)
    assert not (folders / "cache").exists()  # refused before anything was built or written


@pytest.mark.parametrize("address", ["localhost", "127.0.0.1:0", "127.0.0.1:99999", "a b:1"])
def test_malformed_address_is_refused_naming_it(folders, address):
    with pytest.raises(ValueError, match=rf"^address: .*{address}"):
        run_sweep(SPEC, backend="ray", address=address, progress=False)


def test_unreachable_address_fails_at_once_naming_it(folders, capsys):
    address = f"127.0.0.1:{free_port()}"
    with pytest.raises(ConnectionError, match=f"no Ray cluster answers at {address}"):
        run_sweep(SPEC, backend="ray", address=address, progress=False)
    spec_file = folders / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(SPEC))
    assert cli_main(["sweep", str(spec_file), "--backend", "ray", "--address", address, "--quiet"]) == 1
    assert address in capsys.readouterr().err
    # the local backend has no use for an address
    assert cli_main(["sweep", str(spec_file), "--address", address, "--quiet"]) == 2
    assert "address" in capsys.readouterr().err


def test_local_instance_gives_the_local_backends_results_bit_for_bit_and_shares_its_cache(folders, caplog):
    spec = {**SPEC, "name": "ray_local", "lams": [1.0]}  # one run per group: no split, whatever the cores
    local = run_sweep(spec, cache_dir=folders / "local", workers=1, progress=False)
    with caplog.at_level("INFO", logger="alignbook"):
        through_ray = run_sweep(spec, cache_dir=folders / "ray", backend="ray", progress=False)
    assert f"started a local Ray instance: 1 node(s), {os.cpu_count()} CPUs" in caplog.text
    assert through_ray.n_computed == 2 and same_results(through_ray, local)
    # entries written by the driver of a Ray sweep are read back by a local one
    again = run_sweep(spec, cache_dir=folders / "ray", workers=1, progress=False)
    assert again.n_cached == 2 and same_results(again, local)


def test_worker_killed_mid_sweep_is_retried_without_loss_or_double_counting(folders, head, reference, caplog):
    killed: list[int] = []

    def kill_first_trainer():
        def trainer():
            for process in head.processes():
                try:
                    if process.cmdline()[:1] == [TASK_TITLE]:
                        return process
                except psutil.Error:
                    pass
            return None

        victim = wait_for(trainer, 120, "a Ray worker training a group")
        os.kill(victim.pid, signal.SIGKILL)
        killed.append(victim.pid)

    killer = threading.Thread(target=kill_first_trainer, daemon=True)
    killer.start()
    with caplog.at_level("INFO", logger="alignbook"):
        result = run_sweep(SPEC, backend="ray", address=head.address, progress=False)
    killer.join(timeout=5)
    assert f"joined the Ray cluster at {head.address}: 1 node(s), 2 CPUs, 0 GPUs" in caplog.text
    assert len(killed) == 1 and not psutil.pid_exists(killed[0])
    # the same groups as one local process trains: the same results, bit for bit
    assert result.n_computed == 4 and same_results(result, reference)
    assert sorted(result.table["key"].value_counts().tolist()) == [2, 2, 2, 2]  # each run once (2 encoders)
    assert len(entries(folders / "cache")) == 4  # written by the driver


def test_killed_driver_resumes_without_recomputing_finished_groups(folders, head, ray_env):
    spec_file = folders / "single.yaml"
    spec_file.write_text(yaml.safe_dump(SINGLE_RUNS))
    driver = subprocess.Popen(sweep_command(spec_file, head.address), env=dict(os.environ),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: entries(folders / "cache"), 180, "a first finished group")
    finally:
        driver.kill()
        _, stderr = driver.communicate(timeout=30)
    finished = entries(folders / "cache")
    assert 0 < len(finished) < 4, stderr
    resumed = run_sweep(SINGLE_RUNS, backend="ray", address=head.address, progress=False)
    assert resumed.n_cached == len(finished) and resumed.n_computed == 4 - len(finished)
    after = entries(folders / "cache")
    assert {path: after[path] for path in finished} == finished  # finished entries untouched
    assert len(after) == 4 and resumed.table["key"].nunique() == 4


def test_cluster_lost_mid_sweep_fails_naming_the_address_and_keeps_finished_groups(folders, head):
    def stop_cluster_after_a_group():
        wait_for(lambda: entries(folders / "cache"), 180, "a first finished group")
        head.stop()  # every process of the cluster, as a lost head node takes it

    stopper = threading.Thread(target=stop_cluster_after_a_group, daemon=True)
    stopper.start()
    lost = f"the Ray cluster at {re.escape(head.address)} stopped answering"
    with pytest.raises(ConnectionError, match=lost):
        run_sweep(SINGLE_RUNS, backend="ray", address=head.address, progress=False)
    stopper.join(timeout=60)
    finished = entries(folders / "cache")
    assert 0 < len(finished) < 4
    resumed = run_sweep(SINGLE_RUNS, workers=1, progress=False)  # the finished groups are valid entries
    assert resumed.n_cached == len(finished) and resumed.n_computed == 4 - len(finished)


def test_a_ray_sweep_and_a_local_sweep_on_one_cache_train_each_run_once(folders, head, tmp_path):
    import fault_sweep

    log = tmp_path / "trained.log"
    env = dict(os.environ, FAULT_SWEEP_LOG=str(log), FAULT_SWEEP_SECONDS="2",
               ALIGNBOOK_RESULTS=str(tmp_path / "local-results"))
    local = subprocess.Popen([sys.executable, str(ROOT / "tests" / "sweep" / "fault_sweep.py"),
                              str(tmp_path / "cache"), "1"], env=env, cwd=tmp_path, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: log.exists() and log.read_text(), 120, "the local sweep to start training")
        result = run_sweep(fault_sweep.SPEC, fault_sweep.datasets(), cache_dir=tmp_path / "cache",
                           backend="ray", address=head.address, progress=False,
                           trainer=fault_sweep.LoggedTrainer(str(log), 2.0))
        assert local.wait(timeout=120) == 0, local.stderr.read().decode()[-3000:]
    finally:
        local.kill()
        local.wait()
        local.stderr.close()
    trained = [tuple(line.split()[1:]) for line in log.read_text().splitlines()]
    assert len(trained) == 12 and len(set(trained)) == 6  # each (dataset, lam, seed) once, by one of them
    assert len(result.runs) == 12
