"""Intervals of an estimated decomposition calibrated to hold their level (chapters 05 and 06): each
estimate's interval calibrated on the errors the same estimator made on other data draws of the same size
(`info.intervals`), the coverage those intervals reach, and the verdict on it.

- `calibrate`, `calibrate_inputs`, `coverage_table`: the estimator validation's estimates (or estimates on
  several draws of given inputs) with calibrated intervals, and the measured coverage of those intervals
  beside the coverage of the estimator's own;
- `calibrated_pid`, `calibrated_pid_table` (`CalibratedPID`): the decomposition of data whose truth is
  unknown, with intervals calibrated on synthetic draws of the same size (cached cells of the validation,
  `pid_validation`);
- `coverage_claim`: the verdict on "redundancy can be estimated", from coverage (protocol file).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from alignbook import info
from alignbook.analysis import holm
from alignbook.analysis.plan import ClaimSpec
from alignbook.chapters.pid_validation import (
    BASELINE,
    DEFAULT_VARIANTS,
    NAMES,
    QUANTITIES,
    all_rows,
    counted_claim,
    estimator_options,
    estimator_settings,
    package_default,
    validation_cells,
    validation_table,
)
from alignbook.checks import check_sample_size, fail
from alignbook.data import PairedDataset
from alignbook.info.intervals import calibrated_intervals, check_ci, error_bounds
from alignbook.info.learned import Variant
from alignbook.storage.memo import remembered

CALIBRATION_KEYS = ["estimator", "n_samples", "depth", "quantity"]  # errors comparable with each other


def calibrate(validation: pd.DataFrame, ci: float = 0.95) -> pd.DataFrame:
    """`validation_table` rows with `cal_low`, `cal_high`, `cal_covered` and `references`: each estimate's
    interval at level `ci` calibrated on the errors of the same estimator, size, depth and quantity on the
    other data draws (`info.intervals.calibrated_intervals`); NaN with fewer than 3 such errors."""
    return calibrated_intervals(validation, CALIBRATION_KEYS, "data_seed", ci)


def calibrate_inputs(estimates: pd.DataFrame, ci: float = 0.95) -> pd.DataFrame:
    """`estimate_table` rows of several draws with each estimate's interval calibrated on the errors of the
    same source and quantity in the other draws (`info.intervals.calibrated_intervals`)."""
    return calibrated_intervals(estimates, ["source", "quantity"], "draw", ci)


def coverage_table(calibrated: pd.DataFrame, by: Sequence[str], quantities: Sequence[str] = ("R",),
                   target: float = 0.9) -> pd.DataFrame:
    """The coverage of calibrated intervals per group of `by` (rows of `quantities`, those with a calibrated
    interval): `cases`, `held` and `coverage` (calibrated intervals), `own_coverage` (the estimator's own
    intervals on the same cases), `p_below` (one-sided binomial p-value of a coverage below `target`),
    `mae` (mean absolute error, nats) and `width` (mean width of the calibrated intervals, nats)."""
    from scipy import stats

    rows = calibrated[calibrated["quantity"].isin(quantities) & np.isfinite(calibrated["cal_low"])]
    if rows.empty:
        fail("calibrated", "has no calibrated interval: give each (size, depth) at least two data draws")
    out = []
    for key, part in rows.groupby(list(by), sort=True):
        key = key if isinstance(key, tuple) else (key,)
        held, cases = int(part["cal_covered"].sum()), len(part)
        out.append({**dict(zip(by, key, strict=True)), "cases": cases, "held": held, "coverage": held / cases,
                    "own_coverage": float(part["covered"].mean()),
                    "p_below": float(stats.binomtest(held, cases, target, alternative="less").pvalue),
                    "mae": float((part["estimate"] - part["exact"]).abs().mean()),
                    "width": float((part["cal_high"] - part["cal_low"]).mean())})
    return pd.DataFrame(out)


@dataclass(frozen=True)
class CalibratedPID:
    """A decomposition (nats) with intervals calibrated on synthetic draws of the same size.

    `point[q]` and `interval[q]` for q in R, U1, U2, S, I12 (`interval` at level `ci`); `own_interval[q]` the
    estimator's own interval (fold spread or bootstrap: at no proven level); `coverage[q]` the measured share
    of calibrated intervals that held the exact value on the reference draws, each draw's interval
    calibrated on the others; `references` the errors each interval is calibrated on; `settings` how.
    """

    point: dict
    interval: dict
    own_interval: dict
    coverage: dict
    references: int
    settings: dict


@remembered(ignore=("workers",))
def calibrated_pid(x1, x2, y, estimator: str | None = None, *, kmeans_options: dict | None = None,
                   learned_options: dict | None = None, depths: Sequence[int] = (1, 3),
                   redundancies: Sequence[int] = (0, 2, 4, 6, 8), draws: Sequence[int] = (0, 1, 2),
                   ci: float = 0.95, workers: int | str = 1) -> CalibratedPID:
    """The PID of paired samples by `estimator` (a validation-table name; default `package_default()`),
    with intervals calibrated on its errors on synthetic data of the same number of rows.

    The references are the validation's cells at `n_samples = len(y)`, every depth in `depths`, level in
    `redundancies` and data seed in `draws`, with the estimators' options (default `estimator_settings()`;
    cached: with the chapter's settings they are the chapter's own cells), pooled over depths and levels
    because the data's own depth and redundancy are unknown. That the data's error is drawn like the
    synthetic errors is an assumption, which whoever quotes the interval states; the coverage is measured on
    the synthetic draws (`CalibratedPID`). Stored on disk.
    """
    estimator = estimator or package_default()
    defaults = estimator_settings()
    kmeans_options = defaults[0] if kmeans_options is None else kmeans_options
    learned_options = defaults[1] if learned_options is None else learned_options
    level = check_ci(ci)
    options = estimator_options(estimator, kmeans_options, learned_options)
    estimate = info.estimate_pid(x1, x2, y, ci=level, **options)
    n = check_sample_size("y", len(np.asarray(y)))
    cells = validation_cells([n], depths, redundancies, redundancies, draws)
    variants = DEFAULT_VARIANTS if estimator in [v.name for v in DEFAULT_VARIANTS] + [BASELINE] else (
        Variant(*estimator.split("/")),)
    reference, _ = validation_table(cells, kmeans_options, learned_options, variants, workers=workers,
                                    progress=False)
    reference = reference[reference["estimator"] == estimator]
    pooled = calibrated_intervals(reference, ["quantity"], "data_seed", level)
    point = {q: float(estimate.point[NAMES[q]]) for q in QUANTITIES}
    interval, cover = {}, {}
    for q in QUANTITIES:
        low, high = error_bounds(reference.loc[reference["quantity"] == q, "error"], level)
        interval[q] = (point[q] - high, point[q] - low)
        rows = pooled[(pooled["quantity"] == q) & np.isfinite(pooled["cal_low"])]
        cover[q] = float(rows["cal_covered"].mean()) if len(rows) else math.nan
    return CalibratedPID(point=point, interval=interval,
                         own_interval={q: tuple(estimate.interval[NAMES[q]]) for q in QUANTITIES},
                         coverage=cover, references=int((reference["quantity"] == "R").sum()),
                         settings={"estimator": estimator, "n_samples": n, "depths": list(depths),
                                   "redundancies": list(redundancies), "draws": list(draws), "ci": level})


def calibrated_pid_table(datasets: Mapping[str, PairedDataset], estimator: str | None = None,
                         **options) -> pd.DataFrame:
    """`calibrated_pid` of each dataset's rows (`all_rows`), one row per dataset: R, U1, U2, S, I12,
    `redundancy_fraction` (R / I12), the calibrated interval of R (`R_low`, `R_high`), its measured coverage
    on the synthetic references (`R_coverage`) and the number of references. `options` go to
    `calibrated_pid`."""
    rows = {}
    for name, dataset in datasets.items():
        found = calibrated_pid(*all_rows(dataset), estimator, **options)
        rows[name] = {**found.point, "redundancy_fraction": found.point["R"] / found.point["I12"],
                      "R_low": found.interval["R"][0], "R_high": found.interval["R"][1],
                      "R_coverage": found.coverage["R"], "references": found.references}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("dataset")


def coverage_claim(spec: ClaimSpec, coverage: pd.DataFrame, keys: Sequence[str], ci: float) -> dict:
    """The verdict on a claim that intervals at level `ci` hold their target (`spec.direction` "coverage"),
    one case per row of `coverage_table`: it holds in a case whose measured coverage is at least
    `ci - spec.margin` (the protocol's tolerance), its opposite where a one-sided binomial test rejects that
    coverage at `spec.alpha` (Holm across the cases when the claim says so). `keys` label the cases."""
    if spec.direction != "coverage":
        fail("spec", f"claim {spec.key!r} has direction {spec.direction!r}, not 'coverage'")
    target = check_ci(ci) - spec.margin
    p = coverage["p_below"].to_numpy(dtype=float)
    opposed = (holm(p) if spec.correction == "holm" else p) <= spec.alpha
    holds = coverage["coverage"].to_numpy(dtype=float) >= target
    cases = [" ".join(f"{k}={row[k]:,}" if isinstance(row[k], (int, np.integer)) else f"{k}={row[k]}"
                      for k in keys)
             + f": {row['held']} of {row['cases']} intervals hold R ({row['coverage']:.2f}, the "
             f"estimator's own {row['own_coverage']:.2f}), mean absolute error {row['mae']:.3f} nats, mean "
             f"width {row['width']:.3f} nats" for row in coverage.to_dict("records")]
    u, v, n = int(holds.sum()), int(opposed.sum()), len(coverage)
    return counted_claim(spec, f"calibrated {ci:.0%} intervals hold the exact R in at least {target:.2f} "
                               f"of cases; opposite: a binomial test at alpha {spec.alpha:g} rejects that "
                               "coverage",
                         "; ".join([f"holds in {u} of {n} cases, the opposite in {v}", *cases]),
                         agree=u, opposed=v, cases=n)
