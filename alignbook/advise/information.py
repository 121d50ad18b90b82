"""What the user's pair carries about the label, and the `lam*` the book's predictor expects from it.

`decomposition` estimates the partial information decomposition of the pair with the package's default
estimator (`info.estimate_pid`: cross-fitted classifiers, then quantised posteriors) on every example, its
numbers of codes sized to the data. Its interval is the Student-t spread over the estimator's folds: it shows
how much the estimate moves when the classifiers are refitted, not how far it may be from the truth. The
package calibrates intervals only on data whose exact decomposition is known (`info.intervals`), which a
user's data are not; the report therefore calls it "not a calibrated interval".

`book_predictor` fits the book's line `lam* = a + b R / I12` (`analysis.predict_lam_from_pid`) on the
synthetic study's results table, when a book build left it in the results folder; an installed package
without the book has no such table and then states the prediction as unavailable. `predicted_lam` applies
the line to the user's decomposition, with the spread over the estimator's folds and the line's own
leave-one-out error, the uncertainty it has on the book's synthetic levels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from alignbook import paths
from alignbook.analysis import LamPredictor, optimal_lam, predict_lam_from_pid
from alignbook.data.user import UserPairs

PARTS = {"R": "redundancy", "U1": "unique1", "U2": "unique2", "S": "synergy", "I1": "mi_x1_y",
         "I2": "mi_x2_y", "I12": "mi_x1x2_y"}
N_FOLDS = 5
MIN_ROWS_PER_CODE = 5  # the estimator's own rule (`info.learned`): rows per code in a held-out fold
BOOK_TABLE = "synthetic_sweep"  # the synthetic chapter's results table (`<results folder>/<name>.csv`)
LEVEL_COLUMNS = ("redundancy", "depth", "n_train", "n_samples")  # what may tell the table's cells apart


@dataclass(frozen=True)
class Decomposition:
    """The estimated decomposition (nats): `point` and the spread over folds (`low`, `high`: a Student-t
    interval over the folds, not a calibrated interval) of R, U1, U2, S, I1, I2, I12; `folds` one row per
    fold (columns as `PARTS`); `settings` how it was estimated."""

    point: dict
    low: dict
    high: dict
    folds: pd.DataFrame
    settings: dict

    def table(self) -> pd.DataFrame:
        """One row per quantity: estimate, low, high."""
        return pd.DataFrame({"estimate": self.point, "low": self.low, "high": self.high})

    @property
    def shared_fraction(self) -> float:
        """R / I12: the share of the pair's task information that either modality alone carries."""
        return self.point["R"] / self.point["I12"] if self.point["I12"] > 0 else math.nan


def code_counts(n_rows: int, n_folds: int = N_FOLDS) -> tuple[int, int] | None:
    """Codes per modality and joint codes for `n_rows` examples: the estimator's defaults (32, 64), fewer
    when a held-out fold cannot give `MIN_ROWS_PER_CODE` rows to each code; None below 2 and 4."""
    fold = n_rows // n_folds
    joint = min(64, 2 ** int(math.log2(max(fold // MIN_ROWS_PER_CODE, 1))))
    return (joint // 2, joint) if joint >= 4 else None


def decomposition(pairs: UserPairs, seed: int = 0) -> Decomposition | None:
    """The decomposition of `pairs` on every example (sequences flattened), or None when the data are too
    few for the estimator's codes."""
    from alignbook.info import ESTIMATE_KEYS, estimate_pid

    codes = code_counts(len(pairs))
    if codes is None:
        return None
    estimate = estimate_pid(pairs.x1, pairs.x2, pairs.y, seed=seed, n_folds=N_FOLDS, n_codes=codes[0],
                            n_joint_codes=codes[1])
    names = list(PARTS)
    columns = [list(ESTIMATE_KEYS).index(PARTS[n]) for n in names]  # the folds' columns are ESTIMATE_KEYS
    folds = pd.DataFrame(np.asarray(estimate.bootstrap)[:, columns], columns=names)
    return Decomposition(point={n: float(estimate.point[PARTS[n]]) for n in names},
                         low={n: float(estimate.interval[PARTS[n]][0]) for n in names},
                         high={n: float(estimate.interval[PARTS[n]][1]) for n in names},
                         folds=folds, settings=dict(estimate.settings))


# --------------------------------------------------------------------------------------------------------
# the book's predictor of lam*


def book_table(name: str = BOOK_TABLE, folder=None) -> pd.DataFrame | None:
    """The synthetic chapter's results table from the results folder (`paths.results_dir()` unless
    `folder`), or None when there is none (an installed package without the book)."""
    path = Path(folder) if folder is not None else paths.results_dir()
    path = path / f"{name}.csv"
    if not name or not path.is_file():
        return None
    table = pd.read_csv(path)
    needed = {"redundancy", "encoder", "lam", "seed", "acc", "val_acc", "status"}
    return table if needed <= set(table.columns) else None


def exact_pids(levels) -> pd.DataFrame:
    """The exact decomposition (R, U1, U2, S, I12, nats) of each synthetic redundancy level."""
    from alignbook.data import synthetic

    rows = []
    for r in levels:
        exact = synthetic.exact_info(int(r))
        rows.append({"redundancy": int(r), "R": exact["pid_redundancy"], "U1": exact["pid_unique1"],
                     "U2": exact["pid_unique2"], "S": exact["pid_synergy"], "I12": exact["mi_x1x2_y"]})
    return pd.DataFrame(rows)


def book_predictor(table: pd.DataFrame | None) -> LamPredictor | None:
    """The book's line `lam* = a + b R / I12` fitted on the synthetic results `table` (`book_table`): `lam*`
    per cell (`analysis.optimal_lam` over the table's level columns) against each level's exact
    decomposition. None without a table, or with fewer than 3 cells."""
    if table is None:
        return None
    by = [c for c in LEVEL_COLUMNS if c in table.columns]
    optimum = optimal_lam(table, by=by)
    if len(optimum) < 3:
        return None
    return predict_lam_from_pid(exact_pids(sorted(optimum["redundancy"].unique())), optimum, on="redundancy")


@dataclass(frozen=True)
class Prediction:
    """The book's predicted `lam*` for the user's pair: at the decomposition's estimate (`lam`), its range
    over the estimator's folds (`low`, `high`), the line's leave-one-out error on the book's synthetic cells
    (`loo_mae`, over `n_points` cells), and the range of `lam*` the line was fitted on (it predicts
    nothing outside it)."""

    lam: float
    low: float
    high: float
    loo_mae: float
    n_points: int
    lam_min: float
    lam_max: float
    intercept: float
    slope: float

    def text(self) -> str:
        return (f"lam* = {self.lam:.2f} (from {self.low:.2f} to {self.high:.2f} over the decomposition's "
                f"folds; the line misses the book's synthetic cells by {self.loo_mae:.2f} on average, left "
                f"out one at a time, over {self.n_points} cells)")


def predicted_lam(predictor: LamPredictor | None, found: Decomposition | None) -> Prediction | None:
    """`predictor` applied to the decomposition `found` (None when either is missing). The line uses R /
    I12, the same for both encoders."""
    if predictor is None or found is None or not found.point["I12"] > 0:
        return None
    at_folds = [predictor.predict(row) for row in found.folds.to_dict("records") if row["I12"] > 0]
    lam = predictor.predict(found.point)
    return Prediction(lam, min([lam, *at_folds]), max([lam, *at_folds]), predictor.loo_mae,
                      len(predictor.points), predictor.lam_min, predictor.lam_max, predictor.intercept,
                      predictor.slope)
