"""The analysis chapter's helpers, on cases whose answers are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from alignbook import analysis
from alignbook.analysis import claims
from alignbook.chapters import choosing_lam, synthetic_sweep
from alignbook.data import synthetic
from alignbook.training.results import FitResult
from alignbook.training.threads import limited_threads

# --------------------------------------------------------------------------------------------- decompositions


def test_exact_pid_table_matches_exact_info_and_adds_fractions():
    table = choosing_lam.exact_pid_table([0, 8])
    assert list(table.index) == [0, 8]
    exact = synthetic.exact_info(0)
    assert table.loc[0, "R"] == pytest.approx(exact["pid_redundancy"])
    assert table.loc[0, "S"] == pytest.approx(exact["pid_synergy"])
    parts = table[["R", "U1", "U2", "S"]].sum(axis=1)
    np.testing.assert_allclose(parts, table["I12"], atol=1e-4)  # the parts add up to the total
    assert table.loc[8, "redundancy_fraction"] == pytest.approx(1.0, abs=1e-4)
    assert table.loc[0, "shared_bits"] == 0 and table.loc[8, "shared_bits"] == 1
    assert (table.loc[0, "u1"], table.loc[0, "u2"]) == (4, 4)


def copy_samples(n=4000, seed=0):
    """x2 a noisy copy of x1 and y = x1 (four classes): all information is redundant."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    x1 = np.eye(4)[y] + rng.normal(0, 0.05, (n, 4))
    x2 = np.eye(4)[y] + rng.normal(0, 0.05, (n, 4))
    return x1, x2, y


def test_estimate_table_recovers_pure_redundancy_and_flags_coverage():
    x1, x2, y = copy_samples()
    exact = pd.DataFrame({"R": [np.log(4)], "U1": [0.0], "U2": [0.0], "S": [0.0], "I12": [np.log(4)]},
                         index=[7])
    table = choosing_lam.estimate_table({7: (x1, x2, y)}, exact, "raw", method="kmeans", n_clusters=4,
                                          n_bootstrap=20)
    assert set(table["quantity"]) == {"R", "U1", "U2", "S", "I12"}
    row = table.set_index("quantity").loc["R"]
    assert row["estimate"] == pytest.approx(np.log(4), abs=0.02)
    assert abs(row["error"]) < 0.02
    assert row["low"] <= row["estimate"] <= row["high"]
    assert table["covered"].dtype == bool
    assert (table["source"] == "raw").all() and (table["level"] == 7).all()


def test_estimate_table_without_exact_has_no_error_columns():
    x1, x2, y = copy_samples(500)
    table = choosing_lam.estimate_table({0: (x1, x2, y)}, method="kmeans", n_clusters=4, n_bootstrap=0)
    assert "error" not in table.columns and len(table) == 5


def test_sensitivity_table_has_one_row_per_cluster_count_and_quantity():
    x1, x2, y = copy_samples(600)
    exact = {"R": 1.0, "U1": 0.0, "U2": 0.0, "S": 0.0, "I12": 1.0}
    table = choosing_lam.sensitivity_table(x1, x2, y, [2, 4], exact, n_bootstrap=0)
    assert len(table) == 10
    assert sorted(set(table["n_clusters"])) == [2, 4]
    assert (table["exact"] == table["quantity"].map(exact)).all()


def test_pid_row_and_dataset_pids():
    x1, x2, y = copy_samples(800)
    dataset = synthetic.make_dataset(8, depth=0, n_samples=400)
    frame = choosing_lam.dataset_pids({"a": dataset}, method="kmeans", n_clusters=4, n_bootstrap=5)
    assert list(frame.index) == ["a"]
    row = frame.loc["a"]
    assert row["R_low"] <= row["R_high"]
    assert row["redundancy_fraction"] == pytest.approx(row["R"] / row["I12"])
    rows = choosing_lam.all_rows(dataset)
    assert len(rows[0]) == 400 and len(rows[2]) == 400


def test_representation_spec_keeps_representations_of_one_lam_seed_and_depth():
    spec = synthetic_sweep.synthetic_sweep_spec([0, 8], [1, 3], [0.0, 1.0], [0, 1], n_samples=512,
                                                num_epochs=1)
    rep = choosing_lam.representation_spec(spec, depth=3, seed=1)
    assert rep.keep_representations
    assert rep.lams == (0.0,) and rep.seeds == (1,)
    assert rep.dataset_grid == {"redundancy": [0, 8], "depth": [3]}
    assert rep.config() == spec.config()  # trained as the grid trains
    assert rep.name != spec.name


def test_lam0_representations_and_raw_inputs_share_rows(tmp_path, monkeypatch):
    monkeypatch.setenv("ALIGNBOOK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ALIGNBOOK_RESULTS", str(tmp_path / "results"))
    spec = synthetic_sweep.synthetic_sweep_spec([0, 8], [1], [0.0], [0], n_samples=256, num_epochs=1,
                                                batch_size=64)
    reps, raw = choosing_lam.lam0_representations(spec, depth=1, seed=0)
    assert sorted(reps) == sorted(raw) == [0, 8]
    z1, z2, y = reps[8]
    assert z1.shape[0] == z2.shape[0] == len(y)
    test = synthetic.make_dataset(8, depth=1, n_samples=256, seed=spec.data_seed).test
    for array, expected in zip(raw[8], (test.x1, test.x2, test.y), strict=True):  # the same test rows
        np.testing.assert_array_equal(array, expected[: len(y)])


def test_limited_threads_restores_the_setting():
    before = torch.get_num_threads()
    with limited_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


# --------------------------------------------------------------------------------------------- lam* points


def test_lam_star_points_attach_fractions_and_fail_on_a_missing_level():
    optimum = pd.DataFrame({"redundancy": [0, 8], "encoder": [1, 1], "lam_star": [0.0, 1.0]})
    points = choosing_lam.lam_star_points(optimum, pd.Series({0: 0.2, 8: 1.0}), on="redundancy")
    assert list(points["redundancy_fraction"]) == [0.2, 1.0]
    assert (points["kind"] == "synthetic").all()
    with pytest.raises(ValueError, match="fractions.*redundancy = \\[8\\]"):
        choosing_lam.lam_star_points(optimum, {0: 0.2}, on="redundancy")


def test_mean_baseline_loo():
    assert choosing_lam.mean_baseline_loo([1.0, 1.0, 1.0]) == 0.0
    # each value predicted by the mean of the other two: errors 1.5, 0, 1.5
    assert choosing_lam.mean_baseline_loo([0.0, 1.0, 2.0]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="values"):
        choosing_lam.mean_baseline_loo([1.0])


# --------------------------------------------------------------------------------------------------- search


def fake_results(lams, seeds, config):
    """Validation accuracy 1 - (lam - 1)^2 for encoder 1 and 1 - lam^2 / 10 for encoder 2."""
    return [FitResult(lam=lam, seed=s, config=config, val_acc1=1 - (lam - 1) ** 2, val_acc2=1 - lam**2 / 10)
            for lam, s in zip(lams, seeds, strict=True)]


def test_search_evaluator_shares_runs_between_encoders(monkeypatch):
    calls = []

    def fit_many(dataset, lams, seeds, config, *, threads):
        assert threads == 1  # the default of every trainer
        calls.append((tuple(lams), config.num_epochs, config.eval_max_samples))
        return fake_results(lams, seeds, config)

    monkeypatch.setattr("alignbook.training.vectorized.fit_many", fit_many)
    evaluator = choosing_lam.SearchEvaluator(dataset=None, config=synthetic_sweep.synthetic_sweep_spec(
        [0], [1], [0.0], [0]).config())
    found = {e: analysis.search_lam(evaluator.for_encoder(e), (0.0, 2.0), budget=3, method="halving",
                                    n_grid=9, eta=3) for e in (1, 2)}
    assert found[1].lam_star == pytest.approx(1.0)
    assert found[2].lam_star == pytest.approx(0.0)
    first_round = [c for c in calls if c[1] == 1]
    assert len(first_round) == 1  # encoder 2's first round came from memory
    assert all(c[2] == choosing_lam.SEARCH_EVAL_SAMPLES for c in calls)
    assert evaluator.runs_trained == sum(len(c[0]) for c in calls)
    assert evaluator.epochs_trained == sum(len(c[0]) * c[1] for c in calls)


def test_search_evaluator_scores_a_failed_run_zero(monkeypatch):
    def fit_many(dataset, lams, seeds, config, *, threads):
        results = fake_results(lams, seeds, config)
        results[0].status = "failed"
        return results

    monkeypatch.setattr("alignbook.training.vectorized.fit_many", fit_many)
    config = synthetic_sweep.synthetic_sweep_spec([0], [1], [0.0], [0]).config()
    evaluator = choosing_lam.SearchEvaluator(None, config)
    # runs are trained in increasing lam order, so the failed first run is lam = 0.5
    assert evaluator.for_encoder(1)([1.0, 0.5], 1, 0) == [1.0, 0.0]
    with pytest.raises(ValueError, match="encoder"):
        evaluator.for_encoder(3)


def grid_frames():
    lams = [0.0, 1.0, 2.0]
    summary = pd.DataFrame({"redundancy": 4, "encoder": 1, "lam": lams, "mean": [0.70, 0.80, 0.60],
                            "ci_low": [0.69, 0.79, 0.59], "ci_high": [0.71, 0.81, 0.61]})
    optimum = pd.DataFrame({"redundancy": [4], "encoder": [1], "lam_star": [1.0], "lam_low": [1.0],
                            "lam_high": [1.0]})
    return summary, optimum


def test_search_table_interpolates_the_grid_curve():
    summary, optimum = grid_frames()
    result = analysis.LamSearchResult(lam_star=0.5, value=0.9, method="halving", runs_spent=4,
                                      resource_spent=6)
    table = choosing_lam.search_table({(4, 1): result}, summary, optimum, "redundancy", 9, 90)
    row = table.iloc[0]
    assert row["lam_distance"] == pytest.approx(0.5)
    assert row["acc_search"] == pytest.approx(0.75)  # halfway between 0.70 and 0.80
    assert row["acc_lost"] == pytest.approx(0.05)
    assert not row["within_noise"]
    assert (row["search_epochs"], row["grid_epochs"]) == (6, 90)
    on_target = analysis.LamSearchResult(1.0, 0.9, "halving", 1, 1)
    assert choosing_lam.search_table({(4, 1): on_target}, summary, optimum, "redundancy", 9, 90).iloc[0][
        "within_noise"]
    with pytest.raises(ValueError, match="no grid result"):
        choosing_lam.search_table({(6, 1): result}, summary, optimum, "redundancy", 9, 90)


# ------------------------------------------------------------------------------------------------- verdicts


@pytest.mark.parametrize("low, high, expected", [
    (0.1, 0.9, "confirmed"), (-0.9, -0.1, "contradicted"), (-0.2, 0.5, "not confirmed"),
    (float("nan"), float("nan"), "not confirmed")])
def test_interval_verdict(low, high, expected):
    assert claims.interval_verdict(low, high) == expected


def test_within_interval_verdict():
    assert choosing_lam.within_interval_verdict([1, 2], [0, 0], [3, 3]) == "confirmed"
    assert choosing_lam.within_interval_verdict([1, 5], [0, 0], [3, 3]) == "partly confirmed"
    assert choosing_lam.within_interval_verdict([], [], []) == "not testable here"


@pytest.mark.parametrize("name, value", [("n_clusters", 1), ("cluster_grid", [4, 0]), ("cluster_grid", 8),
                                         ("n_bootstrap", 0), ("search_grid", 2), ("search_eta", 1),
                                         ("real_search_budget", -1)])
def test_check_study_parameters_names_the_bad_one(name, value):
    values = dict(n_clusters=16, n_components=4, cluster_grid=[4, 8], n_bootstrap=10, search_grid=9,
                  search_eta=3, search_budget=3, real_search_budget=9)
    choosing_lam.check_study_parameters(**values)
    with pytest.raises(ValueError, match=f"^{name}:"):
        choosing_lam.check_study_parameters(**{**values, name: value})


@pytest.mark.slow
def test_decompositions_do_not_depend_on_the_number_of_worker_processes():
    datasets = {f"r{r}": synthetic.make_dataset(r, depth=0, n_samples=400) for r in (0, 8)}
    options = dict(method="kmeans", n_clusters=4, n_bootstrap=5)
    alone = choosing_lam.dataset_pids.compute(datasets, workers=1, **options)
    spread = choosing_lam.dataset_pids.compute(datasets, workers=2, **options)
    pd.testing.assert_frame_equal(alone, spread, check_exact=True)
    assert list(alone.index) == ["r0", "r8"] and alone.loc["r8", "R"] > alone.loc["r0", "R"]
    # estimate_table spreads its levels the same way (`studies.map_in_processes`); one process here
    samples = {r: choosing_lam.all_rows(d) for r, d in zip((0, 8), datasets.values(), strict=True)}
    table = choosing_lam.estimate_table.compute(samples, workers=1, **options)
    assert table[table["quantity"] == "R"]["estimate"].tolist() == alone["R"].tolist()
