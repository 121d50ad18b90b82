"""The hand-written kernels give a run the same bits wherever it sits among the runs they hold."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alignbook.training.kernels import AlignmentStep, LaneAdamW

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("batch, temperature", [(53, 0.1), (256, 0.1), (27, 0.01)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_info_nce_of_a_run_is_the_same_alone_and_among_others(batch, temperature, threads, seed):
    """B x B logits that are no whole number of exp2's vector blocks (53 x 53 = 2809, 25 more than a
    multiple of 32) would give the last run of a chunk the scalar path's rounding; the kernel's blocks keep
    every run on the vector path, also when torch shares the exp2 out among threads. The small temperature
    takes the shifted path."""
    torch.set_num_threads(threads)  # the one_thread fixture restores the setting
    generator = torch.Generator().manual_seed(1000 * seed + batch)
    pair = torch.randn(2, 16, batch, generator=generator)
    results = []
    # the last case's logits exceed torch's grain size: with 3 threads, a thread's share ends inside run 5
    cases = ((1, 0, None), (5, 0, None), (5, 4, None), (5, 2, 2), (9, 8, 4), (17, 5, 16))
    for runs, position, chunk in cases:
        lanes = torch.randn(2 * runs, 16, batch, generator=generator)
        lanes[2 * position : 2 * position + 2] = pair
        step = AlignmentStep(runs, 16, batch, temperature, chunk=chunk)
        weights = torch.rand(runs, generator=generator)
        weights[position] = 0.75
        loss = step(lanes, weights)
        results.append((loss[position].clone(), step.grad[2 * position : 2 * position + 2].clone()))
    for loss, grad in results[1:]:
        assert torch.equal(loss, results[0][0]) and torch.equal(grad, results[0][1])


@pytest.mark.parametrize("runs", [1, 3])
def test_info_nce_is_the_same_on_any_number_of_threads(runs):
    """Also where the gradients' products write into strided lanes, which MKL rounds differently on three
    threads or more (the kernel multiplies into contiguous buffers and copies)."""
    generator = torch.Generator().manual_seed(runs)
    lanes = torch.randn(2 * runs, 16, 27, generator=generator)
    weights = torch.rand(runs, generator=generator)
    results = []
    for threads in (1, 2, 3, 4):
        torch.set_num_threads(threads)  # the one_thread fixture restores the setting
        step = AlignmentStep(runs, 16, 27, 0.1)
        results.append((step(lanes, weights).clone(), step.grad[: 2 * runs].clone()))
    for loss, grad in results[1:]:
        assert torch.equal(loss, results[0][0]) and torch.equal(grad, results[0][1])


def test_adamw_lanes_kept_after_compaction_step_as_before():
    generator = torch.Generator().manual_seed(0)
    params = torch.randn(6, 40, generator=generator)
    grads = [torch.randn(6, 40, generator=generator) for _ in range(4)]
    whole, kept = params.clone(), None
    optimizer, compacted = LaneAdamW(6, 40, 1e-2, 1e-4), LaneAdamW(6, 40, 1e-2, 1e-4)
    for step, grad in enumerate(grads):
        optimizer.step(whole, grad)
        if step < 2:
            compacted.step(params, grad)
        else:  # lanes 1, 4 and 5 only, moved to the front after the second step
            if kept is None:
                lanes = torch.tensor([1, 4, 5])
                compacted.keep(lanes)
                kept = params[lanes]
            compacted.step(kept, grad[torch.tensor([1, 4, 5])])
    assert torch.equal(kept, whole[torch.tensor([1, 4, 5])])
    assert list(compacted.counts[:3]) == [4, 4, 4]


def test_adamw_steps_a_prefix_and_leaves_the_rest_untouched():
    params = torch.ones(4, 3)
    optimizer = LaneAdamW(4, 3, 0.1, 0.5)
    optimizer.step(params[:2], torch.full((2, 3), 2.0))
    assert torch.equal(params[2:], torch.ones(2, 3)) and not torch.equal(params[:2], torch.ones(2, 3))
    assert list(optimizer.counts) == [1, 1, 0, 0]
    with pytest.raises(RuntimeError, match="same number of steps"):
        optimizer.step(params[:3], torch.ones(3, 3))
    reference = torch.nn.Parameter(torch.ones(3))
    torch_adamw = torch.optim.AdamW([reference], lr=0.1, weight_decay=0.5, foreach=False)
    reference.grad = torch.full((3,), 2.0)
    torch_adamw.step()
    assert torch.equal(params[0], reference.detach())  # torch's arithmetic, bit for bit
    assert np.all(optimizer.exp_avg[2:].numpy() == 0)
