"""Alignment metrics: exact values on hand-worked examples, invariances, chance levels and input checks."""

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
    permutation_baseline,
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
# References written from the definitions, dense and slow


def brute_mutual_knn(z1, z2, k):
    def neighbour_sets(z):
        unit = z / np.linalg.norm(z, axis=1, keepdims=True)
        similarity = unit @ unit.T
        np.fill_diagonal(similarity, -np.inf)
        return [set(row) for row in np.argsort(-similarity, axis=1, kind="stable")[:, :k]]

    return np.mean([len(a & b) / k for a, b in zip(neighbour_sets(z1), neighbour_sets(z2), strict=True)])


def brute_cknna(z1, z2, k):
    def knn_mask(z):
        unit = z / np.linalg.norm(z, axis=1, keepdims=True)
        similarity = unit @ unit.T
        np.fill_diagonal(similarity, -np.inf)
        mask = np.zeros_like(similarity, dtype=bool)
        np.put_along_axis(mask, np.argsort(-similarity, axis=1)[:, :k], True, axis=1)
        return mask

    c1, c2 = z1 - z1.mean(0), z2 - z2.mean(0)
    K, L = c1 @ c1.T, c2 @ c2.T
    m1, m2 = knn_mask(z1), knn_mask(z2)
    return np.sum(K * L * (m1 & m2)) / np.sqrt(np.sum(K**2 * m1) * np.sum(L**2 * m2))


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
    for name in ("cka", "cka_unbiased", "cka_rbf", "cka_rbf_unbiased", "cknna", "svcca"):
        assert SCORERS[name](z, z.copy()) == pytest.approx(1.0, abs=1e-10), name
    scores = all_scores(z, z.copy(), k=5, svcca_dim=4)
    assert scores["mutual_knn"] == 1.0
    assert all(scores[name] == pytest.approx(1.0, abs=1e-10) for name in METRICS)


def test_cka_invariant_to_rotation_and_isotropic_scaling():
    z1, z2 = related_pair()
    moved = 3.7 * z1 @ rotation(z1.shape[1], seed=2) + 5.0  # rotate, scale, translate
    for name in ("cka", "cka_unbiased", "cka_rbf", "cka_rbf_unbiased", "svcca"):
        assert SCORERS[name](moved, z2) == pytest.approx(SCORERS[name](z1, z2), abs=1e-10), name


def test_neighbour_metrics_invariant_to_rotation_and_scaling():
    # Cosine neighbourhoods survive rotations and rescaling, not translations, so no shift here.
    z1, z2 = related_pair()
    moved = 0.2 * z1 @ rotation(z1.shape[1], seed=3)
    assert mutual_knn(moved, z2, k=5) == mutual_knn(z1, z2, k=5)
    assert cknna(moved, z2, k=5) == pytest.approx(cknna(z1, z2, k=5), abs=1e-10)


@pytest.mark.parametrize("name", sorted(SCORERS))
def test_symmetric(name):
    z1, z2 = related_pair(d1=5, d2=9)
    assert SCORERS[name](z1, z2) == pytest.approx(SCORERS[name](z2, z1), abs=1e-12)


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


def test_cknna_hand_example():
    # Both centred. k = 1 cosine neighbours:
    #   z1 = (3,1), (3,-1), (-3,1), (-3,-1):  0->1, 1->0, 2->3, 3->2;  K_01 = K_10 = K_23 = K_32 = 8
    #   z2 = (2,1), (1,2), (-2,1), (-1,-4):   0->1 (cos .8), 1->0, 2->1 (cos 0 > -.22), 3->2 (cos -.22)
    #   mutual pairs: (0,1), (1,0), (3,2);  L_01 = L_10 = 4, L_32 = -2, L_21 = 0
    #   Align(K, L) = 8*4 + 8*4 + 8*(-2) = 48;  Align(K, K) = 4 * 8^2 = 256
    #   Align(L, L) = L_01^2 + L_10^2 + L_21^2 + L_32^2 = 16 + 16 + 0 + 4 = 36
    # CKNNA = 48 / sqrt(256 * 36) = 0.5 (and mutual_knn = 3/4).
    z1 = np.array([[3.0, 1.0], [3.0, -1.0], [-3.0, 1.0], [-3.0, -1.0]])
    z2 = np.array([[2.0, 1.0], [1.0, 2.0], [-2.0, 1.0], [-1.0, -4.0]])
    assert cknna(z1, z2, k=1) == pytest.approx(0.5, abs=1e-12)
    assert mutual_knn(z1, z2, k=1) == 0.75


def test_svcca_hand_examples():
    # One direction each: SVCCA is |Pearson correlation| = 4/5 (see the CKA example).
    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([[0.0], [1.0], [3.0], [2.0]])
    assert svcca(x, y, dim=1) == pytest.approx(0.8, abs=1e-12)
    # X has orthogonal centred columns u = (-3,-1,1,3) (|u|^2 = 20) and v = (1,-1,-1,1) (|v|^2 = 4);
    # w = u + 2v = (-1,-3,-1,5), |w|^2 = 36. dim=1 keeps u only: corr(u, w) = 20 / (sqrt(20) 6) = sqrt(20)/6.
    # dim=2 keeps u and v, whose span contains w: one canonical correlation (min of 2 and 1 directions), 1.
    u, v = np.array([-3.0, -1.0, 1.0, 3.0]), np.array([1.0, -1.0, -1.0, 1.0])
    X, w = np.stack([u, v], axis=1), (u + 2 * v)[:, None]
    assert svcca(X, w, dim=1) == pytest.approx(math.sqrt(20) / 6, abs=1e-12)
    assert svcca(X, w, dim=2) == pytest.approx(1.0, abs=1e-12)


# ----------------------------------------------------------------------------------------------------------
# Against dense references


@pytest.mark.parametrize("block_rows", [1, 7, 64, None])
def test_chunked_mutual_knn_matches_brute_force(block_rows):
    z1, z2 = related_pair(n=300)
    expected = brute_mutual_knn(z1, z2, 7)
    assert mutual_knn(z1, z2, k=7, block_rows=block_rows) == pytest.approx(expected, abs=1e-15)


def test_cknna_matches_dense_definition():
    z1, z2 = related_pair(n=200)
    assert cknna(z1, z2, k=6) == pytest.approx(brute_cknna(z1, z2, 6), abs=1e-12)


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
    layers2 = [2.0 * z @ rotation(6, seed=9), gaussian(150, 4, seed=10), np.zeros((150, 3))]
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
