"""What the training chapters share: how they train, how they summarise a sweep, and how they spread work.

The synthetic, regime-map and real-data chapters train every run by the same rule (`training_budget`) and
check it the same way (`best_step_summary`); they summarise their sweeps alike: run counts, the table of
optima, the alignment curves and their trend test, shape counts, the glue of claim verdicts (keyed by claim)
and the evidence behind them. `map_in_processes` spreads slow single-core analyses over processes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import pandas as pd

from alignbook import analysis
from alignbook.chapters.book import interval_columns
from alignbook.storage.memo import remembered
from alignbook.sweep import resolve_workers
from alignbook.training.seeding import steps_per_epoch

# --------------------------------------------------------------------------------------------------------
# Slow single-core analyses spread over processes


def map_in_processes(function: Callable, arguments: Sequence[tuple], workers: int | str = 1) -> Iterator:
    """`function(*a)` for each `a` of `arguments`, yielded in the order of `arguments`, each call on one torch
    and BLAS thread (the estimators' small matrices gain nothing from more): in this process when `workers`
    is 1, else in up to `workers` spawned processes ('auto': one per core) that die with this one
    (`sweep.workers.process_pool`). Results do not depend on `workers`. `function` must be importable by
    name (defined at a module's top level, or a `functools.partial` of such a function)."""
    workers = resolve_workers(workers, max(1, len(arguments)))
    if workers == 1 or len(arguments) < 2:
        yield from (_one_thread(function, a) for a in arguments)
        return
    from alignbook.sweep.workers import process_pool

    with process_pool(min(workers, len(arguments))) as pool:
        yield from pool.map(_one_thread, [function] * len(arguments), arguments)


def _one_thread(function: Callable, arguments: tuple):
    from alignbook.training.threads import limited_threads

    with limited_threads(1):
        return function(*arguments)


# --------------------------------------------------------------------------------------------------------
# A training budget for scarce labels, and whether it sufficed


def training_budget(n_train: int, full: int, batch_size: int, num_epochs: int, min_steps: int,
                    num_checkpoints: int) -> dict:
    """Training options for a labelled set of `n_train` examples, out of a training split of `full`.

    The whole split trains as its study always has: `num_epochs` epochs, validated after every epoch. A
    smaller set trains exactly `min_steps` optimiser steps, validated at `num_checkpoints` geometrically
    spaced steps (`seeding.checkpoint_steps`), whatever its size: ten epochs of 300 examples would be ten
    steps. Each encoder keeps its best validation checkpoint.
    """
    base = {"num_epochs": int(num_epochs), "batch_size": int(batch_size)}
    if n_train >= full:
        return base
    return {**base, "num_steps": int(min_steps), "num_checkpoints": int(num_checkpoints)}


def budget_steps(n_train: int, options: dict) -> int:
    """Optimiser steps of a run on `n_train` examples with the training options of `training_budget`."""
    return options.get("num_steps") or options["num_epochs"] * steps_per_epoch(n_train, options["batch_size"])


def best_step_summary(table: pd.DataFrame, budgets: dict[int, dict],
                      keys: Sequence[str] = ("depth", "n_train")) -> pd.DataFrame:
    """Where each encoder's best validation checkpoint falls, per group of `keys` (which include `n_train`)
    and encoder.

    `budgets` maps n_train to its `training_budget` options. Columns: `steps` of the budget, median and
    90th percentile of `best_step` as a share of it, and `at_end`, the share of runs whose best checkpoint
    is the last one (a run still improving when its budget ends).
    """
    ok = table[table["status"] == "ok"].copy()
    ok["steps"] = [budget_steps(n, budgets[n]) for n in ok["n_train"]]
    ok["share"] = ok["best_step"] / ok["steps"]
    ok["at_end"] = ok["best_step"] >= ok["steps"]
    grouped = ok.groupby([*keys, "encoder"])
    return pd.DataFrame({"steps": grouped["steps"].first(), "median_share": grouped["share"].median(),
                         "p90_share": grouped["share"].quantile(0.9), "at_end": grouped["at_end"].mean(),
                         "runs": grouped.size()}).reset_index()


def still_improving(convergence: pd.DataFrame, share: float = 0.5) -> str:
    """The groups of `best_step_summary` in which at least `share` of the runs peak at the budget's last
    checkpoint (still improving when it ended), as text for the prose: "encoder 2 at depth 1, n_train
    10,000 (0.58 of runs); ..." in the table's order, or "none"."""
    rows = convergence[convergence["at_end"] >= share]
    where = [c for c in ("depth", "dataset") if c in rows.columns]
    parts = []
    for row in rows.to_dict("records"):  # keeps each column's type (iterrows makes a row of floats)
        place = ", ".join([*(f"{c} {row[c]}" for c in where), f"n_train {int(row['n_train']):,}"])
        parts.append(f"encoder {row['encoder']} at {place} ({row['at_end']:.2f} of runs)")
    return "; ".join(parts) or "none"


# --------------------------------------------------------------------------------------------------------
# What the synthetic sweep and the real-data chapters both do with a sweep's table

ALIGN_METRICS = ("align_mutual_knn", "align_cka", "align_cknna", "align_svcca")
OPTIMUM_COLUMNS = {"lam*": ("lam_star", "lam_low", "lam_high"), "gain": ("gain", "gain_low", "gain_high")}


def run_counts(table: pd.DataFrame, lams: Sequence[float], seeds: Sequence[int]) -> dict:
    """Runs, diverged runs, seeds and `lam` values of a sweep's table (two rows per run: one per encoder)."""
    return {"n_runs": len(table) // 2, "n_failed": int((table["status"] != "ok").sum() // 2),
            "n_seeds": len(seeds), "n_lams": len(lams)}


def shape_counts(optimum: pd.DataFrame) -> dict:
    """How many curves have each tested shape (`n_rises`, `n_flat`, ...), how many in all, and the
    largest gain."""
    shapes = optimum["shape"].value_counts()
    counts = {f"n_{shape.replace(' ', '_')}": int(shapes.get(shape, 0)) for shape in analysis.SHAPES}
    return {"n_curves": len(optimum), **counts, "max_gain": float(optimum["gain"].max())}


def optimum_table(optimum: pd.DataFrame, keys: Sequence[str], digits: int = 4) -> pd.DataFrame:
    """`lam*` (two decimals: it is a grid value) and the gain at `lam*` (`digits` decimals), each with its
    interval in one column, and the curve's shape."""
    shown = interval_columns(optimum, {"lam*": OPTIMUM_COLUMNS["lam*"]}, digits=2)
    shown = interval_columns(shown, {"gain": OPTIMUM_COLUMNS["gain"]}, digits)
    return shown.set_index([*keys, "encoder"])[[*OPTIMUM_COLUMNS, "shape"]]


@remembered()
def alignment_study(table: pd.DataFrame, by, metrics: Sequence[str] = ALIGN_METRICS,
                    chance_by: str | None = None) -> tuple[pd.DataFrame, dict, pd.DataFrame]:
    """Seed summaries of each alignment metric against `lam`, their chance levels, and the rank test of
    their rise with `lam`.

    Chance levels are the seed means of the runs' `chance_<metric>` columns: one number per metric, or per
    level of `chance_by` when given. Returns (summary, chance, trend). Stored on disk
    (`storage.memo.remembered`): the trend's bootstrap takes seconds on a large sweep.
    """
    summary = pd.concat([analysis.curve_summary(table, by=by, metric=m) for m in metrics])
    chance_columns = {m: m.replace("align_", "chance_") for m in metrics}
    if chance_by is None:
        chance = {m: table[c].mean() for m, c in chance_columns.items()}
    else:
        chance = {m: table.groupby(chance_by)[c].mean().to_dict() for m, c in chance_columns.items()}
    trend = pd.concat([analysis.alignment_trend(table, by=by, metric=m) for m in metrics])
    return summary, chance, trend


def trend_table(trend: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """The mean over seeds of each seed's Spearman rho between `lam` and each alignment metric, its interval,
    the p-value of Page's test of a rise and whether it is below alpha, one row per group and metric."""
    shown = interval_columns(trend, {"rho": ("rho", "ci_low", "ci_high")}, digits=2)
    shown["p_rise"] = shown["p_rise"].round(3)
    return shown.set_index([*keys, "metric"])[["rho", "p_rise", "rises"]]


def trend_counts(trend: pd.DataFrame) -> dict:
    """Cases tested, cases where alignment rises significantly, and the smallest rank correlation."""
    return {"n_trends": len(trend), "n_rising": int(trend["rises"].sum()),
            "min_rho": float(trend["rho"].min())}


def claim_glue(claim_table: pd.DataFrame, prefix: str = "") -> dict:
    """Each claim's verdict and counts, by the claim's key (`protocol.yaml`): `{prefix}{key}_verdict`,
    `{prefix}{key}_agree` ("u of n" cells where the claim holds after Holm) and `{prefix}{key}_opposed`."""
    values = {}
    for _, row in claim_table.iterrows():
        name = f"{prefix}{row['key']}"
        values[f"{name}_verdict"] = row["verdict"]
        values[f"{name}_agree"] = f"{row['agree']} of {row['cases']}"
        values[f"{name}_opposed"] = f"{row['opposed']} of {row['cases']}"
    return values


def evidence(claim_table: pd.DataFrame) -> str:
    """The evidence behind each verdict, one case per line."""
    return "\n".join(f"{name}: {row['verdict']}\n  " + row["ours"].replace("; ", "\n  ")
                     for name, row in claim_table.iterrows())
