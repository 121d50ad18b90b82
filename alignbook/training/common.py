"""What the one-run and the vectorised trainers share: task loss, accuracy, evaluation, input checks.

Both trainers (`alignbook.training.single`, `alignbook.training.vectorized`) validate their public
arguments with `check_run_args` and `resolve_config`, turn data into tensors with `as_tensor` / `as_target`,
score with `task_loss` and `count_correct`, and word a divergence with `divergence_message`, so their runs
and failures read the same.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from alignbook.checks import check_finite, check_seed, fail
from alignbook.config import TrainConfig
from alignbook.data.container import PairedDataset
from alignbook.models.branch import Branch
from alignbook.training.seeding import checkpoint_steps, steps_per_epoch

# Evaluation runs in chunks of this many examples (one chunk for the synthetic splits); rows are independent.
EVAL_CHUNK = 16384


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite during training; `steps` optimiser steps had been done."""

    def __init__(self, message: str, steps: int = 0):
        super().__init__(message)
        self.steps = steps


# ---------------------------------------------------------------------------------------------- helpers


def task_loss(output: torch.Tensor, y: torch.Tensor, task: str, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy of logits (classification) or L1 of the squeezed prediction (regression)."""
    if task == "classification":
        return F.cross_entropy(output, y, reduction=reduction)
    return F.l1_loss(output.squeeze(-1), y, reduction=reduction)


def count_correct(output: torch.Tensor, y: torch.Tensor, task: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Correct predictions and the number of examples counted, for one model or for stacked models.

    `output` holds each example's class scores (classification) or single prediction (regression) along
    dimension 1: `(n, k)` for one model, `(lanes, k, n)` for the vectorised trainer's stacked models;
    `y` holds the targets, `(n,)` or `(lanes, n)`. Classification counts argmax hits over all examples;
    regression counts sign agreements over the examples with `y != 0` (sign accuracy, as the paper
    reports). Returns the correct counts and the numbers counted (0-d tensors, or one per lane).
    """
    if task == "classification":
        return (output.argmax(dim=1) == y).sum(dim=-1), torch.full(y.shape[:-1], y.shape[-1])
    counted = y != 0
    agree = (torch.sign(output[:, 0]) == torch.sign(y)) & counted
    return agree.sum(dim=-1), counted.sum(dim=-1)


class _EvalMode:
    """Put a module in eval mode and disable autograd for a block; restore its previous mode after."""

    def __init__(self, module: nn.Module):
        self.module = module

    def __enter__(self):
        self.was_training = self.module.training
        self.no_grad = torch.no_grad()
        self.no_grad.__enter__()
        self.module.eval()

    def __exit__(self, *exc):
        self.module.train(self.was_training)
        self.no_grad.__exit__(*exc)


def evaluate(branch: Branch, x, y, task: str) -> tuple[float, float]:
    """Accuracy and mean task loss of one branch on a whole split (eval mode, no grad).

    Accuracy is argmax accuracy for classification and sign accuracy (over `y != 0`) for regression; the
    loss is cross-entropy or L1. `x`, `y` may be numpy arrays or tensors.
    """
    x, y = as_tensor(x), as_target(y, task)
    loss_sum, correct, counted = 0.0, 0, 0
    with _EvalMode(branch):
        for start in range(0, len(y), EVAL_CHUNK):
            _, output = branch(x[start : start + EVAL_CHUNK])
            yb = y[start : start + EVAL_CHUNK]
            loss_sum += float(task_loss(output, yb, task, reduction="sum"))
            c, n = count_correct(output, yb, task)
            correct, counted = correct + int(c), counted + int(n)
    accuracy = correct / counted if counted else float("nan")
    return accuracy, loss_sum / max(len(y), 1)


def representations(branch: Branch, x, layers: bool = False) -> np.ndarray | list[np.ndarray]:
    """The encoder's representation `z` of every row of `x` (eval mode, no grad), as float32 numpy.

    With `layers=True`, a list of every layer's representation (`forward_layers`: hidden activations, then z).
    """
    x = as_tensor(x)
    chunks = []
    with _EvalMode(branch):
        for start in range(0, max(x.shape[0], 1), EVAL_CHUNK):  # an empty x still yields (0, d) arrays
            xb = x[start : start + EVAL_CHUNK]
            chunks.append(branch.forward_layers(xb) if layers else [branch.encoder(xb)])
    stacked = [torch.cat(parts).numpy() for parts in zip(*chunks, strict=True)]
    return stacked if layers else stacked[0]


def as_tensor(x) -> torch.Tensor:
    """`x` (numpy array or tensor) as a float32 tensor, without a copy when it already is one."""
    if torch.is_tensor(x):
        return x.float()
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


def as_target(y, task: str) -> torch.Tensor:
    """Targets `y` as a tensor: int64 class codes (classification) or float32 values (regression)."""
    if torch.is_tensor(y):
        return y.long() if task == "classification" else y.float()
    dtype = np.int64 if task == "classification" else np.float32
    return torch.from_numpy(np.ascontiguousarray(y, dtype=dtype))


def resolve_config(config: TrainConfig | None, overrides: dict) -> TrainConfig:
    """`config` (None: the defaults) with keyword `overrides` applied; a non-TrainConfig `config` fails."""
    if config is None:
        config = TrainConfig()
    elif not isinstance(config, TrainConfig):
        fail("config", f"must be an alignbook.config.TrainConfig or None, got {type(config).__name__}")
    return config.replace(**overrides) if overrides else config


def check_run_args(dataset, seed) -> int:
    """Validate a trainer's `dataset` (a PairedDataset with finite values and non-empty train and valid
    splits) and `seed` (`checks.check_seed`); return the seed as an int."""
    if not isinstance(dataset, PairedDataset):
        fail("dataset", f"must be an alignbook.data.PairedDataset, got {type(dataset).__name__}",
             "build one with alignbook.data.synthetic.make_dataset or "
             "PairedDataset(train, valid, test, task)")
    seed = check_seed("seed", seed)
    for split_name, split in dataset.splits.items():
        for array_name in ("x1", "x2", "y"):
            array = getattr(split, array_name)
            check_finite(f"dataset.{split_name}.{array_name}", np.asarray(array))
    if len(dataset.train) == 0 or len(dataset.valid) == 0:
        fail("dataset", "train and valid splits must not be empty")
    return int(seed)


def out_dim(dataset: PairedDataset) -> int:
    """Width of a task head for `dataset`: its number of classes, or 1 for regression."""
    return int(dataset.num_classes) if dataset.task == "classification" else 1


def divergence_message(where: str, what: str, value: float, lam: float, config: TrainConfig) -> str:
    """The error text of a run whose `what` became `value` at `where`, with the hint both trainers give."""
    return (f"training diverged at {where}: {what} is {value} (lam={lam}, lr={config.lr}). "
            "Lower lam or lr, or raise grad_clip")


def step_plan(n_train: int, config: TrainConfig) -> tuple[int, int, list[int]]:
    """(steps per epoch, steps of the run at most, steps after which it is validated) for `n_train` examples.

    A run takes at most `config.num_steps` optimiser steps, or `config.num_epochs` epochs when that is 0 (its
    cap), walking through the epochs' mini-batches in order (`seeding.run_batches`); it is validated at
    `seeding.checkpoint_steps(..., config.num_checkpoints, config.check_every)`. With the defaults
    (`num_steps = 0`, `num_checkpoints = 0`, `check_every = 0`) that is after every epoch, and `num_steps`
    equal to whole epochs trains exactly what as many epochs train.
    """
    per_epoch = steps_per_epoch(n_train, config.batch_size)
    total = config.num_steps or config.num_epochs * per_epoch
    return per_epoch, total, checkpoint_steps(total, per_epoch, config.num_checkpoints, config.check_every)


class Patience:
    """The early-stopping rule both trainers apply, for one run or for many at once (numpy arrays).

    After each checkpoint, `update(improved)` takes whether either encoder's validation score improved
    (strictly) and returns whether the run stops now: with `patience = P > 0`, once P consecutive checkpoints
    brought no improvement to either encoder; with `P = 0`, never (the run trains its whole budget).
    """

    def __init__(self, patience: int, runs: int = 1):
        self.patience = patience
        self.stale = np.zeros(runs, dtype=np.int64)

    def update(self, improved: np.ndarray) -> np.ndarray:
        self.stale = np.where(improved, 0, self.stale + 1)
        return (self.stale >= self.patience) if self.patience else np.zeros_like(self.stale, dtype=bool)

    def keep(self, rows: np.ndarray) -> None:
        """Keep only the runs at `rows` (the vectorised trainer drops stopped runs)."""
        self.stale = self.stale[rows]
