"""The vectorised trainer reproduces single.fit run by run, whatever runs share its group, stops early by the
same rule, trains runs on their own data, marks diverged runs, and refuses bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from alignbook.config import TrainConfig
from alignbook.data import PairedDataset, PairedSplit

ACC_TOL = 0.002
CONFIG = TrainConfig(num_epochs=3, batch_size=128)


def _dataset(n: int = 6000, seed: int = 0, task: str = "classification") -> PairedDataset:
    """Continuous inputs of two widths (12 and 12), four classes or a continuous target."""
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


def _improvements(history: list[dict], task: str) -> list[tuple[tuple[bool, bool], tuple[float, float]]]:
    """Per checkpoint: whether each encoder's validation score improved (strictly) on its best so far, and
    by how much it beat or missed that best (the margin early stopping and checkpoints decide on)."""
    best, out = [math.inf, math.inf], []
    for record in history:
        scores = [-record[f"val_acc{m}"] if task == "classification" else record[f"val_loss{m}"]
                  for m in (1, 2)]
        out.append((tuple(s < b for s, b in zip(scores, best, strict=True)),
                    tuple(abs(s - b) for s, b in zip(scores, best, strict=True))))
        best = [min(s, b) for s, b in zip(scores, best, strict=True)]
    return out


def _assert_same(vectorised, one_run, task: str = "classification"):
    """Equal to float rounding: histories close, then equal final scores, unless a checkpoint choice or an
    early stop was decided by a near-tie in validation score that rounding may decide (then the two runs'
    decisions differ first at a checkpoint where the score was within VAL_ACC_TOL of the best so far)."""
    assert vectorised.status == one_run.status
    if not one_run.ok:
        assert vectorised.error == one_run.error and vectorised.steps == one_run.steps
        return
    assert [(k, v.shape) for k, v in vectorised.weights1.items()] == [
        (k, v.shape) for k, v in one_run.weights1.items()]
    assert [(k, v.shape) for k, v in vectorised.weights2.items()] == [
        (k, v.shape) for k, v in one_run.weights2.items()]
    for mine, theirs in zip(vectorised.history, one_run.history, strict=False):
        assert list(mine) == list(theirs)
        for key, value in theirs.items():
            if key.startswith("val_acc"):
                assert abs(mine[key] - value) <= VAL_ACC_TOL, key
            elif not (math.isnan(value) and math.isnan(mine[key])):
                assert mine[key] == pytest.approx(value, rel=LOSS_RTOL, abs=1e-6), key
    decisions = zip(_improvements(vectorised.history, task), _improvements(one_run.history, task),
                    strict=False)
    for (mine, margins), (theirs, their_margins) in decisions:
        if mine != theirs:  # a near-tie decided by rounding: nothing after it need agree
            for m in (0, 1):
                if mine[m] != theirs[m]:
                    assert min(margins[m], their_margins[m]) <= VAL_ACC_TOL
            return
    assert (vectorised.steps, vectorised.hit_cap) == (one_run.steps, one_run.hit_cap)
    assert len(vectorised.history) == len(one_run.history)
    for m in (1, 2):
        assert getattr(vectorised, f"best_step{m}") == getattr(one_run, f"best_step{m}")
        assert getattr(vectorised, f"best_epoch{m}") == getattr(one_run, f"best_epoch{m}")
    assert abs(vectorised.acc1 - one_run.acc1) <= ACC_TOL
    assert abs(vectorised.acc2 - one_run.acc2) <= ACC_TOL
    assert vectorised.alignment == one_run.alignment == {}


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

    config = CONFIG.replace(num_steps=6, num_checkpoints=6, **changes)
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
        _assert_same(result, fit(data, lam, seed, config, on_divergence="mark"), task)


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

    config = CONFIG.replace(num_epochs=1)
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    first = fit_many(dataset, [0.0, 1.0], [5, 5], config)
    after = torch.rand(1)
    second = fit_many(dataset, [0.0, 1.0], [5, 5], config)
    assert torch.equal(before, after)
    for a, b in zip(first, second, strict=True):
        assert _identical(a, b)


def _identical(a, b) -> bool:
    """Every number of two results equal bit for bit (NaN equal to NaN): scores, history, steps, weights."""
    def same(x, y):
        return x == y or (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y))

    first, second = a.summary(), b.summary()
    del first["time_s"], second["time_s"]
    return (first.keys() == second.keys() and all(same(first[k], second[k]) for k in first)
            and len(a.history) == len(b.history)
            and all(r.keys() == q.keys() and all(same(r[k], q[k]) for k in r)
                    for r, q in zip(a.history, b.history, strict=True))
            and all(list(x) == list(y) and all(np.array_equal(x[k], y[k]) for k in x)
                    for x, y in ((a.weights1, b.weights1), (a.weights2, b.weights2))))


# Early stopping at a fixed step spacing, and a batch whose B x B logits (2500) are no whole number of vector
# blocks: runs stop at different times, the group drops them, and the InfoNCE's exp2 meets its tails.
STOPPING = CONFIG.replace(num_epochs=8, batch_size=50, check_every=6, patience=2)


def test_a_run_is_the_same_alone_in_a_group_and_after_compaction_bit_for_bit():
    from alignbook.training.vectorized import fit_many

    data = _dataset(3000)
    alone = fit_many(data, [1.0], [3], STOPPING)[0]
    assert alone.ok and not alone.hit_cap
    lams, seeds = [0.0, 2.0, 1.0, 0.5, 1.0, 4.0, 0.25], [1, 2, 3, 4, 5, 6, 7]
    group = fit_many(data, lams, seeds, STOPPING)
    assert len({r.steps for r in group}) > 2  # runs stopped at different checkpoints: compactions happened
    assert _identical(group[2], alone)
    # three runs fail at their first step and are dropped after the first checkpoint
    failing = fit_many(data, [1e38, 1.0, 1e38, 1e38], [1, 3, 2, 3], STOPPING)
    assert [r.status for r in failing] == ["failed", "ok", "failed", "failed"]
    assert _identical(failing[1], alone)
    one_by_one = fit_many(data, lams, seeds, STOPPING, group_runs=1)
    assert all(_identical(a, b) for a, b in zip(group, one_by_one, strict=True))


@pytest.mark.slow
def test_results_do_not_depend_on_the_number_of_threads():
    """Bit for bit on one to four threads (tiny models: more threads only oversubscribe, hence slow)."""
    from alignbook.training.vectorized import fit_many

    data = _dataset(3000)
    lams, seeds = [1.0, 0.0, 2.0], [3, 4, 5]
    # and a group whose alignment term is one run's, at a size MKL rounds differently alone on 3+ threads
    single = STOPPING.replace(batch_size=27, proj_dim=16)
    reference = fit_many(data, lams, seeds, STOPPING) + fit_many(data, [0.0, 1.0], [1, 2], single)
    for threads in (2, 3, 4):
        again = (fit_many(data, lams, seeds, STOPPING, threads=threads)
                 + fit_many(data, [0.0, 1.0], [1, 2], single, threads=threads))
        assert all(_identical(a, b) for a, b in zip(again, reference, strict=True)), threads


def test_the_compaction_threshold_changes_no_result(monkeypatch):
    from alignbook.training import vectorized

    data = _dataset(3000)
    lams, seeds = [0.0, 2.0, 1.0, 0.5, 1.0, 4.0, 0.25, 0.0], [1, 2, 3, 4, 5, 6, 7, 8]
    compactions = []
    compact = vectorized._Group._compact
    monkeypatch.setattr(vectorized._Group, "_compact",
                        lambda group, keep: compactions.append(len(keep)) or compact(group, keep))
    results = {}
    for share in (0.0, 0.5, 1.0):  # at every stop, at half the group, never (only at the end)
        monkeypatch.setattr(vectorized, "COMPACT_SHARE", share)
        compactions.clear()
        results[share] = vectorized.fit_many(data, lams, seeds, STOPPING)
        if share == 0.0:
            assert len(compactions) >= 3 and compactions == sorted(compactions, reverse=True)
        if share == 1.0:
            assert compactions == []
    for share in (0.5, 1.0):
        assert all(_identical(a, b) for a, b in zip(results[share], results[0.0], strict=True))


def test_early_stopping_agrees_with_one_run_trainer(dataset):
    from alignbook.training.single import fit
    from alignbook.training.vectorized import fit_many

    config = CONFIG.replace(num_epochs=12, check_every=10, patience=2)
    lams, seeds = [0.0, 1.0, 2.0], [0, 0, 1]
    many = fit_many(dataset, lams, seeds, config)
    assert not any(r.hit_cap for r in many)  # all three stop early
    for result, lam, seed in zip(many, lams, seeds, strict=True):
        _assert_same(result, fit(dataset, lam, seed, config, on_divergence="mark"))


def test_runs_train_on_their_own_datasets():
    from alignbook.training.lanes import LaneData
    from alignbook.training.single import fit
    from alignbook.training.vectorized import fit_many

    first, second = _dataset(3000, seed=0), _dataset(3000, seed=1)
    config = CONFIG.replace(num_epochs=2)
    mixed = fit_many([first, second, first], [1.0, 1.0, 0.0], [4, 4, 5], config)
    assert _identical(mixed[0], fit_many(first, [1.0], [4], config)[0])
    assert _identical(mixed[1], fit_many(second, [1.0], [4], config)[0])
    assert _identical(mixed[2], fit_many(first, [0.0], [5], config)[0])
    assert mixed[0].history[0]["val_loss1"] != mixed[1].history[0]["val_loss1"]  # other data, other run
    _assert_same(mixed[1], fit(second, 1.0, 4, config))
    # runs that share a dataset object share its arrays: two datasets, two modalities each
    stacked = LaneData.from_datasets([first, second, first, first])
    assert stacked.x["train"].shape[0] == 4 and list(stacked.source) == [0, 1, 0, 0]


@pytest.mark.parametrize("change, match", [
    (lambda d: _dataset(2000), "split sizes"),
    (lambda d: PairedDataset(d.train, d.valid, d.test, task="classification", num_classes=5), "classes"),
    (lambda d: PairedDataset(*(PairedSplit(s.x1[:, :6], s.x2, s.y) for s in (d.train, d.valid, d.test)),
                             num_classes=4), "input shapes"),
    (lambda d: _dataset(3000, task="regression"), "task"),
])
def test_datasets_of_different_shape_are_refused(change, match):
    from alignbook.training.vectorized import fit_many

    data = _dataset(3000)
    with pytest.raises(ValueError, match=f"^datasets: run 1's dataset differs from run 0's in its {match}"):
        fit_many([data, change(data)], [0.0, 1.0], [0, 0], CONFIG)
    with pytest.raises(ValueError, match="^datasets: must hold one dataset per run: 1 datasets for 2 runs"):
        fit_many([data], [0.0, 1.0], [0, 0], CONFIG)
    with pytest.raises(ValueError, match="^datasets: must be a PairedDataset or a sequence"):
        fit_many("data", [0.0], [0], CONFIG)


def test_stored_weights_rebuild_the_lanes_to_rounding(dataset):
    """The vectorised trainer's weights (unpadded, named as build_branch names them) load into branches whose
    representations are the trained lanes' own, to float rounding (batched products against nn.Linear)."""
    from alignbook.training import vectorized
    from alignbook.training.common import representations
    from alignbook.training.lanes import LaneData, forward, views
    from alignbook.training.weights import load_branches

    config = CONFIG.replace(num_steps=30, num_checkpoints=3, width=16, repr_dim=8)
    splits = (PairedSplit(s.x1, s.x2[:, :6], s.y) for s in (dataset.train, dataset.valid, dataset.test))
    dataset = PairedDataset(*splits, num_classes=4)  # modality 2 is narrower: its first layer is padded
    data = LaneData.from_datasets([dataset])
    group = vectorized._Group(data, [0], [1.0], [2], config)
    result = group.train()[0][1]
    lanes = [(w.contiguous(), b) for w, b in views(group.best_body, group.layout.body)]
    trained = forward(lanes, data.x["test"].transpose(1, 2), config.depth)[:-1]  # hidden layers and z
    loaded = load_branches(config, dataset, result.weights1, result.weights2)
    assert result.weights2["encoder.hidden.0.weight"].shape == (16, 6)
    for lane, (branch, x) in enumerate(zip(loaded, (dataset.test.x1, dataset.test.x2), strict=True)):
        mine = representations(branch, x, layers=True)
        assert [a.shape for a in mine] == [(len(x), 16), (len(x), 16), (len(x), 8)]
        for a, b in zip(mine, trained, strict=True):
            np.testing.assert_allclose(a, b[lane].T.numpy(), rtol=1e-5, atol=1e-6)


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
    from alignbook.sweep.trainer import Trainer
    from alignbook.training.vectorized import fit_many

    config = CONFIG.replace(num_epochs=1, **overrides)
    blocker = Trainer().blocker(config)
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
