"""Intervals of estimated decompositions calibrated on other draws: the validation's estimates with them,
their coverage, the decomposition of data whose truth is unknown, and the verdict on their coverage."""

from __future__ import annotations

import itertools
from pathlib import Path

import jupytext
import pandas as pd
import pytest
from scipy import stats

from alignbook.analysis import load_protocol
from alignbook.chapters import pid_intervals, pid_validation
from alignbook.data import synthetic
from alignbook.info.intervals import error_bounds
from alignbook.info.learned import ClassifierSettings, Variant

ROOT = Path(__file__).resolve().parents[2]
OPTIONS = dict(kmeans_options=dict(n_clusters=4, n_bootstrap=5),  # small estimators, quick cells
               learned_options=dict(n_folds=3, n_codes=4, n_joint_codes=4, batch_atoms=64,
                                    classifier=ClassifierSettings(hidden=8, max_steps=20)))


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
    calibrated = pid_intervals.calibrate(validation_like(errors))
    summary = pid_validation.validation_summary(calibrated).set_index("estimator")
    assert summary.loc["codes/none", "mae_R"] == pytest.approx(0.05)
    assert summary.loc["kmeans", "fold_coverage"] == 0.0
    assert summary.loc["kmeans", "coverage"] == 1.0  # the shift of 0.3 is learned from the other draws
    assert summary.loc["codes/none", "cells"] == 6  # two levels, three draws
    chosen, ranking = pid_validation.choose_estimator(summary.reset_index(), 1000)
    assert chosen == "codes/none" and list(ranking.index) == ["codes/none", "kmeans"]
    with pytest.raises(ValueError, match="^n_samples:"):
        pid_validation.choose_estimator(summary.reset_index(), 5)
    table = pid_intervals.coverage_table(calibrated, by=["estimator"], target=0.9).set_index("estimator")
    assert table.loc["kmeans", ["cases", "held"]].tolist() == [6, 6]
    assert table.loc["kmeans", "p_below"] == pytest.approx(stats.binomtest(6, 6, 0.9, "less").pvalue)
    assert table.loc["kmeans", "mae"] == pytest.approx(0.3083, abs=1e-4)


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
    defaults = pid_intervals.calibrated_pid.compute.__kwdefaults__
    assert list(defaults["depths"]) == p["validation_depths"]
    assert list(defaults["redundancies"]) == p["validation_redundancies"]
    assert list(defaults["draws"]) == p["validation_draws"]


def test_calibrated_pid_rests_on_the_synthetic_errors_of_its_size(tmp_path, monkeypatch, one_thread):
    monkeypatch.setenv("ALIGNBOOK_CACHE", str(tmp_path))
    x1, x2, y = pid_validation.all_rows(synthetic.make_dataset(4, depth=1, n_samples=600, seed=9))
    found = pid_intervals.calibrated_pid(x1, x2, y, "batch", depths=[1], redundancies=[0, 4, 8],
                                         draws=[0, 1], **OPTIONS)
    reference, _ = pid_validation.validation_table(
        pid_validation.validation_cells([600], [1], [0, 4, 8], [8], [0, 1]), progress=False,
        variants=(Variant("batch"),), **OPTIONS)
    errors = reference[(reference["estimator"] == "batch") & (reference["quantity"] == "R")]["error"]
    low, high = error_bounds(errors, 0.95)
    assert found.interval["R"] == pytest.approx((found.point["R"] - high, found.point["R"] - low))
    assert found.references == 6 and found.settings["n_samples"] == 600
    assert 0 <= found.coverage["R"] <= 1
    table = pid_intervals.calibrated_pid_table(
        {"a": synthetic.make_dataset(4, depth=1, n_samples=600, seed=9)}, "batch", depths=[1],
        redundancies=[0, 4, 8], draws=[0, 1], **OPTIONS)
    assert table.loc["a", "R"] == pytest.approx(found.point["R"])
    assert table.loc["a", "redundancy_fraction"] == pytest.approx(found.point["R"] / found.point["I12"])




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
    row = pid_intervals.coverage_claim(spec, coverage_rows(held, cases), keys=["n_samples"], ci=0.95)
    assert row["verdict"] == verdict and row["key"] == "pid_raw" and row["cases"] == 2
    assert "n_samples=1,000" in row["ours"] and row["ours"].count("; ") == 2  # a summary, then one per case
    with pytest.raises(ValueError, match="^spec:"):
        pid_intervals.coverage_claim(load_protocol().claim("rises"), coverage_rows(held, cases),
                                     keys=["n_samples"], ci=0.95)
