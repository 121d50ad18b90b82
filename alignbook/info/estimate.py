"""The PID of continuous, high-dimensional paired samples: the entry point and the k-means baseline.

`estimate_pid(method=...)` runs any of the estimators: the learned ones of `alignbook.info.learned`
(the default) or the baseline `kmeans_pid`. The baseline reduces each modality to its top principal
components and clusters them by k-means (`discretize`, with scikit-learn's `PCA` and `KMeans`); the plug-in
joint of the two cluster codes and the class label is decomposed by the exact BROJA solver
(`alignbook.info.exact`), and bootstrap resamples of the rows give percentile intervals.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import numpy as np

from alignbook.checks import check_int_range, check_positive_int, check_same_rows, check_seed, fail, to_numpy
from alignbook.info.exact import broja_batch, log_base, pid_from_solution
from alignbook.info.learned import LEARNED_METHODS, Variant, class_codes, learned_pids, zscore

PID_METHODS = ("kmeans", *LEARNED_METHODS)
# The default estimator and bias correction: the analysis chapter's validation ranks every estimator on the
# synthetic data's exact decomposition and checks that this is its choice.
DEFAULT_METHOD = "codes"
DEFAULT_BIAS_CORRECTION = "none"

ESTIMATE_KEYS = ("redundancy", "unique1", "unique2", "synergy", "mi_x1_y", "mi_x2_y", "mi_x1x2_y")


@dataclass
class PIDEstimate:
    """Plug-in PID of discretised samples with bootstrap percentile intervals.

    `point[k]` is the estimate of quantity k (`ESTIMATE_KEYS`) on all samples, `interval[k]` its
    (low, high) percentile interval over `bootstrap` (one row per resample, columns in `ESTIMATE_KEYS`
    order). The intervals reflect sampling noise given the discretisation, which is fitted once on all
    samples; the discretisation's own effect is what `pid_sensitivity` shows. `settings` records how.
    Resamples repeat rows, so plug-in information is biased upwards more in them than in the full sample:
    with many cells per sample the point estimate can sit below its interval (a sign of that bias).
    """

    point: dict
    interval: dict
    settings: dict
    bootstrap: np.ndarray

    def rows(self) -> list[dict]:
        """One dict per quantity: quantity, estimate, low, high, plus the settings (for tables)."""
        return [{"quantity": k, "estimate": self.point[k], "low": self.interval[k][0],
                 "high": self.interval[k][1], **self.settings} for k in ESTIMATE_KEYS]


def _as_matrix(param: str, x) -> np.ndarray:
    array = to_numpy(param, x)
    if array.ndim == 0:
        fail(param, "must have one row per sample, got a scalar")
    array = array.reshape(len(array), -1).astype(np.float64)
    if not np.all(np.isfinite(array)):
        fail(param, "contains NaN or infinite values", "clean or impute them first")
    return array


def pca_scores(x: np.ndarray, n_components: int) -> np.ndarray:
    """Scores of the z-scored rows of `x` (n, d) on their top `n_components` principal components, by
    scikit-learn's `PCA` (full SVD); the z-scored features themselves when there are no more than that."""
    from sklearn.decomposition import PCA

    z = zscore(x)
    if z.shape[1] <= n_components:
        return z
    return PCA(n_components=n_components, svd_solver="full").fit_transform(z)


def kmeans(x: np.ndarray, k: int, seed: int = 0, n_init: int = 3, max_iter: int = 100) -> np.ndarray:
    """Cluster labels (0..k-1, int array of length n) of the rows of `x` (n, d) by scikit-learn's `KMeans`.

    Lloyd's algorithm from k-means++ starts, best of `n_init`, at most `max_iter` iterations; `k` is capped
    at the number of rows. Deterministic given `seed`: the starts are drawn from it, and the clustering runs
    on one thread, because scikit-learn's multi-threaded sums depend on the number of threads.
    """
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    x = np.asarray(x, dtype=np.float64)
    k = min(check_positive_int("n_clusters", k), len(x))
    random_state = int(np.random.SeedSequence(int(seed)).generate_state(1)[0])  # any seed >= 0 to 32 bits
    with threadpool_limits(1):
        model = KMeans(n_clusters=k, n_init=n_init, max_iter=max_iter, random_state=random_state)
        return model.fit_predict(x)


def discretize(x, n_clusters: int, n_components: int = 4, seed: int = 0) -> np.ndarray:
    """Cluster labels of samples x (n, ...): `kmeans` on the top `n_components` PCA scores of z-scored x.

    Inputs with at most `n_clusters` distinct rows are not clustered: each distinct row gets its own code
    (0..r-1, in sorted order).
    """
    matrix = _as_matrix("x", x)
    rows, codes = np.unique(matrix, axis=0, return_inverse=True)
    if len(rows) <= n_clusters:
        return codes.reshape(-1)
    return kmeans(pca_scores(matrix, n_components), n_clusters, seed=seed)


def _plugin_joints(codes1, codes2, labels, shape, index_sets) -> np.ndarray:
    """Empirical joints p[x1, x2, y] of each row of `index_sets` (one bincount for all of them)."""
    cells = (codes1 * shape[1] + codes2) * shape[2] + labels
    size = shape[0] * shape[1] * shape[2]
    offsets = np.arange(len(index_sets))[:, None] * size
    counts = np.bincount((cells[index_sets] + offsets).ravel(), minlength=size * len(index_sets))
    counts = counts.reshape(len(index_sets), *shape).astype(np.float64)
    return counts / counts.sum((1, 2, 3), keepdims=True)


def estimate_pid(x1, x2, y, method: str = DEFAULT_METHOD, seed: int = 0, ci: float = 0.95, base="e",
                 **options) -> PIDEstimate:
    """Estimate the BROJA PID of continuous or high-dimensional paired samples; `method` picks the estimator.

    `"codes"` (the default, chosen by the analysis chapter's validation against the exact decomposition of
    the synthetic data) and `"batch"` are the learned estimators of `alignbook.info.learned`: cross-fitted
    class posteriors, then quantised codes or the BATCH optimisation, with Student-t intervals over the
    folds; `options` go to `learned.learned_pids` (`bias_correction` to its `Variant`, default
    `DEFAULT_BIAS_CORRECTION` for "codes"), and `bootstrap` then holds the per-fold estimates.
    `"kmeans"` is the baseline `kmeans_pid` (PCA, k-means, bootstrap intervals); `options` go to it.
    An option the method does not have is refused by name.
    """
    if method not in PID_METHODS:
        fail("method", f"must be one of {PID_METHODS}, got {method!r}")
    target = kmeans_pid if method == "kmeans" else learned_pids
    known = set(inspect.signature(target).parameters) - {"x1", "x2", "y", "seed", "ci", "base", "variants"}
    known |= {"bias_correction"} if method == "codes" else set()
    unknown = sorted(set(options) - known)
    if unknown:
        fail(", ".join(unknown), f"is not an option of method={method!r}", f"its options: {sorted(known)}")
    if method == "kmeans":
        return kmeans_pid(x1, x2, y, seed=seed, ci=ci, base=base, **options)
    default = DEFAULT_BIAS_CORRECTION if method == "codes" else "none"
    variant = Variant(method, options.pop("bias_correction", default))
    estimate = learned_pids(x1, x2, y, [variant], seed=seed, ci=ci, base=base, **options)[variant.name]
    return PIDEstimate(point=estimate.point, interval=estimate.interval, settings=estimate.settings,
                       bootstrap=estimate.folds)


def kmeans_pid(x1, x2, y, n_clusters=(8, 8), n_components: int = 4, n_bootstrap: int = 200, seed: int = 0,
               ci: float = 0.95, base="e", tol: float = 1e-5) -> PIDEstimate:
    """The baseline estimate of the BROJA PID of continuous or high-dimensional paired samples.

    Each modality is discretised (`discretize`: PCA to `n_components` dimensions, then k-means with
    `n_clusters` clusters; an int means the same for both), the plug-in joint with the class labels `y` is
    decomposed exactly (`pid`), and `n_bootstrap` resamples of the rows give percentile intervals at level
    `ci`. Plug-in estimates of information from finite samples are biased upwards and discretisation
    loses information (biasing them down); compare settings with `pid_sensitivity`.
    """
    a, b = _as_matrix("x1", x1), _as_matrix("x2", x2)
    classes, y_codes = class_codes(y)
    check_same_rows(x1=a, x2=b, y=y_codes)
    if isinstance(n_clusters, (int, np.integer)) and not isinstance(n_clusters, bool):
        n_clusters = (int(n_clusters), int(n_clusters))
    if not (isinstance(n_clusters, (tuple, list)) and len(n_clusters) == 2):
        fail("n_clusters", f"must be an int or a pair of ints, got {n_clusters!r}")
    k1, k2 = (check_int_range("n_clusters", k, 1, 4096) for k in n_clusters)
    n_components = check_positive_int("n_components", n_components)
    n_bootstrap = check_int_range("n_bootstrap", n_bootstrap, 0, 100_000)
    seed = check_seed("seed", seed)
    if not (isinstance(ci, (int, float)) and 0 < ci < 1):
        fail("ci", f"must be a number in (0, 1), got {ci!r}")
    scale = log_base(base)
    codes1 = discretize(a, k1, n_components, seed)
    codes2 = discretize(b, k2, n_components, seed + 1)
    shape = (int(codes1.max()) + 1, int(codes2.max()) + 1, len(classes))

    n = len(y_codes)
    rng = np.random.default_rng([seed, 303])
    index_sets = np.vstack([np.arange(n)[None], rng.integers(0, n, size=(n_bootstrap, n))])
    joints = _plugin_joints(codes1, codes2, y_codes.reshape(-1), shape, index_sets)
    table, worst_gap = [], 0.0
    for start in range(0, len(joints), 64):  # batches bound the memory of the Newton systems
        chunk = joints[start : start + 64]
        for joint, solution in zip(chunk, broja_batch(chunk, tol, 2000), strict=True):
            values = pid_from_solution(joint, solution.q, solution.value)
            table.append([values[k] / scale for k in ESTIMATE_KEYS])
            worst_gap = max(worst_gap, solution.gap / scale)
    table = np.array(table)
    point = dict(zip(ESTIMATE_KEYS, table[0].tolist(), strict=True))
    tail = (1 - ci) / 2 * 100
    if n_bootstrap:
        low, high = np.percentile(table[1:], [tail, 100 - tail], axis=0)
    else:
        low = high = np.full(len(ESTIMATE_KEYS), np.nan)
    interval = {k: (float(lo), float(hi)) for k, lo, hi in zip(ESTIMATE_KEYS, low, high, strict=True)}
    settings = {"n_clusters1": k1, "n_clusters2": k2, "n_components": n_components,
                "n_bootstrap": n_bootstrap, "seed": seed, "ci": ci, "base": base, "n_samples": n,
                "solver_gap": worst_gap}
    return PIDEstimate(point=point, interval=interval, settings=settings, bootstrap=table[1:])


def pid_sensitivity(x1, x2, y, cluster_grid=(4, 8, 16), n_components: int = 4, n_bootstrap: int = 50,
                    seed: int = 0, ci: float = 0.95, base="e") -> list[PIDEstimate]:
    """`kmeans_pid` at each number of clusters in `cluster_grid` (same for both modalities)."""
    if isinstance(cluster_grid, (int, np.integer)) or len(cluster_grid) == 0:
        fail("cluster_grid", f"must be a non-empty sequence of cluster counts, got {cluster_grid!r}")
    return [kmeans_pid(x1, x2, y, n_clusters=int(k), n_components=n_components, n_bootstrap=n_bootstrap,
                       seed=seed, ci=ci, base=base) for k in cluster_grid]
