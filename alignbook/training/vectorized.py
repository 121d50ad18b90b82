"""Vectorised trainer: many runs `(lam, seed)` on one dataset, trained at once, each as `single.fit` does.

The synthetic study trains hundreds of tiny models (two 12-wide MLP branches each). One at a time, a step is
almost all per-operation overhead; here G runs are stacked on a leading "lane" axis (2G lanes: both branches
of every run) and every layer of every run is one batched matrix product. What stays per run is exactly
`single.fit`'s recipe (see its module docstring): the same initial weights (`models.build_branch`), the same
mini-batches (`seeding.run_batches`), the same losses, AdamW arithmetic, clipping per branch, checkpoint per
branch, divergence handling and measurements. Only float rounding differs (batched instead of single matrix
products), so results agree with `single.fit` to rounding as amplified by training: on the synthetic data,
where ReLU units and checkpoint choices near a tie are decided by rounding, single runs end about as far
apart as `single.fit` ends from itself when its training inputs move by one float32 ulp
(`alignbook.training.bench` measures both).

Where the time goes and what is done about it:

- Runs are stacked on a leading "lane" axis, lane = 2 * run + modality - 1, with the runs of a group sorted by
  decreasing lam: every schedule switches the alignment term on for all lam > 0 at once, so the runs with
  `lam_t > 0` are the first A and their lanes the first 2A, handled as plain slices (no gathers).
- A step is a hand-written forward and backward (`_Group._step`), no autograd: every layer of every lane is
  one `torch.baddbmm` forward and two `torch.bmm` backward, all into buffers allocated once per group (fresh
  memory costs page faults, which are expensive on small VMs).
- Parameters of all lanes live in two flat `(2G, P)` buffers (the body: encoder and task head; the
  projection head); layers are views of them, so AdamW and clipping are a dozen whole-buffer operations per
  step whatever G is. The batched products read and write contiguous per-layer copies of the weights and
  weight gradients instead: a product with an operand whose lanes lie P floats apart loops over the lanes
  in torch, up to 2x slower; the copies cost a few per cent of that. The projection head has its own
  buffer because it only gets a gradient, and an AdamW step, when the alignment term is computed
  (`single.fit` leaves it untouched when `lam_t = 0`).
- The symmetric InfoNCE and AdamW are hand-written kernels (`alignbook.training.kernels`): the InfoNCE is
  about 40 % of a step; the batched matrix products of the layers are most of the rest.

Levers measured and not taken (torch 2.13 on a 2-core AVX2 machine without AVX-512, the benchmark's
workload): the step's matrix products alone, with nothing else, reach about 38 % of the float32 matmul
peak (MKL's batched products of these small shapes), so no fusion of the elementwise work can bring the
trainer much past that. `torch.compile` (gcc, fixed shapes) made the InfoNCE kernel about 2x slower (it
recomputes the exp in each of three loops) and its GEMM templates were slower than MKL; compiling one
kernel took as much CPU time as the whole workload. bfloat16 products have no hardware support here (2x to
30x slower) and move first-epoch losses about 20x more than a one-ulp change of the inputs does. Smaller
InfoNCE chunks (1 to 8 runs instead of 16) were no faster.

Memory guard: a group's memory is about `RUN_BYTES_PER_EXAMPLE * batch_size` bytes per run (activations of
both branches, their gradients and the gathered batch) plus one chunk of logits, so `fit_many` trains at most
`max_group_runs(...)` runs at once (about `GROUP_MEMORY_BYTES` in all) and the rest in further groups.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from alignbook.checks import check_lam, check_positive_int, check_seed, fail
from alignbook.config import TrainConfig
from alignbook.data.container import PairedDataset
from alignbook.models.alignment import lam_schedule
from alignbook.models.branch import build_branch, projection_dims
from alignbook.training.common import (
    as_target,
    check_run_args,
    count_correct,
    divergence_message,
    out_dim,
    resolve_config,
    step_plan,
)
from alignbook.training.kernels import AlignmentStep, LaneAdamW
from alignbook.training.results import FitResult
from alignbook.training.seeding import branch_seed, run_batches
from alignbook.training.threads import DEFAULT_THREADS, limited_threads

# Budget for one group of runs trained together, and the bytes per run per batch example it is split by.
GROUP_MEMORY_BYTES = 1 << 30
RUN_BYTES_PER_EXAMPLE = 4096
# Most runs in one group: beyond this per-operation overhead is already negligible.
MAX_GROUP_RUNS = 128
# Validation and test forwards use at most this many bytes of activations at a time: chunks that stay in
# cache (a validation pass of 72 runs took 0.40 s with 4 MB chunks, 0.68 s with 64 MB).
EVAL_BYTES = 4 << 20


# ------------------------------------------------------------------------------------------ parameter layout


@dataclass(frozen=True)
class _Slot:
    """One parameter of a branch inside a flat per-lane buffer: columns `start:start + rows * cols`."""

    start: int
    rows: int
    cols: int

    @property
    def size(self) -> int:
        return self.rows * self.cols


class _Layout:
    """Where each weight (`(out, in)` as in nn.Linear) and bias (`(out, 1)`) sits in the flat buffers.

    Body: every encoder layer then the task head; projection: its layers (`projection_dims`, none for
    `projection="none"`). The first layer has
    `in_dim = max(in_dim1, in_dim2)` columns; the narrower modality's extra columns are zero and stay zero
    (its inputs are zero-padded, so they get zero gradient and AdamW keeps them at 0): padding is exact.
    """

    def __init__(self, in_dim: int, config: TrainConfig, out_dim: int):
        dims = [in_dim] + [config.width] * config.depth + [config.repr_dim, out_dim]
        self.body: list[tuple[_Slot, _Slot]] = []
        offset = 0
        for fan_in, fan_out in zip(dims[:-1], dims[1:], strict=True):
            weight, bias = _Slot(offset, fan_out, fan_in), _Slot(offset + fan_in * fan_out, fan_out, 1)
            self.body.append((weight, bias))
            offset += weight.size + bias.size
        self.body_size = offset
        self.projection: list[tuple[_Slot, _Slot]] = []
        offset = 0
        for fan_in, fan_out in projection_dims(config):
            weight, bias = _Slot(offset, fan_out, fan_in), _Slot(offset + fan_in * fan_out, fan_out, 1)
            self.projection.append((weight, bias))
            offset += weight.size + bias.size
        self.projection_size = offset


def _views(flat: torch.Tensor, slots: list[tuple[_Slot, _Slot]]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(weight (L, out, in), bias (L, out, 1)) views into a flat (L, P) buffer."""
    lanes = flat.shape[0]
    return [(flat[:, w.start : w.start + w.size].view(lanes, w.rows, w.cols),
             flat[:, b.start : b.start + b.size].view(lanes, b.rows, 1)) for w, b in slots]


def _linear_weights(module: torch.nn.Linear, cols: int) -> tuple[torch.Tensor, torch.Tensor]:
    """An nn.Linear's weight (out, in), zero-padded to `cols` inputs, and its bias."""
    weight = module.weight.detach()
    return F.pad(weight, (0, cols - weight.shape[1])), module.bias.detach()


# ---------------------------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class _Data:
    """The dataset as tensors, both modalities stacked (and zero-padded to one width): x is (2, n, in_dim)."""

    x_train: torch.Tensor
    x_valid: torch.Tensor
    x_test: torch.Tensor
    y_train: torch.Tensor
    y_valid: torch.Tensor
    y_test: torch.Tensor
    task: str
    out_dim: int
    in_dim: int
    input_shapes: tuple[tuple[int, ...], tuple[int, ...]]

    @classmethod
    def from_dataset(cls, dataset: PairedDataset) -> _Data:
        in_dims = [math.prod(shape) if len(shape) else 1 for shape in dataset.input_shapes]
        in_dim = max(in_dims)

        def stacked(split) -> torch.Tensor:
            both = []
            for array, width in ((split.x1, in_dims[0]), (split.x2, in_dims[1])):
                x = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).reshape(len(split), width)
                both.append(F.pad(x, (0, in_dim - width)))
            return torch.stack(both)

        task = dataset.task
        return cls(stacked(dataset.train), stacked(dataset.valid), stacked(dataset.test),
                   as_target(dataset.train.y, task), as_target(dataset.valid.y, task),
                   as_target(dataset.test.y, task), task, out_dim(dataset), in_dim,
                   dataset.input_shapes)


# ------------------------------------------------------------------------------------------ one group of runs


def _forward(views, x: torch.Tensor, hidden: int, out: list | None = None) -> list[torch.Tensor]:
    """Every layer's output of stacked MLPs whose first `hidden` layers are followed by a ReLU.

    Activations are stored by column, `(lanes, features, n)`: `W @ h` with n as the long side is about twice
    as fast as `h @ W.T` for 12-wide layers, forward and backward. `out`: a buffer per layer to write into.
    """
    outputs, h = [], x
    for i, (weight, bias) in enumerate(views):
        h = torch.baddbmm(bias, weight, h, out=None if out is None else out[i])
        if i < hidden:
            h = h.relu_()  # in place is safe: the backward is written by hand and reads only the output
        outputs.append(h)
    return outputs


def _task_loss_sums(output: torch.Tensor, y: torch.Tensor, task: str) -> torch.Tensor:
    """(lanes,) summed task loss of each lane's output (lanes, out, n) against y (lanes or 1, n)."""
    lanes, _, n = output.shape
    if task == "classification":
        losses = F.cross_entropy(output, y.expand(lanes, n), reduction="none")  # (lanes, n)
    else:
        losses = (output[:, 0] - y).abs()
    return losses.sum(dim=1)


def _relu_backward(grad: torch.Tensor, output: torch.Tensor) -> None:
    """In place: zero `grad` where the ReLU's output is 0 (autograd's threshold_backward, no new memory)."""
    torch.ops.aten.threshold_backward.grad_input(grad, output, 0, grad_input=grad)


class _Group:
    """G runs trained together: parameters, optimiser states, best checkpoints and per-run bookkeeping.

    Runs are held sorted by decreasing `lam` (`order` maps back): every schedule switches the alignment term
    on for all runs with `lam > 0` at the same epoch, so the runs with `lam_t > 0` are always the first A and
    their lanes (lane = 2 * run + modality - 1) the first 2A, on which the projection heads, the InfoNCE and
    the projection AdamW work as plain slices. A step is a hand-written forward and backward into buffers
    allocated once (in `__init__`); gradients are written straight into the flat gradient buffers.
    """

    def __init__(self, data: _Data, lams: list[float], seeds: list[int], config: TrainConfig):
        self.order = sorted(range(len(lams)), key=lambda i: -lams[i])  # stable: ties keep their order
        self.data, self.config = data, config
        self.lams, self.seeds = [lams[i] for i in self.order], [seeds[i] for i in self.order]
        self.runs = len(lams)
        self.lanes = 2 * self.runs  # lane = 2 * run + modality - 1
        layout = _Layout(data.in_dim, config, data.out_dim)
        body = torch.zeros(self.lanes, layout.body_size)
        projection = torch.zeros(self.lanes, layout.projection_size)
        shapes = data.input_shapes
        for modality in (1, 2):
            for run, seed in enumerate(self.seeds):
                branch = build_branch(config, shapes[modality - 1], data.out_dim, branch_seed(seed, modality))
                lane = 2 * run + modality - 1
                modules = [*branch.encoder.hidden, branch.encoder.out, branch.head]
                linear = [layer for layer in branch.projection if isinstance(layer, torch.nn.Linear)]
                for flat, slots, parts in ((body, layout.body, modules),
                                           (projection, layout.projection, linear)):
                    for (w_slot, b_slot), module in zip(slots, parts, strict=True):
                        weight, bias = _linear_weights(module, w_slot.cols)
                        flat[lane, w_slot.start : w_slot.start + w_slot.size] = weight.reshape(-1)
                        flat[lane, b_slot.start : b_slot.start + b_slot.size] = bias
        self.body, self.projection = body, projection
        self.body_views = _views(body, layout.body)
        self.projection_views = _views(projection, layout.projection)
        self.body_grad = torch.zeros_like(body)
        self.projection_grad = torch.zeros_like(projection)
        self.body_grad_views = _views(self.body_grad, layout.body)
        self.projection_grad_views = _views(self.projection_grad, layout.projection)
        # contiguous copies of every weight and weight gradient for the batched products (module docstring)
        self.body_weights = [(w.clone(), b) for w, b in self.body_views]
        self.projection_weights = [(w.clone(), b) for w, b in self.projection_views]
        self.body_weight_grads = [torch.empty_like(w) for w, _ in self.body_views]
        self.projection_weight_grads = [torch.empty_like(w) for w, _ in self.projection_views]
        self.body_opt = LaneAdamW(body, config.lr, config.weight_decay)
        self.projection_opt = LaneAdamW(projection, config.lr, config.weight_decay)
        self.best_body = body.clone()
        self.best_score = torch.full((self.lanes,), math.inf, dtype=torch.float64)
        self.best_epoch = np.full(self.lanes, -1, dtype=np.int64)
        self.best_step = np.full(self.lanes, -1, dtype=np.int64)
        self.best_val_acc = np.full(self.lanes, np.nan)
        self.failed = np.zeros(self.runs, dtype=bool)
        self.errors = [""] * self.runs
        self.histories: list[list[dict]] = [[] for _ in range(self.runs)]
        n_train = data.y_train.shape[0]
        self.batch = batch = min(config.batch_size, n_train)
        self.x_flat = data.x_train.reshape(2 * n_train, data.in_dim)  # row m * n + i: example i, modality m
        self.y_flat = torch.cat([data.y_train, data.y_train])
        self.lane_offsets = torch.tensor([0, n_train]).view(1, 2, 1)
        self.align = None
        aligned_dim = config.proj_dim if layout.projection else config.repr_dim  # "none": z enters the loss
        if any(lam > 0 for lam in lams):
            self.align = AlignmentStep(self.runs, aligned_dim, batch, config.temperature)
        lanes, width = self.lanes, config.width
        self.lane_index = torch.empty(self.runs, 2, batch, dtype=torch.int64)
        self.x = torch.empty(lanes * batch, data.in_dim)
        self.y = torch.empty(lanes * batch, dtype=data.y_train.dtype)
        self.acts = [torch.empty(lanes, w.rows, batch) for w, _ in layout.body]  # hidden..., z, output
        self.d_hidden = [torch.empty(lanes, width, batch) for _ in range(2)]
        self.d_z = torch.empty(lanes, config.repr_dim, batch)
        self.d_out = torch.empty(lanes, data.out_dim, batch)
        self.log_probs = torch.empty(lanes, data.out_dim, batch)
        self.minus_ones = torch.full((lanes, 1, batch), -1.0)
        # each projection layer's output, and the gradient into each layer's input but the first's (z's)
        self.proj_acts = [torch.empty(lanes, w.rows, batch) for w, _ in layout.projection]
        self.d_proj = [torch.empty(lanes, w.cols, batch) for w, _ in layout.projection[1:]]
        self.squares = torch.empty(lanes, 1, 1)
        self.squares_projection = torch.empty(lanes, 1, 1)

    # ------------------------------------------------------------------------------------------ training

    def train(self, progress: bool = False, label: str = "") -> None:
        config, data = self.config, self.data
        n_train = data.y_train.shape[0]
        per_epoch, _, stops = step_plan(n_train, config)
        periods = zip([0, *stops[:-1]], stops, strict=True)
        if progress:
            from tqdm import tqdm  # only when asked

            periods = tqdm(periods, total=len(stops), desc=label or f"{self.runs} runs", unit="checkpoint")
        lam_by_epoch: dict[int, np.ndarray] = {}
        for start, stop in periods:
            order = self._run_batches(n_train, start, stop)  # (runs, steps, batch)
            sums = torch.zeros(4, self.runs, dtype=torch.float64)
            align_steps = np.zeros(self.runs, dtype=np.int64)
            for offset in range(stop - start):
                epoch, step = divmod(start + offset, per_epoch)
                if epoch not in lam_by_epoch:
                    lam_by_epoch[epoch] = np.array([lam_schedule(lam, config.lam_schedule,
                                                                 config.schedule_epochs, epoch)
                                                    for lam in self.lams])
                lam_t = lam_by_epoch[epoch]
                values = self._step(order[:, offset], lam_t)
                sums += values
                align_steps += lam_t > 0
                self._check_finite(values, epoch, step)
            self._end_period(epoch, stop, lam_t, sums / (stop - start), align_steps / (stop - start))
        self.body.copy_(self.best_body)  # each branch of each run back to its best validation checkpoint
        self._copy_weights(0)

    def _run_batches(self, n_train: int, start: int, stop: int) -> torch.Tensor:
        by_seed = {seed: np.stack(run_batches(n_train, self.config.batch_size, seed, start, stop))
                   for seed in set(self.seeds)}  # runs sharing a seed share their batches
        return torch.from_numpy(np.stack([by_seed[seed] for seed in self.seeds]))

    def _step(self, index: torch.Tensor, lam_t: np.ndarray) -> torch.Tensor:
        """One step of every run; returns the (4, runs) losses: task1, task2, align (0 if off), total."""
        config, runs, lanes, batch = self.config, self.runs, self.lanes, self.batch
        active = int(np.count_nonzero(lam_t > 0))
        if not (lam_t[:active] > 0).all():  # runs are sorted by lam and schedules scale lam: cannot happen
            raise RuntimeError("runs with lam_t > 0 must come first in a group")
        n = 2 * active  # lanes with the alignment term
        # gather: lane (run, modality) gets rows modality * n_train + index[run]
        torch.add(index[:, None, :], self.lane_offsets, out=self.lane_index)
        flat_index = self.lane_index.view(-1)
        x = torch.index_select(self.x_flat, 0, flat_index, out=self.x).view(lanes, batch, -1)
        y = torch.index_select(self.y_flat, 0, flat_index, out=self.y).view(lanes, 1, batch)
        # forward of the bodies: encoder layers (ReLU after the hidden ones), z, task head
        z, output = _forward(self.body_weights, x.transpose(1, 2), config.depth, self.acts)[-2:]
        task = self._task_loss(output, y)  # (lanes,), and d task / d output in self.d_out
        task_pairs = task.view(runs, 2)
        align = torch.zeros(runs)
        totals = task_pairs[:, 0] + task_pairs[:, 1]  # per run, as single.fit sums them
        if n:  # projection heads and InfoNCE of the first `active` runs
            views, last = self.projection_weights, len(self.projection_weights) - 1
            p = z[:n]
            inputs = []
            for i, (weight, bias) in enumerate(views):
                inputs.append(p)
                p = torch.baddbmm(bias[:n], weight[:n], p, out=self.proj_acts[i][:n])
                if i < last:
                    p = p.relu_()
            weights = torch.from_numpy(lam_t[:active]).to(torch.float32)
            align_loss = self.align(p, weights)  # gradient of sum(weights * loss) w.r.t. p in align.grad
            align[:active] = align_loss
            totals[:active] += weights * align_loss
            d_p = self.align.grad[:n]  # into the projection's output; after the loop, into its first layer's
            for i in range(last, -1, -1):
                g_weight, g_bias = self.projection_weight_grads[i], self.projection_grad_views[i][1]
                torch.bmm(d_p, inputs[i].transpose(1, 2), out=g_weight[:n])
                self.projection_grad_views[i][0][:n].copy_(g_weight[:n])
                torch.sum(d_p, dim=2, keepdim=True, out=g_bias[:n])
                if i > 0:
                    d_p = torch.bmm(views[i][0][:n].transpose(1, 2), d_p, out=self.d_proj[i - 1][:n])
                    _relu_backward(d_p, inputs[i])
        # backward of the bodies, head first
        d = self.d_out
        for i in range(len(self.body_views) - 1, -1, -1):
            weight = self.body_weights[i][0]
            g_weight, g_bias = self.body_weight_grads[i], self.body_grad_views[i][1]
            h_in = self.acts[i - 1] if i > 0 else x.transpose(1, 2)
            torch.bmm(d, h_in.transpose(1, 2), out=g_weight)
            self.body_grad_views[i][0].copy_(g_weight)
            torch.sum(d, dim=2, keepdim=True, out=g_bias)
            if i == 0:
                break
            if i == len(self.body_views) - 1:  # into z: the head's term, plus the projection's
                d_next = torch.bmm(weight.transpose(1, 2), d, out=self.d_z)
                if n and views:  # plus the first projection layer's backward, fused
                    d_next[:n].baddbmm_(views[0][0][:n].transpose(1, 2), d_p)
                elif n:  # no projection: the loss's gradient goes to z directly
                    d_next[:n].add_(d_p)
            else:
                d_next = torch.bmm(weight.transpose(1, 2), d, out=self.d_hidden[i % 2])
                _relu_backward(d_next, self.acts[i - 1])
            d = d_next
        # clip_grad_norm_ per branch (lane), then AdamW; the projection only where it got a gradient
        squares = torch.bmm(self.body_grad[:, None, :], self.body_grad[:, :, None], out=self.squares)
        projection_grad = self.projection_grad[:n]
        if n and projection_grad.shape[1]:
            squares[:n] += torch.bmm(projection_grad[:, None, :], projection_grad[:, :, None],
                                     out=self.squares_projection[:n])
        clip = (config.grad_clip / (squares.view(lanes, 1).sqrt() + 1e-6)).clamp_(max=1.0)
        self.body_grad.mul_(clip)
        self.body_opt.step(self.body_grad)
        if n and projection_grad.shape[1]:
            projection_grad.mul_(clip[:n])
            self.projection_opt.step(self.projection_grad, n)
        self._copy_weights(n)
        return torch.stack([task_pairs[:, 0], task_pairs[:, 1], align, totals]).double()

    def _copy_weights(self, projection_lanes: int) -> None:
        """Refresh the contiguous weights from the flat buffers: the body's, and the projection's first
        `projection_lanes` lanes (those that just took a step)."""
        for (copy, _), (weight, _) in zip(self.body_weights, self.body_views, strict=True):
            copy.copy_(weight)
        for (copy, _), (weight, _) in zip(self.projection_weights, self.projection_views, strict=True):
            copy[:projection_lanes].copy_(weight[:projection_lanes])

    def _task_loss(self, output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(lanes,) mean task loss of each lane; its gradient with respect to `output` goes to self.d_out."""
        batch = output.shape[2]
        if self.data.task == "classification":
            log_probs = torch.log_softmax(output, dim=1, out=self.log_probs)
            loss = log_probs.gather(1, y).view(-1, batch).mean(dim=1).neg_()
            torch.exp(log_probs, out=self.d_out).scatter_add_(1, y, self.minus_ones).div_(batch)
            return loss
        difference = output[:, 0] - y[:, 0]
        torch.sign(difference, out=self.d_out[:, 0]).div_(batch)
        return difference.abs_().mean(dim=1)

    def _check_finite(self, values: torch.Tensor, epoch: int, step: int) -> None:
        """Mark runs whose losses became non-finite as failed, with single.fit's message."""
        bad = ~torch.isfinite(values).all(dim=0).numpy() & ~self.failed
        if not bad.any():
            return
        names = ("task loss of enc1", "task loss of enc2", "alignment loss", "total loss")
        for run in np.flatnonzero(bad):
            row = values[:, run].tolist()
            which = next(i for i, v in enumerate(row) if not math.isfinite(v))
            self._fail(run, divergence_message(f"epoch {epoch}, step {step}", names[which], row[which],
                                                self.lams[run], self.config))

    def _fail(self, run: int, message: str) -> None:
        self.failed[run] = True
        self.errors[run] = message

    def _end_period(self, epoch: int, step: int, lam_t: np.ndarray, means: torch.Tensor,
                    align_share: np.ndarray) -> None:
        """Validate every lane, keep best checkpoints, append each run's history record.

        `means` are the (4, runs) losses averaged over the period's steps (the alignment loss counted as 0
        where it was off), `align_share` the share of those steps on which each run's alignment was on.
        """
        data = self.data
        accuracy, loss = self.evaluate(data.x_valid, data.y_valid)
        for run in np.flatnonzero(~self.failed):
            for modality in (1, 2):
                value = float(loss[2 * run + modality - 1])
                if not math.isfinite(value):
                    where = f"epoch {epoch}, validation"
                    self._fail(run, divergence_message(where, f"validation loss of enc{modality}", value,
                                                        self.lams[run], self.config))
                    break
        score = -torch.from_numpy(accuracy) if data.task == "classification" else torch.from_numpy(loss)
        lane_ok = torch.from_numpy(np.repeat(~self.failed, 2))
        improved = (score < self.best_score) & lane_ok  # strictly better: ties keep the earliest one
        if improved.any():
            self.best_score[improved] = score[improved]
            self.best_body[improved] = self.body[improved].detach()
            which = improved.numpy()
            self.best_epoch[which] = epoch
            self.best_step[which] = step
            self.best_val_acc[which] = accuracy[which]
        means = means.tolist()
        for run in np.flatnonzero(~self.failed):
            share = float(align_share[run])
            self.histories[run].append({
                "epoch": epoch, "step": step, "lam": float(lam_t[run]),
                "train_task1": means[0][run], "train_task2": means[1][run],
                "train_align": means[2][run] / share if share > 0 else float("nan"),
                "val_acc1": float(accuracy[2 * run]), "val_loss1": float(loss[2 * run]),
                "val_acc2": float(accuracy[2 * run + 1]), "val_loss2": float(loss[2 * run + 1]),
                "temperature": float(torch.as_tensor(self.config.temperature)),  # as single.fit records it
            })

    # ---------------------------------------------------------------------------------------- evaluation

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Accuracy and mean task loss of every lane on a split (x (2, n, in_dim)), as common.evaluate."""
        n = y.shape[0]
        widest = max(self.data.in_dim, self.config.width, self.config.repr_dim, self.data.out_dim)
        rows = max(1, EVAL_BYTES // (4 * self.lanes * widest * 3))
        views = self.body_weights
        correct = torch.zeros(self.lanes, dtype=torch.int64)
        loss_sum = torch.zeros(self.lanes, dtype=torch.float64)
        counted = 0
        for start in range(0, n, rows):
            xs, ys = x[:, start : start + rows], y[start : start + rows]
            lanes_x = xs[None].expand(self.runs, *xs.shape).reshape(self.lanes, *xs.shape[1:])
            output = _forward(views, lanes_x.transpose(1, 2), self.config.depth)[-1]
            loss_sum += _task_loss_sums(output, ys[None], self.data.task).double()
            c, k = count_correct(output, ys[None], self.data.task)
            correct += c
            counted += k
        accuracy = correct.double().numpy() / counted if counted else np.full(self.lanes, np.nan)
        return accuracy, loss_sum.numpy() / max(n, 1)

    @torch.no_grad()
    def layers(self, run: int, x: torch.Tensor) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Both encoders' layer-wise representations of run `run` (hidden activations, then z) on x."""
        views = [(w[2 * run : 2 * run + 2], b[2 * run : 2 * run + 2]) for w, b in self.body_weights]
        outputs = _forward(views, x.transpose(1, 2), self.config.depth)[:-1]  # drop the head
        return tuple([o[m].T.contiguous().numpy() for o in outputs] for m in (0, 1))

    # ------------------------------------------------------------------------------------------- results

    def results(self, keep_representations: bool, seconds_per_run: float) -> list[FitResult]:
        """One FitResult per run, measured like single.fit: test scores, then alignment on the test split."""
        from alignbook import metrics  # as single.fit: imported on use

        config, data = self.config, self.data
        accuracy, loss = self.evaluate(data.x_test, data.y_test)
        n_test = data.y_test.shape[0]
        n_align = min(n_test, config.eval_max_samples)
        x_align = data.x_test[:, :n_align]
        results = []
        for run, (lam, seed) in enumerate(zip(self.lams, self.seeds, strict=True)):
            started = time.perf_counter()
            if self.failed[run]:
                results.append(FitResult(lam=lam, seed=seed, config=config, history=self.histories[run],
                                         status="failed", error=self.errors[run], time_s=seconds_per_run))
                continue
            result = FitResult(lam=lam, seed=seed, config=config, history=self.histories[run])
            for modality in (1, 2):
                lane = 2 * run + modality - 1
                setattr(result, f"acc{modality}", float(accuracy[lane]))
                setattr(result, f"loss{modality}", float(loss[lane]))
                setattr(result, f"val_acc{modality}", float(self.best_val_acc[lane]))
                setattr(result, f"best_epoch{modality}", int(self.best_epoch[lane]))
                setattr(result, f"best_step{modality}", int(self.best_step[lane]))
            if n_test:
                layers1, layers2 = self.layers(run, x_align)
                result.alignment, result.alignment_chance = metrics.pair_alignment(
                    layers1, layers2, config.metric_layer, k=config.knn_k, seed=seed)
                if keep_representations:
                    result.z1, result.z2 = layers1[-1], layers2[-1]
            result.time_s = seconds_per_run + time.perf_counter() - started
            results.append(result)
        in_order: list[FitResult] = [None] * self.runs  # back to the caller's order
        for run, result in zip(self.order, results, strict=True):
            in_order[run] = result
        return in_order


# ---------------------------------------------------------------------------------------------- public API


def vectorization_blocker(config: TrainConfig) -> str:
    """Why `fit_many` cannot train runs with `config`, or '' when it can: the one rule the sweep also asks.

    The hand-written step knows MLP encoders with a fixed temperature only.
    """
    if config.encoder != "mlp":
        return f"config.encoder: fit_many trains MLP encoders only, got {config.encoder!r}"
    if config.learn_temperature:
        return "config.learn_temperature: fit_many needs a fixed temperature"
    return ""


def check_vectorizable(config: TrainConfig) -> None:
    """Raise ValueError when runs with `config` cannot be trained by `fit_many` (use `single.fit` instead)."""
    blocker = vectorization_blocker(config)
    if blocker:
        raise ValueError(f"{blocker} (train these runs one by one with alignbook.training.single.fit)")


def max_group_runs(batch_size: int, memory_bytes: int = GROUP_MEMORY_BYTES) -> int:
    """Most runs trained at once: `memory_bytes` over about `RUN_BYTES_PER_EXAMPLE * batch_size` per run.

    A run's share of a step is its activations, their gradients and its gathered batch: a few hundred floats
    per example for the synthetic MLPs (`RUN_BYTES_PER_EXAMPLE` leaves room for wider ones). The B x B logits
    do not count: `InfoNCEKernel` materialises them a cache-sized chunk of runs at a time.
    """
    return max(1, min(MAX_GROUP_RUNS, memory_bytes // (RUN_BYTES_PER_EXAMPLE * batch_size)))


def _check_runs(lams: Sequence[float], seeds: Sequence[int]) -> tuple[list[float], list[int]]:
    for name, values in (("lams", lams), ("seeds", seeds)):
        if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
            fail(name, f"must be a sequence (one entry per run), got {type(values).__name__}")
    if len(lams) != len(seeds):
        fail("lams/seeds", f"must have the same length (run i is (lams[i], seeds[i])), got {len(lams)} lams "
                           f"and {len(seeds)} seeds", "for a lams x seeds grid pass the pairs of "
                           "itertools.product(lams, seeds)")
    if len(lams) == 0:
        fail("lams", "no runs: lams and seeds are empty")
    lams = [check_lam(f"lams[{i}]", lam) for i, lam in enumerate(lams)]
    return lams, [check_seed(f"seeds[{i}]", seed) for i, seed in enumerate(seeds)]


def fit_many(dataset: PairedDataset, lams: Sequence[float], seeds: Sequence[int],
             config: TrainConfig | None = None, *, keep_representations: bool = False, progress: bool = False,
             group_runs: int | None = None, threads: int = DEFAULT_THREADS, **overrides) -> list[FitResult]:
    """Train runs `(lams[i], seeds[i])` on `dataset` together; return their FitResults in that order.

    Each result is what `single.fit(dataset, lams[i], seeds[i], config, on_divergence="mark")` returns, to
    float rounding: same initial weights, batches, losses, optimiser, clipping, checkpoints, metrics, history.
    A run whose loss becomes non-finite is marked failed (`status="failed"`, `error` says where) and the
    others go on. `config` and keyword `overrides` as in `single.fit`; only `encoder="mlp"` with a fixed
    temperature can be vectorised (else ValueError: use `single.fit`). Runs are trained in groups of at most
    `group_runs` (default `max_group_runs(config.batch_size)`, the memory guard); `time_s` of a run is its
    group's training time divided by the group size, plus its own measurement time. Trains on `threads` torch
    and BLAS threads (default one, whoever calls it) and restores the caller's settings afterwards.
    """
    with limited_threads(threads):
        return _fit_many(dataset, lams, seeds, config, keep_representations=keep_representations,
                         progress=progress, group_runs=group_runs, **overrides)


def _fit_many(dataset: PairedDataset, lams: Sequence[float], seeds: Sequence[int], config: TrainConfig | None,
              *, keep_representations: bool, progress: bool, group_runs: int | None,
              **overrides) -> list[FitResult]:
    config = resolve_config(config, overrides)
    check_vectorizable(config)
    lams, seeds = _check_runs(lams, seeds)
    check_run_args(dataset, seeds[0])
    group_runs = (max_group_runs(config.batch_size) if group_runs is None
                  else check_positive_int("group_runs", group_runs))
    data = _Data.from_dataset(dataset)
    n_groups = -(-len(lams) // group_runs)
    size = -(-len(lams) // n_groups)  # even groups: 75 runs by 64 make 38 + 37, not 64 + 11
    results: list[FitResult] = []
    for number, start in enumerate(range(0, len(lams), size)):
        started = time.perf_counter()
        group = _Group(data, lams[start : start + size], seeds[start : start + size], config)
        label = f"group {number + 1}/{n_groups} ({group.runs} runs)"
        group.train(progress=progress, label=label)
        results += group.results(keep_representations, (time.perf_counter() - started) / group.runs)
    return results
