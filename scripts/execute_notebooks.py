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

Figures are drawn as SVG (the kernel's inline backend is told so), so they stay sharp when zoomed. After
the runs, `alignbook.chapters.publish.collect` gathers what the chapters emitted into the output folder:
the claims of the intro's scoreboard (`claims.json`), the tables offered for download (`data/*.csv`) and
the headline figure; it also keeps one final line of each progress bar.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import sys
import time
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="full", help="full (the notebooks' defaults) or a configs/ name")
    parser.add_argument("--out", type=Path, default=ROOT / "executed", help="folder for the executed copies")
    parser.add_argument("--kernel", default=None, help="kernel (default: alignbook, else python3)")
    parser.add_argument("--force", action="store_true", help="execute even when nothing changed")
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebooks/NN_*.ipynb")
    args = parser.parse_args(argv)

    import papermill

    params_by_name = load_profile(args.profile)
    sources = args.notebooks or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
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
    failures = []
    for source in sources:
        name = source.stem
        parameters = params_by_name.get(name, {})
        key = hashlib.sha256(
            json.dumps([source.read_text(), parameters, package, kernel], sort_keys=True).encode()
        ).hexdigest()
        target = out / source.name
        entry = manifest.get(name, {})
        if not args.force and target.is_file() and entry.get("fingerprint") == key:
            print(f"{name}: up to date (executed in {entry['seconds']:.1f} s on {entry['finished']})")
            continue
        shown = " ".join(f"-p {k} {v}" for k, v in parameters.items()) or "(defaults)"
        print(f"{name}: executing with profile {args.profile} {shown} ...", flush=True)
        manifest.pop(name, None)
        start = time.perf_counter()
        try:
            papermill.execute_notebook(
                str(source), str(target), parameters=parameters, kernel_name=kernel,
                cwd=str(source.parent), progress_bar=False, extra_arguments=KERNEL_ARGUMENTS,
            )
        except Exception as exc:  # papermill keeps the failing notebook in `target` for inspection
            failures.append(name)
            print(f"{name}: FAILED: {exc}", file=sys.stderr)
            continue
        finally:
            manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        seconds = time.perf_counter() - start
        manifest[name] = {
            "fingerprint": key, "profile": args.profile, "parameters": parameters,
            "seconds": round(seconds, 2),
            "finished": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
        }
        manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        print(f"{name}: done in {seconds:.1f} s")
    from alignbook.chapters.publish import collect

    collection = collect(out)
    claims = sum(len(chapter["claims"]) for chapter in collection["chapters"].values())
    print(f"collected {claims} claims of {len(collection['chapters'])} notebooks into {out / 'claims.json'}")
    if failures:
        print(f"failed: {', '.join(failures)} (executed copies with the error are in {out})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
