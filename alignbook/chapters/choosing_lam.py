"""The analysis chapter (06): its parameters, and choosing `lam`.

The paper assumes each synthetic level's redundancy from its construction, quotes real-data decompositions
without checking them and finds `lam*` by grid search. `pid_validation` measures the decompositions; this
module measures the rest:

- `Parameters`: the chapter's parameters, checked in its first cell;
- `lam0_inputs`: the representations of encoders trained at `lam = 0` (chapter 03's runs, one data draw per
  seed) and the raw test inputs they were computed on, to decompose;
- `lam_star_points`, `redundancy_claim`, `predictor_claim`, `real_prediction_claim`: `lam*` against the
  redundancy fraction R / I12, tested by permuting whole levels, and its prediction on levels left out;
- `regime_points`, `feature_comparison`, `feature_claims`: `lam*` over the regime map's points, from R / I12
  alone and with the labelled-set size or the Bayes gap beside it, each extra feature tested by permuting it
  among the points of one redundancy level.

The automatic search against the grid is `lam_search`'s. Every verdict is a claim of the protocol file
(`analysis.load_protocol`), by its key.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from alignbook.analysis import correlation_claim, fit_lam_star, load_protocol, predictor_verdict
from alignbook.analysis.predictor import fit_plane
from alignbook.analysis.protocol import MIN_SEEDS
from alignbook.chapters.pid_validation import counted_claim, validation_cells
from alignbook.chapters.regime_map import MAX_SEEDS_PER_SIZE, SPLIT, full_train_size
from alignbook.chapters.studies import CHECK_EVERY, MAX_STEPS, training_budget
from alignbook.checks import (
    NotebookParameters,
    check_depth,
    check_fraction,
    check_int_range,
    check_list,
    check_name_pairs,
    check_redundancy,
    check_sample_size,
    check_seed,
    fail,
    literal_list,
)
from alignbook.config import TrainConfig
from alignbook.data import MFEAT_VIEWS, split_sizes, synthetic
from alignbook.info.learned import MIN_ROWS_PER_CODE, learned_pids
from alignbook.storage.memo import remembered
from alignbook.sweep import SweepSpec, run_sweep


@dataclass(frozen=True)
class Parameters(NotebookParameters):
    """The parameters of the analysis chapter, one field per name of its `parameters` cell."""

    redundancies: list
    depths: list
    lams: list
    seeds: list
    n_samples: int
    batch_size: int
    workers: int | str
    backend: str
    mfeat_pairs: list
    real_lams: list
    real_seeds: list
    real_patience: int
    n_clusters: int
    n_components: int
    cluster_grid: list
    n_bootstrap: int
    validation_sizes: list
    validation_depths: list
    validation_redundancies: list
    largest_size_redundancies: list
    validation_draws: list
    reference_size: int
    validation_bootstrap: int
    n_folds: int
    n_codes: int
    n_joint_codes: int
    classifier_steps: int
    search_grid: int
    search_eta: int
    search_budget: int
    map_redundancies: list
    map_depths: list
    n_trains: list
    map_seeds_per_size: list
    map_lams: list
    map_n_samples: int
    map_batch_size: int
    map_step_scale: float
    n_permutations: int
    seed: int

    def check(self) -> None:
        """Numbers first, then lists, then the rules between them (each error names its parameter)."""
        for name, low, high in (("n_clusters", 2, 4096), ("n_components", 1, 4096),
                                ("n_bootstrap", 1, 100_000), ("validation_bootstrap", 1, 100_000),
                                ("n_folds", 2, 100), ("n_codes", 2, 4096), ("n_joint_codes", 2, 4096),
                                ("classifier_steps", 1, 10**7), ("search_grid", 3, 1000),
                                ("search_eta", 2, 1000), ("search_budget", 1, 1000),
                                ("map_batch_size", 1, 10**6), ("real_patience", 0, 10_000),
                                ("n_permutations", 19, 10**6)):
            check_int_range(name, getattr(self, name), low, high)
        self.set("map_step_scale", check_fraction("map_step_scale", self.map_step_scale, zero=False))
        self.set("cluster_grid", check_list("cluster_grid", self.cluster_grid,
                                            lambda p, k: check_int_range(p, k, 2, 4096)))
        for name, rule in (("validation_sizes", check_sample_size), ("validation_depths", check_depth),
                           ("validation_redundancies", check_redundancy),
                           ("largest_size_redundancies", check_redundancy), ("validation_draws", check_seed)):
            self.set(name, check_list(name, getattr(self, name), rule))
        self.set("mfeat_pairs", check_name_pairs("mfeat_pairs", self.mfeat_pairs, tuple(MFEAT_VIEWS)))
        self.check_map()
        if len(self.redundancies) < 3:
            fail("redundancies", f"needs at least 3 levels to predict lam* on a level left out from the "
                                 f"others, got {self.redundancies}")
        if len(self.seeds) < 2 or (len(self.seeds) - 1) * len(self.redundancies) < 3:
            fail("seeds", "needs at least 2 seeds (data draws), and 3 errors from the other draws to "
                          f"calibrate each interval, got {self.seeds}")
        cells = pd.DataFrame(self.validation_cells(), columns=["n", "depth", "level", "draw"])
        if (len(self.validation_draws) - 1) * cells.groupby("n")["level"].nunique().min() < 3:
            fail("validation_draws", "needs enough data draws that every size has 3 errors from other draws "
                                     f"to calibrate an interval on, got {self.validation_draws}")
        if self.reference_size not in self.validation_sizes:
            fail("reference_size", f"must be one of validation_sizes {self.validation_sizes}, got "
                                   f"{self.reference_size!r}")
        self.check_folds()

    def check_folds(self) -> None:
        """Every learned estimator must run on each fold of the smallest data it decomposes: the chapter's
        test rows (`eval_max_samples` of a data draw's test split) and the smallest validated size."""
        need = self.n_folds * max(inspect.signature(learned_pids).parameters["batch_atoms"].default,
                                  MIN_ROWS_PER_CODE * max(self.n_codes, self.n_joint_codes))
        rows = min(TrainConfig().eval_max_samples, split_sizes(self.n_samples, SPLIT)[2])
        if rows < need:
            fail("n_samples", f"gives {rows} test rows to decompose, fewer than the {need} that "
                              f"{self.n_folds} folds of the learned estimators need",
                 "use more samples or fewer folds or codes")
        if min(self.validation_sizes) < need:
            fail("validation_sizes", f"must be at least {need} (the rows {self.n_folds} folds of the learned "
                                     f"estimators need), got {min(self.validation_sizes)}")

    def check_map(self) -> None:
        """The regime map's parameters: chapter 04's rules, so that the same runs are read."""
        full = full_train_size(self.map_n_samples)
        self.set("n_trains", check_list("n_trains", self.n_trains,
                                        lambda p, v: check_int_range(p, v, synthetic.NUM_CLASSES, full),
                                        increasing=True))
        counts = [check_int_range("map_seeds_per_size", v, MIN_SEEDS, MAX_SEEDS_PER_SIZE)
                  for v in literal_list("map_seeds_per_size", self.map_seeds_per_size)]
        if len(counts) != len(self.n_trains):
            fail("map_seeds_per_size", f"needs one count per size of n_trains ({len(self.n_trains)}), got "
                                       f"{counts}")
        self.set("map_seeds_per_size", counts)
        self.set("map_step_scale", check_fraction("map_step_scale", self.map_step_scale, zero=False))

    def map_train(self) -> dict:
        """The regime map's training options: the book's rule (`studies.training_budget`) with its step
        counts scaled by `map_step_scale`, as chapter 04 scales them (`regime_map.Parameters`)."""
        scale = self.map_step_scale
        return training_budget(self.map_batch_size, check_every=max(1, round(CHECK_EVERY * scale)),
                               max_steps=max(1, round(MAX_STEPS * scale)))

    def validation_cells(self) -> list[tuple[int, int, int, int]]:
        """The estimator validation's cells (`pid_validation.validation_cells`)."""
        return validation_cells(self.validation_sizes, self.validation_depths, self.validation_redundancies,
                                self.largest_size_redundancies, self.validation_draws)


# --------------------------------------------------------------------------------------------------------
# what is decomposed


def representation_spec(spec: SweepSpec, depth: int, seeds: Sequence[int], lam: float = 0.0) -> SweepSpec:
    """The runs whose representations are decomposed: `spec`'s levels at one depth and one `lam`, for
    `seeds`, trained as `spec` trains them (the same runs, so the same cache entries)."""
    values = spec.to_dict()
    values.update(name=f"{spec.name}_representations", lams=[float(lam)], seeds=[int(s) for s in seeds])
    values["dataset_grid"] = {**values.get("dataset_grid", {}), "depth": [int(depth)]}
    return SweepSpec.from_dict(values)


def lam0_inputs(spec: SweepSpec, depth: int, seeds: Sequence[int], workers: int | str = 1
                ) -> tuple[dict, dict]:
    """Test representations of encoders trained at `lam = 0`, and the raw inputs they were computed on.

    Per redundancy level r of `spec` and seed s: `representations[(r, s)] = (z1, z2, y)`, the representations
    of the first `eval_max_samples` test examples of the run's data draw (recomputed from its stored
    weights; the runs are trained through `run_sweep` and cached), and `raw[(r, s)] = (x1, x2, y)`, those
    same test examples' inputs.
    """
    rep_spec = representation_spec(spec, depth, seeds)
    result = run_sweep(rep_spec, workers=workers, progress=False)
    rows = rep_spec.config().eval_max_samples
    representations, raw = {}, {}
    for _, row in result.table[result.table["encoder"] == 1].iterrows():
        index = int(row["run"])
        run = result.runs[index]
        if not run.ok:
            fail("spec", f"the lam = 0 run at redundancy {row['redundancy']}, seed {row['seed']} failed: "
                         f"{run.error}")
        case = (int(row["redundancy"]), int(row["seed"]))
        z1, z2 = result.representations(index, rows=rows)
        test = result.dataset(index).test
        representations[case] = (z1, z2, test.y[: len(z1)])
        raw[case] = (test.x1[: len(z1)], test.x2[: len(z1)], test.y[: len(z1)])
    return representations, raw


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


def redundancy_claim(rho: float, p_positive: float, p_negative: float, n_points: int, n_levels: int) -> dict:
    """Claim `lam_redundancy` from `analysis.level_correlation`'s Spearman rho of `lam*` with R / I12 over
    `n_points` synthetic points of `n_levels` levels and its permutation p-values each way."""
    evidence = (f"Spearman rho = {rho:.2f} over {n_points} points of {n_levels} levels; permutation p of a "
                f"positive correlation {p_positive:.3f}, of a negative one {p_negative:.3f}")
    return correlation_claim(load_protocol().claim("lam_redundancy"), rho, p_positive, p_negative, evidence)


def predictor_claim(comparison: pd.DataFrame, p_value: float) -> dict:
    """Claim `pid_predicts` from `analysis.predictor_comparison`'s table and permutation p-value: the line
    in R / I12 must beat the median and the modal `lam*` on levels left out, and the permutation test."""
    spec = load_protocol().claim("pid_predicts")
    found = predictor_verdict(comparison, p_value, spec.alpha)
    errors = ", ".join(f"{name} {row['mae']:.3f}" for name, row in comparison.iterrows())
    return counted_claim(spec, "a smaller leave-one-level-out error than the median and the modal lam*, and "
                               f"a permutation p-value below {spec.alpha:g}; opposite: a baseline predicts "
                               "at least as well and the permutation test finds nothing",
                         f"mean absolute error {errors}; permutation p {p_value:.3f}",
                         agree=int(found == "confirmed"), opposed=int(found == "contradicted"), cases=1)


def real_prediction_claim(real_check: pd.DataFrame) -> dict:
    """Claim `pid_predicts_real`: per real pair, whether the `predicted` `lam*` lies in the confidence set of
    the best `lam` (`lam_low` to `lam_high`). Membership is no test: with few pairs no count is significant,
    so the verdict is at most "partly confirmed" (protocol file); a pair whose prediction lies outside its
    set counts against."""
    spec = load_protocol().claim("pid_predicts_real")
    inside = ((real_check["predicted"] >= real_check["lam_low"])
              & (real_check["predicted"] <= real_check["lam_high"])).to_numpy()
    cases = [f"{row['dataset']} encoder {row['encoder']}: predicted {row['predicted']:.2f}, set "
             f"[{row['lam_low']:g}, {row['lam_high']:g}]" for _, row in real_check.iterrows()]
    n, u = len(inside), int(inside.sum())
    row = counted_claim(spec, "the predicted lam* inside the confidence set of the best lam; at most partly "
                              "confirmed, since membership is not a test", "; ".join(
                                  [f"{u} of {n} inside", *cases]), agree=u, opposed=n - u, cases=n)
    if row["verdict"] == "confirmed":
        row["verdict"] = "partly confirmed"
    return row


# --------------------------------------------------------------------------------------------------------
# lam* over the regime map


# Predictors of lam* over the regime map: the redundancy fraction alone (the base of the others), then with
# one more feature beside it
MAP_PREDICTORS = {
    "R / I12": ("redundancy_fraction",),
    "R / I12 + log10 n_train": ("redundancy_fraction", "log10_n_train"),
    "R / I12 + Bayes gap": ("redundancy_fraction", "gap"),
}
FEATURE_CLAIMS = {"log10_n_train": "size_feature", "gap": "gap_feature"}


def regime_points(optimum: pd.DataFrame, pid_table: pd.DataFrame) -> pd.DataFrame:
    """The regime map's optima (one row per depth, n_train, redundancy and encoder, with the Bayes `gap` at
    `lam = 0`) with each level's exact `redundancy_fraction` (`pid_validation.exact_pid_table`) and
    `log10_n_train`, the features `feature_comparison` fits `lam*` on."""
    points = lam_star_points(optimum, pid_table["redundancy_fraction"], on="redundancy")
    return points.assign(log10_n_train=np.log10(points["n_train"].astype(float)))


def loo_mae(x: np.ndarray, y: np.ndarray) -> float:
    """Leave-one-out mean absolute error of the least-squares plane in the columns of `x`, each prediction
    clipped to the other points' range, as `analysis.fit_lam_star` computes it.

    Written in closed form for speed (the permutation tests call it thousands of times): the prediction of
    a left-out point is `y_i - e_i / (1 - h_ii)`, from the residual `e` and the leverage `h` of the plane
    fitted on every point, instead of `n` refitted planes; a point whose removal changes the rank of the
    design (`h_ii = 1`) is refitted (`fit_plane`). A test checks that it equals `fit_lam_star`'s loop.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = len(y)
    design = np.column_stack([np.ones(n), x - x.mean(axis=0)])
    hat = design @ np.linalg.pinv(design)
    leverage = np.diag(hat)
    alone = 1 - leverage < 1e-9
    with np.errstate(divide="ignore", invalid="ignore"):
        loo = np.where(alone, np.nan, y - (y - hat @ y) / (1 - leverage))
    for i in np.flatnonzero(alone):
        keep = np.arange(n) != i
        loo[i] = fit_plane(x[keep], y[keep]).predict(x[i:i + 1])[0]
    ordered = np.sort(y)
    low, high = np.full(n, ordered[0]), np.full(n, ordered[-1])
    low[np.argmin(y)], high[np.argmax(y)] = ordered[1], ordered[-2]  # the others' range without i
    return float(np.abs(np.clip(loo, low, high) - y).mean())


@remembered()
def feature_comparison(points: pd.DataFrame, predictors: Mapping[str, Sequence[str]] | None = None,
                       strata: str = "redundancy", n_permutations: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Fit `lam*` on each predictor's features (default `MAP_PREDICTORS`) and test what each feature beyond
    the first predictor's adds.

    One row per predictor (index `predictor`): `features`, `loo_mae` (leave-one-out, `fit_lam_star`),
    `improvement` (the first predictor's MAE minus this one's) and, for the others, `p_better`, `p_worse`:
    the extra feature is permuted among the points of each value of `strata` (`n_permutations` random
    permutations from `numpy.random.default_rng(seed)`, the identity counted), and p is the share of
    permutations whose improvement is at least (at most) the observed one. Under "given the level, the
    feature says nothing about `lam*`" the permuted features are as likely as the observed ones, so p is
    exact; a feature correlated with one that matters (the size, the depth) carries its information.
    Stored on disk (`storage.memo.remembered`): the permutations refit the planes thousands of times.
    """
    predictors = dict(predictors or MAP_PREDICTORS)
    if len(predictors) < 1:
        fail("predictors", "must name at least one predictor and its features")
    base_features = list(next(iter(predictors.values())))
    y = points["lam_star"].to_numpy(dtype=float)
    base = fit_lam_star(points, base_features).loo_mae
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(points[strata].to_numpy() == v) for v in pd.unique(points[strata])]
    rows = []
    for name, features in predictors.items():
        fit = fit_lam_star(points, list(features))
        row = {"predictor": name, "features": ", ".join(features), "loo_mae": fit.loo_mae,
               "improvement": base - fit.loo_mae, "p_better": np.nan, "p_worse": np.nan}
        extra = [f for f in features if f not in base_features]
        if extra:
            x = points[list(features)].to_numpy(dtype=float)
            column = list(features).index(extra[0])
            null = []
            for _ in range(n_permutations):
                shuffled = x.copy()
                for rows_of in groups:
                    shuffled[rows_of, column] = x[rng.permutation(rows_of), column]
                null.append(base - loo_mae(shuffled, y))
            null = np.array(null)
            row["p_better"] = float((1 + (null >= row["improvement"] - 1e-12).sum()) / (1 + n_permutations))
            row["p_worse"] = float((1 + (null <= row["improvement"] + 1e-12).sum()) / (1 + n_permutations))
        rows.append(row)
    return pd.DataFrame(rows).set_index("predictor")


def feature_claims(comparison: pd.DataFrame) -> list[dict]:
    """Claims `size_feature` and `gap_feature` from `feature_comparison`'s table: a feature predicts `lam*`
    better when its permutation p of a larger improvement is below alpha, worse when that of a smaller one
    is."""
    plan, rows = load_protocol(), []
    for _, row in comparison.iloc[1:].iterrows():
        extra = [f for f in row["features"].split(", ") if f in FEATURE_CLAIMS]
        if not extra:
            continue
        spec = plan.claim(FEATURE_CLAIMS[extra[0]])
        base = comparison.iloc[0]
        rows.append(counted_claim(
            spec, f"a lower leave-one-out error than {comparison.index[0]} alone, beyond a feature permuted "
                  f"within each redundancy level (one-sided at alpha {spec.alpha:g}); opposite: a higher one",
            f"MAE {row['loo_mae']:.3f} against {base['loo_mae']:.3f}, improvement {row['improvement']:+.3f}, "
            f"permutation p {row['p_better']:.3f} (better), {row['p_worse']:.3f} (worse)",
            agree=int(row["p_better"] < spec.alpha), opposed=int(row["p_worse"] < spec.alpha), cases=1))
    return rows
