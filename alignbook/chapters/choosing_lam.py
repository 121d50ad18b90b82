"""The analysis chapter's study: measured information decompositions, `lam*` against measured redundancy,
an automatic search for `lam*` and a predictor of `lam*` from the decomposition.

The paper assumes each synthetic level's redundancy from its construction, quotes real-data decompositions
without checking them and finds `lam*` by grid search. This module measures instead:

- `exact_pid_table`: the exact BROJA decomposition of each synthetic level beside its feature counts;
- `estimate_table`, `sensitivity_table`: the sample estimator (`info.estimate_pid`) against the exact values,
  on raw inputs or on learned representations (`lam0_representations`);
- `lam_star_points`: `lam*` per level and encoder against the redundancy fraction R / I12;
- `SearchEvaluator`, `search_table`: `analysis.search_lam` driven by validation accuracy of `fit_many` runs,
  compared with the grid's optimum on test accuracy;
- `regime_points`, `feature_comparison`: `lam*` over the regime map's points, predicted from the redundancy
  fraction alone and with the labelled-set size or the Bayes gap at `lam = 0` beside it;
- `within_interval_verdict`: verdict of the chapter's prediction claim.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from alignbook import info
from alignbook.analysis import claims, fit_lam_star, loo_improvement, search_lam
from alignbook.chapters.studies import map_in_processes
from alignbook.checks import check_int_range, check_list, check_positive_int, fail
from alignbook.config import TrainConfig
from alignbook.data import PairedDataset, synthetic
from alignbook.storage.memo import remembered
from alignbook.sweep import SweepSpec, run_sweep
from alignbook.training.threads import DEFAULT_THREADS

QUANTITIES = ("R", "U1", "U2", "S", "I12")  # the decomposition and its total, in tables
_ESTIMATE_NAMES = {"R": "redundancy", "U1": "unique1", "U2": "unique2", "S": "synergy", "I12": "mi_x1x2_y"}
# Alignment metrics of search runs use this many test examples: search runs are scored on validation
# accuracy, so their (quadratic-cost) alignment measurements are kept minimal.
SEARCH_EVAL_SAMPLES = 64


def check_study_parameters(n_clusters, n_components, cluster_grid, n_bootstrap, search_grid, search_eta,
                           search_budget, real_search_budget) -> dict:
    """Validate the chapter's estimator and search settings; each error names its parameter. Returns them
    by name, `cluster_grid` as a list (papermill may pass it as text)."""
    check_int_range("n_clusters", n_clusters, 2, 4096)
    check_positive_int("n_components", n_components)
    cluster_grid = check_list("cluster_grid", cluster_grid, lambda p, k: check_int_range(p, k, 2, 4096))
    check_positive_int("n_bootstrap", n_bootstrap)
    check_int_range("search_grid", search_grid, 3, 1000)
    check_int_range("search_eta", search_eta, 2, 1000)
    check_positive_int("search_budget", search_budget)
    check_positive_int("real_search_budget", real_search_budget)
    return {"n_clusters": n_clusters, "n_components": n_components, "cluster_grid": cluster_grid,
            "n_bootstrap": n_bootstrap, "search_grid": search_grid, "search_eta": search_eta,
            "search_budget": search_budget, "real_search_budget": real_search_budget}


# --------------------------------------------------------------------------------------------------------
# decompositions: exact and estimated


@remembered()
def exact_info_table(redundancies: Sequence[int]) -> pd.DataFrame:
    """`synthetic.exact_info` of each level, one row per level (index: the levels), one column per key;
    stored on disk (`storage.memo.remembered`): the exact decomposition takes seconds per level."""
    return pd.DataFrame({int(r): synthetic.exact_info(r) for r in redundancies}).T


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
        row = {"redundancy": int(r), "u1": values["u1"], "u2": values["u2"], "R": values["pid_redundancy"],
               "U1": values["pid_unique1"], "U2": values["pid_unique2"], "S": values["pid_synergy"],
               "I12": values["mi_x1x2_y"]}
        row["shared_bits"] = int(r) / synthetic.NUM_RELEVANT
        row["redundancy_fraction"] = row["R"] / row["I12"]
        rows.append(row)
    return pd.DataFrame(rows).set_index("redundancy")


def pid_row(estimate: info.PIDEstimate) -> dict:
    """R, U1, U2, S, I12 of an estimate's point values, with `redundancy_fraction` R / I12."""
    row = {q: float(estimate.point[_ESTIMATE_NAMES[q]]) for q in QUANTITIES}
    row["redundancy_fraction"] = row["R"] / row["I12"] if row["I12"] > 0 else float("nan")
    return row


@remembered(ignore=("workers",))
def estimate_table(samples: Mapping, exact: pd.DataFrame | None = None, source: str = "raw", *,
                   workers: int | str = 1, **estimate_options) -> pd.DataFrame:
    """`info.estimate_pid` of each level's samples, one row per (level, quantity), beside the exact value.

    `samples` maps a level to `(x1, x2, y)`; `exact` (optional) is `exact_pid_table`'s frame indexed by the
    same levels. Columns: `level`, `source`, `quantity` (R, U1, U2, S, I12), `estimate`, `low`, `high`
    (bootstrap interval) and, with `exact`, `exact`, `error` (estimate - exact) and `covered` (exact inside
    the interval). `estimate_options` go to `info.estimate_pid`; the levels are estimated in `workers`
    processes (`studies.map_in_processes`).
    """
    if not isinstance(samples, Mapping) or not samples:
        fail("samples", "must be a non-empty mapping level -> (x1, x2, y)")
    estimates = map_in_processes(functools.partial(info.estimate_pid, **estimate_options),
                                 [tuple(inputs) for inputs in samples.values()], workers)
    rows = []
    for level, estimate in zip(samples, estimates, strict=True):
        for quantity in QUANTITIES:
            name = _ESTIMATE_NAMES[quantity]
            low, high = estimate.interval[name]
            row = {"level": level, "source": source, "quantity": quantity, "estimate": estimate.point[name],
                   "low": low, "high": high}
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
            name = _ESTIMATE_NAMES[quantity]
            row = {"n_clusters": int(k), "quantity": quantity, "estimate": estimate.point[name],
                   "low": estimate.interval[name][0], "high": estimate.interval[name][1]}
            if exact is not None:
                row["exact"] = float(exact[quantity])
            rows.append(row)
    return pd.DataFrame(rows)


def representation_spec(spec: SweepSpec, depth: int, seed: int, lam: float = 0.0) -> SweepSpec:
    """The runs whose representations are decomposed: `spec`'s levels at one depth, one `lam` and one seed,
    trained as `spec` trains them (the same runs, so the same cache entries)."""
    values = spec.to_dict()
    values.update(name=f"{spec.name}_representations", lams=[float(lam)], seeds=[int(seed)])
    values["dataset_grid"] = {**values.get("dataset_grid", {}), "depth": [int(depth)]}
    return SweepSpec.from_dict(values)


def lam0_representations(spec: SweepSpec, depth: int, seed: int, workers: int | str = 1) -> tuple[dict, dict]:
    """Test representations of encoders trained at `lam = 0`, and the raw inputs they were computed on.

    Per redundancy level of `spec`: `representations[r] = (z1, z2, y)`, the representations of the first
    `eval_max_samples` test examples (recomputed from the runs' stored weights; the runs are trained through
    `run_sweep` and cached), and `raw[r] = (x1, x2, y)`, those same test examples' inputs.
    """
    rep_spec = representation_spec(spec, depth, seed)
    result = run_sweep(rep_spec, workers=workers, progress=False)  # trains on one thread per worker
    rows = rep_spec.config().eval_max_samples
    first = result.table[result.table["encoder"] == 1]
    representations, raw = {}, {}
    for _, row in first.iterrows():
        index = int(row["run"])
        run = result.runs[index]
        if not run.ok:
            fail("spec", f"the lam = 0 run at redundancy {row['redundancy']} failed: {run.error}")
        r = int(row["redundancy"])
        z1, z2 = result.representations(index, rows=rows)
        test = result.dataset(index).test
        representations[r] = (z1, z2, test.y[: len(z1)])
        raw[r] = (test.x1[: len(z1)], test.x2[: len(z1)], test.y[: len(z1)])
    return representations, raw


@remembered(ignore=("workers",))
def dataset_pids(datasets: Mapping[str, PairedDataset], *, workers: int | str = 1,
                 **estimate_options) -> pd.DataFrame:
    """`info.estimate_pid` of each dataset's rows (`all_rows`), one row per dataset: the `pid_row` values,
    the redundancy's interval `R_low`, `R_high` and the solver's worst certified gap `solver_gap` (nats).
    The datasets are estimated in `workers` processes (`studies.map_in_processes`).
    """
    estimates = map_in_processes(functools.partial(info.estimate_pid, **estimate_options),
                                 [all_rows(dataset) for dataset in datasets.values()], workers)
    rows = {}
    for name, estimate in zip(datasets, estimates, strict=True):
        low, high = estimate.interval["redundancy"]
        rows[name] = {**pid_row(estimate), "R_low": low, "R_high": high,
                      "solver_gap": estimate.settings["solver_gap"]}
    return pd.DataFrame(rows).T.rename_axis("dataset")


def all_rows(dataset: PairedDataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train, validation and test rows of a dataset stacked: `(x1, x2, y)` for estimating its PID."""
    splits = (dataset.train, dataset.valid, dataset.test)
    return tuple(np.concatenate([getattr(s, a) for s in splits]) for a in ("x1", "x2", "y"))


# --------------------------------------------------------------------------------------------------------
# lam* against redundancy


def lam_star_points(optimum: pd.DataFrame, fractions: Mapping, on: str, kind: str = "synthetic",
                    label: str | None = None) -> pd.DataFrame:
    """Rows of `analysis.optimal_lam` with the redundancy fraction of their level, ready for
    `plotting.plot_lam_star_vs_redundancy`. `fractions` maps a value of column `on` to R / I12; `label`
    names a column written beside real points."""
    fractions = dict(fractions)  # a Series maps its index to its values, as a dict does
    missing = sorted(set(optimum[on]) - set(fractions), key=str)
    if missing:
        fail("fractions", f"has no redundancy fraction for {on} = {missing}")
    points = optimum.assign(redundancy_fraction=[float(fractions[v]) for v in optimum[on]], kind=kind)
    if label is not None:
        points["label"] = points[label].astype(str)
    return points


# Predictors of lam* over the regime map: the redundancy fraction alone (the first is the baseline of the
# others), then with one more feature beside it
MAP_PREDICTORS = {
    "R / I12": ("redundancy_fraction",),
    "R / I12 + log10 n_train": ("redundancy_fraction", "log10_n_train"),
    "R / I12 + Bayes gap": ("redundancy_fraction", "gap"),
}


def regime_points(optimum: pd.DataFrame, pid_table: pd.DataFrame) -> pd.DataFrame:
    """The regime map's optima (`regime.map_optimum`: one row per depth, n_train, redundancy and encoder,
    with the Bayes `gap` at `lam = 0`) with each level's exact `redundancy_fraction` (from
    `exact_pid_table`) and `log10_n_train`, the features `feature_comparison` fits `lam*` on."""
    points = lam_star_points(optimum, pid_table["redundancy_fraction"], on="redundancy")
    return points.assign(log10_n_train=np.log10(points["n_train"].astype(float)))


def feature_comparison(points: pd.DataFrame, predictors: Mapping[str, Sequence[str]] | None = None,
                       n_bootstrap: int = 2000, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit `lam*` on each predictor's features (`analysis.fit_lam_star`; default `MAP_PREDICTORS`) and
    compare each with the first by leave-one-out error.

    Returns the table of predictors (index `predictor`; columns `features`, `loo_mae`, `loo_rmse`, and
    `improvement`, `improvement_low`, `improvement_high`: the first predictor's MAE minus this one's, with
    `analysis.loo_improvement`'s bootstrap interval over points) and the per-point errors (the points'
    key columns and `lam_star`, then `error_<predictor>` per predictor: its leave-one-out error).
    """
    predictors = dict(predictors or MAP_PREDICTORS)
    if not predictors:
        fail("predictors", "must name at least one predictor and its features")
    fits = {name: fit_lam_star(points, list(features)) for name, features in predictors.items()}
    base = next(iter(fits.values()))
    rows, errors = [], points[[c for c in ("depth", "n_train", "redundancy", "encoder", "lam_star")
                               if c in points.columns]].reset_index(drop=True)
    for name, fit in fits.items():
        gain, low, high = loo_improvement(base, fit, n_bootstrap=n_bootstrap, seed=seed)
        rows.append({"predictor": name, "features": ", ".join(fit.features), "loo_mae": fit.loo_mae,
                     "loo_rmse": fit.loo_rmse, "improvement": gain, "improvement_low": low,
                     "improvement_high": high})
        errors[f"error_{name}"] = fit.points["loo_error"].to_numpy()
    return pd.DataFrame(rows).set_index("predictor"), errors


# --------------------------------------------------------------------------------------------------------
# automatic search against the grid


class SearchEvaluator:
    """`evaluate(lams, resource, seed)` functions for `analysis.search_lam`, one per encoder, backed by
    validation accuracy of runs trained together by `vectorized.fit_many` with `config`'s recipe and
    `resource` epochs.

    Runs are remembered by `(lam, resource, seed)`, so the two encoders' searches (one run trains both
    encoders) share them; `runs_trained` and `epochs_trained` count what was really trained. Alignment
    metrics of these runs are measured on `SEARCH_EVAL_SAMPLES` test examples only (they are not used).
    Runs train on `threads` threads (default one, as every trainer), the caller's settings restored after.
    """

    def __init__(self, dataset: PairedDataset, config: TrainConfig, threads: int = DEFAULT_THREADS):
        self.dataset = dataset
        self.threads = check_positive_int("threads", threads)
        self.config = config.replace(eval_max_samples=SEARCH_EVAL_SAMPLES)
        self.scores: dict[tuple[float, int, int], tuple[float, float]] = {}
        self.runs_trained = 0
        self.epochs_trained = 0

    def _train(self, lams: Sequence[float], resource: int, seed: int) -> None:
        from alignbook.training.vectorized import fit_many

        resource = check_positive_int("resource", resource)
        todo = sorted({float(lam) for lam in lams if (float(lam), resource, seed) not in self.scores})
        if not todo:
            return
        config = self.config.replace(num_epochs=resource)
        results = fit_many(self.dataset, todo, [seed] * len(todo), config, threads=self.threads)
        for lam, result in zip(todo, results, strict=True):
            # a diverged run scores 0: the search must not pick it
            scores = (result.val_acc1, result.val_acc2) if result.ok else (0.0, 0.0)
            self.scores[(lam, resource, seed)] = scores
        self.runs_trained += len(todo)
        self.epochs_trained += len(todo) * resource

    def for_encoder(self, encoder: int):
        """The `evaluate` function scoring encoder 1 or 2 on its validation accuracy."""
        if encoder not in (1, 2):
            fail("encoder", f"must be 1 or 2, got {encoder!r}")

        def evaluate(lams, resource, seed):
            self._train(lams, resource, seed)
            return [self.scores[(float(lam), int(resource), seed)][encoder - 1] for lam in lams]

        return evaluate


@remembered()
def search_encoders(dataset: PairedDataset, config: TrainConfig, budget: int, lam_max: float, seed: int = 0,
                    n_grid: int = 9, eta: int = 3) -> tuple[dict, int]:
    """`analysis.search_lam` by successive halving over `[0, lam_max]` for each encoder of `dataset`, on one
    `SearchEvaluator` (the two searches share their runs), stored on disk (`storage.memo.remembered`).

    Returns `{encoder: LamSearchResult}` and the run-epochs trained for both.
    """
    evaluator = SearchEvaluator(dataset, config)
    found = {encoder: search_lam(evaluator.for_encoder(encoder), (0.0, lam_max), budget=budget,
                                 method="halving", seed=seed, n_grid=n_grid, eta=eta)
             for encoder in (1, 2)}
    return found, evaluator.epochs_trained


def search_table(searches: Mapping, summary: pd.DataFrame, optimum: pd.DataFrame, on: str,
                 grid_runs: int, grid_epochs: int) -> pd.DataFrame:
    """The search's `lam*` against the grid's, per (level, encoder).

    `searches` maps `(level, encoder)` to a `LamSearchResult`; `summary` and `optimum` are
    `analysis.curve_summary` / `analysis.optimal_lam` of the grid's test accuracy with column `on`. The
    test accuracy at the search's `lam` is read off the grid's seed-mean curve (linear interpolation between
    grid points); `acc_lost` is the grid optimum's mean minus it, `within_noise` whether it lies inside the
    grid optimum's 95 % interval. `grid_runs`, `grid_epochs` are the grid's cost per level.
    """
    rows = []
    for (level, encoder), result in searches.items():
        best = optimum[(optimum[on] == level) & (optimum["encoder"] == encoder)]
        curve = summary[(summary[on] == level) & (summary["encoder"] == encoder)].sort_values("lam")
        if best.empty or curve.empty:
            fail("searches", f"no grid result for {on} = {level}, encoder {encoder}")
        best = best.iloc[0]
        at_star = curve[curve["lam"] == best["lam_star"]].iloc[0]
        acc_search = float(np.interp(result.lam_star, curve["lam"], curve["mean"]))
        rows.append({on: level, "encoder": encoder, "lam_grid": best["lam_star"], "lam_low": best["lam_low"],
                     "lam_high": best["lam_high"], "lam_search": result.lam_star,
                     "lam_distance": abs(result.lam_star - best["lam_star"]),
                     "acc_grid": at_star["mean"], "acc_search": acc_search,
                     "acc_lost": at_star["mean"] - acc_search,
                     "within_noise": bool(acc_search >= at_star["ci_low"]) if np.isfinite(at_star["ci_low"])
                     else bool(acc_search >= at_star["mean"]),
                     "search_runs": result.runs_spent, "search_epochs": result.resource_spent,
                     "grid_runs": grid_runs, "grid_epochs": grid_epochs})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------------
# verdicts


def within_interval_verdict(values: Sequence[float], lows: Sequence[float], highs: Sequence[float]) -> str:
    """`claims.verdict` of the cases whose value lies inside its interval (e.g. a predicted `lam*` inside
    the confidence set of the best `lam`), a case outside counting against."""
    inside = [bool(lo <= v <= hi) for v, lo, hi in zip(values, lows, highs, strict=True)]
    return claims.verdict(sum(inside), len(inside) - sum(inside), len(inside))


def mean_baseline_loo(values: Sequence[float]) -> float:
    """Leave-one-out mean absolute error of predicting each value by the mean of the others: the error a
    predictor that ignores the decomposition makes (compare `LamPredictor.loo_mae`)."""
    y = np.asarray(values, dtype=float)
    if len(y) < 2:
        fail("values", f"needs at least 2 values, got {len(y)}")
    others = (y.sum() - y) / (len(y) - 1)
    return float(np.abs(others - y).mean())



def analysis_claims(correlation: tuple[float, float, float], n_points: int, loo_mae: float,
                    baseline: float, real_check: pd.DataFrame, estimates: pd.DataFrame,
                    searched: pd.DataFrame, estimator: str = "",
                    features: pd.DataFrame | None = None) -> pd.DataFrame:
    """Chapter 06's claim table: the paper's conclusion and its suggestion to choose `lam` from the
    decomposition, then the three steps it assumed.

    `correlation` is Spearman's rho of `lam*` with the redundancy fraction and its interval over
    `n_points` points; `loo_mae` and `baseline` the leave-one-out errors of the predictor and of the mean;
    `real_check` the real pairs' `predicted` `lam*` beside the grid's `lam_low`/`lam_high`; `estimates`
    the `estimate_table` rows (source, quantity, covered) of the estimator named `estimator`; `searched`
    the `search_table` rows (`within_noise`); `features` (optional) `feature_comparison`'s table of
    predictors over the regime map, whose predictors after the first each add a claim: that their extra
    feature lowers the leave-one-out error of `lam*` (the interval of the reduction above 0).
    """
    rho, low, high = correlation
    predicted, lows, highs = real_check["predicted"], real_check["lam_low"], real_check["lam_high"]
    inside = (predicted >= lows) & (predicted <= highs)
    rows = [
        {"claim": "lam* rises with redundancy", "source": "[A]",
         "expected": "Spearman rho > 0, interval above 0",
         "ours": f"rho = {rho:.2f} [{low:.2f}, {high:.2f}] over {n_points} points",
         "verdict": claims.interval_verdict(low, high)},
        {"claim": "the decomposition predicts lam* (synthetic, leave-one-out)", "source": "[A, S]",
         "expected": "smaller error than the mean of the others",
         "ours": f"MAE {loo_mae:.3f} vs {baseline:.3f}",
         "verdict": claims.verdict(int(loo_mae < baseline), int(loo_mae >= baseline), 1)},
        {"claim": "the decomposition predicts lam* (real pairs)", "source": "[A, S]",
         "expected": "prediction inside the grid's lam* interval",
         "ours": f"{int(inside.sum())} of {len(inside)} inside",
         "verdict": within_interval_verdict(predicted, lows, highs)},
    ]
    named = f" ({estimator})" if estimator else ""
    for source in ("raw", "representation"):
        covered = estimates[(estimates["source"] == source) & (estimates["quantity"] == "R")]["covered"]
        rows.append({"claim": f"redundancy can be estimated from samples ({source} inputs)", "source": "ours",
                     "expected": "exact R inside the interval",
                     "ours": f"{int(covered.sum())} of {len(covered)}{named}",
                     "verdict": claims.verdict(int(covered.sum()), int((~covered).sum()), len(covered))})
    within = searched["within_noise"]
    rows.append({"claim": "lam* needs a grid search", "source": "[S] limitation",
                 "expected": "the search loses accuracy beyond the grid's noise",
                 "ours": f"{int(within.sum())} of {len(searched)} searches within the noise",
                 "verdict": claims.verdict(int((~within).sum()), int(within.sum()), len(within))})
    if features is not None:
        base = features.iloc[0]
        for name, row in features.iloc[1:].iterrows():
            extra = name.split(" + ", 1)[-1]
            rows.append({"claim": f"{extra} beside R / I12 predicts lam* better (regime map, leave-one-out)",
                         "source": "ours", "expected": "reduction of the error, interval above 0",
                         "ours": f"MAE {row['loo_mae']:.3f} vs {base['loo_mae']:.3f}, reduction "
                                 f"{row['improvement']:.3f} [{row['improvement_low']:.3f}, "
                                 f"{row['improvement_high']:.3f}]",
                         "verdict": claims.interval_verdict(row["improvement_low"], row["improvement_high"])})
    return claims.claims_table(rows)
