"""The symmetric InfoNCE loss (reference and fused), schedules and the aligner's parameter checks."""

from __future__ import annotations

import math

import pytest
import torch

from alignbook.config import TrainConfig
from alignbook.models.alignment import ContrastiveAligner, info_nce, lam_schedule, symmetric_info_nce

pytestmark = pytest.mark.usefixtures("one_thread")


def _by_hand(p1, p2, temperature):
    """Symmetric InfoNCE written out with Python loops."""
    a = [[float(v) for v in row / row.norm()] for row in p1]
    b = [[float(v) for v in row / row.norm()] for row in p2]
    n = len(a)
    s = [[sum(x * y for x, y in zip(a[i], b[j], strict=True)) / temperature for j in range(n)]
         for i in range(n)]
    rows = sum(math.log(sum(math.exp(s[i][j]) for j in range(n))) - s[i][i] for i in range(n)) / n
    cols = sum(math.log(sum(math.exp(s[i][j]) for i in range(n))) - s[j][j] for j in range(n)) / n
    return 0.5 * (rows + cols)


@pytest.mark.parametrize("loss_fn", [info_nce, symmetric_info_nce])
def test_info_nce_matches_a_hand_computation(loss_fn):
    p1 = torch.tensor([[1.0, 2.0], [0.5, -1.0], [-2.0, 0.3]], dtype=torch.float64)
    p2 = torch.tensor([[0.8, 1.5], [1.0, 1.0], [-1.0, -0.4]], dtype=torch.float64)
    assert float(loss_fn(p1, p2, 0.5)) == pytest.approx(_by_hand(p1, p2, 0.5), abs=1e-12)


@pytest.mark.parametrize("loss_fn", [info_nce, symmetric_info_nce])
def test_info_nce_identities(loss_fn):
    generator = torch.Generator().manual_seed(0)
    p1 = torch.randn(16, 5, generator=generator, dtype=torch.float64)
    p2 = torch.randn(16, 5, generator=generator, dtype=torch.float64)
    # symmetric under swapping the modalities, invariant to the scale of each row
    assert float(loss_fn(p1, p2, 0.1)) == pytest.approx(float(loss_fn(p2, p1, 0.1)), abs=1e-12)
    assert float(loss_fn(3.0 * p1, 0.5 * p2, 0.1)) == pytest.approx(float(loss_fn(p1, p2, 0.1)), abs=1e-12)
    # every pair identical: all logits equal, the loss is exactly log(B)
    same = torch.ones(16, 5, dtype=torch.float64)
    assert float(loss_fn(same, same, 0.1)) == pytest.approx(math.log(16), abs=1e-12)
    # orthonormal, perfectly matched pairs: log(1 + (B - 1) exp(-1/T)), ~0 at low temperature
    eye = torch.eye(8, dtype=torch.float64)
    for temperature in (0.05, 0.5, 2.0):
        expected = math.log(1 + 7 * math.exp(-1 / temperature))
        assert float(loss_fn(eye, eye, temperature)) == pytest.approx(expected, rel=1e-10)
    assert float(loss_fn(eye, eye, 0.05)) < 1e-7


# 0.01 takes the per-row logsumexp path. In float32 the temperature's gradient is a sum of nearly cancelling
# terms at low temperature: autograd itself is then only good to ~1e-4 relative (measured against float64).
@pytest.mark.parametrize("temperature, t_tol", [(0.07, 1e-5), (0.5, 1e-5), (0.01, 1e-3)])
@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-10), (torch.float32, 1e-6)])
def test_fused_info_nce_equals_autograd_in_value_and_gradients(temperature, t_tol, dtype, tol):
    generator = torch.Generator().manual_seed(1)
    base = torch.randn(64, 12, generator=generator, dtype=dtype)
    inputs = [base + 0.5 * torch.randn(64, 12, generator=generator, dtype=dtype), base]
    results = []
    for loss_fn in (info_nce, symmetric_info_nce):
        p1, p2 = (x.clone().requires_grad_() for x in inputs)
        t = torch.tensor(temperature, dtype=dtype, requires_grad=True)
        loss = loss_fn(p1, p2, t)
        results.append((loss.detach(), *torch.autograd.grad(loss, (p1, p2, t))))
    (ref, *ref_grads), (fused, *fused_grads) = results
    assert abs(float(ref - fused)) <= tol * max(1.0, abs(float(ref)))
    for name, a, b in zip(("p1", "p2"), ref_grads, fused_grads, strict=False):
        assert float((a - b).abs().max()) <= tol * max(1.0, float(a.abs().max())), name
    t_ref, t_fused = float(ref_grads[2]), float(fused_grads[2])
    assert abs(t_ref - t_fused) <= max(tol, t_tol if dtype == torch.float32 else tol) * abs(t_ref)


def test_schedules_give_the_documented_lam_per_epoch():
    assert [lam_schedule(2.0, "constant", 3, e) for e in range(5)] == [2.0] * 5
    assert [lam_schedule(2.0, "warmup", 3, e) for e in range(5)] == [0.0, 0.0, 0.0, 2.0, 2.0]
    assert [lam_schedule(2.0, "linear", 4, e) for e in range(6)] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.0]
    assert [lam_schedule(2.0, "linear", 0, e) for e in range(2)] == [2.0, 2.0]
    aligner = ContrastiveAligner(1.0, TrainConfig(lam_schedule="warmup", schedule_epochs=1))
    assert [aligner.lam_at(e) for e in range(3)] == [0.0, 1.0, 1.0]


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), "1", True])
def test_bad_lam_is_rejected_naming_lam(bad):
    with pytest.raises(ValueError, match="lam"):
        ContrastiveAligner(bad)


def test_learnable_temperature_is_a_parameter_clamped_at_the_minimum():
    config = TrainConfig(learn_temperature=True, temperature=0.2, min_temperature=0.05)
    aligner = ContrastiveAligner(1.0, config)
    assert [name for name, _ in aligner.named_parameters()] == ["log_temperature"]
    assert float(aligner.temperature.detach()) == pytest.approx(0.2)
    p = torch.randn(8, 4)
    aligner(p, p + 0.1).backward()
    assert aligner.log_temperature.grad is not None and float(aligner.log_temperature.grad) != 0.0
    with torch.no_grad():
        aligner.log_temperature.fill_(math.log(0.001))
    assert float(aligner.temperature.detach()) == pytest.approx(0.05)
    fixed = ContrastiveAligner(1.0, TrainConfig(temperature=0.3))
    assert list(fixed.parameters()) == [] and fixed.temperature == 0.3
