"""Verdicts on the paper's claims follow from the analysis tables, case by case."""

import numpy as np
import pandas as pd
import pytest

from alignbook.analysis.claims import (
    claims_table,
    per_regime,
    regime_boundaries,
    shape_claim,
    trend_claim,
    verdict,
)


def _optimum(shapes):
    rows = []
    for (redundancy, encoder), shape in shapes.items():
        rows.append({"redundancy": redundancy, "encoder": encoder, "shape": shape, "lam_star": 0.5,
                     "lam_low": 0.3, "lam_high": 0.7, "gain": 0.01, "gain_low": 0.0, "gain_high": 0.02})
    return pd.DataFrame(rows)


def test_verdict_rules():
    assert verdict([]) == "not testable here"
    assert verdict([True, True]) == "confirmed"
    assert verdict([True, False]) == "partly confirmed"
    assert verdict([False, None]) == "contradicted"
    assert verdict([None, None]) == "not confirmed"


def test_shape_claim_counts_agreeing_cases_and_respects_the_lam_range():
    optimum = _optimum({(4, 1): "interior optimum", (4, 2): "flat", (8, 1): "rises"})
    row = shape_claim("mixed", "[S]", optimum, {"redundancy": [4]}, ["interior optimum"])
    assert (row["agree"], row["cases"], row["verdict"]) == (1, 2, "partly confirmed")
    assert "redundancy=4 encoder=1: interior optimum, lam* = 0.5 [0.3, 0.7]" in row["ours"]
    outside = shape_claim("mixed", "[S]", optimum, {"redundancy": 4, "encoder": 1}, ["interior optimum"],
                          lam_range=(1.0, 2.0))
    assert outside["verdict"] == "contradicted"
    flat_only = shape_claim("mixed", "[S]", optimum, {"redundancy": 4, "encoder": 2}, ["interior optimum"])
    assert flat_only["verdict"] == "not confirmed"
    missing = shape_claim("low", "[S]", optimum, {"redundancy": [0, 2]}, ["falls"])
    assert missing["verdict"] == "not testable here"


def test_trend_claim_and_table():
    trends = pd.DataFrame({"redundancy": [0, 8], "metric": ["cka", "cka"], "rho": [0.9, -0.1],
                           "ci_low": [0.8, -0.3], "ci_high": [0.95, 0.2], "rises": [True, False]})
    row = trend_claim("alignment rises", "[S]", trends, {"redundancy": [0, 8]})
    assert row["verdict"] == "partly confirmed"
    table = claims_table([row])
    assert table.loc["alignment rises", "cases"] == 2


def _regime_optimum(shapes_by_size):
    """Optimum rows at r = 6, 8 for one encoder, per labelled-set size."""
    rows = []
    for n_train, shapes in shapes_by_size.items():
        for redundancy, shape in zip((6, 8), shapes, strict=True):
            rows.append({"depth": 1, "n_train": n_train, "redundancy": redundancy, "encoder": 2,
                         "shape": shape, "lam_star": 1.0, "lam_low": 0.5, "lam_high": 2.0, "gain": 0.01,
                         "gain_low": 0.0, "gain_high": 0.02})
    return pd.DataFrame(rows)


def _rises(table):
    return shape_claim("rises", "[S]", table, {"redundancy": [6, 8]}, ["rises", "interior optimum"])


def test_per_regime_verdicts_and_where_a_claim_stops_holding():
    optimum = _regime_optimum({300: ("rises", "rises"), 1000: ("rises", "interior optimum"),
                               3000: ("rises", "flat"), 10000: ("flat", "flat"), 45875: ("flat", "falls")})
    regimes = per_regime(_rises, optimum, axis="n_train", by=["depth", "encoder"])
    assert regimes["n_train"].tolist() == [300, 1000, 3000, 10000, 45875]
    assert regimes["verdict"].tolist() == ["confirmed", "confirmed", "partly confirmed", "not confirmed",
                                           "contradicted"]
    assert regimes["cases"].tolist() == [2] * 5
    bounds = regime_boundaries(regimes, axis="n_train", by=["depth", "encoder"]).iloc[0]
    assert (bounds["holds_up_to"], bounds["fails_from"]) == (1000, 10000)
    assert bounds["summary"] == ("confirmed for n_train <= 1,000; partly confirmed at n_train = 3,000; "
                                 "not confirmed for n_train >= 10,000")


@pytest.mark.parametrize("shapes, up_to, fails_from, summary", [
    ({300: ("rises", "rises"), 1000: ("rises", "rises")}, 1000, None,
     "confirmed at every n_train (300 to 1,000)"),
    ({300: ("flat", "flat"), 1000: ("falls", "falls")}, None, 300,
     "not confirmed at every n_train (300 to 1,000)"),
    ({300: ("falls", "falls"), 1000: ("falls", "falls")}, None, 300,
     "contradicted at every n_train (300 to 1,000)"),
    ({300: ("flat", "rises"), 1000: ("rises", "flat")}, None, None,
     "partly confirmed at every n_train (300 to 1,000)"),
    ({300: ("flat", "flat"), 1000: ("rises", "rises")}, None, None,
     "not confirmed for n_train <= 300; confirmed for n_train >= 1,000"),
])
def test_regime_boundaries_edge_cases(shapes, up_to, fails_from, summary):
    regimes = per_regime(_rises, _regime_optimum(shapes), axis="n_train")
    bounds = regime_boundaries(regimes, axis="n_train").iloc[0]
    for value, expected in ((bounds["holds_up_to"], up_to), (bounds["fails_from"], fails_from)):
        assert (np.isnan(value) if expected is None else value == expected)
    assert bounds["summary"] == summary
    with pytest.raises(ValueError, match="^table: has no column 'size'"):
        per_regime(_rises, _regime_optimum(shapes), by=["depth", "size"])
