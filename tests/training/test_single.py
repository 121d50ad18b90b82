"""One training run: lam = 0 is independent training, determinism, checkpoints, divergence, both tasks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from alignbook.config import TrainConfig
from alignbook.data import PairedDataset, PairedSplit
from alignbook.data.synthetic import make_dataset
from alignbook.training.single import (
    TrainingDiverged,
    evaluate,
    fit,
    fit_unimodal,
    lam0_matches_independent,
    representations,
    train_branches,
)

# Small and fast: a few hundred examples, a handful of epochs.
SMALL = {"num_epochs": 3, "batch_size": 64, "eval_max_samples": 200, "knn_k": 5}


def toy_dataset(task: str = "classification", n: int = 1000, seed: int = 0) -> PairedDataset:
    """Two views of 4 shared latent factors: x1 sees them plus noise dims, x2 a mixed, noisy copy."""
    rng = np.random.default_rng(seed)
    shared = rng.normal(size=(n, 4))
    x1 = np.concatenate([shared, rng.normal(size=(n, 2))], axis=1).astype(np.float32)
    x2 = (np.tanh(shared @ rng.normal(size=(4, 6))) + 0.1 * rng.normal(size=(n, 6))).astype(np.float32)
    if task == "classification":
        y = (shared[:, 0] > 0).astype(np.int64) + 2 * (shared[:, 1] > 0)
    else:
        y = (shared @ np.array([1.0, -0.5, 0.25, 0.0]) + 0.1 * rng.normal(size=n)).astype(np.float32)
    a, b = int(0.6 * n), int(0.8 * n)
    splits = [PairedSplit(x1[s], x2[s], y[s]) for s in (slice(0, a), slice(a, b), slice(b, n))]
    return PairedDataset(*splits, task=task, name=f"toy-{task}")


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def toy():
    return toy_dataset()


def _same_numbers(a, b) -> bool:
    """Equal, NaN equal to NaN (history entries and summaries)."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same_numbers(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same_numbers(u, v) for u, v in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


@pytest.mark.parametrize("modality", [1, 2])
def test_lam_zero_is_bit_for_bit_independent_training(toy, modality):
    assert lam0_matches_independent(toy, seed=3, **SMALL)[modality - 1]
    joint = train_branches(toy, lam=0.0, seed=3, **SMALL)
    _, alone_history = fit_unimodal(toy, modality, seed=3, **SMALL)
    for joint_row, alone_row in zip(joint[2], alone_history, strict=True):
        assert all(joint_row[key] == value for key, value in alone_row.items())


def test_fit_reports_the_restored_branches_scores(toy):
    result = fit(toy, lam=0.0, seed=3, keep_representations=True, **SMALL)
    branch1, branch2, history = train_branches(toy, lam=0.0, seed=3, **SMALL)
    assert _same_numbers(result.history, history)
    assert (result.acc1, result.loss1) == evaluate(branch1, toy.test.x1, toy.test.y, toy.task)
    assert (result.acc2, result.loss2) == evaluate(branch2, toy.test.x2, toy.test.y, toy.task)
    assert np.array_equal(result.z1, representations(branch1, toy.test.x1[:200]))  # eval_max_samples
    assert result.z2.shape == (200, TrainConfig().repr_dim)
    for branch, weights in ((branch1, result.weights1), (branch2, result.weights2)):
        state = {k: v for k, v in branch.state_dict().items() if not k.startswith("projection.")}
        assert list(weights) == list(state)
        assert all(weights[k].dtype == np.float32 and np.array_equal(weights[k], v.numpy())
                   for k, v in state.items())
    # checkpoints: the earliest epoch of the best validation accuracy, per encoder
    for m in (1, 2):
        accs = [row[f"val_acc{m}"] for row in history]
        assert getattr(result, f"best_epoch{m}") == int(np.argmax(accs))
        assert getattr(result, f"val_acc{m}") == max(accs)
    assert result.alignment == {} and result.alignment_chance == {}  # measured from the weights, elsewhere
    assert (result.steps, result.hit_cap) == (27, True)


def test_fit_is_deterministic_and_seed_dependent(toy):
    state = torch.get_rng_state()
    a = fit(toy, lam=0.5, seed=1, **SMALL)
    b = fit(toy, lam=0.5, seed=1, **SMALL)
    c = fit(toy, lam=0.5, seed=2, **SMALL)
    assert torch.equal(torch.get_rng_state(), state)  # no global RNG side effects
    drop_time = [{k: v for k, v in r.summary().items() if k != "time_s"} for r in (a, b, c)]
    assert _same_numbers(drop_time[0], drop_time[1]) and _same_numbers(a.history, b.history)
    assert not _same_numbers(a.history, c.history)


def test_history_has_one_row_per_epoch_with_the_scheduled_lam(toy):
    result = fit(toy, lam=2.0, seed=0, lam_schedule="warmup", schedule_epochs=1, **SMALL)
    assert [row["epoch"] for row in result.history] == [0, 1, 2]
    assert [row["lam"] for row in result.history] == [0.0, 2.0, 2.0]
    assert math.isnan(result.history[0]["train_align"]) and result.history[1]["train_align"] > 0
    keys = {"epoch", "step", "lam", "train_task1", "train_task2", "train_align", "val_acc1", "val_acc2",
            "val_loss1", "val_loss2", "temperature"}
    assert set(result.history[0]) == keys
    assert [row["step"] for row in result.history] == [9, 18, 27]  # 600 examples in batches of 64


def test_a_step_budget_of_whole_epochs_trains_exactly_those_epochs(toy):
    by_epochs = fit(toy, lam=1.0, seed=2, **SMALL)
    by_steps = fit(toy, lam=1.0, seed=2, **{**SMALL, "num_epochs": 1, "num_steps": 27})
    assert _same_numbers(by_epochs.history, by_steps.history)
    assert (by_epochs.acc1, by_epochs.acc2) == (by_steps.acc1, by_steps.acc2)


def test_step_budget_with_geometric_checkpoints(toy):
    from alignbook.training.seeding import batch_indices, checkpoint_steps, run_batches

    result = fit(toy, lam=0.5, seed=0, **{**SMALL, "num_steps": 50, "num_checkpoints": 5})
    assert [row["step"] for row in result.history] == checkpoint_steps(50, 9, 5) == [1, 3, 7, 19, 50]
    assert [row["epoch"] for row in result.history] == [0, 0, 0, 2, 5]
    for m in (1, 2):  # the earliest checkpoint of the best validation accuracy, with its step and epoch
        accs = [row[f"val_acc{m}"] for row in result.history]
        best = int(np.argmax(accs))
        assert getattr(result, f"best_step{m}") == result.history[best]["step"]
        assert getattr(result, f"best_epoch{m}") == result.history[best]["epoch"]
    # steps 5..20 cross two epoch boundaries: epochs 0, 1, 2 of batch_indices, one after another
    expected = [*batch_indices(600, 64, 4, 0)[5:], *batch_indices(600, 64, 4, 1),
                *batch_indices(600, 64, 4, 2)[:2]]
    assert all(np.array_equal(a, b) for a, b in zip(run_batches(600, 64, 4, 5, 20), expected, strict=True))
    assert checkpoint_steps(1000, 3, 16)[:3] == [10, 14, 18] and checkpoint_steps(20, 9, 0) == [9, 18, 20]
    with pytest.raises(ValueError, match="^num_steps: must be an integer >= 0"):
        TrainConfig(num_steps=-1)


@pytest.mark.parametrize("changes", [{"projection": "none"}, {"projection": "linear"}, {"temperature": 0.5}])
def test_lam_zero_does_not_depend_on_the_alignment_module(toy, changes):
    reference = fit(toy, lam=0.0, seed=4, **SMALL)
    other = fit(toy, lam=0.0, seed=4, **SMALL, **changes)
    assert (other.acc1, other.acc2, other.val_acc1) == (reference.acc1, reference.acc2, reference.val_acc1)
    aligned = fit(toy, lam=1.0, seed=4, **SMALL, **changes)
    assert aligned.ok and not math.isnan(aligned.history[-1]["train_align"])


def test_learnable_temperature_moves(toy):
    result = fit(toy, lam=1.0, seed=0, learn_temperature=True, temperature=0.2, **SMALL)
    temperatures = [row["temperature"] for row in result.history]
    assert temperatures[-1] != pytest.approx(0.2) and result.ok


@pytest.mark.parametrize("bad", [-1.0, float("nan")])
def test_bad_lam_raises_naming_lam(toy, bad):
    with pytest.raises(ValueError, match="lam"):
        fit(toy, lam=bad, **SMALL)


def test_bad_arguments_raise_naming_them(toy):
    with pytest.raises(ValueError, match="no_such_option"):
        fit(toy, no_such_option=1)
    with pytest.raises(ValueError, match="on_divergence"):
        fit(toy, on_divergence="ignore")
    with pytest.raises(ValueError, match="modality"):
        fit_unimodal(toy, 3)
    with pytest.raises(ValueError, match="seed"):
        fit(toy, seed=-1)
    broken = np.array(toy.train.x1)
    broken[0, 0] = np.nan
    bad_data = PairedDataset(PairedSplit(broken, toy.train.x2, toy.train.y), toy.valid, toy.test)
    with pytest.raises(ValueError, match=r"dataset\.train\.x1"):
        fit(bad_data, **SMALL)


def test_divergence_raises_or_marks_the_run(toy):
    absurd = {**SMALL, "num_epochs": 2}
    with pytest.raises(TrainingDiverged, match=r"at epoch 0, step 0: total loss is inf \(lam=1e\+39"):
        fit(toy, lam=1e39, **absurd)
    result = fit(toy, lam=1e39, on_divergence="mark", **absurd)
    assert result.status == "failed" and not result.ok
    assert "Lower lam or lr" in result.error
    assert math.isnan(result.acc1) and math.isnan(result.acc2) and result.alignment == {}
    assert (result.steps, result.hit_cap, result.weights1, result.weights2) == (0, False, None, None)
    with pytest.raises(TrainingDiverged, match="lr=1e\\+30"):
        fit(toy, lam=0.0, lr=1e30, **absurd)


def test_classification_learns(toy):
    result = fit(toy, lam=0.0, seed=0, num_epochs=8, batch_size=32, eval_max_samples=200)
    # labels are two sign bits of shared factors: both views carry them (x2 through a noisy tanh mix)
    assert result.acc1 > 0.85 and result.acc2 > 0.6
    assert result.history[-1]["train_task1"] < result.history[0]["train_task1"]


def test_regression_learns_and_reports_sign_accuracy():
    data = toy_dataset("regression")
    result = fit(data, lam=0.5, seed=0, num_epochs=8, batch_size=32, eval_max_samples=200)
    assert result.ok and result.acc1 > 0.85 and result.loss1 < float(np.abs(data.test.y).mean())
    history = result.history
    assert history[-1]["val_loss1"] < history[0]["val_loss1"]
    losses = [row["val_loss1"] for row in history]
    assert result.best_epoch1 == int(np.argmin(losses))  # regression checkpoints on validation L1


def test_progress_bar_changes_nothing(toy):
    quiet = fit(toy, lam=0.5, seed=2, **SMALL)
    shown = fit(toy, lam=0.5, seed=2, progress=True, **SMALL)
    assert _same_numbers(quiet.history, shown.history)
    assert (quiet.acc1, quiet.acc2) == (shown.acc1, shown.acc2)


def test_alignment_rises_with_lam_on_redundant_synthetic_data():
    """Measured as the sweep measures it: from the stored weights, after training."""
    from alignbook import metrics
    from alignbook.training.weights import load_branches

    data = make_dataset(8, depth=1, n_samples=8192, seed=0)
    settings = {"num_epochs": 4, "batch_size": 128}
    scores = []
    for lam in (0.0, 2.0):
        result = fit(data, lam=lam, seed=0, **settings)
        branches = load_branches(result.config, data, result.weights1, result.weights2)
        tests = (data.test.x1, data.test.x2)
        z1, z2 = (representations(branch, x[:1000]) for branch, x in zip(branches, tests, strict=True))
        scores.append(metrics.pair_alignment([z1], [z2], "last", k=10, seed=0)[0])
    for metric in ("mutual_knn", "cka"):
        assert scores[1][metric] > scores[0][metric] + 0.05, metric


# ------------------------------------------------------------------------------------------ early stopping


def _stop_index(history: list[dict], patience: int, task: str = "classification") -> int:
    """Index of the checkpoint after which the early-stopping rule stops a run, from its history alone."""
    best, stale = [math.inf, math.inf], 0
    for i, record in enumerate(history):
        improved = False
        for m in (1, 2):
            score = -record[f"val_acc{m}"] if task == "classification" else record[f"val_loss{m}"]
            if score < best[m - 1]:
                best[m - 1], improved = score, True
        stale = 0 if improved else stale + 1
        if stale >= patience:
            return i
    return len(history) - 1


@pytest.mark.parametrize("patience", [1, 2, 3])
def test_a_run_stops_once_neither_encoder_improves_for_patience_checkpoints(toy, patience):
    settings = {**SMALL, "num_epochs": 40, "check_every": 3}
    whole = fit(toy, lam=0.5, seed=1, **settings)
    assert (whole.steps, whole.hit_cap) == (360, True)  # patience 0: the whole budget, 9 steps an epoch
    assert [record["step"] for record in whole.history] == list(range(3, 361, 3))
    stop = _stop_index(whole.history, patience)
    assert stop < len(whole.history) - 1  # this run does stall within the budget
    early = fit(toy, lam=0.5, seed=1, patience=patience, **settings)
    assert (early.steps, early.hit_cap) == (whole.history[stop]["step"], False)
    assert _same_numbers(early.history, whole.history[: stop + 1])  # the same run, cut short
    for m in (1, 2):  # each encoder's own best checkpoint among those trained
        accs = [record[f"val_acc{m}"] for record in early.history]
        assert getattr(early, f"best_step{m}") == early.history[int(np.argmax(accs))]["step"]
        assert getattr(early, f"val_acc{m}") == max(accs)


def test_patience_zero_trains_the_whole_budget_as_before(toy):
    """The numbers of `fit` before early stopping existed (pinned; accuracies move in whole test examples)."""
    result = fit(toy, lam=0.5, seed=1, **SMALL)
    assert (result.steps, result.hit_cap, result.best_step1, result.best_step2) == (27, True, 27, 27)
    assert result.acc1 == pytest.approx(0.915, abs=0.011) and result.acc2 == pytest.approx(0.76, abs=0.011)
    assert result.loss1 == pytest.approx(0.2166, rel=1e-2) and result.loss2 == pytest.approx(0.5173, rel=1e-2)
    pinned = [[1.27984, 3.61681, 0.93356], [0.77479, 2.64221, 0.64765], [0.33345, 2.52805, 0.52098]]
    for record, (task1, align, val_loss2) in zip(result.history, pinned, strict=True):
        assert record["train_task1"] == pytest.approx(task1, rel=1e-3)
        assert record["train_align"] == pytest.approx(align, rel=1e-3)
        assert record["val_loss2"] == pytest.approx(val_loss2, rel=1e-3)


def test_regression_stops_on_validation_l1():
    data = toy_dataset("regression")
    settings = {**SMALL, "num_epochs": 30, "check_every": 9}
    whole = fit(data, lam=0.5, seed=0, **settings)
    stop = _stop_index(whole.history, 2, "regression")
    early = fit(data, lam=0.5, seed=0, patience=2, **settings)
    assert early.steps == whole.history[stop]["step"] and early.hit_cap == (stop == len(whole.history) - 1)
    assert _same_numbers(early.history, whole.history[: stop + 1])


def test_lam_zero_matches_independent_training_with_early_stopping(toy):
    """A joint run stops once both encoders stall: each encoder alone, trained as many steps, ends equal."""
    settings = {**SMALL, "num_epochs": 40, "check_every": 3, "patience": 2}
    assert lam0_matches_independent(toy, seed=2, **settings) == (True, True)
    joint = fit(toy, lam=0.0, seed=2, **settings)
    assert joint.steps < 360 and not joint.hit_cap  # it did stop early


# ------------------------------------------------------------------------------------------ stored weights


def test_stored_weights_rebuild_the_trained_branches_bit_for_bit(toy):
    from alignbook.training.weights import load_branches

    result = fit(toy, lam=1.0, seed=5, **SMALL)
    trained = train_branches(toy, lam=1.0, seed=5, **SMALL)[:2]
    loaded = load_branches(result.config, toy, result.weights1, result.weights2)
    for branch, again, x in zip(trained, loaded, (toy.test.x1, toy.test.x2), strict=True):
        mine, theirs = representations(branch, x, layers=True), representations(again, x, layers=True)
        assert len(mine) == len(theirs) == 3 and all(map(np.array_equal, mine, theirs))
        assert evaluate(again, x, toy.test.y, toy.task) == evaluate(branch, x, toy.test.y, toy.task)
    assert result.acc1 == evaluate(loaded[0], toy.test.x1, toy.test.y, toy.task)[0]
