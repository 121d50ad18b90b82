"""The regime map for readers: verdicts per point, boundaries in words, the claims over the map (on
chapter 03's levels), the cap."""

from __future__ import annotations

import pandas as pd

from alignbook.chapters import regime_map, regime_tables, studies, synthetic_sweep


def _optimum_and_trend():
    rows, trends = [], []
    for depth in (1, 10):
        for n_train in (300, 45875):
            for r in (0, 2, 4, 6, 8):
                for encoder in (1, 2):
                    rises = r >= 6 and n_train == 300
                    rows.append(dict(depth=depth, n_train=n_train, redundancy=r, encoder=encoder,
                                     shape="rises" if rises else "inconclusive", lam_star=1.0, lam_low=0.5,
                                     lam_high=2.0, lam_p={0.0: 0.5, 0.5: 1.0, 1.0: 1.0}, gain=0.01,
                                     gain_low=0.0, gain_high=0.02, p_rise=0.001 if rises else 0.5,
                                     p_fall=0.5, p_interior=0.5, p_no_gain=0.5, p_no_loss=0.5,
                                     sd_diff=0.005, mde=0.007, n_seeds=5,
                                     cap_share=0.2 * ((depth, n_train, r, encoder) == (10, 45875, 0, 1))))
                trends.append(dict(depth=depth, n_train=n_train, redundancy=r, metric="align_cka", rho=0.9,
                                   ci_low=0.8, ci_high=0.95, p_rise=0.001 if depth == 1 else 0.5,
                                   p_fall=0.5))
    return pd.DataFrame(rows), pd.DataFrame(trends)


def test_verdicts_per_regime_read_as_counts_boundaries_and_marks():
    optimum, trend = _optimum_and_trend()
    verdicts = regime_map.regime_verdicts(optimum, trend)
    assert len(verdicts) == 2 * 2 * (3 * 2 + 1)  # points x (three shape claims per encoder + the pair's)
    rises = verdicts[verdicts["key"] == "rises"].set_index(["depth", "encoder", "n_train"])
    assert rises.loc[(1, 2, 300), "verdict"] == "confirmed"
    assert rises.loc[(1, 2, 45875), "verdict"] == "not confirmed"
    assert rises.loc[(1, 2, 45875), "mde"] > 0.007  # at Holm's first step over the claim's 2 cells
    aligned = verdicts[verdicts["key"] == "align"].set_index(["depth", "n_train"])
    assert set(aligned["encoder"]) == {"pair"} and (aligned["cases"] == 5).all()
    assert aligned.loc[(1, 300), "verdict"] == "confirmed"
    assert aligned.loc[(10, 300), "verdict"] == "not confirmed"

    shown = regime_tables.verdict_table(verdicts)
    assert list(shown.columns) == ["300", "45,875"]
    assert shown.loc[("rises at r = 6, 8", 1, "encoder 2"), "300"] == "confirmed, 2 of 2"
    assert shown.loc[("rises at r = 6, 8", 1, "encoder 2"), "45,875"].startswith(
        "not confirmed, 0 of 2 (MDE 0.0")
    assert shown.loc[("falls at r = 0, 2", 10, "encoder 1"), "45,875"].endswith(regime_tables.CAP_MARK)
    assert not shown.loc[("falls at r = 0, 2", 10, "encoder 2"), "45,875"].endswith(regime_tables.CAP_MARK)
    assert shown.loc[("alignment rises", 10, "both (pair)"), "45,875"].endswith(regime_tables.CAP_MARK)
    assert not shown.isna().any().any()

    bounds = regime_tables.boundary_table(verdicts)
    assert bounds.index[0] == ("rises at r = 6, 8", 1, "encoder 1")  # claims in the protocol's order
    assert bounds.loc[("rises at r = 6, 8", 1, "encoder 2"), "where it holds"] == (
        "confirmed for n_train <= 300; not confirmed for n_train >= 45,875")
    glued = regime_tables.boundary_glue(verdicts, shallow=1, deep=10)
    assert glued["rises_shallow_enc2"] == "confirmed for n_train <= 300; not confirmed for n_train >= 45,875"
    assert glued["align_deep_pair"] == "not confirmed at every n_train (300 to 45,875)"
    one_depth = regime_tables.boundary_glue(verdicts, shallow=1, deep=1)
    assert set(one_depth) == set(glued)  # one depth: both names
    both = "(confirmed for n_train <= 300; not confirmed for n_train >= 45,875)"
    assert regime_tables.claim_by_depth(glued, "rises", 1, 10) == (
        f"at depth 1, encoder 1 {both} and encoder 2 {both}; "
        f"at depth 10, encoder 1 {both} and encoder 2 {both}")
    assert regime_tables.claim_by_depth(glued, "align", 1, 1) == (
        "at depth 1 (confirmed at every n_train (300 to 45,875))")


def test_claims_over_the_map_and_per_regime_for_readers():
    optimum, trend = _optimum_and_trend()
    claims = regime_map.regime_claims(optimum, trend)
    assert list(claims.by_regime) == ["d = 1, n_train = 300", "d = 1, n_train = 45,875",
                                      "d = 10, n_train = 300", "d = 10, n_train = 45,875"]
    assert list(claims.overall.index) == list(claims.by_regime["d = 1, n_train = 300"].index)
    assert claims.by_regime["d = 10, n_train = 300"].loc[synthetic_sweep.ALIGNMENT_CLAIM, "verdict"] == (
        "not confirmed")
    ends = regime_map.regime_claims(optimum, trend, sizes=[45875]).by_regime
    assert list(ends) == ["d = 1, n_train = 45,875", "d = 10, n_train = 45,875"]
    shown = regime_tables.claims_reader(claims.overall)
    assert shown.loc["rises at r = 6, 8", "holds in"] == "8 of 16 cells"
    assert shown.loc["rises at r = 6, 8", "verdict"] == "partly confirmed"
    assert shown.loc["alignment rises", "largest MDE"] == "none (a rank test)"
    assert not shown.isna().any().any()
    differs = regime_tables.differing_claims(claims.overall)
    assert ("rises at r = 6, 8 is partly confirmed over the map (it holds in 8 of 16 cells, its opposite "
            "in 0)") in differs
    confirmed = claims.overall.assign(verdict="confirmed")
    assert regime_tables.differing_claims(confirmed) == "none"


def test_cap_table_marks_the_cells_above_the_limit():
    table = pd.DataFrame([{"depth": 1, "n_train": n, "redundancy": 8, "encoder": e, "status": "ok",
                           "best_step": 50, "steps": 100, "hit_cap": n == 1000 and seed < 2, "seed": seed}
                          for n in (300, 1000) for e in (1, 2) for seed in range(10)])
    shown = regime_tables.cap_table(table)
    assert shown.loc[(1, 1, 8), "300"] == "0.00"
    assert shown.loc[(1, 2, 8), "1,000"] == studies.cap_text(0.2) == "0.20 (over 0.05)"


def test_claim_levels_are_the_levels_of_chapter_03s_claims():
    optimum, trend = _optimum_and_trend()
    cells = optimum[(optimum["depth"] == 1) & (optimum["n_train"] == 300) & (optimum["encoder"] == 1)]
    claims = synthetic_sweep.synthetic_claims(cells, trend.head(0), ["redundancy"]).set_index("key")
    for key, levels in regime_map.CLAIM_LEVELS.items():
        named = {r for r in range(9) if f"redundancy={r} " in claims.loc[key, "ours"]}
        assert named == set(levels), key
