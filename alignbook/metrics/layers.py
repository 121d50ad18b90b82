"""The measurement of a run's two encoders: alignment over pairs of layers, and what a trainer records.

`best_layer_scores` searches all pairs of layers for each metric's best score; `pair_alignment` is what a
trainer does after each run: prepare every layer as Huh et al. do, score the last layers (or the best pair)
and estimate chance levels, sharing one `Summaries` between the two steps so that each representation's
neighbour search and SVD is done once.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

from alignbook.checks import check_positive_int, check_same_rows, fail
from alignbook.metrics import inputs
from alignbook.metrics.chance import chance_levels
from alignbook.metrics.similarity import all_scores
from alignbook.metrics.summary import METRICS, Summaries, check_summaries, scores

# `prepare`'s default: the reference clips every layer at its 95 % absolute-value quantile
CLIP_QUANTILE = 0.95


def best_layer_scores(layers1: Sequence, layers2: Sequence, k: int = 10, svcca_dim: int = 10,
                      summaries=None) -> dict[str, float]:
    """For each metric, the best score over all pairs of layers and the pair of layers that reaches it.

    `layers1[i]` and `layers2[j]` are representations (n, d_i) of the same n examples by layer i of the first
    encoder and layer j of the second, measured as given. The result is flat, scalars only, so it can stand
    in for `all_scores` in a results table: `{metric: best score, f"{metric}_layer1": i,
    f"{metric}_layer2": j}` for each metric of METRICS. NaN scores (a constant layer) are skipped; a metric
    that is NaN for every pair gets NaN for its score and both layers. Each layer's neighbour search and SVD
    is done once, not once per pair; `summaries` (a `Summaries`) keeps them for later calls.
    """
    svcca_dim = check_positive_int("svcca_dim", svcca_dim)
    summaries = check_summaries(summaries)
    matrices = [inputs.layer_matrices("layers1", layers1), inputs.layer_matrices("layers2", layers2)]
    named = {f"layers{m + 1}[{i}]": z for m, group in enumerate(matrices) for i, z in enumerate(group)}
    n = check_same_rows(**named)
    if n < 4:
        fail("layers1/layers2", f"need at least 4 examples (rows), got {n}")
    k = inputs.check_k(k, n)
    widest1, widest2 = (max(z.shape[1] for z in group) for group in matrices)
    inputs.check_svcca_rows(n, svcca_dim, widest1, widest2)
    group1, group2 = ([summaries.get(z, k, svcca_dim) for z in group] for group in matrices)
    best: dict[str, float] = {}
    for name in METRICS:
        best.update({name: float("nan"), f"{name}_layer1": float("nan"), f"{name}_layer2": float("nan")})
    for i, rep1 in enumerate(group1):
        for j, rep2 in enumerate(group2):
            for name, score in scores(rep1, rep2).items():
                if not math.isnan(score) and not score <= best[name]:  # the first pair beats NaN
                    best.update({name: score, f"{name}_layer1": i, f"{name}_layer2": j})
    return best


def pair_alignment(layers1: Sequence, layers2: Sequence, layer: str = "last", k: int = 10,
                   svcca_dim: int = 10, seed: int = 0) -> tuple[dict[str, float], dict[str, float]]:
    """What a trainer records after a run: alignment scores and chance levels of two encoders' layers.

    `layers1`/`layers2` are each encoder's per-layer representations of the same test examples, the last one
    its output z. Every layer is first `prepare`d (clipped at its 95 % absolute-value quantile, rows scaled
    to unit length), as Huh et al. measure. `layer="last"` scores z1 against z2 (`all_scores`), `"best"`
    the best pair of layers (`best_layer_scores`); chance levels are always those of the last layer. On a
    small test split `k` and `svcca_dim` shrink to what n examples support (with a warning), so a tiny
    dataset still gets scores. Both dicts list the metrics in the order of METRICS. Each representation's
    neighbour search and SVD is done once for both, and kept for this call only.
    """
    if layer not in ("last", "best"):
        fail("layer", f"must be 'last' or 'best', got {layer!r}")
    matrices = [[inputs.clipped_unit_rows(f"{param}[{i}]", z, CLIP_QUANTILE) for i, z in enumerate(layers)]
                for param, layers in (("layers1", layers1[-1:] if layer == "last" else layers1),
                                      ("layers2", layers2[-1:] if layer == "last" else layers2))]
    n = int(matrices[0][-1].shape[0])
    k_used = max(1, min(k, n - 1))
    dim_used = max(1, min(svcca_dim, (n - 1) // 2))
    if (k_used, dim_used) != (k, svcca_dim):
        warnings.warn(f"only {n} test examples: alignment measured with k = {k_used} (asked {k}) and svcca "
                      f"dim = {dim_used} (asked {svcca_dim})", stacklevel=2)
    z1, z2 = matrices[0][-1], matrices[1][-1]
    summaries = Summaries()
    if layer == "last":
        alignment = all_scores(z1, z2, k=k_used, svcca_dim=dim_used, summaries=summaries)
    else:
        alignment = best_layer_scores(*matrices, k=k_used, svcca_dim=dim_used, summaries=summaries)
    return alignment, chance_levels(z1, z2, k=k_used, svcca_dim=dim_used, seed=seed, summaries=summaries)
