"""Analysis of `lam` sweeps: curve summaries, the optimum `lam*` with uncertainty, alignment trends.

Every function takes the tidy results table (one row per run and encoder: the grouping columns, `encoder`,
`lam`, `seed`, scores, `status`). Rows whose `status` is not "ok" are excluded and counted (`n_failed`
column; the total is in `DataFrame.attrs["n_failed"]`). Uncertainty is over seeds: a seed is the unit that
is resampled, and every bootstrap takes an explicit `seed`, so equal inputs give equal outputs.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from alignbook.checks import check_positive_int, fail


def _stats():
    """scipy.stats, imported on first use: importing it takes about a second, which a chapter that only
    imports the package (for its other helpers) should not pay."""
    from scipy import stats

    return stats


SHAPES = ("rises", "falls", "interior optimum", "flat")


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


def _check_level(param: str, value: float) -> float:
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


def _failed_counts(table, keys: list[str]) -> pd.Series | None:
    """Number of failed rows per key, or None when the table has no `status` column."""
    if "status" not in table.columns:
        return None
    failed = table[table["status"].astype(str) != "ok"]
    return failed.groupby(keys, dropna=False).size() if len(failed) else pd.Series(dtype=int)


def check_unique(table: pd.DataFrame, keys: list[str]) -> None:
    """Fail when `table` has more than one row for some combination of the `keys` columns."""
    duplicated = table.duplicated(subset=keys)
    if duplicated.any():
        fail("table", f"has {int(duplicated.sum())} duplicate row(s) for ({', '.join(keys)})",
             "each run must appear once per encoder")


def _groups(table: pd.DataFrame, keys: list[str]):
    """(key tuple, sub-table) pairs, also when there are no grouping keys."""
    if not keys:
        yield (), table
        return
    for key, part in table.groupby(keys, sort=True, dropna=False):
        yield (key if isinstance(key, tuple) else (key,)), part


# --------------------------------------------------------------------------------------------------------
# curve summaries


def _t_interval(values: np.ndarray, level: float) -> tuple[float, float]:
    n = len(values)
    if n < 2:
        return math.nan, math.nan
    half = _stats().t.ppf(0.5 + level / 2, n - 1) * values.std(ddof=1) / math.sqrt(n)
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
    level = _check_level("ci", ci)
    if method not in ("t", "bootstrap"):
        fail("method", f"must be 't' or 'bootstrap', got {method!r}")
    n_bootstrap = check_positive_int("n_bootstrap", n_bootstrap)
    clean, n_failed = clean_table(table, by, ["encoder", "lam", "seed"], [metric, "lam"])
    keys = [*by, "encoder", "lam"]
    check_unique(clean, [*keys, "seed"])
    failed = _failed_counts(table, keys)
    rng = np.random.default_rng(seed)
    rows = []
    for key, part in _groups(clean, keys):
        values = part[metric].to_numpy(dtype=float)
        if method == "t":
            low, high = _t_interval(values, level)
        else:
            low, high = _bootstrap_mean_interval(values, level, n_bootstrap, rng)
        row = dict(zip(keys, key, strict=True))
        row.update(metric=metric, mean=float(values.mean()),
                   std=float(values.std(ddof=1)) if len(values) > 1 else math.nan,
                   n=len(values), ci_low=low, ci_high=high,
                   n_failed=int(failed.get(key if len(key) > 1 else key[0], 0)) if failed is not None else 0)
        rows.append(row)
    out = pd.DataFrame(rows)
    out.attrs.update(n_failed=n_failed, ci=level, method=method)
    return out


# --------------------------------------------------------------------------------------------------------
# the optimum lam*


def _smooth(curves: np.ndarray, window: int | None) -> np.ndarray:
    """Centred moving average along the last axis (the lam grid); the window shrinks at the ends."""
    if not window or window == 1:
        return curves
    half = window // 2
    out = np.empty_like(curves)
    n = curves.shape[-1]
    for j in range(n):
        lo, hi = max(0, j - half), min(n, j + half + 1)
        out[..., j] = np.nanmean(curves[..., lo:hi], axis=-1)
    return out


def argmax_smallest(curves: np.ndarray) -> np.ndarray:
    """Index of the maximum along the last axis, ties (to rounding) resolved to the smallest lam."""
    curves = np.where(np.isnan(curves), -np.inf, curves)
    best = curves.max(axis=-1, keepdims=True)
    tolerance = 1e-12 * np.maximum(1.0, np.abs(best))
    return np.argmax(curves >= best - tolerance, axis=-1)


def _paired_p(diffs: np.ndarray, test: str, n_bootstrap: int, rng: np.random.Generator) -> float:
    """One-sided p-value for "the mean paired difference is > 0"; NaN differences (missing runs) dropped."""
    diffs = diffs[np.isfinite(diffs)]
    n = len(diffs)
    if n < 2:
        return math.nan
    mean = diffs.mean()
    if test == "bootstrap":
        means = diffs[rng.integers(0, n, size=(n_bootstrap, n))].mean(axis=1)
        return float((np.count_nonzero(means <= 0) + 1) / (n_bootstrap + 1))
    spread = diffs.std(ddof=1)
    if spread == 0:  # identical differences: certain sign, t undefined
        return 0.0 if mean > 0 else 1.0
    return float(_stats().t.sf(mean / (spread / math.sqrt(n)), n - 1))


def _shape(p_above_base: float, p_above_end: float, p_end_below_base: float, alpha_select: float,
           alpha: float) -> str:
    significant = lambda p, a: bool(np.isfinite(p) and p < a)  # noqa: E731 - NaN (too few seeds) never counts
    above_base = significant(p_above_base, alpha_select)
    above_end = significant(p_above_end, alpha_select)
    if above_base and above_end:
        return "interior optimum"
    if above_base:
        return "rises"
    if significant(p_end_below_base, alpha):
        return "falls"
    return "flat"


def optimal_lam(table, by=("dataset",), metric: str = "acc", n_bootstrap: int = 1000, seed: int = 0,
                ci: float = 0.95, alpha: float = 0.05, test: str = "t", smooth: int | None = None,
                adjust: str = "bonferroni") -> pd.DataFrame:
    """The best `lam` per group and encoder, its uncertainty over seeds, its gain and the curve's shape.

    Point estimate: `lam_star` is the argmax of the seed-mean curve (optionally smoothed by a centred moving
    average of `smooth` grid points; none by default); ties go to the smallest `lam`. `value_star` is the
    (unsmoothed) seed mean at `lam_star`, `value_base` the one at the smallest `lam` of the grid (`lam_base`,
    normally 0), `gain = value_star - value_base`.

    Uncertainty: seeds are resampled with replacement `n_bootstrap` times (`numpy.random.default_rng(seed)`);
    each resample recomputes the curve and its argmax. `lam_low`, `lam_high` is the percentile interval at
    level `ci` of the resampled `lam*` (grid values: lower and higher quantiles); `lam_mode` is the most
    frequent resampled `lam*` and `lam_mode_freq` its frequency (1.0: every resample agrees). `gain_low`,
    `gain_high` is the percentile interval of the resampled gain, the argmax re-chosen in every resample so
    the selection is part of the uncertainty. The gain of a maximum is optimistic (winner's curse):
    confirm it on fresh seeds.

    Shape test, on paired per-seed differences (runs of one seed share data and initialisation), each a
    one-sided test that the mean difference is > 0: a paired t-test (`test="t"`) or the bootstrap
    p-value `P(resampled mean difference <= 0)` (`test="bootstrap"`). Because `lam_star` was picked as
    the best of the grid, its two tests use `alpha / (n_lams - 1)` (Bonferroni over the alternatives it
    was chosen from; `adjust="none"` uses `alpha`):

    - `p_above_base`: acc(lam*) > acc(lam_base); `p_above_end`: acc(lam*) > acc(lam_max);
    - `p_end_below_base`: acc(lam_base) > acc(lam_max) (two fixed points: plain `alpha`).

    Label: "interior optimum" iff lam* is significantly above both ends; "rises" iff significantly above
    `lam_base` but not above `lam_max` (it rises and stays up or saturates); "falls" iff not significantly
    above `lam_base` and `lam_max` significantly below `lam_base`; "flat" otherwise (no change detected,
    which includes too few seeds: fewer than 2 paired seeds give NaN p-values).
    """
    by = as_columns("by", by)
    level = _check_level("ci", ci)
    alpha = _check_level("alpha", alpha)
    n_bootstrap = check_positive_int("n_bootstrap", n_bootstrap)
    if test not in ("t", "bootstrap"):
        fail("test", f"must be 't' or 'bootstrap', got {test!r}")
    if adjust not in ("bonferroni", "none"):
        fail("adjust", f"must be 'bonferroni' or 'none', got {adjust!r}")
    if smooth is not None:
        smooth = check_positive_int("smooth", smooth)
    clean, n_failed = clean_table(table, by, ["encoder", "lam", "seed"], [metric, "lam"])
    keys = [*by, "encoder"]
    check_unique(clean, [*keys, "lam", "seed"])
    failed = _failed_counts(table, keys)
    rng = np.random.default_rng(seed)
    rows = []
    for key, part in _groups(clean, keys):
        grid = part.pivot(index="seed", columns="lam", values=metric).sort_index(axis=1)
        lams = grid.columns.to_numpy(dtype=float)
        values = grid.to_numpy(dtype=float)  # seeds x lams, NaN where a run is missing
        n_seeds, n_lams = values.shape
        mean_curve = np.nanmean(values, axis=0)
        star = int(argmax_smallest(_smooth(mean_curve, smooth)))
        # bootstrap over seeds: recompute the curve, its argmax and the gain in every resample
        picks = rng.integers(0, n_seeds, size=(n_bootstrap, n_seeds))
        with warnings.catch_warnings():  # a resample with no run at some lam gives NaN there: expected
            warnings.simplefilter("ignore", RuntimeWarning)
            boot_curves = np.nanmean(values[picks], axis=1)  # n_bootstrap x n_lams
        boot_star = argmax_smallest(_smooth(boot_curves, smooth))
        boot_gain = boot_curves[np.arange(n_bootstrap), boot_star] - boot_curves[:, 0]
        boot_lams = lams[boot_star]
        counts = pd.Series(boot_lams).value_counts(sort=False).sort_index()
        quantiles = (0.5 - level / 2, 0.5 + level / 2)
        alpha_select = alpha / max(n_lams - 1, 1) if adjust == "bonferroni" else alpha
        p_above_base = 1.0 if star == 0 else _paired_p(values[:, star] - values[:, 0], test, n_bootstrap, rng)
        p_above_end = (1.0 if star == n_lams - 1
                       else _paired_p(values[:, star] - values[:, -1], test, n_bootstrap, rng))
        p_end_below_base = _paired_p(values[:, 0] - values[:, -1], test, n_bootstrap, rng)
        row = dict(zip(keys, key, strict=True))
        row.update(
            metric=metric, lam_star=float(lams[star]),
            lam_low=float(np.quantile(boot_lams, quantiles[0], method="lower")),
            lam_high=float(np.quantile(boot_lams, quantiles[1], method="higher")),
            lam_mode=float(counts.idxmax()), lam_mode_freq=float(counts.max() / n_bootstrap),
            value_star=float(mean_curve[star]), value_base=float(mean_curve[0]), lam_base=float(lams[0]),
            lam_max=float(lams[-1]), gain=float(mean_curve[star] - mean_curve[0]),
            gain_low=float(np.nanquantile(boot_gain, quantiles[0])),
            gain_high=float(np.nanquantile(boot_gain, quantiles[1])),
            p_above_base=p_above_base, p_above_end=p_above_end, p_end_below_base=p_end_below_base,
            shape=_shape(p_above_base, p_above_end, p_end_below_base, alpha_select, alpha),
            n_seeds=n_seeds, n_lams=n_lams,
            n_failed=int(failed.get(key if len(key) > 1 else key[0], 0)) if failed is not None else 0,
        )
        rows.append(row)
    out = pd.DataFrame(rows)
    out.attrs.update(n_failed=n_failed, ci=level, alpha=alpha, test=test, adjust=adjust, smooth=smooth)
    return out


# --------------------------------------------------------------------------------------------------------
# correlations and the alignment trend


def _rank_rows(values: np.ndarray) -> np.ndarray:
    return _stats().rankdata(values, axis=-1)


def _pearson_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row pair; NaN where a row is constant."""
    xc = x - x.mean(axis=-1, keepdims=True)
    yc = y - y.mean(axis=-1, keepdims=True)
    denominator = np.sqrt((xc**2).sum(axis=-1) * (yc**2).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (xc * yc).sum(axis=-1) / denominator, np.nan)


def correlation_ci(x, y, method: str = "spearman", n_bootstrap: int = 2000, seed: int = 0,
                   ci: float = 0.95) -> tuple[float, float, float]:
    """Correlation of paired samples and its percentile-bootstrap interval: `(r, low, high)`.

    Pairs are resampled with replacement (`numpy.random.default_rng(seed)`); resamples in which one
    variable is constant are dropped. `method` is "spearman" (rank correlation, ties averaged) or "pearson".
    """
    if method not in ("spearman", "pearson"):
        fail("method", f"must be 'spearman' or 'pearson', got {method!r}")
    level = _check_level("ci", ci)
    n_bootstrap = check_positive_int("n_bootstrap", n_bootstrap)
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if len(x) != len(y):
        fail("x/y", f"must have the same length, got {len(x)} and {len(y)}")
    if len(x) < 3:
        fail("x", f"needs at least 3 pairs, got {len(x)}")
    for name, values in (("x", x), ("y", y)):
        if not np.all(np.isfinite(values)):
            fail(name, "contains non-finite values (NaN or inf)")
    transform = _rank_rows if method == "spearman" else (lambda v: v)
    r = float(_pearson_rows(transform(x), transform(y)))
    picks = np.random.default_rng(seed).integers(0, len(x), size=(n_bootstrap, len(x)))
    boot = _pearson_rows(transform(x[picks]), transform(y[picks]))
    boot = boot[np.isfinite(boot)]
    if len(boot) == 0:
        return r, math.nan, math.nan
    low, high = np.quantile(boot, [0.5 - level / 2, 0.5 + level / 2])
    return r, float(low), float(high)


def alignment_trend(table, by=("dataset",), metric: str = "align_mutual_knn", alpha: float = 0.05,
                    n_bootstrap: int = 2000, seed: int = 0, ci: float = 0.95) -> pd.DataFrame:
    """Does alignment rise monotonically with `lam`? Spearman correlation of `metric` with `lam` per group.

    Alignment is a property of the pair of encoders, so it appears on both encoder rows of a run; one value
    per (group, lam, seed) is kept (the rows must agree, else a ValueError). Columns: `rho` (Spearman over
    runs), `p_value` (scipy's one-sided test of rho > 0; it treats runs as independent), `ci_low`, `ci_high`
    (bootstrap over runs, `correlation_ci`), `rho_means` (Spearman of the seed-mean curve: 1.0 iff the mean
    alignment strictly increases at every step of the grid), `rises` (`p_value < alpha`), `n` runs.
    """
    by = as_columns("by", by)
    alpha = _check_level("alpha", alpha)
    clean, n_failed = clean_table(table, by, ["lam", "seed"], [metric, "lam"])
    run_keys = [*by, "lam", "seed"]
    disagree = clean.groupby(run_keys, dropna=False)[metric].nunique() > 1
    if disagree.any():
        fail(metric, f"differs between rows of the same run in {int(disagree.sum())} case(s)",
             "alignment should be one value per run; summarise per encoder with curve_summary instead")
    runs = clean.drop_duplicates(subset=run_keys)
    rows = []
    for key, part in _groups(runs, by):
        lam = part["lam"].to_numpy(dtype=float)
        values = part[metric].to_numpy(dtype=float)
        row = dict(zip(by, key, strict=True))
        if len(part) < 3 or np.ptp(lam) == 0 or np.ptp(values) == 0:
            rho = p_value = low = high = rho_means = math.nan
        else:
            result = _stats().spearmanr(lam, values, alternative="greater")
            rho, p_value = float(result.statistic), float(result.pvalue)
            _, low, high = correlation_ci(lam, values, "spearman", n_bootstrap, seed, ci)
            means = part.groupby("lam")[metric].mean()
            rho_means = (float(_stats().spearmanr(means.index, means.to_numpy()).statistic)
                         if len(means) > 1 and np.ptp(means.to_numpy()) > 0 else math.nan)
        row.update(metric=metric, rho=rho, p_value=p_value, ci_low=low, ci_high=high, rho_means=rho_means,
                   rises=bool(np.isfinite(p_value) and p_value < alpha), n=len(part))
        rows.append(row)
    out = pd.DataFrame(rows)
    out.attrs.update(n_failed=n_failed, alpha=alpha)
    return out
