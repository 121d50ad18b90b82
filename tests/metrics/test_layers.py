"""Alignment over pairs of layers and the measurement a trainer records (`metrics.layers`)."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from metric_references import gaussian, related_pair

from alignbook.metrics import (
    METRICS,
    all_scores,
    best_layer_scores,
    chance_levels,
    kernels,
    pair_alignment,
    prepare,
)


def test_best_layer_scores_finds_the_matching_pair():
    z = gaussian(150, 6, seed=7)
    layers1 = [gaussian(150, 5, seed=8), z]
    layers2 = [2.0 * z[:, ::-1], gaussian(150, 4, seed=10), np.zeros((150, 3))]
    best = best_layer_scores(layers1, layers2, k=5, svcca_dim=4)
    assert set(best) == {f"{name}{suffix}" for name in METRICS for suffix in ("", "_layer1", "_layer2")}
    for name in METRICS:
        assert (best[f"{name}_layer1"], best[f"{name}_layer2"]) == (1, 0), name
        assert best[name] == pytest.approx(1.0, abs=1e-10), name
    # A single pair of layers gives all_scores; an all-constant layer pair gives NaN everywhere.
    single = best_layer_scores([z], [layers2[1]], k=5, svcca_dim=4)
    assert {name: single[name] for name in METRICS} == all_scores(z, layers2[1], k=5, svcca_dim=4)
    assert all(math.isnan(value) for value in best_layer_scores([z], [layers2[2]], k=5, svcca_dim=2).values())


def layered_pair(n=120, seed=20):
    """Two encoders' layers of the same examples: a raw layer each, then related outputs."""
    z1, z2 = related_pair(n=n, d1=6, d2=9, seed=seed)
    return [gaussian(n, 5, seed=seed + 1), z1], [gaussian(n, 4, seed=seed + 2), z2]


def test_pair_alignment_measures_prepared_layers():
    layers1, layers2 = layered_pair()
    z1, z2 = prepare(layers1[-1]), prepare(layers2[-1])
    scores, chance = pair_alignment(layers1, layers2, "last", k=5, svcca_dim=3, seed=4)
    assert scores == all_scores(z1, z2, k=5, svcca_dim=3)  # exactly: the same computation
    assert chance == chance_levels(z1, z2, k=5, svcca_dim=3, seed=4)
    assert list(scores) == list(chance) == list(METRICS)
    best, best_chance = pair_alignment(layers1, layers2, "best", k=5, svcca_dim=3, seed=4)
    assert best == best_layer_scores([prepare(z) for z in layers1], [prepare(z) for z in layers2], k=5,
                                     svcca_dim=3)
    assert best_chance == chance
    assert best["svcca"] >= scores["svcca"] and (best["svcca_layer1"], best["svcca_layer2"]) == (1, 1)


def test_pair_alignment_shrinks_k_and_dim_on_a_small_split():
    layers1, layers2 = layered_pair(n=9)
    with pytest.warns(UserWarning, match=r"only 9 test examples: .*k = 8 \(asked 10\).*dim = 4 \(asked 10\)"):
        scores, chance = pair_alignment(layers1, layers2)
    z1, z2 = prepare(layers1[-1]), prepare(layers2[-1])
    assert scores == all_scores(z1, z2, k=8, svcca_dim=4)
    assert chance["mutual_knn"] == 1.0  # k = n - 1: every other example is a neighbour


def test_pair_alignment_searches_each_representation_once(monkeypatch):
    searched = []
    search = kernels.neighbours

    def counted(x, k, block_rows=None):
        searched.append(x.shape)
        return search(x, k, block_rows)

    monkeypatch.setattr(kernels, "neighbours", counted)
    layers1, layers2 = layered_pair()
    pair_alignment(layers1, layers2, "last", k=5, svcca_dim=3)
    assert searched == [(120, 6), (120, 9)]  # scores and chance levels share them
    searched.clear()
    pair_alignment(layers1, layers2, "last", k=5, svcca_dim=3)
    assert len(searched) == 2  # nothing kept from the call before
    searched.clear()
    pair_alignment(layers1, layers2, "best", k=5, svcca_dim=3)
    assert sorted(searched) == sorted([(120, 5), (120, 6), (120, 4), (120, 9)])


def test_pair_alignment_does_not_depend_on_call_history_or_threads():
    pairs = [layered_pair(seed=seed) for seed in (30, 40, 50, 60)]
    alone = [pair_alignment(*pair, k=5, svcca_dim=3, seed=1) for pair in pairs]
    assert pair_alignment(*pairs[0], k=5, svcca_dim=3, seed=1) == alone[0]  # after the others
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(lambda pair: pair_alignment(*pair, k=5, svcca_dim=3, seed=1), pairs * 2))
    assert together == alone * 2
