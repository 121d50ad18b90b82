"""Are runs bit-identical on processors with and without AVX-512? Measure it on one machine.

    python scripts/cross_processor.py [--out book/cross_processor.md]

A machine with AVX-512 imitates one that has AVX2 only: PyTorch's kernels, MKL and oneDNN are capped at
AVX2 by environment variables (`ATEN_CPU_CAPABILITY=avx2`, `MKL_ENABLE_INSTRUCTIONS=AVX2`,
`ONEDNN_MAX_CPU_ISA=AVX2`) in a fresh process, since the libraries read them when they load. The same small
runs of the book's three shapes are trained in three processes: twice natively (a control: a process
repeats itself bit for bit) and once capped. Shapes: the synthetic MLP trained together by `fit_many`, the
same runs one at a time by `fit`, and the BasicMotions transformer by `fit`, three seeds each.

Each run is reduced to its test scores and a sha256 of its test representations. The report gives, per
shape, how many runs are bit-identical to the native ones and, where they differ, the largest difference of
each score beside the seed-to-seed spread of that score (its standard deviation over the three seeds). The
file written is committed and included by the reproducibility page; the book build never runs this.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AVX2_ONLY = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
SEEDS = (0, 1, 2)
LAMS = (0.0, 1.0)
SCORES = ("acc1", "acc2", "loss1", "loss2", "val_acc1", "val_acc2")


def summary(run, dataset) -> dict:
    """What is compared of a run: scores, alignment (measured from its stored weights, as a sweep measures it)
    and a hash of both encoders' test representations."""
    from alignbook.sweep.measure import measure_run, representations

    digest = hashlib.sha256()
    for z in representations(dataset, run, rows=run.config.eval_max_samples):
        digest.update(z.tobytes())
    alignment, _ = measure_run(dataset, run)
    return {"lam": run.lam, "seed": run.seed, **{name: float(getattr(run, name)) for name in SCORES},
            **{f"align_{name}": float(value) for name, value in sorted(alignment.items())},
            "representations": digest.hexdigest()}


def train() -> dict:
    """Train every shape's runs in this process; returns shape -> list of run summaries."""
    import torch

    from alignbook.chapters.real_data import BASICMOTIONS_SPLIT, TRAIN_SETTINGS
    from alignbook.config import TrainConfig
    from alignbook.data import load_basicmotions
    from alignbook.data.synthetic import make_dataset
    from alignbook.training.single import fit
    from alignbook.training.vectorized import fit_many

    synthetic = make_dataset(4, depth=1, n_samples=16384, seed=0)
    mlp = TrainConfig(num_epochs=5)
    pairs = [(lam, seed) for lam in LAMS for seed in SEEDS]
    runs = {
        "synthetic MLP, fit_many": (synthetic, fit_many(synthetic, [lam for lam, _ in pairs],
                                                        [seed for _, seed in pairs], mlp)),
        "synthetic MLP, fit": (synthetic, [fit(synthetic, lam, seed, mlp) for lam, seed in pairs]),
    }
    motions = load_basicmotions(split=BASICMOTIONS_SPLIT)
    transformer = TrainConfig(**{**TRAIN_SETTINGS["basicmotions"], "num_epochs": 20})
    runs["BasicMotions transformer, fit"] = (motions, [fit(motions, lam, seed, transformer)
                                                       for lam, seed in pairs])
    found = {shape: [summary(run, dataset) for run in results] for shape, (dataset, results) in runs.items()}
    return {"capability": torch.backends.cpu.get_cpu_capability(), "runs": found}


def in_process(extra_env: dict) -> dict:
    """`train()` in a fresh interpreter with `extra_env` added to the environment."""
    env = {**os.environ, **extra_env}
    for name in AVX2_ONLY:
        if name not in extra_env:
            env.pop(name, None)
    done = subprocess.run([sys.executable, __file__, "--train"], env=env, capture_output=True, text=True,
                          cwd=ROOT, check=False)
    if done.returncode != 0:
        sys.exit(f"training process failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.splitlines()[-1])


def mkl_code_path(extra_env: dict) -> str:
    """The processors MKL says its code path is for (`MKL_VERBOSE`), in a fresh interpreter with `extra_env`:
    on processors it does not optimise for, MKL takes one path whatever the environment caps."""
    env = {**{k: v for k, v in os.environ.items() if k not in AVX2_ONLY}, **extra_env, "MKL_VERBOSE": "1"}
    done = subprocess.run([sys.executable, "-c", "import torch; torch.ones(64, 64) @ torch.ones(64, 64)"],
                          env=env, capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        if "architecture" in line and "Lnx" in line:
            return line.split("architecture", 1)[1].split(", Lnx", 1)[0].strip()
    return "unknown"


def spread(runs: list[dict], name: str) -> float:
    """Standard deviation over seeds of `name`, averaged over the values of lam (the seed-to-seed spread)."""
    import numpy as np

    by_lam = {}
    for run in runs:
        by_lam.setdefault(run["lam"], []).append(run[name])
    return float(np.mean([np.std(values, ddof=1) for values in by_lam.values()]))


def compare(native: dict, other: dict) -> list[dict]:
    """Per shape: runs bit-identical to `native`, and per score the largest difference and the spread."""
    rows = []
    for shape, runs in native["runs"].items():
        others = other["runs"][shape]
        identical = sum(a == b for a, b in zip(runs, others, strict=True))
        scores = [name for name in runs[0] if name not in ("lam", "seed", "representations")]
        differences = {name: max(abs(a[name] - b[name]) for a, b in zip(runs, others, strict=True))
                       for name in scores}
        rows.append({"shape": shape, "runs": len(runs), "identical": identical,
                     "same_representations": sum(a["representations"] == b["representations"]
                                                 for a, b in zip(runs, others, strict=True)),
                     "differences": differences, "spread": {name: spread(runs, name) for name in scores}})
    return rows


def render(native: dict, repeat: list[dict], capped: dict, rows: list[dict], mkl: tuple[str, str]) -> str:
    import importlib.metadata

    from execute_notebooks import machine  # scripts/ is on the path of a script run from it

    cpu = machine()["cpu"]
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    lines = [f"Measured on {date}: {os.cpu_count()} cores, {cpu} (native capability {native['capability']}, "
             f"imitated {capped['capability']}), Python {platform.python_version()}, "
             f"torch {importlib.metadata.version('torch')}, by `scripts/cross_processor.py`. "
             f"MKL's code path for matrix products: {mkl[0]} natively, {mkl[1]} capped.", "",
             "| Runs | Native, repeated: bit-identical | AVX2 only: bit-identical | "
             "AVX2 only: same test representations |", "| --- | ---: | ---: | ---: |"]
    for row, again in zip(rows, repeat, strict=True):
        runs = row["runs"]
        lines.append(f"| {row['shape']} | {again['identical']} of {runs} | {row['identical']} of {runs} | "
                     f"{row['same_representations']} of {runs} |")
    lines += ["", "Largest difference between the native and the AVX2-only runs, beside the seed-to-seed "
                  "spread (standard deviation over 3 seeds at one `lam`, averaged over `lam` = 0 and 1):", "",
              "| Runs | Score | Largest difference | Seed-to-seed spread |", "| --- | --- | ---: | ---: |"]
    for row in rows:
        for name, difference in row["differences"].items():
            lines.append(f"| {row['shape']} | `{name}` | {difference:.2g} | {row['spread'][name]:.2g} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "book" / "cross_processor.md")
    parser.add_argument("--train", action="store_true", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args(argv)
    if args.train:
        print(json.dumps(train()))
        return 0
    native = in_process({})
    if native["capability"] != "AVX512":
        sys.exit(f"this machine's capability is {native['capability']}: the comparison needs AVX-512")
    again = in_process({})
    capped = in_process(AVX2_ONLY)
    if capped["capability"] != "AVX2":
        sys.exit(f"the capped process reports {capped['capability']}, not AVX2")
    rows = compare(native, capped)
    mkl = (mkl_code_path({}), mkl_code_path(AVX2_ONLY))
    text = render(native, compare(native, again), capped, rows, mkl)
    args.out.write_text(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
