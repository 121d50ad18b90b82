"""The analysis chapter's decompositions: exact and estimated tables, the estimators' validation (cells,
cache, summary, choice), intervals calibrated on other draws, and the verdict on their coverage."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import jupytext
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from alignbook.analysis import load_protocol
from alignbook.chapters import pid_validation
from alignbook.data import synthetic
from alignbook.info.intervals import error_bounds
from alignbook.info.learned import ClassifierSettings, Variant

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


def validation_like(errors, n_samples=1000, exact=0.5):
    """Rows like `validation_table`'s: `errors[estimator][draw]` lists the errors of that draw's levels,
    the same for every quantity."""
    rows = []
    for estimator, draws in errors.items():
        for draw, values in draws.items():
            for (level, error), quantity in itertools.product(enumerate(values), pid_validation.QUANTITIES):
                rows.append({"estimator": estimator, "n_samples": n_samples, "depth": 1, "redundancy": level,
                             "data_seed": draw, "quantity": quantity, "estimate": exact + error,
                             "low": exact + error - 0.01, "high": exact + error + 0.01, "exact": exact,
                             "error": error, "covered": abs(error) <= 0.01, "cpu_seconds": 1.0})
    return pd.DataFrame(rows)


def test_summary_choice_and_coverage_follow_the_errors():
    errors = {"kmeans": {0: [0.30, 0.31], 1: [0.32, 0.29], 2: [0.30, 0.33]},
              "codes/none": {0: [0.05, -0.05], 1: [0.06, -0.04], 2: [0.04, -0.06]}}
    calibrated = pid_validation.calibrate(validation_like(errors))
    summary = pid_validation.validation_summary(calibrated).set_index("estimator")
    assert summary.loc["codes/none", "mae_R"] == pytest.approx(0.05)
    assert summary.loc["kmeans", "fold_coverage"] == 0.0
    assert summary.loc["kmeans", "coverage"] == 1.0  # the shift of 0.3 is learned from the other draws
    assert summary.loc["codes/none", "cells"] == 6  # two levels, three draws
    chosen, ranking = pid_validation.choose_estimator(summary.reset_index(), 1000)
    assert chosen == "codes/none" and list(ranking.index) == ["codes/none", "kmeans"]
    with pytest.raises(ValueError, match="^n_samples:"):
        pid_validation.choose_estimator(summary.reset_index(), 5)
    table = pid_validation.coverage_table(calibrated, by=["estimator"], target=0.9).set_index("estimator")
    assert table.loc["kmeans", ["cases", "held"]].tolist() == [6, 6]
    assert table.loc["kmeans", "p_below"] == pytest.approx(stats.binomtest(6, 6, 0.9, "less").pvalue)
    assert table.loc["kmeans", "mae"] == pytest.approx(0.3083, abs=1e-4)


def test_estimator_options_and_settings():
    assert pid_validation.estimator_options("codes/split", learned_options={"n_folds": 3}) == {
        "method": "codes", "bias_correction": "split", "n_folds": 3}
    assert pid_validation.estimator_options("batch", learned_options={"n_folds": 3}) == {
        "method": "batch", "n_folds": 3}
    assert pid_validation.estimator_options("kmeans", {"n_clusters": 4}) == {"method": "kmeans",
                                                                             "n_clusters": 4}
    kmeans, learned = pid_validation.estimator_settings(n_clusters=5, classifier_steps=7)
    assert kmeans["n_clusters"] == 5 and learned["classifier"].max_steps == 7


def test_default_settings_are_the_chapters_so_that_calibrated_pid_shares_its_cells():
    notebook = jupytext.read(ROOT / "notebooks" / "06_analysis.md")
    cell = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    p: dict = {}
    exec(cell.source, {}, p)
    chapter = pid_validation.estimator_settings(
        n_clusters=p["n_clusters"], n_components=p["n_components"], n_bootstrap=p["validation_bootstrap"],
        n_folds=p["n_folds"], n_codes=p["n_codes"], n_joint_codes=p["n_joint_codes"],
        classifier_steps=p["classifier_steps"], seed=p["seed"])
    assert chapter == pid_validation.estimator_settings()
    defaults = pid_validation.calibrated_pid.compute.__kwdefaults__
    assert list(defaults["depths"]) == p["validation_depths"]
    assert list(defaults["redundancies"]) == p["validation_redundancies"]
    assert list(defaults["draws"]) == p["validation_draws"]


def test_calibrated_pid_rests_on_the_synthetic_errors_of_its_size(tmp_path, monkeypatch, one_thread):
    monkeypatch.setenv("ALIGNBOOK_CACHE", str(tmp_path))
    options = dict(kmeans_options=TINY["kmeans_options"], learned_options=TINY["learned_options"])
    x1, x2, y = pid_validation.all_rows(synthetic.make_dataset(4, depth=1, n_samples=600, seed=9))
    found = pid_validation.calibrated_pid(x1, x2, y, "batch", depths=[1], redundancies=[0, 4, 8],
                                          draws=[0, 1], **options)
    reference, _ = pid_validation.validation_table(
        pid_validation.validation_cells([600], [1], [0, 4, 8], [8], [0, 1]), progress=False,
        variants=(Variant("batch"),), **options)
    errors = reference[(reference["estimator"] == "batch") & (reference["quantity"] == "R")]["error"]
    low, high = error_bounds(errors, 0.95)
    assert found.interval["R"] == pytest.approx((found.point["R"] - high, found.point["R"] - low))
    assert found.references == 6 and found.settings["n_samples"] == 600
    assert 0 <= found.coverage["R"] <= 1
    table = pid_validation.calibrated_pid_table(
        {"a": synthetic.make_dataset(4, depth=1, n_samples=600, seed=9)}, "batch", depths=[1],
        redundancies=[0, 4, 8], draws=[0, 1], **options)
    assert table.loc["a", "R"] == pytest.approx(found.point["R"])
    assert table.loc["a", "redundancy_fraction"] == pytest.approx(found.point["R"] / found.point["I12"])


# ---------------------------------------------------------------------------------------------- verdicts


def coverage_rows(held, cases, own=0.3):
    pairs = enumerate(zip(held, cases, strict=True))
    return pd.DataFrame([{"n_samples": 1000 * (i + 1), "cases": c, "held": h, "coverage": h / c,
                          "own_coverage": own, "p_below": stats.binomtest(h, c, 0.9, "less").pvalue,
                          "mae": 0.05, "width": 0.2} for i, (h, c) in pairs])


@pytest.mark.parametrize("held, cases, verdict", [
    ([50, 48], [50, 50], "confirmed"),  # 0.96 and 0.96: both at least 0.90
    ([50, 40], [50, 50], "partly confirmed"),  # 0.80 at the second size: a binomial test rejects 0.90
    ([30, 35], [50, 50], "contradicted"),  # both far below
    ([44, 43], [50, 50], "not confirmed"),  # 0.88, 0.86: below 0.90, not significantly
])
def test_coverage_claim_holds_at_ninety_percent_and_is_opposed_by_a_binomial_test(held, cases, verdict):
    spec = load_protocol().claim("pid_raw")
    row = pid_validation.coverage_claim(spec, coverage_rows(held, cases), keys=["n_samples"], ci=0.95)
    assert row["verdict"] == verdict and row["key"] == "pid_raw" and row["cases"] == 2
    assert "n_samples=1,000" in row["ours"] and row["ours"].count("; ") == 2  # a summary, then one per case
    with pytest.raises(ValueError, match="^spec:"):
        pid_validation.coverage_claim(load_protocol().claim("rises"), coverage_rows(held, cases),
                                      keys=["n_samples"], ci=0.95)


def test_counted_claim_has_the_columns_of_every_claim_row():
    spec = load_protocol().claim("pid_predicts")
    row = pid_validation.counted_claim(spec, "expected", "ours", agree=0, opposed=1, cases=1)
    assert row["verdict"] == "contradicted" and row["claim"] == spec.wording and math.isnan(row["mde"])
    assert set(row) >= {"key", "source", "agree", "cases", "opposed", "untestable", "alpha", "correction"}
