"""Intervals of estimated information that hold their level: calibrated on cases whose exact value is known.

Why. A learned estimate's own interval (`learned`: a Student-t interval over the folds) measures how much
the estimate moves when the classifiers are refitted, not the error every fold shares: information the
classifiers fail to learn lowers the estimate in every fold alike. On the synthetic data, whose exact
decomposition is known, such intervals held the exact value in a quarter of the cases instead of 95 %.

How. The error of an estimator (estimate minus exact value) is measured on reference cases: data drawn
like the data being estimated (the same generator, sample size and depth), but other draws. From `K` such
errors with mean `m` and standard deviation `s`, the exact value of a new estimate `x` lies in

    [x - m - h, x - m + h],    h = t(K - 1, (1 + ci) / 2) * s * sqrt(1 + 1 / K),

the normal prediction interval of a new error (`error_bounds`): the estimate is moved by the estimator's
mean error and widened by the spread of its errors, the uncertainty of `m` and `s` from `K` cases
included. It assumes that the new error is drawn like the reference errors; for a fresh draw of the same
generator at the same size that holds by construction, for other data it is an assumption, and whoever
quotes such an interval says so.

Its coverage is measured, never assumed: `calibrated_intervals` gives every case of a table an interval
calibrated on the errors of the other draws only (the case's own draw left out) and says whether it holds
the exact value. Errors pooled over levels whose bias differs are not normal, so the interval is an
approximation; the measured coverage says whether it is good enough.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from alignbook.checks import fail

MIN_REFERENCES = 3  # errors needed for a mean, a spread and a t quantile with 2 degrees of freedom


def check_ci(ci) -> float:
    """`ci` as a float strictly between 0 and 1."""
    if isinstance(ci, bool) or not isinstance(ci, (int, float)) or not 0 < ci < 1:
        fail("ci", f"must be a number strictly between 0 and 1, got {ci!r}")
    return float(ci)


def error_bounds(errors, ci: float = 0.95) -> tuple[float, float]:
    """`(low, high)` bounds of a new error at level `ci` from reference `errors` (module docstring): the exact
    value of an estimate `x` then lies in `[x - high, x - low]`. NaN with fewer than `MIN_REFERENCES`
    finite errors; `(m, m)` when every error is `m`."""
    from scipy import stats

    level = check_ci(ci)
    e = np.asarray(errors, dtype=float).ravel()
    e = e[np.isfinite(e)]
    if len(e) < MIN_REFERENCES:
        return math.nan, math.nan
    half = stats.t.ppf(0.5 + level / 2, len(e) - 1) * e.std(ddof=1) * math.sqrt(1 + 1 / len(e))
    return float(e.mean() - half), float(e.mean() + half)


def calibrated_interval(estimate: float, errors, ci: float = 0.95) -> tuple[float, float]:
    """The interval of the exact value behind `estimate`, from the reference `errors` (`error_bounds`)."""
    low, high = error_bounds(errors, ci)
    return float(estimate - high), float(estimate - low)


def calibrated_intervals(table: pd.DataFrame, by: Sequence[str], group: str,
                         ci: float = 0.95) -> pd.DataFrame:
    """Every row of `table` with the interval of its exact value calibrated on the other groups' errors.

    `table` has one row per case: columns `estimate`, `exact`, `by` (what makes errors comparable, e.g.
    estimator, sample size, depth and quantity) and `group` (the data draw, e.g. `data_seed`). A row's
    interval (`error_bounds` at level `ci`) uses the errors `estimate - exact` of the rows with the same
    `by` values and another `group`: never its own draw. Adds `cal_low`, `cal_high` (NaN where fewer than
    `MIN_REFERENCES` such errors exist), `cal_covered` (whether the interval holds `exact`; False where it is
    NaN) and `references` (the errors it was calibrated on).
    """
    by = [by] if isinstance(by, str) else list(by)
    missing = [c for c in [*by, group, "estimate", "exact"] if c not in table.columns]
    if missing:
        fail("table", f"has no column(s) {missing}",
             "give one row per case with its estimate and exact value")
    level = check_ci(ci)
    out = table.reset_index(drop=True).copy()
    errors = (out["estimate"] - out["exact"]).to_numpy(dtype=float)
    low, high, references = (np.full(len(out), np.nan) for _ in range(3))
    for _, part in out.groupby(by, sort=False):
        rows = part.index.to_numpy()
        draws = out.loc[rows, group].to_numpy()
        for draw in pd.unique(draws):
            own, others = rows[draws == draw], rows[draws != draw]
            bounds = error_bounds(errors[others], level)
            low[own], high[own] = bounds
            references[own] = np.isfinite(errors[others]).sum()
    estimate = out["estimate"].to_numpy(dtype=float)
    out["cal_low"], out["cal_high"] = estimate - high, estimate - low
    exact = out["exact"].to_numpy(dtype=float)
    out["cal_covered"] = (out["cal_low"] <= exact) & (exact <= out["cal_high"])
    out["references"] = references
    return out

