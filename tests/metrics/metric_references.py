"""Shared by the metric tests: example representations and dense, slow transcriptions of the reference
implementation's formulas (Huh et al. 2024, platonic-rep), against which the blocked computations are
checked. Not a test module."""

from __future__ import annotations

import itertools
import math

import numpy as np

from alignbook.metrics import cka, cknna, mutual_knn, svcca

# Every metric as a function of (z1, z2), with small-sample settings.
SCORERS = {
    "mutual_knn": lambda a, b: mutual_knn(a, b, k=5),
    "cka": cka,
    "cka_unbiased": lambda a, b: cka(a, b, unbiased=True),
    "cka_rbf": lambda a, b: cka(a, b, kernel="rbf"),
    "cka_rbf_unbiased": lambda a, b: cka(a, b, kernel="rbf", unbiased=True),
    "cknna": lambda a, b: cknna(a, b, k=5),
    "svcca": lambda a, b: svcca(a, b, dim=4),
    "svcca_centred": lambda a, b: svcca(a, b, dim=4, standardise=False),
}


def gaussian(n, d, seed):
    return np.random.default_rng(seed).normal(size=(n, d))


def related_pair(n=150, d1=6, d2=9, seed=0):
    """Two noisy linear views of one latent: aligned, but far from identical."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n, 4))
    z1 = latent @ rng.normal(size=(4, d1)) + 0.5 * rng.normal(size=(n, d1))
    z2 = latent @ rng.normal(size=(4, d2)) + 0.5 * rng.normal(size=(n, d2))
    return z1, z2


def rotation(d, seed):
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    return q


def angles(*degrees):
    radians = np.deg2rad(degrees)
    return np.stack([np.cos(radians), np.sin(radians)], axis=1)


# ----------------------------------------------------------------------------------------------------------
# Transcriptions of the reference implementation's formulas, dense and slow: every n x n matrix is formed,
# nothing is blocked, centred in feature space or read off a neighbour list.


def ref_prepare(z, q=0.95):
    """Clip at the q-quantile of |z| taken without interpolation (sorted |z| at index floor(q n d)), then
    divide every row by max(its L2 norm, 1e-12); q = 1 does not clip."""
    if q < 1:
        bound = np.sort(np.abs(z).ravel())[int(q * z.size)]
        z = np.clip(z, -bound, bound)
    return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)


def ref_knn_mask(z, k):
    """M_ij = 1 if j is among the k largest inner products <z_i, z_j>, j != i (diagonal at -inf); ties go to
    the lower index (a stable sort of the negated similarities)."""
    similarity = z @ z.T
    np.fill_diagonal(similarity, -np.inf)
    mask = np.zeros_like(similarity)
    np.put_along_axis(mask, np.argsort(-similarity, axis=1, kind="stable")[:, :k], 1.0, axis=1)
    return mask


def ref_hsic_unbiased(K, L):
    """Song et al. 2012, eq. 5, for any square K, L: diagonals zeroed, tr(K~ L~) = sum K~ * L~^T."""
    n = len(K)
    Kt, Lt = K - np.diag(np.diag(K)), L - np.diag(np.diag(L))
    return (np.sum(Kt * Lt.T) + Kt.sum() * Lt.sum() / ((n - 1) * (n - 2))
            - 2 * np.sum(Kt @ Lt) / (n - 2)) / (n * (n - 3))


def ref_hsic_biased(K, L):
    H = np.eye(len(K)) - 1 / len(K)
    return np.trace(K @ H @ L @ H)


def ref_cka(z1, z2, unbiased=False):
    hsic = ref_hsic_unbiased if unbiased else ref_hsic_biased
    K, L = z1 @ z1.T, z2 @ z2.T  # linear kernels of the features as given
    return hsic(K, L) / np.sqrt(hsic(K, K) * hsic(L, L))


def ref_mutual_knn(z1, z2, k):
    return np.mean(np.sum(ref_knn_mask(z1, k) * ref_knn_mask(z2, k), axis=1) / k)


def ref_cknna(z1, z2, k):
    K, L = z1 @ z1.T, z2 @ z2.T
    m1, m2 = ref_knn_mask(z1, k), ref_knn_mask(z2, k)
    m = m1 * m2
    return ref_hsic_unbiased(m * K, m * L) / np.sqrt(ref_hsic_unbiased(m1 * K, m1 * K)
                                                     * ref_hsic_unbiased(m2 * L, m2 * L))


def ref_svcca(z1, z2, dim, standardise=True):
    """Standardise (std with n - 1, plus 1e-8) or only centre, project each on its top `dim` singular
    directions, then CCA by whitening the covariances: canonical directions from the SVD of
    Sxx^-1/2 Sxy Syy^-1/2, canonical variates' correlations averaged."""
    def reduced(z):
        c = z - z.mean(axis=0)
        if standardise:
            c = c / (c.std(axis=0, ddof=1) + 1e-8)
        u, s, _ = np.linalg.svd(c)
        return u[:, :dim] * s[:dim]

    def inverse_sqrt(S):
        w, V = np.linalg.eigh(S)
        return V @ np.diag(w**-0.5) @ V.T

    x, y = reduced(z1), reduced(z2)
    wx, wy = inverse_sqrt(x.T @ x), inverse_sqrt(y.T @ y)
    U, _, Vt = np.linalg.svd(wx @ x.T @ y @ wy)
    a, b = x @ wx @ U, y @ wy @ Vt.T
    return np.mean([np.corrcoef(a[:, i], b[:, i])[0, 1] for i in range(min(x.shape[1], y.shape[1]))])


def hsic_u_statistic(K, L):
    """Unbiased HSIC as the U-statistic of Song et al. 2012, summing over tuples of distinct indices."""
    n = len(K)
    pairs = sum(K[i, j] * L[i, j] for i, j in itertools.permutations(range(n), 2)) / math.perm(n, 2)
    fours = sum(K[i, j] * L[q, r] for i, j, q, r in itertools.permutations(range(n), 4)) / math.perm(n, 4)
    threes = sum(K[i, j] * L[i, q] for i, j, q in itertools.permutations(range(n), 3)) / math.perm(n, 3)
    return pairs + fours - 2 * threes


def rbf_gram(z, sigma):
    return np.exp(-((z[:, None, :] - z[None, :, :]) ** 2).sum(-1) / (2 * sigma**2))


def biased_cka_from_grams(K, L):
    H = np.eye(len(K)) - 1 / len(K)

    def hsic(A, B):
        return np.trace(A @ H @ B @ H)

    return hsic(K, L) / np.sqrt(hsic(K, K) * hsic(L, L))


# ----------------------------------------------------------------------------------------------------------
# Inputs full of duplicate rows and tied similarities


def integer_rows(n, d, seed, duplicates):
    """Small integer entries (exact products, so ties are exact), with rows copied onto later ones."""
    rng = np.random.default_rng(seed)
    z = rng.integers(-3, 4, size=(n, d)).astype(np.float64)
    z[rng.choice(n, size=duplicates, replace=False)] = z[rng.integers(0, n, size=duplicates)]
    return z


def sign_rows(n, d, seed):
    """Entries +-1: prepare leaves them at +-1/sqrt(d) exactly for d = 4, and most similarities tie."""
    return np.random.default_rng(seed).choice([-1.0, 1.0], size=(n, d))


# (z1, z2, k): continuous, prepared, every pair, and inputs full of duplicate rows and tied similarities.
CASES = {
    "raw": lambda: (*related_pair(n=80, d1=6, d2=9, seed=1), 5),
    "prepared": lambda: (*(ref_prepare(z) for z in related_pair(n=90, d1=7, d2=5, seed=2)), 8),
    "k = n - 1": lambda: (*(ref_prepare(z) for z in related_pair(n=40, seed=3)), 39),
    "k = n - 1 raw": lambda: (*related_pair(n=30, seed=4), 29),
    "duplicate rows": lambda: (integer_rows(70, 5, seed=5, duplicates=20),
                               integer_rows(70, 4, seed=6, duplicates=25), 6),
    "duplicate prepared rows": lambda: (ref_prepare(sign_rows(60, 4, seed=7)),
                                        ref_prepare(sign_rows(60, 4, seed=8)), 7),
}
