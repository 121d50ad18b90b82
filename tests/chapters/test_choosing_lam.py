"""The analysis chapter's parameters, inputs and verdicts on `lam*`, on cases whose answers are known."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import jupytext
import numpy as np
import pandas as pd
import pytest
import yaml

from alignbook import analysis
from alignbook.chapters import choosing_lam, pid_validation, regime_map
from alignbook.data import synthetic
from alignbook.sweep import SweepSpec

ROOT = Path(__file__).resolve().parents[2]


def notebook_defaults(name: str) -> dict:
    """A chapter's parameters cell, as its notebook declares it."""
    notebook = jupytext.read(ROOT / "notebooks" / f"{name}.md")
    cell = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    values: dict = {}
    exec(cell.source, {}, values)
    return values


def defaults() -> dict:
    return notebook_defaults("06_analysis")


# ----------------------------------------------------------------------------------------------- parameters


def test_the_parameters_cell_declares_exactly_the_fields_and_passes_its_checks():
    values = defaults()
    assert set(values) == {f.name for f in dataclasses.fields(choosing_lam.Parameters)}
    p = choosing_lam.Parameters(**values)
    assert len(p.validation_cells()) == (2 * 2 * 5 + 2 * 3) * 3  # two sizes x 5 levels, the largest 3
    assert p.map_seeds_per_size == [5, 5, 6, 6, 3]


@pytest.mark.parametrize("name, value", [
    ("redundancies", [0, 8]),  # a line fitted on the other levels needs 3
    ("seeds", [0]),
    ("validation_draws", [0]),  # no other draw to calibrate on
    ("reference_size", 999),
    ("validation_sizes", [300, 2000]),  # too few rows for 5 folds of the learned estimators
    ("n_samples", 1000),  # 150 test rows to decompose
    ("map_seeds_per_size", [5, 5]),
    ("map_seeds_per_size", [2, 5, 6, 6, 3]),
    ("n_trains", [300, 100]),
    ("cluster_grid", [4, 0]),
    ("mfeat_pairs", [["fou", "fou"]]),
    ("map_step_scale", 0.0),
    ("n_permutations", 5),
])
def test_a_bad_parameter_is_refused_by_name(name, value):
    with pytest.raises(ValueError, match=f"^{name}:"):
        choosing_lam.Parameters(**{**defaults(), name: value})


def test_the_map_trains_as_chapter_04_scales_the_book_rule():
    for batch, scale in ((256, 1.0), (128, 0.05)):
        p = choosing_lam.Parameters(**{**defaults(), "map_batch_size": batch, "map_step_scale": scale})
        chapter_04 = regime_map.Parameters.train_options(SimpleNamespace(batch_size=batch, step_scale=scale))
        assert p.map_train() == chapter_04


# ------------------------------------------------------------------------------------------------- inputs


def small_spec(**changes) -> SweepSpec:
    values = {"name": "small", "dataset": {"kind": "synthetic", "n_samples": 256},
              "dataset_grid": {"redundancy": [0, 8], "depth": [1, 3]}, "lams": [0.0, 1.0], "seeds": [0, 1],
              "data_seed": "seed", "train": {"num_epochs": 1, "batch_size": 64}}
    return SweepSpec.from_dict({**values, **changes})


def test_representation_spec_keeps_one_lam_and_depth_and_the_seeds():
    spec = small_spec()
    rep = choosing_lam.representation_spec(spec, depth=3, seeds=[1])
    assert rep.lams == (0.0,) and rep.seeds == (1,)
    assert rep.dataset_grid == {"redundancy": [0, 8], "depth": [3]}
    assert rep.config() == spec.config() and rep.data_seed == spec.data_seed  # the same runs
    assert rep.name != spec.name


def test_lam0_inputs_are_one_data_draw_per_seed_and_share_rows(tmp_path, monkeypatch):
    monkeypatch.setenv("ALIGNBOOK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ALIGNBOOK_RESULTS", str(tmp_path / "results"))
    reps, raw = choosing_lam.lam0_inputs(small_spec(), depth=1, seeds=[0, 1])
    assert sorted(reps) == sorted(raw) == [(0, 0), (0, 1), (8, 0), (8, 1)]
    z1, z2, y = reps[(8, 1)]
    assert z1.shape[0] == z2.shape[0] == len(y)
    test = synthetic.make_dataset(8, depth=1, n_samples=256, seed=1).test  # seed 1 draws its own data
    for array, expected in zip(raw[(8, 1)], (test.x1, test.x2, test.y), strict=True):
        np.testing.assert_array_equal(array, expected[: len(y)])
    assert not np.array_equal(raw[(8, 0)][0], raw[(8, 1)][0])


# ------------------------------------------------------------------------------------------ lam* and claims


def test_lam_star_points_attach_fractions_and_fail_on_a_missing_level():
    optimum = pd.DataFrame({"redundancy": [0, 8], "encoder": [1, 1], "lam_star": [0.0, 1.0]})
    points = choosing_lam.lam_star_points(optimum, pd.Series({0: 0.2, 8: 1.0}), on="redundancy")
    assert list(points["redundancy_fraction"]) == [0.2, 1.0] and (points["kind"] == "synthetic").all()
    with pytest.raises(ValueError, match="fractions.*redundancy = \\[8\\]"):
        choosing_lam.lam_star_points(optimum, {0: 0.2}, on="redundancy")


@pytest.mark.parametrize("p_positive, p_negative, verdict", [
    (0.01, 0.99, "confirmed"), (0.99, 0.01, "contradicted"), (0.3, 0.7, "not confirmed")])
def test_redundancy_claim_reads_both_permutation_tests(p_positive, p_negative, verdict):
    row = choosing_lam.redundancy_claim(0.5, p_positive, p_negative, n_points=20, n_levels=5)
    assert row["key"] == "lam_redundancy" and row["verdict"] == verdict
    assert "20 points of 5 levels" in row["ours"]


def comparison(model, median, mode):
    table = pd.DataFrame({"mae": [model, median, mode]}, index=["redundancy_fraction", "median", "mode"])
    return table.assign(excess_mae=table["mae"] - model)


@pytest.mark.parametrize("maes, p_value, verdict", [
    ((0.2, 0.5, 0.6), 0.01, "confirmed"),  # better than both baselines, and the permutation test agrees
    ((0.2, 0.5, 0.6), 0.30, "not confirmed"),  # better, but a permuted fraction does as well
    ((0.7, 0.5, 0.6), 0.60, "contradicted"),  # a baseline predicts better and the test finds nothing
])
def test_predictor_claim_follows_the_comparison(maes, p_value, verdict):
    row = choosing_lam.predictor_claim(comparison(*maes), p_value)
    assert row["key"] == "pid_predicts" and row["verdict"] == verdict


@pytest.mark.parametrize("predicted, verdict", [
    ([0.5, 0.5], "partly confirmed"),  # all inside: membership is no test, so at most partly confirmed
    ([0.5, 3.0], "partly confirmed"), ([3.0, 3.0], "contradicted")])
def test_real_prediction_claim_counts_memberships(predicted, verdict):
    real_check = pd.DataFrame({"dataset": ["a", "a"], "encoder": [1, 2], "predicted": predicted,
                               "lam_low": [0.0, 0.0], "lam_high": [1.0, 1.0]})
    row = choosing_lam.real_prediction_claim(real_check)
    assert row["verdict"] == verdict and row["cases"] == 2
    assert row["agree"] == sum(v <= 1.0 for v in predicted)


# --------------------------------------------------------------------------------------------- the map


def map_points(lam_star, seed=0):
    """A constructed map: 3 levels x 2 depths x 3 sizes x 2 encoders, `lam_star(row)` per point."""
    rng = np.random.default_rng(seed)
    optimum = pd.DataFrame([{"depth": d, "n_train": n, "redundancy": r, "encoder": e, "gap": rng.uniform()}
                            for d in (1, 3) for n in (100, 1000, 10000) for r in (0, 4, 8) for e in (1, 2)])
    points = choosing_lam.regime_points(optimum, pid_validation.exact_pid_table([0, 4, 8]))
    return points.assign(lam_star=[lam_star(row, rng) for _, row in points.iterrows()])


def test_loo_mae_is_fit_lam_stars():
    points = map_points(lambda row, rng: row["redundancy_fraction"] + rng.normal(0, 0.3))
    points["constant"] = 2.0  # a feature that never varies: its coefficient is 0
    points["single"] = (np.arange(len(points)) == 5).astype(float)  # leaving point 5 out drops the rank
    for features in (["redundancy_fraction"], ["redundancy_fraction", "gap"],
                     ["redundancy_fraction", "constant"], ["gap", "single"]):
        fit = analysis.fit_lam_star(points, features)
        x = points[features].to_numpy(dtype=float)
        assert choosing_lam.loo_mae(x, points["lam_star"].to_numpy()) == pytest.approx(fit.loo_mae, abs=1e-10)


def test_a_feature_that_decides_lam_star_beyond_the_fraction_is_found():
    points = map_points(lambda row, rng: 2 * row["log10_n_train"] + rng.normal(0, 0.1))
    table = choosing_lam.feature_comparison.compute(points, n_permutations=199, seed=0)
    assert list(table.index) == list(choosing_lam.MAP_PREDICTORS)
    size, gap = table.loc["R / I12 + log10 n_train"], table.loc["R / I12 + Bayes gap"]
    assert size["improvement"] > 0.5 and size["p_better"] == pytest.approx(1 / 200)  # no permutation as good
    assert gap["p_better"] > 0.05  # a gap drawn at random says nothing
    verdicts = {row["key"]: row["verdict"] for row in choosing_lam.feature_claims(table)}
    assert verdicts == {"size_feature": "confirmed", "gap_feature": "not confirmed"}


def test_features_that_say_nothing_are_not_found_more_often_than_alpha():
    rejections = 0
    for seed in range(20):
        points = map_points(lambda row, rng: row["redundancy_fraction"] + rng.normal(0, 0.5), seed=seed)
        table = choosing_lam.feature_comparison.compute(points, n_permutations=99, seed=seed)
        rejections += int(table.loc["R / I12 + Bayes gap", "p_better"] < 0.05)
    assert rejections <= 3  # 20 tests at level 0.05: 1 expected, 4 or more has probability 0.016


def test_the_map_and_the_real_pairs_are_declared_as_chapters_04_and_05_declare_them():
    # the chapter reads their runs from the cache: a drift would silently train them again
    mine, map_chapter, real_chapter = defaults(), notebook_defaults("04_regime_map"), notebook_defaults(
        "05_real_data")
    p = choosing_lam.Parameters(**mine)
    ours = regime_map.regime_specs(
        redundancies=p.map_redundancies, depths=p.map_depths, n_trains=p.n_trains,
        seeds_per_size=p.map_seeds_per_size, lams=p.map_lams, n_samples=p.map_n_samples, train=p.map_train())
    q = regime_map.Parameters(**map_chapter)
    theirs = regime_map.regime_specs(
        redundancies=q.redundancies, depths=q.depths, n_trains=q.n_trains, seeds_per_size=q.seeds_per_size,
        lams=q.lams, n_samples=q.n_samples, train=q.train_options())
    assert [s.to_dict() for s in ours] == [s.to_dict() for s in theirs]
    assert mine["mfeat_pairs"] == real_chapter["mfeat_pairs"]
    assert (mine["real_lams"], mine["real_seeds"], mine["real_patience"]) == (
        real_chapter["lams"], real_chapter["seeds"], real_chapter["patience"])


def test_the_smoke_profile_reads_the_smoke_runs_of_chapters_03_04_and_05():
    smoke = yaml.safe_load((ROOT / "configs" / "smoke.yaml").read_text())
    mine = smoke["06_analysis"]
    pairs = [("03_synthetic_sweep", name, name) for name in ("redundancies", "depths", "lams", "seeds",
                                                            "n_samples", "batch_size")]
    pairs += [("04_regime_map", name, f"map_{name}") for name in ("redundancies", "depths", "lams",
                                                                  "n_samples", "batch_size", "step_scale")]
    pairs += [("04_regime_map", "n_trains", "n_trains"),
              ("04_regime_map", "seeds_per_size", "map_seeds_per_size")]
    pairs += [("05_real_data", "mfeat_pairs", "mfeat_pairs"), ("05_real_data", "lams", "real_lams"),
              ("05_real_data", "seeds", "real_seeds"), ("05_real_data", "patience", "real_patience")]
    for chapter, theirs, ours in pairs:
        assert mine.get(ours) == smoke[chapter].get(theirs), (chapter, theirs)
