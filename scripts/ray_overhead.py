"""Measure the Ray backend's overhead against the local backend on one sweep; write the cluster page's table.

    python scripts/ray_overhead.py [SPEC.yaml] [--out book/ray_overhead.md]

Both backends train the same sweep (default `configs/synthetic_smoke.yaml`) from an empty cache, one after
the other in this process: first the local backend with its default workers, then the Ray backend with the
local instance it starts itself (`address=None`, this machine's cores). The file written is committed and
included by `book/cluster.md`, with the date, the machine and the versions it was measured with, so the
page's numbers are never typed and the book build never starts Ray. Needs the `ray` extra.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def measure(spec_path: Path) -> dict:
    """Wall time of the sweep through each backend, from an empty cache, and whether the results agree."""
    from alignbook.sweep import SweepSpec, run_sweep

    spec = SweepSpec.from_yaml(spec_path)
    seconds, results = {}, {}
    with tempfile.TemporaryDirectory(prefix="ray-overhead-") as folder:
        os.environ["ALIGNBOOK_RESULTS"] = str(Path(folder) / "results")
        for backend in ("local", "ray"):
            started = time.perf_counter()
            results[backend] = run_sweep(spec, cache_dir=Path(folder) / backend, backend=backend,
                                         progress=False)
            seconds[backend] = time.perf_counter() - started
    columns = [c for c in results["local"].table.columns if c != "time_s"]
    name = spec_path.relative_to(ROOT).as_posix() if spec_path.is_relative_to(ROOT) else str(spec_path)
    return {"spec": name, "runs": len(results["local"].runs), "seconds": seconds,
            "same_results": bool(results["ray"].table[columns].equals(results["local"].table[columns])),
            "measured": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{os.cpu_count()} cores, {cpu_model()}, Python {platform.python_version()}",
            "load": os.getloadavg()[0],
            "versions": {name: importlib.metadata.version(name) for name in ("alignbook", "ray", "torch")}}


def render(found: dict) -> str:
    """The Markdown table of one measurement."""
    local, ray = found["seconds"]["local"], found["seconds"]["ray"]
    versions = ", ".join(f"{name} {version}" for name, version in found["versions"].items())
    return "\n".join([
        f"Measured {found['measured']} on {found['machine']} ({versions}) by "
        f"`python scripts/ray_overhead.py`: the sweep `{found['spec']}` ({found['runs']} runs) from an empty "
        f"cache, once per backend, with a load average of {found['load']:.1f} on the machine at the start.",
        "",
        "| Backend | Wall time (s) |",
        "| --- | ---: |",
        f"| local (`backend=\"local\"`) | {local:.1f} |",
        f"| Ray, local instance (`backend=\"ray\"`) | {ray:.1f} |",
        "",
        f"Overhead of the Ray backend: {ray - local:.1f} s ({ray / local:.1f} times the local wall time).",
        f"Results identical to the local backend's (all columns but `time_s`): "
        f"{'yes' if found['same_results'] else 'no'}.",
    ]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", nargs="?", type=Path, default=ROOT / "configs" / "synthetic_smoke.yaml")
    parser.add_argument("--out", type=Path, default=ROOT / "book" / "ray_overhead.md")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    text = render(measure(args.spec.resolve()))
    args.out.write_text(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
