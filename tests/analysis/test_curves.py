"""Analysis on constructed tables whose answers are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alignbook import analysis

LAMS = np.round(np.arange(0.0, 2.01, 0.2), 2)
# clearly shaped accuracy curves (per redundancy level), a few points of accuracy apart
CURVES = {
    0: lambda lam: 0.80 - 0.05 * lam,  # falls
    4: lambda lam: 0.70 + 0.24 * lam - 0.20 * lam**2,  # inverted U, optimum at 0.6
    6: lambda lam: 0.75 + 0.0 * lam,  # flat
    8: lambda lam: 0.70 + 0.10 * np.minimum(lam, 1.0),  # rises and saturates
}


def make_table(curves=CURVES, seeds=5, noise=0.004, seed_noise=0.005, rng_seed=1) -> pd.DataFrame:
    """A tidy sweep table (a row per level, seed, lam, encoder); a per-seed offset makes pairing matter."""
    rng = np.random.default_rng(rng_seed)
    rows = []
    for level, curve in curves.items():
        for seed in range(seeds):
            offset = rng.normal(0, seed_noise)
            for lam in LAMS:
                alignment = 0.1 + 0.2 * lam + rng.normal(0, 0.01)
                for encoder in (1, 2):
                    rows.append(dict(dataset="synthetic", redundancy=level, depth=1, lam=float(lam),
                                     seed=seed, encoder=encoder,
                                     acc=curve(lam) + offset + rng.normal(0, noise), loss=1.0,
                                     val_acc=curve(lam), status="ok", align_mutual_knn=alignment,
                                     chance_mutual_knn=0.05))
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
    assert row["ci_low"] < row["mean"] < row["ci_high"]


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


def test_optimal_lam_finds_argmax_and_shapes(table):
    result = analysis.optimal_lam(table, by="redundancy", n_bootstrap=300)
    result = result.set_index(["redundancy", "encoder"])
    for encoder in (1, 2):
        assert result.loc[(0, encoder), "lam_star"] == 0.0
        assert result.loc[(4, encoder), "lam_star"] == pytest.approx(0.6)
        assert result.loc[(4, encoder), "lam_low"] <= 0.6 <= result.loc[(4, encoder), "lam_high"]
        assert result.loc[(8, encoder), "lam_star"] >= 1.0
        assert result.loc[(0, encoder), "shape"] == "falls"
        assert result.loc[(4, encoder), "shape"] == "interior optimum"
        assert result.loc[(6, encoder), "shape"] == "flat"
        assert result.loc[(8, encoder), "shape"] == "rises"
    inverted = result.loc[(4, 1)]
    assert inverted["gain"] == pytest.approx(inverted["value_star"] - inverted["value_base"])
    assert inverted["gain_low"] > 0  # a gain of 0.072 with seed noise under 0.01
    assert 0 < inverted["lam_mode_freq"] <= 1
    assert result.loc[(0, 1), "gain"] == 0.0


def test_optimal_lam_is_deterministic(table):
    first = analysis.optimal_lam(table, by="redundancy", n_bootstrap=100, seed=5)
    again = analysis.optimal_lam(table, by="redundancy", n_bootstrap=100, seed=5)
    pd.testing.assert_frame_equal(first, again)


def test_optimal_lam_ties_go_to_smallest_lam():
    frame = pd.DataFrame({"encoder": 1, "seed": np.repeat([0, 1, 2], 3), "lam": np.tile([0.0, 0.5, 1.0], 3),
                          "acc": np.tile([0.7, 0.8, 0.8], 3)})
    result = analysis.optimal_lam(frame, by=None, n_bootstrap=50)
    assert result.loc[0, "lam_star"] == 0.5
    assert result.loc[0, "lam_mode_freq"] == 1.0


def test_optimal_lam_smoothing_ignores_a_lone_spike():
    curve = {0: lambda lam: np.where(lam == 1.6, 0.82, 0.7 + 0.1 * np.exp(-((lam - 0.8) ** 2)))}
    frame = make_table(curve, noise=0.0, seed_noise=0.0)
    assert analysis.optimal_lam(frame, by=None, n_bootstrap=20).loc[0, "lam_star"] == 1.6
    assert analysis.optimal_lam(frame, by=None, n_bootstrap=20, smooth=3).loc[0, "lam_star"] == 0.8


def test_flat_noisy_curve_is_not_called_a_shape_by_selection():
    # the best of 11 noisy lams beats lam=0 by chance; the selection-adjusted test must say "flat"
    frame = make_table({0: lambda lam: 0.75 + 0 * lam}, seeds=4, noise=0.01, seed_noise=0.0, rng_seed=7)
    flat = analysis.optimal_lam(frame, by=None, n_bootstrap=100)
    assert (flat["shape"] == "flat").all()


def test_failed_runs_are_excluded_and_counted(table):
    broken = table.copy()
    chosen = (broken.redundancy == 4) & (broken.lam == 0.6) & (broken.seed == 0)
    broken.loc[chosen, ["acc", "status"]] = [np.nan, "failed"]
    summary = analysis.curve_summary(broken, by="redundancy")
    assert summary.attrs["n_failed"] == 2
    row = summary[(summary.redundancy == 4) & (summary.lam == 0.6) & (summary.encoder == 1)].iloc[0]
    assert row["n"] == 4 and row["n_failed"] == 1
    result = analysis.optimal_lam(broken, by="redundancy", n_bootstrap=50)
    assert result.attrs["n_failed"] == 2
    assert result.set_index(["redundancy", "encoder"]).loc[(4, 2), "n_failed"] == 1


@pytest.mark.parametrize("drop", ["acc", "lam", "seed", "encoder", "redundancy"])
def test_missing_column_is_named(table, drop):
    with pytest.raises(ValueError, match=drop):
        analysis.optimal_lam(table.drop(columns=drop), by="redundancy")


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
        analysis.optimal_lam({"acc": [1]})
    with pytest.raises(ValueError, match="ci"):
        analysis.optimal_lam(table, by="redundancy", ci=95)


def test_correlation_ci():
    x = np.arange(20.0)
    r, low, high = analysis.correlation_ci(x, x**3, n_bootstrap=300)
    assert r == 1.0 and low == 1.0 and high == 1.0
    rng = np.random.default_rng(0)
    noise = rng.normal(size=200)
    r, low, high = analysis.correlation_ci(rng.normal(size=200), noise, method="pearson", n_bootstrap=500)
    assert low < r < high and low < 0 < high
    a, b = rng.normal(size=50), rng.normal(size=50)
    assert analysis.correlation_ci(a, b, seed=1) == analysis.correlation_ci(a, b, seed=1)
    assert analysis.correlation_ci(a, b, seed=1)[1:] != analysis.correlation_ci(a, b, seed=2)[1:]
    with pytest.raises(ValueError, match="same length"):
        analysis.correlation_ci(x, x[:-1])


def test_alignment_trend_detects_rising_alignment(table):
    trend = analysis.alignment_trend(table, by="redundancy", n_bootstrap=200)
    assert len(trend) == len(CURVES)  # one row per level: both encoder rows of a run count once
    assert trend["rises"].all()
    assert (trend["rho"] > 0.9).all() and (trend["ci_low"] > 0.5).all() and (trend["rho_means"] == 1.0).all()
    assert (trend["n"] == 5 * len(LAMS)).all()
    flat = table.assign(align_mutual_knn=np.random.default_rng(0).normal(size=len(table)))
    flat = flat[flat.encoder == 1]
    assert not analysis.alignment_trend(flat, by="redundancy", n_bootstrap=100)["rises"].all()
