"""The analysis chapter's validation of the PID estimators against the synthetic data's exact decomposition.

Each cell is one synthetic dataset (sample size, depth of modality 2's map, redundancy level), decomposed
by every estimator: the k-means baseline (`info.estimate_pid(method="kmeans")`) and the learned variants
(`info.learned`), which share one set of cross-fitted classifiers per cell. A cell's rows hold, per
estimator and quantity, the estimate, its interval, the exact value, the error, whether the interval
covers the exact value, and the estimator's wall time.

Cells are stored as they finish (`storage.memo.remembered`: keyed by the cell's configuration and the code
of every module `validation_cell` reaches), so an interrupted table resumes and changed estimator code never
serves a stale cell.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import pandas as pd

from alignbook import info
from alignbook.chapters.choosing_lam import QUANTITIES, all_rows
from alignbook.chapters.studies import map_in_processes
from alignbook.checks import (
    check_depth,
    check_int_range,
    check_list,
    check_redundancy,
    check_sample_size,
    fail,
)
from alignbook.data import synthetic
from alignbook.info.estimate import DEFAULT_BIAS_CORRECTION, DEFAULT_METHOD
from alignbook.info.learned import ClassifierSettings, Variant, learned_pids
from alignbook.storage.memo import remembered

NAMES = {"R": "redundancy", "U1": "unique1", "U2": "unique2", "S": "synergy", "I12": "mi_x1x2_y"}
BASELINE = "kmeans"
DEFAULT_VARIANTS = (Variant("codes", "none"), Variant("codes", "miller-madow"), Variant("codes", "split"),
                    Variant("batch"))


def check_estimator_parameters(reference_size, validation_sizes, validation_bootstrap, n_folds, n_codes,
                               n_joint_codes, classifier_steps) -> None:
    """Validate the chapter's estimator-validation settings; each error names its parameter."""
    check_int_range("validation_bootstrap", validation_bootstrap, 1, 100_000)
    if reference_size not in validation_sizes:
        fail("reference_size", f"must be one of validation_sizes {validation_sizes}, got {reference_size!r}")
    check_int_range("n_folds", n_folds, 2, 100)
    check_int_range("n_codes", n_codes, 2, 4096)
    check_int_range("n_joint_codes", n_joint_codes, 2, 4096)
    check_int_range("classifier_steps", classifier_steps, 1, 10**7)


def check_validation_lists(sizes, depths, redundancies, largest_size_redundancies) -> dict[str, list[int]]:
    """The validation's four lists checked (`checks.check_list`: never empty, no value twice), each error
    naming its parameter, and returned under the chapter's parameter names; a list that papermill passed as
    text is read back."""
    return {name: check_list(name, values, check)
            for name, values, check in (("validation_sizes", sizes, check_sample_size),
                                        ("validation_depths", depths, check_depth),
                                        ("validation_redundancies", redundancies, check_redundancy),
                                        ("largest_size_redundancies", largest_size_redundancies,
                                         check_redundancy))}


def validation_cells(sizes: Sequence[int], depths: Sequence[int], redundancies: Sequence[int],
                     largest_size_redundancies: Sequence[int]) -> list[tuple[int, int, int]]:
    """The cells `(n_samples, depth, redundancy)` of the validation: every level in `redundancies` at every
    size but the largest, which (costing most) gets the levels in `largest_size_redundancies`; each
    list is validated here (`check_validation_lists`), naming the parameter at fault."""
    checked = check_validation_lists(sizes, depths, redundancies, largest_size_redundancies)
    sizes = checked["validation_sizes"]
    largest = max(checked["validation_sizes"])
    return [(n, d, r) for n in sorted(set(checked["validation_sizes"])) for d in checked["validation_depths"]
            for r in (checked["largest_size_redundancies"] if n == largest and len(set(sizes)) > 1
                      else checked["validation_redundancies"])]


@remembered()
def validation_cell(n_samples: int, depth: int, redundancy: int, data_seed: int = 0,
                    kmeans_options: dict | None = None, learned_options: dict | None = None,
                    variants: Sequence[Variant] = DEFAULT_VARIANTS) -> list[dict]:
    """Rows of one cell: every estimator on `synthetic.make_dataset(redundancy, depth, n_samples,
    data_seed)` (all its rows), one row per (estimator, quantity) with `estimate`, `low`, `high`, `exact`,
    `error`, `covered` and `cpu_seconds` (the estimator's processor time on one thread; learned variants
    include the classifiers they share). `kmeans_options` go to `info.estimate_pid`, `learned_options`
    to `learned.learned_pids`."""
    dataset = synthetic.make_dataset(redundancy, depth=depth, n_samples=n_samples, seed=data_seed)
    x1, x2, y = all_rows(dataset)
    exact = synthetic.exact_info(redundancy)
    truth = {"R": exact["pid_redundancy"], "U1": exact["pid_unique1"], "U2": exact["pid_unique2"],
             "S": exact["pid_synergy"], "I12": exact["mi_x1x2_y"]}
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
                         "estimator": estimator, "quantity": quantity, "estimate": point[name], "low": low,
                         "high": high, "exact": truth[quantity], "error": point[name] - truth[quantity],
                         "covered": bool(low <= truth[quantity] <= high), "cpu_seconds": seconds})
    return rows


def validation_table(cells: Sequence[tuple[int, int, int]], data_seed: int = 0,
                     kmeans_options: dict | None = None, learned_options: dict | None = None,
                     variants: Sequence[Variant] = DEFAULT_VARIANTS, use_cache: bool = True,
                     workers: int = 1, progress: bool = True) -> tuple[pd.DataFrame, dict]:
    """`validation_cell` of each `(n_samples, depth, redundancy)` in `cells`, read from or written to the
    cache, computed in `workers` processes (one thread each); returns the rows of all cells, in the order
    of `cells`, and `{"computed": k, "cached": m, "seconds": t}`. Each cell is written to the cache as soon
    as it is done, so an interrupted table resumes."""
    if not cells:
        fail("cells", "must list at least one (n_samples, depth, redundancy)")
    for n_samples, depth, redundancy in cells:
        check_sample_size("n_samples", n_samples)
        check_depth("depth", depth)
        check_redundancy("redundancy", redundancy)
    workers = check_int_range("workers", workers, 1, 1024)
    learned_options = dict(learned_options or {})
    learned_options["classifier"] = learned_options.get("classifier") or ClassifierSettings()
    started = time.perf_counter()
    arguments = {tuple(cell): (*cell, data_seed, kmeans_options, learned_options, variants) for cell in cells}
    done = {}
    if use_cache:
        for cell, args in arguments.items():
            found, rows = validation_cell.lookup(*args)
            if found:
                done[cell] = rows
    todo = [cell for cell in arguments if cell not in done]
    function = validation_cell if use_cache else validation_cell.compute
    bar = None
    if progress:
        from tqdm import tqdm  # only when asked

        bar = tqdm(total=len(todo), desc="PID validation", unit="cell")
    computed = map_in_processes(function, [arguments[cell] for cell in todo], workers)
    for cell, rows in zip(todo, computed, strict=True):
        done[cell] = rows
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    counts = {"computed": len(todo), "cached": len(arguments) - len(todo),
              "seconds": time.perf_counter() - started}
    return pd.DataFrame([row for cell in arguments for row in done[cell]]), counts


def validation_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per estimator and sample size (and depth): mean absolute error of each quantity, coverage of the
    four parts R, U1, U2, S (share of intervals holding the exact value), mean processor seconds per cell
    (`cpu_seconds`), cells."""
    by = ["estimator", "n_samples", "depth"]
    absolute = table.assign(error=table["error"].abs())
    errors = absolute.pivot_table(index=by, columns="quantity", values="error")
    errors = errors[list(QUANTITIES)].add_prefix("mae_")
    parts = table[table["quantity"].isin(["R", "U1", "U2", "S"])]
    summary = errors.join(parts.groupby(by)["covered"].mean().rename("coverage"))
    per_cell = table.drop_duplicates(["estimator", "n_samples", "depth", "redundancy"])
    summary = summary.join(per_cell.groupby(by)["cpu_seconds"].mean())
    summary = summary.join(per_cell.groupby(by).size().rename("cells"))
    return summary.reset_index()


def choose_estimator(summary: pd.DataFrame, n_samples: int) -> tuple[str, pd.DataFrame]:
    """The estimator with the smallest mean absolute error over R, U1, U2 and S at `n_samples` (all
    depths and levels of the summary alike), and the ranking it was chosen from: per estimator the mean
    of each `mae_*` column, `mae_parts` (the criterion), `coverage` and `cpu_seconds`, best first."""
    at_size = summary[summary["n_samples"] == n_samples]
    if at_size.empty:
        fail("n_samples", f"{n_samples} is not a sample size of the summary ({sorted(summary['n_samples'])})")
    columns = [f"mae_{q}" for q in QUANTITIES] + ["coverage", "cpu_seconds"]
    ranking = at_size.groupby("estimator")[columns].mean()
    ranking.insert(0, "mae_parts", ranking[["mae_R", "mae_U1", "mae_U2", "mae_S"]].mean(axis=1))
    ranking = ranking.sort_values("mae_parts")
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


def estimated_pid_table(estimates: pd.DataFrame, source: str) -> pd.DataFrame:
    """`chapters.analysis.estimate_table` rows of one `source` as a decomposition table like
    `exact_pid_table`'s: one row per level (column `redundancy`), columns R, U1, U2, S, I12 (estimates)."""
    rows = estimates[estimates["source"] == source]
    if rows.empty:
        fail("source", f"no estimates from {source!r}; sources are {sorted(estimates['source'].unique())}")
    table = rows.pivot(index="level", columns="quantity", values="estimate")[list(QUANTITIES)]
    return table.rename_axis("redundancy").reset_index().rename_axis(None, axis=1)


def package_default() -> str:
    """The validation-table name of the estimator `info.estimate_pid` runs when no method is given."""
    if DEFAULT_METHOD == BASELINE:
        return BASELINE
    return Variant(DEFAULT_METHOD, DEFAULT_BIAS_CORRECTION if DEFAULT_METHOD == "codes" else "none").name
