"""Build the book's notebooks with one core, with every core, and on a two-node Ray cluster; compare them.

    python scripts/build_scaling.py [--profile smoke] [--chapter 02_alignment_control] [--out FILE.md]

Executes the notebooks of `--profile` three ways, each from an empty cache of its own: locally with one core
(`scripts/execute_notebooks.py --cores 1`: one worker), locally with every core of the machine, and against a
real two-node Ray cluster on the loopback interface (`ray start --head`, then a second `ray start --address`
as a worker node, one CPU each, token authentication; `--ray-address`: every sweep of every chapter sent to
the cluster). Compares every table the chapters publish (their `data/*.csv` downloads; the columns of times
excepted) with those of the build with every core. Then one full-profile chapter of moderate size
(`--chapter`) the same three ways. Writes the measurements and the comparison to `--out` (default
`book/build_scaling.md`, included by the cluster page) and a JSON file beside it; the book build never starts
Ray. Needs the `ray` extra and a quiet machine: the times are wall times.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TIME_COLUMNS = ("time_s", "seconds", "cpu_seconds")  # differ between any two executions


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Cluster:
    """A head node and a worker node on 127.0.0.1, one CPU each, torn down whatever happens."""

    def __init__(self, env: dict):
        self.env, self.temp = env, Path(tempfile.mkdtemp(prefix="ab-cl-"))  # Ray's socket paths are short
        self.address = f"127.0.0.1:{free_port()}"
        common = ["--num-cpus", "1", "--node-ip-address", "127.0.0.1", "--disable-usage-stats"]
        self.ray(["start", "--head", "--port", self.address.rpartition(":")[2], "--include-dashboard=false",
                  "--temp-dir", str(self.temp), *common])
        self.ray(["start", "--address", self.address, *common])

    def ray(self, arguments: list[str]) -> None:
        subprocess.run([str(BIN / "ray"), *arguments], env=self.env, check=True, capture_output=True,
                       text=True, timeout=180)

    def nodes(self) -> int:
        code = (f"import ray; ray.init(address='{self.address}', logging_level='ERROR'); "
                "print(sum(n['Alive'] for n in ray.nodes()))")
        out = subprocess.run([sys.executable, "-c", code], env=self.env, capture_output=True, text=True,
                             check=True, timeout=120).stdout
        return int(out.strip().splitlines()[-1])

    def stop(self) -> None:
        subprocess.run([str(BIN / "ray"), "stop", "--force"], env=self.env, capture_output=True, timeout=120)
        shutil.rmtree(self.temp, ignore_errors=True)


def execute(notebooks: list[str], profile: str, folder: Path, env: dict, address: str | None = None,
            cores: int | None = None) -> float:
    """Wall seconds of executing `notebooks` with `profile` into `folder/executed`, from an empty cache, on
    the cluster at `address` or locally with `cores` (default: every core)."""
    run_env = dict(env, ALIGNBOOK_CACHE=str(folder / "cache"), ALIGNBOOK_RESULTS=str(folder / "results"))
    sources = [str(ROOT / "notebooks" / f"{name}.ipynb") for name in notebooks]
    command = [sys.executable, str(ROOT / "scripts" / "execute_notebooks.py"), "--profile", profile, "--out",
               str(folder / "executed"), "--force", *sources]
    if address:
        command += ["--ray-address", address]
    if cores:
        command += ["--cores", str(cores)]
    started = time.perf_counter()
    result = subprocess.run(command, env=run_env, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        where = address or f"{cores or 'every'} cores"
        raise RuntimeError(f"execution failed ({where}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return time.perf_counter() - started


def compare(a: Path, b: Path) -> list[str]:
    """The published tables of two executions that differ (times excepted); an empty list when all agree."""
    tables_a = {p.name: p for p in (a / "executed" / "data").glob("*.csv")}
    tables_b = {p.name: p for p in (b / "executed" / "data").glob("*.csv")}
    differ = sorted(set(tables_a) ^ set(tables_b))
    for name in sorted(set(tables_a) & set(tables_b)):
        left, right = pd.read_csv(tables_a[name]), pd.read_csv(tables_b[name])
        columns = [c for c in left.columns if c not in TIME_COLUMNS]
        if list(left.columns) != list(right.columns) or not left[columns].equals(right[columns]):
            differ.append(name)
    return differ


def report(results: dict) -> str:
    from execute_notebooks import machine  # scripts/ is on the path of a script run from it

    described = f"{os.cpu_count()} cores, {machine()['cpu']}"
    intro = (f"Measured {results['when']} on {described}, Python {platform.python_version()} (alignbook "
             f"{results['alignbook']}, ray {results['ray']}) by `python scripts/build_scaling.py`: each "
             f"build from an empty cache, locally with one core, locally with all {results['cores']} cores, "
             f"and on a two-node Ray cluster on the loopback interface ({results['nodes']} nodes, one CPU "
             f"each), with a load average of {results['load']:.1f} at the start.")
    lines = [intro, "", f"| Build | 1 core (s) | {results['cores']} cores (s) | Speed-up "
             "| Two-node cluster (s) | Tables compared | Tables that differ from the build with every core |",
             "| --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for row in results["builds"]:
        differ = ", ".join(row["differ"]) or "none"
        lines.append(f"| {row['what']} | {row['one_core']:.1f} | {row['local']:.1f} | "
                     f"{row['one_core'] / row['local']:.2f} | {row['cluster']:.1f} | {row['tables']} | "
                     f"{differ} |")
    lines += ["", "Speed-up: the time with one core over the time with every core. On the cluster every "
              "sweep of every chapter trains there; the analysis, the PID estimates and the searches stay on "
              "the machine that runs the build. The columns of times are left out of the comparison."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="smoke")
    parser.add_argument("--chapter", default="02_alignment_control", help="a full-profile chapter to compare")
    parser.add_argument("--out", type=Path, default=ROOT / "book" / "build_scaling.md")
    args = parser.parse_args(argv)
    import importlib.metadata

    import alignbook

    # "1": a multi-node cluster on one machine (Ray refuses a second node on the loopback interface otherwise)
    env = dict(os.environ, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="1", RAY_USAGE_STATS_ENABLED="0",
               RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32))
    env.pop("RAY_ADDRESS", None)
    notebooks = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    results = {"when": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), "load": os.getloadavg()[0],
               "cores": len(os.sched_getaffinity(0)),
               "alignbook": alignbook.__version__, "ray": importlib.metadata.version("ray"), "builds": []}
    with tempfile.TemporaryDirectory(prefix="ray-book-") as scratch:
        scratch = Path(scratch)
        cluster = Cluster(env)
        try:
            results["nodes"] = cluster.nodes()
            for what, names, profile in ((f"every notebook, {args.profile} profile", notebooks, args.profile),
                                         (f"{args.chapter}, full profile", [args.chapter], "full")):
                tag = profile + "-" + str(len(names))
                remote = execute(names, profile, scratch / f"ray-{tag}", env, address=cluster.address)
                local = execute(names, profile, scratch / f"local-{tag}", env)
                one_core = execute(names, profile, scratch / f"one-{tag}", env, cores=1)
                differ = sorted({*compare(scratch / f"ray-{tag}", scratch / f"local-{tag}"),
                                 *compare(scratch / f"one-{tag}", scratch / f"local-{tag}")})
                tables = len(list((scratch / f"local-{tag}" / "executed" / "data").glob("*.csv")))
                results["builds"].append({"what": what, "one_core": one_core, "local": local,
                                          "cluster": remote, "tables": tables, "differ": differ})
                print(f"{what}: 1 core {one_core:.1f} s, every core {local:.1f} s, cluster {remote:.1f} s, "
                      f"{tables} tables, differ: {differ or 'none'}", flush=True)
        finally:
            cluster.stop()
    args.out.write_text(report(results))
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
    print(f"written to {args.out}")
    return 1 if any(row["differ"] for row in results["builds"]) else 0


if __name__ == "__main__":
    sys.exit(main())
