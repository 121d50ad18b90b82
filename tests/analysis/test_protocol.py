"""The per-cell verdict protocol: cross-fitted gains, their tests, the set of the best lam, the MDE."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from alignbook import analysis
from alignbook.analysis import protocol

LAMS = (0.0, 0.1, 0.2, 0.5, 1.0, 2.0, 4.0)
CURVES = {
    0: lambda lam: 0.80 - 0.01 * lam,  # falls
    4: lambda lam: 0.70 + 0.03 * np.exp(-((lam - 0.5) / 0.3) ** 2),  # interior optimum at 0.5
    6: lambda lam: 0.75 + 0.0 * lam,  # no effect
    8: lambda lam: 0.70 + 0.04 * (1 - np.exp(-lam / 0.5)),  # rises and saturates
}


def make_table(curves=CURVES, seeds=6, run=0.002, split=0.001, rng_seed=1) -> pd.DataFrame:
    """A tidy sweep table: per seed and lam one run whose validation and test scores share the run's noise."""
    rng = np.random.default_rng(rng_seed)
    rows = []
    for level, curve in curves.items():
        for seed in range(seeds):
            for lam in LAMS:
                for encoder in (1, 2):
                    shared = rng.normal(0, run)
                    rows.append(dict(redundancy=level, lam=lam, seed=seed, encoder=encoder, status="ok",
                                     acc=curve(lam) + shared + rng.normal(0, split),
                                     val_acc=curve(lam) + shared + rng.normal(0, split)))
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return make_table()


@pytest.fixture(scope="module")
def optimum(table) -> pd.DataFrame:
    return analysis.optimal_lam(table, by="redundancy").set_index(["redundancy", "encoder"])


# ------------------------------------------------------------------------------------------ tests on arrays


@pytest.mark.parametrize("alternative", ["greater", "less"])
def test_t_test_equals_scipy_on_a_batch(alternative):
    rng = np.random.default_rng(0)
    diffs = rng.normal(0.002, 0.01, size=(50, 6))
    diffs[3, 2] = np.nan  # left out, as scipy's nan_policy="omit" does
    mean, sd, n, p = protocol.t_test(diffs, alternative, null=0.001)
    expected = stats.ttest_1samp(diffs, 0.001, axis=1, alternative=alternative, nan_policy="omit")
    assert np.allclose(p, expected.pvalue, rtol=1e-10, atol=0)
    assert np.allclose(mean, np.nanmean(diffs, axis=1)) and n[3] == 5 and (n[np.arange(50) != 3] == 6).all()
    assert np.allclose(sd, np.nanstd(diffs, axis=1, ddof=1))


def test_t_test_of_identical_values_and_of_too_few():
    assert protocol.t_test([0.01, 0.01, 0.01])[3] == 0.0
    assert protocol.t_test([0.0, 0.0, 0.0])[3] == 1.0
    assert protocol.t_test([0.0, 0.0, 0.0], "less", null=0.005)[3] == 0.0
    assert np.isnan(protocol.t_test([0.01, np.nan])[3])
    with pytest.raises(ValueError, match="^alternative"):
        protocol.t_test([1.0, 2.0], "two-sided")


def test_t_interval_is_scipys():
    values = np.array([0.01, 0.03, -0.005, 0.02])
    low, high = protocol.t_interval(values.mean(), values.std(ddof=1), 4, 0.95)
    expected = stats.ttest_1samp(values, 0.0).confidence_interval(0.95)
    assert (low, high) == pytest.approx((expected.low, expected.high))


@pytest.mark.parametrize("n", range(3, 11))
def test_the_round_robin_uses_every_pair_of_seeds_in_one_direction(n):
    uses = protocol.selection_sets(n)
    assert not uses.diagonal().any()
    for a, b in itertools.combinations(range(n), 2):
        assert uses[a, b] != uses[b, a]  # exactly one of the two chooses on the other
    assert uses.sum() == n * (n - 1) // 2
    assert set(uses.sum(axis=1)) <= {(n - 1) // 2, n // 2}  # as even a load as possible
    loo = protocol.selection_sets(n, "leave-one-out")
    assert (loo == ~np.eye(n, dtype=bool)).all()


def test_round_robin_of_three_seeds_is_a_cycle():
    assert protocol.selection_sets(3).astype(int).tolist() == [[0, 1, 0], [0, 0, 1], [1, 0, 0]]
    with pytest.raises(ValueError, match="^scheme"):
        protocol.selection_sets(3, "all")


def test_cross_fit_on_a_constructed_cell():
    # seed s chooses on seed s + 1 (mod 3): its argmax and argmin of validation
    valid = np.array([[0.1, 0.5, 0.2],
                      [0.3, 0.1, 0.9],
                      [0.2, 0.2, 0.1]])
    test = np.array([[1.0, 2.0, 3.0],
                     [1.5, 1.0, 0.5],
                     [0.0, 0.4, 0.8]])
    found = protocol.cross_fit(test, valid)
    assert found["up"].tolist() == [2, 0, 1]  # argmax of seeds 1, 2 (a tie: the smaller lam), 0
    assert found["down"].tolist() == [1, 2, 0]
    assert found["d_up"].tolist() == pytest.approx([2.0, 0.0, 0.4])
    assert found["d_down"].tolist() == pytest.approx([1.0, -1.0, 0.0])
    assert found["d_end"].tolist() == pytest.approx([0.0, 1.0, -0.4])
    missing = test.copy()
    missing[1, 0] = np.nan
    assert np.isnan(protocol.cross_fit(missing, valid)["d_up"][1])


def test_a_seed_with_nothing_to_choose_on_has_no_difference():
    valid = np.array([[0.1, 0.5], [0.3, 0.1]])
    found = protocol.cross_fit(valid, valid)  # two seeds: seed 0 chooses on seed 1, seed 1 on nobody
    assert found["d_up"][0] == 0.0 and found["d_down"][0] == pytest.approx(0.4)  # seed 1's best is lam 0
    assert np.isnan(found["d_up"][1]) and np.isnan(found["d_down"][1])


def test_rise_and_fall_are_exact_mirror_images():
    rng = np.random.default_rng(4)
    test, valid = rng.normal(size=(2, 200, 5, 7))
    up, down = protocol.cell_tests(test, valid, 0.005), protocol.cell_tests(-test, -valid, 0.005)
    assert np.allclose(up["p_rise"], down["p_fall"]) and np.allclose(up["p_fall"], down["p_rise"])
    assert np.allclose(up["p_no_gain"], down["p_no_loss"])
    d_down = protocol.cross_fit(test, valid)["d_down"]
    assert np.allclose(protocol.cross_fit(-test, -valid)["d_up"], -d_down)
    assert np.allclose(down["gain"], -d_down.mean(axis=-1))


def test_p_interior_is_the_larger_of_its_two_tests_and_needs_an_interior_lam():
    rng = np.random.default_rng(5)
    test, valid = rng.normal(size=(2, 100, 4, 5))
    found = protocol.cell_tests(test, valid, 0.01)
    fitted = protocol.cross_fit(test, valid)
    end = protocol.t_test(fitted["d_end"], "greater")[3]
    assert np.allclose(found["p_interior"], np.maximum(found["p_rise"], end))
    two = protocol.cell_tests(test[..., :2], valid[..., :2], 0.01)
    assert (two["p_interior"] == 1.0).all()


def test_equivalence_holds_at_every_lam_at_once():
    rng = np.random.default_rng(6)
    test, valid = rng.normal(0, 0.003, size=(2, 50, 5, 6))
    found = protocol.cell_tests(test, valid, 0.005)
    per_lam = [protocol.t_test(test[..., j] - test[..., 0], "less", 0.005)[3] for j in range(1, 6)]
    assert np.allclose(found["p_no_gain"], np.max(per_lam, axis=0))
    per_lam = [protocol.t_test(test[..., j] - test[..., 0], "greater", -0.005)[3] for j in range(1, 6)]
    assert np.allclose(found["p_no_loss"], np.max(per_lam, axis=0))
    assert np.allclose(found["p_flat"], np.maximum(found["p_no_gain"], found["p_no_loss"]))


def test_no_gain_is_not_concluded_when_the_best_lam_gains_the_margin():
    # a saturating rise whose best lam gains exactly the margin: "no gain" is a false conclusion here
    lams = np.array([0.0, 0.1, 0.2, 0.5, 1.0, 2.0, 4.0])
    truth = 0.005 * (1 - np.exp(-lams / 0.5)) / (1 - np.exp(-8))
    rng = np.random.default_rng(9)
    shared = rng.normal(0, 0.002, size=(4000, 5, 7))
    test, valid = truth + shared + rng.normal(0, 0.001, size=(2, 4000, 5, 7))
    found = protocol.cell_tests(test, valid, 0.005)
    assert (found["p_no_gain"] < 0.05).mean() <= 0.05


def test_shapes_follow_the_p_values():
    p = {"p_rise": [0.01, 0.01, 0.01, 0.5, 0.5, 0.5, 0.01],
         "p_fall": [0.5, 0.01, 0.5, 0.01, 0.5, 0.5, 0.5],
         "p_interior": [0.01, 0.5, 0.5, 0.5, 0.5, 0.5, 0.01],
         "p_flat": [0.5, 0.5, 0.5, 0.5, 0.01, 0.5, 0.01]}
    n = [5, 5, 5, 5, 5, 5, 2]
    shapes = protocol.shapes(p["p_rise"], p["p_fall"], p["p_interior"], p["p_flat"], n, 0.05)
    assert shapes.tolist() == ["interior optimum", "rises and falls", "rises", "falls", "flat",
                               "inconclusive", "not testable"]
    assert set(shapes) == set(analysis.SHAPES)


def test_best_lam_pvalues_by_hand():
    valid = np.array([[0.70, 0.74, 0.72],
                      [0.71, 0.76, 0.72],
                      [0.69, 0.75, 0.74]])
    means = valid.mean(axis=0)
    residual = valid - valid.mean(axis=1, keepdims=True) - means + means.mean()
    scale = np.sqrt(2 * (residual**2).sum() / 4 / 3)
    expected = [min(1.0, 2 * stats.t.sf((means[1] - means[0]) / scale, 4)),
                min(1.0, 2 * stats.t.sf((means[2] - means[1]) / scale, 4)),
                min(1.0, 2 * stats.t.sf((means[1] - means[2]) / scale, 4))]
    assert protocol.best_lam_pvalues(valid).tolist() == pytest.approx(expected)
    assert protocol.best_lam_pvalues(valid)[1] == 1.0  # the best is never excluded


def test_the_set_of_the_best_lam_covers_the_true_best():
    # a unique best lam in the middle of 7, 3 seeds, noise as large as the step to the next best lam
    rng = np.random.default_rng(7)
    truth = np.array([0.0, 0.002, 0.004, 0.008, 0.004, 0.0, -0.01])
    valid = truth + rng.normal(0, 0.004, size=(4000, 3, 7))
    covered = protocol.best_lam_pvalues(valid)[:, 3] >= 0.05
    assert covered.mean() >= 0.95 - 3 * np.sqrt(0.95 * 0.05 / 4000)


@pytest.mark.parametrize("n, alpha, factor", [(3, 0.05, 2.30), (5, 0.05, 1.36), (10, 0.05, 0.85),
                                              (3, 0.005, 7.32), (5, 0.005, 2.63)])
def test_mde_matches_the_published_factors(n, alpha, factor):
    assert protocol.mde(0.01, n, alpha) == pytest.approx(factor * 0.01, abs=0.0001)


def test_mde_is_the_effect_detected_with_80_percent_power():
    rng = np.random.default_rng(8)
    delta = protocol.mde(1.0, 5, 0.05)
    p = protocol.t_test(rng.normal(delta, 1.0, size=(20000, 5)))[3]
    assert (p < 0.05).mean() == pytest.approx(0.8, abs=0.01)
    assert np.isnan(protocol.mde(0.0, 5, 0.05)) and np.isnan(protocol.mde(0.01, 1, 0.05))


def test_pooled_difference_sd():
    test = np.array([[0.0, 1.0, 2.0], [0.0, 3.0, 2.0], [1.0, 2.0, 3.0]])
    # differences from the first column: [1, 3, 1] (variance 4/3) and [2, 2, 2] (variance 0)
    assert protocol.pooled_difference_sd(test) == pytest.approx(np.sqrt(2 / 3))


# ------------------------------------------------------------------------------------------ tables


def test_optimal_lam_finds_each_shape(optimum):
    for encoder in (1, 2):
        assert optimum.loc[(0, encoder), "shape"] == "falls"
        assert optimum.loc[(4, encoder), "shape"] == "interior optimum"
        assert optimum.loc[(4, encoder), "lam_star"] == 0.5
        assert optimum.loc[(4, encoder), "lam_low"] <= 0.5 <= optimum.loc[(4, encoder), "lam_high"]
        assert optimum.loc[(6, encoder), "shape"] == "flat"
        assert optimum.loc[(8, encoder), "shape"] == "rises"
        assert optimum.loc[(8, encoder), "lam_star"] >= 1.0
    assert set(analysis.OPTIMUM_COLUMNS) - {"cap_share"} <= set(optimum.columns)
    assert (optimum["n_seeds"] == 6).all() and (optimum["n_lams"] == 7).all()
    assert (optimum["margin"] == 0.005).all()


def test_optimal_lam_gain_is_the_mean_cross_fitted_difference(table, optimum):
    gains = analysis.seed_gains(table, by="redundancy")
    assert len(gains) == 4 * 2 * 6
    means = gains.groupby(["redundancy", "encoder"])["d_up"].mean()
    assert np.allclose(optimum["gain"], means.loc[optimum.index])
    row = optimum.loc[(8, 1)]
    assert row["gain_low"] < row["gain"] < row["gain_high"] and row["gain_low"] > 0
    cell = table[(table.redundancy == 8) & (table.encoder == 1)]
    assert row["value_base"] == pytest.approx(cell[cell.lam == 0]["acc"].mean())
    val_means = cell.groupby("lam")["val_acc"].mean()
    assert row["lam_star"] == val_means.idxmax()  # chosen on validation
    assert row["value_star"] == pytest.approx(cell[cell.lam == row["lam_star"]]["acc"].mean())
    assert set(row["lam_p"]) == set(LAMS) and row["lam_p"][row["lam_star"]] == 1.0


def test_optimal_lam_is_deterministic(table):
    pd.testing.assert_frame_equal(analysis.optimal_lam(table, by="redundancy"),
                                  analysis.optimal_lam(table, by="redundancy"))


def test_too_few_seeds_are_not_testable(table):
    two = analysis.optimal_lam(table[table.seed < 2], by="redundancy")
    assert (two["shape"] == "not testable").all() and two["p_rise"].isna().all()
    assert (two["n_seeds"] == 1).all()  # of two seeds, only the first has another to choose on


def test_failed_runs_are_left_out_and_the_cap_is_counted(table):
    broken = table.copy()
    chosen = (broken.redundancy == 4) & (broken.lam == 0.0) & (broken.seed == 0)
    broken.loc[chosen, ["acc", "val_acc", "status"]] = [np.nan, np.nan, "failed"]
    broken["hit_cap"] = broken["lam"] == 4.0
    result = analysis.optimal_lam(broken, by="redundancy").set_index(["redundancy", "encoder"])
    assert result.attrs["n_failed"] == 2 and result.loc[(4, 1), "n_failed"] == 1
    assert result.loc[(4, 1), "n_seeds"] == 5  # seed 0 has no run at lam = 0: no difference
    assert result.loc[(6, 1), "cap_share"] == pytest.approx(1 / 7)
    assert np.isfinite(result.loc[(4, 1), "lam_low"])  # the set uses the 5 complete seeds


def test_optimal_lam_refuses_bad_arguments(table):
    with pytest.raises(ValueError, match="^margin"):
        analysis.optimal_lam(table, by="redundancy", margin=0)
    with pytest.raises(ValueError, match="^alpha"):
        analysis.optimal_lam(table, by="redundancy", alpha=5)
    with pytest.raises(ValueError, match="val_acc"):
        analysis.optimal_lam(table.drop(columns="val_acc"), by="redundancy")
