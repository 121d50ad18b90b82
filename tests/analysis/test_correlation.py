"""Alignment trends by Page's L test both ways, and correlations with seeds or cells as the unit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from alignbook import analysis
from alignbook.analysis import correlation

LAMS = (0.0, 0.1, 0.2, 0.5, 1.0, 2.0, 4.0)


def alignment_table(slope=0.05, seeds=5, noise=0.01, rng_seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(rng_seed)
    rows = []
    for level in (0, 8):
        for seed in range(seeds):
            for lam in LAMS:
                value = 0.2 + slope * np.log1p(lam) + rng.normal(0, noise)
                rows += [dict(redundancy=level, lam=lam, seed=seed, encoder=e, status="ok", align_cka=value)
                         for e in (1, 2)]
    return pd.DataFrame(rows)


def test_alignment_trend_is_pages_test_both_ways():
    table = alignment_table()
    trend = analysis.alignment_trend(table, by="redundancy", metric="align_cka").set_index("redundancy")
    cells, _ = analysis.cell_matrices(table, by="redundancy", metric="align_cka", select=None,
                                      per_encoder=False)
    values = cells[0].test
    assert trend.loc[0, "p_rise"] == stats.page_trend_test(values).pvalue
    assert trend.loc[0, "p_fall"] == stats.page_trend_test(values[:, ::-1]).pvalue
    rho = np.mean([stats.spearmanr(LAMS, row).statistic for row in values])
    assert trend.loc[0, "rho"] == pytest.approx(rho)
    assert trend["rises"].all() and not trend["falls"].any()
    assert (trend["n_seeds"] == 5).all() and (trend["n_lams"] == 7).all()
    mirrored = table.assign(align_cka=-table["align_cka"])
    down = analysis.alignment_trend(mirrored, by="redundancy", metric="align_cka").set_index("redundancy")
    assert np.allclose(down["p_fall"], trend["p_rise"]) and np.allclose(down["rho"], -trend["rho"])
    assert down["falls"].all() and not down["rises"].any()


def test_alignment_trend_needs_two_complete_seeds():
    one = analysis.alignment_trend(alignment_table(seeds=1), by="redundancy", metric="align_cka")
    assert one["p_rise"].isna().all() and not one["rises"].any()


def test_the_rho_interval_covers_the_expected_seed_spearman():
    # a weak trend, 3 seeds: each seed's Spearman rho is far from 1 and skewed
    rng = np.random.default_rng(1)
    lams = np.asarray(LAMS)
    truth = 0.004 * np.log1p(lams)
    draws = truth + rng.normal(0, 0.004, size=(20000, 7))
    target = correlation.seed_spearman(lams, draws).mean()  # the expected Spearman rho of one seed
    values = truth + rng.normal(0, 0.004, size=(2000, 3, 7))
    rho = correlation.seed_spearman(lams, values.reshape(-1, 7)).reshape(2000, 3)
    mean, sd, n, _ = analysis.protocol.t_test(rho)
    low, high = analysis.protocol.t_interval(mean, sd, n, 0.95)
    assert ((low <= target) & (target <= high)).mean() >= 0.9


def test_correlation_ci_of_independent_pairs():
    x = np.arange(20.0)
    r, low, high = analysis.correlation_ci(x, x**3, n_bootstrap=300)
    assert r == 1.0 and low == 1.0 and high == 1.0
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=50), rng.normal(size=50)
    assert analysis.correlation_ci(a, b, seed=1) == analysis.correlation_ci(a, b, seed=1)
    assert analysis.correlation_ci(a, b, seed=1)[1:] != analysis.correlation_ci(a, b, seed=2)[1:]
    with pytest.raises(ValueError, match="same length"):
        analysis.correlation_ci(x, x[:-1])


def test_correlation_ci_covers_the_population_spearman_of_independent_pairs():
    rng = np.random.default_rng(2)
    rho = 0.5
    target = 6 / np.pi * np.arcsin(rho / 2)  # Spearman's rho of a bivariate normal
    covered = []
    for i in range(200):
        x, noise = rng.normal(size=(2, 40))
        y = rho * x + np.sqrt(1 - rho**2) * noise
        _, low, high = analysis.correlation_ci(x, y, n_bootstrap=400, seed=i)
        covered.append(low <= target <= high)
    assert np.mean(covered) >= 0.9


def test_permutation_pvalues_are_exact_for_few_pairs():
    p_pos, p_neg = analysis.permutation_pvalues([1, 2, 3, 4], [10, 20, 30, 40])
    assert p_pos == pytest.approx(1 / 24) and p_neg == 1.0
    p_pos, p_neg = analysis.permutation_pvalues([1, 2, 3, 4], [40, 30, 20, 10])
    assert (p_pos, p_neg) == (1.0, pytest.approx(1 / 24))


def test_permutation_pvalues_hold_their_level():
    rng = np.random.default_rng(3)
    p = np.array([analysis.permutation_pvalues(rng.normal(size=8), rng.normal(size=8), n_permutations=500,
                                               seed=i)[0] for i in range(400)])
    assert (p < 0.05).mean() <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / 400)


def seed_table(gains, n_seeds=5, noise=0.002, rng_seed=4) -> pd.DataFrame:
    rng = np.random.default_rng(rng_seed)
    return pd.DataFrame([{"cell": c, "seed": s, "x": float(c), "y": g + rng.normal(0, noise)}
                         for c, g in enumerate(gains) for s in range(n_seeds)])


def test_seed_correlation_of_cell_means():
    seeds = seed_table([0.0, 0.01, 0.02, 0.015, 0.03, 0.04])
    found = analysis.seed_correlation(seeds, "cell", "x", "y", n_bootstrap=500)
    means = seeds.groupby("cell")["y"].mean()
    assert found["r"] == pytest.approx(stats.spearmanr(means.index, means).statistic)
    assert found["low"] <= found["r"] <= found["high"] and found["n_cells"] == 6
    assert found["p_positive"] < 0.05 < found["p_negative"]
    assert found == analysis.seed_correlation(seeds, "cell", "x", "y", n_bootstrap=500)  # seeded
    assert analysis.seed_correlation(seeds, "cell", "x", "y", method="pearson")["r"] == pytest.approx(
        np.corrcoef(means.index, means)[0, 1])
    gapped = seeds[~((seeds.cell == 2) & (seeds.seed == 0))]  # a missing run: its cell averages the others
    assert np.isfinite(analysis.seed_correlation(gapped, "cell", "x", "y", n_bootstrap=100)["low"])
    with pytest.raises(ValueError, match="at least 3 cells"):
        analysis.seed_correlation(seeds[seeds.cell < 2], "cell", "x", "y")
    with pytest.raises(ValueError, match="missing column"):
        analysis.seed_correlation(seeds, "cell", "x", "z")


def test_seed_correlation_tests_hold_their_level_without_a_relation():
    # every cell has the same true gain: the cell means differ by seed noise only (6 cells: exact test)
    p = np.array([analysis.seed_correlation(seed_table([0.01] * 6, n_seeds=3, rng_seed=i), "cell", "x", "y",
                                            n_bootstrap=10, seed=i)["p_positive"] for i in range(200)])
    assert (p < 0.05).mean() <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / 200)


def test_seed_correlation_range_covers_as_measured_in_its_docstring():
    # 10 cells whose true gains spread by about 0.02, seed noise 0.004, 5 seeds: the range holds the
    # correlation of the true gains in about 0.9 of cases (the docstring gives 0.75 to 0.90), not 0.95
    rng = np.random.default_rng(6)
    covered = []
    for i in range(150):
        truth = 0.02 * np.linspace(0, 1, 10) + rng.normal(0, 0.01, 10)
        target = stats.spearmanr(np.arange(10), truth).statistic
        found = analysis.seed_correlation(seed_table(truth, noise=0.004, rng_seed=100 + i), "cell", "x", "y",
                                          n_bootstrap=400, n_permutations=50, seed=i)
        covered.append(found["low"] <= target <= found["high"])
    assert 0.75 <= np.mean(covered) < 0.95
