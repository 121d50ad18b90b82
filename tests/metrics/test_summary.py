"""The summaries every metric shares (`metrics.summary`): a `Summaries` object reuses what it computed for
the same content and only that, and a summary cannot be changed by those it is handed to."""

from __future__ import annotations

import numpy as np
import pytest
from metric_references import related_pair

from alignbook.metrics import Summaries, all_scores, best_layer_scores, chance_levels


def test_summaries_are_reused_for_the_same_representations_only():
    z1, z2 = related_pair(seed=21)
    summaries = Summaries()
    scores = all_scores(z1, z2, k=5, svcca_dim=4, summaries=summaries)
    assert len(summaries) == 2 and scores == all_scores(z1, z2, k=5, svcca_dim=4)
    levels = chance_levels(z1, z2, k=5, svcca_dim=4, summaries=summaries)
    assert len(summaries) == 2 and levels == chance_levels(z1, z2, k=5, svcca_dim=4)
    best = best_layer_scores([z1], [z2.astype(np.float32), z2], k=5, svcca_dim=4, summaries=summaries)
    assert len(summaries) == 3  # the float32 copy has other content; z1 and z2 are known
    assert best == best_layer_scores([z1], [z2.astype(np.float32), z2], k=5, svcca_dim=4)
    all_scores(z1, z2, k=6, svcca_dim=4, summaries=summaries)
    assert len(summaries) == 5  # another k is another summary


def test_an_array_changed_in_place_is_summarised_anew():
    z1, z2 = related_pair(seed=22)
    summaries = Summaries()
    before = all_scores(z1, z2, k=5, svcca_dim=4, summaries=summaries)
    z2[:, 0] = -z2[:, 0] + 3.0 * z2[:, 1]
    after = all_scores(z1, z2, k=5, svcca_dim=4, summaries=summaries)
    assert len(summaries) == 3 and after == all_scores(z1, z2, k=5, svcca_dim=4) and after != before


def test_a_summary_is_read_only():
    z1, _ = related_pair(seed=23)
    summary = Summaries().get(z1, 5, 4)
    for array in (summary.centred, summary.neighbours, summary.similarities, summary.basis):
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 0


def test_summaries_must_be_a_summaries_object():
    z1, z2 = related_pair(seed=24)
    with pytest.raises(ValueError, match="^summaries: expected a metrics.Summaries or None, got dict"):
        all_scores(z1, z2, k=5, summaries={})
