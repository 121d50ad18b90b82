"""The analysis chapter's measured decompositions: exact and estimated, and the validation of the estimators
against the synthetic data's exact decomposition.

- `exact_pid_table`, `exact_info_table`: the exact decomposition of each synthetic level;
- `estimate_table`, `sensitivity_table`: an estimator (`info.estimate_pid`) on given inputs, beside the
  exact values where they are known;
- `validation_cells`, `validation_table`: every estimator on synthetic datasets (sample size, depth of
  modality 2's map, redundancy level, data draw), one cached cell per dataset; `validation_summary`,
  `choose_estimator`, `estimator_settings`, `estimator_options`, `package_default`: their errors, the
  estimator the chapter uses and how each is called;
- `counted_claim`: a claim's row from counts decided by a chapter's own test.

The intervals calibrated on the validation's errors live in `pid_intervals`. Cells are stored as they finish
(`storage.memo.remembered`, keyed by the cell's configuration and the code of every module `validation_cell`
reaches), so an interrupted table resumes and changed estimator code never serves a stale cell.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from alignbook import info
from alignbook.analysis import verdict
from alignbook.analysis.claims import CORRECTION_TEXT
from alignbook.analysis.plan import ClaimSpec
from alignbook.chapters.studies import map_in_processes
from alignbook.checks import (
    check_depth,
    check_list,
    check_redundancy,
    check_sample_size,
    check_seed,
    fail,
)
from alignbook.data import PairedDataset, synthetic
from alignbook.info.estimate import DEFAULT_BIAS_CORRECTION, DEFAULT_METHOD
from alignbook.info.learned import ClassifierSettings, Variant, learned_pids
from alignbook.storage.memo import remembered

QUANTITIES = ("R", "U1", "U2", "S", "I12")  # the decomposition and its total, in tables
PARTS = QUANTITIES[:4]
NAMES = {"R": "redundancy", "U1": "unique1", "U2": "unique2", "S": "synergy", "I12": "mi_x1x2_y"}
BASELINE = "kmeans"
DEFAULT_VARIANTS = (Variant("codes", "none"), Variant("codes", "miller-madow"), Variant("codes", "split"),
                    Variant("batch"))

# --------------------------------------------------------------------------------------------------------
# exact and estimated decompositions


@remembered()
def exact_info_table(redundancies: Sequence[int]) -> pd.DataFrame:
    """`synthetic.exact_info` of each level, one row per level (index: the levels), one column per key;
    stored on disk: the exact decomposition takes seconds per level."""
    return pd.DataFrame({int(r): synthetic.exact_info(r) for r in redundancies}).T


def exact_values(redundancy: int) -> dict:
    """The exact R, U1, U2, S and I12 (nats) of a synthetic level."""
    values = synthetic.exact_info(redundancy)
    return {q: float(values["mi_x1x2_y" if q == "I12" else f"pid_{NAMES[q]}"]) for q in QUANTITIES}


@remembered()
def exact_pid_table(redundancies: Sequence[int]) -> pd.DataFrame:
    """Exact PID (nats) of each synthetic level beside its feature counts, indexed by `redundancy`.

    Columns: `u1`, `u2` (label-relevant unique bits), `R`, `U1`, `U2`, `S`, `I12` (= their sum),
    `shared_bits` (r / 8, the construction's fraction of shared label bits) and `redundancy_fraction`
    (R / I12, the measured one).
    """
    rows = []
    for r in redundancies:
        values = synthetic.exact_info(r)
        row = {"redundancy": int(r), "u1": values["u1"], "u2": values["u2"], **exact_values(r)}
        row["shared_bits"] = int(r) / synthetic.NUM_RELEVANT
        row["redundancy_fraction"] = row["R"] / row["I12"]
        rows.append(row)
    return pd.DataFrame(rows).set_index("redundancy")


def all_rows(dataset: PairedDataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train, validation and test rows of a dataset stacked: `(x1, x2, y)` for estimating its PID."""
    splits = (dataset.train, dataset.valid, dataset.test)
    return tuple(np.concatenate([getattr(s, a) for s in splits]) for a in ("x1", "x2", "y"))


@remembered(ignore=("workers",))
def estimate_table(samples: Mapping, exact: pd.DataFrame | None = None, source: str = "raw", *,
                   workers: int | str = 1, **estimate_options) -> pd.DataFrame:
    """`info.estimate_pid` of each case's samples, one row per (case, quantity), beside the exact value.

    `samples` maps a case `(level, draw)` to `(x1, x2, y)`; `exact` (optional) is `exact_pid_table`'s frame
    indexed by the levels. Columns: `level`, `draw`, `source`, `quantity` (R, U1, U2, S, I12), `estimate`,
    `low`, `high` (the estimator's own interval: bootstrap or fold spread, at no proven level) and, with
    `exact`, `exact`, `error` (estimate - exact) and `covered` (exact inside that interval).
    `estimate_options` go to `info.estimate_pid`; cases run in `workers` processes.
    """
    if not isinstance(samples, Mapping) or not samples:
        fail("samples", "must be a non-empty mapping (level, draw) -> (x1, x2, y)")
    estimates = map_in_processes(functools.partial(info.estimate_pid, **estimate_options),
                                 [tuple(inputs) for inputs in samples.values()], workers)
    rows = []
    for (level, draw), estimate in zip(samples, estimates, strict=True):
        for quantity in QUANTITIES:
            name = NAMES[quantity]
            low, high = estimate.interval[name]
            row = {"level": level, "draw": draw, "source": source, "quantity": quantity,
                   "estimate": estimate.point[name], "low": low, "high": high}
            if exact is not None:
                truth = float(exact.loc[level, quantity])
                row.update(exact=truth, error=estimate.point[name] - truth,
                           covered=bool(low <= truth <= high))
            rows.append(row)
    return pd.DataFrame(rows)


@remembered()
def sensitivity_table(x1, x2, y, cluster_grid: Sequence[int], exact: Mapping | None = None,
                      **options) -> pd.DataFrame:
    """`info.pid_sensitivity` as a table: one row per (number of clusters, quantity), with the exact value
    (`exact` maps R, U1, U2, S, I12 to numbers) when known. `options` go to `info.pid_sensitivity`."""
    estimates = info.pid_sensitivity(x1, x2, y, cluster_grid, **options)
    rows = []
    for k, estimate in zip(cluster_grid, estimates, strict=True):
        for quantity in QUANTITIES:
            row = {"n_clusters": int(k), "quantity": quantity, "estimate": estimate.point[NAMES[quantity]]}
            if exact is not None:
                row["exact"] = float(exact[quantity])
            rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------------
# the validation


def estimator_settings(n_clusters: int = 16, n_components: int = 4, n_bootstrap: int = 20, n_folds: int = 5,
                       n_codes: int = 32, n_joint_codes: int = 64, classifier_steps: int = 1000,
                       seed: int = 0) -> tuple[dict, dict]:
    """The options of the baseline (`info.estimate_pid(method="kmeans")`) and of the learned estimators
    (`learned.learned_pids`) in the validation; the defaults are the analysis chapter's, so that
    `calibrated_pid` called without settings reads the chapter's cached cells."""
    kmeans = dict(n_clusters=n_clusters, n_components=n_components, n_bootstrap=n_bootstrap, seed=seed)
    return kmeans, dict(n_folds=n_folds, n_codes=n_codes, n_joint_codes=n_joint_codes, seed=seed,
                        classifier=ClassifierSettings(max_steps=classifier_steps))



def validation_cells(sizes: Sequence[int], depths: Sequence[int], redundancies: Sequence[int],
                     largest_size_redundancies: Sequence[int], draws: Sequence[int] = (0,)
                     ) -> list[tuple[int, int, int, int]]:
    """The cells `(n_samples, depth, redundancy, data_seed)` of the validation: every level in
    `redundancies` at every size but the largest, which (costing most) gets the levels in
    `largest_size_redundancies`, each drawn once per data seed in `draws`. Each list is checked
    (`checks.check_list`: never empty, no value twice), an error naming its parameter."""
    sizes = check_list("validation_sizes", sizes, check_sample_size)
    depths = check_list("validation_depths", depths, check_depth)
    redundancies = check_list("validation_redundancies", redundancies, check_redundancy)
    largest_levels = check_list("largest_size_redundancies", largest_size_redundancies, check_redundancy)
    draws = check_list("validation_draws", draws, check_seed)
    largest = max(sizes) if len(sizes) > 1 else None
    return [(n, d, r, s) for n in sorted(sizes) for d in depths
            for r in (largest_levels if n == largest else redundancies) for s in draws]


@remembered()
def validation_cell(n_samples: int, depth: int, redundancy: int, data_seed: int = 0,
                    kmeans_options: dict | None = None, learned_options: dict | None = None,
                    variants: Sequence[Variant] = DEFAULT_VARIANTS) -> list[dict]:
    """Rows of one cell: every estimator on `synthetic.make_dataset(redundancy, depth, n_samples,
    data_seed)` (all its rows), one row per (estimator, quantity) with `estimate`, `low`, `high` (the
    estimator's own interval), `exact`, `error`, `covered` and `cpu_seconds` (the estimator's processor time
    on one thread; learned variants include the classifiers they share). `kmeans_options` go to
    `info.estimate_pid`, `learned_options` to `learned.learned_pids`."""
    dataset = synthetic.make_dataset(redundancy, depth=depth, n_samples=n_samples, seed=data_seed)
    x1, x2, y = all_rows(dataset)
    truth = exact_values(redundancy)
    started = time.process_time()
    baseline = info.estimate_pid(x1, x2, y, method=BASELINE, **(kmeans_options or {}))
    estimates = {BASELINE: (baseline.point, baseline.interval, time.process_time() - started)}
    learned = learned_pids(x1, x2, y, variants, **(learned_options or {}))
    estimates.update({name: (e.point, e.interval, e.settings["cpu_seconds"]) for name, e in learned.items()})
    rows = []
    for estimator, (point, interval, seconds) in estimates.items():
        for quantity in QUANTITIES:
            name = NAMES[quantity]
            low, high = interval[name]
            rows.append({"n_samples": n_samples, "depth": depth, "redundancy": redundancy,
                         "data_seed": data_seed, "estimator": estimator, "quantity": quantity,
                         "estimate": point[name], "low": low, "high": high, "exact": truth[quantity],
                         "error": point[name] - truth[quantity],
                         "covered": bool(low <= truth[quantity] <= high), "cpu_seconds": seconds})
    return rows


def validation_table(cells: Sequence[tuple[int, int, int, int]], kmeans_options: dict | None = None,
                     learned_options: dict | None = None, variants: Sequence[Variant] = DEFAULT_VARIANTS,
                     use_cache: bool = True, workers: int | str = 1, progress: bool = True
                     ) -> tuple[pd.DataFrame, dict]:
    """`validation_cell` of each `(n_samples, depth, redundancy, data_seed)` in `cells`, read from or
    written to the cache, computed in `workers` processes (one thread each); returns the rows of all cells,
    in the order of `cells`, and `{"computed": k, "cached": m, "seconds": t}`. Each cell is stored as soon
    as it is done, so an interrupted table resumes."""
    if not cells:
        fail("cells", "must list at least one (n_samples, depth, redundancy, data_seed)")
    for n_samples, depth, redundancy, data_seed in cells:
        check_sample_size("n_samples", n_samples)
        check_depth("depth", depth)
        check_redundancy("redundancy", redundancy)
        check_seed("data_seed", data_seed)
    learned_options = dict(learned_options or {})
    learned_options["classifier"] = learned_options.get("classifier") or ClassifierSettings()
    started = time.perf_counter()
    arguments = {tuple(cell): (*cell, kmeans_options, learned_options, tuple(variants)) for cell in cells}
    done = {}
    if use_cache:
        for cell, args in arguments.items():
            found, rows = validation_cell.lookup(*args)
            if found:
                done[cell] = rows
    todo = [cell for cell in arguments if cell not in done]
    function = validation_cell if use_cache else validation_cell.compute
    from tqdm import tqdm

    with tqdm(total=len(todo), desc="PID validation", unit="cell", disable=not progress) as bar:
        for cell, rows in zip(todo, map_in_processes(function, [arguments[c] for c in todo], workers),
                              strict=True):
            done[cell] = rows
            bar.update()
    counts = {"computed": len(todo), "cached": len(arguments) - len(todo),
              "seconds": time.perf_counter() - started}
    return pd.DataFrame([row for cell in arguments for row in done[cell]]), counts


def validation_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per estimator, sample size and depth: the mean absolute error of each quantity (`mae_R`, ...), the
    share of the estimator's own intervals of R, U1, U2 and S that hold the exact value (`fold_coverage`),
    with `pid_intervals.calibrate`'s columns also the share of calibrated intervals that do (`coverage`,
    over the calibrated ones) and their mean width (`width`, nats); the mean processor seconds per dataset
    (`cpu_seconds`) and the datasets (`cells`)."""
    by = ["estimator", "n_samples", "depth"]
    absolute = table.assign(error=table["error"].abs())
    errors = absolute.pivot_table(index=by, columns="quantity", values="error")
    summary = errors[list(QUANTITIES)].add_prefix("mae_")
    parts = table[table["quantity"].isin(PARTS)]
    summary = summary.join(parts.groupby(by)["covered"].mean().rename("fold_coverage"))
    if "cal_covered" in parts.columns:
        calibrated = parts[np.isfinite(parts["cal_low"])]
        grouped = calibrated.groupby(by)
        summary = summary.join(grouped["cal_covered"].mean().rename("coverage"))
        summary = summary.join((calibrated["cal_high"] - calibrated["cal_low"]).groupby(
            [calibrated[k] for k in by]).mean().rename("width"))
    dataset = [c for c in ("n_samples", "depth", "redundancy", "data_seed", "estimator") if c in table]
    per_cell = table.drop_duplicates(dataset)
    summary = summary.join(per_cell.groupby(by)["cpu_seconds"].mean())
    summary = summary.join(per_cell.groupby(by).size().rename("cells"))
    return summary.reset_index()


def choose_estimator(summary: pd.DataFrame, n_samples: int) -> tuple[str, pd.DataFrame]:
    """The estimator with the smallest mean absolute error over R, U1, U2 and S at `n_samples` (all
    depths alike), and the ranking it was chosen from: per estimator the mean of each `mae_*` column,
    `mae_parts` (the criterion), the coverage columns and `cpu_seconds`, best first."""
    at_size = summary[summary["n_samples"] == n_samples]
    if at_size.empty:
        fail("n_samples", f"{n_samples} is not a sample size of the summary ({sorted(summary['n_samples'])})")
    columns = [c for c in summary.columns if c.startswith("mae_")]
    columns += [c for c in ("fold_coverage", "coverage", "width", "cpu_seconds") if c in summary.columns]
    ranking = at_size.groupby("estimator")[columns].mean()
    ranking.insert(0, "mae_parts", ranking[[f"mae_{q}" for q in PARTS]].mean(axis=1))
    ranking = ranking.sort_values("mae_parts", kind="stable")
    return str(ranking.index[0]), ranking


def estimator_options(name: str, kmeans_options: dict | None = None, learned_options: dict | None = None
                      ) -> dict:
    """`info.estimate_pid` keyword arguments of the estimator called `name` in the validation table."""
    if name == BASELINE:
        return {"method": BASELINE, **(kmeans_options or {})}
    method, _, correction = name.partition("/")
    variant = Variant(method, correction or "none")
    named = {"bias_correction": variant.bias_correction} if method == "codes" else {}
    return {"method": variant.method, **named, **(learned_options or {})}


def package_default() -> str:
    """The validation-table name of the estimator `info.estimate_pid` runs when no method is given."""
    if DEFAULT_METHOD == BASELINE:
        return BASELINE
    return Variant(DEFAULT_METHOD, DEFAULT_BIAS_CORRECTION if DEFAULT_METHOD == "codes" else "none").name


# --------------------------------------------------------------------------------------------------------
# a claim's row from counts


def counted_claim(spec: ClaimSpec, expected: str, ours: str, *, agree: int, opposed: int, cases: int) -> dict:
    """A claim's row from counts decided by the caller's test (a coverage, a permutation test, a comparison
    of predictors): the columns of `analysis.claims_table`'s rows, the verdict from `analysis.verdict`."""
    return {"key": spec.key, "claim": spec.wording, "source": spec.source, "expected": expected, "ours": ours,
            "agree": int(agree), "cases": int(cases), "opposed": int(opposed), "untestable": 0,
            "verdict": verdict(int(agree), int(opposed), int(cases)), "alpha": spec.alpha,
            "correction": CORRECTION_TEXT[spec.correction], "margin": spec.margin, "mde": math.nan}
