"""What the metrics refuse (`metrics.inputs`): every bad input is a one-line ValueError naming the
parameter."""

from __future__ import annotations

import numpy as np
import pytest
from metric_references import SCORERS, gaussian

from alignbook.metrics import (
    all_scores,
    best_layer_scores,
    chance_level,
    cka,
    cknna,
    mutual_knn,
    pair_alignment,
    permutation_baseline,
    prepare,
    svcca,
)


@pytest.mark.parametrize("name", sorted(SCORERS))
def test_bad_inputs_raise_clear_errors(name):
    scorer = SCORERS[name]
    z = gaussian(20, 3, seed=12)
    with pytest.raises(ValueError, match="same number of rows"):
        scorer(z, z[:19])
    with_nan = z.copy()
    with_nan[3, 1] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        scorer(z, with_nan)
    with pytest.raises(ValueError, match="2-d"):
        scorer(z[:, 0], z)


def test_k_too_large_names_k():
    z = gaussian(10, 3, seed=13)
    for call in (lambda: mutual_knn(z, z, k=10), lambda: cknna(z, z, k=12), lambda: all_scores(z, z, k=10),
                 lambda: chance_level("mutual_knn", 10, k=10)):
        with pytest.raises(ValueError, match=r"^k: .*k = 1[02]"):
            call()
    with pytest.raises(ValueError, match="^k: "):
        mutual_knn(z, z, k=0)


def test_too_few_samples_and_bad_options():
    z = gaussian(12, 8, seed=14)
    with pytest.raises(ValueError, match="at least 4 examples"):
        cka(z[:3], z[:3], unbiased=True)
    with pytest.raises(ValueError, match="at least 4 examples"):
        cknna(z[:3], z[:3], k=2)
    for bad in (0, 1.5, -0.1, True, "0.9"):
        with pytest.raises(ValueError, match="^clip_quantile: "):
            prepare(z, clip_quantile=bad)
    with pytest.raises(ValueError, match="^layer: "):
        pair_alignment([z], [z], layer="first")
    with pytest.raises(ValueError, match="svcca keeps up to 8 \\+ 8 directions"):
        svcca(z, z, dim=10)
    with pytest.raises(ValueError, match="^kernel: "):
        cka(z, z, kernel="cosine")
    with pytest.raises(ValueError, match="^sigma: "):
        cka(z, z, kernel="rbf", sigma=-1.0)
    with pytest.raises(ValueError, match="^metric: "):
        permutation_baseline("procrustes", z, z)
    with pytest.raises(ValueError, match="^seed: "):
        permutation_baseline("cka", z, z, seed=-1)
    with pytest.raises(ValueError, match="layers1"):
        best_layer_scores([], [z])
