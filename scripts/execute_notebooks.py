"""Execute every notebook with papermill into an output folder that the book reads.

    python scripts/execute_notebooks.py --profile full  --out executed
    python scripts/execute_notebooks.py --profile smoke --out some/folder

The `full` profile runs each notebook with its own defaults (the study the site publishes); any other
profile reads `configs/<profile>.yaml`, which maps a notebook's name (without extension) to the parameters
that override its defaults. Notebooks are never executed in place: a later `jupytext --sync` would pull the
injected parameters into the reviewed source.

A notebook is skipped when its executed copy exists and nothing it depends on changed: its own content,
its parameters, the package's source, `pyproject.toml`, `requirements.txt` and the kernel. The wall time of
each execution, the parameters and the machine are recorded in `<out>/manifest.json`; the reproducibility
page's table of timings is generated from it (`scripts/timings_table.py`).

`--jobs N` executes up to N notebooks at once, the longest first (by their last recorded time). Chapters
that need the same runs share them through the run cache, whose claims let each run be trained once
whoever asks first; a second notebook fills the processor time one notebook leaves idle (its analysis,
plots and the tail of each sweep run on one core). Each entry then records its start and end, so that the
table can give the whole execution's wall time beside each notebook's own.

Figures are drawn as SVG (the kernel's inline backend is told so), so they stay sharp when zoomed. After
the runs, the book's collection (`book/_ext/collection.py`) gathers what the chapters emitted into the
output folder:
the claims of the intro's scoreboard (`claims.json`), the tables offered for download (`data/*.csv`) and
the headline figure; it also keeps one final line of each progress bar.
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
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
MANIFEST = "manifest.json"
# Kernel options: figures as SVG (vector output; the book's renderer shows SVG first)
KERNEL_ARGUMENTS = ["--InlineBackend.figure_formats=svg"]


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


def machine() -> dict:
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version()}


def default_kernel() -> str:
    """The kernel installed by `make venv` when present, else the current interpreter's own kernel."""
    from jupyter_client.kernelspec import KernelSpecManager

    return "alignbook" if "alignbook" in KernelSpecManager().find_kernel_specs() else "python3"


def execute(source: Path, target: Path, parameters: dict, kernel: str, profile: str) -> tuple[float, float]:
    """Execute one notebook into `target`; returns its start and end (seconds since the epoch)."""
    import papermill

    shown = " ".join(f"-p {k} {v}" for k, v in parameters.items()) or "(defaults)"
    print(f"{source.stem}: executing with profile {profile} {shown} ...", flush=True)
    started = time.time()
    papermill.execute_notebook(
        str(source), str(target), parameters=parameters, kernel_name=kernel,
        cwd=str(source.parent), progress_bar=False, extra_arguments=KERNEL_ARGUMENTS,
    )
    return started, time.time()


def longest_first(sources: list[Path], manifest: dict) -> list[Path]:
    """Notebooks by decreasing last recorded wall time (never executed: first, in file order)."""
    return sorted(sources, key=lambda source: manifest.get(source.stem, {}).get("seconds", math.inf),
                  reverse=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="full", help="full (the notebooks' defaults) or a configs/ name")
    parser.add_argument("--out", type=Path, default=ROOT / "executed", help="folder for the executed copies")
    parser.add_argument("--kernel", default=None, help="kernel (default: alignbook, else python3)")
    parser.add_argument("--force", action="store_true", help="execute even when nothing changed")
    parser.add_argument("--jobs", type=int, default=1, help="notebooks executed at once (default 1)")
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebooks/NN_*.ipynb")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")

    params_by_name = load_profile(args.profile)
    sources = [source.resolve() for source in args.notebooks or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))]
    unknown = set(params_by_name) - {p.stem for p in sources}
    if unknown and not args.notebooks:
        sys.exit(f"configs/{args.profile}.yaml names notebooks that do not exist: {sorted(unknown)}")
    kernel = args.kernel or default_kernel()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}

    if not args.notebooks:  # executed copies of notebooks that no longer exist would stay in the book
        for stale in out.glob("*.ipynb"):
            if stale.stem not in {p.stem for p in sources}:
                stale.unlink()
                manifest.pop(stale.stem, None)

    package = package_fingerprint()
    todo = {}  # source -> (parameters, fingerprint)
    for source in sources:
        name = source.stem
        parameters = params_by_name.get(name, {})
        key = hashlib.sha256(
            json.dumps([source.read_text(), parameters, package, kernel], sort_keys=True).encode()
        ).hexdigest()
        entry = manifest.get(name, {})
        if not args.force and (out / source.name).is_file() and entry.get("fingerprint") == key:
            print(f"{name}: up to date (executed in {entry['seconds']:.1f} s on {entry['finished']})")
        else:
            todo[source] = (parameters, key)
    batch = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # this execution, for the timings table

    def save() -> None:
        manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")

    failures = []
    # One process per notebook at a time: papermill changes the working directory while it starts a kernel,
    # which threads would share.
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        running = {}
        for source in longest_first(list(todo), manifest):
            parameters, key = todo[source]
            manifest.pop(source.stem, None)
            future = pool.submit(execute, source, out / source.name, parameters, kernel, args.profile)
            running[future] = (source.stem, parameters, key)
        save()
        for future in as_completed(running):
            name, parameters, key = running[future]
            try:
                started, ended = future.result()
            except Exception as exc:  # papermill keeps the failing notebook in its target for inspection
                failures.append(name)
                print(f"{name}: FAILED: {exc}", file=sys.stderr)
                continue
            manifest[name] = {
                "fingerprint": key, "profile": args.profile, "parameters": parameters,
                "seconds": round(ended - started, 2), "batch": batch, "jobs": args.jobs,
                "started": round(started, 2), "ended": round(ended, 2),
                "finished": dt.datetime.fromtimestamp(ended, dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
                "machine": machine(),
            }
            save()
            print(f"{name}: done in {ended - started:.1f} s", flush=True)
    sys.path.insert(0, str(ROOT / "book" / "_ext"))  # the book's build, as its configuration loads it
    from collection import collect

    collection = collect(out)
    claims = sum(len(chapter["claims"]) for chapter in collection["chapters"].values())
    print(f"collected {claims} claims of {len(collection['chapters'])} notebooks into {out / 'claims.json'}")
    if failures:
        print(f"failed: {', '.join(failures)} (executed copies with the error are in {out})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
