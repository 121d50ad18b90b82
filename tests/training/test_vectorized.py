"""The vectorised trainer reproduces single.fit run by run, marks diverged runs, and refuses bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from alignbook.config import TrainConfig
from alignbook.data import PairedDataset, PairedSplit

ACC_TOL, ALIGN_TOL = 0.002, 0.01
CONFIG = TrainConfig(num_epochs=3, batch_size=128, eval_max_samples=500)


def _dataset(n: int = 6000, seed: int = 0, task: str = "classification") -> PairedDataset:
    """Continuous inputs, so that representations have full rank and every alignment metric is well
    conditioned (with binary inputs SVCCA moves by ~0.01 under rounding-level changes of z)."""
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n, 16)).astype(np.float32)
    x1 = latent[:, :12]
    x2 = np.tanh(np.concatenate([latent[:, :8], latent[:, 12:]], axis=1) @ rng.standard_normal((12, 12)))
    x2 = x2.astype(np.float32)
    if task == "classification":
        y = ((latent[:, 0] > 0) * 1 + (latent[:, 1] > 0) * 2 + (latent[:, 9] * latent[:, 13] > 0)) % 4
    else:
        y = (latent[:, 0] + latent[:, 13]).astype(np.float32)
    a, b = int(0.5 * n), int(0.6 * n)  # a large test split: accuracy moves in steps of 1 / n_test

    def split(rows):
        return PairedSplit(x1[rows], x2[rows], y[rows])

    return PairedDataset(split(slice(0, a)), split(slice(a, b)), split(slice(b, n)), task=task,
                         num_classes=4 if task == "classification" else None)


@pytest.fixture(scope="module")
def dataset():
    return _dataset()


LOSS_RTOL, VAL_ACC_TOL = 1e-2, 0.01  # validation accuracy: a few examples


def _assert_same(vectorised, one_run):
    """Equal to float rounding: histories close, then equal final scores, unless the checkpoint choice
    itself was a near-tie that rounding may decide (then the two candidate epochs must nearly tie)."""
    assert vectorised.status == one_run.status
    if not one_run.ok:
        assert vectorised.error == one_run.error
        return
    assert [list(r) for r in vectorised.history] == [list(r) for r in one_run.history]
    for mine, theirs in zip(vectorised.history, one_run.history, strict=True):
        for key, value in theirs.items():
            if key.startswith("val_acc"):
                assert abs(mine[key] - value) <= VAL_ACC_TOL, key
            elif not (math.isnan(value) and math.isnan(mine[key])):
                assert mine[key] == pytest.approx(value, rel=LOSS_RTOL, abs=1e-6), key
    steps = [record["step"] for record in one_run.history]
    for m in (1, 2):
        chosen, reference = getattr(vectorised, f"best_step{m}"), getattr(one_run, f"best_step{m}")
        if chosen != reference:  # a near-tie in validation accuracy, decided by rounding
            accuracies = [one_run.history[steps.index(step)][f"val_acc{m}"] for step in (chosen, reference)]
            assert abs(accuracies[0] - accuracies[1]) <= VAL_ACC_TOL
            return
        assert getattr(vectorised, f"best_epoch{m}") == getattr(one_run, f"best_epoch{m}")
    assert abs(vectorised.acc1 - one_run.acc1) <= ACC_TOL
    assert abs(vectorised.acc2 - one_run.acc2) <= ACC_TOL
    assert set(vectorised.alignment) == set(one_run.alignment)
    for name, value in one_run.alignment.items():
        assert abs(vectorised.alignment[name] - value) <= ALIGN_TOL, name


def test_agrees_with_one_run_trainer_on_a_step_budget(dataset):
    from alignbook.training.single import fit
    from alignbook.training.vectorized import fit_many

    config = CONFIG.replace(num_steps=40, num_checkpoints=6)  # validated at geometrically spaced steps
    lams, seeds = [0.0, 1.0, 2.0], [0, 0, 1]
    many = fit_many(dataset, lams, seeds, config)
    for result, lam, seed in zip(many, lams, seeds, strict=True):
        _assert_same(result, fit(dataset, lam=lam, seed=seed, config=config, on_divergence="mark"))
    assert [record["step"] for record in many[0].history] == [1, 2, 4, 9, 19, 40]


@pytest.mark.parametrize("changes", [
    {"projection": "linear", "temperature": 0.3},
    {"projection": "none", "temperature": 0.05},
    {"projection": "mlp", "proj_dim": 8},
], ids=lambda changes: ",".join(f"{k}={v}" for k, v in changes.items()))
def test_projection_heads_step_as_the_one_run_trainer(dataset, changes):
    """The first steps' losses agree to float rounding (a wrong gradient moves them by far more); later,
    rounding differences grow as training amplifies them (by 1e-4 after a dozen steps at lam = 2 here)."""
    from alignbook.training.single import fit
    from alignbook.training.vectorized import fit_many

    config = CONFIG.replace(num_steps=6, num_checkpoints=6, eval_max_samples=100, **changes)
    lams, seeds = [0.0, 1.0, 2.0], [0, 0, 1]
    for result, lam, seed in zip(fit_many(dataset, lams, seeds, config), lams, seeds, strict=True):
        reference = fit(dataset, lam=lam, seed=seed, config=config)
        assert [r["step"] for r in result.history] == [1, 2, 3, 4, 6]  # 6 geometric points, 2 merged
        for mine, theirs in zip(result.history, reference.history, strict=True):
            for key in ("train_task1", "train_task2", "train_align", "lam"):
                if not (math.isnan(mine[key]) and math.isnan(theirs[key])):
                    assert mine[key] == pytest.approx(theirs[key], rel=2e-5), key


def test_agrees_with_one_run_trainer(dataset):
    from alignbook.training.single import fit
    from alignbook.training.vectorized import fit_many

    lams, seeds = [0.0, 0.5, 1.0, 2.0, 0.0, 1.0], [0, 0, 0, 0, 1, 1]
    many = fit_many(dataset, lams, seeds, CONFIG)
    assert [(r.lam, r.seed) for r in many] == list(zip(lams, seeds, strict=True))
    for result, lam, seed in zip(many, lams, seeds, strict=True):
        _assert_same(result, fit(dataset, lam, seed, CONFIG, on_divergence="mark"))


@pytest.mark.parametrize("task, overrides", [
    ("classification", {"lam_schedule": "warmup", "schedule_epochs": 1}),  # projection idle, then trained
    ("classification", {"lam_schedule": "linear", "schedule_epochs": 2}),
    # L1's gradient sign(pred - y) flips under rounding, so regression runs drift apart faster: 2 epochs
    ("regression", {"num_epochs": 2}),
])
def test_schedules_and_regression_agree(task, overrides):
    from alignbook.training.single import fit
    from alignbook.training.vectorized import fit_many

    data = _dataset(3000, seed=1, task=task)
    config = CONFIG.replace(**overrides)
    lams, seeds = [0.0, 1.0], [3, 3]
    for result, lam, seed in zip(fit_many(data, lams, seeds, config), lams, seeds, strict=True):
        _assert_same(result, fit(data, lam, seed, config, on_divergence="mark"))


def test_diverged_run_is_marked_and_others_go_on(dataset):
    from alignbook.training.single import fit
    from alignbook.training.vectorized import fit_many

    # lam = 1e38 overflows lam * align to inf at the first step: that run fails, the others must not notice
    config = CONFIG.replace(num_epochs=2)
    lams, seeds = [1.0, 1e38, 0.0], [0, 0, 0]
    many = fit_many(dataset, lams, seeds, config)
    assert [r.status for r in many] == ["ok", "failed", "ok"]
    assert "total loss" in many[1].error and "lam=1e+38" in many[1].error
    assert math.isnan(many[1].acc1) and math.isnan(many[1].acc2)
    for result, lam, seed in zip(many, lams, seeds, strict=True):
        _assert_same(result, fit(dataset, lam, seed, config, on_divergence="mark"))


def test_deterministic_and_no_global_rng_side_effects(dataset):
    from alignbook.training.vectorized import fit_many

    config = CONFIG.replace(num_epochs=1, eval_max_samples=200)
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    first = fit_many(dataset, [0.0, 1.0], [5, 5], config, keep_representations=True)
    after = torch.rand(1)
    second = fit_many(dataset, [0.0, 1.0], [5, 5], config, keep_representations=True)
    assert torch.equal(before, after)
    for a, b in zip(first, second, strict=True):
        assert a.acc1 == b.acc1 and a.acc2 == b.acc2 and a.alignment == b.alignment
        assert np.array_equal(a.z1, b.z1) and np.array_equal(a.z2, b.z2)


def test_groups_do_not_change_results(dataset):
    from alignbook.training.vectorized import fit_many

    config = CONFIG.replace(num_epochs=1, eval_max_samples=200)
    whole = fit_many(dataset, [0.0, 1.0, 2.0], [0, 1, 2], config)
    split = fit_many(dataset, [0.0, 1.0, 2.0], [0, 1, 2], config, group_runs=1)
    for a, b in zip(whole, split, strict=True):
        assert abs(a.acc1 - b.acc1) <= ACC_TOL and abs(a.acc2 - b.acc2) <= ACC_TOL


def test_alignment_kernel_matches_the_reference_info_nce():
    from alignbook.models.alignment import info_nce
    from alignbook.training.kernels import AlignmentStep

    generator = torch.Generator().manual_seed(0)
    for temperature in (0.1, 0.01):  # the plain-exp path and the shifted one
        p1 = torch.randn(3, 32, 6, generator=generator, dtype=torch.float64, requires_grad=True)
        p2 = torch.randn(3, 32, 6, generator=generator, dtype=torch.float64, requires_grad=True)
        weights = torch.tensor([0.0, 0.5, 2.0], dtype=torch.float64)
        # the trainer's layout: lanes (run a, modality m) at 2a + m - 1, projections stored by column
        lanes = torch.stack([p1, p2], dim=1).detach().reshape(6, 32, 6).transpose(1, 2).contiguous()
        step = AlignmentStep(3, 6, 32, temperature, chunk=2, dtype=torch.float64)
        loss = step(lanes, weights)
        grad = step.grad.view(3, 2, 6, 32).transpose(2, 3)  # back to (run, modality, batch, dim)
        reference = torch.stack([info_nce(p1[a], p2[a], temperature) for a in range(3)])
        ref1, ref2 = torch.autograd.grad((weights * reference).sum(), (p1, p2))
        assert torch.allclose(loss, reference.detach(), atol=1e-10)
        assert torch.allclose(grad[:, 0], ref1, atol=1e-10) and torch.allclose(grad[:, 1], ref2, atol=1e-10)
        assert torch.count_nonzero(grad[0]) == 0  # weight 0: exactly zero gradient


@pytest.mark.parametrize("lams, seeds, overrides, match", [
    ([0.0, 1.0], [0], {}, "lams/seeds"),
    ([-0.5], [0], {}, r"lams\[0\]"),
    ([float("nan")], [0], {}, r"lams\[0\]"),
    ([1.0], [-1], {}, r"seeds\[0\]"),
    ([], [], {}, "lams"),
    ([1.0], [0], {"encoder": "transformer"}, "single.fit"),
    ([1.0], [0], {"learn_temperature": True}, "single.fit"),
    ([1.0], [0], {"num_epochs": 0}, "num_epochs"),
])
def test_bad_input(dataset, lams, seeds, overrides, match):
    from alignbook.training.vectorized import fit_many

    with pytest.raises(ValueError, match=match):
        fit_many(dataset, lams, seeds, CONFIG, **overrides)


@pytest.mark.parametrize("overrides", [{}, {"encoder": "transformer"}, {"learn_temperature": True},
                                       {"lam_schedule": "linear", "schedule_epochs": 2}])
def test_the_sweep_vectorises_exactly_what_fit_many_accepts(dataset, overrides):
    from alignbook.sweep import vectorization_blocker
    from alignbook.training.vectorized import fit_many

    config = CONFIG.replace(num_epochs=1, eval_max_samples=50, **overrides)
    blocker = vectorization_blocker(config)
    if blocker:
        with pytest.raises(ValueError, match="single.fit") as error:
            fit_many(dataset, [1.0], [0], config)
        assert str(error.value).startswith(blocker)
    else:
        assert fit_many(dataset, [1.0], [0], config)[0].ok


def test_bad_group_size(dataset):
    from alignbook.training.vectorized import fit_many

    with pytest.raises(ValueError, match="group_runs"):
        fit_many(dataset, [1.0], [0], CONFIG, group_runs=0)


def test_bench_nudge_moves_training_inputs_by_one_ulp(dataset):
    from alignbook.training.bench import nudged

    moved = nudged(dataset)
    for name in ("x1", "x2"):
        before, after = getattr(dataset.train, name), getattr(moved.train, name)
        nonzero = before != 0
        assert np.all(after[nonzero] > before[nonzero])
        assert np.array_equal(after[nonzero], np.nextafter(before[nonzero], np.float32(np.inf)))
        assert np.array_equal(after[~nonzero], before[~nonzero])
    assert moved.valid is dataset.valid and moved.test is dataset.test
    assert np.array_equal(moved.train.y, dataset.train.y)


def test_bench_compare_runs_reports_differences_and_status(dataset):
    import dataclasses

    from alignbook.training.bench import compare_runs
    from alignbook.training.vectorized import fit_many

    runs = fit_many(dataset, [0.0, 1.0], [0, 0], CONFIG.replace(num_epochs=1, eval_max_samples=200))
    same = compare_runs(runs, runs)
    assert same == {"acc": 0.0, "alignment": 0.0, "unstable": 0.0, "first_epoch": 0.0, "within": 1.0,
                    "same_status": True}
    shifted = [dataclasses.replace(runs[0], acc1=runs[0].acc1 + 0.01), runs[1]]
    moved = compare_runs(shifted, runs)
    assert moved["acc"] == pytest.approx(0.01) and moved["within"] == 0.5
    failed = [runs[0], dataclasses.replace(runs[1], status="failed")]
    assert compare_runs(failed, runs)["same_status"] is False
