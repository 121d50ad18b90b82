"""Verdicts on the paper's claims follow from the analysis tables, case by case."""

import numpy as np
import pandas as pd
import pytest

from alignbook.analysis.claims import (
    claims_table,
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


def _verdicts(by_size):
    """A verdict table of one claim along n_train, each verdict that of `shape_claim` on two cases."""
    rows = []
    for n_train, shapes in by_size.items():
        optimum = pd.DataFrame({"redundancy": [6, 8], "encoder": 2, "shape": list(shapes), "lam_star": 1.0,
                                "lam_low": 0.5, "lam_high": 2.0, "gain": 0.01, "gain_low": 0.0,
                                "gain_high": 0.02})
        row = shape_claim("rises", "[S]", optimum, {"redundancy": [6, 8]}, ["rises", "interior optimum"])
        rows.append({"depth": 1, "encoder": 2, "n_train": n_train, "verdict": row["verdict"]})
    return pd.DataFrame(rows)


def test_where_a_claim_stops_holding_along_the_labelled_set_size():
    verdicts = _verdicts({3000: ("rises", "flat"), 300: ("rises", "rises"),
                          1000: ("rises", "interior optimum"), 10000: ("flat", "flat"),
                          45875: ("flat", "falls")})
    bounds = regime_boundaries(verdicts, axis="n_train", by=["depth", "encoder"]).iloc[0]
    assert (bounds["holds_up_to"], bounds["fails_from"]) == (1000, 10000)  # sorted by n_train first
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
    bounds = regime_boundaries(_verdicts(shapes), axis="n_train").iloc[0]
    for value, expected in ((bounds["holds_up_to"], up_to), (bounds["fails_from"], fails_from)):
        assert (np.isnan(value) if expected is None else value == expected)
    assert bounds["summary"] == summary
