"""The benchmark's idiomatic peer computes what the package's trainers compute, its agreement check holds
where rounding is all that differs and fails where results really differ, and the benchmark reports every
trainer."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from alignbook.config import TrainConfig
from alignbook.data.synthetic import make_dataset
from alignbook.training.bench import compare_runs, nudged, peer_agreement, seed_means
from alignbook.training.peer import peer_fit, textbook_info_nce
from alignbook.training.results import FitResult
from alignbook.training.single import fit

CONFIG = TrainConfig(num_epochs=2, batch_size=128)


@pytest.fixture(scope="module")
def dataset():
    return make_dataset(4, n_samples=2048, seed=0)


def test_peer_at_lam_zero_is_single_fit_bit_for_bit(dataset):
    # the same modules, initial weights, batches, losses, AdamW and clipping: training is identical
    peer, package = peer_fit(dataset, 0.0, 1, CONFIG), fit(dataset, 0.0, 1, CONFIG)
    for key in ("acc1", "acc2", "loss1", "val_acc1", "val_acc2", "best_epoch1", "best_epoch2"):
        assert getattr(peer, key) == pytest.approx(getattr(package, key), rel=1e-6, abs=0), key
    for mine, theirs in zip(peer.history, package.history, strict=True):
        for key in ("train_task1", "train_task2", "val_acc1", "val_acc2"):
            assert mine[key] == theirs[key], key
        # validation losses: a float32 mean here, a float64 sum of float32 chunks there
        assert mine["val_loss2"] == pytest.approx(theirs["val_loss2"], rel=1e-6)
        assert math.isnan(mine["train_align"]) and math.isnan(theirs["train_align"])
    assert (peer.steps, peer.hit_cap) == (package.steps, package.hit_cap)


def test_peer_with_alignment_matches_single_fit_to_rounding(dataset):
    # a textbook InfoNCE instead of the fused one: the first epoch's mean losses agree to float rounding
    config = CONFIG.replace(num_epochs=1)
    peer, package = peer_fit(dataset, 1.0, 0, config), fit(dataset, 1.0, 0, config)
    for key in ("train_task1", "train_task2", "train_align", "val_loss1", "val_loss2"):
        assert peer.history[0][key] == pytest.approx(package.history[0][key], rel=1e-3), key


def test_textbook_info_nce_is_the_papers_formula():
    generator = torch.Generator().manual_seed(0)
    p1, p2 = torch.randn(6, 3, generator=generator), torch.randn(6, 3, generator=generator)
    u1, u2 = (p / p.norm(dim=1, keepdim=True) for p in (p1, p2))
    logits = (u1 @ u2.T / 0.5).double()
    rows = -(logits.diagonal() - logits.logsumexp(dim=1)).mean()
    cols = -(logits.diagonal() - logits.logsumexp(dim=0)).mean()
    assert float(textbook_info_nce(p1, p2, 0.5)) == pytest.approx(float(rows + cols) / 2, rel=1e-6)


def test_peer_refuses_what_it_does_not_train(dataset):
    with pytest.raises(ValueError, match="config"):
        peer_fit(dataset, 1.0, 0, CONFIG.replace(learn_temperature=True))
    with pytest.raises(ValueError, match="lam_schedule"):
        peer_fit(dataset, 1.0, 0, CONFIG.replace(lam_schedule="warmup", schedule_epochs=1))
    with pytest.raises(ValueError, match="early stopping"):
        peer_fit(dataset, 1.0, 0, CONFIG.replace(patience=2))


def runs(accuracies: dict[tuple[float, int], tuple[float, float]]) -> list[FitResult]:
    return [FitResult(lam=lam, seed=seed, config=CONFIG, acc1=a1, acc2=a2)
            for (lam, seed), (a1, a2) in accuracies.items()]


PACKAGE = {(0.0, 0): (0.50, 0.60), (0.0, 1): (0.70, 0.60), (1.0, 0): (0.40, 0.80), (1.0, 1): (0.60, 0.90)}


def test_seed_means_average_each_lams_successful_runs():
    results = runs(PACKAGE) + [FitResult(lam=1.0, seed=2, config=CONFIG, status="failed")]
    means = seed_means(results)
    assert means.keys() == {0.0, 1.0}
    assert means[0.0] == pytest.approx((0.60, 0.60)) and means[1.0] == pytest.approx((0.50, 0.85))


def test_peer_agreement_is_the_largest_seed_mean_difference_against_the_floor():
    # per run the peer moves by 0.03, but in opposite directions over the seeds of lam = 0: seed means
    # move by (0.03 - 0.01) / 2 = 0.01 there and by 0.02 at lam = 1
    moved = dict(PACKAGE)
    moved[(0.0, 0)] = (0.53, 0.60)
    moved[(0.0, 1)] = (0.69, 0.60)
    moved[(1.0, 1)] = (0.60, 0.94)
    check = peer_agreement(runs(moved), runs(PACKAGE), floor_acc=0.025, n_test=1000)
    assert check["acc"] == pytest.approx(0.02) and check["tolerance"] == 0.025 and check["agree"]
    assert not peer_agreement(runs(moved), runs(PACKAGE), floor_acc=0.015, n_test=1000)["agree"]
    # rounding can always flip one test example: with no measured floor, one example's worth is tolerated
    assert peer_agreement(runs(moved), runs(PACKAGE), floor_acc=0.0, n_test=40)["tolerance"] == 0.025
    assert peer_agreement(runs(PACKAGE), runs(PACKAGE), floor_acc=0.0, n_test=1000) == {
        "acc": 0.0, "tolerance": 0.001, "agree": True}


def test_peer_agreement_fails_when_a_lam_has_no_successful_run_in_one_of_them():
    failed = [dataclasses.replace(r, status="failed") if r.lam == 1.0 else r for r in runs(PACKAGE)]
    check = peer_agreement(failed, runs(PACKAGE), floor_acc=0.5, n_test=1000)
    assert check["agree"] is False and check["acc"] == math.inf


def test_bench_quick_prints_the_peer_lines_before_the_speedup(capsys):
    from alignbook.training.bench import main

    assert main(["--quick"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-4].startswith("ensemble ") and lines[-4].endswith("x")
    assert lines[-3].startswith("idiomatic ") and lines[-3].endswith("x")
    assert lines[-2].startswith("peak ") and lines[-2].endswith("%")
    assert lines[-1].startswith("speedup ") and lines[-1].endswith("x")
    ratios = [float(line.split()[1].rstrip("x%")) for line in lines[-4:]]
    assert all(np.isfinite(ratios)) and all(value > 0 for value in ratios)
    assert any(line.startswith("bound: ") for line in lines)
    assert any(line.startswith("rounding floor") for line in lines)
    from alignbook.training.bench import TRAINERS

    for _, label in TRAINERS:
        assert any(line.startswith(label) and "ms per run-step" in line for line in lines), label
    assert any(line.startswith("torch.func ensemble vs fit_many") for line in lines)
    assert any(line.startswith("idiomatic peer's seed-mean accuracies") and line.endswith(": agree")
               for line in lines)


def test_nudge_moves_training_inputs_by_one_ulp(dataset):
    moved = nudged(dataset)
    for name in ("x1", "x2"):
        before, after = getattr(dataset.train, name), getattr(moved.train, name)
        nonzero = before != 0
        assert np.all(after[nonzero] > before[nonzero])
        assert np.array_equal(after[nonzero], np.nextafter(before[nonzero], np.float32(np.inf)))
        assert np.array_equal(after[~nonzero], before[~nonzero])
    assert moved.valid is dataset.valid and moved.test is dataset.test
    assert np.array_equal(moved.train.y, dataset.train.y)


def test_compare_runs_reports_differences_and_status():
    history = [{"train_task1": 1.0, "train_task2": 2.0, "train_align": math.nan, "val_loss1": 1.0,
                "val_loss2": 4.0}]
    results = [dataclasses.replace(r, history=history) for r in runs(PACKAGE)]
    same = compare_runs(results, results)
    assert same == {"acc": 0.0, "first_epoch": 0.0, "within": 1.0, "same_status": True}
    shifted = [dataclasses.replace(results[0], acc1=results[0].acc1 + 0.01), *results[1:]]
    moved = compare_runs(shifted, results)
    assert moved["acc"] == pytest.approx(0.01) and moved["within"] == 0.75
    later = [dataclasses.replace(results[0], history=[{**history[0], "val_loss2": 4.2}]), *results[1:]]
    assert compare_runs(later, results)["first_epoch"] == pytest.approx(0.05)
    failed = [dataclasses.replace(results[0], status="failed"), *results[1:]]
    assert compare_runs(failed, results)["same_status"] is False
