"""One training run: two unimodal branches trained jointly with a controllable alignment term.

Conventions shared with the vectorised trainer (`alignbook.training.vectorized` must reproduce these runs):

- Initial weights: branch m in (1, 2) is `build_branch(config, input_shape_m, out_dim, branch_seed(seed, m))`
  (`alignbook.models`); `out_dim` is the number of classes, or 1 for regression.
- Mini-batches: `batch_indices(n_train, batch_size, seed, epoch)` (`alignbook.training.seeding`), epochs
  0-based, taken one after another (`run_batches`); both branches see the same examples at every step. A
  run lasts `num_epochs` epochs, or exactly `num_steps` steps when that is set (`common.step_plan`).
- Loss per step: `task_m = cross_entropy(head_m(z_m), y)` (mean; classification) or
  `l1(head_m(z_m).squeeze(-1), y)` (regression); `total = task1 + task2 + lam_t * align` with
  `lam_t = aligner.lam_at(epoch)` and `align = info_nce(proj1(z1), proj2(z2), T)`. `align` is computed only
  when `lam_t > 0`: at `lam_t = 0` it is skipped entirely, so the projection heads get no gradient (AdamW
  leaves parameters without a gradient untouched, weight decay included) and `lam = 0` is bit for bit the
  same as training each branch alone (`fit_unimodal`) for as many steps (with `patience > 0` a joint run
  stops only once both branches stall).
- Optimisation: one `torch.optim.AdamW(branch.parameters(), lr, weight_decay=weight_decay, foreach=False)` per
  branch (default betas and eps); a learnable temperature has its own AdamW (same lr, no weight decay). After
  `total.backward()`, each branch's gradient is clipped on its own with
  `clip_grad_norm_(branch.parameters(), grad_clip)`, then each optimiser steps (branch 1, branch 2,
  temperature). Gradients are reset to None before each backward.
- Checkpoints: at every checkpoint step (`seeding.checkpoint_steps`: after every epoch by default, every
  `check_every` steps, or at `num_checkpoints` geometrically spaced steps) each branch is evaluated on the
  full validation split (eval mode, no grad); its best state is kept separately, "best" meaning strictly
  higher validation accuracy (classification) or strictly lower validation L1 (regression), so ties keep the
  earliest checkpoint. After training each branch is restored to its own best state before testing.
- Early stopping (`common.Patience`): with `patience = P > 0` the run stops after the checkpoint that ends P
  consecutive checkpoints at which neither branch improved; the budget (`num_steps`, else `num_epochs`
  epochs) is the cap. `steps` counts the optimiser steps trained, `hit_cap` says whether that is the budget.
- Accuracy for regression is sign accuracy: `mean(sign(pred) == sign(y))` over the examples with `y != 0`.
- Stored weights: each branch's encoder and task head at its best checkpoint (`weights.branch_weights`).
  Alignment is not measured here: it is measured from the stored weights (`weights.load_branches`).
- Divergence: any non-finite training loss (task or alignment) or validation loss stops the run with
  `TrainingDiverged`, or, with `on_divergence="mark"`, returns a failed `FitResult` with NaN scores, no
  weights and the steps done before the failure.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from alignbook.checks import check_lam, fail
from alignbook.config import TrainConfig
from alignbook.data.container import PairedDataset
from alignbook.models.alignment import ContrastiveAligner
from alignbook.models.branch import Branch, build_branch
from alignbook.training.common import (
    Patience,
    TrainingDiverged,
    as_target,
    as_tensor,
    check_run_args,
    divergence_message,
    evaluate,
    out_dim,
    representations,
    resolve_config,
    step_plan,
    task_loss,
)
from alignbook.training.results import FitResult
from alignbook.training.seeding import branch_seed, run_batches
from alignbook.training.threads import DEFAULT_THREADS, limited_threads
from alignbook.training.weights import branch_weights

DIVERGENCE_MODES = ("raise", "mark")


# --------------------------------------------------------------------------------------- the training loop


@dataclass
class _Member:
    """One branch in training, with its data, optimiser and best checkpoint so far."""

    modality: int
    branch: Branch
    optimizer: torch.optim.Optimizer
    x_train: torch.Tensor
    x_valid: torch.Tensor
    best_score: float = math.inf  # lower is better: -accuracy (classification) or L1 (regression)
    best_state: dict | None = None
    best_epoch: int = -1
    best_step: int = -1
    best_val_acc: float = float("nan")


def _make_member(dataset: PairedDataset, modality: int, seed: int, config: TrainConfig) -> _Member:
    split_x = {1: "x1", 2: "x2"}[modality]
    branch = build_branch(config, dataset.input_shapes[modality - 1], out_dim(dataset),
                          branch_seed(seed, modality))
    optimizer = torch.optim.AdamW(branch.parameters(), lr=config.lr, weight_decay=config.weight_decay,
                                  foreach=False)
    return _Member(modality, branch, optimizer, as_tensor(getattr(dataset.train, split_x)),
                   as_tensor(getattr(dataset.valid, split_x)))


def _state_copy(module: nn.Module) -> dict:
    return {name: value.detach().clone() for name, value in module.state_dict().items()}


def _train(dataset: PairedDataset, members: list[_Member], aligner: ContrastiveAligner | None, seed: int,
           config: TrainConfig, lam: float, progress: bool, history: list[dict],
           until: int | None = None) -> tuple[int, bool]:
    """Run the steps of `members` (one or two branches), validating at each checkpoint and appending to
    `history`, until the cap or early stopping (`until`: stop at that checkpoint, without early stopping);
    return (steps trained, whether that is the whole budget). Raise TrainingDiverged."""
    task = dataset.task
    y_train, y_valid = as_target(dataset.train.y, task), as_target(dataset.valid.y, task)
    temperature_optimizer = None
    if aligner is not None and aligner.learn_temperature:
        temperature_optimizer = torch.optim.AdamW([aligner.log_temperature], lr=config.lr, weight_decay=0.0,
                                                  foreach=False)
    n_train = len(dataset.train)
    per_epoch, total, stops = step_plan(n_train, config)
    patience = Patience(0 if until is not None else config.patience)
    periods = zip([0, *stops[:-1]], stops, strict=True)
    if progress:
        from tqdm import tqdm  # only when asked: importing train must stay cheap

        periods = tqdm(periods, total=len(stops), desc=f"lam={lam:g} seed={seed}", unit="checkpoint")
    for member in members:
        member.branch.train()
    for start, stop in periods:
        sums, align_sum, align_steps = [0.0] * len(members), 0.0, 0
        batches = run_batches(n_train, config.batch_size, seed, start, stop)
        for global_step, index in zip(range(start, stop), batches, strict=True):
            epoch, step = divmod(global_step, per_epoch)
            lam_t = aligner.lam_at(epoch) if aligner is not None else 0.0
            names = [f"task loss of enc{m.modality}" for m in members]  # of the values checked at each step
            names += ["alignment loss"] * (lam_t > 0) + ["total loss"]
            index = torch.from_numpy(index)
            y = y_train[index]
            outputs = [m.branch(m.x_train[index]) for m in members]  # (z, head output) per branch
            losses = [task_loss(output, y, task) for _, output in outputs]
            total_loss = losses[0]
            for loss in losses[1:]:
                total_loss = total_loss + loss
            if lam_t > 0:
                p1 = members[0].branch.projection(outputs[0][0])
                p2 = members[1].branch.projection(outputs[1][0])
                align = aligner(p1, p2)
                total_loss = total_loss + lam_t * align
                losses.append(align)
            values = torch.stack([loss.detach() for loss in (*losses, total_loss)]).tolist()  # one sync
            for name, value in zip(names, values, strict=True):
                if not math.isfinite(value):
                    raise TrainingDiverged(divergence_message(f"epoch {epoch}, step {step}", name, value,
                                                               lam, config), steps=global_step)
            for member in members:
                member.optimizer.zero_grad(set_to_none=True)
            if temperature_optimizer is not None:
                temperature_optimizer.zero_grad(set_to_none=True)
            total_loss.backward()
            for member in members:
                nn.utils.clip_grad_norm_(member.branch.parameters(), config.grad_clip)
                member.optimizer.step()
            if temperature_optimizer is not None:
                temperature_optimizer.step()
            sums = [s + v for s, v in zip(sums, values, strict=False)]
            if lam_t > 0:
                align_sum, align_steps = align_sum + values[-2], align_steps + 1
        epoch = (stop - 1) // per_epoch
        record = {"epoch": epoch, "step": stop, "lam": lam_t}
        for member, task_sum in zip(members, sums, strict=False):
            record[f"train_task{member.modality}"] = task_sum / (stop - start)
        if aligner is not None:
            record["train_align"] = align_sum / align_steps if align_steps else float("nan")
        improved = False
        for member in members:
            acc, loss = evaluate(member.branch, member.x_valid, y_valid, task)
            if not math.isfinite(loss):
                raise TrainingDiverged(divergence_message(f"epoch {epoch}, validation",
                                                           f"validation loss of enc{member.modality}",
                                                           loss, lam, config), steps=stop)
            record[f"val_acc{member.modality}"] = acc
            record[f"val_loss{member.modality}"] = loss
            score = -acc if task == "classification" else loss
            if score < member.best_score:  # strictly better: ties keep the earliest checkpoint
                member.best_score, member.best_epoch, member.best_val_acc = score, epoch, acc
                member.best_step = stop
                member.best_state = _state_copy(member.branch)
                improved = True
        if aligner is not None:
            record["temperature"] = float(torch.as_tensor(aligner.temperature).detach())
        history.append(record)
        if progress:
            periods.set_postfix({k: round(v, 4) for k, v in record.items() if k.startswith("val_acc")})
        if stop == until or patience.update(np.array([improved]))[0]:
            break
    for member in members:
        member.branch.load_state_dict(member.best_state)
        member.branch.eval()
    return stop, stop == total


# ---------------------------------------------------------------------------------------------- public API


def fit(dataset: PairedDataset, lam: float = 0.0, seed: int = 0, config: TrainConfig | None = None, *,
        keep_representations: bool = False, on_divergence: str = "raise", progress: bool = False,
        threads: int = DEFAULT_THREADS, **overrides) -> FitResult:
    """Train enc1 and enc2 jointly with `lam * L_align`; return their test scores and best weights.

    `config` is a `TrainConfig` (default: `TrainConfig()`); keyword `overrides` replace its fields, e.g.
    `fit(ds, lam=0.5, num_epochs=10)`. `lam = 0` is independent training. `history` holds one dict per
    checkpoint (by default one per epoch: 0-based `epoch` of its last step, `step` = steps done, scheduled
    `lam`, mean `train_task1/2` and `train_align` (NaN where skipped) since the previous checkpoint,
    `val_acc1/2`, `val_loss1/2`, `temperature`). `weights1`/`weights2` hold each branch's encoder and task
    head at its best checkpoint; `steps` and `hit_cap` say how long it trained (`config.patience`). With
    `keep_representations`, `z1`/`z2` are the restored encoders' representations of the first
    `config.eval_max_samples` test examples. If a loss becomes non-finite, raises `TrainingDiverged`, or
    with `on_divergence="mark"` returns a result with `status="failed"`, the error text and NaN scores.
    Trains on `threads` torch and BLAS threads (default one, whoever calls it: the models are small) and
    restores the caller's settings afterwards. See the module docstring for every convention.
    """
    with limited_threads(threads):
        return _fit(dataset, lam, seed, config, keep_representations=keep_representations,
                    on_divergence=on_divergence, progress=progress, **overrides)


def _fit(dataset: PairedDataset, lam: float, seed: int, config: TrainConfig | None, *,
         keep_representations: bool, on_divergence: str, progress: bool, **overrides) -> FitResult:
    config = resolve_config(config, overrides)
    lam = check_lam("lam", lam)
    seed = check_run_args(dataset, seed)
    if on_divergence not in DIVERGENCE_MODES:
        fail("on_divergence", f"must be one of {DIVERGENCE_MODES}, got {on_divergence!r}")
    started = time.perf_counter()
    members = [_make_member(dataset, m, seed, config) for m in (1, 2)]
    history: list[dict] = []
    try:
        aligner = ContrastiveAligner(lam, config)
        steps, hit_cap = _train(dataset, members, aligner, seed, config, lam, progress, history)
    except TrainingDiverged as exc:
        if on_divergence == "raise":
            raise
        return FitResult(lam=lam, seed=seed, config=config, history=history, status="failed", error=str(exc),
                         steps=exc.steps, time_s=time.perf_counter() - started)
    result = FitResult(lam=lam, seed=seed, config=config, history=history, steps=steps, hit_cap=hit_cap)
    task, test = dataset.task, dataset.test
    for member, x_test in zip(members, (test.x1, test.x2), strict=True):
        acc, loss = evaluate(member.branch, x_test, test.y, task)
        m = member.modality
        setattr(result, f"acc{m}", acc)
        setattr(result, f"loss{m}", loss)
        setattr(result, f"val_acc{m}", member.best_val_acc)
        setattr(result, f"best_epoch{m}", member.best_epoch)
        setattr(result, f"best_step{m}", member.best_step)
        setattr(result, f"weights{m}", branch_weights(member.best_state))
        if keep_representations:
            setattr(result, f"z{m}", representations(member.branch, x_test[:config.eval_max_samples]))
    result.time_s = time.perf_counter() - started
    return result


def train_branches(dataset: PairedDataset, lam: float = 0.0, seed: int = 0, config: TrainConfig | None = None,
                   *, progress: bool = False, threads: int = DEFAULT_THREADS,
                   **overrides) -> tuple[Branch, Branch, list[dict]]:
    """`fit`'s training alone: return both branches (each restored to its best checkpoint) and the history.

    For inspecting or reusing the trained modules (`fit` returns scores and weights). Raises
    `TrainingDiverged`. `threads` as in `fit`.
    """
    with limited_threads(threads):
        return _train_branches(dataset, lam, seed, config, progress=progress, **overrides)[:3]


def _train_branches(dataset: PairedDataset, lam: float, seed: int, config: TrainConfig | None, *,
                    progress: bool, **overrides) -> tuple[Branch, Branch, list[dict], int]:
    config = resolve_config(config, overrides)
    lam = check_lam("lam", lam)
    seed = check_run_args(dataset, seed)
    members = [_make_member(dataset, m, seed, config) for m in (1, 2)]
    history: list[dict] = []
    steps, _ = _train(dataset, members, ContrastiveAligner(lam, config), seed, config, lam, progress, history)
    return members[0].branch, members[1].branch, history, steps


def fit_unimodal(dataset: PairedDataset, modality: int, seed: int = 0, config: TrainConfig | None = None,
                 *, threads: int = DEFAULT_THREADS, **overrides) -> tuple[Branch, list[dict]]:
    """Train one branch alone with `fit`'s conventions (seed, batches, optimiser, clipping, checkpoint).

    Returns the branch restored to its best checkpoint and its history (keys `epoch`, `step`, `lam`,
    `train_task{m}`, `val_acc{m}`, `val_loss{m}` with m = `modality`, the same keys and values as the
    corresponding entries of `fit(dataset, lam=0)`'s history while both train). With `config.patience > 0`
    it stops once this branch alone stalls. Raises `TrainingDiverged` on a non-finite loss. `threads` as in
    `fit`.
    """
    with limited_threads(threads):
        return _fit_unimodal(dataset, modality, seed, config, **overrides)


def _fit_unimodal(dataset: PairedDataset, modality: int, seed: int, config: TrainConfig | None,
                  until: int | None = None, **overrides) -> tuple[Branch, list[dict]]:
    config = resolve_config(config, overrides)
    seed = check_run_args(dataset, seed)
    if modality not in (1, 2) or isinstance(modality, bool):
        fail("modality", f"must be 1 or 2, got {modality!r}")
    member = _make_member(dataset, modality, seed, config)
    history: list[dict] = []
    _train(dataset, [member], None, seed, config, 0.0, False, history, until=until)
    return member.branch, history


def lam0_matches_independent(dataset: PairedDataset, seed: int = 0, config: TrainConfig | None = None,
                             *, threads: int = DEFAULT_THREADS, **overrides) -> tuple[bool, bool]:
    """Whether each encoder trained jointly at `lam = 0` (`train_branches`) ends with exactly the weights
    (`torch.equal`, every parameter) it has when trained alone (`fit_unimodal`) for as many steps (the joint
    run's, which early stopping may make shorter or longer than the branch's own): (enc1, enc2). `threads`
    as in `fit`."""
    with limited_threads(threads):
        return _lam0_matches_independent(dataset, seed, config, **overrides)


def _lam0_matches_independent(dataset: PairedDataset, seed: int, config: TrainConfig | None,
                              **overrides) -> tuple[bool, bool]:
    config = resolve_config(config, overrides)
    *joint, _, steps = _train_branches(dataset, 0.0, seed, config, progress=False)
    same = []
    for modality in (1, 2):
        alone, _ = _fit_unimodal(dataset, modality, seed, config, until=steps)
        pairs = zip(joint[modality - 1].state_dict().values(), alone.state_dict().values(), strict=True)
        same.append(all(torch.equal(a, b) for a, b in pairs))
    return same[0], same[1]
