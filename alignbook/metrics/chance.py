"""What unrelated representations score: chance levels, analytic where known, else permutation baselines.

`chance_level` gives the expected score of unrelated representations where it is known analytically,
`permutation_baseline` estimates it by pairing `z1` with row-shuffled `z2`, and `chance_levels` does
either for every metric of METRICS at once, relabelling one neighbour search and SVD per representation
for each shuffle instead of repeating them. The shuffles are a function of the seed and n alone (their own
generator): no global random state is read or changed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from alignbook.checks import check_positive_int, check_same_rows, check_seed, fail
from alignbook.metrics import inputs
from alignbook.metrics.similarity import cka, cknna, mutual_knn, svcca
from alignbook.metrics.summary import METRICS, scores, shuffled, summary_pair

_METRIC_FUNCTIONS: dict[str, Callable[..., float]] = {
    "mutual_knn": mutual_knn,
    "cka": cka,
    "cka_unbiased": lambda z1, z2, **kwargs: cka(z1, z2, unbiased=True, **kwargs),
    "cknna": cknna,
    "svcca": svcca,
}


def _metric_name(metric) -> str | None:
    """Name in METRICS of a metric given by name or by function; None for other callables."""
    if isinstance(metric, str):
        if metric not in METRICS:
            fail("metric", f"unknown metric {metric!r}", f"use one of {METRICS}")
        return metric
    if callable(metric):
        return next((name for name, fn in _METRIC_FUNCTIONS.items() if fn is metric), None)
    fail("metric", f"expected a metric name or function, got {type(metric).__name__}")


def chance_level(metric, n: int, k: int = 10) -> float | None:
    """Expected score of unrelated representations of `n` examples, where known analytically; else None.

    mutual_knn: k / (n - 1), the chance that a random other example is among k neighbours.
    cka_unbiased: 0, since the unbiased HSIC estimates 0 for independent representations.
    Biased CKA, CKNNA and SVCCA depend on dimensions and data: use `permutation_baseline`.
    """
    name = _metric_name(metric)
    n = check_positive_int("n", n)
    if name == "mutual_knn":
        return inputs.check_k(k, n) / (n - 1)
    if name == "cka_unbiased":
        return 0.0
    return None


def _permutations(n: int, n_permutations: int, seed: int) -> list[np.ndarray]:
    """The row shuffles of a permutation baseline: a function of `seed` and n alone (own generator)."""
    rng = np.random.default_rng(seed)
    return [rng.permutation(n) for _ in range(n_permutations)]


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    values = np.asarray(values, dtype=np.float64)
    std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return float(values.mean()), std


def permutation_baseline(metric, z1, z2, n_permutations: int = 5, seed: int = 0,
                         **kwargs) -> tuple[float, float]:
    """Score of `z1` against row-shuffled `z2`: (mean, sample std) over `n_permutations` shuffles.

    Shuffling breaks the pairing but keeps each representation's own structure, so this is the score of
    unrelated representations with the same geometry. `metric` is a name in METRICS or a function
    `metric(z1, z2, **kwargs) -> float`; the shuffles depend only on `seed` and n. std is 0 for one shuffle.
    """
    n_permutations = check_positive_int("n_permutations", n_permutations)
    seed = check_seed("seed", seed)
    name = _metric_name(metric)
    function = _METRIC_FUNCTIONS[name] if name is not None else metric
    a, b = inputs.as_matrix("z1", z1), inputs.as_matrix("z2", z2)
    n = check_same_rows(z1=a, z2=b)
    return _mean_std([function(a, b[order], **kwargs) for order in _permutations(n, n_permutations, seed)])


def chance_levels(z1, z2, k: int = 10, svcca_dim: int = 10, seed: int = 0, n_permutations: int = 5,
                  summaries=None) -> dict[str, float]:
    """Score of unrelated representations for each metric of METRICS: analytic where known, else estimated.

    mutual_knn and cka_unbiased use `chance_level`; cka, cknna and svcca the mean of
    `permutation_baseline(metric, z1, z2, n_permutations, seed)` (same shuffles, hence the same values up to
    ties among neighbours), with neighbour searches and SVDs done once and relabelled for each shuffle.
    `summaries` (a `Summaries`) reuses those an earlier call on the same representations computed, such as
    `all_scores` given the same object; by default this call makes its own.
    """
    n_permutations = check_positive_int("n_permutations", n_permutations)
    seed = check_seed("seed", seed)
    a, b = summary_pair(z1, z2, k, svcca_dim, summaries)
    n = a.centred.shape[0]
    levels_per_shuffle = [scores(a, shuffled(b, order)) for order in _permutations(n, n_permutations, seed)]
    levels = {name: _mean_std([level[name] for level in levels_per_shuffle])[0] for name in METRICS}
    levels["mutual_knn"] = chance_level("mutual_knn", n, k)
    levels["cka_unbiased"] = chance_level("cka_unbiased", n, k)
    return levels
