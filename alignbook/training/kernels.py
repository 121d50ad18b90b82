"""Hand-written kernels of the vectorised trainer: the batched symmetric InfoNCE and AdamW on flat buffers.

Both exist for speed only and reproduce library arithmetic: `AlignmentStep` (the `InfoNCEKernel` plus the
backward of the L2 normalisation) equals the reference `alignbook.models.alignment.info_nce` to float
rounding in values and gradients, and `LaneAdamW` performs torch's single-tensor AdamW operations in the
same order, so equal gradients give bit-for-bit equal parameters. Tests guard both equalities.

The one-run trainer keeps its own fused InfoNCE (`models.alignment.symmetric_info_nce`, which also gives
the gradient of a learned temperature): the two agree to float rounding, not bit for bit, and switching
either trainer to the other's arithmetic would move every published run by the rounding that training
amplifies.

The symmetric InfoNCE (`InfoNCEKernel`, used by `AlignmentStep`) takes one exp (as exp2 of base-2 logits:
three times faster) of the B x B logits for both directions and forms its gradient in the forward: three
`p x B x B` products in all, the fewest the loss allows, never materialising the softmaxes; it works
through the runs in chunks whose logits stay in cache (`INFO_NCE_CHUNK_BYTES`). It is about 40 % of a
vectorised step.
"""

from __future__ import annotations

import math

import numpy as np
import torch

# Logits of this many bytes are processed at once by InfoNCEKernel: small enough to stay in cache between
# the passes over them (exp, sums, scaling, two products), large enough to amortise per-operation overhead.
INFO_NCE_CHUNK_BYTES = 4 << 20
# AdamW defaults of torch (training.single.fit uses them).
BETA1, BETA2, EPS = 0.9, 0.999, 1e-8
# At or above this temperature exp of the unshifted logits cannot overflow (|logits| <= 1/T <= 40).
_MIN_PLAIN_EXP_TEMPERATURE = 1 / 40
# eps of torch.nn.functional.normalize
_NORMALIZE_EPS = 1e-12
_LOG2_E, _LN_2 = 1.0 / math.log(2.0), math.log(2.0)


# ------------------------------------------------------------------------------------------ batched InfoNCE


class InfoNCEKernel:
    """Loss and gradient of the symmetric InfoNCE of n runs, on unit projections stored by column `(n, p, B)`.

    Per run, with `s = a.T @ b / T` (B x B, rows are modality 1's examples), `E = exp(s)` and `r`, `c` its
    row and column sums: `loss = mean_i (log r_i + log c_i) / 2 - mean_i s_ii` and
    `dloss/ds = M - I / B` with `M_ij = E_ij (1 / r_i + 1 / c_j) / (2B)`. So the gradient with respect
    to `a` is `b @ (dloss/ds).T / T` and with respect to `b` it is `a @ dloss/ds / T`: the B x B work is three
    `p x B x B` products (logits and the two gradients), one exp and a few elementwise passes; the softmaxes
    are never formed. Buffers for `chunk` runs are allocated once and reused (fresh memory costs page faults
    on every step). Below `_MIN_PLAIN_EXP_TEMPERATURE`, `exp` could overflow: rows and columns are then
    shifted by their maxima, at the cost of a second exp.
    """

    def __init__(self, chunk: int, dim: int, batch: int, temperature: float, dtype=torch.float32):
        self.chunk, self.inv_t = chunk, 1.0 / float(temperature)
        self.plain = float(temperature) >= _MIN_PLAIN_EXP_TEMPERATURE
        self.logits = torch.empty(chunk, batch, batch, dtype=dtype)
        # 1 / r_i + 1 / c_j, or (small temperatures) exp of the column-shifted logits
        self.weights = torch.empty(chunk, batch, batch, dtype=dtype)
        self.scaled = torch.empty(chunk, dim, batch, dtype=dtype)
        self.row_sums = torch.empty(chunk, batch, dtype=dtype)
        self.col_sums = torch.empty(chunk, batch, dtype=dtype)

    def __call__(self, a: torch.Tensor, b: torch.Tensor, loss: torch.Tensor, grad_a: torch.Tensor,
                 grad_b: torch.Tensor) -> None:
        """Write the n losses into `loss` (n,) and the gradients into `grad_a`, `grad_b` (n, p, B)."""
        n, _, batch = a.shape
        inv_t, scale = self.inv_t, 0.5 / batch
        logits, weights = self.logits[:n], self.weights[:n]
        row_sums, col_sums = self.row_sums[:n], self.col_sums[:n]
        # logits in base 2, s / ln 2: exp2 is about three times faster than exp and as accurate
        torch.bmm(torch.mul(a, inv_t * _LOG2_E, out=self.scaled[:n]).transpose(1, 2), b, out=logits)
        if self.plain:  # |s| <= 1 / T <= 40: exp needs no shift
            exp_rows = exp_cols = logits.exp2_()
            torch.sum(exp_rows, dim=2, out=row_sums)
            torch.sum(exp_cols, dim=1, out=col_sums)
            lse_rows, lse_cols = row_sums.log(), col_sums.log()
        else:
            shift_rows, shift_cols = logits.amax(dim=2), logits.amax(dim=1)
            exp_cols = torch.sub(logits, shift_cols[:, None, :], out=weights).exp2_()
            exp_rows = logits.sub_(shift_rows[:, :, None]).exp2_()
            torch.sum(exp_rows, dim=2, out=row_sums)
            torch.sum(exp_cols, dim=1, out=col_sums)
            lse_rows = row_sums.log().add_(shift_rows, alpha=_LN_2)
            lse_cols = col_sums.log().add_(shift_cols, alpha=_LN_2)
        diagonal = (a * b).sum(dim=1).mul_(inv_t)  # s_ii
        loss.copy_(0.5 * (lse_rows.mean(dim=1) + lse_cols.mean(dim=1)) - diagonal.mean(dim=1))
        # dloss/ds * T (the 1 / T of ds/du is folded into the scale), built in place of E
        row_scale = torch.reciprocal(row_sums, out=row_sums).mul_(scale * inv_t)
        col_scale = torch.reciprocal(col_sums, out=col_sums).mul_(scale * inv_t)
        if self.plain:
            torch.add(row_scale[:, :, None], col_scale[:, None, :], out=weights)
            grad_s = exp_rows.mul_(weights)
        else:
            grad_s = exp_rows.mul_(row_scale[:, :, None]).add_(exp_cols.mul_(col_scale[:, None, :]))
        grad_s.diagonal(dim1=1, dim2=2).sub_(2 * scale * inv_t)
        torch.bmm(b, grad_s.transpose(1, 2), out=grad_a)
        torch.bmm(a, grad_s, out=grad_b)


def info_nce_chunk(batch: int) -> int:
    """How many runs' B x B logits fit in `INFO_NCE_CHUNK_BYTES` (at least one)."""
    return max(1, INFO_NCE_CHUNK_BYTES // (4 * batch * batch))


class AlignmentStep:
    """The symmetric InfoNCE of up to `runs` runs and its gradient, by hand, in reused buffers.

    Input: projections `p` of the active runs, `(2A, dim, B)` with lanes interleaved (run a's modality 1 in
    lane 2a, modality 2 in lane 2a + 1). `__call__` returns the `(A,)` losses and leaves in `grad` the
    gradient of `sum_a weight_a * loss_a` with respect to `p`: `InfoNCEKernel` a cache-sized chunk of runs
    at a time, then the backward of the L2 normalisation, `(g - u (u . g)) / |p|`, and the weights. Nothing
    is allocated per step except a few (A, B) rows.
    """

    def __init__(self, runs: int, dim: int, batch: int, temperature: float, chunk: int | None = None,
                 dtype: torch.dtype = torch.float32):
        """Buffers for up to `runs` runs of `batch` projections of size `dim`; `chunk` runs go through the
        kernel at once (default: as many as `INFO_NCE_CHUNK_BYTES` allows); `dtype` float32 in training."""
        chunk = info_nce_chunk(batch) if chunk is None else int(chunk)
        self.chunk = chunk = max(1, min(runs, chunk))
        self.kernel = InfoNCEKernel(chunk, dim, batch, temperature, dtype)
        self.unit = torch.empty(2 * runs, dim, batch, dtype=dtype)
        self.work = torch.empty(2 * runs, dim, batch, dtype=dtype)
        self.norms = torch.empty(2 * runs, 1, batch, dtype=dtype)
        self.dots = torch.empty(2 * runs, 1, batch, dtype=dtype)
        self.grad = torch.empty(2 * runs, dim, batch, dtype=dtype)
        self.loss = torch.empty(runs, dtype=dtype)

    def __call__(self, p: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """The `(A,)` losses of projections `p` `(2A, dim, B)`; the weighted gradient is left in `grad`."""
        lanes, dim, batch = p.shape
        runs = lanes // 2
        unit, work, norms, grad = self.unit[:lanes], self.work[:lanes], self.norms[:lanes], self.grad[:lanes]
        dots, loss = self.dots[:lanes], self.loss[:runs]
        # F.normalize(p, dim=1): p / max(|p|, 1e-12)
        torch.sum(torch.mul(p, p, out=work), dim=1, keepdim=True, out=norms).sqrt_()
        clamped = bool((norms <= _NORMALIZE_EPS).any())
        if clamped:
            raw = norms.clone()
        norms.clamp_min_(_NORMALIZE_EPS)
        torch.div(p, norms, out=unit)
        pairs, grad_pairs = unit.view(runs, 2, dim, batch), grad.view(runs, 2, dim, batch)
        for start in range(0, runs, self.chunk):
            stop = min(start + self.chunk, runs)
            self.kernel(pairs[start:stop, 0], pairs[start:stop, 1], loss[start:stop],
                        grad_pairs[start:stop, 0], grad_pairs[start:stop, 1])
        # backward of the normalisation: (g - u (u . g)) / |p|, without u (u . g) where |p| was clamped
        torch.sum(torch.mul(unit, grad, out=work), dim=1, keepdim=True, out=dots)
        if clamped:
            dots.masked_fill_(raw <= _NORMALIZE_EPS, 0.0)
        grad.sub_(torch.mul(unit, dots, out=work)).div_(norms)
        grad_pairs.mul_(weights.view(runs, 1, 1, 1))
        return loss


# ------------------------------------------------------------------------------------------- AdamW on buffers


class LaneAdamW:
    """torch.optim.AdamW (foreach=False) on a flat (lanes, P) buffer, one optimiser state per lane.

    The same elementwise operations in the same order as torch's single-tensor AdamW, so equal gradients
    give equal parameters bit for bit. Each lane counts its own steps: a lane left out of a step is untouched
    (no weight decay either), as torch leaves a parameter without gradient. The denominator has a reused
    buffer (fresh memory costs page faults every step).
    """

    def __init__(self, params: torch.Tensor, lr: float, weight_decay: float):
        self.params, self.lr, self.weight_decay = params, lr, weight_decay
        self.exp_avg, self.exp_avg_sq = torch.zeros_like(params), torch.zeros_like(params)
        self.denom = torch.empty_like(params)
        self.counts = np.zeros(params.shape[0], dtype=np.int64)

    def step(self, grads: torch.Tensor, lanes: int | None = None) -> None:
        """One step of every lane (`lanes` None) or of the first `lanes` lanes only."""
        stop = len(self.counts) if lanes is None else int(lanes)
        if stop == 0:
            return
        counts = self.counts[:stop] + 1
        if counts.min() == counts.max():  # the common case: in place, whole (prefix of) buffers
            self._update(self.params[:stop], self.exp_avg[:stop], self.exp_avg_sq[:stop], grads[:stop],
                         int(counts[0]), self.denom[:stop])
        else:
            for step in np.unique(counts):
                rows = torch.from_numpy(np.flatnonzero(counts == step))
                p, m, v = self.params[rows], self.exp_avg[rows], self.exp_avg_sq[rows]
                self._update(p, m, v, grads[rows], int(step), torch.empty_like(p))
                self.params[rows], self.exp_avg[rows], self.exp_avg_sq[rows] = p, m, v
        self.counts[:stop] += 1

    def _update(self, p: torch.Tensor, m: torch.Tensor, v: torch.Tensor, g: torch.Tensor, step: int,
                denom: torch.Tensor) -> None:
        p.mul_(1 - self.lr * self.weight_decay)
        m.lerp_(g, 1 - BETA1)
        v.mul_(BETA2).addcmul_(g, g, value=1 - BETA2)
        bias_correction1 = 1 - BETA1**step
        bias_correction2 = 1 - BETA2**step
        step_size = self.lr / bias_correction1
        torch.sqrt(v, out=denom).div_(bias_correction2**0.5).add_(EPS)
        p.addcdiv_(m, denom, value=-step_size)
