"""The learned PID estimators: cross-fitting, codes, the BATCH optimisation, the identities, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alignbook import info
from alignbook.info import learned
from alignbook.info.learned import ClassifierSettings, Variant

FAST = ClassifierSettings(hidden=16, epochs=30, max_steps=150, batch_size=128, lr=2e-2)


def copy_data(n=800, seed=0):
    """x1 and x2 both carry the 4-class label (one-hot plus noise): R = log 4, U1 = U2 = S = 0."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    x1 = np.eye(4)[y] + 0.05 * rng.normal(size=(n, 4))
    x2 = np.eye(4)[y] @ rng.normal(size=(4, 4)) + 0.05 * rng.normal(size=(n, 4))
    return x1, x2, y


def xor_data(n=1600, seed=0):
    """y = a XOR b with a in x1 and b in x2 (plus a noise feature each): S = log 2, R = U1 = U2 = 0."""
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, 2, n), rng.integers(0, 2, n)
    x1 = np.c_[a, rng.normal(size=n)].astype(float)
    x2 = np.c_[b, rng.normal(size=n)].astype(float)
    return x1, x2, a ^ b


def test_miller_madow_bias_counts_occupied_cells():
    counts = np.array([[3.0, 1.0], [2.0, 4.0]])  # 4 cells, 2 rows, 2 columns occupied: (4 - 2 - 2 + 1) / 20
    assert learned.miller_madow_bias(counts) == pytest.approx(0.05)
    assert learned.miller_madow_bias(np.array([[5.0, 0.0], [0.0, 5.0]]), n=20) == pytest.approx(-1 / 40)


def test_posterior_codes_keep_distinct_posteriors_apart():
    posteriors = np.array([[0.9, 0.1], [0.2, 0.8], [0.9, 0.1], [0.5, 0.5]])
    codes = learned.posterior_codes(posteriors, 8, seed=0)  # 3 distinct rows <= 8 codes: one code each
    assert len(set(codes)) == 3 and codes[0] == codes[2]
    many = np.random.default_rng(0).dirichlet(np.ones(3), size=200)
    assert len(set(learned.posterior_codes(many, 5, seed=0))) == 5


def test_batch_minimum_matches_the_exact_solver():
    rng = np.random.default_rng(1)
    p1, p2 = rng.dirichlet(np.ones(3), size=12), rng.dirichlet(np.ones(3), size=12)
    value, i1, i2, p_y = learned.batch_minimum(p1, p2, iterations=3000, sinkhorn_steps=10)
    a = p1 / 12 * (p_y / p1.mean(0))
    b = p2 / 12 * (p_y / p2.mean(0))
    joint = a[:, None, :] * b[None, :, :] / p_y  # any joint with these two marginals
    exact = info.pid(joint, tol=1e-5)
    assert value == pytest.approx(exact["mi_x1x2_y"] - exact["synergy"], abs=2e-4)
    assert i1 == pytest.approx(exact["mi_x1_y"], abs=1e-12)
    assert i2 == pytest.approx(exact["mi_x2_y"], abs=1e-12)


def test_crossfit_posteriors_never_see_the_rows_they_predict(one_thread):
    x1, x2, y = copy_data(400)
    folds = learned.stratified_folds(y, 4, seed=0)
    before = learned.crossfit_posteriors(x1, x2, y, folds, FAST, seed=3)
    flipped = y.copy()
    flipped[folds == 0] = (flipped[folds == 0] + 1) % 4  # labels only fold 0's own classifiers never see
    after = learned.crossfit_posteriors(x1, x2, flipped, folds, FAST, seed=3)
    assert np.array_equal(before[:, folds == 0], after[:, folds == 0])
    assert not np.allclose(before[:, folds == 1], after[:, folds == 1])  # the others were trained on them


def test_stratified_folds_balance_classes():
    y = np.repeat([0, 1, 2], [50, 30, 20])
    folds = learned.stratified_folds(y, 5, seed=2)
    for f in range(5):
        assert np.bincount(y[folds == f]).tolist() == [10, 6, 4]


@pytest.mark.parametrize("variant", [Variant("codes", "none"), Variant("codes", "miller-madow"),
                                     Variant("codes", "split"), Variant("batch")], ids=lambda v: v.name)
def test_copy_labels_are_all_redundancy(variant, one_thread):
    x1, x2, y = copy_data()
    estimate = learned.learned_pids(x1, x2, y, [variant], n_folds=4, n_codes=8, n_joint_codes=8,
                                    batch_atoms=64, classifier=FAST)[variant.name]
    point = estimate.point
    assert point["redundancy"] == pytest.approx(math.log(4), abs=0.08)
    for part in ("unique1", "unique2", "synergy"):
        assert abs(point[part]) < 0.08
    # the identities hold in every fold, not only on average
    r, u1, u2, s, i1, i2, i12 = estimate.folds.T
    assert np.allclose(r + u1, i1) and np.allclose(r + u2, i2) and np.allclose(r + u1 + u2 + s, i12)
    low, high = estimate.interval["redundancy"]
    assert low <= point["redundancy"] <= high


def test_xor_is_synergy_and_estimate_pid_dispatches(one_thread):
    x1, x2, y = xor_data()
    estimate = info.estimate_pid(x1, x2, y, method="codes", n_folds=4, n_codes=8, n_joint_codes=8,
                                 classifier=FAST, seed=1)
    assert estimate.point["synergy"] == pytest.approx(math.log(2), abs=0.08)
    for part in ("redundancy", "unique1", "unique2"):
        assert abs(estimate.point[part]) < 0.05
    assert estimate.settings["method"] == "codes" and estimate.bootstrap.shape == (4, 7)


def test_same_seed_same_estimate_other_seed_other_folds(one_thread):
    x1, x2, y = copy_data(400)
    options = dict(variants=[Variant("codes", "none")], n_folds=3, n_codes=4, n_joint_codes=4,
                   classifier=FAST)
    first = learned.learned_pids(x1, x2, y, seed=5, **options)["codes/none"]
    again = learned.learned_pids(x1, x2, y, seed=5, **options)["codes/none"]
    other = learned.learned_pids(x1, x2, y, seed=6, **options)["codes/none"]
    assert np.array_equal(first.folds, again.folds)
    assert not np.array_equal(first.folds, other.folds)


@pytest.mark.parametrize("change, param", [
    (lambda x1, x2, y: (x1[:-1], x2, y), "x1/x2/y"),
    (lambda x1, x2, y: (x1, x2, np.zeros_like(y)), "y"),
    (lambda x1, x2, y: (np.ones_like(x1), x2, y), "x1"),
    (lambda x1, x2, y: (x1, np.full_like(x2, 3.0), y), "x2"),
    (lambda x1, x2, y: (x1, x2 * np.nan, y), "x2"),
    (lambda x1, x2, y: (x1, x2, y[:, None]), "y"),
])
def test_bad_data_is_refused_by_name(change, param):
    x1, x2, y = change(*copy_data(200))
    with pytest.raises(ValueError, match=f"^{param}:"):
        learned.learned_pids(x1, x2, y, classifier=FAST)


@pytest.mark.parametrize("options, param", [
    (dict(n_codes=32), "n_codes"),  # 200 rows in 5 folds: 40 per fold, fewer than 5 per code
    (dict(variants=[Variant("batch")], batch_atoms=64), "batch_atoms"),
    (dict(n_folds=1), "n_folds"),
    (dict(ci=1.5), "ci"),
    (dict(variants=Variant()), "variants"),
    (dict(classifier={"hidden": 8}), "classifier"),
])
def test_bad_settings_are_refused_by_name(options, param):
    with pytest.raises(ValueError, match=f"^{param}:"):
        learned.learned_pids(*copy_data(200), **{"classifier": FAST, **options})


def test_bad_variants_and_options_are_refused_by_name():
    with pytest.raises(ValueError, match="^method:"):
        Variant("mine")
    with pytest.raises(ValueError, match="^bias_correction:"):
        Variant("batch", "split")
    with pytest.raises(ValueError, match="^hidden:"):
        ClassifierSettings(hidden=0)
    with pytest.raises(ValueError, match="^method:"):
        info.estimate_pid(*copy_data(200), method="pca")
    with pytest.raises(ValueError, match="^n_folds: is not an option of method='kmeans'"):
        info.estimate_pid(*copy_data(200), method="kmeans", n_folds=3)
    with pytest.raises(ValueError, match="^bias_correction, n_clusters:"):
        info.estimate_pid(*copy_data(200), method="batch", n_clusters=3, bias_correction="split")
    assert info.DEFAULT_METHOD in info.PID_METHODS
    with pytest.raises(ValueError, match="^y:"):
        learned.stratified_folds(np.array([0, 0, 0, 1]), 2, seed=0)
