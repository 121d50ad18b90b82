"""What the training chapters share: how they train, how they summarise a sweep, and how they spread work.

The synthetic, regime-map and real-data chapters train every run by the same rule (`training_budget`) and
report how runs ended (`convergence_summary`, `over_cap`); they summarise their sweeps alike: run counts, the
table of optima for readers (with each cell's minimum detectable effect and share of runs at the cap), the
alignment curves and their trend test (`alignment_study`), shape counts, the glue of claim verdicts (keyed by
claim), the evidence behind them, and the words of the prose that state a direction (`direction_word`).
`map_in_processes` spreads slow single-core analyses over processes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

import pandas as pd

from alignbook import analysis
from alignbook.chapters.book import interval_columns, with_interval

# the book's training rule lives in `config` (the package's studies train by it too): chapters read it here
from alignbook.config import CAP_SHARE_LIMIT, CHECK_EVERY, MAX_STEPS, PATIENCE, training_budget  # noqa: F401
from alignbook.storage.memo import remembered
from alignbook.sweep import resolve_workers

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
# Whether runs converged under the book's training rule (`config.training_budget`)


def convergence_summary(table: pd.DataFrame, keys: Sequence[str] = ("depth", "n_train")) -> pd.DataFrame:
    """How runs ended, per group of `keys` and encoder (and `lam` when it is one of the keys): the median
    optimiser steps trained (`steps`), the median share of them at which the encoder's best validation
    checkpoint came (`best_share`), and `cap_share`, the share of runs that reached their step cap instead of
    stopping early (the book marks cells where it exceeds `CAP_SHARE_LIMIT`)."""
    ok = table[table["status"] == "ok"].copy()
    ok["best_share"] = ok["best_step"] / ok["steps"].clip(lower=1)
    grouped = ok.groupby([*keys, "encoder"])
    return pd.DataFrame({"steps": grouped["steps"].median(), "best_share": grouped["best_share"].median(),
                         "cap_share": grouped["hit_cap"].mean(), "runs": grouped.size()}).reset_index()



def over_cap(convergence: pd.DataFrame, limit: float = CAP_SHARE_LIMIT) -> str:
    """The groups of `convergence_summary` in which more than `limit` of the runs reached the step cap, as
    text for the prose: "encoder 2 at depth 10, n_train 10,000 (0.12 of runs); ..." in the table's order
    (every key column of the summary named, `lam` and `redundancy` included), or "none"."""
    rows = convergence[convergence["cap_share"] > limit]
    where = [c for c in rows.columns if c not in ("encoder", "steps", "best_share", "cap_share", "runs")]

    def value(column: str, x) -> str:
        if column == "n_train":
            return f"{int(x):,}"
        return f"{x:g}" if isinstance(x, float) else str(x)

    parts = []
    for row in rows.to_dict("records"):  # keeps each column's type (iterrows makes a row of floats)
        place = ", ".join(f"{c} {value(c, row[c])}" for c in where)
        parts.append(f"encoder {row['encoder']} at {place} ({row['cap_share']:.2f} of runs)")
    return "; ".join(parts) or "none"


def cap_text(share: float, limit: float = CAP_SHARE_LIMIT) -> str:
    """A share of runs at the step cap for a table: "0.00", "0.12 (over 0.05)" above `limit`, "–" when
    unknown."""
    if not math.isfinite(share):
        return "–"
    return f"{share:.2f}" + (f" (over {limit:g})" if share > limit else "")


# --------------------------------------------------------------------------------------------------------
# What the synthetic sweep and the real-data chapters both do with a sweep's table

ALIGN_METRICS = ("align_mutual_knn", "align_cka", "align_cknna", "align_svcca")
# The estimates an optima table shows with their intervals: lam* with its confidence set, the gain with its
# t interval
SHOWN_INTERVALS = {"lam*": ("lam_star", "lam_low", "lam_high"), "gain": ("gain", "gain_low", "gain_high")}


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


def optimum_table(optimum: pd.DataFrame, keys: Sequence[str], digits: int = 4,
                  cap_limit: float = CAP_SHARE_LIMIT) -> pd.DataFrame:
    """The optima for readers, one row per cell (`keys`, encoder): `lam*` with its confidence set (two
    decimals: grid values), the cross-fitted gain with its t interval and `MDE`, the smallest change the
    cell detects at 80 % power (`digits` decimals), `at cap`, the share of the cell's runs stopped by the
    step cap (marked above `cap_limit`; only when `optimum` has `cap_share`), and the tested shape. A
    missing value reads "–", never NaN."""
    shown = interval_columns(optimum, {"lam*": SHOWN_INTERVALS["lam*"]}, digits=2)
    shown = interval_columns(shown, {"gain": SHOWN_INTERVALS["gain"]}, digits)
    shown["MDE"] = [with_interval(x, math.nan, math.nan, digits) for x in optimum["mde"]]
    columns = ["lam*", "gain", "MDE"]
    if "cap_share" in optimum.columns:
        shown["at cap"] = [cap_text(x, cap_limit) for x in optimum["cap_share"]]
        columns.append("at cap")
    return shown.set_index([*keys, "encoder"])[[*columns, "shape"]]


class AlignmentStudy(NamedTuple):
    """What `alignment_study` returns (a tuple too: `summary, chance, trend = ...` unpacks it)."""

    summary: pd.DataFrame  # seed summaries of each metric against lam (`analysis.curve_summary`)
    chance: dict  # chance level per metric (or per metric and level of `chance_by`)
    trend: pd.DataFrame  # Page's test both ways per group and metric (`analysis.alignment_trend`)


@remembered()
def alignment_study(table: pd.DataFrame, by, metrics: Sequence[str] = ALIGN_METRICS,
                    chance_by: str | None = None) -> AlignmentStudy:
    """Seed summaries of each alignment metric against `lam`, their chance levels, and the rank test of
    their rise with `lam`.

    Chance levels are the seed means of the runs' `chance_<metric>` columns: one number per metric, or per
    level of `chance_by` when given. Returns an `AlignmentStudy`. Stored on disk
    (`storage.memo.remembered`): the summaries and tests of every metric take seconds on a large sweep.
    """
    summary = pd.concat([analysis.curve_summary(table, by=by, metric=m) for m in metrics])
    chance_columns = {m: m.replace("align_", "chance_") for m in metrics}
    if chance_by is None:
        chance = {m: table[c].mean() for m, c in chance_columns.items()}
    else:
        chance = {m: table.groupby(chance_by)[c].mean().to_dict() for m, c in chance_columns.items()}
    trend = pd.concat([analysis.alignment_trend(table, by=by, metric=m) for m in metrics])
    return AlignmentStudy(summary=summary, chance=chance, trend=trend)


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
    `{prefix}{key}_agree` ("u of n" cells where the claim holds after Holm), `{prefix}{key}_opposed` (the
    same for its opposite) and `{prefix}{key}_reach`, a clause on what its cells could detect: "each of its
    cells detects a change of 0.0123 with 80 % power" (the claim table's `mde`: the largest minimum
    detectable effect of its cells at Holm's strictest level, at the protocol file's power), "no cell of
    this run tests it", or, for a test without an effect size, "a rank test, without an effect size"."""
    power = round(100 * analysis.load_protocol().power)
    values = {}
    for _, row in claim_table.iterrows():
        name = f"{prefix}{row['key']}"
        values[f"{name}_verdict"] = row["verdict"]
        values[f"{name}_agree"] = f"{row['agree']} of {row['cases']}"
        values[f"{name}_opposed"] = f"{row['opposed']} of {row['cases']}"
        mde = float(row.get("mde", math.nan))
        if math.isfinite(mde):
            reach = f"each of its cells detects a change of {mde:.4f} with {power} % power"
        else:
            reach = ("no cell of this run tests it" if row["cases"] == 0
                     else "a rank test, without an effect size")
        values[f"{name}_reach"] = reach
    return values


def direction_word(value: float, positive: str, negative: str, zero: str, tolerance: float = 0.0) -> str:
    """The word of the prose for the sign of `value`: `positive` above `tolerance`, `negative` below
    `-tolerance`, else `zero` (so that "above" or "below" in a sentence is computed, never typed)."""
    if value > tolerance:
        return positive
    return negative if value < -tolerance else zero


def evidence(claim_table: pd.DataFrame) -> str:
    """The evidence behind each verdict, one case per line."""
    return "\n".join(f"{name}: {row['verdict']}\n  " + row["ours"].replace("; ", "\n  ")
                     for name, row in claim_table.iterrows())
