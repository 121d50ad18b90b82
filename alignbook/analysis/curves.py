"""Results tables as curves: validation of a table, seed-mean curves with intervals (`curve_summary`) and the
per-cell matrices every test of the verdict protocol reads (`cell_matrices`).

Every function takes the tidy results table (one row per run and encoder: the grouping columns, `encoder`,
`lam`, `seed`, scores, `status`). Rows whose `status` is not "ok" are excluded and counted (`n_failed`
column; the total is in `DataFrame.attrs["n_failed"]`). A seed is the unit of replication: it draws the
data, the split, the labelled subset and the initialisation, so its runs at every `lam` form one block, and
every interval is over seeds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from alignbook.checks import check_positive_int, fail

# --------------------------------------------------------------------------------------------------------
# validation


def as_columns(param: str, by) -> list[str]:
    """`by` as a list of column names: None or () means no grouping, a string one column."""
    if by is None:
        return []
    if isinstance(by, str):
        return [by]
    if not all(isinstance(name, str) for name in by):
        fail(param, f"must be a column name or a sequence of column names, got {by!r}")
    return list(by)


def check_level(param: str, value: float) -> float:
    """A probability such as a confidence level or alpha: a number strictly between 0 and 1."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        fail(param, f"must be a number strictly between 0 and 1, got {value!r}")
    return float(value)


def clean_table(table, by: list[str], required: Sequence[str],
                numeric: Sequence[str]) -> tuple[pd.DataFrame, int]:
    """Check the table, drop failed runs; return the ok rows and how many rows were dropped.

    Missing columns are named in the error; non-finite values in `numeric` columns of ok rows are refused
    (failed runs carry NaN scores by design, so they are checked only after being dropped).
    """
    if not isinstance(table, pd.DataFrame):
        fail("table", f"must be a pandas DataFrame, got {type(table).__name__}")
    columns = list(dict.fromkeys([*by, *required, *numeric]))
    missing = [c for c in columns if c not in table.columns]
    if missing:
        fail("table", f"missing column(s) {', '.join(map(repr, missing))}",
             f"present: {', '.join(map(str, table.columns))}")
    if table.empty:
        fail("table", "is empty", "run the sweep first or check the filter that built the table")
    n_failed = 0
    if "status" in table.columns:
        ok = table["status"].astype(str) == "ok"
        n_failed = int((~ok).sum())
        table = table[ok]
        if table.empty:
            fail("table", f"has no successful runs: all {n_failed} rows have status != 'ok'")
    for name in numeric:
        values = pd.to_numeric(table[name], errors="coerce").to_numpy(dtype=float)
        bad = int(np.count_nonzero(~np.isfinite(values)))
        if bad:
            fail(name, f"has {bad} non-finite or non-numeric value(s) in successful runs",
                 "a run with status 'ok' must carry finite scores")
    return table.copy(), n_failed


def failed_counts(table: pd.DataFrame, keys: list[str]) -> dict[tuple, int]:
    """Number of failed rows per key tuple of `keys` (empty when the table has no `status` column)."""
    if "status" not in table.columns:
        return {}
    failed = table[table["status"].astype(str) != "ok"]
    if failed.empty:
        return {}
    if not keys:
        return {(): len(failed)}
    sizes = failed.groupby(keys, dropna=False).size()
    return {(k if isinstance(k, tuple) else (k,)): int(v) for k, v in sizes.items()}


def check_unique(table: pd.DataFrame, keys: list[str]) -> None:
    """Fail when `table` has more than one row for some combination of the `keys` columns."""
    duplicated = table.duplicated(subset=keys)
    if duplicated.any():
        fail("table", f"has {int(duplicated.sum())} duplicate row(s) for ({', '.join(keys)})",
             "each run must appear once per encoder")


def grouped(table: pd.DataFrame, keys: list[str]):
    """(key tuple, sub-table) pairs in sorted key order, also when there are no grouping keys."""
    if not keys:
        yield (), table
        return
    for key, part in table.groupby(keys, sort=True, dropna=False):
        yield (key if isinstance(key, tuple) else (key,)), part


# --------------------------------------------------------------------------------------------------------
# curve summaries


def _t_interval(values: np.ndarray, level: float) -> tuple[float, float]:
    from scipy import stats

    n = len(values)
    if n < 2:
        return math.nan, math.nan
    half = stats.t.ppf(0.5 + level / 2, n - 1) * values.std(ddof=1) / math.sqrt(n)
    return float(values.mean() - half), float(values.mean() + half)


def _bootstrap_mean_interval(values: np.ndarray, level: float, n_bootstrap: int,
                             rng: np.random.Generator) -> tuple[float, float]:
    if len(values) < 2:
        return math.nan, math.nan
    means = values[rng.integers(0, len(values), size=(n_bootstrap, len(values)))].mean(axis=1)
    return tuple(float(q) for q in np.quantile(means, [0.5 - level / 2, 0.5 + level / 2]))


def curve_summary(table, by=("dataset",), metric: str = "acc", ci: float = 0.95, method: str = "t",
                  n_bootstrap: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Mean curve over seeds per group, encoder and `lam`, with a confidence interval for the mean.

    Returns one row per (`by`..., encoder, lam) with columns `metric` (the name summarised), `mean`, `std`
    (ddof 1), `n` (seeds), `ci_low`, `ci_high` and `n_failed`. `method="t"` gives the Student-t interval
    over seeds; `method="bootstrap"` the percentile interval of `n_bootstrap` resamples of seeds, drawn from
    `numpy.random.default_rng(seed)`. With a single seed the interval is NaN (no spread to measure).
    """
    by = as_columns("by", by)
    level = check_level("ci", ci)
    if method not in ("t", "bootstrap"):
        fail("method", f"must be 't' or 'bootstrap', got {method!r}")
    n_bootstrap = check_positive_int("n_bootstrap", n_bootstrap)
    clean, n_failed = clean_table(table, by, ["encoder", "lam", "seed"], [metric, "lam"])
    keys = [*by, "encoder", "lam"]
    check_unique(clean, [*keys, "seed"])
    failed = failed_counts(table, keys)
    rng = np.random.default_rng(seed)
    rows = []
    for key, part in grouped(clean, keys):
        values = part[metric].to_numpy(dtype=float)
        if method == "t":
            low, high = _t_interval(values, level)
        else:
            low, high = _bootstrap_mean_interval(values, level, n_bootstrap, rng)
        row = dict(zip(keys, key, strict=True))
        row.update(metric=metric, mean=float(values.mean()),
                   std=float(values.std(ddof=1)) if len(values) > 1 else math.nan,
                   n=len(values), ci_low=low, ci_high=high, n_failed=failed.get(key, 0))
        rows.append(row)
    out = pd.DataFrame(rows)
    out.attrs.update(n_failed=n_failed, ci=level, method=method)
    return out


def argmax_smallest(curves: np.ndarray) -> np.ndarray:
    """Index of the maximum along the last axis, ties (to rounding) resolved to the smallest lam; NaN never
    wins."""
    curves = np.where(np.isnan(curves), -np.inf, curves)
    best = curves.max(axis=-1, keepdims=True)
    tolerance = 1e-12 * np.maximum(1.0, np.abs(np.where(np.isfinite(best), best, 0.0)))
    return np.argmax(curves >= best - tolerance, axis=-1)


# --------------------------------------------------------------------------------------------------------
# cells: the seeds x lams matrices of one group and encoder


@dataclass
class Cell:
    """One group and encoder of a results table as matrices over seeds (rows) and `lam` (columns, increasing,
    the smallest first; normally `lam = 0`). `test` holds the scores of `metric`, `valid` those of `select`
    (None when no selection column was asked for); a missing run (failed, or never run) is NaN.
    `cap_share` is the share of the cell's runs that stopped at the step cap (NaN without a `hit_cap`
    column)."""

    key: dict
    lams: np.ndarray
    seeds: np.ndarray
    test: np.ndarray
    valid: np.ndarray | None
    n_failed: int
    cap_share: float


def cell_matrices(table, by, metric: str = "acc", select: str | None = "val_acc",
                  per_encoder: bool = True) -> tuple[list[Cell], int]:
    """The cells of `table` (one per `by` group and, with `per_encoder`, encoder) and the number of failed
    rows left out.

    Without `per_encoder` a cell holds one value per run (a property of the pair of encoders, such as an
    alignment metric, appears on both encoder rows of a run): the rows of one run must agree, else a
    ValueError.
    """
    by = as_columns("by", by)
    numeric = [metric, "lam", *([select] if select else [])]
    clean, n_failed = clean_table(table, by, ["lam", "seed", *(["encoder"] if per_encoder else [])],
                                  numeric)
    keys = [*by, "encoder"] if per_encoder else by
    if per_encoder:
        check_unique(clean, [*keys, "lam", "seed"])
    else:
        run_keys = [*keys, "lam", "seed"]
        disagree = clean.groupby(run_keys, dropna=False)[metric].nunique() > 1
        if disagree.any():
            fail(metric, f"differs between rows of the same run in {int(disagree.sum())} case(s)",
                 "a property of the pair must be one value per run; test it per encoder instead")
        clean = clean.drop_duplicates(subset=run_keys)
    failed = failed_counts(table, keys)
    cells = []
    for key, part in grouped(clean, keys):
        test = part.pivot(index="seed", columns="lam", values=metric).sort_index().sort_index(axis=1)
        valid = None
        if select:
            valid = part.pivot(index="seed", columns="lam", values=select).reindex_like(test)
            valid = valid.to_numpy(dtype=float)
        cap = (float(part["hit_cap"].astype(float).mean()) if "hit_cap" in part.columns else math.nan)
        cells.append(Cell(key=dict(zip(keys, key, strict=True)), lams=test.columns.to_numpy(dtype=float),
                          seeds=test.index.to_numpy(), test=test.to_numpy(dtype=float), valid=valid,
                          n_failed=failed.get(key, 0), cap_share=cap))
    return cells, n_failed
