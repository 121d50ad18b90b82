"""Verdicts on the paper's claims follow from the analysis tables, case by case."""

import pandas as pd

from alignbook.analysis.claims import claims_table, shape_claim, trend_claim, verdict


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
