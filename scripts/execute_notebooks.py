"""Execute every notebook with papermill into an output folder that the book reads.

    python scripts/execute_notebooks.py --profile full  --out executed
    python scripts/execute_notebooks.py --profile smoke --out some/folder --jobs 2
    python scripts/execute_notebooks.py --ray-address HOST:PORT      # every sweep on a Ray cluster

The `full` profile runs each notebook with its own defaults (the study the site publishes); any other
profile reads `configs/<profile>.yaml`, which maps a notebook's name (without extension) to the parameters
that override its defaults. Notebooks are never executed in place: `--out` may not be a folder that holds
the sources or lies inside `notebooks/` (a later `jupytext --sync` would pull the injected parameters into
the reviewed source), and it is refused before anything runs.

A notebook is skipped when its executed copy exists and nothing it depends on changed: its own content,
its profile parameters, the package's source, `pyproject.toml`, `requirements.txt` and the kernel. The wall
time of each execution, the parameters and the machine are recorded in `<out>/manifest.json`, written
atomically; the reproducibility page's table of timings is generated from it (`scripts/timings_table.py`).
An unreadable manifest is reported in one line and treated as absent: every notebook executes again. Only
files this runner wrote (the executed copies its manifest lists) are ever removed from `<out>`.

Every core is used: `--jobs N` executes up to N notebooks at once, the longest first (by their last recorded
time); `--jobs auto` (the default) picks N from the cores and the reference timings (`notebooks_at_a_time`).
Each of the N places holds its share of the cores (`shares`), and a notebook that takes a `workers` parameter
gets the share of the place it runs in as workers (or less, when its profile asks for less), so that the
workers of the notebooks running at once never exceed the cores. With
`--ray-address`, each notebook that takes a `backend` parameter gets `backend = "ray"` and its kernel the
address in `RAY_ADDRESS`; without it, `RAY_ADDRESS` is removed from the kernels' environment, so a build or a
test is redirected to a cluster only when asked. These resources decide where the work runs, not its
results, and are not part of a notebook's fingerprint.

The wait is known: the runner first prints how many notebooks it executes, how many of their runs are cached
and how many it must train (counted from the run keys each notebook's sweeps logged at its last execution,
kept in `<out>/runs/`), and an estimate of the time, from the committed reference timings
(`book/reference_timings.json`) scaled by the number of cores, then one line
per notebook start and end, with the time so far and the estimated time left. papermill's progress bar is
off and the notebooks' outputs are not echoed (`log_output` stays off): a log holds those lines only, and
each notebook's outputs are in its executed copy.

Figures are drawn as SVG (the kernel's inline backend is told so), so they stay sharp when zoomed. After
the runs, the book's collection (`book/_ext/collection.py`) gathers what the chapters emitted into the
output folder: the claims of the intro's scoreboard (`claims.json`), the tables offered for download
(`data/*.csv`, with their runs' configurations) and the headline figure. The summary of failed notebooks is
printed before the collection, whatever the collection then does.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import math
import multiprocessing
import os
import platform
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
MANIFEST = "manifest.json"
REFERENCE_TIMINGS = ROOT / "book" / "reference_timings.json"
# Kernel options: figures as SVG (vector output; the book's renderer shows SVG first); the kernel's own log
# at errors only, so that its warning about loopback TCP does not print once per notebook into the build's log
KERNEL_ARGUMENTS = ["--InlineBackend.figure_formats=svg", "--IPKernelApp.log_level=ERROR"]
# Parameters that decide where a notebook's work runs, not its results: given by the runner, not fingerprinted
RESOURCES = ("workers", "backend")


def load_profile(profile: str) -> dict[str, dict]:
    if profile == "full":
        return {}
    import yaml

    path = ROOT / "configs" / f"{profile}.yaml"
    if not path.is_file():
        sys.exit(f"profile {profile!r}: no parameters file configs/{profile}.yaml")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        sys.exit(f"configs/{profile}.yaml must map notebook names to mappings of parameters")
    return data


def package_fingerprint() -> str:
    """A hash of everything outside the notebook that decides its outputs."""
    digest = hashlib.sha256()
    files = sorted((ROOT / "alignbook").rglob("*.py")) + [ROOT / "pyproject.toml", ROOT / "requirements.txt"]
    for path in files:
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(ROOT)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def available_cores() -> int:
    """The cores this process may run on (what `nproc` prints)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def machine() -> dict:
    """The processor's model name, the cores this process may use and the Python version, for the reports of
    this script and of the other measurement scripts (they run beside it in scripts/ and import it)."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"cpu": model, "cores": available_cores(), "python": platform.python_version()}


def default_kernel() -> str:
    """The kernel installed by `make venv` when present, else the current interpreter's own kernel."""
    from jupyter_client.kernelspec import KernelSpecManager

    return "alignbook" if "alignbook" in KernelSpecManager().find_kernel_specs() else "python3"


# ---------------------------------------------------------------------------------------------------------
# The output folder and its manifest


def check_out(out: Path, sources: list[Path]) -> None:
    """Refuse an output folder that would overwrite or sit among the notebooks' sources."""
    notebooks = NOTEBOOKS.resolve()
    if out == notebooks or out.is_relative_to(notebooks):
        sys.exit(f"--out {out}: lies inside {notebooks}, the notebooks' sources; give a folder outside it, "
                 "such as executed")
    holding = sorted({source.parent for source in sources if source.parent == out})
    if holding:
        sys.exit(f"--out {out}: holds the notebooks being executed; give another folder, such as executed")


def read_manifest(path: Path) -> dict:
    """The manifest at `path`; {} when there is none or it cannot be read (said in one line)."""
    if not path.is_file():
        return {}
    try:
        manifest = json.loads(path.read_text())
        if not isinstance(manifest, dict) or not all(isinstance(v, dict) for v in manifest.values()):
            raise ValueError("not a mapping of notebook names to entries")
    except (ValueError, UnicodeDecodeError) as exc:
        print(f"{path}: unreadable ({exc}); treated as absent, every notebook executes again", flush=True)
        return {}
    return manifest


def write_manifest(path: Path, manifest: dict) -> None:
    """Write the manifest atomically: a reader sees the old file or the new one, never a part."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as file:
            file.write(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def remove_stale(out: Path, manifest: dict, names: set[str]) -> list[str]:
    """Remove the executed copies this runner wrote (manifest entries) of notebooks no longer among `names`;
    returns their names. Files the manifest does not list are never touched."""
    removed = []
    for name in sorted(set(manifest) - names):
        (out / f"{name}.ipynb").unlink(missing_ok=True)
        (out / RUNS / f"{name}.json").unlink(missing_ok=True)
        run_log(out, name).unlink(missing_ok=True)
        manifest.pop(name)
        removed.append(name)
    return removed


# ---------------------------------------------------------------------------------------------------------
# Cores, workers and the cluster


def notebooks_at_a_time(cores: int, notebooks: int, estimates: dict[str, float] | None = None) -> int:
    """How many notebooks execute at once on `cores` cores (`--jobs auto`).

    As many as there are cores, but no more than the expected work allows without its longest notebook
    becoming the build's critical path: with N at a time the longest notebook gets 1/N of the cores, so N
    is at most the total expected time over the longest one (`estimates`: from an empty cache that is 1
    for this book, whose regime map is more than half the work; with every run cached, the notebooks'
    analyses are alike and it is the cores; 2 without estimates). Two notebooks with one core each were
    measured faster than one with both on two cores when neither dominates (see the reproducibility page):
    a notebook's kernel starts, analyses and plots on one core, which the other notebook's training fills.
    """
    limit = 2
    if estimates:
        limit = max(1, math.floor(sum(estimates.values()) / max(max(estimates.values()), 1e-9)))
    return max(1, min(cores, notebooks, limit))


def shares(cores: int, jobs: int) -> list[int]:
    """The cores of each of `jobs` places, largest first: as equal as can be, summing to the cores (each
    at least one)."""
    return [max(1, cores // jobs + (1 if place < cores % jobs else 0)) for place in range(jobs)]


def resources(declared: dict, parameters: dict, share: int, ray_address: str | None) -> dict:
    """The resource parameters the runner gives a notebook that declares them (`papermill.inspect_notebook`):
    `workers`, its share of the cores (less when its profile asks for less), and `backend = "ray"` with a
    cluster."""
    given = {}
    if "workers" in declared:
        asked = parameters.get("workers")
        given["workers"] = min(asked, share) if isinstance(asked, int) and asked >= 1 else share
    if "backend" in declared and ray_address:
        given["backend"] = "ray"
    return given


RUNS = "runs"  # <out>/runs/<notebook>.json: the run keys of a notebook's last successful execution


def deciding(parameters: dict) -> dict:
    """The parameters that decide a notebook's results (its resources left out)."""
    return {k: v for k, v in parameters.items() if k not in RESOURCES}


def run_log(out: Path, name: str) -> Path:
    """The file the sweeps of notebook `name` append their run keys to while it executes."""
    return out / RUNS / f"{name}.keys"


def keep_run_keys(out: Path, name: str, parameters: dict) -> int:
    """Store the run keys notebook `name` logged while it executed (`run_log`) with what decides them (its
    parameters and the trainers' code), for the next build's count; returns how many distinct runs it used."""
    from alignbook.sweep import training_code

    log = run_log(out, name)
    keys = sorted(set(log.read_text().split())) if log.is_file() else []
    record = {"parameters": deciding(parameters), "training_code": training_code(), "keys": keys}
    (out / RUNS).mkdir(exist_ok=True)
    write_manifest(out / RUNS / f"{name}.json", record)
    log.unlink(missing_ok=True)
    return len(keys)


def cached_runs(out: Path, name: str, parameters: dict, reference: dict | None, profile: str
                ) -> tuple[int, int] | None:
    """(runs already cached, runs to train) of notebook `name` executed with `parameters`, or None when
    unknown. Counted from the run keys of its last execution with the same parameters and trainers' code
    (`keep_run_keys`), looked up in the run cache; when no such execution is recorded and the cache holds no
    run at all, every run of the reference build (full profile) is to train."""
    from alignbook import paths
    from alignbook.sweep import cached_keys, training_code

    try:
        record = json.loads((out / RUNS / f"{name}.json").read_text())
        if record["parameters"] == deciding(parameters):
            keys = record["keys"]
            cached = cached_keys(keys) if record["training_code"] == training_code() else 0
            return cached, len(keys) - cached
    except (OSError, ValueError, TypeError, KeyError):  # none, or unreadable: counted as unknown
        pass
    runs = (reference or {}).get("runs", {}).get(name)
    cache_runs = paths.cache_dir() / "runs"
    empty = not cache_runs.is_dir() or not any(cache_runs.iterdir())
    return (0, runs) if profile == "full" and isinstance(runs, int) and empty else None


# ---------------------------------------------------------------------------------------------------------
# The estimate of the wait


def load_reference(path: Path = REFERENCE_TIMINGS) -> dict | None:
    """The committed timings of a cold full build (`scripts/timings_table.py --reference`), or None."""
    try:
        reference = json.loads(path.read_text())
        times, wall, cores = reference["notebooks"], reference["wall_seconds"], reference["cores"]
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if not times or not all(isinstance(v, (int, float)) and v > 0 for v in [*times.values(), wall, cores]):
        return None
    return reference


def estimated_seconds(reference: dict, names: list[str], cores: int,
                      counts: dict[str, tuple[int, int] | None] | None = None) -> dict[str, float]:
    """Each notebook's expected wall time on `cores` cores: its reference time's share of the reference
    build's core-seconds (its wall time times its cores), spread over `cores`. Assumes the work scales with
    the cores, so on many cores it is a lower bound. Where `counts` gives a notebook's (cached, to train)
    runs, only the runs to train cost their share of the cold time above the warm one (the reference's
    `warm` times: executing with every run cached, scaled alike). Notebooks the reference lacks are left
    out."""
    times, warm = reference["notebooks"], reference.get("warm", {})
    scale = reference["wall_seconds"] * reference["cores"] / sum(times.values()) / cores
    estimates = {}
    for name in (n for n in names if n in times):
        cold, known = times[name] * scale, (counts or {}).get(name)
        if known is not None and sum(known) > 0:
            floor = min(cold, warm.get(name, 0.0) * scale)
            cold = floor + (cold - floor) * known[1] / sum(known)
        estimates[name] = cold
    return estimates


def duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {seconds:02d} s"


class Progress:
    """The build's log: one line when it starts, one per notebook start and end, with the time so far and
    the estimated time left (from `estimated_seconds`: notebooks not yet finished, less the time the running
    ones have already had)."""

    def __init__(self, names: list[str], estimates: dict[str, float] | None, clock=time.monotonic):
        self.clock, self.start, self.estimates = clock, clock(), estimates
        self.running, self.finished = {}, set()
        self.names = names

    def left(self) -> float | None:
        if self.estimates is None:
            return None
        now = self.clock()
        pending = [n for n in self.names if n not in self.finished and n not in self.running]
        running = (max(0.0, self.estimates.get(n, 0.0) - (now - since)) for n, since in self.running.items())
        return sum(self.estimates.get(n, 0.0) for n in pending) + sum(running)

    def line(self, text: str) -> str:
        left = self.left()
        tail = "" if left is None else f", about {duration(left)} left"
        return f"[{duration(self.clock() - self.start)} so far{tail}] {text}"

    def started(self, name: str, shown: str) -> str:
        self.running[name] = self.clock()
        return self.line(f"{name}: started {shown}")

    def ended(self, name: str, outcome: str) -> str:
        seconds = self.clock() - self.running.pop(name)
        self.finished.add(name)
        return self.line(f"{name}: {outcome} in {duration(seconds)}")


def counted(names: list[str], counts: list[tuple[int, int] | None]) -> str:
    """How the estimate treats the cache: the runs to train where they are counted, else an empty cache."""
    unknown = [name for name, known in zip(names, counts, strict=True) if known is None]
    if not unknown:
        return "only the runs to train counted as training"
    if len(unknown) == len(names):
        return "every notebook counted as executing from an empty run cache"
    return f"{', '.join(unknown)} counted as executing from an empty run cache"


def opening(count: int, skipped: int, profile: str, reference: dict | None, estimates: dict | None,
            names: list[str], cores: int, jobs: int, counts: list[tuple[int, int] | None]) -> list[str]:
    """The lines printed before anything executes: what runs, on what, and the estimated wait."""
    lines = [f"{count} notebooks to execute ({skipped} up to date), profile {profile}, "
             f"{jobs} at a time on {cores} cores"]
    known = [c for c in counts if c is not None]
    if known:
        lines.append(f"runs: {sum(c[0] for c in known)} cached, {sum(c[1] for c in known)} to train "
                     f"(counted for {len(known)} of {count} notebooks)")
    if not count:
        return lines
    if estimates is None:
        why = "no reference timings" if reference is None else "the reference timings are of profile full"
        lines.append(f"estimated time: unknown ({why})")
        return lines
    missing = [name for name in names if name not in estimates]
    lines.append(f"estimated time: about {duration(sum(estimates.values()))}, from the reference build "
                 f"({duration(reference['wall_seconds'])} on {reference['cores']} cores) scaled to {cores} "
                 f"cores; {counted(names, counts)}"
                 + (f"; no reference time for {', '.join(missing)}" if missing else ""))
    return lines


# ---------------------------------------------------------------------------------------------------------
# Execution


def execute(source: Path, target: Path, parameters: dict, kernel: str, log: Path) -> tuple[float, float]:
    """Execute one notebook into `target`, its sweeps logging their run keys to `log` (the kernel inherits
    the variable); returns its start and end (seconds since the epoch)."""
    import papermill

    from alignbook.sweep import RUN_LOG_VARIABLE

    log.parent.mkdir(exist_ok=True)
    log.unlink(missing_ok=True)
    os.environ[RUN_LOG_VARIABLE] = str(log)

    started = time.time()
    papermill.execute_notebook(
        str(source), str(target), parameters=parameters, kernel_name=kernel,
        cwd=str(source.parent), progress_bar=False, log_output=False, extra_arguments=KERNEL_ARGUMENTS,
    )
    return started, time.time()


def failure_text(exc: Exception) -> str:
    """One line for a notebook's failure: the error a cell raised (papermill's `ename: evalue`), else the
    first line of the exception."""
    if hasattr(exc, "ename"):
        return f"{exc.ename}: {str(exc.evalue).strip().splitlines()[0] if str(exc.evalue).strip() else ''}"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"


def cluster_lost(exc: Exception, ray_address: str | None) -> bool:
    """Whether a notebook failed because the Ray cluster of the build stopped answering (the sweep engine's
    ConnectionError names the address)."""
    return bool(ray_address) and "ConnectionError" in failure_text(exc) and ray_address in failure_text(exc)


def longest_first(sources: list[Path], manifest: dict) -> list[Path]:
    """Notebooks by decreasing last recorded wall time (never executed: first, in file order)."""
    return sorted(sources, key=lambda source: manifest.get(source.stem, {}).get("seconds", math.inf),
                  reverse=True)


def collect_into(out: Path) -> str:
    """Collect the chapters' records in `out` (`book/_ext/collection.py`); one line saying what was done."""
    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    from collection import collect

    collection = collect(out)
    claims = sum(len(chapter["claims"]) for chapter in collection["chapters"].values())
    return f"collected {claims} claims of {len(collection['chapters'])} notebooks into {out / 'claims.json'}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="full", help="full (the notebooks' defaults) or a configs/ name")
    parser.add_argument("--out", type=Path, default=ROOT / "executed", help="folder for the executed copies")
    parser.add_argument("--kernel", default=None, help="kernel (default: alignbook, else python3)")
    parser.add_argument("--force", action="store_true", help="execute even when nothing changed")
    parser.add_argument("--jobs", default="auto", help="notebooks at once (default auto: from the cores)")
    parser.add_argument("--cores", type=int, default=None, help="cores to share out (default: all available)")
    parser.add_argument("--ray-address", default=None, help="HOST:PORT of a Ray cluster for every sweep")
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebooks/NN_*.ipynb")
    args = parser.parse_args(argv)
    cores = available_cores() if args.cores is None else args.cores
    if cores < 1:
        parser.error(f"--cores must be at least 1, got {cores}")
    if args.jobs != "auto" and (not args.jobs.isdigit() or int(args.jobs) < 1):
        parser.error(f"--jobs must be a positive integer or auto, got {args.jobs}")

    params_by_name = load_profile(args.profile)
    sources = [source.resolve() for source in args.notebooks or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))]
    unknown = set(params_by_name) - {p.stem for p in sources}
    if unknown and not args.notebooks:
        sys.exit(f"configs/{args.profile}.yaml names notebooks that do not exist: {sorted(unknown)}")
    out = args.out.resolve()
    check_out(out, sources)
    kernel = args.kernel or default_kernel()
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / MANIFEST
    manifest = read_manifest(manifest_path)
    if not args.notebooks:  # executed copies of notebooks that no longer exist would stay in the book
        for name in remove_stale(out, manifest, {p.stem for p in sources}):
            print(f"{name}: removed its executed copy (the notebook is gone)")

    package = package_fingerprint()
    todo = {}  # source -> (profile parameters, fingerprint)
    for source in sources:
        name = source.stem
        parameters = params_by_name.get(name, {})
        fingerprinted = deciding(parameters)
        key = hashlib.sha256(
            json.dumps([source.read_text(), fingerprinted, package, kernel], sort_keys=True).encode()
        ).hexdigest()
        entry = manifest.get(name, {})
        if not args.force and (out / source.name).is_file() and entry.get("fingerprint") == key:
            print(f"{name}: up to date (executed in {entry['seconds']:.1f} s on {entry['finished']})")
        else:
            todo[source] = (parameters, key)

    import papermill

    reference = load_reference()
    declared = {source: papermill.inspect_notebook(str(source)) for source in todo}
    if args.ray_address:
        os.environ["RAY_ADDRESS"] = args.ray_address  # the kernels inherit it
    else:
        os.environ.pop("RAY_ADDRESS", None)
    order = longest_first(list(todo), manifest)
    names = [source.stem for source in order]
    counts = [cached_runs(out, source.stem, todo[source][0], reference, args.profile) for source in order]
    estimates = (estimated_seconds(reference, names, cores, dict(zip(names, counts, strict=True)))
                 if reference and args.profile == "full" else None)
    jobs = notebooks_at_a_time(cores, len(todo), estimates) if args.jobs == "auto" else int(args.jobs)
    for line in opening(len(todo), len(sources) - len(todo), args.profile, reference, estimates, names, cores,
                        jobs, counts):
        print(line, flush=True)
    batch = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # this execution, for the timings table

    progress = Progress(names, estimates)
    failures = []
    # One process per notebook at a time: papermill changes the working directory while it starts a kernel,
    # which threads would share.
    with ProcessPoolExecutor(max(1, jobs), mp_context=multiprocessing.get_context("spawn")) as pool:
        pending, running = list(order), {}
        free = shares(cores, max(1, min(jobs, len(todo))))  # the places' cores; the longest gets the most
        while pending or running:
            while pending and free:
                source = pending.pop(0)
                parameters, key = todo[source]
                place = free.pop(0)
                given = resources(declared[source], parameters, place, args.ray_address)
                run_with = {**parameters, **given}
                # until it succeeds, the entry says this runner wrote (or may have written) the copy
                manifest[source.stem] = {"fingerprint": None, "failed": True, "profile": args.profile,
                                         "parameters": parameters, "resources": given}
                write_manifest(manifest_path, manifest)
                shown = " ".join(f"-p {k} {v}" for k, v in run_with.items()) or "(defaults)"
                print(progress.started(source.stem, f"with profile {args.profile} {shown}"), flush=True)
                future = pool.submit(execute, source, out / source.name, run_with, kernel,
                                     run_log(out, source.stem))
                running[future] = (source, parameters, key, place, given)
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                source, parameters, key, place, given = running.pop(future)
                free = sorted([*free, place], reverse=True)
                name = source.stem
                try:
                    started, ended = future.result()
                except Exception as exc:  # papermill keeps the failing notebook in its target for inspection
                    failures.append(name)
                    run_log(out, name).unlink(missing_ok=True)  # a part of its runs: not a count to keep
                    print(progress.ended(name, f"FAILED: {failure_text(exc)}"), flush=True)
                    if cluster_lost(exc, args.ray_address):  # the other notebooks would fail alike: stop
                        print(f"the Ray cluster at {args.ray_address} is gone; the build stops here "
                              "(finished runs are cached: run it again when the cluster is back)",
                              file=sys.stderr, flush=True)
                        failures += [source.stem for source in pending]
                        pending.clear()
                    continue
                manifest[name] = {
                    "fingerprint": key, "profile": args.profile, "parameters": parameters,
                    "runs": keep_run_keys(out, name, parameters),
                    "resources": given, "seconds": round(ended - started, 2), "batch": batch,
                    "jobs": jobs, "started": round(started, 2), "ended": round(ended, 2),
                    "finished": dt.datetime.fromtimestamp(ended, dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
                    "machine": machine(),
                }
                write_manifest(manifest_path, manifest)
                print(progress.ended(name, "done"), flush=True)
    if failures:
        print(f"failed: {', '.join(failures)} (executed copies with the error are in {out})", file=sys.stderr,
              flush=True)
    try:
        print(collect_into(out))
    except ValueError as exc:
        print(f"collection failed: {exc}", file=sys.stderr)
        return 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
