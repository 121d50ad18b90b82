"""PyTorch's model-ensembling trainer (`torch.func`), measured by the benchmark against `vectorized.fit_many`.

`ensemble_fit_many` trains runs `(lam, seed)` together the way PyTorch's model-ensembling tutorial does:
each branch's modules stacked with `torch.func.stack_module_state`, one `torch.func.vmap` over
`torch.func.grad_and_value` of a per-run loss written with `torch.func.functional_call`, gradient clipping per
run and branch, and one `torch.optim.AdamW` over the stacked parameters. It follows `single.fit`'s recipe
(initial weights, mini-batches, losses, clipping, checkpoints per branch), so its runs equal `single.fit`'s to
float rounding. It exists to answer one question with a measurement: can the library's own batching replace
the hand-written step of `vectorized`? `alignbook.training.bench` times both on the same workload.

Two concessions keep it as fast as vmap allows: runs with `lam = 0` form their own ensemble that never
computes the alignment term (a vmapped function cannot skip it per run), and the InfoNCE is the reference
`models.alignment.info_nce` (autograd through it; the fused autograd.Function has no vmap rule).
Scope: the benchmark's workload only (classification, MLP encoders, a fixed temperature, a constant `lam`,
no early stopping).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call, grad_and_value, stack_module_state, vmap

from alignbook.checks import fail
from alignbook.config import TrainConfig
from alignbook.data.container import PairedDataset
from alignbook.models.alignment import info_nce
from alignbook.models.branch import build_branch
from alignbook.training.common import as_target, as_tensor, out_dim, step_plan
from alignbook.training.results import FitResult
from alignbook.training.seeding import branch_seed, run_batches


class _Ensemble:
    """Runs with one alignment setting (all `lam > 0`, or all `lam = 0`) trained together by vmap."""

    def __init__(self, dataset: PairedDataset, lams: list[float], seeds: list[int], config: TrainConfig):
        self.config, self.lams, self.seeds = config, lams, seeds
        self.align = lams[0] > 0
        self.x = [[as_tensor(getattr(split, name)).reshape(len(split), -1) for name in ("x1", "x2")]
                  for split in (dataset.train, dataset.valid, dataset.test)]
        self.y = [as_target(split.y, dataset.task) for split in (dataset.train, dataset.valid, dataset.test)]
        self.params, self.bases = [], []
        for modality in (1, 2):
            branches = [build_branch(config, dataset.input_shapes[modality - 1], out_dim(dataset),
                                     branch_seed(seed, modality)) for seed in seeds]
            params, _ = stack_module_state(branches)
            if not self.align:  # the projection head takes no step at lam = 0 (as in single.fit)
                params = {k: v for k, v in params.items() if not k.startswith("projection.")}
            self.params.append(params)
            self.bases.append(copy.deepcopy(branches[0]).to("meta"))
        every = [p for params in self.params for p in params.values()]
        self.optimizer = torch.optim.AdamW(every, lr=config.lr, weight_decay=config.weight_decay,
                                           foreach=True)
        self.best = [{k: v.detach().clone() for k, v in params.items()} for params in self.params]
        self.best_acc = np.full((2, len(lams)), -math.inf)
        self.best_step = np.full((2, len(lams)), -1)
        self.histories: list[list[dict]] = [[] for _ in lams]
        self.step_grads = vmap(grad_and_value(self._loss, argnums=(0, 1), has_aux=True))

    def _loss(self, params1, params2, x1, x2, y, lam):
        base1, base2 = self.bases
        z1, out1 = functional_call(base1, params1, (x1,))
        z2, out2 = functional_call(base2, params2, (x2,))
        task1, task2 = F.cross_entropy(out1, y), F.cross_entropy(out2, y)
        total = task1 + task2
        align = torch.zeros_like(total)
        if self.align:
            p1 = functional_call(base1.projection, _sub(params1, "projection."), (z1,))
            p2 = functional_call(base2.projection, _sub(params2, "projection."), (z2,))
            align = info_nce(p1, p2, self.config.temperature)
            total = total + lam * align
        return total, torch.stack([task1, task2, align])

    def train(self, n_train: int) -> None:
        config, runs = self.config, len(self.lams)
        _, self.total, stops = step_plan(n_train, config)
        lams = torch.tensor(self.lams)
        for start, stop in zip([0, *stops[:-1]], stops, strict=True):
            order = torch.from_numpy(np.stack([np.stack(run_batches(n_train, config.batch_size, seed, start,
                                                                    stop)) for seed in self.seeds]))
            sums = torch.zeros(3, runs, dtype=torch.float64)
            for offset in range(stop - start):
                index = order[:, offset]  # (runs, batch)
                x1, x2 = (x[index] for x in self.x[0])
                (grads1, grads2), (_, parts) = self.step_grads(*self.params, x1, x2, self.y[0][index], lams)
                for params, grads in zip(self.params, (grads1, grads2), strict=True):
                    squares = sum(g.reshape(runs, -1).square().sum(dim=1) for g in grads.values())
                    clip = (config.grad_clip / (squares.sqrt() + 1e-6)).clamp(max=1.0)
                    for name, grad in grads.items():
                        params[name].grad = grad.mul_(clip.view(-1, *[1] * (grad.dim() - 1)))
                self.optimizer.step()
                sums += parts.detach().T.double()
            self._checkpoint(stop, sums / (stop - start))

    @torch.no_grad()
    def _outputs(self, split: int, params: list[dict]) -> list[torch.Tensor]:
        """(runs, n, classes) task-head outputs of both branches on a split."""
        return [vmap(lambda p, x, base=base: functional_call(base, p, (x,))[1], in_dims=(0, None))(p, x)
                for base, p, x in zip(self.bases, params, self.x[split], strict=True)]

    def _checkpoint(self, step: int, means: torch.Tensor) -> None:
        y = self.y[1]
        outputs = self._outputs(1, self.params)
        for m, output in enumerate(outputs):
            acc = (output.argmax(dim=2) == y).double().mean(dim=1).numpy()
            improved = acc > self.best_acc[m]
            self.best_acc[m][improved], self.best_step[m][improved] = acc[improved], step
            rows = torch.from_numpy(improved)
            for name, value in self.params[m].items():
                self.best[m][name][rows] = value.detach()[rows]
        losses = [F.cross_entropy(o.transpose(1, 2), y.expand(len(o), -1), reduction="none").mean(dim=1)
                  for o in outputs]
        for run, history in enumerate(self.histories):
            history.append({"step": step, "lam": self.lams[run], "train_task1": float(means[0, run]),
                            "train_task2": float(means[1, run]),
                            "train_align": float(means[2, run]) if self.align else math.nan,
                            "val_loss1": float(losses[0][run]), "val_loss2": float(losses[1][run])})

    def results(self, seconds_per_run: float) -> list[FitResult]:
        y = self.y[2]
        outputs = self._outputs(2, self.best)
        accuracy = [(o.argmax(dim=2) == y).double().mean(dim=1).numpy() for o in outputs]
        return [FitResult(lam=lam, seed=seed, config=self.config, acc1=float(accuracy[0][run]),
                          acc2=float(accuracy[1][run]), val_acc1=float(self.best_acc[0][run]),
                          val_acc2=float(self.best_acc[1][run]), best_step1=int(self.best_step[0][run]),
                          best_step2=int(self.best_step[1][run]), history=self.histories[run],
                          steps=self.total, hit_cap=True, time_s=seconds_per_run)
                for run, (lam, seed) in enumerate(zip(self.lams, self.seeds, strict=True))]


def _sub(params: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in params.items() if k.startswith(prefix)}


def ensemble_fit_many(dataset: PairedDataset, lams: Sequence[float], seeds: Sequence[int],
                      config: TrainConfig) -> list[FitResult]:
    """Train runs `(lams[i], seeds[i])` with torch.func's model ensembling; FitResults in the order given.

    Each result holds test and validation accuracies, best steps and a history of mean training losses and
    validation losses per checkpoint (what the benchmark compares), equal to `single.fit`'s to float rounding.
    The benchmark's workload only: classification, `encoder="mlp"`, a fixed temperature, a constant `lam`,
    `patience = 0`.
    """
    if dataset.task != "classification" or config.encoder != "mlp" or config.learn_temperature:
        fail("config", "the ensemble trains classification with MLP encoders and a fixed temperature only")
    if config.lam_schedule != "constant" and config.schedule_epochs > 0:
        fail("config.lam_schedule", "the ensemble trains with a constant lam only")
    if config.patience:
        fail("config.patience", "the ensemble trains the whole budget (patience 0) only")
    results: list[FitResult | None] = [None] * len(lams)
    for aligned in (True, False):
        picked = [i for i, lam in enumerate(lams) if (lam > 0) == aligned]
        if not picked:
            continue
        started = time.perf_counter()
        ensemble = _Ensemble(dataset, [float(lams[i]) for i in picked], [int(seeds[i]) for i in picked],
                             config)
        ensemble.train(len(dataset.train))
        for i, result in zip(picked, ensemble.results((time.perf_counter() - started) / len(picked)),
                             strict=True):
            results[i] = result
    return results

