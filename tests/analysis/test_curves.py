"""Curve summaries and the per-cell matrices, on constructed tables whose answers are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alignbook import analysis
from alignbook.analysis.curves import argmax_smallest

LAMS = np.round(np.arange(0.0, 2.01, 0.2), 2)
CURVES = {0: lambda lam: 0.80 - 0.05 * lam, 4: lambda lam: 0.70 + 0.24 * lam - 0.20 * lam**2}


def make_table(curves=CURVES, seeds=5, noise=0.004, rng_seed=1) -> pd.DataFrame:
    """A tidy sweep table (a row per level, seed, lam, encoder)."""
    rng = np.random.default_rng(rng_seed)
    rows = []
    for level, curve in curves.items():
        for seed in range(seeds):
            for lam in LAMS:
                alignment = 0.1 + 0.2 * lam + rng.normal(0, 0.01)
                for encoder in (1, 2):
                    rows.append(dict(dataset="synthetic", redundancy=level, lam=float(lam), seed=seed,
                                     encoder=encoder, acc=curve(lam) + rng.normal(0, noise),
                                     val_acc=curve(lam) + rng.normal(0, noise), status="ok",
                                     align_mutual_knn=alignment))
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return make_table()


def test_curve_summary_means_and_t_interval(table):
    summary = analysis.curve_summary(table, by=("dataset", "redundancy"))
    assert len(summary) == len(CURVES) * len(LAMS) * 2
    row = summary[(summary.redundancy == 4) & (summary.encoder == 1) & (summary.lam == 0.6)].iloc[0]
    values = table[(table.redundancy == 4) & (table.encoder == 1) & (table.lam == 0.6)]["acc"]
    assert row["mean"] == pytest.approx(values.mean())
    assert row["std"] == pytest.approx(values.std(ddof=1))
    assert row["n"] == 5 and row["metric"] == "acc"
    half = 2.7764451051977987 * values.std(ddof=1) / np.sqrt(5)  # t(0.975, 4)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((values.mean() - half, values.mean() + half))


def test_curve_summary_bootstrap_is_seeded(table):
    first = analysis.curve_summary(table, by="redundancy", method="bootstrap", n_bootstrap=200, seed=3)
    again = analysis.curve_summary(table, by="redundancy", method="bootstrap", n_bootstrap=200, seed=3)
    pd.testing.assert_frame_equal(first, again)
    assert (first["ci_low"] <= first["mean"]).all() and (first["mean"] <= first["ci_high"]).all()


def test_t_interval_coverage_is_near_nominal():
    # 400 tables of 5 normal seeds with known mean 0.5: the 95 % t-interval should cover about 95 %
    rng = np.random.default_rng(0)
    values = rng.normal(0.5, 0.02, size=(400, 5))
    frame = pd.DataFrame({"group": np.repeat(np.arange(400), 5), "encoder": 1, "lam": 0.0,
                          "seed": np.tile(np.arange(5), 400), "acc": values.ravel()})
    summary = analysis.curve_summary(frame, by="group")
    coverage = ((summary.ci_low <= 0.5) & (0.5 <= summary.ci_high)).mean()
    assert 0.91 <= coverage <= 0.98


def test_argmax_smallest_breaks_ties_to_the_smallest_lam_and_ignores_nan():
    assert argmax_smallest(np.array([0.7, 0.8, 0.8])) == 1
    assert argmax_smallest(np.array([0.7, 0.8, 0.8 + 1e-15])) == 1  # equal to rounding
    assert argmax_smallest(np.array([np.nan, 0.1, 0.3])) == 2
    assert argmax_smallest(np.array([[1.0, 2.0], [3.0, 3.0]])).tolist() == [1, 0]


def test_cell_matrices_lay_out_seeds_by_lams(table):
    cells, n_failed = analysis.cell_matrices(table, by="redundancy")
    assert n_failed == 0 and len(cells) == 4
    cell = cells[2]  # sorted by (redundancy, encoder): redundancy 4, encoder 1
    assert cell.key == {"redundancy": 4, "encoder": 1}
    assert cell.lams.tolist() == LAMS.tolist() and cell.seeds.tolist() == list(range(5))
    rows = table[(table.redundancy == 4) & (table.encoder == 1) & (table.seed == 3) & (table.lam == 0.4)]
    j = int(np.flatnonzero(LAMS == 0.4)[0])
    assert cell.test[3, j] == rows["acc"].iloc[0] and cell.valid[3, j] == rows["val_acc"].iloc[0]
    assert np.isnan(cell.cap_share)
    pairs, _ = analysis.cell_matrices(table, by="redundancy", metric="align_mutual_knn", select=None,
                                      per_encoder=False)
    assert len(pairs) == 2 and pairs[0].valid is None and pairs[0].test.shape == (5, len(LAMS))


def test_cell_matrices_mark_missing_runs_and_count_failures_and_the_cap(table):
    broken = table.copy()
    chosen = (broken.redundancy == 4) & (broken.lam == 0.6) & (broken.seed == 0)
    broken.loc[chosen, ["acc", "val_acc", "status"]] = [np.nan, np.nan, "failed"]
    broken["hit_cap"] = broken["seed"] == 1
    cells, n_failed = analysis.cell_matrices(broken, by="redundancy")
    assert n_failed == 2
    cell = cells[2]
    assert cell.n_failed == 1 and np.isnan(cell.test[0, 3]) and np.isnan(cell.valid[0, 3])
    assert np.isfinite(cell.test).sum() == 5 * len(LAMS) - 1
    assert cell.cap_share == pytest.approx(len(LAMS) / (5 * len(LAMS) - 1))  # seed 1's runs of the ok ones
    summary = analysis.curve_summary(broken, by="redundancy")
    assert summary.attrs["n_failed"] == 2
    row = summary[(summary.redundancy == 4) & (summary.lam == 0.6) & (summary.encoder == 1)].iloc[0]
    assert row["n"] == 4 and row["n_failed"] == 1


def test_a_pair_property_must_agree_between_the_encoder_rows(table):
    bad = table.copy()
    bad.loc[0, "align_mutual_knn"] += 1.0
    with pytest.raises(ValueError, match="align_mutual_knn: differs between rows of the same run"):
        analysis.cell_matrices(bad, by="redundancy", metric="align_mutual_knn", select=None,
                               per_encoder=False)


@pytest.mark.parametrize("drop", ["acc", "val_acc", "lam", "seed", "encoder", "redundancy"])
def test_missing_column_is_named(table, drop):
    with pytest.raises(ValueError, match=drop):
        analysis.cell_matrices(table.drop(columns=drop), by="redundancy")


def test_bad_tables_are_refused(table):
    with pytest.raises(ValueError, match="empty"):
        analysis.curve_summary(table.iloc[:0], by="redundancy")
    bad = table.copy()
    bad.loc[3, "acc"] = np.inf
    with pytest.raises(ValueError, match="acc.*non-finite"):
        analysis.curve_summary(bad, by="redundancy")
    with pytest.raises(ValueError, match="duplicate"):
        analysis.curve_summary(pd.concat([table, table.iloc[:1]]), by="redundancy")
    with pytest.raises(ValueError, match="DataFrame"):
        analysis.cell_matrices({"acc": [1]}, by=None)
    with pytest.raises(ValueError, match="ci"):
        analysis.curve_summary(table, by="redundancy", ci=95)
