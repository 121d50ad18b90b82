"""A sweep's training groups as tasks of a Ray cluster: `run_sweep(spec, backend="ray", address=...)`.

Ray is optional (`pip install -e ".[ray]"`); without it, asking for this backend fails at once and says how to
install it. `run_sweep` makes the same groups as for the local backend, halved until every CPU of the cluster
has one, and hands them to `RayBackend.execute`: each group becomes one Ray task asking for one CPU (no GPU:
the trainers run on the CPU). Nothing is written on the nodes: each group's results come back to the driver,
which writes the cache entries and the table exactly as a local sweep does, so a local rerun reads them back
and vice versa. The nodes must run the driver's alignbook code (the cache keys hash it); a task on a node
whose code differs fails and says so.

- `address=None` starts a private local instance with this machine's cores, listening on the loopback
  interface only (when Ray is first imported here), and stops it at the end. `"auto"` joins the cluster
  that `ray start` runs on this machine, `"HOST:PORT"` the cluster whose head listens there.
- A task whose worker process or node dies is run again, up to `MAX_RETRIES` times; its group's results are
  stored once, when the attempt that succeeds returns, so nothing is lost or counted twice. An error raised
  by training itself is not retried (it would fail again): it is raised, as locally.
- A killed driver loses only its groups in flight: a rerun reads the finished ones from the cache.
- An unreachable address fails before anything is built; a cluster lost mid-sweep (head unreachable for
  `LOST_AFTER_S`) raises `ConnectionError` naming the address, with every finished group in the cache.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import re
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

from alignbook.checks import fail
from alignbook.sweep.cache import training_code
from alignbook.sweep.measure import measurement_code

logger = logging.getLogger("alignbook")

RAY_PIN = "ray==2.60.0"  # what the `ray` extra of pyproject.toml installs
INSTALL_HINT = f'install it with `pip install -e ".[ray]"` in the project, or `pip install "{RAY_PIN}"`'
MAX_RETRIES = 3  # further attempts of a task whose worker process or node died
POLL_S = 1.0  # how often the driver checks, while it waits for results, that the head still answers
LOST_AFTER_S = 5.0  # unreachable this long: the cluster is gone (Ray itself ends a driver after 60 s)
CONNECT_TIMEOUT_S = 5.0
_HOST_PORT = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*):(?P<port>[0-9]{1,5})$")


def check_address(address: str | None) -> str | None:
    """None (start a local instance), "auto" or "HOST:PORT"; anything else fails naming `address`."""
    if address is None or address == "auto":
        return address
    match = _HOST_PORT.match(address) if isinstance(address, str) else None
    if match is None or not 0 < int(match["port"]) < 65536:
        fail("address", f"expected HOST:PORT of a Ray head node, 'auto' or None, got {address!r}",
             "the head listens on the port given to `ray start --head --port PORT`")
    return address


def import_ray(local: bool):
    """Import Ray, or fail at once saying how to install it.

    `local`: a private instance will be started.
    """
    if local:
        # Ray binds a new instance to the machine's network address unless this is set when it is imported;
        # a private instance needs no more than the loopback interface.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError as exc:
        raise ImportError(f"backend='ray' needs Ray, which is not installed: {INSTALL_HINT}") from exc
    return ray


def _unreachable(host_port: str) -> OSError | None:
    """Why no TCP connection to HOST:PORT opens, or None when one does."""
    host, _, port = host_port.rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        return exc
    return None


class RayBackend:
    """Groups trained as Ray tasks: `with RayBackend(address) as backend: backend.execute(tasks, train)`.

    Creating it checks the address and imports Ray (no work is done yet); entering it starts or joins the
    cluster and logs its size; leaving it stops a started instance or disconnects from a joined cluster.
    """

    def __init__(self, address: str | None = None):
        self.address = check_address(address)
        self.ray = import_ray(local=self.address is None)
        self.head = ""  # HOST:PORT of the head's control service, once connected
        self.cpus = 0
        if self.address not in (None, "auto") and (error := _unreachable(self.address)):
            raise ConnectionError(f"address: no Ray cluster answers at {self.address} ({error}); start its "
                                  f"head with `ray start --head --port PORT`, or check the address")

    @property
    def where(self) -> str:
        return "a local Ray instance" if self.address is None else f"the Ray cluster at {self.address}"

    def __enter__(self) -> RayBackend:
        ray = self.ray
        if ray.is_initialized():  # joining twice would fail, and stopping the caller's session is not ours
            raise RuntimeError("Ray is already initialised in this process; call ray.shutdown() first: the "
                               "sweep starts or joins its cluster itself")
        try:
            if self.address is None:
                ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, logging_level=logging.WARNING)
            else:
                ray.init(address=self.address, logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError, ray.exceptions.RayError) as exc:
            raise ConnectionError(f"address: cannot join {self.where} ({type(exc).__name__}: {exc}); a "
                                  f"cluster with token authentication needs RAY_AUTH_MODE=token and its "
                                  f"token in RAY_AUTH_TOKEN") from exc
        try:
            self.head = ray.get_runtime_context().gcs_address
            resources = ray.cluster_resources()
            self.cpus = int(resources.get("CPU", 0))
            logger.info("ray: %s %s: %d node(s), %d CPUs, %d GPUs", "started" if self.address is None else
                        "joined", self.where, sum(node["Alive"] for node in ray.nodes()), self.cpus,
                        int(resources.get("GPU", 0)))
            if self.cpus < 1:
                raise ConnectionError(f"address: {self.where} has no CPU for tasks; join a worker node with "
                                      f"`ray start --address {self.head}`")
        except BaseException:
            ray.shutdown()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        # A started instance stops; a joined cluster only loses this driver (Ray ends the driver's tasks).
        self.ray.shutdown()

    def execute(self, tasks: list, train: Callable[[Any], dict]) -> Iterator[tuple[Any, dict]]:
        """Yield `(task, train(task))` for each group as its Ray task finishes, in the order they finish.

        `train` runs on the nodes and must write nothing; the caller stores each group's results when they are
        yielded. Closing the iterator early cancels the groups still queued or running.
        """
        ray = self.ray
        remote = ray.remote(_train_on_node).options(num_cpus=1, max_retries=MAX_RETRIES,
                                                     retry_exceptions=False)
        source = code_hash()
        shared: dict[int, Any] = {}  # each dataset goes into the object store once, however many groups
        pending = {}
        for task in tasks:
            for dataset in task.datasets:
                if id(dataset) not in shared:
                    shared[id(dataset)] = ray.put(dataset)
            bare = dataclasses.replace(task, datasets=[None] * len(task.datasets))
            refs = [shared[id(dataset)] for dataset in task.datasets]
            pending[remote.remote(train, bare, source, *refs)] = task
        unreachable_since = None
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_S)
                if not done:
                    unreachable_since = self._watch(unreachable_since, len(tasks) - len(pending))
                    continue
                task = pending.pop(done[0])
                yield task, self._result(done[0], task)
        finally:
            for ref in pending:  # interrupted, failed or lost: stop what is still queued or running
                try:
                    ray.cancel(ref, force=True)
                except Exception:  # a lost cluster cannot be told; the instance's end stops its tasks
                    break

    def _watch(self, unreachable_since: float | None, stored: int) -> float | None:
        """Raise once the head has been unreachable for LOST_AFTER_S; return since when it is."""
        error = _unreachable(self.head)
        if error is None:
            return None
        now = time.monotonic()
        if unreachable_since is not None and now - unreachable_since >= LOST_AFTER_S:
            raise ConnectionError(f"{self.where} stopped answering: its head {self.head} has been "
                                  f"unreachable for {LOST_AFTER_S:.0f} s ({error}); groups finished and "
                                  f"cached: {stored}; rerun the sweep to resume")
        return unreachable_since if unreachable_since is not None else now

    def _result(self, ref, task) -> dict:
        ray = self.ray
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError:  # training raised: that error, an instance of its type
            raise
        except ray.exceptions.RayError as exc:  # the worker or its node died on every attempt
            raise RuntimeError(f"group {task.label!r} failed on {self.where} in {MAX_RETRIES + 1} attempts "
                               f"({type(exc).__name__}: {exc}); finished groups are cached: rerun the "
                               f"sweep to resume") from exc


def code_hash() -> str:
    """The code a group's results depend on: the trainers' and the measurement's (`cache.training_code`,
    `measure.measurement_code`)."""
    return training_code() + measurement_code()


def _train_on_node(train: Callable[[Any], dict], task, source: str, *datasets) -> dict:
    """Runs in a Ray worker: refuse to train with code other than the driver's, then train the group."""
    if code_hash() != source:
        raise RuntimeError(f"the alignbook code on node {socket.gethostname()} differs from the driver's "
                           f"(code hash {code_hash()[:12]} != {source[:12]}): install the same "
                           f"version on every node")
    # Arrays from Ray's object store are read-only views of shared memory: train on a private copy, as a
    # local worker process trains on the copy it unpickles.
    return train(dataclasses.replace(task, datasets=[copy.deepcopy(dataset) for dataset in datasets]))
