"""The analysis chapter's decompositions: exact and estimated tables, the estimators' validation (cells,
cache, options) and a claim's row from counts."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alignbook.analysis import load_protocol
from alignbook.chapters import pid_validation
from alignbook.data import synthetic
from alignbook.info.learned import ClassifierSettings, Variant
from alignbook.storage import deps, memo

ROOT = Path(__file__).resolve().parents[2]

TINY = dict(kmeans_options=dict(n_clusters=4, n_bootstrap=5),
            learned_options=dict(n_folds=3, n_codes=4, n_joint_codes=4, batch_atoms=64,
                                 classifier=ClassifierSettings(hidden=8, max_steps=20)),
            variants=(Variant("codes", "none"), Variant("batch")))

# ------------------------------------------------------------------------------------ exact and estimated


def test_exact_pid_table_matches_exact_info_and_adds_fractions():
    table = pid_validation.exact_pid_table([0, 8])
    assert list(table.index) == [0, 8]
    exact = synthetic.exact_info(0)
    assert table.loc[0, "R"] == pytest.approx(exact["pid_redundancy"])
    assert table.loc[0, "S"] == pytest.approx(exact["pid_synergy"])
    parts = table[["R", "U1", "U2", "S"]].sum(axis=1)
    np.testing.assert_allclose(parts, table["I12"], atol=1e-4)  # the parts add up to the total
    assert table.loc[8, "redundancy_fraction"] == pytest.approx(1.0, abs=1e-4)
    assert table.loc[0, "shared_bits"] == 0 and table.loc[8, "shared_bits"] == 1
    assert (table.loc[0, "u1"], table.loc[0, "u2"]) == (4, 4)


def copy_samples(n=4000, seed=0):
    """x2 a noisy copy of x1 and y = x1 (four classes): all information is redundant."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    x1 = np.eye(4)[y] + rng.normal(0, 0.05, (n, 4))
    x2 = np.eye(4)[y] + rng.normal(0, 0.05, (n, 4))
    return x1, x2, y


def test_estimate_table_recovers_pure_redundancy_case_by_case():
    exact = pd.DataFrame({"R": [np.log(4)], "U1": [0.0], "U2": [0.0], "S": [0.0], "I12": [np.log(4)]},
                         index=[7])
    samples = {(7, 0): copy_samples(seed=0), (7, 1): copy_samples(seed=1)}
    table = pid_validation.estimate_table(samples, exact, "raw", method="kmeans", n_clusters=4,
                                          n_bootstrap=20)
    assert len(table) == 2 * 5 and set(table["draw"]) == {0, 1}
    rows = table[table["quantity"] == "R"]
    assert rows["estimate"].to_numpy() == pytest.approx([np.log(4)] * 2, abs=0.02)
    assert np.allclose(table["error"], table["estimate"] - table["exact"])
    assert table["covered"].dtype == bool and (table["source"] == "raw").all()


def test_sensitivity_table_has_one_row_per_cluster_count_and_quantity():
    x1, x2, y = copy_samples(600)
    exact = {"R": 1.0, "U1": 0.0, "U2": 0.0, "S": 0.0, "I12": 1.0}
    table = pid_validation.sensitivity_table(x1, x2, y, [2, 4], exact, n_bootstrap=0)
    assert len(table) == 10 and sorted(set(table["n_clusters"])) == [2, 4]
    assert (table["exact"] == table["quantity"].map(exact)).all()


# ------------------------------------------------------------------------------------------- validation


def test_cells_give_the_largest_size_its_own_levels_and_every_draw():
    cells = pid_validation.validation_cells([2000, 500], [1], [0, 8], [8], draws=[0, 3])
    assert cells == [(500, 1, 0, 0), (500, 1, 0, 3), (500, 1, 8, 0), (500, 1, 8, 3), (2000, 1, 8, 0),
                     (2000, 1, 8, 3)]
    assert pid_validation.validation_cells([500], [1], [0, 8], [8]) == [(500, 1, 0, 0), (500, 1, 8, 0)]


@pytest.mark.parametrize("args, param", [
    (([], [1], [0], [0]), "validation_sizes"),
    (([500], [1], [9], [0]), "validation_redundancies"),
    (([500], [-1], [0], [0]), "validation_depths"),
    (([500], [1], [0], "0"), "largest_size_redundancies"),
    (([500], [1], [0], [0], [0, 0]), "validation_draws"),
])
def test_bad_cells_are_refused_by_name(args, param):
    with pytest.raises(ValueError, match=f"^{param}:"):
        pid_validation.validation_cells(*args)


def test_table_is_cached_read_back_unchanged_and_varies_the_draw(tmp_path, monkeypatch, one_thread):
    monkeypatch.setenv("ALIGNBOOK_CACHE", str(tmp_path))
    cells = [(600, 1, 8, 0), (600, 1, 8, 1)]
    first, counts = pid_validation.validation_table(cells, progress=False, **TINY)
    assert counts["computed"] == 2 and counts["cached"] == 0
    again, counts = pid_validation.validation_table(cells, progress=False, **TINY)
    assert counts["computed"] == 0 and counts["cached"] == 2
    pd.testing.assert_frame_equal(first, again)
    assert sorted(first["estimator"].unique()) == ["batch", "codes/none", "kmeans"]
    assert len(first) == 2 * 3 * 5  # two draws, three estimators, five quantities
    assert np.allclose(first[first["quantity"] == "R"]["exact"], 1.1588, atol=1e-4)  # r = 8: R = I12
    by_draw = first[first["quantity"] == "R"].pivot(index="estimator", columns="data_seed", values="estimate")
    assert (by_draw[0] != by_draw[1]).all()  # another draw of the data, another estimate


def test_a_cell_is_keyed_by_the_code_of_the_estimators_and_the_generator():
    reached = deps.relative_names(deps.dependencies(pid_validation.validation_cell.__module__))
    for module in ("chapters/pid_validation.py", "info/learned.py", "info/estimate.py", "info/exact.py",
                   "data/synthetic.py"):
        assert module in reached, (module, reached)


@pytest.mark.parametrize("damage", ["edited", "other_cell"])
def test_a_tampered_cell_is_computed_again_not_served(tmp_path, monkeypatch, one_thread, damage, caplog):
    monkeypatch.setenv("ALIGNBOOK_CACHE", str(tmp_path))
    cells = [(600, 1, 8, 0), (600, 1, 0, 0)]  # asked for r = 8, another file could show r = 0
    first, _ = pid_validation.validation_table(cells, progress=False, **TINY)
    stored = sorted((tmp_path / memo.FOLDER).rglob("*.json"), key=lambda p: p.stat().st_mtime_ns)
    target, other = stored[0], stored[1]
    data = target.read_bytes()
    if damage == "edited":  # one character of the stored numbers changed, the file otherwise intact
        middle = data.index(b'"payload": "') + 60
        changed = b"A" if data[middle:middle + 1] != b"A" else b"B"
        target.write_bytes(data[:middle] + changed + data[middle + 1:])
    else:
        target.write_bytes(other.read_bytes())
    with caplog.at_level(logging.WARNING, logger="alignbook"):
        again, counts = pid_validation.validation_table(cells, progress=False, **TINY)
    assert counts["computed"] == 1 and counts["cached"] == 1 and "unreadable" in caplog.text
    timing = [c for c in first.columns if "seconds" in c]  # the recomputed cell's own time
    pd.testing.assert_frame_equal(first.drop(columns=timing), again.drop(columns=timing))


def test_estimator_options_and_settings():
    assert pid_validation.estimator_options("codes/split", learned_options={"n_folds": 3}) == {
        "method": "codes", "bias_correction": "split", "n_folds": 3}
    assert pid_validation.estimator_options("batch", learned_options={"n_folds": 3}) == {
        "method": "batch", "n_folds": 3}
    assert pid_validation.estimator_options("kmeans", {"n_clusters": 4}) == {"method": "kmeans",
                                                                             "n_clusters": 4}
    kmeans, learned = pid_validation.estimator_settings(n_clusters=5, classifier_steps=7)
    assert kmeans["n_clusters"] == 5 and learned["classifier"].max_steps == 7


def test_counted_claim_has_the_columns_of_every_claim_row():
    spec = load_protocol().claim("pid_predicts")
    row = pid_validation.counted_claim(spec, "expected", "ours", agree=0, opposed=1, cases=1)
    assert row["verdict"] == "contradicted" and row["claim"] == spec.wording and math.isnan(row["mde"])
    assert set(row) >= {"key", "source", "agree", "cases", "opposed", "untestable", "alpha", "correction"}
