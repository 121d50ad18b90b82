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
# torch's exp2 takes a vectorised path for whole blocks of 16 or 32 elements and a scalar one for the rest
# (and for the rest of each thread's share), and the two round differently in the last bit. The logits are
# exponentiated in whole blocks of EXP2_BLOCK (with padding behind the buffer), on more than one thread in
# pieces below torch's grain size (which run on one thread): every element takes the vectorised path wherever
# its run sits, and a run's numbers do not depend on how many runs share the buffer.
EXP2_BLOCK = 64
_SERIAL_PIECE = 32768 - EXP2_BLOCK  # below at::internal::GRAIN_SIZE, a multiple of EXP2_BLOCK
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
        padded = -(-chunk * batch * batch // EXP2_BLOCK) * EXP2_BLOCK
        self.logits_storage = torch.zeros(padded, dtype=dtype)
        self.logits = self.logits_storage[: chunk * batch * batch].view(chunk, batch, batch)
        # 1 / r_i + 1 / c_j, or (small temperatures) exp of the column-shifted logits
        self.weights_storage = torch.zeros(padded, dtype=dtype)
        self.weights = self.weights_storage[: chunk * batch * batch].view(chunk, batch, batch)
        self.scaled = torch.empty(chunk, dim, batch, dtype=dtype)
        # the gradients' products write here, contiguously, then into the caller's (strided) tensors: a
        # batched product into a strided output rounds differently on three threads or more
        self.products = torch.empty(2, chunk, dim, batch, dtype=dtype)
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
        count = n * batch * batch
        if self.plain:  # |s| <= 1 / T <= 40: exp needs no shift
            exp_rows = exp_cols = _exp2_blocks_(self.logits_storage, count, logits)
            torch.sum(exp_rows, dim=2, out=row_sums)
            torch.sum(exp_cols, dim=1, out=col_sums)
            lse_rows, lse_cols = row_sums.log(), col_sums.log()
        else:
            shift_rows, shift_cols = logits.amax(dim=2), logits.amax(dim=1)
            torch.sub(logits, shift_cols[:, None, :], out=weights)
            exp_cols = _exp2_blocks_(self.weights_storage, count, weights)
            logits.sub_(shift_rows[:, :, None])
            exp_rows = _exp2_blocks_(self.logits_storage, count, logits)
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
        grad_a.copy_(torch.bmm(b, grad_s.transpose(1, 2), out=self.products[0, :n]))
        grad_b.copy_(torch.bmm(a, grad_s, out=self.products[1, :n]))


def _exp2_blocks_(storage: torch.Tensor, count: int, view: torch.Tensor) -> torch.Tensor:
    """exp2 in place of the first `count` values of `storage` (and the padding up to the next whole
    EXP2_BLOCK, whose values nothing reads), all on the vectorised path; returns `view` of them."""
    region = storage[: -(-count // EXP2_BLOCK) * EXP2_BLOCK]
    if torch.get_num_threads() == 1:
        region.exp2_()
    else:  # one thread per piece: a thread's share of a larger tensor may end inside a block
        for piece in region.split(_SERIAL_PIECE):
            piece.exp2_()
    return view


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

    Every kernel call holds at least two runs: on three threads or more MKL rounds a batched product of one
    matrix differently from the same matrix among others, so a chunk of one run takes its neighbour along
    (recomputed to the same bits), and a single run a copy of itself.
    """

    def __init__(self, runs: int, dim: int, batch: int, temperature: float, chunk: int | None = None,
                 dtype: torch.dtype = torch.float32):
        """Buffers for up to `runs` runs of `batch` projections of size `dim`; `chunk` runs go through the
        kernel at once (default: as many as `INFO_NCE_CHUNK_BYTES` allows); `dtype` float32 in training."""
        chunk = info_nce_chunk(batch) if chunk is None else int(chunk)
        runs = max(runs, 2)  # room for a single run's copy
        self.chunk = chunk = max(2, min(runs, chunk))
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
        pairs, grad_pairs = self.unit.view(-1, 2, dim, batch), self.grad.view(-1, 2, dim, batch)
        if runs == 1:  # two runs per kernel call (class docstring): the run and its copy
            pairs[1].copy_(pairs[0])
        for start in range(0, runs, self.chunk):
            stop = min(start + self.chunk, runs)
            first = min(start, max(stop - 2, 0))  # a chunk of one run takes the run before it along
            last = max(stop, first + 2)
            self.kernel(pairs[first:last, 0], pairs[first:last, 1], self.loss[first:last],
                        grad_pairs[first:last, 0], grad_pairs[first:last, 1])
        grad_pairs = grad_pairs[:runs]
        # backward of the normalisation: (g - u (u . g)) / |p|, without u (u . g) where |p| was clamped
        torch.sum(torch.mul(unit, grad, out=work), dim=1, keepdim=True, out=dots)
        if clamped:
            dots.masked_fill_(raw <= _NORMALIZE_EPS, 0.0)
        grad.sub_(torch.mul(unit, dots, out=work)).div_(norms)
        grad_pairs.mul_(weights.view(runs, 1, 1, 1))
        return loss


# ------------------------------------------------------------------------------------------- AdamW on buffers


class LaneAdamW:
    """torch.optim.AdamW (foreach=False) on the rows of flat (lanes, P) buffers, one optimiser state per lane.

    The same elementwise operations in the same order as torch's single-tensor AdamW, so equal gradients
    give equal parameters bit for bit. States are held for up to `lanes` lanes; `step` steps the first rows
    (all of a group's bodies, or the projection heads of the runs whose alignment term is on), which have
    always taken the same number of steps: a lane left out of a step is untouched (no weight decay either), as
    torch leaves a parameter without gradient. `keep` moves chosen lanes' states to the front (when the
    vectorised trainer drops stopped runs). The denominator has a reused buffer (fresh memory costs page
    faults every step).
    """

    def __init__(self, lanes: int, size: int, lr: float, weight_decay: float):
        self.lr, self.weight_decay = lr, weight_decay
        self.exp_avg, self.exp_avg_sq = torch.zeros(lanes, size), torch.zeros(lanes, size)
        self.denom = torch.empty(lanes, size)
        self.counts = np.zeros(lanes, dtype=np.int64)

    def step(self, params: torch.Tensor, grads: torch.Tensor) -> None:
        """One step of the first `len(params)` lanes: `params` and `grads` are their (k, P) rows."""
        stop = params.shape[0]
        if stop == 0:
            return
        counts = self.counts[:stop] + 1
        if counts.min() != counts.max():  # the trainer steps a fixed prefix of lanes: cannot happen
            raise RuntimeError("lanes stepped together must have taken the same number of steps")
        self._update(params, self.exp_avg[:stop], self.exp_avg_sq[:stop], grads[:stop], int(counts[0]),
                     self.denom[:stop])
        self.counts[:stop] = counts

    def keep(self, lanes: torch.Tensor) -> None:
        """Move the states of `lanes` (increasing indices) to the first `len(lanes)` rows."""
        kept = len(lanes)
        for state in (self.exp_avg, self.exp_avg_sq):
            state[:kept] = state[lanes]
        self.counts[:kept] = self.counts[lanes.numpy()]

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
