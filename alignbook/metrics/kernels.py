"""The computations behind the metrics, in bounded memory: blocked neighbour search, HSIC from a few
statistics, SVCCA's bases.

None of them materialises an n x n matrix, so n = 20,000 examples run in bounded memory: similarities and
kernel values are formed a block of rows at a time (about 32 MB each) and reduced at once, and the kernels
restricted to neighbour pairs are held as their O(n k) entries. That is why they are written by hand rather
than as the dense formulas of the reference; each is checked against a dense transcription of those formulas
(`tests/metrics/test_metric_kernels.py`). The O(n^2) work runs in torch; the O(n d^2) remainder in numpy,
whose small BLAS calls stay fast even on a busy machine. Every function takes checked float64 arrays
(`inputs`) and trusts them.
"""

from __future__ import annotations

import math

import numpy as np
import torch

# Entries of an n x n matrix (similarities or kernel values) held at once: 2**22 float64 values = 32 MB,
# so a few such blocks alive together stay far below 1 GB whatever n is.
_BLOCK_ENTRIES = 2**22
# Rows used by the median heuristic of the RBF bandwidth: 2000 rows give ~2 million pairwise distances,
# plenty for a median, at a fixed cost however large n is.
_MEDIAN_ROWS = 2000
# A representation whose centred norm is below this fraction of its norm is treated as constant.
_CONSTANT_RTOL = 1e-12
# The reference's SVCCA adds this to each feature's standard deviation (constant features stay 0,
# near-constant ones are damped).
_STD_OFFSET = 1e-8


def centre(x: np.ndarray) -> np.ndarray:
    """`x` minus the mean of each feature."""
    return x - x.mean(axis=0)


def is_constant(x: np.ndarray, centred: np.ndarray) -> bool:
    """Whether `x` (and `centred`, x centred) does not vary across examples, up to rounding."""
    return bool(np.linalg.norm(centred) <= _CONSTANT_RTOL * np.linalg.norm(x))


def rows_per_block(n: int, block_rows: int | None) -> int:
    """`block_rows`, or by default as many rows of an n x n matrix as fit in about 32 MB."""
    return block_rows if block_rows is not None else max(1, min(n, _BLOCK_ENTRIES // n))


def neighbours(x: np.ndarray, k: int, block_rows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
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
    rows = rows_per_block(n, block_rows)
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


def positions(knn1: np.ndarray, knn2: np.ndarray) -> np.ndarray:
    """(n, k): where neighbour `knn1[i, a]` of example i stands in its neighbour list `knn2[i]`, -1 if absent.

    A block of rows at a time writes each row's `knn2` positions (plus one, so that the zeroed table means
    absent) into a (rows, n) table and reads it at `knn1`: O(n k) work beyond allocating the table.
    """
    n, k = knn1.shape
    rows = rows_per_block(n, None)
    table = np.zeros((rows, n), dtype=np.min_scalar_type(k))  # small: cheap to allocate and to clear
    places = np.broadcast_to(np.arange(1, k + 1, dtype=table.dtype), (rows, k))
    found = np.empty(knn1.shape, dtype=np.int32)
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        local = np.arange(stop - start)[:, None]
        table[local, knn2[start:stop]] = places[: stop - start]
        found[start:stop] = table[local, knn1[start:stop]]
        table[local, knn2[start:stop]] = 0  # clear only what was written
    return found - 1


def ratio(cross: float, self1: float, self2: float) -> float:
    """cross / sqrt(self1 * self2), NaN when either self-similarity is not positive (nothing to compare)."""
    if not (self1 > 0 and self2 > 0):
        return float("nan")
    return float(cross / math.sqrt(self1 * self2))


def hsic(s_kl: float, r_k: np.ndarray, r_l: np.ndarray, d_k: np.ndarray, d_l: np.ndarray,
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


def sparse_unbiased_hsic(n: int, rows: np.ndarray, cols: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
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


def linear_ckas(c1: np.ndarray, c2: np.ndarray, estimators: tuple[bool, ...]) -> list[float]:
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
    return [ratio(hsic(s12, r1, r2, d1, d2, unbiased), hsic(s11, r1, r1, d1, d1, unbiased),
                  hsic(s22, r2, r2, d2, d2, unbiased)) for unbiased in estimators]


def _sq_distances(rows: torch.Tensor, x_t: torch.Tensor, sq_rows: torch.Tensor,
                  sq_x: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances between `rows` and every row of x (given transposed)."""
    return (sq_rows[:, None] + sq_x[None, :] - 2.0 * (rows @ x_t)).clamp_min_(0.0)


def median_sigma(c: np.ndarray) -> float:
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


def rbf_cka(c1: np.ndarray, c2: np.ndarray, sigma1: float, sigma2: float, unbiased: bool,
            block_rows: int | None = None) -> float:
    """RBF CKA of centred features, k(x, y) = exp(-||x - y||^2 / (2 sigma^2)), kernel matrices formed
    `block_rows` rows at a time (default: about 32 MB worth) and reduced to the statistics `hsic` needs."""
    n = c1.shape[0]
    rows = rows_per_block(n, block_rows)
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
    return ratio(hsic(s12, r1, r2, ones, ones, unbiased), hsic(s11, r1, r1, ones, ones, unbiased),
                 hsic(s22, r2, r2, ones, ones, unbiased))


def self_hsic(knn: np.ndarray, similarities: np.ndarray) -> float:
    """CKNNA's HSIC of one space with itself: the kernel restricted to that space's own neighbour relation
    (`knn` and `similarities` as `neighbours` returns them)."""
    n, k = knn.shape
    rows = np.repeat(np.arange(n), k)
    return sparse_unbiased_hsic(n, rows, knn.ravel(), similarities.ravel(), similarities.ravel())


def cross_hsic(knn1: np.ndarray, similarities1: np.ndarray, similarities2: np.ndarray,
               places: np.ndarray) -> float:
    """CKNNA's HSIC between the spaces: both kernels restricted to pairs (i, j) with j a neighbour of i in
    both. `places` (from `positions`) says where each neighbour of space 1 stands among those of space 2,
    so L_ij is read from space 2's own neighbour similarities."""
    mutual = places >= 0
    rows = np.nonzero(mutual)[0]  # row-major, as boolean indexing orders the entries
    return sparse_unbiased_hsic(len(knn1), rows, knn1[mutual], similarities1[mutual],
                                similarities2[rows, places[mutual]])


def svcca_input(centred: np.ndarray, standardise: bool) -> np.ndarray:
    """What SVCCA decomposes: the centred features, standardised as the reference does when asked."""
    # The reference divides each centred feature by its standard deviation (n - 1 denominator) plus 1e-8.
    if not standardise:
        return centred
    return centred / (centred.std(axis=0, ddof=1) + _STD_OFFSET)


def svcca_basis(data: np.ndarray, dim: int) -> np.ndarray:
    """Orthonormal basis (n, r) of the top r = min(dim, d, rank) left singular directions of centred data.

    Directions with singular value below the usual rank tolerance (s_max * max(n, d) * eps) are dropped: their
    singular vectors are numerical noise and would add spurious canonical correlations.
    """
    u, s, _ = np.linalg.svd(data, full_matrices=False)
    tolerance = s[0] * max(data.shape) * np.finfo(data.dtype).eps
    keep = min(dim, int(np.sum(s > tolerance)))
    return u[:, :keep]


def svcca_from_bases(u1: np.ndarray, u2: np.ndarray) -> float:
    """SVCCA from the two `svcca_basis` results: the mean canonical correlation, NaN if either is empty."""
    # CCA of X1 = U1 S1 and X2 = U2 S2: whitening each leaves U1, U2, so the canonical correlations are
    # the singular values of U1^T U2 (cosines of the principal angles), min(r1, r2) of them.
    if u1.shape[1] == 0 or u2.shape[1] == 0:
        return float("nan")
    correlations = np.clip(np.linalg.svd(u1.T @ u2, compute_uv=False), 0.0, 1.0)
    return float(correlations.mean())

