"""The blocked computations behind the metrics (`metrics.kernels`), each against a dense reference:
neighbour search in any blocking, its tie rule, RBF kernels in any blocking, neighbour positions, the
sparse unbiased HSIC and linear CKA in feature space."""

from __future__ import annotations

import math

import numpy as np
import pytest
from metric_references import (
    biased_cka_from_grams,
    integer_rows,
    rbf_gram,
    ref_cka,
    ref_hsic_unbiased,
    ref_knn_mask,
    ref_mutual_knn,
    related_pair,
)

from alignbook.metrics import cka, kernels, mutual_knn


@pytest.mark.parametrize("block_rows", [1, 7, 64, None])
def test_blocked_neighbour_search_matches_the_dense_masks(block_rows):
    z = integer_rows(100, 4, seed=9, duplicates=30)  # tied similarities everywhere
    for k in (1, 6, 99):
        indices, values = kernels.neighbours(z, k, block_rows)
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
    assert set(kernels.neighbours(z, 2)[0][0]) == {1, 2}
    assert kernels.neighbours(z, 1)[0][:4, 0].tolist() == [1, 2, 1, 1]


def test_rbf_cka_matches_dense_grams_in_any_blocking():
    z1, z2 = related_pair(n=60)
    c1, c2 = z1 - z1.mean(0), z2 - z2.mean(0)
    expected = biased_cka_from_grams(rbf_gram(z1, 2.0), rbf_gram(z2, 3.0))
    assert cka(z1, z2, kernel="rbf", sigma=(2.0, 3.0)) == pytest.approx(expected, abs=1e-12)
    for rows in (1, 7, 60):
        blocked = kernels.rbf_cka(c1, c2, 2.0, 3.0, unbiased=False, block_rows=rows)
        assert blocked == pytest.approx(expected, abs=1e-12)
    # Median heuristic: sigma^2 = median squared distance between distinct examples.
    def sigma(z):
        return math.sqrt(np.median(((z[:, None] - z[None]) ** 2).sum(-1)[np.triu_indices(len(z), 1)]))

    expected = biased_cka_from_grams(rbf_gram(z1, sigma(z1)), rbf_gram(z2, sigma(z2)))
    assert cka(z1, z2, kernel="rbf") == pytest.approx(expected, abs=1e-12)


def test_positions_match_a_search_of_each_neighbour_list():
    rng = np.random.default_rng(15)
    n, k = 300, 12
    knn1 = np.stack([rng.choice(n, size=k, replace=False) for _ in range(n)])
    knn2 = np.stack([rng.choice(n, size=k, replace=False) for _ in range(n)])
    knn2[:40] = knn1[:40, ::-1]  # whole rows shared, in another order
    expected = np.array([[list(knn2[i]).index(j) if j in knn2[i] else -1 for j in knn1[i]] for i in range(n)])
    found = kernels.positions(knn1, knn2)
    assert np.array_equal(found, expected)
    assert np.all(found[:40] == np.arange(k)[::-1]) and (found[40:] == -1).mean() > 0.9


def test_sparse_unbiased_hsic_matches_the_dense_formula():
    # Non-symmetric matrices whose entries sit on random off-diagonal places, some with their transposed
    # entry present and some without: tr(A B) must pair each entry with the transposed one.
    rng = np.random.default_rng(16)
    n = 30
    places = np.flatnonzero(~np.eye(n, dtype=bool))
    chosen = np.sort(rng.choice(places, size=200, replace=False))
    rows, cols = chosen // n, chosen % n
    a, b = rng.normal(size=200), rng.normal(size=200)
    A, B = np.zeros((n, n)), np.zeros((n, n))
    A[rows, cols], B[rows, cols] = a, b
    assert np.count_nonzero(A * B.T) > 0  # some transposed pairs exist
    expected = ref_hsic_unbiased(A, B)
    assert kernels.sparse_unbiased_hsic(n, rows, cols, a, b) == pytest.approx(expected, abs=1e-12)
    assert kernels.sparse_unbiased_hsic(n, rows[:0], cols[:0], a[:0], b[:0]) == 0.0


def test_linear_ckas_match_the_gram_matrices():
    z1, z2 = related_pair(n=70, d1=5, d2=8, seed=17)
    c1, c2 = z1 - z1.mean(0), z2 - z2.mean(0)
    biased, unbiased = kernels.linear_ckas(c1, c2, (False, True))
    assert biased == pytest.approx(ref_cka(z1, z2, unbiased=False), abs=1e-12)
    assert unbiased == pytest.approx(ref_cka(z1, z2, unbiased=True), abs=1e-12)
    assert kernels.linear_ckas(c1, c2, (True, False)) == [unbiased, biased]
