"""How aligned are two encoders? Similarity measures between two representations of the same examples.

Every metric takes `z1` of shape (n, d1) and `z2` of shape (n, d2), numpy arrays or torch tensors whose row
`i` describes the same example `i`, computes in float64 and returns a Python float:

    mutual_knn    share of the k nearest neighbours found in both spaces            (Huh et al. 2024)
    cka           centred kernel alignment, linear or RBF, biased HSIC              (Kornblith et al. 2019)
    cka_unbiased  `cka(..., unbiased=True)`: unbiased HSIC                          (Song et al. 2012)
    cknna         unbiased HSIC of the kernels restricted to mutual neighbours      (Huh et al. 2024)
    svcca         mean canonical correlation of the top singular directions         (Raghu et al. 2017)

They compute the statistics of the reference implementation of Huh et al. (the `platonic-rep` code, also
used by Fang et al.) on their inputs as given. That code never measures raw features: it first clips each
representation at its 95 % absolute-value quantile and scales every row to unit length, which is
`prepare`. So `metric(prepare(z1), prepare(z2))` is the reference's number, and `pair_alignment`, what the
trainers record, measures prepared representations. Where the reference approximates or guards a value,
these functions compute it exactly: its CKA and CKNNA add 1e-6 to their denominators (here: the exact ratio,
NaN for 0/0), its SVCCA uses a randomised SVD and an iterative CCA (here: full SVD and exact canonical
correlations). Ties among neighbours, which the reference leaves to `torch.topk`, go to the lower index.

All of them are 1 for identical inputs and symmetric in `z1`, `z2`, but for CKNNA, which moves slightly when
the two swap (as the reference's does). None materialises an n x n matrix: similarities and kernel values
are processed in blocks of rows, so n = 20,000 runs in bounded memory.
A representation that does not vary across examples (a collapsed encoder) has nothing to align: CKA, CKNNA,
SVCCA and mutual k-NN then return NaN rather than raise, so a training sweep can record it and go on.

`chance_level` gives the score of unrelated representations where it is known analytically,
`permutation_baseline` estimates it by pairing `z1` with row-shuffled `z2`. `all_scores` and `chance_levels`
compute every metric at once; `best_layer_scores` searches all pairs of layers; `pair_alignment` does what a
trainer does after each run.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from alignbook.checks import check_finite, check_positive_int, check_same_rows, fail, to_numpy

METRICS = ("mutual_knn", "cka", "cka_unbiased", "cknna", "svcca")
KERNELS = ("linear", "rbf")

# Entries of an n x n matrix (similarities or kernel values) held at once: 2**22 float64 values = 32 MB,
# so a few such blocks alive together stay far below 1 GB whatever n is.
_BLOCK_ENTRIES = 2**22
# Rows used by the median heuristic of the RBF bandwidth: 2000 rows give ~2 million pairwise distances,
# plenty for a median, at a fixed cost however large n is.
_MEDIAN_ROWS = 2000
# A representation whose centred norm is below this fraction of its norm is treated as constant.
_CONSTANT_RTOL = 1e-12
# The reference's constants: the smallest row norm `prepare` divides by (torch.nn.functional.normalize)
# and what SVCCA adds to each feature's standard deviation (constant features stay 0, near-constant ones
# are damped).
_NORM_FLOOR = 1e-12
_STD_OFFSET = 1e-8


# ---------------------------------------------------------------------------------------------------------
# Input checks


def _as_matrix(param: str, z) -> np.ndarray:
    """A finite float64 (n, d) array from a numpy array or torch tensor, or a ValueError naming `param`."""
    array = to_numpy(param, z)
    if array.ndim != 2:
        fail(param, f"expected a 2-d array of shape (n, d), got shape {array.shape}",
             "reshape one feature per example with z[:, None]")
    if array.dtype == bool or not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        fail(param, f"expected real numbers, got dtype {array.dtype}")
    check_finite(param, array)
    if array.shape[1] == 0:
        fail(param, "has no features (shape (n, 0))")
    return np.ascontiguousarray(array, dtype=np.float64)


def _pair(z1, z2, min_rows: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Both representations as float64 arrays, checked to describe the same (enough) examples."""
    a, b = _as_matrix("z1", z1), _as_matrix("z2", z2)
    n = check_same_rows(z1=a, z2=b)
    if n < min_rows:
        fail("z1/z2", f"need at least {min_rows} examples (rows), got {n}")
    return a, b


def _check_k(k: int, n: int) -> int:
    k = check_positive_int("k", k)
    if k >= n:
        fail("k", f"must be smaller than the number of examples n = {n} (each has only n - 1 neighbours), "
             f"got k = {k}", f"use k <= {n - 1}")
    return k


def _check_svcca_rows(n: int, dim: int, d1: int, d2: int) -> None:
    # Centred data live in an (n - 1)-dimensional space, where an r1- and an r2-dimensional subspace share
    # at least r1 + r2 - (n - 1) directions: those canonical correlations would be 1 whatever the data.
    r1, r2 = min(dim, d1), min(dim, d2)
    if n <= r1 + r2:
        fail("z1/z2", f"svcca keeps up to {r1} + {r2} directions and needs more examples than that, "
             f"got n = {n}", "use a smaller dim or more examples")


# ---------------------------------------------------------------------------------------------------------
# Building blocks shared by the metrics. The O(n^2) work (similarity and kernel blocks) runs in torch; the
# O(n d^2) remainder in numpy, whose small BLAS calls stay fast even on a busy machine.


def _centre(x: np.ndarray) -> np.ndarray:
    return x - x.mean(axis=0)


def _is_constant(x: np.ndarray, centred: np.ndarray) -> bool:
    return bool(np.linalg.norm(centred) <= _CONSTANT_RTOL * np.linalg.norm(x))


def _block_rows(n: int, block_rows: int | None) -> int:
    return block_rows if block_rows is not None else max(1, min(n, _BLOCK_ENTRIES // n))


def _neighbours(x: np.ndarray, k: int, block_rows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each row's k largest inner products with the other rows: (n, k) indices and (n, k) values.

    The neighbours of the reference (`topk` of X X^T with the diagonal at -inf, so an example is never its
    own neighbour; on unit rows these are the cosine neighbours). Where equal values straddle the k-th place
    the lower indices are taken, so the sets are well defined (the reference leaves such ties to `topk`).
    X X^T is formed `block_rows` rows at a time into one reused buffer and reduced with `torch.topk`, so
    memory is O(block_rows * n + n * k) and no row is ever fully sorted. Order within a row is unspecified.
    """
    data = torch.from_numpy(x)
    data_t = data.T.contiguous()
    n = data.shape[0]
    rows = _block_rows(n, block_rows)
    buffer = torch.empty((rows, n), dtype=data.dtype)
    indices = torch.empty((n, k), dtype=torch.long)
    values = torch.empty((n, k), dtype=data.dtype)
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        similarity = torch.matmul(data[start:stop], data_t, out=buffer[: stop - start])
        local = torch.arange(stop - start)
        similarity[local, local + start] = -math.inf  # an example is not its own neighbour
        # One place more than needed tells whether the k-th value is tied with a value left out (k + 1 <= n
        # always: at k = n - 1 the extra place is the diagonal's -inf).
        top = torch.topk(similarity, k + 1, dim=1, sorted=True)
        indices[start:stop], values[start:stop] = top.indices[:, :k], top.values[:, :k]
        tied_rows = torch.nonzero(top.values[:, k] == top.values[:, k - 1]).flatten()
        if len(tied_rows):
            chosen = _lowest_index_ties(similarity[tied_rows], top.values[tied_rows, k - 1, None], k)
            indices[start + tied_rows] = chosen
            values[start + tied_rows] = similarity[tied_rows].gather(1, chosen)
    return indices.numpy(), values.numpy()


def _lowest_index_ties(rows: torch.Tensor, kth: torch.Tensor, k: int) -> torch.Tensor:
    """(t, k) column indices of the k largest values of each row of `rows` (t, n) whose k-th largest
    value `kth` (t, 1) is tied with a value left out: every value above `kth`, then the lowest-index
    values equal to it, in that order (both ascending). Whole-block tensor operations: representations
    with dead ReLU units tie in a fifth of their rows, too many for a loop over rows."""
    above, tied = rows > kth, rows == kth
    wanted = tied & (tied.cumsum(dim=1) <= k - above.sum(dim=1, keepdim=True))
    n = rows.shape[1]
    order = torch.arange(n).expand(rows.shape) + n * tied  # above first, then the wanted ties
    order = order.masked_fill(~(above | wanted), 2 * n)
    return torch.topk(order, k, dim=1, largest=False, sorted=True).indices


def _positions(knn1: np.ndarray, knn2: np.ndarray) -> np.ndarray:
    """(n, k): where neighbour `knn1[i, a]` of example i stands in its neighbour list `knn2[i]`, -1 if absent.

    A block of rows at a time writes each row's `knn2` positions (plus one, so that the zeroed table means
    absent) into a (rows, n) table and reads it at `knn1`: O(n k) work beyond allocating the table.
    """
    n, k = knn1.shape
    rows = _block_rows(n, None)
    table = np.zeros((rows, n), dtype=np.min_scalar_type(k))  # small: cheap to allocate and to clear
    places = np.broadcast_to(np.arange(1, k + 1, dtype=table.dtype), (rows, k))
    positions = np.empty(knn1.shape, dtype=np.int32)
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        local = np.arange(stop - start)[:, None]
        table[local, knn2[start:stop]] = places[: stop - start]
        positions[start:stop] = table[local, knn1[start:stop]]
        table[local, knn2[start:stop]] = 0  # clear only what was written
    return positions - 1


def _ratio(cross: float, self1: float, self2: float) -> float:
    """cross / sqrt(self1 * self2), NaN when either self-similarity is not positive (nothing to compare)."""
    if not (self1 > 0 and self2 > 0):
        return float("nan")
    return float(cross / math.sqrt(self1 * self2))


def _hsic(s_kl: float, r_k: np.ndarray, r_l: np.ndarray, d_k: np.ndarray, d_l: np.ndarray,
          unbiased: bool) -> float:
    """HSIC of symmetric kernel matrices K, L from sum_ij K_ij L_ij, their row sums r and diagonals d.

    These few statistics are all either estimator needs, so no n x n matrix has to be kept.
    Biased: tr(K H L H) / (n - 1)^2 with H = I - 11^T / n (Gretton et al. 2005, as used by Kornblith et al.).
    Unbiased (Song et al. 2012), with K~, L~ the kernels with zeroed diagonal:
        [tr(K~ L~) + 1^T K~ 1 * 1^T L~ 1 / ((n - 1)(n - 2)) - 2 / (n - 2) * 1^T K~ L~ 1] / (n (n - 3)).
    """
    n = r_k.shape[0]
    if not unbiased:
        centred_trace = s_kl - 2.0 / n * float(r_k @ r_l) + float(r_k.sum()) * float(r_l.sum()) / n**2
        return centred_trace / (n - 1) ** 2
    rk, rl = r_k - d_k, r_l - d_l  # row sums of K~, L~
    trace = s_kl - float(d_k @ d_l)
    return _unbiased_hsic(n, trace, float(rk.sum()), float(rl.sum()), float(rk @ rl))


def _unbiased_hsic(n: int, trace: float, total_k: float, total_l: float, product: float) -> float:
    """Song et al.'s unbiased HSIC from tr(K~ L~), 1^T K~ 1, 1^T L~ 1, 1^T K~ L~ 1 (zero-diagonal K~, L~)."""
    return (trace + total_k * total_l / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * product) / (n * (n - 3))


def _sparse_unbiased_hsic(n: int, rows: np.ndarray, cols: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Unbiased HSIC of n x n matrices A, B that are zero except A[rows, cols] = a, B[rows, cols] = b.

    A and B need not be symmetric (a neighbour relation is not), so the terms are those of the reference's
    formula for any zero-diagonal A, B: tr(A B) = sum_ij A_ij B_ji pairs each entry with its transposed one
    (found by sorting the entries' keys), 1^T A B 1 = (column sums of A) . (row sums of B). O(e log e) for e
    entries, no n x n matrix.
    """
    if len(rows) == 0:
        return 0.0
    keys = rows * n + cols
    order = np.argsort(keys)
    sorted_keys = keys[order]
    at = np.minimum(np.searchsorted(sorted_keys, cols * n + rows), len(keys) - 1)
    transposed = sorted_keys[at] == cols * n + rows
    trace = float(a[transposed] @ b[order[at[transposed]]])
    product = float(np.bincount(cols, weights=a, minlength=n) @ np.bincount(rows, weights=b, minlength=n))
    return _unbiased_hsic(n, trace, float(a.sum()), float(b.sum()), product)


def _linear_cka(c1: np.ndarray, c2: np.ndarray, unbiased: bool) -> float:
    return _linear_ckas(c1, c2, (unbiased,))[0]


def _linear_ckas(c1: np.ndarray, c2: np.ndarray, estimators: tuple[bool, ...]) -> list[float]:
    """Linear CKA of centred features for each estimator (`unbiased` flags), from one set of statistics, in
    feature space: O(n d1 d2) time, no n x n Gram matrix.

    With K = C1 C1^T: sum_ij K_ij L_ij = ||C1^T C2||_F^2, row sums K 1 = C1 (C1^T 1) (zero for centred
    features up to rounding) and diag K = squared row norms. Centring the features first changes neither
    estimator (both are translation invariant) but avoids cancellation.
    """
    s12 = float(np.sum((c1.T @ c2) ** 2))
    s11 = float(np.sum((c1.T @ c1) ** 2))
    s22 = float(np.sum((c2.T @ c2) ** 2))
    r1, r2 = c1 @ c1.sum(axis=0), c2 @ c2.sum(axis=0)
    d1, d2 = np.einsum("ij,ij->i", c1, c1), np.einsum("ij,ij->i", c2, c2)
    return [_ratio(_hsic(s12, r1, r2, d1, d2, unbiased), _hsic(s11, r1, r1, d1, d1, unbiased),
                   _hsic(s22, r2, r2, d2, d2, unbiased)) for unbiased in estimators]


def _sq_distances(rows: torch.Tensor, x_t: torch.Tensor, sq_rows: torch.Tensor,
                  sq_x: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances between `rows` and every row of x (given transposed)."""
    return (sq_rows[:, None] + sq_x[None, :] - 2.0 * (rows @ x_t)).clamp_min_(0.0)


def _median_sigma(c: np.ndarray) -> float:
    """Median heuristic: sigma = sqrt(median squared distance between distinct examples).

    Beyond `_MEDIAN_ROWS` examples the median is taken over evenly spaced rows (deterministic, no RNG).
    """
    n = c.shape[0]
    rows = np.unique(np.linspace(0, n - 1, min(n, _MEDIAN_ROWS)).round().astype(np.int64))
    sub = torch.from_numpy(c[rows])
    sq = (sub**2).sum(dim=1)
    upper = np.triu_indices(len(rows), k=1)
    distances = _sq_distances(sub, sub.T, sq, sq).numpy()[upper]
    median = float(np.median(distances))
    if median <= 0:  # most sampled examples coincide: fall back to the mean, still a data scale
        median = float(distances.mean())
    return math.sqrt(median)


def _rbf_cka(c1: np.ndarray, c2: np.ndarray, sigma1: float, sigma2: float, unbiased: bool,
             block_rows: int | None = None) -> float:
    """RBF CKA, k(x, y) = exp(-||x - y||^2 / (2 sigma^2)), kernel matrices formed a block of rows at once."""
    n = c1.shape[0]
    rows = _block_rows(n, block_rows)
    spaces = []
    for c, sigma in ((c1, sigma1), (c2, sigma2)):
        x = torch.from_numpy(c)
        spaces.append((x, x.T.contiguous(), (x**2).sum(dim=1), sigma))
    s12 = s11 = s22 = 0.0
    r1, r2 = np.empty(n), np.empty(n)
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        local = torch.arange(stop - start)
        blocks = []
        for x, x_t, sq, sigma in spaces:
            distances = _sq_distances(x[start:stop], x_t, sq[start:stop], sq)
            distances[local, local + start] = 0.0  # exact zeros on the diagonal despite rounding
            blocks.append(torch.exp_(distances.mul_(-0.5 / sigma**2)))
        k_block, l_block = blocks
        s12 += float(torch.sum(k_block * l_block))
        s11 += float(torch.sum(k_block * k_block))
        s22 += float(torch.sum(l_block * l_block))
        r1[start:stop], r2[start:stop] = k_block.sum(dim=1).numpy(), l_block.sum(dim=1).numpy()
    ones = np.ones(n)  # k(x, x) = 1
    return _ratio(_hsic(s12, r1, r2, ones, ones, unbiased), _hsic(s11, r1, r1, ones, ones, unbiased),
                  _hsic(s22, r2, r2, ones, ones, unbiased))


def _self_hsic(neighbours: np.ndarray, similarities: np.ndarray) -> float:
    """CKNNA's HSIC of one space with itself: the kernel restricted to that space's own neighbour relation."""
    n, k = neighbours.shape
    rows = np.repeat(np.arange(n), k)
    return _sparse_unbiased_hsic(n, rows, neighbours.ravel(), similarities.ravel(), similarities.ravel())


def _cross_hsic(neighbours1: np.ndarray, similarities1: np.ndarray, similarities2: np.ndarray,
                positions: np.ndarray) -> float:
    """CKNNA's HSIC between the spaces: both kernels restricted to pairs (i, j) with j a neighbour of i in
    both. `positions` (from `_positions`) says where each neighbour of space 1 stands among those of space 2,
    so L_ij is read from space 2's own neighbour similarities."""
    mutual = positions >= 0
    rows = np.nonzero(mutual)[0]  # row-major, as boolean indexing orders the entries
    return _sparse_unbiased_hsic(len(neighbours1), rows, neighbours1[mutual], similarities1[mutual],
                                 similarities2[rows, positions[mutual]])


def _svcca_input(centred: np.ndarray, standardise: bool) -> np.ndarray:
    # The reference divides each centred feature by its standard deviation (n - 1 denominator) plus 1e-8.
    if not standardise:
        return centred
    return centred / (centred.std(axis=0, ddof=1) + _STD_OFFSET)


def _svcca_basis(data: np.ndarray, dim: int) -> np.ndarray:
    """Orthonormal basis (n, r) of the top r = min(dim, d, rank) left singular directions of centred data.

    Directions with singular value below the usual rank tolerance (s_max * max(n, d) * eps) are dropped: their
    singular vectors are numerical noise and would add spurious canonical correlations.
    """
    u, s, _ = np.linalg.svd(data, full_matrices=False)
    tolerance = s[0] * max(data.shape) * np.finfo(data.dtype).eps
    keep = min(dim, int(np.sum(s > tolerance)))
    return u[:, :keep]


def _svcca_from_bases(u1: np.ndarray, u2: np.ndarray) -> float:
    # CCA of X1 = U1 S1 and X2 = U2 S2: whitening each leaves U1, U2, so the canonical correlations are
    # the singular values of U1^T U2 (cosines of the principal angles), min(r1, r2) of them.
    if u1.shape[1] == 0 or u2.shape[1] == 0:
        return float("nan")
    correlations = np.clip(np.linalg.svd(u1.T @ u2, compute_uv=False), 0.0, 1.0)
    return float(correlations.mean())


# ---------------------------------------------------------------------------------------------------------
# Public metrics


def _check_quantile(clip_quantile) -> float:
    number = (int, float, np.integer, np.floating)
    if isinstance(clip_quantile, bool) or not isinstance(clip_quantile, number) or not 0 < clip_quantile <= 1:
        fail("clip_quantile", f"must be a number in (0, 1], got {clip_quantile!r}", "use 1 not to clip")
    return float(clip_quantile)


def _prepared(param: str, z, clip_quantile: float) -> np.ndarray:
    x = _as_matrix(param, z)
    if clip_quantile < 1:
        at = min(int(clip_quantile * x.size), x.size - 1)
        bound = np.partition(np.abs(x).ravel(), at)[at]
        x = np.clip(x, -bound, bound)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), _NORM_FLOOR)


def prepare(z, clip_quantile: float = 0.95) -> np.ndarray:
    """The reference's preprocessing of a representation (n, d): clip, then scale every row to unit length.

    With a the absolute values of all n * d entries sorted ascending, the bound is
    t = a[floor(clip_quantile * n * d)], the `clip_quantile` quantile without interpolation; every entry is
    clipped to [-t, t], so a few extreme activations cannot dominate the geometry. Each row is then divided
    by its L2 norm, or by 1e-12 if smaller (an all-zero row stays zero). `clip_quantile=1` skips clipping.
    This is the reference's exact quantile (the one of its library interface); its fast path instead
    averages per-row interpolated quantiles. If more than a `clip_quantile` share of the entries are 0 (a
    mostly silent ReLU layer), t = 0 clips everything to 0, and the metrics of the result are NaN, as they
    are in the reference. Returns a new float64 array.
    """
    return _prepared("z", z, _check_quantile(clip_quantile))


def mutual_knn(z1, z2, k: int = 10, block_rows: int | None = None) -> float:
    """Mutual k-nearest-neighbour alignment (Huh et al. 2024, "The platonic representation hypothesis").

        mutual_knn = 1/n sum_i |kNN_1(i) ∩ kNN_2(i)| / k,

    where kNN_m(i) are the k examples with the largest inner product <z_m,i, z_m,j> with example i, i itself
    excluded, as in the reference; on `prepare`d (unit) rows they are the cosine neighbours. 1 when both
    spaces agree on every neighbourhood; unrelated representations score k / (n - 1) on average
    (`chance_level`). Invariant to rotations and to rescaling a whole space, not to translations.
    `block_rows` rows of the similarity matrix are held at once (default: about 32 MB worth), so memory is
    O(n k) beyond that block. Equal similarities at the k-th place go to the lower index.
    """
    x1, x2 = _pair(z1, z2)
    k = _check_k(k, x1.shape[0])
    if block_rows is not None:
        block_rows = check_positive_int("block_rows", block_rows)
    if _is_constant(x1, _centre(x1)) or _is_constant(x2, _centre(x2)):
        return float("nan")
    positions = _positions(_neighbours(x1, k, block_rows)[0], _neighbours(x2, k, block_rows)[0])
    return int(np.count_nonzero(positions >= 0)) / positions.size


def cka(z1, z2, unbiased: bool = False, kernel: str = "linear",
        sigma: float | tuple[float, float] | None = None) -> float:
    """Centred kernel alignment, CKA (Kornblith et al. 2019, "Similarity of neural network representations
    revisited").

        CKA = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)),

    with K, L the kernel matrices of z1, z2 over the n examples. `kernel="linear"`: K = Z1 Z1^T of the centred
    features; biased CKA is then ||Z1c^T Z2c||_F^2 / (||Z1c^T Z1c||_F ||Z2c^T Z2c||_F), computed in feature
    space in O(n d1 d2). `kernel="rbf"`: K_ij = exp(-||z_i - z_j||^2 / (2 sigma^2)); `sigma=None` picks each
    space's own sigma by the median heuristic (sqrt of the median squared distance between examples), a number
    is used for both spaces, a pair (sigma1, sigma2) for each. `unbiased=True` uses the unbiased HSIC
    estimator of Song et al. 2012 (needs n >= 4), whose value for independent representations is 0 on
    average; the biased one is positive for them, shrinking like 1/n.

    Neither kernel materialises an n x n matrix: the linear case works in feature space (also for the unbiased
    estimator, whose terms are traces and row sums of Gram matrices), the RBF case forms kernel blocks of
    rows (about 32 MB each) in O(n^2 (d1 + d2)) time. Invariant to rotations, isotropic scaling and
    translations of either space.
    """
    if kernel not in KERNELS:
        fail("kernel", f"must be one of {KERNELS}, got {kernel!r}")
    x1, x2 = _pair(z1, z2, min_rows=4 if unbiased else 2)
    c1, c2 = _centre(x1), _centre(x2)
    if _is_constant(x1, c1) or _is_constant(x2, c2):
        return float("nan")
    if kernel == "linear":
        if sigma is not None:
            fail("sigma", "is the RBF bandwidth and has no meaning for kernel='linear'",
                 "drop it or use kernel='rbf'")
        return _linear_cka(c1, c2, bool(unbiased))
    if sigma is None:
        sigma1, sigma2 = _median_sigma(c1), _median_sigma(c2)
    else:
        sigma1, sigma2 = sigma if isinstance(sigma, (tuple, list)) and len(sigma) == 2 else (sigma, sigma)
        for value in (sigma1, sigma2):
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                    or not math.isfinite(value) or value <= 0:
                fail("sigma", f"must be a positive number or a pair of them, got {sigma!r}")
    return _rbf_cka(c1, c2, float(sigma1), float(sigma2), bool(unbiased))


def cknna(z1, z2, k: int = 10) -> float:
    """Centred kernel nearest-neighbour alignment, CKNNA (Huh et al. 2024, "The platonic representation
    hypothesis"), as their reference implementation computes it.

    With the linear kernels K = Z1 Z1^T, L = Z2 Z2^T of the inputs as given and the neighbour sets kNN_m(i)
    of `mutual_knn` (largest inner products, i excluded), let a_ij = 1 if j is in both kNN_1(i) and
    kNN_2(i), else 0, and a^m_ij = 1 if j is in kNN_m(i). Then

        CKNNA = HSIC(a∘K, a∘L) / sqrt(HSIC(a^1∘K, a^1∘K) HSIC(a^2∘L, a^2∘L)),

    HSIC the unbiased estimator of Song et al. 2012 (see `cka`) applied to these masked, zero-diagonal and
    generally non-symmetric matrices, with tr(A B) = sum_ij A_ij B_ji: a pair counts in that term only when
    each example is a mutual neighbour of the other. The term 1^T A B 1 changes when A and B swap, so
    cknna(z1, z2) and cknna(z2, z1) differ slightly (about 1e-4 on prepared representations). 1 for
    identical inputs; with k = n - 1 every pair counts and CKNNA is unbiased linear CKA. Not translation
    invariant (the neighbour sets and the masked kernels are not): measure `prepare`d representations to
    follow Huh et al. Needs n >= 4 (the reference also asks k >= 2; k = 1 is allowed here); memory O(n k)
    beyond a 32 MB similarity block. Unrelated representations do not score 0: use `permutation_baseline`.
    """
    x1, x2 = _pair(z1, z2, min_rows=4)
    k = _check_k(k, x1.shape[0])
    if _is_constant(x1, _centre(x1)) or _is_constant(x2, _centre(x2)):
        return float("nan")
    (knn1, sim1), (knn2, sim2) = _neighbours(x1, k), _neighbours(x2, k)
    return _ratio(_cross_hsic(knn1, sim1, sim2, _positions(knn1, knn2)), _self_hsic(knn1, sim1),
                  _self_hsic(knn2, sim2))


def svcca(z1, z2, dim: int = 10, standardise: bool = True) -> float:
    """Singular vector canonical correlation analysis, SVCCA (Raghu et al. 2017), as in the reference.

    Standardise each feature (subtract its mean, divide by its standard deviation, n - 1 denominator, plus
    1e-8 as the reference does, so a constant feature stays 0); `standardise=False` only centres. Keep each
    representation's top r_m = min(dim, d_m, rank) singular directions (full deterministic SVD), run CCA
    between the two reduced representations and return the mean of the min(r_1, r_2) canonical
    correlations. The reference gets the same quantities approximately (randomised SVD, iterative CCA).
    1 when one reduced space contains the other. Standardised, it is invariant to translating and rescaling
    single features (up to the 1e-8); centred only, to rotations and isotropic scaling instead. Needs
    n > r_1 + r_2 examples: at or below that, canonical correlations are forced to 1 by the dimensions alone.
    """
    dim = check_positive_int("dim", dim)
    x1, x2 = _pair(z1, z2)
    _check_svcca_rows(x1.shape[0], dim, x1.shape[1], x2.shape[1])
    c1, c2 = _centre(x1), _centre(x2)
    if _is_constant(x1, c1) or _is_constant(x2, c2):
        return float("nan")
    standardise = bool(standardise)
    return _svcca_from_bases(_svcca_basis(_svcca_input(c1, standardise), dim),
                             _svcca_basis(_svcca_input(c2, standardise), dim))


_METRIC_FUNCTIONS: dict[str, Callable[..., float]] = {
    "mutual_knn": mutual_knn,
    "cka": cka,
    "cka_unbiased": lambda z1, z2, **kwargs: cka(z1, z2, unbiased=True, **kwargs),
    "cknna": cknna,
    "svcca": svcca,
}


def _metric_name(metric) -> str | None:
    """Name in METRICS of a metric given by name or by function; None for other callables."""
    if isinstance(metric, str):
        if metric not in METRICS:
            fail("metric", f"unknown metric {metric!r}", f"use one of {METRICS}")
        return metric
    if callable(metric):
        return next((name for name, fn in _METRIC_FUNCTIONS.items() if fn is metric), None)
    fail("metric", f"expected a metric name or function, got {type(metric).__name__}")


# ---------------------------------------------------------------------------------------------------------
# Chance levels


def chance_level(metric, n: int, k: int = 10) -> float | None:
    """Expected score of unrelated representations of `n` examples, where known analytically; else None.

    mutual_knn: k / (n - 1), the chance that a random other example is among k neighbours.
    cka_unbiased: 0, since the unbiased HSIC estimates 0 for independent representations.
    Biased CKA, CKNNA and SVCCA depend on dimensions and data: use `permutation_baseline`.
    """
    name = _metric_name(metric)
    n = check_positive_int("n", n)
    if name == "mutual_knn":
        return _check_k(k, n) / (n - 1)
    if name == "cka_unbiased":
        return 0.0
    return None


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        fail("seed", f"must be an integer >= 0, got {seed!r}")
    return int(seed)


def _permutations(n: int, n_permutations: int, seed: int) -> list[np.ndarray]:
    """The row shuffles of a permutation baseline: a function of `seed` and n alone (own generator)."""
    rng = np.random.default_rng(seed)
    return [rng.permutation(n) for _ in range(n_permutations)]


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    values = np.asarray(values, dtype=np.float64)
    std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return float(values.mean()), std


def permutation_baseline(metric, z1, z2, n_permutations: int = 5, seed: int = 0,
                         **kwargs) -> tuple[float, float]:
    """Score of `z1` against row-shuffled `z2`: (mean, sample std) over `n_permutations` shuffles.

    Shuffling breaks the pairing but keeps each representation's own structure, so this is the score of
    unrelated representations with the same geometry. `metric` is a name in METRICS or a function
    `metric(z1, z2, **kwargs) -> float`; the shuffles depend only on `seed` and n. std is 0 for one shuffle.
    """
    n_permutations = check_positive_int("n_permutations", n_permutations)
    seed = _check_seed(seed)
    name = _metric_name(metric)
    function = _METRIC_FUNCTIONS[name] if name is not None else metric
    a, b = _as_matrix("z1", z1), _as_matrix("z2", z2)
    n = check_same_rows(z1=a, z2=b)
    scores = [function(a, b[order], **kwargs) for order in _permutations(n, n_permutations, seed)]
    return _mean_std(scores)


# ---------------------------------------------------------------------------------------------------------
# Every metric at once


@dataclass(frozen=True)
class _Summary:
    """What every metric needs from one representation, computed once: shared by all pairings."""

    centred: np.ndarray
    constant: bool
    neighbours: np.ndarray
    similarities: np.ndarray  # <z_i, z_j> for j in neighbours[i]
    self_hsic: float  # CKNNA's normalising HSIC, unchanged when the examples are relabelled
    basis: np.ndarray  # SVCCA's, of the standardised features


# The last few summaries, keyed by content: a trainer calls all_scores then chance_levels on the same
# representations, and the neighbour searches and SVDs (most of their cost) need not be done twice.
_SUMMARY_CACHE: dict[tuple, _Summary] = {}
_SUMMARY_CACHE_SIZE = 4


def _summarise(x: np.ndarray, k: int, svcca_dim: int) -> _Summary:
    key = (x.shape, k, svcca_dim, hashlib.blake2b(x.tobytes(), digest_size=16).digest())
    cached = _SUMMARY_CACHE.get(key)
    if cached is not None:
        return cached
    centred = _centre(x)
    neighbours, similarities = _neighbours(x, k)
    summary = _Summary(centred, _is_constant(x, centred), neighbours, similarities,
                       _self_hsic(neighbours, similarities),
                       _svcca_basis(_svcca_input(centred, True), svcca_dim))
    for array in (summary.centred, summary.neighbours, summary.similarities, summary.basis):
        array.flags.writeable = False  # shared between callers: nobody may change it in place
    if len(_SUMMARY_CACHE) >= _SUMMARY_CACHE_SIZE:
        _SUMMARY_CACHE.pop(next(iter(_SUMMARY_CACHE)))
    _SUMMARY_CACHE[key] = summary
    return summary


def _shuffled(rep: _Summary, order: np.ndarray) -> _Summary:
    """`rep` with its examples reordered as `order`, neighbour lists relabelled instead of recomputed."""
    new_label = np.empty_like(order)
    new_label[order] = np.arange(len(order))
    return replace(rep, centred=rep.centred[order], neighbours=new_label[rep.neighbours[order]],
                   similarities=rep.similarities[order], basis=rep.basis[order])


def _scores(a: _Summary, b: _Summary) -> dict[str, float]:
    if a.constant or b.constant:
        return {name: float("nan") for name in METRICS}
    positions = _positions(a.neighbours, b.neighbours)
    cka, cka_unbiased = _linear_ckas(a.centred, b.centred, (False, True))
    return {
        "mutual_knn": int(np.count_nonzero(positions >= 0)) / positions.size,
        "cka": cka,
        "cka_unbiased": cka_unbiased,
        "cknna": _ratio(_cross_hsic(a.neighbours, a.similarities, b.similarities, positions), a.self_hsic,
                        b.self_hsic),
        "svcca": _svcca_from_bases(a.basis, b.basis),
    }


def _summary_pair(z1, z2, k: int, svcca_dim: int) -> tuple[_Summary, _Summary]:
    svcca_dim = check_positive_int("svcca_dim", svcca_dim)
    x1, x2 = _pair(z1, z2, min_rows=4)
    n = x1.shape[0]
    k = _check_k(k, n)
    _check_svcca_rows(n, svcca_dim, x1.shape[1], x2.shape[1])
    return _summarise(x1, k, svcca_dim), _summarise(x2, k, svcca_dim)


def all_scores(z1, z2, k: int = 10, svcca_dim: int = 10) -> dict[str, float]:
    """Every metric of METRICS between z1 and z2 as given (linear kernels), sharing neighbour searches, SVDs.

    Equal to calling `mutual_knn(z1, z2, k)`, `cka(z1, z2)`, `cka(z1, z2, unbiased=True)`, `cknna(z1, z2, k)`
    and `svcca(z1, z2, svcca_dim)`.
    """
    return _scores(*_summary_pair(z1, z2, k, svcca_dim))


def chance_levels(z1, z2, k: int = 10, svcca_dim: int = 10, seed: int = 0,
                  n_permutations: int = 5) -> dict[str, float]:
    """Score of unrelated representations for each metric of METRICS: analytic where known, else estimated.

    mutual_knn and cka_unbiased use `chance_level`; cka, cknna and svcca the mean of
    `permutation_baseline(metric, z1, z2, n_permutations, seed)` (same shuffles, hence the same values up to
    ties among neighbours), with neighbour searches and SVDs done once and relabelled for each shuffle.
    """
    n_permutations = check_positive_int("n_permutations", n_permutations)
    seed = _check_seed(seed)
    a, b = _summary_pair(z1, z2, k, svcca_dim)
    n = a.centred.shape[0]
    shuffled = [_scores(a, _shuffled(b, order)) for order in _permutations(n, n_permutations, seed)]
    levels = {name: _mean_std([scores[name] for scores in shuffled])[0] for name in METRICS}
    levels["mutual_knn"] = chance_level("mutual_knn", n, k)
    levels["cka_unbiased"] = chance_level("cka_unbiased", n, k)
    return levels


def _layer_matrices(param: str, layers: Sequence) -> list[np.ndarray]:
    if isinstance(layers, (np.ndarray, torch.Tensor)) or len(layers) == 0:
        fail(param, "expected a non-empty list of (n, d) representations, one per layer")
    return [_as_matrix(f"{param}[{i}]", z) for i, z in enumerate(layers)]


def best_layer_scores(layers1: Sequence, layers2: Sequence, k: int = 10,
                      svcca_dim: int = 10) -> dict[str, float]:
    """For each metric, the best score over all pairs of layers and the pair of layers that reaches it.

    `layers1[i]` and `layers2[j]` are representations (n, d_i) of the same n examples by layer i of the first
    encoder and layer j of the second, measured as given. The result is flat, scalars only, so it can stand
    in for `all_scores` in a results table: `{metric: best score, f"{metric}_layer1": i,
    f"{metric}_layer2": j}` for each metric of METRICS. NaN scores (a constant layer) are skipped; a metric
    that is NaN for every pair gets NaN for its score and both layers. Each layer's neighbour search and SVD
    is done once, not once per pair.
    """
    svcca_dim = check_positive_int("svcca_dim", svcca_dim)
    matrices = [_layer_matrices("layers1", layers1), _layer_matrices("layers2", layers2)]
    named = {f"layers{m + 1}[{i}]": z for m, group in enumerate(matrices) for i, z in enumerate(group)}
    n = check_same_rows(**named)
    if n < 4:
        fail("layers1/layers2", f"need at least 4 examples (rows), got {n}")
    k = _check_k(k, n)
    widest1, widest2 = (max(z.shape[1] for z in group) for group in matrices)
    _check_svcca_rows(n, svcca_dim, widest1, widest2)
    summaries = [[_summarise(z, k, svcca_dim) for z in group] for group in matrices]
    best: dict[str, float] = {}
    for name in METRICS:
        best.update({name: float("nan"), f"{name}_layer1": float("nan"), f"{name}_layer2": float("nan")})
    for i, rep1 in enumerate(summaries[0]):
        for j, rep2 in enumerate(summaries[1]):
            for name, score in _scores(rep1, rep2).items():
                if not math.isnan(score) and not score <= best[name]:  # the first pair beats NaN
                    best.update({name: score, f"{name}_layer1": i, f"{name}_layer2": j})
    return best


def pair_alignment(layers1: Sequence, layers2: Sequence, layer: str = "last", k: int = 10,
                   svcca_dim: int = 10, seed: int = 0) -> tuple[dict[str, float], dict[str, float]]:
    """What a trainer records after a run: alignment scores and chance levels of two encoders' layers.

    `layers1`/`layers2` are each encoder's per-layer representations of the same test examples, the last one
    its output z. Every layer is first `prepare`d (clipped at its 95 % absolute-value quantile, rows scaled
    to unit length), as Huh et al. measure. `layer="last"` scores z1 against z2 (`all_scores`), `"best"`
    the best pair of layers (`best_layer_scores`); chance levels are always those of the last layer. On a
    small test split `k` and `svcca_dim` shrink to what n examples support (with a warning), so a tiny
    dataset still gets scores.
    """
    if layer not in ("last", "best"):
        fail("layer", f"must be 'last' or 'best', got {layer!r}")
    matrices = [[_prepared(f"{param}[{i}]", z, 0.95) for i, z in enumerate(layers)]
                for param, layers in (("layers1", layers1[-1:] if layer == "last" else layers1),
                                      ("layers2", layers2[-1:] if layer == "last" else layers2))]
    n = int(matrices[0][-1].shape[0])
    k_used = max(1, min(k, n - 1))
    dim_used = max(1, min(svcca_dim, (n - 1) // 2))
    if (k_used, dim_used) != (k, svcca_dim):
        warnings.warn(f"only {n} test examples: alignment measured with k = {k_used} (asked {k}) and svcca "
                      f"dim = {dim_used} (asked {svcca_dim})", stacklevel=2)
    z1, z2 = matrices[0][-1], matrices[1][-1]
    if layer == "last":
        scores = all_scores(z1, z2, k=k_used, svcca_dim=dim_used)
    else:
        scores = best_layer_scores(*matrices, k=k_used, svcca_dim=dim_used)
    return scores, chance_levels(z1, z2, k=k_used, svcca_dim=dim_used, seed=seed)
