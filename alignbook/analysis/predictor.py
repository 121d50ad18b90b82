"""Predicting `lam*` from the information decomposition: a least-squares line (`predict_lam_from_pid`), or a
plane in the redundancy and further features such as the labelled-set size (`fit_lam_star`), each judged
by leave-one-out error (`loo_improvement` compares two)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from alignbook.analysis.curves import as_columns, check_unique, clean_table
from alignbook.checks import check_positive_int, fail

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


@dataclass
class LamRegression:
    """Least-squares plane `lam* = intercept + sum_j coefficients[j] * table[j]` over named feature columns.

    Predictions are clipped to `[lam_min, lam_max]`, the range of `lam*` seen in the fit, as
    `LamPredictor` clips them. `points` holds the fitted rows with their leave-one-out predictions and
    errors (`loo_prediction`, `loo_error`: refit without the row, predict it, clip to the others' range);
    `loo_mae`, `loo_rmse` summarise them.
    """

    features: tuple[str, ...]
    target: str
    intercept: float
    coefficients: dict[str, float]
    lam_min: float
    lam_max: float
    points: pd.DataFrame
    loo_mae: float
    loo_rmse: float

    def predict(self, values) -> float:
        """Predicted `lam*` for a mapping holding every feature column."""
        values = dict(values)
        missing = [f for f in self.features if f not in values]
        if missing:
            fail("values", f"missing feature(s) {', '.join(missing)}")
        lam = self.intercept + sum(self.coefficients[f] * float(values[f]) for f in self.features)
        return float(np.clip(lam, self.lam_min, self.lam_max))


def _fit_plane(x: np.ndarray, y: np.ndarray):
    from sklearn.linear_model import LinearRegression

    # LinearRegression centres the features: a constant one gets coefficient 0 (minimum-norm least
    # squares), so a fold where a feature does not vary falls back to the others, as `_fit_line` does
    return LinearRegression().fit(x, y)


def fit_lam_star(table, features, target: str = "lam_star") -> LamRegression:
    """Fit `lam*` (column `target`) against one or more feature columns of `table` by least squares, and
    judge the fit by leave-one-out error.

    One row of `table` is one point (e.g. one point of the regime map and one encoder). With the single
    feature `redundancy_fraction` this is `predict_lam_from_pid`'s line; a second column, such as the
    logarithm of the labelled-set size or the Bayes gap at `lam = 0`, asks whether it predicts `lam*`
    beyond the redundancy. Rows with a missing value are an error, not silently dropped.
    """
    features = as_columns("features", features)
    if not isinstance(table, pd.DataFrame):
        fail("table", f"must be a pandas DataFrame, got {type(table).__name__}")
    missing = [c for c in [*features, target] if c not in table.columns]
    if missing:
        fail("table", f"has no column(s) {missing}")
    values = table[[*features, target]].apply(pd.to_numeric, errors="coerce")
    if not np.all(np.isfinite(values.to_numpy(dtype=float))):
        fail("table", f"columns {[*features, target]} must be finite numbers in every row")
    n_points = len(values)
    if n_points < len(features) + 2:
        fail("table", f"needs at least {len(features) + 2} points to fit {len(features)} feature(s) "
                      f"and leave one out, got {n_points}")
    x = values[features].to_numpy(dtype=float)
    y = values[target].to_numpy(dtype=float)
    model = _fit_plane(x, y)
    loo = np.empty_like(y)
    for i in range(n_points):
        keep = np.arange(n_points) != i
        fold = _fit_plane(x[keep], y[keep])
        loo[i] = np.clip(fold.predict(x[i:i + 1])[0], y[keep].min(), y[keep].max())
    points = table.reset_index(drop=True).assign(loo_prediction=loo, loo_error=loo - y)
    return LamRegression(features=tuple(features), target=target, intercept=float(model.intercept_),
                         coefficients={f: float(c) for f, c in zip(features, model.coef_, strict=True)},
                         lam_min=float(y.min()), lam_max=float(y.max()), points=points,
                         loo_mae=float(np.abs(loo - y).mean()),
                         loo_rmse=float(np.sqrt(((loo - y) ** 2).mean())))


def loo_improvement(base: LamRegression, other: LamRegression, n_bootstrap: int = 2000, seed: int = 0,
                    ci: float = 0.95) -> tuple[float, float, float]:
    """How much `other` lowers the leave-one-out absolute error of `base` on the same points: the mean of
    `|base error| - |other error|` (`base.loo_mae - other.loo_mae`, > 0 when `other` predicts better) and
    its percentile-bootstrap interval over points (paired, `numpy.random.default_rng(seed)`).

    Leave-one-out errors of one table are not independent (each fit shares all but two points with
    another), so the interval is a guide, not an exact test.
    """
    if len(base.points) != len(other.points):
        fail("other", f"must be fitted on the same points as base: {len(other.points)} vs {len(base.points)}")
    if not np.allclose(base.points[base.target], other.points[other.target]):
        fail("other", "must be fitted on the same lam* values as base, in the same order")
    n_bootstrap = check_positive_int("n_bootstrap", n_bootstrap)
    if not 0 < ci < 1:
        fail("ci", f"must be in (0, 1), got {ci!r}")
    diff = base.points["loo_error"].abs().to_numpy() - other.points["loo_error"].abs().to_numpy()
    picks = np.random.default_rng(seed).integers(0, len(diff), size=(n_bootstrap, len(diff)))
    low, high = np.quantile(diff[picks].mean(axis=1), [0.5 - ci / 2, 0.5 + ci / 2])
    return float(diff.mean()), float(low), float(high)
