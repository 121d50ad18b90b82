"""Per-lane computations do not depend on the other lanes: MKL's batched products give each matrix the same
bits whatever the batch count (from two matrices on; at one or two threads also for one), and a lane's
validation scores are the same in any block of lanes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alignbook.config import TrainConfig
from alignbook.training.lanes import EVAL_LANES, LaneData, Layout, evaluate

pytestmark = pytest.mark.usefixtures("one_thread")

# (rows, inner, columns) of the trainer's products at the synthetic study's sizes: layers forward (W @ h) and
# backward (d @ h.T, W.T @ d) at batch 256 and at odd batches, validation chunks, the InfoNCE's B x B logits
# and its gradient products.
SHAPES = [(32, 24, 256), (32, 32, 256), (4, 32, 256), (32, 256, 24), (32, 4, 256), (32, 32, 50),
          (12, 12, 300), (32, 32, 682), (256, 32, 256), (32, 256, 256), (50, 32, 50), (27, 16, 27)]


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("rows, inner, cols", SHAPES)
def test_batched_products_give_each_matrix_the_same_bits_whatever_the_batch_count(rows, inner, cols, threads):
    """On three threads or more a batch of one matrix may round differently (for (27, 16, 27) and
    (32, 256, 24) here): the InfoNCE kernel never multiplies fewer than two runs, and lanes come in pairs."""
    generator = torch.Generator().manual_seed(rows * inner + cols)
    a, b = torch.randn(rows, inner, generator=generator), torch.randn(inner, cols, generator=generator)
    bias = torch.randn(rows, 1, generator=generator)
    torch.set_num_threads(threads)  # the one_thread fixture restores the setting
    reference = None
    for count in (1, 2, 7, 33) if threads < 3 else (2, 7, 33):
        for position in sorted({0, count // 2, count - 1}):
            stack_a = torch.randn(count, rows, inner, generator=generator)
            stack_b = torch.randn(count, inner, cols, generator=generator)
            stack_bias = torch.randn(count, rows, 1, generator=generator)
            stack_a[position], stack_b[position], stack_bias[position] = a, b, bias
            products = (torch.bmm(stack_a, stack_b)[position],
                        torch.baddbmm(stack_bias, stack_a, stack_b)[position],
                        # transposed operands, as the backward reads them
                        torch.bmm(stack_a.transpose(1, 2).contiguous().transpose(1, 2), stack_b)[position])
            if reference is None:
                reference = products
            assert all(torch.equal(p, r) for p, r in zip(products, reference, strict=True)), (count, position)


def test_per_lane_dot_products_of_clipping_are_batch_independent_from_two_lanes():
    """Clipping squares each lane's gradient with a (1 x P) by (P x 1) batched product. Lanes come in pairs
    (both branches of a run), so the batch count is at least 2, where every count gives the same bits."""
    generator = torch.Generator().manual_seed(0)
    row = torch.randn(2890, generator=generator)
    values = []
    for count in (2, 3, 16, 40):
        rows = torch.randn(count, 2890, generator=generator)
        rows[count - 1] = row
        values.append(torch.bmm(rows[:, None, :], rows[:, :, None])[count - 1].item())
    assert len(set(values)) == 1


def _data(n: int = 700, seed: int = 0, regression: bool = False):
    from alignbook.data import PairedDataset, PairedSplit

    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=(n, 7)).astype(np.float32), rng.normal(size=(n, 3)).astype(np.float32)
    y = (x1[:, 0] + x2[:, 1]).astype(np.float32) if regression else (x1[:, 0] > 0) + 2 * (x2[:, 0] > 0)
    splits = [PairedSplit(x1[s], x2[s], y[s]) for s in (slice(0, 300), slice(300, 500), slice(500, n))]
    return PairedDataset(*splits, task="regression" if regression else "classification")


@pytest.mark.parametrize("regression", [False, True])
def test_a_lanes_scores_do_not_depend_on_the_lanes_beside_it_and_equal_one_branchs(regression):
    from alignbook.models.branch import build_branch
    from alignbook.training.common import evaluate as evaluate_branch

    config = TrainConfig(width=16, repr_dim=8)
    datasets = [_data(seed=s, regression=regression) for s in range(3)]
    data = LaneData.from_datasets(datasets)
    layout = Layout(data.in_dim, config, data.out_dim)
    lanes = 2 * EVAL_LANES + 5  # three blocks of lanes, the last one partial
    flat = torch.zeros(lanes, layout.body_size)
    branches = []
    for lane in range(lanes):
        modality = lane % 2 + 1
        branches.append(build_branch(config, data.input_shapes[modality - 1], data.out_dim, seed=lane))
        layout.fill(flat, lane, branches[-1])
    sources = np.array([2 * (lane % 3) + lane % 2 for lane in range(lanes)])  # dataset lane % 3
    accuracy, loss = evaluate(flat, layout, data, "valid", sources, config)
    for lane in (0, EVAL_LANES + 3, lanes - 1):
        alone = evaluate(flat[lane : lane + 1], layout, data, "valid", sources[lane : lane + 1], config)
        assert (alone[0][0], alone[1][0]) == (accuracy[lane], loss[lane])  # bit for bit
        split = datasets[lane % 3].valid
        one = evaluate_branch(branches[lane], split.x2 if lane % 2 else split.x1, split.y, data.task)
        assert accuracy[lane] == one[0] and loss[lane] == pytest.approx(one[1], rel=1e-6)
