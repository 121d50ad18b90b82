"""Predicting `lam*` from the information decomposition: a least-squares line (`predict_lam_from_pid`), or a
plane in the redundancy and further features such as the labelled-set size (`fit_lam_star`), each judged
by leave-one-out error (`loo_improvement` compares two).

Whether a predictor is worth having is judged on levels it has not seen: `level_cv` leaves out one level
(e.g. one redundancy) at a time and predicts its points from the others, beside two baselines that ignore
the decomposition, the other levels' median `lam*` and their most frequent grid value.
`predictor_comparison` compares them and gives an exact permutation p-value (features of whole levels
permuted among levels); `predictor_verdict` turns both into a verdict. `level_correlation` tests the rank
correlation of `lam*` with a level's feature the same way.
"""

from __future__ import annotations

import itertools
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


@dataclass(frozen=True)
class Plane:
    """A fitted least-squares plane: `intercept + x @ coef_`."""

    intercept_: float
    coef_: np.ndarray

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.intercept_ + np.asarray(x, dtype=float) @ self.coef_


def fit_plane(x: np.ndarray, y: np.ndarray) -> Plane:
    """Least squares with an intercept, as `sklearn.linear_model.LinearRegression` fits it (a test checks
    that both agree), written with numpy because the permutation tests refit it thousands of times.

    The features are centred and the minimum-norm solution taken: a feature that does not vary in a fold
    gets coefficient 0, so the fold falls back to the others (as `_fit_line` does).
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    centre = x.mean(axis=0)
    coef = np.linalg.lstsq(x - centre, y - y.mean(), rcond=None)[0]
    return Plane(float(y.mean() - centre @ coef), coef)


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
    model = fit_plane(x, y)
    loo = np.empty_like(y)
    for i in range(n_points):
        keep = np.arange(n_points) != i
        fold = fit_plane(x[keep], y[keep])
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


# --------------------------------------------------------------------------------------------------------
# leave-one-level-out cross-validation, baselines and a permutation test


def modal_value(values) -> float:
    """The most frequent value (a grid value of `lam*`), ties to the smallest."""
    uniques, counts = np.unique(np.asarray(values, dtype=float), return_counts=True)
    return float(uniques[np.argmax(counts)])


def _check_points(points, features: list[str], level: str, target: str) -> pd.DataFrame:
    if not isinstance(points, pd.DataFrame):
        fail("points", f"must be a pandas DataFrame, got {type(points).__name__}")
    missing = [c for c in [*features, level, target] if c not in points.columns]
    if missing:
        fail("points", f"has no column(s) {missing}")
    values = points[[*features, target]].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    if not np.all(np.isfinite(values)):
        fail("points", f"columns {[*features, target]} must be finite numbers in every row")
    if points[level].nunique() < 3:
        fail("points", f"needs at least 3 values of {level!r} to leave one out and fit on the others, got "
                       f"{points[level].nunique()}")
    return points.reset_index(drop=True)


def _level_cv_predictions(x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Each point predicted by the plane fitted on the other levels' points, clipped to their range of the
    target."""
    predictions = np.empty_like(y)
    for value in pd.unique(groups):
        out = groups == value
        fold = fit_plane(x[~out], y[~out])
        predictions[out] = np.clip(fold.predict(x[out]), y[~out].min(), y[~out].max())
    return predictions


def level_cv(points, features, level: str = "redundancy", target: str = "lam_star") -> pd.DataFrame:
    """Leave-one-level-out predictions of `target`: every point of one value of `level` is predicted from
    the points of the other values only (a least-squares plane in `features`, clipped to their range of the
    target), as are two baselines that ignore the features: the other levels' median `target` and their
    modal value (most frequent grid value, ties to the smallest). Returns `points` with columns
    `pred_model`, `pred_median`, `pred_mode`.

    Leaving a whole level out keeps the points of one level (encoders, depths, sizes of one redundancy)
    from predicting each other: a new level is what a predictor of `lam*` must be good for.
    """
    features = as_columns("features", features)
    points = _check_points(points, features, level, target)
    x = points[features].to_numpy(dtype=float)
    y = points[target].to_numpy(dtype=float)
    groups = points[level].to_numpy()
    predictions = {"pred_model": _level_cv_predictions(x, y, groups),
                   "pred_median": np.empty_like(y), "pred_mode": np.empty_like(y)}
    for value in pd.unique(groups):
        out = groups == value
        predictions["pred_median"][out] = float(np.median(y[~out]))
        predictions["pred_mode"][out] = modal_value(y[~out])
    return points.assign(**predictions)


def _level_permutations(n_levels: int, n_permutations: int, rng: np.random.Generator):
    """Every permutation of the levels when there are at most `n_permutations` (an exact test, the identity
    included), else the identity and `n_permutations` random ones."""
    if math.factorial(n_levels) <= n_permutations:
        return list(itertools.permutations(range(n_levels)))
    return [tuple(range(n_levels))] + [tuple(rng.permutation(n_levels)) for _ in range(n_permutations)]


def _permuted_features(points: pd.DataFrame, features: list[str], level: str):
    """(level values, their feature rows, each point's level index); every feature must be constant within a
    level, since the test moves a level's features to another level."""
    varying = [f for f in features if (points.groupby(level)[f].nunique() > 1).any()]
    if varying:
        fail("features", f"{varying} vary within a value of {level!r}; the permutation test moves whole "
                         "levels, so it takes features of the level only",
             "compare other features with loo_improvement")
    table = points.groupby(level, sort=True)[features].first()
    index = table.index.get_indexer(points[level])
    return table.to_numpy(dtype=float), index


def predictor_comparison(points, features, level: str = "redundancy", target: str = "lam_star",
                         n_permutations: int = 5000, seed: int = 0) -> tuple[pd.DataFrame, float]:
    """Does a line (or plane) in `features` predict `target` (`lam*`) on levels it has not seen, better than
    knowing nothing of the features?

    Returns the comparison table (index `predictor`: the model, "median", "mode"; columns `mae` and `rmse`
    of the leave-one-level-out predictions of `level_cv`, and `excess_mae`, each one's MAE minus the
    model's) and the permutation p-value of the model's MAE: the features of whole levels are permuted
    among the levels (all permutations when there are at most `n_permutations`, else that many random ones
    from `numpy.random.default_rng(seed)`), the cross-validation rerun, and p is the share of permutations
    whose MAE is at most the observed one (the identity included). Under "the features carry no
    information on `target`" every assignment of features to levels is equally likely, so p is exact.
    The verdict of a prediction claim: the model predicts when p < alpha and its MAE is below both
    baselines' (`predictor_verdict`).
    """
    features = as_columns("features", features)
    n_permutations = check_positive_int("n_permutations", n_permutations)
    cv = level_cv(points, features, level, target)
    y = cv[target].to_numpy(dtype=float)
    rows = {}
    names = {" + ".join(features): "pred_model", "median": "pred_median", "mode": "pred_mode"}
    for name, column in names.items():
        error = cv[column].to_numpy(dtype=float) - y
        rows[name] = {"mae": float(np.abs(error).mean()), "rmse": float(np.sqrt((error**2).mean()))}
    table = pd.DataFrame(rows).T.rename_axis("predictor")
    table["excess_mae"] = table["mae"] - table["mae"].iloc[0]
    level_features, index = _permuted_features(cv, features, level)
    groups = cv[level].to_numpy()
    observed = table["mae"].iloc[0]
    orders = _level_permutations(len(level_features), n_permutations, np.random.default_rng(seed))
    maes = [np.abs(_level_cv_predictions(level_features[np.asarray(order)[index]], y, groups) - y).mean()
            for order in orders]
    p = float(np.mean(np.asarray(maes) <= observed + 1e-12))
    return table, p


def predictor_verdict(table: pd.DataFrame, p_value: float, alpha: float) -> str:
    """"confirmed" when the model's leave-one-level-out MAE (first row of `predictor_comparison`'s table) is
    below both baselines' and its permutation p-value is below `alpha`; "contradicted" when a baseline
    predicts at least as well and the permutation test finds nothing; otherwise "not confirmed"."""
    better = bool((table["excess_mae"].iloc[1:] > 0).all())
    if better and p_value < alpha:
        return "confirmed"
    return "contradicted" if not better and p_value >= alpha else "not confirmed"


def level_correlation(points, feature: str, level: str = "redundancy", target: str = "lam_star",
                      n_permutations: int = 5000, seed: int = 0) -> tuple[float, float, float]:
    """Spearman correlation of `target` with a level's `feature` over the points, and its one-sided
    permutation p-values for a positive and for a negative correlation: `(rho, p_positive, p_negative)`.
    The feature values are permuted among whole levels, as in `predictor_comparison`."""
    from scipy import stats

    n_permutations = check_positive_int("n_permutations", n_permutations)
    points = _check_points(points, [feature], level, target)
    level_features, index = _permuted_features(points, [feature], level)
    y = points[target].to_numpy(dtype=float)

    def rho(x):
        return float(stats.spearmanr(x, y).statistic) if np.ptp(x) > 0 and np.ptp(y) > 0 else 0.0

    observed = rho(level_features[index, 0])
    null = np.array([rho(level_features[np.asarray(order)[index], 0])
                     for order in _level_permutations(len(level_features), n_permutations,
                                                      np.random.default_rng(seed))])
    return observed, float(np.mean(null >= observed - 1e-12)), float(np.mean(null <= observed + 1e-12))
