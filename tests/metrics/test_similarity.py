"""The alignment metrics (`metrics.similarity`): identical inputs, invariances, symmetry, hand-worked
examples, the dense transcriptions of the reference's formulas, and collapsed representations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from metric_references import (
    CASES,
    SCORERS,
    angles,
    gaussian,
    hsic_u_statistic,
    rbf_gram,
    ref_cka,
    ref_cknna,
    ref_mutual_knn,
    ref_prepare,
    ref_svcca,
    related_pair,
    rotation,
)

from alignbook.metrics import METRICS, all_scores, chance_level, cka, cknna, mutual_knn, prepare, svcca

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


def test_unbiased_cka_matches_u_statistic():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(6, 3)) + 4.0, rng.normal(size=(6, 2)) - 2.0  # off-centre on purpose
    K, L = x @ x.T, y @ y.T
    expected = hsic_u_statistic(K, L) / math.sqrt(hsic_u_statistic(K, K) * hsic_u_statistic(L, L))
    assert cka(x, y, unbiased=True) == pytest.approx(expected, abs=1e-12)
    K, L = rbf_gram(x, 1.3), rbf_gram(y, 0.7)
    expected = hsic_u_statistic(K, L) / math.sqrt(hsic_u_statistic(K, K) * hsic_u_statistic(L, L))
    assert cka(x, y, unbiased=True, kernel="rbf", sigma=(1.3, 0.7)) == pytest.approx(expected, abs=1e-12)


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
# Collapsed representations


def test_constant_representation_gives_nan():
    z = gaussian(30, 3, seed=11)
    constant = np.ones((30, 2))
    for name, scorer in SCORERS.items():
        assert math.isnan(scorer(z, constant)), name
    assert all(math.isnan(value) for value in all_scores(z, constant, k=5, svcca_dim=2).values())
