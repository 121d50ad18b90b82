"""Retrain a random sample of the runs behind the book's published tables and compare them with the tables.

    python scripts/verify_runs.py [_build/html] [--runs 20] [--seed 0]      # what `make verify` runs

It reads only what a reader can download: every table of sweep runs (`<name>.csv`) that a chapter offers
with its runs' configurations (`<name>.configs.json`), found under the folder given (a built site, whose
downloads sit in `_downloads/`, or the `data/` folder beside the executed notebooks). Runs (a run is the
rows of one `key`, one per encoder) are drawn with the seed, the tables taking turns so that every chapter
that trains is sampled. Each run is rebuilt from its row and the published configuration alone, the
sweep's spec (dataset kind, fixed parameters, data seed) by its `spec` column, the training configuration
by its `config` column, the row's dataset parameters, `lam` and `seed`, then retrained from scratch
(`run_sweep` on a scratch cache with `force=True`, one process).

A run agrees when every published value of its rows (scores, alignment, chance levels, checkpoint, status)
is reproduced to the printed digits: the retrained table is printed as the book prints it (`%.6g`) and the
texts are compared. Per run, every value is shown published, retrained and their difference (one value per
encoder). The last line
says how many runs agree. A run whose data cannot be rebuilt from the downloads (data handed to a sweep
directly, without a recipe) is named and left out of the count.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIGS_SUFFIX = ".configs.json"
# Columns that locate a run or describe its execution: not results to reproduce
NOT_COMPARED = {"spec", "dataset_kind", "dataset", "lam", "seed", "encoder", "modality", "time_s", "error",
                "config", "key", "run"}


def find_tables(folder: Path) -> dict[str, tuple[Path, Path]]:
    """Each published table of runs under `folder`: name -> (its CSV, its configurations)."""
    tables = {}
    for configs in sorted(folder.rglob(f"*{CONFIGS_SUFFIX}")):
        name = configs.name[: -len(CONFIGS_SUFFIX)]
        beside = configs.with_name(f"{name}.csv")
        found = [beside] if beside.is_file() else sorted(folder.rglob(f"{name}.csv"))
        if not found:
            sys.exit(f"{configs}: no {name}.csv under {folder}")
        tables[name] = (found[0], configs)
    return tables


def sample_runs(tables: dict, runs: int, seed: int) -> list[tuple[str, str]]:
    """(table, key) of `runs` distinct runs, the tables taking turns, each table's runs in a seeded order."""
    import numpy as np

    rng = np.random.default_rng(seed)
    orders = {}
    for name, frame in sorted(tables.items()):
        keys = sorted(set(frame["key"]))
        orders[name] = [keys[i] for i in rng.permutation(len(keys))]
    chosen, seen = [], set()
    while len(chosen) < runs and any(orders.values()):
        for name in sorted(orders):
            while orders[name] and orders[name][0] in seen:
                orders[name].pop(0)
            if orders[name] and len(chosen) < runs:
                key = orders[name].pop(0)
                seen.add(key)
                chosen.append((name, key))
    return chosen


def printed(value) -> str:
    """A dataset parameter as the results table prints it (lists joined by commas, floats as `%.6g`)."""
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def one_run_spec(rows, runs: dict, name: str) -> tuple[dict, dict | None] | str:
    """The spec of one run rebuilt from its published rows, and the data to hand over (None: the spec
    builds it); or a sentence saying why it cannot be rebuilt."""
    row = rows.iloc[0]
    spec = runs["specs"].get(row["spec"])
    if spec is None:
        return f"the configurations have no sweep {row['spec']!r}"
    if row["config"] not in runs["configs"]:
        return f"the configurations have no training configuration {row['config']!r}"
    lams = [lam for lam in spec["lams"] if printed(float(lam)) == row["lam"]]
    seeds = [seed for seed in spec["seeds"] if str(seed) == row["seed"]]
    if len(lams) != 1 or len(seeds) != 1:
        return f"lam {row['lam']} and seed {row['seed']} are not one run of the sweep {row['spec']!r}"
    one = {**spec, "name": name, "lams": lams, "seeds": seeds, "dataset_grid": {},
           "train": runs["configs"][row["config"]]}
    if spec["dataset"].get("kind"):
        import itertools

        from alignbook.data.user import DATASET_KIND, read_pairs, register

        if spec["dataset"]["kind"] == DATASET_KIND:  # pairs read by the advice chapter: only the book's own
            pair = re.fullmatch(r"mfeat (\w+)-(\w+)", row["dataset"])
            if pair is None:
                return f"the data {row['dataset']!r} are a user's own pairs, which the downloads do not hold"
            register(read_pairs(f"mfeat:{pair[1]},{pair[2]}"))
        grid = spec["dataset_grid"]
        points = [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
        column = {k: "data_seed" if k == "seed" else k for k in grid}
        matches = [p for p in points if all(printed(v) == row[column[k]] for k, v in p.items())]
        if len(matches) != 1:
            return f"the dataset {row['dataset']!r} is not one point of the sweep's grid"
        one["dataset"] = {**spec["dataset"], **matches[0]}
        return one, None
    recipe = runs["datasets"].get(row["dataset"])
    if recipe is None:
        return f"the data {row['dataset']!r} were handed to the sweep directly and no recipe was published"
    from alignbook.sweep import build_dataset

    params = {k: v for k, v in recipe.items() if k != "kind"}
    return one, {row["dataset"]: build_dataset(recipe["kind"], **params)}


def compared(published, retrained, parameters: set[str]) -> list[tuple[str, list[str], list[str]]]:
    """(column, published texts, retrained texts; one per encoder) of every value to reproduce: the
    published columns but those in `NOT_COMPARED`, the dataset's `parameters` and those a chapter added."""
    import pandas as pd

    text = pd.read_csv(io.StringIO(retrained.to_csv(index=False, float_format="%.6g")), dtype=str,
                       keep_default_na=False)
    encoders = sorted(published["encoder"])
    mine = [published[published["encoder"] == encoder].iloc[0] for encoder in encoders]
    theirs = [text[text["encoder"] == encoder] for encoder in encoders]
    if any(rows.empty for rows in theirs):
        return [("encoder", encoders, sorted(text["encoder"]))]
    theirs = [rows.iloc[0] for rows in theirs]
    return [(column, [row[column] for row in mine], [row[column] for row in theirs])
            for column in published.columns
            if column not in NOT_COMPARED | parameters and column in text.columns]


def difference(published: str, retrained: str) -> str:
    try:
        return f"{float(retrained) - float(published):+.2g}"
    except ValueError:
        return "same" if published == retrained else "differs"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", nargs="?", type=Path, default=ROOT / "_build" / "html",
                        help="a built site, or a folder of published tables (default _build/html)")
    parser.add_argument("--runs", type=int, default=20, help="runs to retrain (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample (default 0)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error(f"--runs must be at least 1, got {args.runs}")
    if not args.folder.is_dir():
        sys.exit(f"{args.folder}: no such folder; build the book first (make book)")
    import pandas as pd

    found = find_tables(args.folder)
    if not found:
        sys.exit(f"{args.folder}: no table of runs with its configurations ({CONFIGS_SUFFIX}); "
                 "build the book first (make book)")
    frames = {name: pd.read_csv(csv, dtype=str, keep_default_na=False) for name, (csv, _) in found.items()}
    configurations = {name: json.loads(path.read_text()) for name, (_, path) in found.items()}
    chosen = sample_runs(frames, args.runs, args.seed)
    print(f"retraining {len(chosen)} runs drawn with seed {args.seed} from {len(found)} tables: "
          f"{', '.join(sorted(found))}", flush=True)
    agree, retrained, skipped = 0, 0, []
    with tempfile.TemporaryDirectory(prefix="alignbook-verify-") as scratch:
        os.environ["ALIGNBOOK_RESULTS"] = str(Path(scratch) / "results")  # the sweeps' tables stay scratch
        from alignbook.sweep import run_sweep

        for index, (name, key) in enumerate(chosen, 1):
            rows = frames[name][frames[name]["key"] == key]
            row = rows.iloc[0]
            where = f"[{index}/{len(chosen)}] {name}: {row['dataset']}, lam {row['lam']}, seed {row['seed']}"
            rebuilt = one_run_spec(rows, configurations[name], f"verify_{index}")
            if isinstance(rebuilt, str):
                skipped.append(f"{name} {key}")
                print(f"{where}: not rebuilt: {rebuilt}", flush=True)
                continue
            spec, data = rebuilt
            started = time.perf_counter()
            result = run_sweep(spec, data=data, cache_dir=Path(scratch) / "cache", workers=1, progress=False,
                               force=True)
            grid = {"data_seed" if k == "seed" else k for k in [*spec["dataset"], *spec["dataset_grid"]]}
            values = compared(rows, result.table, grid | {"data_seed"})
            same = all(mine == theirs for _, mine, theirs in values)
            retrained += 1
            agree += same
            key_note = "same run key" if set(result.table["key"]) == {key} else "another run key (other code)"
            print(f"{where}: {'agrees' if same else 'DIFFERS'} ({time.perf_counter() - started:.0f} s, "
                  f"{key_note})", flush=True)
            for column, mine, theirs in values:
                mark = "" if mine == theirs else "   <- differs"
                differences = [difference(a, b) for a, b in zip(mine, theirs, strict=True)]
                print(f"    {column:<20} published {' '.join(f'{v:<10}' for v in mine)} retrained "
                      f"{' '.join(f'{v:<10}' for v in theirs)} difference {' '.join(differences)}{mark}")
    if skipped:
        print(f"{len(skipped)} runs could not be rebuilt from the downloads and are not counted: "
              f"{'; '.join(skipped)}")
    print(f"{agree} of {retrained} runs agree to the printed digits")
    return 0 if agree == retrained else 1


if __name__ == "__main__":
    sys.exit(main())
