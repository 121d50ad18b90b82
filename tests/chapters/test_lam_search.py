"""The analysis chapter's automatic search for `lam`: its evaluator, and what it gives up against the grid."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alignbook import analysis
from alignbook.analysis.protocol import t_test
from alignbook.chapters import lam_search
from alignbook.chapters.studies import training_budget
from alignbook.config import TrainConfig
from alignbook.training.results import FitResult

CONFIG = TrainConfig(**training_budget(64))  # the grid's recipe: early stopping, a step cap


def fake_results(lams, seeds, config):
    """Validation accuracy 1 - (lam - 1)^2 for encoder 1 and 1 - lam^2 / 10 for encoder 2."""
    return [FitResult(lam=lam, seed=s, config=config, val_acc1=1 - (lam - 1) ** 2, val_acc2=1 - lam**2 / 10,
                      steps=10 * config.num_epochs) for lam, s in zip(lams, seeds, strict=True)]


def test_search_evaluator_shares_runs_trains_a_fixed_budget_and_counts_it(monkeypatch):
    calls = []

    def fit_many(dataset, lams, seeds, config, *, threads):
        assert threads == 1  # the default of every trainer
        assert (config.num_steps, config.patience, config.check_every) == (0, 0, 0)  # epochs, no stopping
        calls.append((tuple(lams), config.num_epochs, config.eval_max_samples))
        return fake_results(lams, seeds, config)

    monkeypatch.setattr("alignbook.training.vectorized.fit_many", fit_many)
    evaluator = lam_search.SearchEvaluator(dataset=None, config=CONFIG)
    found = {e: analysis.search_lam(evaluator.for_encoder(e), (0.0, 2.0), budget=3, method="halving",
                                    n_grid=9, eta=3) for e in (1, 2)}
    assert found[1].lam_star == pytest.approx(1.0) and found[2].lam_star == pytest.approx(0.0)
    assert len([c for c in calls if c[1] == 1]) == 1  # encoder 2's first round came from memory
    assert all(c[2] == lam_search.SEARCH_EVAL_SAMPLES for c in calls)
    assert evaluator.runs_trained == sum(len(c[0]) for c in calls)
    assert evaluator.epochs_trained == sum(len(c[0]) * c[1] for c in calls)
    assert evaluator.steps_trained == 10 * evaluator.epochs_trained


def test_search_evaluator_scores_a_failed_run_zero(monkeypatch):
    def fit_many(dataset, lams, seeds, config, *, threads):
        results = fake_results(lams, seeds, config)
        results[0].status = "failed"
        return results

    monkeypatch.setattr("alignbook.training.vectorized.fit_many", fit_many)
    evaluator = lam_search.SearchEvaluator(None, CONFIG)
    # runs are trained in increasing lam order, so the failed first run is lam = 0.5
    assert evaluator.for_encoder(1)([1.0, 0.5], 1, 0) == [1.0, 0.0]
    with pytest.raises(ValueError, match="encoder"):
        evaluator.for_encoder(3)


def grid_table(test, valid, lams=(0.0, 1.0, 2.0)):
    """A results table of one level and encoder: `test[s]`, `valid[s]` per seed s over `lams`."""
    rows = [{"redundancy": 4, "encoder": 1, "lam": lam, "seed": s, "acc": t, "val_acc": v, "status": "ok"}
            for s, (ts, vs) in enumerate(zip(test, valid, strict=True))
            for lam, t, v in zip(lams, ts, vs, strict=True)]
    return pd.DataFrame(rows)


def found(lam):
    return analysis.LamSearchResult(lam_star=lam, value=0.9, method="halving", runs_spent=4, resource_spent=6)


def test_search_losses_read_each_seed_at_the_grid_optimum_and_between_grid_points():
    test = [[0.70, 0.80, 0.60], [0.72, 0.84, 0.60], [0.70, 0.82, 0.62]]
    valid = [[0.7, 0.9, 0.6]] * 3  # lam* = 1 on validation
    losses = lam_search.search_losses({(4, 1): found(0.5)}, grid_table(test, valid), "redundancy",
                                      margin=0.005)
    row = losses.iloc[0]
    # each seed: T(1) minus halfway between T(0) and T(1): 0.05, 0.06, 0.06
    assert row["loss"] == pytest.approx(np.mean([0.05, 0.06, 0.06]))
    assert (row["lam_grid"], row["lam_search"], row["n_seeds"]) == (1.0, 0.5, 3)
    assert row["p_loses"] < 0.01 and row["p_within"] > 0.99 and row["mde"] > 0
    same = lam_search.search_losses({(4, 1): found(1.0)}, grid_table(test, valid), "redundancy", 0.005)
    assert same.iloc[0]["loss"] == 0 and same.iloc[0]["mde"] == 0  # no spread: any distance is detected
    with pytest.raises(ValueError, match="no grid result"):
        lam_search.search_losses({(6, 1): found(0.5)}, grid_table(test, valid), "redundancy", 0.005)


@pytest.mark.parametrize("losses, verdict", [
    ([[0.05, 0.06, 0.06]] * 2, "confirmed"),  # loses far more than the margin in both searches
    ([[0.000, 0.001, -0.001]] * 2, "contradicted"),  # loses less than the margin in both
    ([[0.05, 0.06, 0.06], [0.000, 0.001, -0.001]], "partly confirmed"),
])
def test_search_claim_tests_the_loss_against_the_margin_both_ways(losses, verdict):
    rows = []
    for level, per_seed in zip((4, 8), losses, strict=True):
        mean, sd, n, p_loses = t_test(np.array(per_seed), "greater", null=0.005)
        p_within = t_test(np.array(per_seed), "less", null=0.005)[3]
        rows.append({"redundancy": level, "encoder": 1, "loss": mean, "p_loses": p_loses,
                     "p_within": p_within, "mde": 0.01})
    row = lam_search.search_claim(pd.DataFrame(rows), "redundancy")
    assert row["key"] == "grid_search" and row["verdict"] == verdict and row["cases"] == 2


def test_search_datasets_are_the_draws_of_one_seed_at_one_depth():
    class Result:  # what search_datasets reads of a SweepResult
        table = pd.DataFrame({"redundancy": [0, 0, 8, 8, 8, 8], "depth": [1, 1, 1, 1, 3, 3],
                              "seed": [1, 1, 1, 1, 1, 1], "encoder": [1, 2, 1, 2, 1, 2],
                              "run": [3, 3, 7, 7, 9, 9]})

        def dataset(self, run):
            return f"draw of run {run}"

    assert lam_search.search_datasets(Result(), depth=1, seed=1) == {0: "draw of run 3", 8: "draw of run 7"}
    with pytest.raises(ValueError, match="^seed:"):
        lam_search.search_datasets(Result(), depth=1, seed=0)
