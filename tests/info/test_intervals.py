"""Intervals calibrated on the errors of other draws: their formula, that they never use their own draw's
error, and that they hold their level on fresh draws."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from alignbook.info import intervals


def test_error_bounds_are_the_normal_prediction_interval():
    low, high = intervals.error_bounds([0.0, 1.0, 2.0], ci=0.95)
    half = stats.t.ppf(0.975, 2) * 1.0 * math.sqrt(1 + 1 / 3)
    assert (low, high) == pytest.approx((1.0 - half, 1.0 + half))
    assert intervals.error_bounds([0.2] * 4) == (pytest.approx(0.2), pytest.approx(0.2))
    assert all(math.isnan(v) for v in intervals.error_bounds([0.1, np.nan, 0.3]))  # two finite errors
    # the exact value lies at the estimate minus the error: an estimator that reads 0.3 too high is moved down
    assert intervals.calibrated_interval(1.0, [0.3] * 5) == pytest.approx((0.7, 0.7))


@pytest.mark.parametrize("ci", [0, 1, 1.5, True, "0.95"])
def test_a_bad_level_is_refused_by_name(ci):
    with pytest.raises(ValueError, match="^ci:"):
        intervals.error_bounds([0.0, 1.0, 2.0], ci=ci)


def cases(errors_by_draw, exact=1.0):
    """One row per (draw, quantity R): estimate = exact + error."""
    return pd.DataFrame([{"draw": d, "quantity": "R", "estimate": exact + e, "exact": exact}
                         for d, errors in errors_by_draw.items() for e in errors])


def test_each_interval_rests_on_the_other_draws_only():
    table = cases({0: [0.10, 0.12], 1: [0.20, 0.22], 2: [0.30, 0.31]})
    out = intervals.calibrated_intervals(table, by=["quantity"], group="draw")
    low, high = intervals.error_bounds([0.20, 0.22, 0.30, 0.31])
    first = out.iloc[0]
    assert (first["cal_low"], first["cal_high"]) == pytest.approx((1.10 - high, 1.10 - low))
    assert first["references"] == 4
    # changing a draw's own error moves its estimate, never the width of its interval
    moved = table.copy()
    moved.loc[0, "estimate"] += 5.0
    again = intervals.calibrated_intervals(moved, by=["quantity"], group="draw").iloc[0]
    assert again["cal_high"] - again["cal_low"] == pytest.approx(first["cal_high"] - first["cal_low"])
    assert not again["cal_covered"] and first["cal_covered"]


def test_groups_of_too_few_references_get_no_interval():
    out = intervals.calibrated_intervals(cases({0: [0.1], 1: [0.2, 0.3]}), by="quantity", group="draw")
    assert out["cal_low"].isna().all() and not out["cal_covered"].any()
    assert out["references"].tolist() == [2, 1, 1]
    with pytest.raises(ValueError, match="^table:"):
        intervals.calibrated_intervals(cases({0: [0.1]}).drop(columns="exact"), by="quantity", group="draw")


def simulated_coverage(bias, spread, n_refs, n_sims, seed):
    """Share of calibrated intervals holding the exact value when every error is bias(level) + noise."""
    rng = np.random.default_rng(seed)
    held = 0
    for _ in range(n_sims):
        levels = rng.integers(0, len(bias), n_refs + 1)
        errors = np.asarray(bias)[levels] + rng.normal(0.0, spread, n_refs + 1)
        low, high = intervals.calibrated_interval(1.0 + errors[-1], errors[:-1])
        held += low <= 1.0 <= high
    return held / n_sims


def test_calibrated_intervals_hold_their_level_exactly_when_errors_are_normal():
    # one level: the errors are a shift plus normal noise, the prediction interval is exact
    coverage = simulated_coverage([0.3], 0.05, n_refs=10, n_sims=4000, seed=0)
    assert abs(coverage - 0.95) <= 3 * math.sqrt(0.95 * 0.05 / 4000)


def test_calibrated_intervals_hold_at_least_ninety_percent_over_levels_of_different_bias():
    # the biases of R at four levels of the book's validation (nats), pooled as the chapter pools them
    coverage = simulated_coverage([0.04, -0.01, -0.05, -0.27], 0.02, n_refs=10, n_sims=4000, seed=1)
    assert coverage >= 0.9  # the book's rule for an interval called 95 %

