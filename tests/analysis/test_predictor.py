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


def line_points() -> pd.DataFrame:
    """lam* = 2 R / I12 exactly, at 5 levels and 2 encoders."""
    levels = [0, 2, 4, 6, 8]
    return pd.DataFrame([{"redundancy": r, "encoder": e, "fraction": r / 8, "lam_star": 2 * r / 8}
                         for r in levels for e in (1, 2)])


def test_level_cv_leaves_whole_levels_out_beside_two_baselines():
    cv = analysis.level_cv(line_points(), "fraction")
    # the line is exact, but a prediction is clipped to the other levels' range: the end levels miss by 0.5
    assert cv["pred_model"].tolist() == pytest.approx([0.5, 0.5, 0.5, 0.5, 1.0, 1.0, 1.5, 1.5, 1.5, 1.5])
    assert cv["pred_median"].tolist() == pytest.approx([1.25] * 4 + [1.0] * 2 + [0.75] * 4)
    assert cv["pred_mode"].tolist() == [0.5, 0.5] + [0.0] * 8  # every value twice: the smallest wins
    assert analysis.predictor.modal_value([1.0, 2.0, 2.0, 0.5]) == 2.0
    with pytest.raises(ValueError, match="at least 3 values of 'redundancy'"):
        analysis.level_cv(line_points()[lambda f: f.redundancy < 4], "fraction")


def test_predictor_comparison_and_its_exact_permutation_test():
    table, p = analysis.predictor_comparison(line_points(), "fraction")
    assert table["mae"].tolist() == pytest.approx([0.2, 0.8, 1.1])
    assert list(table.index) == ["fraction", "median", "mode"]
    assert table["excess_mae"].tolist() == pytest.approx([0.0, 0.6, 0.9])
    assert p == pytest.approx(2 / 120)  # of the 120 orders of 5 levels, the identity and its reverse fit
    assert analysis.predictor_verdict(table, p, 0.05) == "confirmed"
    assert analysis.predictor_verdict(table, p, 0.01) == "not confirmed"
    worse = table.assign(excess_mae=[0.0, -0.1, 0.2])
    assert analysis.predictor_verdict(worse, 0.5, 0.05) == "contradicted"
    varying = line_points().assign(size=range(10))
    with pytest.raises(ValueError, match="vary within a value of 'redundancy'"):
        analysis.predictor_comparison(varying, ["fraction", "size"])


def test_predictor_comparison_holds_its_level_on_unrelated_features():
    rng = np.random.default_rng(0)
    p = []
    for i in range(100):
        points = line_points().assign(lam_star=rng.choice([0.0, 0.5, 1.0, 2.0], size=10))
        p.append(analysis.predictor_comparison(points, "fraction", seed=i)[1])
    assert np.mean(np.asarray(p) < 0.05) <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / 100)


def test_level_correlation_permutes_levels():
    rho, p_pos, p_neg = analysis.level_correlation(line_points(), "fraction")
    assert rho == pytest.approx(1.0) and p_pos == pytest.approx(1 / 120) and p_neg == 1.0
    falling = line_points().assign(lam_star=lambda f: 2 - f["lam_star"])
    rho, p_pos, p_neg = analysis.level_correlation(falling, "fraction")
    assert rho == pytest.approx(-1.0) and p_neg == pytest.approx(1 / 120) and p_pos == 1.0


def test_fit_plane_equals_scikit_learns_least_squares():
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(1)
    x = rng.normal(size=(12, 3))
    x[:, 2] = 4.0  # a feature that does not vary: coefficient 0 in both
    y = rng.normal(size=12)
    ours, theirs = analysis.predictor.fit_plane(x, y), LinearRegression().fit(x, y)
    assert ours.intercept_ == pytest.approx(theirs.intercept_) and np.allclose(ours.coef_, theirs.coef_)
    assert np.allclose(ours.predict(x[:3]), theirs.predict(x[:3]))
