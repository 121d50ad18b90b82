"""The probe-based proxy of the decomposition: the one linear probe, information bounds, their split."""

import math

import numpy as np
import pytest

from alignbook.data import from_arrays
from alignbook.info import proxy


def _paired(n=300, seed=0, shared=True):
    """x1 sees the label; x2 sees it too (shared) or is pure noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x1 = np.eye(3)[y] * 3 + rng.normal(size=(n, 3))
    x2 = (np.eye(3)[y] * 3 if shared else 0) + rng.normal(size=(n, 3))
    return from_arrays(x1, x2, y, seed=seed, name="toy")


def test_the_logistic_probe_is_scikit_learns_on_standardised_features():
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    dataset = _paired(shared=False)
    x, y, x_test = dataset.train.x1, dataset.train.y, dataset.test.x1
    scaler = StandardScaler().fit(x)
    reference = LogisticRegression(C=0.5, max_iter=2000).fit(scaler.transform(x), y)
    probe = proxy.linear_probe(x, y, "logistic", 0.5)
    assert np.array_equal(probe.predict_proba(x_test), reference.predict_proba(scaler.transform(x_test)))


def test_the_ridge_probe_decides_as_scikit_learns_ridge_classifier_for_each_bit():
    from sklearn.linear_model import RidgeClassifier
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(2)
    z = rng.normal(size=(400, 5))
    bits = (z[:, :3] + rng.normal(size=(400, 3)) > 0).astype(int)
    probe = proxy.linear_probe(z[:200], 2.0 * bits[:200] - 1, "ridge", 3.0)
    predicted = probe.predict(z[200:]) > 0
    scaler = StandardScaler().fit(z[:200])
    for k in range(3):  # one solve for all bits, the same decisions as one classifier per bit
        single = RidgeClassifier(alpha=3.0).fit(scaler.transform(z[:200]), bits[:200, k])
        assert np.array_equal(predicted[:, k], single.predict(scaler.transform(z[200:])) == 1)


def test_linear_probe_refuses_unknown_models_and_strengths():
    x, y = np.zeros((4, 1)), np.arange(4) % 2
    with pytest.raises(ValueError, match="^model: must be one of"):
        proxy.linear_probe(x, y, "tree")
    with pytest.raises(ValueError, match="^strength:"):
        proxy.linear_probe(x, y, "logistic", 0.0)


def test_mmi_decomposition_adds_up():
    parts = proxy.mmi_decomposition(1.0, 0.4, 1.2)
    assert parts["R"] == 0.4 and parts["U1"] == pytest.approx(0.6) and parts["U2"] == 0.0
    assert parts["S"] == pytest.approx(0.2)
    assert parts["shared"] == pytest.approx(0.4 / 1.2) and parts["shared2"] == 1.0
    assert math.isnan(proxy.mmi_decomposition(0.0, 0.0, 0.0)["shared"])
    with pytest.raises(ValueError, match="i1/i2/i12"):
        proxy.mmi_decomposition(-1.0, 0.0, 0.0)


def test_probe_information_sees_shared_and_missing_information():
    shared = proxy.probe_information(_paired(shared=True))
    assert shared["acc1"] > 0.8 and shared["acc2"] > 0.8 and shared["shared"] > 0.7
    noise = proxy.probe_information(_paired(shared=False))
    assert noise["acc1"] > 0.8 and noise["acc2"] < 0.6
    assert noise["I2"] < 0.1 * noise["I1"] and noise["shared"] < 0.1
    again = proxy.probe_information(_paired(shared=False))
    assert again == noise  # deterministic
    with pytest.raises(ValueError, match="^dataset: must be a PairedDataset"):
        proxy.probe_information({"train": None})


def test_probe_features_summarise_sequences():
    x = np.arange(24, dtype=float).reshape(2, 3, 4)
    features = proxy.probe_features(x)
    assert features.shape == (2, 8)
    np.testing.assert_allclose(features[0, :4], x[0].mean(axis=0))


def test_probe_information_on_a_regression_target_uses_its_sign():
    rng = np.random.default_rng(1)
    x1, x2 = rng.normal(size=(200, 2)), rng.normal(size=(200, 2))
    dataset = from_arrays(x1, x2, x1[:, 0] + 0.1 * rng.normal(size=200), task="regression")
    info = proxy.probe_information(dataset)
    assert info["acc1"] > 0.85 and info["acc2"] < 0.75


def test_encoder_information_roles_and_categories():
    info = proxy.information_table({"a": _paired(shared=True), "b": _paired(shared=False)})
    assert list(info.index) == ["a", "b"] and list(info["modality1"]) == ["x1", "x1"]
    encoders = proxy.encoder_information(info, threshold=0.9)
    b = encoders[encoders["dataset"] == "b"].set_index("encoder")
    assert b.loc[1, "role"] == "stronger" and b.loc[2, "role"] == "weaker"
    assert b.loc[1, "information"] == "much unique" and b.loc[2, "information"] == "mostly shared"
    with pytest.raises(ValueError, match="^threshold:"):
        proxy.encoder_information(info, threshold=1.5)
