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
`prepare`. So `metric(prepare(z1), prepare(z2))` is the reference's number. Where the reference
approximates or guards a value, these functions compute it exactly: its CKA and CKNNA add 1e-6 to their
denominators (here: the exact ratio, NaN for 0/0), its SVCCA uses a randomised SVD and an iterative CCA
(here: full SVD and exact canonical correlations). Ties among neighbours, which the reference leaves to
`torch.topk`, go to the lower index.

All of them are 1 for identical inputs and symmetric in `z1`, `z2`, but for CKNNA, which moves slightly when
the two swap (as the reference's does). None materialises an n x n matrix (`kernels`), so n = 20,000 runs
in bounded memory. A representation that does not vary across examples (a collapsed encoder) has nothing
to align: CKA, CKNNA, SVCCA and mutual k-NN then return NaN rather than raise, so a training sweep can
record it and go on. `all_scores` computes every metric at once (linear kernels), sharing the neighbour
searches and SVDs (`summary`).
"""
from __future__ import annotations

import math

import numpy as np

from alignbook.checks import check_positive_int, fail
from alignbook.metrics import inputs, kernels
from alignbook.metrics.summary import scores, summary_pair

KERNELS = ("linear", "rbf")


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
    return inputs.clipped_unit_rows("z", z, inputs.check_quantile(clip_quantile))


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
    x1, x2 = inputs.pair(z1, z2)
    k = inputs.check_k(k, x1.shape[0])
    if block_rows is not None:
        block_rows = check_positive_int("block_rows", block_rows)
    if kernels.is_constant(x1, kernels.centre(x1)) or kernels.is_constant(x2, kernels.centre(x2)):
        return float("nan")
    places = kernels.positions(kernels.neighbours(x1, k, block_rows)[0],
                               kernels.neighbours(x2, k, block_rows)[0])
    return int(np.count_nonzero(places >= 0)) / places.size


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
    x1, x2 = inputs.pair(z1, z2, min_rows=4 if unbiased else 2)
    c1, c2 = kernels.centre(x1), kernels.centre(x2)
    if kernels.is_constant(x1, c1) or kernels.is_constant(x2, c2):
        return float("nan")
    if kernel == "linear":
        if sigma is not None:
            fail("sigma", "is the RBF bandwidth and has no meaning for kernel='linear'",
                 "drop it or use kernel='rbf'")
        return kernels.linear_ckas(c1, c2, (bool(unbiased),))[0]
    if sigma is None:
        sigma1, sigma2 = kernels.median_sigma(c1), kernels.median_sigma(c2)
    else:
        sigma1, sigma2 = sigma if isinstance(sigma, (tuple, list)) and len(sigma) == 2 else (sigma, sigma)
        for value in (sigma1, sigma2):
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                    or not math.isfinite(value) or value <= 0:
                fail("sigma", f"must be a positive number or a pair of them, got {sigma!r}")
    return kernels.rbf_cka(c1, c2, float(sigma1), float(sigma2), bool(unbiased))


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
    x1, x2 = inputs.pair(z1, z2, min_rows=4)
    k = inputs.check_k(k, x1.shape[0])
    if kernels.is_constant(x1, kernels.centre(x1)) or kernels.is_constant(x2, kernels.centre(x2)):
        return float("nan")
    (knn1, sim1), (knn2, sim2) = kernels.neighbours(x1, k), kernels.neighbours(x2, k)
    cross = kernels.cross_hsic(knn1, sim1, sim2, kernels.positions(knn1, knn2))
    return kernels.ratio(cross, kernels.self_hsic(knn1, sim1), kernels.self_hsic(knn2, sim2))


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
    x1, x2 = inputs.pair(z1, z2)
    inputs.check_svcca_rows(x1.shape[0], dim, x1.shape[1], x2.shape[1])
    c1, c2 = kernels.centre(x1), kernels.centre(x2)
    if kernels.is_constant(x1, c1) or kernels.is_constant(x2, c2):
        return float("nan")
    standardise = bool(standardise)
    return kernels.svcca_from_bases(kernels.svcca_basis(kernels.svcca_input(c1, standardise), dim),
                                    kernels.svcca_basis(kernels.svcca_input(c2, standardise), dim))


def all_scores(z1, z2, k: int = 10, svcca_dim: int = 10, summaries=None) -> dict[str, float]:
    """Every metric of METRICS between z1 and z2 as given (linear kernels), sharing neighbour searches, SVDs.

    Equal to calling `mutual_knn(z1, z2, k)`, `cka(z1, z2)`, `cka(z1, z2, unbiased=True)`, `cknna(z1, z2, k)`
    and `svcca(z1, z2, svcca_dim)`. `summaries` (a `Summaries`) keeps the two representations' neighbour
    searches and SVDs for later calls on them, such as `chance_levels`; by default this call makes its own.
    """
    return scores(*summary_pair(z1, z2, k, svcca_dim, summaries))
