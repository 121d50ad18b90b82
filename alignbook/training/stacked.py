"""The hand-written training step of many runs' MLP branches at once: the engine of `vectorized.fit_many`.

`StackedRuns` holds the parameters and AdamW states of G runs stacked on a leading lane axis (lane
`2r + m - 1` is run r's branch m, `alignbook.training.lanes`) and takes one optimisation step of all of them
at once, each exactly as `single.fit` takes it (losses, gradients, clipping per branch, AdamW), to float
rounding. `keep` drops runs (the trainer's compaction of stopped runs).

Where the time goes and what is done about it:

- Runs are sorted by decreasing lam: every schedule switches the alignment term on for all lam > 0 at once,
  so the runs with `lam_t > 0` are the first A and their lanes the first 2A, handled as plain slices (no
  gathers).
- A step is a hand-written forward and backward (`step`), no autograd: every layer of every lane is one
  `torch.baddbmm` forward and two `torch.bmm` backward, into buffers allocated once (and again after each
  compaction: fresh memory costs page faults, which are expensive on small VMs).
- Parameters of all lanes live in two flat `(2G, P)` buffers (the body: encoder and task head; the
  projection head); layers are views of them, so AdamW and clipping are a dozen whole-buffer operations per
  step whatever G is. The batched products read and write contiguous per-layer copies of the weights and
  weight gradients instead: a product with an operand whose lanes lie P floats apart loops over the lanes
  in torch, up to 2x slower; the copies cost a few per cent of that. The projection head has its own
  buffer because it only gets a gradient, and an AdamW step, when the alignment term is computed
  (`single.fit` leaves it untouched when `lam_t = 0`).
- The symmetric InfoNCE and AdamW are hand-written kernels (`alignbook.training.kernels`): the InfoNCE is
  about 40 % of a step; the batched matrix products of the layers are most of the rest.

Every operation is per lane: batched products give each matrix the same bits whatever the batch count,
reductions run along one lane's own row, and the InfoNCE's exp2 works in whole vector blocks (`kernels`),
so a run's step does not depend on the runs stacked beside it.
"""

from __future__ import annotations

import numpy as np
import torch

from alignbook.checks import fail
from alignbook.config import TrainConfig
from alignbook.models.branch import build_branch
from alignbook.training.kernels import AlignmentStep, LaneAdamW
from alignbook.training.lanes import LaneData, Layout, body_modules, forward, lanes_of, views
from alignbook.training.seeding import branch_seed


def _relu_backward(grad: torch.Tensor, output: torch.Tensor) -> None:
    """In place: zero `grad` where the ReLU's output is 0 (autograd's threshold_backward, no new memory)."""
    torch.ops.aten.threshold_backward.grad_input(grad, output, 0, grad_input=grad)


class StackedRuns:
    """The parameters, AdamW states and step buffers of runs `(lams[r], seeds[r])` trained together.

    `lams` must be sorted in decreasing order; `sources[r]` is run r's dataset in `data`. `body` holds each
    lane's encoder and task head (`layout.body`), `projection` its projection head; `names` are the state
    names of the body's layers (`lanes.body_modules`).
    """

    def __init__(self, data: LaneData, layout: Layout, lams: list[float], seeds: list[int],
                 sources: np.ndarray, config: TrainConfig):
        if any(a < b for a, b in zip(lams, lams[1:], strict=False)):
            fail("lams", "must be sorted in decreasing order", "the step slices the runs with alignment on")
        self.data, self.layout, self.config = data, layout, config
        self.lams, self.sources = list(lams), np.asarray(sources)
        runs = len(lams)
        self.body = torch.zeros(2 * runs, layout.body_size)
        self.projection = torch.zeros(2 * runs, layout.projection_size)
        for run, seed in enumerate(seeds):
            for modality in (1, 2):
                branch = build_branch(config, data.input_shapes[modality - 1], data.out_dim,
                                      branch_seed(seed, modality))
                layout.fill(self.body, 2 * run + modality - 1, branch)
                layout.fill_projection(self.projection, 2 * run + modality - 1, branch)
        self.names = [name for name, _ in body_modules(branch)]
        self.body_opt = LaneAdamW(2 * runs, layout.body_size, config.lr, config.weight_decay)
        self.projection_opt = LaneAdamW(2 * runs, layout.projection_size, config.lr, config.weight_decay)
        self.n_train = data.y["train"].shape[1]
        self.batch = min(config.batch_size, self.n_train)
        self.x_flat = data.x["train"].reshape(-1, data.in_dim)  # row (2d + m - 1) * n + i
        self.y_flat = data.y["train"].repeat_interleave(2, dim=0).reshape(-1)  # the same rows
        self._allocate()

    @property
    def runs(self) -> int:
        return len(self.lams)

    @property
    def lanes(self) -> int:
        return 2 * self.runs

    def lane_sources(self, runs: np.ndarray) -> np.ndarray:
        """Each lane's row of the data (`2d + m - 1`), for the lanes of `runs` in lane order."""
        return lanes_of(self.sources[runs])

    def keep(self, runs: np.ndarray) -> None:
        """Drop every run but `runs` (increasing positions): parameters, optimiser states, buffers."""
        lanes = torch.from_numpy(lanes_of(runs))
        self.body, self.projection = self.body[lanes], self.projection[lanes]
        self.body_opt.keep(lanes)
        self.projection_opt.keep(lanes)
        self.lams, self.sources = [self.lams[run] for run in runs], self.sources[runs]
        self._allocate()

    def _allocate(self) -> None:
        """Views and work buffers for the current runs (after construction and after each `keep`)."""
        config, layout, lanes, batch = self.config, self.layout, self.lanes, self.batch
        self.body_views = views(self.body, layout.body)
        self.projection_views = views(self.projection, layout.projection)
        self.body_grad = torch.zeros_like(self.body)
        self.projection_grad = torch.zeros_like(self.projection)
        self.body_grad_views = views(self.body_grad, layout.body)
        self.projection_grad_views = views(self.projection_grad, layout.projection)
        # contiguous copies of every weight and weight gradient for the batched products (module docstring)
        self.body_weights = [(w.clone(), b) for w, b in self.body_views]
        self.projection_weights = [(w.clone(), b) for w, b in self.projection_views]
        self.body_weight_grads = [torch.empty_like(w) for w, _ in self.body_views]
        self.projection_weight_grads = [torch.empty_like(w) for w, _ in self.projection_views]
        offsets = self.lane_sources(np.arange(self.runs)) * self.n_train
        self.lane_offsets = torch.from_numpy(offsets).view(self.runs, 2, 1)
        self.align = None
        aligned_dim = config.proj_dim if layout.projection else config.repr_dim  # "none": z enters the loss
        if any(lam > 0 for lam in self.lams):
            self.align = AlignmentStep(self.runs, aligned_dim, batch, config.temperature)
        self.lane_index = torch.empty(self.runs, 2, batch, dtype=torch.int64)
        self.x = torch.empty(lanes * batch, self.data.in_dim)
        self.y = torch.empty(lanes * batch, dtype=self.y_flat.dtype)
        self.acts = [torch.empty(lanes, w.rows, batch) for w, _ in layout.body]  # hidden..., z, output
        self.d_hidden = [torch.empty(lanes, config.width, batch) for _ in range(2)]
        self.d_z = torch.empty(lanes, config.repr_dim, batch)
        self.d_out = torch.empty(lanes, self.data.out_dim, batch)
        self.log_probs = torch.empty(lanes, self.data.out_dim, batch)
        self.minus_ones = torch.full((lanes, 1, batch), -1.0)
        # each projection layer's output, and the gradient into each layer's input but the first's (z's)
        self.proj_acts = [torch.empty(lanes, w.rows, batch) for w, _ in layout.projection]
        self.d_proj = [torch.empty(lanes, w.cols, batch) for w, _ in layout.projection[1:]]
        self.squares = torch.empty(lanes, 1, 1)
        self.squares_projection = torch.empty(lanes, 1, 1)

    def step(self, index: torch.Tensor, lam_t: np.ndarray) -> torch.Tensor:
        """One step of every run r on its batch `index[r]` at alignment weight `lam_t[r]`; returns the
        (4, runs) losses: task1, task2, align (0 if off), total."""
        config, runs, lanes, batch = self.config, self.runs, self.lanes, self.batch
        active = int(np.count_nonzero(lam_t > 0))
        if not (lam_t[:active] > 0).all():  # runs are sorted by lam and schedules scale lam: cannot happen
            raise RuntimeError("runs with lam_t > 0 must come first in a group")
        n = 2 * active  # lanes with the alignment term
        # gather: lane (run, modality) gets rows (2d + m - 1) * n_train + index[run]
        torch.add(index[:, None, :], self.lane_offsets, out=self.lane_index)
        flat_index = self.lane_index.view(-1)
        x = torch.index_select(self.x_flat, 0, flat_index, out=self.x).view(lanes, batch, -1)
        y = torch.index_select(self.y_flat, 0, flat_index, out=self.y).view(lanes, 1, batch)
        # forward of the bodies: encoder layers (ReLU after the hidden ones), z, task head
        z, output = forward(self.body_weights, x.transpose(1, 2), config.depth, self.acts)[-2:]
        task = self._task_loss(output, y)  # (lanes,), and d task / d output in self.d_out
        task_pairs = task.view(runs, 2)
        align = torch.zeros(runs)
        totals = task_pairs[:, 0] + task_pairs[:, 1]  # per run, as single.fit sums them
        if n:  # projection heads and InfoNCE of the first `active` runs
            proj_views, last = self.projection_weights, len(self.projection_weights) - 1
            p = z[:n]
            inputs = []
            for i, (weight, bias) in enumerate(proj_views):
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
                    d_p = torch.bmm(proj_views[i][0][:n].transpose(1, 2), d_p, out=self.d_proj[i - 1][:n])
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
                if n and proj_views:  # plus the first projection layer's backward, fused
                    d_next[:n].baddbmm_(proj_views[0][0][:n].transpose(1, 2), d_p)
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
        self.body_opt.step(self.body, self.body_grad)
        if n and projection_grad.shape[1]:
            projection_grad.mul_(clip[:n])
            self.projection_opt.step(self.projection[:n], projection_grad)
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
