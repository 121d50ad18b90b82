"""The estimator validation of the analysis chapter: its cells, its cache, its summary and its choice."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alignbook.chapters import pid_validation
from alignbook.info.learned import ClassifierSettings, Variant

TINY = dict(kmeans_options=dict(n_clusters=4, n_bootstrap=5),
            learned_options=dict(n_folds=3, n_codes=4, n_joint_codes=4, batch_atoms=64,
                                 classifier=ClassifierSettings(hidden=8, max_steps=20)),
            variants=(Variant("codes", "none"), Variant("batch")))


def test_cells_give_the_largest_size_its_own_levels():
    cells = pid_validation.validation_cells([2000, 500], [1, 3], [0, 4, 8], [8])
    assert cells == [(500, 1, 0), (500, 1, 4), (500, 1, 8), (500, 3, 0), (500, 3, 4), (500, 3, 8),
                     (2000, 1, 8), (2000, 3, 8)]
    assert pid_validation.validation_cells([500], [1], [0, 8], [8]) == [(500, 1, 0), (500, 1, 8)]


@pytest.mark.parametrize("args, param", [
    (([], [1], [0], [0]), "validation_sizes"),
    (([500], [1], [9], [0]), "validation_redundancies"),
    (([500], [-1], [0], [0]), "validation_depths"),
    (([500], [1], [0], "0"), "largest_size_redundancies"),
])
def test_bad_cells_are_refused_by_name(args, param):
    with pytest.raises(ValueError, match=f"^{param}:"):
        pid_validation.validation_cells(*args)


def test_table_is_cached_and_read_back_unchanged(tmp_path, monkeypatch, one_thread):
    monkeypatch.setenv("ALIGNBOOK_CACHE", str(tmp_path))
    cells = [(600, 1, 8)]
    first, counts = pid_validation.validation_table(cells, progress=False, **TINY)
    assert counts["computed"] == 1 and counts["cached"] == 0
    again, counts = pid_validation.validation_table(cells, progress=False, **TINY)
    assert counts["computed"] == 0 and counts["cached"] == 1
    pd.testing.assert_frame_equal(first, again)
    assert sorted(first["estimator"].unique()) == ["batch", "codes/none", "kmeans"]
    assert len(first) == 3 * 5  # three estimators, five quantities
    exact = first[first["quantity"] == "R"]["exact"]
    assert np.allclose(exact, 1.1588, atol=1e-4)  # r = 8: every bit is shared, R = I12
    assert np.allclose(first["error"], first["estimate"] - first["exact"])
    other = dict(TINY, kmeans_options=dict(n_clusters=5, n_bootstrap=5))
    _, counts = pid_validation.validation_table(cells, progress=False, **other)
    assert counts["computed"] == 1  # another configuration is another cache entry


def test_summary_and_choice_follow_the_errors():
    rows = []
    for estimator, error in (("kmeans", 0.3), ("codes/none", 0.05), ("batch", 0.1)):
        for quantity in ("R", "U1", "U2", "S", "I12"):
            rows.append({"estimator": estimator, "n_samples": 1000, "depth": 1, "redundancy": 0,
                         "quantity": quantity, "error": -error, "covered": estimator == "batch",
                         "cpu_seconds": 2.0})
    summary = pid_validation.validation_summary(pd.DataFrame(rows))
    assert summary.set_index("estimator").loc["codes/none", "mae_R"] == pytest.approx(0.05)
    assert summary.set_index("estimator").loc["batch", "coverage"] == 1.0
    chosen, ranking = pid_validation.choose_estimator(summary, 1000)
    assert chosen == "codes/none" and list(ranking.index) == ["codes/none", "batch", "kmeans"]
    with pytest.raises(ValueError, match="^n_samples:"):
        pid_validation.choose_estimator(summary, 5)
    assert pid_validation.estimator_options("codes/split", learned_options={"n_folds": 3}) == {
        "method": "codes", "bias_correction": "split", "n_folds": 3}
    assert pid_validation.estimator_options("batch", learned_options={"n_folds": 3}) == {
        "method": "batch", "n_folds": 3}
    kmeans = pid_validation.estimator_options("kmeans", {"n_clusters": 4})
    assert kmeans == {"method": "kmeans", "n_clusters": 4}
