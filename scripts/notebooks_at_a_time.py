"""Measure how many notebooks at a time suit this machine; write the reproducibility page's table.

    python scripts/notebooks_at_a_time.py [--profile medium] [--jobs 1 2] [--repeats 2]
                                          [--out book/notebooks_at_a_time.md]

Every notebook is executed with the profile's parameters (default `configs/medium.yaml`, a build that trains
every chapter's shapes in minutes) by `scripts/execute_notebooks.py`, from an empty run cache and results
folder each time, once per value of `--jobs` and repeat, the values taking turns so that a change in the
machine's load falls on all of them alike. Each notebook gets its share of the cores as workers, so `--jobs
1` is one notebook at a time with every core, `--jobs 2` two with half each. The wall time of each build,
the load average when it started and whether it succeeded are written to the file, which is committed and
included by the reproducibility page; the book build never runs this.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def build(profile: str, jobs: int, cores: int, folder: Path) -> tuple[float, float, int]:
    """(wall seconds, load average at the start, exit status) of one build from an empty cache."""
    env = {**os.environ, "ALIGNBOOK_CACHE": str(folder / "cache"),
           "ALIGNBOOK_RESULTS": str(folder / "results")}
    load = os.getloadavg()[0]
    started = time.perf_counter()
    command = [sys.executable, str(ROOT / "scripts" / "execute_notebooks.py"), "--profile", profile,
               "--out", str(folder / "executed"), "--jobs", str(jobs), "--cores", str(cores)]
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    (folder / "log.txt").write_text(done.stdout + done.stderr)
    return time.perf_counter() - started, load, done.returncode


def render(rows: list[dict], profile: str, cores: int) -> str:
    from execute_notebooks import machine  # scripts/ is on the path of a script run from it

    cpu = machine()["cpu"]
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    lines = [f"Measured on {date}: every notebook with the parameters of `configs/{profile}.yaml`, from an "
             f"empty run cache, on {cores} cores ({cpu}), by `scripts/notebooks_at_a_time.py`.", "",
             "| Notebooks at a time | Workers each | Wall time (s) | Load average at the start | Succeeded |",
             "| ---: | ---: | ---: | ---: | --- |"]
    for row in rows:
        lines.append(f"| {row['jobs']} | {max(1, cores // row['jobs'])} | {row['seconds']:.0f} | "
                     f"{row['load']:.1f} | {'yes' if row['status'] == 0 else 'no'} |")
    means = {}
    for row in rows:
        means.setdefault(row["jobs"], []).append(row["seconds"])
    lines += ["", "Mean wall time: " + "; ".join(
        f"{jobs} at a time {sum(times) / len(times):.0f} s" for jobs, times in sorted(means.items())) + "."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="medium")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--cores", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--out", type=Path, default=ROOT / "book" / "notebooks_at_a_time.md")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="alignbook-jobs-") as scratch:
        for repeat in range(args.repeats):
            for jobs in args.jobs:
                folder = Path(scratch) / f"{jobs}-{repeat}"
                seconds, load, status = build(args.profile, jobs, args.cores, folder)
                rows.append({"jobs": jobs, "seconds": seconds, "load": load, "status": status})
                print(f"{jobs} at a time: {seconds:.0f} s (load {load:.1f} at the start, "
                      f"exit status {status})", flush=True)
    text = render(rows, args.profile, args.cores)
    args.out.write_text(text)
    print(text, end="")
    return 0 if all(row["status"] == 0 for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
