"""The controllable contrastive module: `lam * L_align`, a symmetric InfoNCE between projected outputs.

Conventions shared with the vectorised trainer:

- `L_align = info_nce(p1, p2, T)`: rows of `p1`, `p2` are L2-normalised (`torch.nn.functional.normalize`,
  eps 1e-12), `logits = p1n @ p2n.T / T`, and `L_align = 0.5 * (CE(logits, arange(B)) + CE(logits.T,
  arange(B)))`, each cross-entropy a mean over the batch. Example i of modality 1 and example i of modality 2
  are the positive pair; every other example of the batch is a negative. The trainer computes it with the
  fused `symmetric_info_nce` (same value and gradients as `info_nce` to float32 rounding, ~1e-7 against a
  float64 reference; 1.6x faster fwd+bwd at B = 512 on CPU).
- `lam_at(epoch)` (epochs 0-based): "constant" gives `lam`; "warmup" gives 0 for the first `schedule_epochs`
  epochs and `lam` after; "linear" gives `lam * min(1, epoch / schedule_epochs)` (0 at epoch 0, `lam` from
  epoch `schedule_epochs` on). With `schedule_epochs = 0` every schedule is constant.
- Temperature: fixed at `config.temperature`, or (`config.learn_temperature`) learned as a log-temperature
  initialised at `log(config.temperature)`, used as `max(exp(log_t), config.min_temperature)`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from alignbook.checks import check_lam, fail
from alignbook.config import TrainConfig


def info_nce(p1: torch.Tensor, p2: torch.Tensor, temperature: float | torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE of paired rows `p1`, `p2` (B, d) at `temperature`, by plain autograd; a scalar.

    The reference definition: the fused implementations (`symmetric_info_nce` for the one-run trainer,
    `training.kernels.AlignmentStep` for the vectorised one) are tested against it.
    """
    p1n, p2n = F.normalize(p1, dim=-1), F.normalize(p2, dim=-1)
    logits = p1n @ p2n.T / temperature
    target = torch.arange(logits.shape[0], device=logits.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


# Below this temperature exp(logits - 1/T) may underflow (logits lie in [-1/T, 1/T]: exp(-2/T) < 1e-35)
_SHIFT_SAFE_TEMPERATURE = 1 / 40


class _SymmetricInfoNCE(torch.autograd.Function):
    """Fused symmetric InfoNCE on normalised rows `p1n`, `p2n`: fewer passes over the B x B logits.

    `loss = mean_i (lse_row_i + lse_col_i) / 2 - mean_i logits_ii`; the gradient with respect to the logits
    is `G = (softmax_rows + softmax_cols - 2I) / (2B)`. Because rows are unit vectors, logits lie in
    `[-1/T, 1/T]`, so one shared shift `1/T` makes `E = exp(logits - 1/T)` safe for `T >= 1/40`: one B x B
    exp serves both directions (row sums and column sums of `E`), and the backward forms `G` in one pass,
    `E_ij (1 / r_i + 1 / c_j) / (2B)` minus the diagonal term, then the two gradients `G @ p2n / T` and
    `G.T @ p1n / T` with one product each. Smaller temperatures take a per-row / per-column logsumexp path
    instead.
    """

    @staticmethod
    def forward(ctx, p1n, p2n, temperature):
        inv_t = 1.0 / temperature
        p1s = p1n * inv_t
        cosine = (p1n * p2n).sum(dim=1)  # of each positive pair
        shifted = bool(temperature >= _SHIFT_SAFE_TEMPERATURE)
        if shifted:
            exp_logits = torch.addmm(-inv_t.reshape(1, 1), p1s, p2n.T).exp_()  # exp(logits - 1/T)
            row_sums, col_sums = exp_logits.sum(dim=1), exp_logits.sum(dim=0)
            # per pair: (lse_row + lse_col) / 2 - logits_ii = (log r + log c) / 2 + (1 - cos) / T; the terms
            # are combined per row (all of order 1) before averaging, which keeps float32 rounding small
            per_pair = 0.5 * (row_sums.log() + col_sums.log()) + (1.0 - cosine) * inv_t
            ctx.save_for_backward(p1n, p2n, temperature, exp_logits, row_sums, col_sums)
        else:
            logits = p1s @ p2n.T
            lse_rows, lse_cols = torch.logsumexp(logits, dim=1), torch.logsumexp(logits, dim=0)
            per_pair = 0.5 * ((lse_rows - logits.diagonal()) + (lse_cols - logits.diagonal()))
            ctx.save_for_backward(p1n, p2n, temperature, logits, lse_rows, lse_cols)
        ctx.shifted = shifted
        return per_pair.mean()

    @staticmethod
    def backward(ctx, grad_loss):
        p1n, p2n, temperature, saved, rows, cols = ctx.saved_tensors
        batch = p1n.shape[0]
        scale = grad_loss / (2 * batch)
        if ctx.shifted:  # G = E * (1 / r_i + 1 / c_j) / (2B) - 2I / (2B): one pass over E, shift-invariant
            grad_logits = saved * ((scale / rows)[:, None] + (scale / cols)[None, :])
        else:
            logits = saved
            grad_logits = torch.exp(logits - rows[:, None]).add_(torch.exp(logits - cols[None, :]))
            grad_logits *= scale
        grad_logits.diagonal().sub_(2 * scale)
        inv_t = 1.0 / temperature
        # G @ p2n and G.T @ p1n, the latter as (p1n.T @ G).T, which avoids a transposed B x B read
        grad_p1n = (grad_logits @ p2n) * inv_t if ctx.needs_input_grad[0] else None
        grad_p2n = (p1n.T @ grad_logits).T * inv_t if ctx.needs_input_grad[1] else None
        grad_temperature = None
        if ctx.needs_input_grad[2]:
            grad_temperature = _temperature_grad(ctx.shifted, p1n, p2n, saved, rows, cols, inv_t, scale)
        return grad_p1n, grad_p2n, grad_temperature


def _temperature_grad(shifted, p1n, p2n, saved, rows, cols, inv_t, scale):
    """dL/dT for logits = S / T (S the cosines), only needed when the temperature is learned.

    `-sum(G * S) / T^2` cancels badly at low temperature (softmax rows approach the identity), so it is
    computed in the equivalent form `-(sum_ij P_ij (S_ij - S_ii) + Q_ij (S_ij - S_jj)) / (2B T^2)`, P and Q
    the row and column softmaxes: the differences are small exactly where the terms nearly cancel.
    """
    cosines = p1n @ p2n.T
    positives = cosines.diagonal()
    if shifted:
        p_rows, p_cols = saved / rows[:, None], saved / cols[None, :]
    else:
        p_rows, p_cols = torch.exp(saved - rows[:, None]), torch.exp(saved - cols[None, :])
    weighted = ((p_rows * (cosines - positives[:, None])).sum()
                + (p_cols * (cosines - positives[None, :])).sum())
    return -scale * weighted * inv_t * inv_t


def symmetric_info_nce(p1: torch.Tensor, p2: torch.Tensor, temperature: float | torch.Tensor) -> torch.Tensor:
    """The one-run trainer's InfoNCE: `info_nce`'s value and gradients (to float rounding, also with respect
    to a learned `temperature` tensor) with a hand-written backward, kept for speed (1.6x at B = 512) and
    guarded by an equality test against `info_nce`. Returns a scalar."""
    p1n, p2n = F.normalize(p1, dim=-1), F.normalize(p2, dim=-1)
    if not torch.is_tensor(temperature):
        temperature = torch.tensor(float(temperature), dtype=p1n.dtype, device=p1n.device)
    return _SymmetricInfoNCE.apply(p1n, p2n, temperature)


def lam_schedule(lam: float, schedule: str, schedule_epochs: int, epoch: int) -> float:
    """Alignment strength (a float) at `epoch` (0-based) under `schedule` for a run with `lam`, as the
    module doc defines: "constant", "warmup" (0 for `schedule_epochs`, then `lam`) or "linear"."""
    if schedule == "constant" or schedule_epochs == 0:
        return lam
    if schedule == "warmup":
        return 0.0 if epoch < schedule_epochs else lam
    if schedule == "linear":
        return lam * min(1.0, epoch / schedule_epochs)
    fail("lam_schedule", f"must be constant, warmup or linear, got {schedule!r}")


class ContrastiveAligner(nn.Module):
    """`lam`-weighted symmetric InfoNCE with a fixed or learnable temperature and a schedule over epochs.

    `aligner(p1, p2)` returns the unweighted `L_align`; the trainer multiplies it by `lam_at(epoch)` and skips
    computing it whenever that weight is 0. It uses `symmetric_info_nce`, which is faster than autograd and
    equal to `info_nce` to float rounding.
    """

    def __init__(self, lam: float, config: TrainConfig | None = None):
        super().__init__()
        config = config or TrainConfig()
        self.lam = check_lam("lam", lam)
        self.schedule = config.lam_schedule
        self.schedule_epochs = config.schedule_epochs
        self.min_temperature = config.min_temperature
        self.learn_temperature = config.learn_temperature
        if config.learn_temperature:
            self.log_temperature = nn.Parameter(torch.tensor(math.log(config.temperature)))
        else:
            self.register_buffer("log_temperature", torch.tensor(math.log(config.temperature)))
            self._fixed_temperature = float(config.temperature)

    @property
    def temperature(self) -> torch.Tensor | float:
        """The temperature in use: a float when fixed, a clamped tensor (with gradient) when learned."""
        if not self.learn_temperature:
            return self._fixed_temperature
        return torch.exp(self.log_temperature).clamp(min=self.min_temperature)

    def lam_at(self, epoch: int) -> float:
        """The alignment weight at `epoch` (0-based) under the configured schedule."""
        return lam_schedule(self.lam, self.schedule, self.schedule_epochs, epoch)

    def forward(self, p1: torch.Tensor, p2: torch.Tensor) -> torch.Tensor:
        """The unweighted `L_align` of projections `p1`, `p2` (B, proj_dim) at the current temperature."""
        return symmetric_info_nce(p1, p2, self.temperature)
