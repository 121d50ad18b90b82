"""Claims over families of cells: Holm per direction, the counts u and v, the verdict, regime boundaries."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from alignbook.analysis import claims, load_protocol
from alignbook.analysis.protocol import mde

PLAN = load_protocol()
RISES, INVU = PLAN.claim("rises"), PLAN.claim("invu")


def cells(p_rise, p_fall, **columns) -> pd.DataFrame:
    """`optimal_lam`-like rows of one claim's cells (redundancy 8, encoders 1, 2, ...)."""
    n = len(p_rise)
    base = {"redundancy": 8, "encoder": np.arange(1, n + 1), "p_rise": p_rise, "p_fall": p_fall,
            "p_interior": 0.5, "p_no_gain": 0.5, "p_no_loss": 0.5, "gain": 0.01, "gain_low": 0.0,
            "gain_high": 0.02, "lam_star": 0.5, "lam_low": 0.2, "lam_high": 1.0, "sd_diff": 0.005,
            "mde": 0.007, "n_seeds": 5, "n_lams": 4, "lam_p": [{0.0: 0.01, 0.2: 0.4, 0.5: 1.0, 1.0: 0.3}] * n}
    return pd.DataFrame({**base, **columns})


def test_holm_adjusts_by_hand():
    assert claims.holm([0.01, 0.04, 0.03, 0.005]).tolist() == pytest.approx([0.03, 0.06, 0.06, 0.02])
    adjusted = claims.holm([0.01, np.nan, 0.04])  # an untestable cell does not count in the family
    assert adjusted[0] == pytest.approx(0.02) and np.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.04)
    batch = claims.holm(np.array([[0.01, 0.04, 0.03, 0.005], [0.5, 0.001, 0.9, 0.2]]))
    assert batch[1].tolist() == pytest.approx([1.0, 0.004, 1.0, 0.6])
    assert claims.holm([]).shape == (0,)


def test_verdict_rules():
    assert claims.verdict(0, 0, 0) == "not testable here"
    assert claims.verdict(2, 0, 2) == "confirmed"
    assert claims.verdict(1, 1, 3) == "partly confirmed"
    assert claims.verdict(0, 1, 3) == "contradicted"
    assert claims.verdict(0, 0, 3) == "not confirmed"


def test_a_rise_is_counted_after_holm():
    row = claims.shape_claim(RISES, cells([0.001, 0.03, 0.04], [0.5, 0.5, 0.5]), {"redundancy": [8]})
    # adjusted 0.003, 0.06, 0.06: one cell holds, although all three are below 0.05 alone
    assert (row["agree"], row["cases"], row["opposed"], row["verdict"]) == (1, 3, 0, "partly confirmed")
    assert row["ours"].startswith("holds in at least 1 of 3 cells, the opposite in 0; "
                                  "redundancy=8 encoder=1:")
    assert row["key"] == "rises" and row["claim"] == RISES.wording and row["correction"].startswith("Holm")
    assert (row["alpha"], row["margin"]) == (0.05, 0.005)
    confirmed = claims.shape_claim(RISES, cells([0.001, 0.01], [0.5, 0.5]), {"redundancy": [8]})
    assert confirmed["verdict"] == "confirmed"


def test_the_opposite_direction_is_held_to_the_same_standard():
    row = claims.shape_claim(RISES, cells([0.5, 0.6, 0.7], [0.001, 0.03, 0.04]), {"redundancy": [8]})
    assert (row["agree"], row["opposed"], row["verdict"]) == (0, 1, "contradicted")
    fall = dataclasses.replace(RISES, direction="fall")
    mirrored = claims.shape_claim(fall, cells([0.001, 0.03, 0.04], [0.5, 0.6, 0.7]), {"redundancy": [8]})
    assert (mirrored["agree"], mirrored["opposed"]) == (0, 1)  # a rise opposes a fall as a fall a rise
    assert (claims.shape_claim(fall, cells([0.5, 0.6, 0.7], [0.001, 0.03, 0.04]), {})["agree"]) == 1


def test_not_confirmed_reports_the_largest_mde_at_holms_first_step():
    frame = cells([0.2, 0.3], [0.5, 0.4], sd_diff=[0.004, 0.006], n_seeds=[5, 4])
    row = claims.shape_claim(RISES, frame, {"redundancy": [8]})
    assert row["verdict"] == "not confirmed"
    assert row["mde"] == pytest.approx(max(mde(0.004, 5, 0.025), mde(0.006, 4, 0.025)))


def test_untestable_cells_are_left_out_of_the_family():
    frame = cells([0.001, np.nan, 0.02], [0.5, np.nan, 0.5])
    row = claims.shape_claim(RISES, frame, {"redundancy": [8]})
    assert (row["agree"], row["cases"], row["untestable"], row["verdict"]) == (2, 2, 1, "confirmed")
    assert "(not testable)" in row["ours"]
    empty = claims.shape_claim(RISES, frame, {"redundancy": [2]})
    assert (empty["verdict"], empty["cases"]) == ("not testable here", 0)
    assert empty["ours"] == "no such case in this run"


def test_an_interior_optimum_needs_its_set_to_meet_the_range():
    frame = cells([0.001, 0.001], [0.5, 0.5], p_interior=[0.001, 0.002], lam_low=[0.2, 1.0],
                  lam_high=[1.0, 2.0])
    row = claims.shape_claim(INVU, frame, {"redundancy": [8]})
    assert (row["agree"], row["cases"]) == (1, 2)  # the second cell's set [1, 2] misses [0.4, 0.6]
    assert "[0.4, 0.6]" in row["expected"]


def test_an_interior_optimum_is_opposed_outside_its_range_or_by_a_fall_alone():
    outside = [{0.0: 0.001, 0.5: 0.004, 1.0: 1.0}, {0.0: 0.001, 0.5: 0.3, 1.0: 1.0}]
    frame = cells([0.5, 0.5], [0.5, 0.5], lam_p=outside)
    # p outside: 0.004 and 0.3, doubled (Bonferroni with the fall) 0.008 and 0.6; Holm: 0.016 and 0.6
    row = claims.shape_claim(INVU, frame, {"redundancy": [8]})
    assert (row["agree"], row["opposed"], row["verdict"]) == (0, 1, "contradicted")
    falls = cells([0.5, 0.001], [0.001, 0.001])  # the second one also rises: no opposition from it
    assert claims.shape_claim(INVU, falls, {"redundancy": [8]})["opposed"] == 1
    no_grid = cells([0.5], [0.5], lam_p=[{0.0: 1.0, 1.0: 1.0}])  # no lam of the grid inside [0.4, 0.6]
    assert claims.shape_claim(INVU, no_grid, {})["verdict"] == "not testable here"


def test_no_gain_is_an_equivalence_and_its_opposite_the_effect_beyond_the_margin():
    spec = dataclasses.replace(RISES, direction="no gain")
    row = claims.shape_claim(spec, cells([0.5, 0.5], [0.5, 0.5], p_no_gain=[0.001, 0.01]), {})
    assert (row["agree"], row["verdict"]) == (2, "confirmed")
    # beyond the margin at some lam: 3 lams > 0, so 3 x 0.001, then Holm over the 2 cells
    beyond = claims.shape_claim(spec, cells([0.5, 0.5], [0.5, 0.5], p_no_gain=[0.999, 0.5]), {})
    assert (beyond["agree"], beyond["opposed"], beyond["verdict"]) == (0, 1, "contradicted")
    weak = claims.shape_claim(spec, cells([0.5, 0.5], [0.5, 0.5], p_no_gain=[0.99, 0.5]), {})
    assert weak["opposed"] == 0  # 3 x 0.01, doubled by Holm: 0.06
    flat = dataclasses.replace(RISES, direction="flat")
    both = cells([0.5], [0.5], p_no_gain=[0.001], p_no_loss=[0.2])
    assert claims.shape_claim(flat, both, {})["verdict"] == "not confirmed"  # the larger p decides


def test_shape_claim_refuses_a_direction_it_does_not_test():
    with pytest.raises(ValueError, match="^spec"):
        claims.shape_claim(PLAN.claim("align"), cells([0.5], [0.5]), {})


def test_trend_claim_tests_both_directions():
    trends = pd.DataFrame({"redundancy": [0, 8, 4], "metric": "align_cka", "rho": [0.9, -0.8, 0.1],
                           "ci_low": [0.8, -0.9, -0.3], "ci_high": [1.0, -0.6, 0.5],
                           "p_rise": [0.001, 0.999, 0.3], "p_fall": [0.999, 0.001, 0.7]})
    row = claims.trend_claim(PLAN.claim("align"), trends, {"redundancy": [0, 8, 4]})
    assert (row["agree"], row["opposed"], row["cases"], row["verdict"]) == (1, 1, 3, "partly confirmed")
    assert "redundancy=0 metric=align_cka: Spearman rho = 0.90 [0.80, 1.00]" in row["ours"]


def test_difference_claim_is_welchs_test_between_a_cell_and_its_reference():
    optimum = pd.DataFrame({"dataset": ["p", "p", "q", "q"], "encoder": 2, "label_fraction": [0.05, 1.0] * 2,
                            "gain": [0.05, 0.005, 0.01, 0.012], "gain_low": 0.0, "gain_high": 0.1,
                            "sd": [0.01, 0.008, 0.01, 0.01], "n_seeds": [5, 4, 5, 5]})
    spec = PLAN.claim("weak_shrink")
    row = claims.difference_claim(spec, optimum, "label_fraction", 1.0, ["dataset"])
    p = stats.ttest_ind_from_stats(0.05, 0.01, 5, 0.005, 0.008, 4, equal_var=False,
                                   alternative="greater").pvalue
    assert p < 0.025 and (row["agree"], row["cases"], row["opposed"]) == (1, 2, 0)
    assert row["verdict"] == "partly confirmed" and "at label_fraction 0.05" in row["ours"]
    alone = claims.difference_claim(spec, optimum[optimum.dataset == "p"].iloc[:1], "label_fraction", 1.0,
                                    "dataset")
    assert alone["verdict"] == "not testable here"  # no reference cell


def test_correlation_claim_reads_its_one_sided_tests():
    spec = PLAN.claim("sharing_trend")
    assert claims.correlation_claim(spec, 0.6, 0.01, 0.99, "rho")["verdict"] == "confirmed"
    assert claims.correlation_claim(spec, -0.6, 0.99, 0.01, "rho")["verdict"] == "contradicted"
    assert claims.correlation_claim(spec, 0.1, 0.3, 0.7, "rho")["verdict"] == "not confirmed"
    row = claims.correlation_claim(spec, math.nan, math.nan, math.nan, "too few")
    assert (row["verdict"], row["untestable"], row["ours"], row["key"]) == ("not testable here", 1, "too few",
                                                                            "sharing_trend")


def test_interval_verdict():
    assert claims.interval_verdict(0.1, 0.9) == "confirmed"
    assert claims.interval_verdict(-0.9, -0.1) == "contradicted"
    assert claims.interval_verdict(-0.2, 0.5) == "not confirmed"
    assert claims.interval_verdict(math.nan, math.nan) == "not confirmed"


def test_claims_table_is_indexed_by_wording_and_keyed():
    table = claims.claims_table([claims.shape_claim(RISES, cells([0.001], [0.5]), {}),
                                 claims.shape_claim(INVU, cells([0.5], [0.5]), {})])
    assert list(table.index) == [RISES.wording, INVU.wording] and list(table["key"]) == ["rises", "invu"]
    expected = {"agree", "cases", "opposed", "verdict", "alpha", "correction", "margin", "mde"}
    assert expected <= set(table.columns)


def _verdicts(by_size):
    return pd.DataFrame([{"depth": 1, "encoder": 2, "n_train": n, "verdict": v} for n, v in by_size.items()])


def test_where_a_claim_stops_holding_along_the_labelled_set_size():
    verdicts = _verdicts({3000: "partly confirmed", 300: "confirmed", 1000: "confirmed",
                          10000: "not confirmed", 45875: "contradicted"})
    bounds = claims.regime_boundaries(verdicts, axis="n_train", by=["depth", "encoder"]).iloc[0]
    assert (bounds["holds_up_to"], bounds["fails_from"]) == (1000, 10000)  # sorted by n_train first
    assert bounds["summary"] == ("confirmed for n_train <= 1,000; partly confirmed at n_train = 3,000; "
                                 "not confirmed for n_train >= 10,000")


@pytest.mark.parametrize("by_size, up_to, fails_from, summary", [
    ({300: "confirmed", 1000: "confirmed"}, 1000, None, "confirmed at every n_train (300 to 1,000)"),
    ({300: "not confirmed", 1000: "contradicted"}, None, 300,
     "not confirmed at every n_train (300 to 1,000)"),
    ({300: "contradicted", 1000: "contradicted"}, None, 300, "contradicted at every n_train (300 to 1,000)"),
    ({300: "partly confirmed", 1000: "partly confirmed"}, None, None,
     "partly confirmed at every n_train (300 to 1,000)"),
    ({300: "not confirmed", 1000: "confirmed"}, None, None,
     "not confirmed for n_train <= 300; confirmed for n_train >= 1,000"),
])
def test_regime_boundaries_edge_cases(by_size, up_to, fails_from, summary):
    bounds = claims.regime_boundaries(_verdicts(by_size), axis="n_train").iloc[0]
    for value, expected in ((bounds["holds_up_to"], up_to), (bounds["fails_from"], fails_from)):
        assert (np.isnan(value) if expected is None else value == expected)
    assert bounds["summary"] == summary
