"""Alignment metrics: dense transcriptions of the reference formulas, hand-worked examples, invariances,
chance levels and input checks."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from alignbook import metrics
from alignbook.metrics import (
    METRICS,
    all_scores,
    best_layer_scores,
    chance_level,
    chance_levels,
    cka,
    cknna,
    mutual_knn,
    pair_alignment,
    permutation_baseline,
    prepare,
    svcca,
)

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
# Transcriptions of the reference implementation's formulas (Huh et al. 2024, platonic-rep), dense and slow:
# every n x n matrix is formed, nothing is blocked, centred in feature space or read off a neighbour list.


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
# Identical inputs, invariances, symmetry


def test_identical_inputs_score_one():
    z = gaussian(120, 7, seed=1)
    assert mutual_knn(z, z.copy(), k=5) == 1.0
    for name in ("cka", "cka_unbiased", "cka_rbf", "cka_rbf_unbiased", "cknna", "svcca", "svcca_centred"):
        assert SCORERS[name](z, z.copy()) == pytest.approx(1.0, abs=1e-10), name
    scores = all_scores(z, z.copy(), k=5, svcca_dim=4)
    assert scores["mutual_knn"] == 1.0
    assert all(scores[name] == pytest.approx(1.0, abs=1e-10) for name in METRICS)


def test_cka_invariant_to_rotation_and_isotropic_scaling():
    z1, z2 = related_pair()
    moved = 3.7 * z1 @ rotation(z1.shape[1], seed=2) + 5.0  # rotate, scale, translate
    for name in ("cka", "cka_unbiased", "cka_rbf", "cka_rbf_unbiased", "svcca_centred"):
        assert SCORERS[name](moved, z2) == pytest.approx(SCORERS[name](z1, z2), abs=1e-10), name


def test_standardised_svcca_invariant_to_feature_scales_not_rotations():
    z1, z2 = related_pair()
    scaled = z1[:, ::-1] * np.array([0.5, -2.0, 3.0, 1.5, -0.7, 4.0]) + 7.0  # permute, rescale, shift
    # Invariant up to the 1e-8 the reference adds to each standard deviation (features here have std ~ 1).
    assert svcca(scaled, z2, dim=4) == pytest.approx(svcca(z1, z2, dim=4), abs=1e-7)
    rotated = z1 @ rotation(z1.shape[1], seed=2)
    assert abs(svcca(rotated, z2, dim=4) - svcca(z1, z2, dim=4)) > 1e-3


def test_neighbour_metrics_invariant_to_rotation_and_scaling():
    # Cosine neighbourhoods survive rotations and rescaling, not translations, so no shift here.
    z1, z2 = related_pair()
    moved = 0.2 * z1 @ rotation(z1.shape[1], seed=3)
    assert mutual_knn(moved, z2, k=5) == mutual_knn(z1, z2, k=5)
    assert cknna(moved, z2, k=5) == pytest.approx(cknna(z1, z2, k=5), abs=1e-10)


@pytest.mark.parametrize("name", sorted(set(SCORERS) - {"cknna"}))
def test_symmetric(name):
    z1, z2 = related_pair(d1=5, d2=9)
    assert SCORERS[name](z1, z2) == pytest.approx(SCORERS[name](z2, z1), abs=1e-12)


def test_cknna_is_nearly_but_not_exactly_symmetric():
    # 1^T A B 1 of the masked, non-symmetric kernels changes when the spaces swap; the reference's does too.
    z1, z2 = (prepare(z) for z in related_pair(d1=5, d2=9))
    forward, backward = cknna(z1, z2, k=5), cknna(z2, z1, k=5)
    assert forward == pytest.approx(ref_cknna(z1, z2, 5), abs=1e-10)
    assert backward == pytest.approx(ref_cknna(z2, z1, 5), abs=1e-10)
    assert 1e-12 < abs(forward - backward) < 1e-2


def test_scores_lie_between_chance_and_one_for_related_views():
    z1, z2 = related_pair()
    scores = all_scores(z1, z2, k=5, svcca_dim=4)
    levels = chance_levels(z1, z2, k=5, svcca_dim=4)
    for name in METRICS:
        assert levels[name] + 0.05 < scores[name] < 1.0, name


# ----------------------------------------------------------------------------------------------------------
# Unrelated inputs score near chance


def test_independent_gaussians_score_near_chance():
    n, k = 2000, 10
    z1, z2 = gaussian(n, 8, seed=4), gaussian(n, 8, seed=5)
    scores = all_scores(z1, z2, k=k, svcca_dim=8)
    chance = k / (n - 1)
    # Shared neighbours per example ~ Binomial(k, chance): the mean over n examples has this spread.
    spread = math.sqrt(chance * (1 - chance) / (k * n))
    assert abs(scores["mutual_knn"] - chance) < 5 * spread
    assert abs(scores["cka_unbiased"]) < 0.02
    assert 0 <= scores["cka"] < 0.02  # the biased estimator is positive, shrinking like d / n
    assert abs(scores["cknna"]) < 0.05
    assert scores["svcca"] < 0.1
    assert chance_level("mutual_knn", n, k) == chance


# ----------------------------------------------------------------------------------------------------------
# Hand-worked examples


def test_mutual_knn_hand_example():
    # Unit vectors at these angles (degrees); k = 1, neighbour = smallest angle:
    #   z1:  0, 10, 90, 100  ->  0->1, 1->0, 2->3, 3->2
    #   z2:  0, 10, 90, 180  ->  0->1, 1->0 (10 < 80), 2->1 (80 < 90), 3->2 (90 < 170)
    # Shared neighbour for examples 0, 1 and 3, not 2: score 3/4.
    z1, z2 = angles(0, 10, 90, 100), angles(0, 10, 90, 180)
    assert mutual_knn(z1, z2, k=1) == 0.75


def test_linear_cka_hand_examples():
    # One feature: CKA is the squared Pearson correlation. Centred x = (-3, -1, 1, 3) / 2,
    # y = (-3, -1, 3, 1) / 2: x.y = 16/4, |x|^2 = |y|^2 = 20/4, so CKA = 16^2 / 20^2 = 0.64.
    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([[0.0], [1.0], [3.0], [2.0]])
    assert cka(x, y) == pytest.approx(0.64, abs=1e-12)
    # Two features, already centred: X^T Y = diag(2, 4), X^T X = diag(2, 2), Y^T Y = diag(2, 8), so
    # CKA = (4 + 16) / sqrt((4 + 4) (4 + 64)) = 20 / sqrt(544) = 5 / sqrt(34).
    X = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    Y = np.array([[1.0, 0.0], [0.0, 2.0], [-1.0, 0.0], [0.0, -2.0]])
    assert cka(X, Y) == pytest.approx(5 / math.sqrt(34), abs=1e-12)


def test_unbiased_cka_hand_example():
    # x = (-3, -1, 1, 3), y = (-3, -1, 3, 1), K = x x^T, L = y y^T; n = 4, K~ = K with zero diagonal:
    #   tr(K~ L~) = (x.y)^2 - sum x^2 y^2 = 256 - 100 = 156
    #   1^T K~ 1 = (sum x)^2 - sum x^2 = -20 = 1^T L~ 1
    #   1^T K~ L~ 1 = sum_i x_i^2 y_i^2 = 100   (K~ 1 = -x^2 since sum x = 0)
    #   HSIC(K, L) = [156 + 400 / 6 - 2/2 * 100] / 4 = (368/3) / 4
    #   HSIC(K, K) = [(400 - 164) + 400 / 6 - 164] / 4 = (416/3) / 4 = HSIC(L, L)  (y permutes x)
    # so unbiased CKA = 368 / 416 = 23 / 26.
    x = np.array([[-3.0], [-1.0], [1.0], [3.0]])
    y = np.array([[-3.0], [-1.0], [3.0], [1.0]])
    assert cka(x, y, unbiased=True) == pytest.approx(23 / 26, abs=1e-12)


def test_cknna_with_every_pair_is_unbiased_cka():
    # k = n - 1 admits every pair (i, j), i != j: the masked kernels are the kernels, whatever the data.
    z1, z2 = related_pair(n=40)
    assert cknna(z1, z2, k=39) == pytest.approx(cka(z1, z2, unbiased=True), abs=1e-12)
    z1, z2 = prepare(z1), prepare(z2)
    assert cknna(z1, z2, k=39) == pytest.approx(cka(z1, z2, unbiased=True), abs=1e-12)


def test_svcca_hand_examples():
    # One direction each: SVCCA is |Pearson correlation| = 4/5 (see the CKA example), standardised or not.
    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([[0.0], [1.0], [3.0], [2.0]])
    assert svcca(x, y, dim=1) == pytest.approx(0.8, abs=1e-12)
    assert svcca(x, y, dim=1, standardise=False) == pytest.approx(0.8, abs=1e-12)
    # X has orthogonal centred columns u = (-3,-1,1,3) (|u|^2 = 20) and v = (1,-1,-1,1) (|v|^2 = 4);
    # w = u + 2v = (-1,-3,-1,5), |w|^2 = 36. dim=1 keeps u only: corr(u, w) = 20 / (sqrt(20) 6) = sqrt(20)/6.
    # dim=2 keeps u and v, whose span contains w: one canonical correlation (min of 2 and 1 directions), 1.
    # (Standardised, u and v would have equal norms and no top direction.)
    u, v = np.array([-3.0, -1.0, 1.0, 3.0]), np.array([1.0, -1.0, -1.0, 1.0])
    X, w = np.stack([u, v], axis=1), (u + 2 * v)[:, None]
    assert svcca(X, w, dim=1, standardise=False) == pytest.approx(math.sqrt(20) / 6, abs=1e-12)
    assert svcca(X, w, dim=2, standardise=False) == pytest.approx(1.0, abs=1e-12)
    assert svcca(X, w, dim=2) == pytest.approx(1.0, abs=1e-12)


# ----------------------------------------------------------------------------------------------------------
# Against dense references


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


@pytest.mark.parametrize("case", sorted(CASES))
def test_neighbour_metrics_match_the_transcriptions(case):
    z1, z2, k = CASES[case]()
    assert mutual_knn(z1, z2, k=k) == pytest.approx(ref_mutual_knn(z1, z2, k), abs=1e-10)
    assert cknna(z1, z2, k=k) == pytest.approx(ref_cknna(z1, z2, k), abs=1e-10)
    assert cknna(z2, z1, k=k) == pytest.approx(ref_cknna(z2, z1, k), abs=1e-10)
    scores = all_scores(z1, z2, k=k, svcca_dim=2)
    assert scores["mutual_knn"] == pytest.approx(ref_mutual_knn(z1, z2, k), abs=1e-10)
    assert scores["cknna"] == pytest.approx(ref_cknna(z1, z2, k), abs=1e-10)


@pytest.mark.parametrize("case", sorted(CASES))
def test_cka_matches_the_transcriptions(case):
    z1, z2, _ = CASES[case]()
    for unbiased in (False, True):
        assert cka(z1, z2, unbiased=unbiased) == pytest.approx(ref_cka(z1, z2, unbiased), abs=1e-10)


@pytest.mark.parametrize("case", ["raw", "prepared", "k = n - 1", "k = n - 1 raw"])
@pytest.mark.parametrize("standardise", [True, False])
def test_svcca_matches_the_transcription(case, standardise):
    # Continuous inputs only: tied singular values would leave the top directions undefined.
    z1, z2, _ = CASES[case]()
    for dim in (1, 3, 5):
        expected = ref_svcca(z1, z2, dim, standardise)
        assert svcca(z1, z2, dim=dim, standardise=standardise) == pytest.approx(expected, abs=1e-10)


def test_svcca_standardisation_matters():
    # Features of very different scales: only centring lets the large ones pick the directions.
    z1, z2 = related_pair(n=200)
    z1 = z1 * np.array([100.0, 1, 1, 1, 1, 0.01])
    assert abs(svcca(z1, z2, dim=3) - svcca(z1, z2, dim=3, standardise=False)) > 0.01


def test_prepare_matches_the_transcription():
    z = related_pair(n=50, d1=7)[0]
    z[4, 2], z[9, 0] = 40.0, -60.0  # outliers that the clip must catch
    z[7] = 0.0  # an all-zero row stays zero
    for q in (0.95, 0.5, 0.999, 1.0):
        expected = ref_prepare(z, q)
        assert np.max(np.abs(prepare(z, clip_quantile=q) - expected)) <= 1e-15
    prepared = prepare(torch.tensor(z, dtype=torch.float32))
    assert prepared.dtype == np.float64
    assert np.allclose(prepared, ref_prepare(z.astype(np.float32).astype(np.float64)), atol=1e-15)
    norms = np.linalg.norm(prepare(z), axis=1)
    assert norms[7] == 0.0 and np.allclose(np.delete(norms, 7), 1.0, atol=1e-15)
    # 95 % of the entries lie within the bound, which is one of the absolute values.
    bound = np.sort(np.abs(z).ravel())[int(0.95 * z.size)]
    assert np.mean(np.abs(z) <= bound) >= 0.95 and np.sum(np.abs(z) > bound) <= 0.05 * z.size
    # More than 95 % zeros: everything clips to zero, and the metrics have nothing to measure.
    sparse = np.zeros((40, 10))
    sparse[:10, 0] = np.arange(1.0, 11.0)
    assert np.all(prepare(sparse) == 0) and math.isnan(cka(prepare(sparse), z[:40]))


@pytest.mark.parametrize("block_rows", [1, 7, 64, None])
def test_blocked_neighbour_search_matches_the_dense_masks(block_rows):
    z = integer_rows(100, 4, seed=9, duplicates=30)  # tied similarities everywhere
    for k in (1, 6, 99):
        indices, values = metrics._neighbours(z, k, block_rows)
        mask = np.zeros((100, 100))
        np.put_along_axis(mask, indices, 1.0, axis=1)
        assert np.array_equal(mask, ref_knn_mask(z, k))
        assert np.array_equal(values, np.take_along_axis(z @ z.T, indices, axis=1))
    z1, z2 = related_pair(n=300)
    expected = ref_mutual_knn(z1, z2, 7)
    assert mutual_knn(z1, z2, k=7, block_rows=block_rows) == pytest.approx(expected, abs=1e-15)


def test_tied_neighbours_go_to_the_lower_index():
    # Rows 1, 2 and 3 are copies: to row 0 they are equally similar, and k = 2 takes rows 1 and 2; with k = 1
    # each copy takes the first of its two copies.
    z = np.array([[1.0, 0.0], [1.0, 1.0], [1.0, 1.0], [1.0, 1.0], [-1.0, 0.0]])
    assert set(metrics._neighbours(z, 2)[0][0]) == {1, 2}
    assert metrics._neighbours(z, 1)[0][:4, 0].tolist() == [1, 2, 1, 1]


def test_unbiased_cka_matches_u_statistic():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(6, 3)) + 4.0, rng.normal(size=(6, 2)) - 2.0  # off-centre on purpose
    K, L = x @ x.T, y @ y.T
    expected = hsic_u_statistic(K, L) / math.sqrt(hsic_u_statistic(K, K) * hsic_u_statistic(L, L))
    assert cka(x, y, unbiased=True) == pytest.approx(expected, abs=1e-12)
    K, L = rbf_gram(x, 1.3), rbf_gram(y, 0.7)
    expected = hsic_u_statistic(K, L) / math.sqrt(hsic_u_statistic(K, K) * hsic_u_statistic(L, L))
    assert cka(x, y, unbiased=True, kernel="rbf", sigma=(1.3, 0.7)) == pytest.approx(expected, abs=1e-12)


def test_rbf_cka_matches_dense_grams_in_any_blocking():
    z1, z2 = related_pair(n=60)
    c1, c2 = z1 - z1.mean(0), z2 - z2.mean(0)
    expected = biased_cka_from_grams(rbf_gram(z1, 2.0), rbf_gram(z2, 3.0))
    assert cka(z1, z2, kernel="rbf", sigma=(2.0, 3.0)) == pytest.approx(expected, abs=1e-12)
    for rows in (1, 7, 60):
        blocked = metrics._rbf_cka(c1, c2, 2.0, 3.0, unbiased=False, block_rows=rows)
        assert blocked == pytest.approx(expected, abs=1e-12)
    # Median heuristic: sigma^2 = median squared distance between distinct examples.
    def sigma(z):
        return math.sqrt(np.median(((z[:, None] - z[None]) ** 2).sum(-1)[np.triu_indices(len(z), 1)]))

    expected = biased_cka_from_grams(rbf_gram(z1, sigma(z1)), rbf_gram(z2, sigma(z2)))
    assert cka(z1, z2, kernel="rbf") == pytest.approx(expected, abs=1e-12)


def test_all_scores_equal_the_single_metrics():
    z1, z2 = related_pair()
    scores = all_scores(z1, z2, k=5, svcca_dim=4)
    assert set(scores) == set(METRICS)
    assert scores["mutual_knn"] == mutual_knn(z1, z2, k=5)
    assert scores["cka"] == pytest.approx(cka(z1, z2), abs=1e-14)
    assert scores["cka_unbiased"] == pytest.approx(cka(z1, z2, unbiased=True), abs=1e-14)
    assert scores["cknna"] == pytest.approx(cknna(z1, z2, k=5), abs=1e-14)
    assert scores["svcca"] == pytest.approx(svcca(z1, z2, dim=4), abs=1e-14)


def test_torch_and_numpy_inputs_agree():
    z1, z2 = related_pair()
    from_torch = all_scores(torch.tensor(z1, dtype=torch.float32), torch.tensor(z2, requires_grad=True), k=5)
    from_numpy = all_scores(z1.astype(np.float32), z2, k=5)
    assert from_torch == from_numpy
    assert all(isinstance(value, float) for value in from_torch.values())


# ----------------------------------------------------------------------------------------------------------
# Chance levels and permutation baselines


def test_chance_level_analytic_values():
    assert chance_level("mutual_knn", 101, k=10) == 0.1
    assert chance_level(mutual_knn, 101, k=10) == 0.1
    assert chance_level("cka_unbiased", 50) == 0.0
    for name in ("cka", "cknna", "svcca"):
        assert chance_level(name, 50) is None


def test_permutation_baseline_is_deterministic_for_a_seed():
    z1, z2 = related_pair()
    first = permutation_baseline("cka", z1, z2, n_permutations=4, seed=3)
    assert permutation_baseline("cka", z1, z2, n_permutations=4, seed=3) == first
    assert permutation_baseline("cka", z1, z2, n_permutations=4, seed=4) != first
    mean, std = first
    assert 0 < mean < 0.2 and std > 0
    # Extra arguments reach the metric; a function works as well as a name.
    by_function = permutation_baseline(cknna, z1, z2, seed=1, k=3)
    assert by_function == permutation_baseline("cknna", z1, z2, seed=1, k=3)


def test_chance_levels_match_permutation_baselines():
    z1, z2 = related_pair()
    levels = chance_levels(z1, z2, k=5, svcca_dim=4, seed=2)
    assert levels == chance_levels(z1, z2, k=5, svcca_dim=4, seed=2)
    assert levels["mutual_knn"] == 5 / (len(z1) - 1)
    assert levels["cka_unbiased"] == 0.0
    for name, extra in (("cka", {}), ("cknna", {"k": 5}), ("svcca", {"dim": 4})):
        mean, _ = permutation_baseline(name, z1, z2, seed=2, **extra)
        assert levels[name] == pytest.approx(mean, abs=1e-12), name


# ----------------------------------------------------------------------------------------------------------
# Layers, degenerate inputs, bad inputs


def test_best_layer_scores_finds_the_matching_pair():
    z = gaussian(150, 6, seed=7)
    layers1 = [gaussian(150, 5, seed=8), z]
    layers2 = [2.0 * z[:, ::-1], gaussian(150, 4, seed=10), np.zeros((150, 3))]
    best = best_layer_scores(layers1, layers2, k=5, svcca_dim=4)
    assert set(best) == {f"{name}{suffix}" for name in METRICS for suffix in ("", "_layer1", "_layer2")}
    for name in METRICS:
        assert (best[f"{name}_layer1"], best[f"{name}_layer2"]) == (1, 0), name
        assert best[name] == pytest.approx(1.0, abs=1e-10), name
    # A single pair of layers gives all_scores; an all-constant layer pair gives NaN everywhere.
    single = best_layer_scores([z], [layers2[1]], k=5, svcca_dim=4)
    assert {name: single[name] for name in METRICS} == all_scores(z, layers2[1], k=5, svcca_dim=4)
    assert all(math.isnan(value) for value in best_layer_scores([z], [layers2[2]], k=5, svcca_dim=2).values())


def test_constant_representation_gives_nan():
    z = gaussian(30, 3, seed=11)
    constant = np.ones((30, 2))
    for name, scorer in SCORERS.items():
        assert math.isnan(scorer(z, constant)), name
    assert all(math.isnan(value) for value in all_scores(z, constant, k=5, svcca_dim=2).values())


def test_import_has_no_global_rng_side_effects():
    state = np.random.get_state()[1].copy()
    torch_state = torch.random.get_rng_state().clone()
    z1, z2 = related_pair()
    chance_levels(z1, z2, k=5)
    permutation_baseline("svcca", z1, z2, dim=3)
    assert np.array_equal(np.random.get_state()[1], state)
    assert torch.equal(torch.random.get_rng_state(), torch_state)


@pytest.mark.parametrize("name", sorted(SCORERS))
def test_bad_inputs_raise_clear_errors(name):
    scorer = SCORERS[name]
    z = gaussian(20, 3, seed=12)
    with pytest.raises(ValueError, match="same number of rows"):
        scorer(z, z[:19])
    with_nan = z.copy()
    with_nan[3, 1] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        scorer(z, with_nan)
    with pytest.raises(ValueError, match="2-d"):
        scorer(z[:, 0], z)


def test_k_too_large_names_k():
    z = gaussian(10, 3, seed=13)
    for call in (lambda: mutual_knn(z, z, k=10), lambda: cknna(z, z, k=12), lambda: all_scores(z, z, k=10),
                 lambda: chance_level("mutual_knn", 10, k=10)):
        with pytest.raises(ValueError, match=r"^k: .*k = 1[02]"):
            call()
    with pytest.raises(ValueError, match="^k: "):
        mutual_knn(z, z, k=0)


def test_too_few_samples_and_bad_options():
    z = gaussian(12, 8, seed=14)
    with pytest.raises(ValueError, match="at least 4 examples"):
        cka(z[:3], z[:3], unbiased=True)
    with pytest.raises(ValueError, match="at least 4 examples"):
        cknna(z[:3], z[:3], k=2)
    for bad in (0, 1.5, -0.1, True, "0.9"):
        with pytest.raises(ValueError, match="^clip_quantile: "):
            prepare(z, clip_quantile=bad)
    with pytest.raises(ValueError, match="^layer: "):
        pair_alignment([z], [z], layer="first")
    with pytest.raises(ValueError, match="svcca keeps up to 8 \\+ 8 directions"):
        svcca(z, z, dim=10)
    with pytest.raises(ValueError, match="^kernel: "):
        cka(z, z, kernel="cosine")
    with pytest.raises(ValueError, match="^sigma: "):
        cka(z, z, kernel="rbf", sigma=-1.0)
    with pytest.raises(ValueError, match="^metric: "):
        permutation_baseline("procrustes", z, z)
    with pytest.raises(ValueError, match="^seed: "):
        permutation_baseline("cka", z, z, seed=-1)
    with pytest.raises(ValueError, match="layers1"):
        best_layer_scores([], [z])
