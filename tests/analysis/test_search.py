"""Analysis on constructed tables whose answers are known."""

from __future__ import annotations

import numpy as np
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
