"""Chapter 02's module (`chapters.alignment_control`): its parameters, the first step its loss is computed
on, its runs from the cache, the tables its prose quotes (on constructed runs whose answers are known) and
the stored `lam = 0` check."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from alignbook.chapters import alignment_control
from alignbook.config import TrainConfig
from alignbook.data import synthetic
from alignbook.models import alignment
from alignbook.training.results import FitResult

DEFAULTS = {"redundancy": 4, "depth": 1, "lam": 1.0, "lams": [0.0, 0.3, 1.0, 3.0], "seed": 0,
            "n_samples": 65536, "num_epochs": 30, "workers": "auto", "backend": "local"}


def test_parameters_refuse_lam_zero_and_train_lam_and_zero_beside_lams():
    p = alignment_control.Parameters.from_namespace({**DEFAULTS, "lam": 2.0, "lams": "[3.0, 0.5]"})
    assert p.lams == [3.0, 0.5] and p.trained_lams == [0.0, 0.5, 2.0, 3.0]
    with pytest.raises(ValueError, match="^lam: must be > 0: the chapter compares it with lam = 0"):
        alignment_control.Parameters.from_namespace({**DEFAULTS, "lam": 0.0})
    with pytest.raises(ValueError, match="^num_epochs: must be at least 2, got 1"):
        alignment_control.Parameters.from_namespace({**DEFAULTS, "num_epochs": 1})
    with pytest.raises(ValueError, match="^backend: "):
        alignment_control.Parameters.from_namespace({**DEFAULTS, "backend": "slurm"})


def test_first_step_is_what_the_trainer_sees_at_its_first_step():
    dataset = synthetic.make_dataset(4, depth=1, n_samples=1024, seed=2)
    config = TrainConfig(num_epochs=1, batch_size=128)
    start = alignment_control.first_step(dataset, seed=5, config=config)
    assert start.x1.shape == (128, 12) and start.y.dtype == torch.int64
    with torch.no_grad():
        z1, out1 = start.branch1(start.x1)
        z2, out2 = start.branch2(start.x2)
        align = alignment.info_nce(start.branch1.projection(z1), start.branch2.projection(z2),
                                   config.temperature).item()
        task1, task2 = F.cross_entropy(out1, start.y).item(), F.cross_entropy(out2, start.y).item()
    losses = alignment_control.first_step_losses(dataset, lam=0.5, seed=5, config=config)
    assert losses == pytest.approx({"task1": task1, "task2": task2, "align": align,
                                    "total": task1 + task2 + 0.5 * align}, rel=1e-5)
    # another seed draws other weights and another batch: the check can fail
    other = alignment_control.first_step_losses(dataset, lam=0.5, seed=6, config=config)
    assert other["align"] != pytest.approx(align, rel=1e-5)


def run(lam: float, acc1: float, acc2: float, align: dict, history: list, best=(1, 1)) -> FitResult:
    return FitResult(lam=lam, seed=0, config=TrainConfig(), acc1=acc1, acc2=acc2, best_epoch1=best[0],
                     best_epoch2=best[1], alignment=align, alignment_chance={"mutual_knn": 0.1, "cka": 0.3},
                     history=history)


def constructed_runs(best_scores: bool = False) -> alignment_control.ControlRuns:
    nan = float("nan")
    base = run(0.0, 0.60, 0.50, {"mutual_knn": 0.2, "cka": 0.3},
               [{"train_align": nan}, {"train_align": nan}, {"train_align": nan}], best=(2, 0))
    aligned = run(2.0, 0.55, 0.58, {"mutual_knn": 0.4, "cka": 0.25},
                  [{"train_align": 6.0}, {"train_align": 5.5}, {"train_align": 5.0}])
    if best_scores:  # the best pair of layers: higher scores, and the layers that reach them
        base.alignment = {"mutual_knn": 0.3, "mutual_knn_layer1": 1, "cka": 0.5, "cka_layer1": 0}
        aligned.alignment = {"mutual_knn": 0.5, "mutual_knn_layer1": 2, "cka": 0.6, "cka_layer1": 1}
    return alignment_control.ControlRuns({0.0: base, 2.0: aligned}, sweep=None)


def test_curve_summary_reads_each_history():
    curves = alignment_control.curve_summary(constructed_runs())
    assert curves.loc[0.0].tolist() == [3, "not computed", "not computed", "not computed", 2, 0]
    assert curves.loc[2.0].tolist() == [3, "6.0000", "5.0000", "falls", 1, 1]


def test_accuracy_and_metric_comparisons_word_each_direction():
    runs = constructed_runs()
    accuracy = alignment_control.accuracy_comparison(runs, lam=2.0,
                                                     bounds={"bayes_acc_x1": 0.7, "bayes_acc_x2": 0.8})
    assert accuracy.loc["enc1"].tolist() == [0.60, 0.55, 0.7, "lower"]
    assert accuracy.loc["enc2"].tolist() == [0.50, 0.58, 0.8, "higher"]
    compared = alignment_control.metric_comparison(runs, 2.0)
    assert list(compared.columns) == ["lam = 0", "lam = 2", "chance", "lam = 0 vs chance",
                                      "lam = 2 vs lam = 0"]
    assert compared.loc["mutual_knn"].tolist() == [0.2, 0.4, 0.1, "above", "higher"]
    assert compared.loc["cka"].tolist() == [0.3, 0.25, 0.3, "at", "lower"]


def test_layer_comparison_keeps_the_scores_and_compares_directions():
    layers = alignment_control.layer_comparison(constructed_runs(), constructed_runs(best_scores=True), 2.0)
    assert layers.index.tolist() == ["mutual_knn", "cka"]  # not the best pair's layer numbers
    assert layers.loc["mutual_knn"].tolist() == [0.2, 0.4, 0.3, 0.5, "higher", "higher", "yes"]
    assert layers.loc["cka"].tolist() == [0.3, 0.25, 0.5, 0.6, "lower", "higher", "no"]


def test_control_runs_from_the_cache_equal_a_fresh_computation(tmp_path, monkeypatch):
    from alignbook.metrics import METRICS
    from alignbook.sweep.measure import measure_run
    from alignbook.training.common import representations
    from alignbook.training.vectorized import fit_many
    from alignbook.training.weights import load_branches

    monkeypatch.setenv("ALIGNBOOK_RESULTS", str(tmp_path / "results"))
    config = TrainConfig(num_epochs=2, eval_max_samples=300)
    lams = [1.0, 0.0]
    asked = {"redundancy": 4, "depth": 1, "n_samples": 4096, "seed": 0, "workers": 1}
    first = alignment_control.control_runs(lams=lams, config=config, **asked)
    cached = alignment_control.control_runs(lams=lams, config=config, **asked)
    assert (first.sweep.n_computed, cached.sweep.n_computed, cached.sweep.n_cached) == (2, 0, 2)
    dataset = synthetic.make_dataset(4, depth=1, n_samples=4096, seed=0)  # the seed draws the data
    np.testing.assert_array_equal(first.dataset.train.x1, dataset.train.x1)
    fresh = fit_many(dataset, [0.0, 1.0], [0, 0], config)
    assert list(first.runs) == list(cached.runs) == [0.0, 1.0]  # in increasing lam
    for lam, expected in zip([0.0, 1.0], fresh, strict=True):
        alignment, chance = measure_run(dataset, expected)
        branches = load_branches(config, dataset, expected.weights1, expected.weights2)
        z1, z2 = (representations(b, x[:300]) for b, x in zip(branches, (dataset.test.x1, dataset.test.x2),
                                                               strict=True))
        for runs in (first, cached):
            result = runs[lam]
            assert (result.lam, result.seed) == (lam, 0)
            assert (result.acc1, result.acc2) == (expected.acc1, expected.acc2)
            assert result.hit_cap and result.steps == expected.steps  # the whole fixed budget
            pd.testing.assert_frame_equal(pd.DataFrame(result.history), pd.DataFrame(expected.history),
                                          check_exact=True, check_like=True)  # NaN where skipped
            # the metrics in the metrics module's order, read from the cache or not: tables print alike
            assert list(result.alignment.items()) == list(alignment.items())
            assert list(result.alignment) == list(METRICS)
            assert result.alignment_chance == chance
            ours = runs.representations(lam, rows=300)
            np.testing.assert_array_equal(ours[0], z1)
            np.testing.assert_array_equal(ours[1], z2)
    assert first.table().index.tolist() == [0.0, 1.0] and first.table().loc[1.0, "acc1"] == fresh[1].acc1
    # another measurement option measures the same runs again and trains nothing
    best = alignment_control.control_runs(lams=lams, config=config.replace(metric_layer="best"),
                                          name="alignment_control_best", **asked)
    assert (best.sweep.n_computed, best.sweep.n_cached, best.sweep.n_measured) == (0, 2, 2)
    assert best[1.0].acc1 == first[1.0].acc1
    assert all(best[1.0].alignment[m] >= first[1.0].alignment[m] - 1e-12 for m in METRICS)
    with pytest.raises(ValueError, match="^workers: "):
        alignment_control.control_runs(lams=lams, config=config, **{**asked, "workers": 0})


def test_lam0_check_is_stored_and_keyed_by_the_training_code(monkeypatch):
    from alignbook.storage import deps
    from alignbook.training import single

    dataset = synthetic.make_dataset(4, depth=1, n_samples=1024, seed=0)
    config = TrainConfig(num_epochs=1)
    assert alignment_control.lam0_check(dataset, seed=0, config=config) == {"enc1": True, "enc2": True}
    monkeypatch.setattr(single, "lam0_matches_independent", lambda *a, **k: (False, True))
    # read back
    assert alignment_control.lam0_check(dataset, seed=0, config=config) == {"enc1": True, "enc2": True}
    # another seed is computed, with the stand-in
    assert alignment_control.lam0_check(dataset, seed=1, config=config) == {"enc1": False, "enc2": True}
    reached = deps.relative_names(deps.dependencies(alignment_control.lam0_check.__module__))
    assert "training/single.py" in reached and "plotting/house.py" not in reached
