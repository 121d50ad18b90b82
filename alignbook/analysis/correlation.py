"""Trends and correlations with the seed as the unit: does alignment rise with `lam`, and do two statistics of
the cells move together?

- `alignment_trend`: per cell (a group; alignment is a property of the pair of encoders, one value per run)
  and metric, Page's L test (`scipy.stats.page_trend_test`) with seeds as blocks and `lam` as the ordered
  treatment, for an increase (`p_rise`) and, with the order reversed, for a decrease (`p_fall`): the same
  test both ways. Its effect size is the mean over seeds of each seed's Spearman correlation between `lam`
  and the metric, with a t interval over seeds (`rho`, `ci_low`, `ci_high`).
- `seed_correlation`: a rank (or linear) correlation across cells of two statistics that are means over
  seeds (e.g. each cell's cross-fitted gain and a property of the cell). Its direction is tested by
  permuting the cells (exact); its interval resamples seeds, jointly across cells (a seed index drawn
  once serves every cell), recomputes each cell's means and the correlation, and takes percentiles: the
  uncertainty it describes is the seeds', not the choice of cells.
- `correlation_ci`: the same for independent pairs (e.g. points drawn at random), resampling the pairs.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd

from alignbook.analysis.curves import as_columns, cell_matrices, check_level
from alignbook.analysis.protocol import t_interval, t_test
from alignbook.checks import check_positive_int, fail

METHODS = ("spearman", "pearson")


def pearson_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson correlation of each pair of rows (last axis); NaN where a row is constant."""
    xc = x - x.mean(axis=-1, keepdims=True)
    yc = y - y.mean(axis=-1, keepdims=True)
    denominator = np.sqrt((xc**2).sum(axis=-1) * (yc**2).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (xc * yc).sum(axis=-1) / denominator, np.nan)


def _transform(method: str):
    from scipy import stats

    if method not in METHODS:
        fail("method", f"must be one of {METHODS}, got {method!r}")
    return (lambda v: stats.rankdata(v, axis=-1)) if method == "spearman" else (lambda v: v)


def _check_pairs(x, y, minimum: int = 3) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if len(x) != len(y):
        fail("x/y", f"must have the same length, got {len(x)} and {len(y)}")
    if len(x) < minimum:
        fail("x", f"needs at least {minimum} pairs, got {len(x)}")
    for name, values in (("x", x), ("y", y)):
        if not np.all(np.isfinite(values)):
            fail(name, "contains non-finite values (NaN or inf)")
    return x, y


def correlation_ci(x, y, method: str = "spearman", n_bootstrap: int = 2000, seed: int = 0,
                   ci: float = 0.95) -> tuple[float, float, float]:
    """Correlation of independent pairs and its percentile-bootstrap interval: `(r, low, high)`.

    Pairs are resampled with replacement (`numpy.random.default_rng(seed)`); resamples in which one variable
    is constant are dropped. Only for pairs that are independent draws: for statistics of cells measured
    over seeds use `seed_correlation`, whose interval describes the seeds' noise.
    """
    transform = _transform(method)
    level = check_level("ci", ci)
    n_bootstrap = check_positive_int("n_bootstrap", n_bootstrap)
    x, y = _check_pairs(x, y)
    r = float(pearson_rows(transform(x), transform(y)))
    picks = np.random.default_rng(seed).integers(0, len(x), size=(n_bootstrap, len(x)))
    boot = pearson_rows(transform(x[picks]), transform(y[picks]))
    boot = boot[np.isfinite(boot)]
    if len(boot) == 0:
        return r, math.nan, math.nan
    low, high = np.quantile(boot, [0.5 - level / 2, 0.5 + level / 2])
    return r, float(low), float(high)


def permutation_pvalues(x, y, method: str = "spearman", n_permutations: int = 5000,
                        seed: int = 0) -> tuple[float, float]:
    """One-sided permutation p-values of a positive and of a negative correlation between the paired values
    `x` and `y`: the values of `x` are permuted among the pairs (every permutation when there are at most
    `n_permutations`, an exact test; else that many random ones from `numpy.random.default_rng(seed)`, the
    identity counted). Valid whenever the pairs are exchangeable under "no association"."""
    transform = _transform(method)
    x, y = _check_pairs(x, y)
    tx, ty = transform(x), transform(y)
    observed = float(pearson_rows(tx, ty))
    if not np.isfinite(observed):
        return math.nan, math.nan
    if math.factorial(len(x)) <= n_permutations:
        orders = np.array(list(itertools.permutations(range(len(x)))))
    else:
        rng = np.random.default_rng(seed)
        orders = np.vstack([np.arange(len(x)), rng.permuted(np.tile(np.arange(len(x)), (n_permutations, 1)),
                                                             axis=1)])
    null = pearson_rows(tx[orders], ty[None, :])
    return float(np.mean(null >= observed - 1e-12)), float(np.mean(null <= observed + 1e-12))


def seed_correlation(seed_table, cells, x: str, y: str, seed_column: str = "seed", method: str = "spearman",
                     n_bootstrap: int = 2000, n_permutations: int = 5000, seed: int = 0,
                     ci: float = 0.95) -> dict:
    """Correlation across cells of the seed means of columns `x` and `y`, its interval and its tests.

    `seed_table` has one row per cell (the `cells` columns) and seed (`seed_column`); a column that does not
    vary with the seed (a property of the cell) is simply its own mean. Returns a dict: `r` (the correlation
    of the cells' means, `method` "spearman" or "pearson"), `low`, `high`, `p_positive`, `p_negative` and
    `n_cells` (at least 3 are needed).

    - The tests permute the cells' `x` means among the cells (`permutation_pvalues`): exact under "the cell
      means of `y` are unrelated to `x`", whatever the seed noise. `x` and `y` must not share a seed's noise
      (e.g. a gain and a gap both measured from the same runs at `lam = 0`): correlated noise within a cell
      makes its two means correlate without any relation between the cells' true values.
    - The interval draws `n_bootstrap` resamples of `n - 1` of the `n` seed values with replacement
      (`numpy.random.default_rng(seed)`), the same draw for every cell, recomputes every cell's means and the
      correlation, and takes percentiles at level `ci`. It describes how much the correlation of seed means
      moves with the seeds; it is not a calibrated interval of the correlation of the cells' true values.
      Simulated (cells' true gains spread over about 0.02, 5 seeds), it held that correlation in 0.75 to
      0.90 of cases with 8 to 12 cells and seed noise of 0.002 to 0.004, and in 0.36 to 0.68 when the
      noise was as large as the spread (20 to 40 cells): the noise pulls the correlation of the means
      towards 0, and a rank correlation of few cells moves in steps. So it must not be printed as a 95 %
      interval; a verdict reads the permutation tests.
    """
    transform = _transform(method)
    level = check_level("ci", ci)
    n_bootstrap = check_positive_int("n_bootstrap", n_bootstrap)
    n_permutations = check_positive_int("n_permutations", n_permutations)
    cells = as_columns("cells", cells)
    if not isinstance(seed_table, pd.DataFrame):
        fail("seed_table", f"must be a pandas DataFrame, got {type(seed_table).__name__}")
    missing = [c for c in [*cells, seed_column, x, y] if c not in seed_table.columns]
    if missing:
        fail("seed_table", f"missing column(s) {missing}")
    matrices = [seed_table.pivot_table(index=cells, columns=seed_column, values=v, aggfunc="mean",
                                       dropna=False) for v in (x, y)]
    X, Y = (m.to_numpy(dtype=float) for m in matrices)  # cells x seeds, NaN where a cell lacks a seed
    present = np.isfinite(X) & np.isfinite(Y)
    if len(X) < 3:
        fail("seed_table", f"needs at least 3 cells to correlate, got {len(X)}")
    if not present.any(axis=1).all():
        fail("seed_table", f"every cell needs a seed with finite {x} and {y}")

    def means(weights):  # weights: resamples x seeds (counts of each seed value drawn)
        w = weights[..., None, :] * present
        with np.errstate(invalid="ignore", divide="ignore"):
            return ((w * np.where(present, X, 0)).sum(-1) / w.sum(-1),
                    (w * np.where(present, Y, 0)).sum(-1) / w.sum(-1))

    mx, my = means(np.ones(X.shape[1]))
    r = float(pearson_rows(transform(mx), transform(my)))
    p_positive, p_negative = permutation_pvalues(mx, my, method, n_permutations, seed)
    n_seeds = X.shape[1]
    # n - 1 draws: the variance of a mean of n - 1 draws from n values is the sample variance over n, that of
    # the seed mean itself (n draws would shrink it by (n - 1) / n, too narrow at 3 to 5 seeds)
    weights = np.random.default_rng(seed).multinomial(max(n_seeds - 1, 1), np.full(n_seeds, 1 / n_seeds),
                                                      size=n_bootstrap)
    bx, by = means(weights.astype(float))
    usable = np.isfinite(bx).all(axis=1) & np.isfinite(by).all(axis=1)  # every cell drew one of its seeds
    boot = pearson_rows(transform(bx[usable]), transform(by[usable]))
    boot = boot[np.isfinite(boot)]
    low, high = (np.quantile(boot, [0.5 - level / 2, 0.5 + level / 2]) if len(boot) else (math.nan, math.nan))
    return {"r": r, "low": float(low), "high": float(high), "p_positive": p_positive,
            "p_negative": p_negative, "n_cells": len(X)}


def seed_spearman(lams: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Spearman correlation of `lams` with each row of `values` (one row per seed); NaN for a constant row."""
    from scipy import stats

    return pearson_rows(stats.rankdata(lams)[None, :], stats.rankdata(values, axis=-1))


def alignment_trend(table, by=("dataset",), metric: str = "align_mutual_knn", alpha: float = 0.05,
                    ci: float = 0.95) -> pd.DataFrame:
    """Does alignment rise (or fall) with `lam`? Page's L test per group with seeds as blocks, both ways.

    Alignment is a property of the pair of encoders, so it appears on both encoder rows of a run; one value
    per (group, lam, seed) is kept (the rows must agree, else a ValueError). Page's test needs every `lam`
    of a seed: seeds with a missing run are left out, and a group needs 2 complete seeds and 3 values of
    `lam` (else its p-values are NaN). Columns: `metric`, `rho` (mean over seeds of each seed's Spearman
    correlation between `lam` and the metric), `ci_low`, `ci_high` (its t interval over seeds at `ci`),
    `p_rise`, `p_fall` (Page's L, one-sided, increasing and decreasing order of `lam`), `rho_means`
    (Spearman of the seed-mean curve: 1.0 iff the mean rises at every step of the grid), `rises`, `falls`
    (`p_rise`, `p_fall` below `alpha`, per cell: claims correct across cells), `n_seeds`, `n_lams`.
    """
    from scipy import stats

    alpha = check_level("alpha", alpha)
    level = check_level("ci", ci)
    cells, n_failed = cell_matrices(table, as_columns("by", by), metric, select=None, per_encoder=False)
    rows = []
    for cell in cells:
        values = cell.test[np.isfinite(cell.test).all(axis=1)]
        n_seeds, n_lams = values.shape
        p_rise = p_fall = math.nan
        if n_seeds >= 2 and n_lams >= 3:
            p_rise = float(stats.page_trend_test(values).pvalue)
            p_fall = float(stats.page_trend_test(values[:, ::-1]).pvalue)
        rho_seeds = seed_spearman(cell.lams, values)
        rho, sd, n, _ = t_test(rho_seeds)
        low, high = np.clip(t_interval(rho, sd, n, level), -1.0, 1.0)  # a correlation lies in [-1, 1]
        means = np.nanmean(cell.test, axis=0)
        rho_means = float(seed_spearman(cell.lams, means[None, :])[0])
        rows.append({**cell.key, "metric": metric, "rho": float(rho), "ci_low": float(low),
                     "ci_high": float(high), "p_rise": p_rise, "p_fall": p_fall, "rho_means": rho_means,
                     "rises": bool(p_rise < alpha), "falls": bool(p_fall < alpha), "n_seeds": n_seeds,
                     "n_lams": n_lams})
    out = pd.DataFrame(rows)
    out.attrs.update(n_failed=n_failed, alpha=alpha, ci=level)
    return out
