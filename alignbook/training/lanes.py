"""Many runs' MLP branches stacked on a leading lane axis: the layout, data and evaluation of `vectorized`.

A lane is one branch of one run (lane = 2 * run + modality - 1 within a group). `Layout` says where each
weight and bias of a branch sits in flat per-lane buffers, and names them as `models.build_branch` does
(`lane_weights`); `LaneData` holds the runs' datasets as tensors, each dataset once however many runs
share it; `forward` runs stacked MLPs with one batched product per layer; `evaluate` scores lanes on a split.

Every computation here is independent per lane, so that a run's numbers do not depend on the runs beside it:
evaluation works through fixed blocks of `EVAL_LANES` lanes and fixed chunks of rows (neither depends on how
many lanes there are), and per-lane sums reduce each lane's own row. MKL's batched products give each matrix
the same bits whatever the batch count (the tests check it for the trainer's shapes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from alignbook.config import TrainConfig
from alignbook.data.container import PairedDataset
from alignbook.models.branch import Branch, projection_dims
from alignbook.training.common import as_target, count_correct, out_dim

# Evaluation works through this many lanes at a time, in chunks of rows whose activations take about
# EVAL_BYTES: chunks that stay in cache (a validation pass of 72 runs took 0.40 s with 4 MB chunks, 0.68 s
# with 64 MB). Both are fixed, whatever the number of lanes, so a lane's scores do not depend on the others.
EVAL_LANES = 16
EVAL_BYTES = 4 << 20
SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class Slot:
    """One parameter of a branch inside a flat per-lane buffer: columns `start:start + rows * cols`."""

    start: int
    rows: int
    cols: int

    @property
    def size(self) -> int:
        return self.rows * self.cols


def _slots(dims: list[tuple[int, int]]) -> tuple[list[tuple[Slot, Slot]], int]:
    slots, offset = [], 0
    for fan_in, fan_out in dims:
        weight, bias = Slot(offset, fan_out, fan_in), Slot(offset + fan_in * fan_out, fan_out, 1)
        slots.append((weight, bias))
        offset += weight.size + bias.size
    return slots, offset


def lanes_of(rows: np.ndarray) -> np.ndarray:
    """The lanes `2r, 2r + 1` of each r in `rows`, in order: a run's two branches, or a dataset's two
    modalities (its rows of `LaneData.x`)."""
    return (2 * np.asarray(rows, dtype=np.int64)[:, None] + np.arange(2)).reshape(-1)


def body_modules(branch: Branch) -> list[tuple[str, nn.Linear]]:
    """(state name prefix, layer) of each linear layer of an MLP branch's body, in `Layout.body` order:
    the encoder's layers first to last, then the task head."""
    names = {id(module): name for name, module in branch.named_modules()}
    layers = [*branch.encoder.hidden, branch.encoder.out, branch.head]
    return [(names[id(layer)], layer) for layer in layers]


class Layout:
    """Where each weight (`(out, in)` as in nn.Linear) and bias (`(out, 1)`) sits in the flat buffers.

    Body: every encoder layer then the task head; projection: its layers (`projection_dims`, none for
    `projection="none"`). The first layer has `in_dim = max(in_dim1, in_dim2)` columns; the narrower
    modality's extra columns are zero and stay zero (its inputs are zero-padded, so they get zero gradient and
    AdamW keeps them at 0): padding is exact.
    """

    def __init__(self, in_dim: int, config: TrainConfig, out_dim: int):
        dims = [in_dim] + [config.width] * config.depth + [config.repr_dim, out_dim]
        self.body, self.body_size = _slots(list(zip(dims[:-1], dims[1:], strict=True)))
        self.projection, self.projection_size = _slots(projection_dims(config))

    def fill(self, flat: torch.Tensor, lane: int, branch: Branch) -> None:
        """Write `branch`'s body into row `lane` of `flat` (zero-padding the first layer's inputs)."""
        for (w_slot, b_slot), (_, module) in zip(self.body, body_modules(branch), strict=True):
            _fill(flat, lane, w_slot, b_slot, module)

    def fill_projection(self, flat: torch.Tensor, lane: int, branch: Branch) -> None:
        """Write `branch`'s projection head into row `lane` of `flat`."""
        linear = [layer for layer in branch.projection if isinstance(layer, nn.Linear)]
        for (w_slot, b_slot), module in zip(self.projection, linear, strict=True):
            _fill(flat, lane, w_slot, b_slot, module)

    def lane_weights(self, row: torch.Tensor, names: list[str], in_dim: int) -> dict[str, np.ndarray]:
        """A flat body row as stored weights: `names` (`body_modules`' prefixes) with `.weight` / `.bias`,
        float32 arrays shaped as in the branch, the first layer unpadded to `in_dim` inputs."""
        weights = {}
        for i, ((w_slot, b_slot), name) in enumerate(zip(self.body, names, strict=True)):
            weight = row[w_slot.start : w_slot.start + w_slot.size].view(w_slot.rows, w_slot.cols)
            weights[f"{name}.weight"] = (weight[:, :in_dim] if i == 0 else weight).numpy().copy()
            weights[f"{name}.bias"] = row[b_slot.start : b_slot.start + b_slot.size].numpy().copy()
        return weights


def _fill(flat: torch.Tensor, lane: int, w_slot: Slot, b_slot: Slot, module: nn.Linear) -> None:
    weight = F.pad(module.weight.detach(), (0, w_slot.cols - module.weight.shape[1]))
    flat[lane, w_slot.start : w_slot.start + w_slot.size] = weight.reshape(-1)
    flat[lane, b_slot.start : b_slot.start + b_slot.size] = module.bias.detach()


def views(flat: torch.Tensor, slots: list[tuple[Slot, Slot]]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(weight (L, out, in), bias (L, out, 1)) views into a flat (L, P) buffer."""
    lanes = flat.shape[0]
    return [(flat[:, w.start : w.start + w.size].view(lanes, w.rows, w.cols),
             flat[:, b.start : b.start + b.size].view(lanes, b.rows, 1)) for w, b in slots]


@dataclass(frozen=True)
class LaneData:
    """The datasets of a group's runs as tensors, each distinct dataset once.

    `x[split]` is `(2D, n, in_dim)` for D distinct datasets: dataset d's modality m at row `2d + m - 1`, both
    modalities zero-padded to `in_dim` columns; `y[split]` is `(D, n)`; `source[r]` is run r's dataset d.
    """

    x: dict[str, torch.Tensor]
    y: dict[str, torch.Tensor]
    source: np.ndarray
    task: str
    out_dim: int
    in_dim: int
    in_dims: tuple[int, int]
    input_shapes: tuple[tuple[int, ...], tuple[int, ...]]

    @classmethod
    def from_datasets(cls, datasets: list[PairedDataset]) -> LaneData:
        """One dataset per run (the same object for runs that share it: stored once); shapes, task, classes
        and split sizes already checked equal."""
        distinct: dict[int, int] = {}
        for dataset in datasets:
            distinct.setdefault(id(dataset), len(distinct))
        unique = list({id(dataset): dataset for dataset in datasets}.values())
        first = unique[0]
        in_dims = tuple(math.prod(shape) if len(shape) else 1 for shape in first.input_shapes)
        in_dim = max(in_dims)

        def stacked(split_name: str) -> torch.Tensor:
            rows = []
            for dataset in unique:
                split = dataset.splits[split_name]
                for array, width in ((split.x1, in_dims[0]), (split.x2, in_dims[1])):
                    x = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
                    rows.append(F.pad(x.reshape(len(split), width), (0, in_dim - width)))
            return torch.stack(rows)

        x = {name: stacked(name) for name in SPLITS}
        y = {name: torch.stack([as_target(d.splits[name].y, first.task) for d in unique]) for name in SPLITS}
        return cls(x, y, np.array([distinct[id(d)] for d in datasets]), first.task, out_dim(first), in_dim,
                   in_dims, first.input_shapes)


def forward(layer_views, x: torch.Tensor, hidden: int, out: list | None = None) -> list[torch.Tensor]:
    """Every layer's output of stacked MLPs whose first `hidden` layers are followed by a ReLU.

    Activations are stored by column, `(lanes, features, n)`: `W @ h` with n as the long side is about twice
    as fast as `h @ W.T` for 12-wide layers, forward and backward. `out`: a buffer per layer to write into.
    """
    outputs, h = [], x
    for i, (weight, bias) in enumerate(layer_views):
        h = torch.baddbmm(bias, weight, h, out=None if out is None else out[i])
        if i < hidden:
            h = h.relu_()  # in place is safe: the backward is written by hand and reads only the output
        outputs.append(h)
    return outputs


def task_loss_sums(output: torch.Tensor, y: torch.Tensor, task: str) -> torch.Tensor:
    """(lanes,) summed task loss of each lane's output (lanes, out, n) against its targets y (lanes, n)."""
    if task == "classification":
        return F.cross_entropy(output, y, reduction="none").sum(dim=1)
    return (output[:, 0] - y).abs().sum(dim=1)


@torch.no_grad()
def evaluate(flat: torch.Tensor, layout: Layout, data: LaneData, split: str, sources: np.ndarray,
             config: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy and mean task loss of the lanes of a flat body buffer `flat` (L, P) on `split`, as
    `common.evaluate` scores one branch; `sources[l]` is lane l's row of `data.x[split]` (`2d + m - 1`)."""
    x_all, y_all = data.x[split], data.y[split]
    n, lanes = y_all.shape[1], flat.shape[0]
    widest = max(data.in_dim, config.width, config.repr_dim, data.out_dim)
    rows = max(1, EVAL_BYTES // (4 * EVAL_LANES * widest * 3))
    correct = torch.zeros(lanes, dtype=torch.int64)
    counted = torch.zeros(lanes, dtype=torch.int64)
    loss_sum = torch.zeros(lanes, dtype=torch.float64)
    for first in range(0, lanes, EVAL_LANES):
        block = slice(first, min(first + EVAL_LANES, lanes))
        weights = [(w.contiguous(), b) for w, b in views(flat[block], layout.body)]
        source = torch.from_numpy(sources[block])
        for start in range(0, n, rows):
            x = x_all[source, start : start + rows]
            y = y_all[source // 2, start : start + rows]
            output = forward(weights, x.transpose(1, 2), config.depth)[-1]
            loss_sum[block] += task_loss_sums(output, y, data.task).double()
            c, k = count_correct(output, y, data.task)
            correct[block] += c
            counted[block] += k
    with np.errstate(invalid="ignore"):
        accuracy = correct.double().numpy() / counted.numpy()
    return accuracy, loss_sum.numpy() / max(n, 1)
