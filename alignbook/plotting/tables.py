"""Reading the tables figures are drawn from: checks that name the argument at fault, the levels that
make panels, per-level values and error bars."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from alignbook.checks import fail


def check_frame(param: str, frame, columns: Sequence[str]) -> pd.DataFrame:
    """`frame`, checked to be a non-empty DataFrame with `columns` (errors name `param`)."""
    if not isinstance(frame, pd.DataFrame):
        fail(param, f"must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        fail(param, f"missing column(s) {', '.join(map(repr, missing))}")
    if frame.empty:
        fail(param, "is empty")
    return frame


def levels(frame: pd.DataFrame, by: str | None, param: str) -> list:
    """The sorted levels of column `by` of `frame` (named `param` in errors): one panel each; [None]
    without `by`."""
    if by is None:
        return [None]
    if by not in frame.columns:
        fail("by", f"is not a column of {param}: {by!r}")
    return sorted(frame[by].dropna().unique())


def at_level(frame: pd.DataFrame, by: str | None, level) -> pd.DataFrame:
    """The rows of `frame` at `level` of column `by` (all rows without `by`)."""
    return frame if by is None else frame[frame[by] == level]


def per_level(value, level, encoder=None):
    """Look up an optional per-level (and per-encoder) value: a number, or mappings of level / encoder."""
    if value is None:
        return None
    if isinstance(value, Mapping) and level in value:
        value = value[level]
    if isinstance(value, Mapping):
        if encoder is None:
            return None
        value = value.get(encoder)
    return None if value is None else float(value)


def yerr(part: pd.DataFrame) -> np.ndarray | None:
    """Asymmetric error bars from `ci_low`/`ci_high`; NaN intervals (single seed) draw no bar."""
    if "ci_low" not in part.columns or "ci_high" not in part.columns:
        return None
    mean = part["mean"].to_numpy(dtype=float)
    low = np.nan_to_num(mean - part["ci_low"].to_numpy(dtype=float), nan=0.0)
    high = np.nan_to_num(part["ci_high"].to_numpy(dtype=float) - mean, nan=0.0)
    return np.vstack([low, high])


def select_metric(summary: pd.DataFrame, metric: str, param: str) -> pd.DataFrame:
    """The rows of one `metric` of a summary that holds several (a `metric` column), else all of it."""
    if "metric" in summary.columns:
        chosen = summary[summary["metric"] == metric]
        if chosen.empty:
            fail("metric", f"{metric!r} is not in {param}; it holds {sorted(summary['metric'].unique())}")
        return chosen
    return summary


def check_one_curve(frame: pd.DataFrame, keys: list[str], param: str) -> None:
    """Check that `frame` has one row per `keys`: one point per curve and `lam`, one cell per map."""
    duplicated = frame.duplicated(subset=keys)
    if duplicated.any():
        fail(param, f"has several rows per ({', '.join(keys)}): pick one group (filter the table) or "
                    "pass the column that separates them as `by`")
