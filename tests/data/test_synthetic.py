"""The synthetic generator: exact specification, closed-form information, sampling, splits, validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alignbook import info
from alignbook.data import synthetic

# synthetic.md's reference table (nats): r -> I1, I2, I12, acc*, acc1*, acc2*
REFERENCE = {
    0: (0.3669, 0.4733, 1.1588, 0.9063, 0.5412, 0.5952),
    1: (0.3669, 0.6188, 1.1588, 0.9063, 0.5412, 0.6467),
    2: (0.4935, 0.6076, 1.1588, 0.9063, 0.5787, 0.6512),
    3: (0.4935, 0.7717, 1.1588, 0.9063, 0.5787, 0.7367),
    4: (0.7151, 0.7334, 1.1588, 0.9063, 0.6663, 0.7083),
    5: (0.7151, 0.8867, 1.1588, 0.9063, 0.6663, 0.7446),
    6: (0.9717, 0.8806, 1.1588, 0.9063, 0.7994, 0.7363),
    7: (0.9717, 1.1588, 1.1588, 0.9063, 0.7994, 0.9063),
    8: (1.1588, 1.1588, 1.1588, 0.9063, 0.9063, 0.9063),
}


@pytest.fixture(scope="module")
def dataset():
    return synthetic.make_dataset(4, depth=1, seed=0)


@pytest.mark.parametrize("r", range(9))
def test_reference_table_from_the_closed_form_joint(r):
    joint = synthetic.exact_joint(r)
    p1, p2, p12 = joint.sum(1), joint.sum(0), joint.reshape(-1, 4)
    got = (info.mutual_information(p1), info.mutual_information(p2), info.mutual_information(p12),
           info.bayes_accuracy(p12), info.bayes_accuracy(p1), info.bayes_accuracy(p2))
    assert got == pytest.approx(REFERENCE[r], abs=1e-3 * 0.51)  # the table is rounded to 4 decimals
    u1, u2 = synthetic.unique_counts(r)
    assert joint.shape == (2 ** (r + u1), 2 ** (r + u2), 4)
    assert joint.sum() == pytest.approx(1.0)


def test_bit_positions_weights_and_balancing_match_the_spec():
    model4 = synthetic.label_model(4)
    assert model4.red.tolist() == [7, 2, 1, 6]
    assert model4.uni1.tolist() == [3, 2] and model4.uni2.tolist() == [2, 3]
    assert synthetic.label_model(8).red.tolist() == [7, 2, 1, 6, 0, 4, 3, 5]
    assert (model4.u1, model4.u2) == (2, 2) and synthetic.unique_counts(0) == (4, 4)
    assert synthetic.unique_counts(7) == (0, 1)
    assert model4.W[0] == pytest.approx([0.528, 0.031, 0.665, 0.527], abs=1e-3)
    assert np.linalg.norm(model4.W, axis=1) == pytest.approx(np.ones(8))
    assert model4.balance_rounds == 16
    assert model4.p_y == pytest.approx([0.255, 0.242, 0.259, 0.245], abs=1e-3)
    assert model4.q.shape == (256, 4) and np.allclose(model4.q.sum(1), 1)
    with pytest.raises(ValueError):
        model4.q[0, 0] = 0.0  # cached tables are read-only


def test_positions_do_not_touch_the_global_rng():
    np.random.seed(123)
    expected = np.random.rand()
    np.random.seed(123)
    synthetic.label_model.cache_clear()
    synthetic.label_model(3)
    synthetic.make_dataset(3, n_samples=200, seed=1)
    assert np.random.rand() == expected
    torch.manual_seed(5)
    expected_torch = torch.rand(1)
    torch.manual_seed(5)
    synthetic.frozen_map(2, transform_seed=9)
    assert torch.equal(torch.rand(1), expected_torch)


def test_split_sizes_shapes_standardisation_and_metadata(dataset):
    assert [len(s) for s in (dataset.train, dataset.valid, dataset.test)] == [45875, 9830, 9831]
    assert dataset.input_shapes == ((12,), (12,))
    for x in (dataset.train.x1, dataset.train.x2):
        assert x.dtype == np.float32
        x = x.astype(np.float64)  # float32 accumulation alone is off by 1e-4 over 45,875 rows
        assert np.abs(x.mean(0)).max() < 1e-6
        assert x.std(0) == pytest.approx(np.ones(12), abs=1e-6)
    assert dataset.num_classes == 4 and dataset.task == "classification"
    assert dataset.name == "synthetic r=4 d=1"
    assert dataset.params["redundancy"] == 4 and dataset.params["depth"] == 1
    assert dataset.info["mi_x1_y"] == pytest.approx(0.7151, abs=1e-4)
    assert {"mi_x1_y", "bayes_acc_x2", "u1", "u2"} <= set(dataset.info)
    assert "pid_redundancy" not in dataset.info  # the exact PID takes seconds: exact_info(r) computes it
    # stratification: class frequencies agree across splits
    freq = [np.bincount(s.y, minlength=4) / len(s) for s in (dataset.train, dataset.valid, dataset.test)]
    assert np.abs(freq[0] - freq[1]).max() < 1e-3 and np.abs(freq[0] - freq[2]).max() < 1e-3


def test_labels_follow_the_label_model():
    """Empirical p(y | v) over many samples matches q(y | v), and labels are noisy (Bayes accuracy < 1)."""
    latents = synthetic.sample_latents(2, 200_000, seed=3)
    q = synthetic.label_model(2).q
    counts = np.zeros((256, 4))
    np.add.at(counts, (latents["v"], latents["y"]), 1)
    empirical_acc = counts.max(1).sum() / counts.sum()
    assert empirical_acc == pytest.approx(q.max(1).mean(), abs=0.005)
    assert np.bincount(latents["y"]) / 200_000 == pytest.approx(q.mean(0), abs=0.005)


def test_same_seed_same_arrays_different_seed_different_samples(dataset):
    again = synthetic.make_dataset(4, depth=1, seed=0)
    assert again.fingerprint() == dataset.fingerprint()
    other = synthetic.make_dataset(4, depth=1, n_samples=2000, seed=1)
    small = synthetic.make_dataset(4, depth=1, n_samples=2000, seed=0)
    assert not np.array_equal(other.train.x1, small.train.x1)


def test_depth_and_transform_seed_change_x2_only():
    base = synthetic.make_dataset(5, depth=1, n_samples=1000, seed=2)
    deeper = synthetic.make_dataset(5, depth=3, n_samples=1000, seed=2)
    reseeded = synthetic.make_dataset(5, depth=1, n_samples=1000, seed=2, transform_seed=1)
    assert np.array_equal(base.train.x1, deeper.train.x1) and np.array_equal(base.train.y, deeper.train.y)
    assert not np.allclose(base.train.x2, deeper.train.x2)
    assert not np.allclose(base.train.x2, reseeded.train.x2)
    layers = synthetic.frozen_map(3)
    assert sum(isinstance(m, torch.nn.Linear) for m in layers) == 4
    assert sum(isinstance(m, torch.nn.Tanh) for m in layers) == 3
    assert len(synthetic.frozen_map(0)) == 1


def test_raw_modalities_share_the_common_bits():
    """Before the map, x1 and x2 agree on the 8 shared bits; the map keeps distinct inputs distinct."""
    latents = synthetic.sample_latents(4, 500, seed=0)
    x2_raw = np.concatenate([latents["xc"], latents["xu2"]], axis=1).astype(np.float32)
    with torch.no_grad():
        mapped = synthetic.frozen_map(1)(torch.from_numpy(x2_raw)).numpy()
    assert len(np.unique(x2_raw, axis=0)) == len(np.unique(mapped.round(5), axis=0))


@pytest.mark.parametrize("r", [0, 3, 5, 7])
def test_exact_pid_identities(r):
    values = synthetic.exact_info(r)
    parts = [values[f"pid_{k}"] for k in ("redundancy", "unique1", "unique2", "synergy")]
    assert sum(parts) == pytest.approx(values["mi_x1x2_y"], abs=1e-6)
    assert parts[0] + parts[1] == pytest.approx(values["mi_x1_y"], abs=1e-6)
    assert parts[0] + parts[2] == pytest.approx(values["mi_x2_y"], abs=1e-6)
    assert min(parts) > -1e-5 and values["pid_gap"] <= 1e-5
    assert (values["u1"], values["u2"]) == synthetic.unique_counts(r)


def test_exact_pid_values():
    """Regression values (nats) from the certified solver; at r = 8 everything is redundant."""
    assert synthetic.exact_info(0)["pid_synergy"] == pytest.approx(0.59142, abs=1e-4)
    assert synthetic.exact_info(3)["pid_redundancy"] == pytest.approx(0.38393, abs=1e-4)
    top = synthetic.exact_info(8)
    assert top["pid_redundancy"] == pytest.approx(top["mi_x1x2_y"], abs=1e-9)
    assert top["pid_synergy"] == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("kwargs, param", [
    ({"redundancy": 9}, "redundancy"), ({"redundancy": -1}, "redundancy"),
    ({"redundancy": 2.0}, "redundancy"),
    ({"redundancy": 2, "depth": -1}, "depth"), ({"redundancy": 2, "n_samples": 5}, "n_samples"),
    ({"redundancy": 2, "seed": -3}, "seed"), ({"redundancy": 2, "split": (0.5, 0.5, 0.5)}, "split"),
    ({"redundancy": 2, "transform_seed": "a"}, "transform_seed"),
])
def test_bad_arguments_name_the_parameter(kwargs, param):
    with pytest.raises(ValueError, match=param):
        synthetic.make_dataset(**kwargs)


def test_exact_functions_validate_redundancy():
    for call in (synthetic.exact_joint, synthetic.exact_info, synthetic.label_model):
        with pytest.raises(ValueError, match="redundancy"):
            call(12)


# ------------------------------------------------------------------------------------------ labelled-set size


@pytest.fixture(scope="module")
def by_n_train():
    return {n: synthetic.make_dataset(6, depth=2, n_samples=4000, seed=3, n_train=n)
            for n in (4, 37, 500, None)}


def test_n_train_keeps_exactly_that_many_stratified_examples(by_n_train):
    full = by_n_train[None]
    frequency = np.bincount(full.train.y, minlength=4) / len(full.train)
    for n in (4, 37, 500):
        dataset = by_n_train[n]
        assert len(dataset.train) == n and dataset.params["n_train"] == n
        assert np.abs(np.bincount(dataset.train.y, minlength=4) - n * frequency).max() < 1
    assert np.bincount(by_n_train[4].train.y).tolist() == [1, 1, 1, 1]
    assert "n_train" not in full.params and by_n_train[37].name.endswith("n_train=37")


def test_n_train_keeps_validation_and_test_arrays_and_nests_training_sets(by_n_train):
    full = by_n_train[None]
    rows = {tuple(row) for row in np.column_stack([full.train.x1, full.train.x2])}
    previous: set = set()
    for n in (4, 37, 500):
        dataset = by_n_train[n]
        for split in ("valid", "test"):
            for array in ("x1", "x2", "y"):
                assert np.array_equal(getattr(dataset.splits[split], array),
                                      getattr(full.splits[split], array))
        kept = {tuple(row) for row in np.column_stack([dataset.train.x1, dataset.train.x2])}
        assert kept <= rows and previous <= kept  # a subset of the training split, nested as n grows
        previous = kept
    every = synthetic.make_dataset(6, depth=2, n_samples=4000, seed=3, n_train=len(full.train))
    assert every.fingerprint() == full.fingerprint()  # all of the training split is the training split


@pytest.mark.parametrize("n_train, match", [
    (45876, "n_train: is 45876 but the training split holds only 45875"),
    (3, r"n_train: must be at least the number of classes \(4\)"),
    (0, "n_train: must be at least"),
    (300.0, "n_train: must be an integer"),
    ("300", "n_train: must be an integer"),
    (True, "n_train: must be an integer"),
])
def test_bad_n_train_is_refused_before_sampling(n_train, match, monkeypatch):
    monkeypatch.setattr(synthetic, "sample_latents", lambda *a: pytest.fail("sampled before validating"))
    with pytest.raises(ValueError, match=match):
        synthetic.make_dataset(4, n_train=n_train)


def test_latents_are_the_bits_behind_each_example(by_n_train):
    dataset = by_n_train[37]
    for split in ("train", "test"):
        bits = synthetic.latents(dataset, split)
        x1_raw = np.concatenate([bits["xc"], bits["xu1"]], axis=1).astype(np.float64)
        # modality 1 is the identity map of its bits, z-scored: the sign of each feature is its bit
        assert np.array_equal(dataset.splits[split].x1 > 0, x1_raw > 0.5)
        assert np.array_equal(bits["y"], dataset.splits[split].y)
    roles = synthetic.bit_roles(4)
    assert list(roles) == list(synthetic.LATENT_NAMES)
    in_label = [name for name, role in roles.items() if role.endswith(", in label")]
    assert in_label == ["xc1", "xc2", "xc6", "xc7", "xu1_2", "xu1_3", "xu2_2", "xu2_3"]  # red [7, 2, 1, 6]
    assert sum(role.endswith(", in label") for role in synthetic.bit_roles(8).values()) == 8
    with pytest.raises(ValueError, match="dataset: has no synthetic parameters"):
        synthetic.latents(object())
    with pytest.raises(ValueError, match="split: must be"):
        synthetic.latents(dataset, "validation")


def test_n_valid_keeps_a_stratified_nested_part_of_the_validation_split(by_n_train):
    full = by_n_train[37]
    small, larger = (synthetic.make_dataset(6, depth=2, n_samples=4000, seed=3, n_train=37, n_valid=n)
                     for n in (40, 120))
    assert len(small.valid) == 40 and np.bincount(small.valid.y).tolist() == [10, 10, 10, 10]
    assert small.params["n_valid"] == 40 and small.name.endswith("n_train=37 n_valid=40")
    for split in ("train", "test"):  # only the validation split changes
        assert np.array_equal(small.splits[split].x2, full.splits[split].x2)

    def rows(split):
        return {tuple(row) for row in np.column_stack([split.x1, split.x2])}

    assert rows(small.valid) <= rows(larger.valid) <= rows(full.valid)
    assert np.array_equal(synthetic.latents(small, "valid")["y"], small.valid.y)
    with pytest.raises(ValueError, match=r"^n_valid: must be in 4\.\.600"):
        synthetic.make_dataset(6, n_samples=4000, n_valid=601)
