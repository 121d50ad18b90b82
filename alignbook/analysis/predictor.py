"""Predicting `lam*` from the information decomposition: a least-squares line, judged by leave-one-out."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from alignbook.analysis.curves import as_columns, check_unique, clean_table
from alignbook.checks import fail

PID_PARTS = ("R", "U1", "U2", "S")


@dataclass
class LamPredictor:
    """Least-squares line `lam* = intercept + slope * x`, `x` a redundancy fraction of the PID.

    `feature="shared"`: `x = R / I12` (the same for both encoders of a pair); `feature="own"`:
    `x = R / (R + U_k)`, the share of encoder k's own information that the other modality also carries.
    Predictions are clipped to `[lam_min, lam_max]`, the range of `lam*` seen in the fit: a line says
    nothing beyond its data. `points` holds the fitted points with their leave-one-out predictions;
    `loo_mae`, `loo_rmse` summarise the leave-one-out errors (refit without each point, predict it).
    """

    intercept: float
    slope: float
    feature: str
    lam_min: float
    lam_max: float
    points: pd.DataFrame
    loo_mae: float
    loo_rmse: float

    def predict(self, pid, encoder: int = 1) -> float:
        """Predicted `lam*` for one PID (a mapping with R, U1, U2, S and optionally I12) and encoder."""
        x = _pid_feature(pd.Series(dict(pid)), self.feature, encoder, "pid")
        return float(np.clip(self.intercept + self.slope * x, self.lam_min, self.lam_max))


def _pid_feature(row: pd.Series, feature: str, encoder: int, param: str) -> float:
    missing = [p for p in PID_PARTS if p not in row.index]
    if missing:
        fail(param, f"missing PID part(s) {', '.join(missing)}")
    if feature == "shared":
        total = float(row["I12"]) if "I12" in row.index else float(sum(row[p] for p in PID_PARTS))
        own = total
    else:
        own = float(row["R"] + row[f"U{int(encoder)}"])
    if not math.isfinite(own) or own <= 0:
        fail(param, f"information to normalise by must be > 0, got {own!r}")
    return float(row["R"]) / own


def _fit_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    if np.ptp(x) == 0:  # one distinct feature value: the best line is the mean
        return float(y.mean()), 0.0
    slope, intercept = np.polyfit(x, y, 1)
    return float(intercept), float(slope)


def predict_lam_from_pid(pid_table, lam_table, on="redundancy", feature: str = "shared") -> LamPredictor:
    """Fit `lam*` (from `optimal_lam`) against a redundancy fraction of the PID, by least squares.

    `pid_table` has the key column(s) `on` and R, U1, U2, S (optionally I12, else their sum), one row per
    level; `lam_table` the same key column(s), `encoder` and `lam_star`. Every (level, encoder) is one
    point. The model is deliberately the simplest that can express "more redundancy, stronger alignment":
    a straight line, judged by leave-one-out error, not by its fit to the points it was fitted on.
    """
    if feature not in ("shared", "own"):
        fail("feature", f"must be 'shared' (R / I12) or 'own' (R / (R + U_k)), got {feature!r}")
    on = as_columns("on", on)
    pid, _ = clean_table(pid_table, on, [], list(PID_PARTS))
    lam, _ = clean_table(lam_table, on, ["encoder"], ["lam_star"])
    check_unique(pid, on)
    merged = lam.merge(pid[[*on, *PID_PARTS, *(["I12"] if "I12" in pid.columns else [])]], on=on, how="inner")
    if len(merged) < 3:
        fail("lam_table", f"needs at least 3 (level, encoder) points matching pid_table on {on}, "
             f"got {len(merged)}")
    x = np.array([_pid_feature(row, feature, row["encoder"], "pid_table") for _, row in merged.iterrows()])
    y = merged["lam_star"].to_numpy(dtype=float)
    intercept, slope = _fit_line(x, y)
    lam_min, lam_max = float(y.min()), float(y.max())
    loo = np.empty_like(y)
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        a, b = _fit_line(x[keep], y[keep])
        loo[i] = np.clip(a + b * x[i], y[keep].min(), y[keep].max())
    points = merged[[*on, "encoder"]].assign(x=x, lam_star=y, loo_prediction=loo, loo_error=loo - y)
    return LamPredictor(intercept=intercept, slope=slope, feature=feature, lam_min=lam_min, lam_max=lam_max,
                        points=points.reset_index(drop=True), loo_mae=float(np.abs(loo - y).mean()),
                        loo_rmse=float(np.sqrt(((loo - y) ** 2).mean())))
