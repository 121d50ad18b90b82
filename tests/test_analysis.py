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


# --------------------------------------------------------------------------------------------------------
# automatic search on analytic curves


def counting(curve, noise=0.0):
    """evaluate(lams, resource, seed) on an analytic curve, counting runs; noise shrinks with the resource."""
    calls = {"runs": 0}

    def evaluate(lams, resource, seed):
        calls["runs"] += len(lams)
        rng = np.random.default_rng([seed, resource, *(int(1000 * lam) for lam in lams)])
        return [curve(lam) + rng.normal(0, noise / np.sqrt(resource)) for lam in lams]

    return evaluate, calls


def inverted_u(lam):
    return 0.8 - 0.05 * (lam - 1.3) ** 2


def test_golden_search_finds_interior_optimum_cheaply():
    evaluate, calls = counting(inverted_u, noise=0.001)
    result = analysis.search_lam(evaluate, (0.0, 4.0), budget=4, method="golden", tol=0.05)
    assert abs(result.lam_star - 1.3) < 0.1
    assert result.runs_spent == calls["runs"] == len(result.history)
    assert result.runs_spent < 81 / 3  # a grid at 0.05 spacing has 81 points
    assert result.value == pytest.approx(inverted_u(result.lam_star), abs=0.01)


def test_golden_search_on_monotone_curve_goes_to_the_edge():
    evaluate, _ = counting(lambda lam: 0.6 + 0.05 * lam)
    result = analysis.search_lam(evaluate, (0.0, 4.0), budget=1, method="golden", tol=0.05)
    assert result.lam_star > 3.9


def test_halving_spends_less_than_a_full_grid():
    evaluate, _ = counting(inverted_u, noise=0.002)
    result = analysis.search_lam(evaluate, (0.0, 4.0), budget=16, method="halving", n_grid=17, eta=2)
    assert abs(result.lam_star - 1.3) <= 0.25  # the grid spacing
    assert result.resource_spent < 17 * 16 / 2  # half the cost of the full grid at full budget
    frame = result.history_frame()
    assert frame["resource"].max() == 16 and frame["resource"].min() == 1
    falling, _ = counting(lambda lam: 0.8 - 0.05 * lam)
    assert analysis.search_lam(falling, budget=16, method="halving").lam_star == 0.0


def test_search_rejects_bad_arguments():
    evaluate, _ = counting(inverted_u)
    with pytest.raises(ValueError, match="method"):
        analysis.search_lam(evaluate, method="random")
    with pytest.raises(ValueError, match="lam_range"):
        analysis.search_lam(evaluate, lam_range=(2.0, 1.0))
    with pytest.raises(ValueError, match="evaluate"):
        analysis.search_lam(lambda lams, resource, seed: [0.5], budget=2)


# --------------------------------------------------------------------------------------------------------
# lam* from the information decomposition


def test_predict_lam_from_pid_recovers_a_line():
    levels = [0, 2, 4, 6, 8]
    unique = [(8 - r) / 16 for r in levels]
    pid = pd.DataFrame({"redundancy": levels, "R": [r / 8 for r in levels], "U1": unique, "U2": unique,
                        "S": 0.0, "I12": 1.0})
    lam_table = pd.DataFrame([{"redundancy": r, "encoder": e, "lam_star": 0.1 + 2.0 * r / 8}
                              for r in levels for e in (1, 2)])
    model = analysis.predict_lam_from_pid(pid, lam_table)
    assert model.slope == pytest.approx(2.0) and model.intercept == pytest.approx(0.1)
    assert model.loo_mae == pytest.approx(0.0, abs=1e-9)
    assert model.predict({"R": 0.5, "U1": 0.25, "U2": 0.25, "S": 0.0}) == pytest.approx(1.1)
    assert model.predict({"R": 5.0, "U1": 0.0, "U2": 0.0, "S": 0.0}) <= model.lam_max  # clipped
    assert len(model.points) == 10
    own = analysis.predict_lam_from_pid(pid, lam_table, feature="own")
    # own = R / (R + U_m) = (r / 8) / ((8 + r) / 16): a different feature, the same lam* per level
    assert own.points["x"].tolist() == pytest.approx([2 * r / (8 + r) for r in levels for _ in (1, 2)])
    assert own.slope > 0
    with pytest.raises(ValueError, match="lam_star"):
        analysis.predict_lam_from_pid(pid, lam_table.drop(columns="lam_star"))


def test_fit_lam_star_two_features_on_a_square():
    # lam* = f + g on the corners of the unit square: the plane fits exactly, yet each leave-one-out
    # prediction is clipped to the others' range of lam*, so the corners (0, 0) and (1, 1) are missed by 1
    table = pd.DataFrame({"f": [0.0, 1.0, 0.0, 1.0], "g": [0.0, 0.0, 1.0, 1.0],
                          "lam_star": [0.0, 1.0, 1.0, 2.0]})
    both = analysis.fit_lam_star(table, ["f", "g"])
    assert both.intercept == pytest.approx(0.0, abs=1e-12)
    assert both.coefficients == pytest.approx({"f": 1.0, "g": 1.0})
    assert both.points["loo_error"].tolist() == pytest.approx([1.0, 0.0, 0.0, -1.0])
    assert both.loo_mae == pytest.approx(0.5) and both.loo_rmse == pytest.approx(np.sqrt(0.5))
    assert both.predict({"f": 0.5, "g": 0.25}) == pytest.approx(0.75)
    assert both.predict({"f": 3.0, "g": 3.0}) == 2.0  # clipped to the fitted range
    # f alone: the means of its two groups (0.5 and 1.5); left out, each corner is off by exactly 1
    alone = analysis.fit_lam_star(table, "f")
    assert (alone.intercept, alone.coefficients["f"]) == pytest.approx((0.5, 1.0))
    assert alone.points["loo_error"].tolist() == pytest.approx([1.0, 1.0, -1.0, -1.0])
    assert alone.loo_mae == pytest.approx(1.0)
    gain, low, high = analysis.loo_improvement(alone, both, seed=0)
    assert gain == pytest.approx(0.5)  # per point 0, 1, 1, 0
    assert 0.0 <= low <= gain <= high <= 1.0
    assert analysis.loo_improvement(alone, both, seed=0) == (gain, low, high)  # seeded
    assert analysis.loo_improvement(both, both) == (0.0, 0.0, 0.0)


def test_fit_lam_star_with_one_feature_is_the_pid_line():
    levels = [0, 2, 4, 6, 8]
    unique = [(8 - r) / 16 for r in levels]
    pid = pd.DataFrame({"redundancy": levels, "R": [r / 8 for r in levels], "U1": unique, "U2": unique,
                        "S": 0.0, "I12": 1.0})
    rng = np.random.default_rng(3)
    lam_table = pd.DataFrame([{"redundancy": r, "encoder": e, "lam_star": 0.1 + r / 8 + rng.normal(0, 0.3)}
                              for r in levels for e in (1, 2)])
    line = analysis.predict_lam_from_pid(pid, lam_table)
    plane = analysis.fit_lam_star(line.points.rename(columns={"x": "fraction"}), ["fraction"])
    assert plane.coefficients["fraction"] == pytest.approx(line.slope)
    assert plane.intercept == pytest.approx(line.intercept)
    assert plane.points["loo_error"].tolist() == pytest.approx(line.points["loo_error"].tolist())
    assert plane.loo_mae == pytest.approx(line.loo_mae) and line.loo_mae > 0


def test_fit_lam_star_rejects_bad_tables():
    table = pd.DataFrame({"f": [0.0, 1.0, 2.0], "g": [1.0, 0.0, 1.0], "lam_star": [0.0, 1.0, 2.0]})
    with pytest.raises(ValueError, match="at least 4 points"):
        analysis.fit_lam_star(table, ["f", "g"])
    with pytest.raises(ValueError, match="no column"):
        analysis.fit_lam_star(table, ["h"])
    with pytest.raises(ValueError, match="finite"):
        analysis.fit_lam_star(table.assign(f=[0.0, np.nan, 1.0]), "f")
    other = analysis.fit_lam_star(table.assign(lam_star=[1.0, 1.0, 2.0]), "f")
    with pytest.raises(ValueError, match="same lam"):
        analysis.loo_improvement(analysis.fit_lam_star(table, "f"), other)


# ------------------------------------------------------------------------------------------ linear probes


def test_probe_accuracy_reads_linear_bits_and_not_hidden_ones():
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2, size=(2000, 3))
    hidden = rng.integers(0, 2, size=2000)
    # mixed, but linear: each bit is a linear function of the first three features
    z = np.column_stack([bits[:, 0] * 2.0 - 1, bits[:, 1] - 0.5 * bits[:, 0], bits[:, 2] + 0.3 * bits[:, 1],
                         rng.normal(size=(2000, 4))])
    z[:, :3] += 0.05 * rng.normal(size=(2000, 3))
    accuracy = analysis.probe_accuracy(z, np.column_stack([bits, hidden, bits[:, 0] ^ bits[:, 1]]), seed=1)
    assert accuracy[:3] == pytest.approx([1.0, 1.0, 1.0], abs=0.01)  # linearly readable bits
    assert abs(accuracy[3] - 0.5) < 0.05  # a bit the representation does not hold: chance
    assert abs(accuracy[4] - 0.5) < 0.05  # XOR of two held bits: not linearly readable
    assert np.array_equal(accuracy, analysis.probe_accuracy(z, np.column_stack(
        [bits, hidden, bits[:, 0] ^ bits[:, 1]]), seed=1))


def test_probe_accuracy_refuses_bad_input():
    z = np.zeros((10, 2))
    with pytest.raises(ValueError, match="^bits: must hold 0/1"):
        analysis.probe_accuracy(z, np.full((10, 1), 2))
    with pytest.raises(ValueError, match="^z/bits: must be 2-d"):
        analysis.probe_accuracy(z[:, 0], np.zeros((10, 1)))
    with pytest.raises(ValueError, match="^z: needs at least 4"):
        analysis.probe_accuracy(z[:3], np.zeros((3, 1)))
