"""The regime map's probes of representations and its sensitivity study, on small constructed inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alignbook.chapters import regime_mechanism, studies
from alignbook.data import synthetic


def test_probe_roles_say_what_each_bit_is_to_each_encoder():
    roles1, roles2 = regime_mechanism.probe_roles(4, 1), regime_mechanism.probe_roles(4, 2)
    assert roles1["xc7"] == roles2["xc7"] == "shared, in label"
    assert roles1["xc0"] == "shared, not in label"
    assert roles1["xu1_2"] == "own unique, in label" and roles1["xu1_0"] == "own unique, not in label"
    assert roles1["xu2_3"] == "other's unique" and roles2["xu1_3"] == "other's unique"
    assert roles2["xu2_3"] == "own unique, in label"


def test_probe_rows_read_the_bits_an_encoder_holds_and_nothing_else():
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2, size=(400, 16))
    z1 = np.concatenate([bits[:, :12], rng.normal(size=(400, 4))], axis=1).astype(float)  # x1 = [xc, xu1]
    z2 = rng.normal(size=(400, 16))
    rows = regime_mechanism.probe_rows([(8, 0.0, 3, z1, z2, bits)], seed=0)
    assert len(rows) == 2 * 16 and set(rows["seed"]) == {3}
    first = rows[rows["encoder"] == 1].set_index("bit")["accuracy"]
    assert (first[list(synthetic.LATENT_NAMES[:12])] == 1.0).all()
    assert first[list(synthetic.LATENT_NAMES[12:])].between(0.35, 0.65).all()  # the other's bits: chance


def _probes(change_by_seed: dict) -> pd.DataFrame:
    """Per-bit probes of one role at two lams, the role's change per seed as given."""
    return pd.DataFrame([{"redundancy": 8, "encoder": 2, "role": "shared, in label", "bit": bit, "lam": lam,
                          "seed": seed, "accuracy": 0.6 + (lam > 0) * change}
                         for seed, change in change_by_seed.items() for lam in (0.0, 2.0)
                         for bit in ("a", "b")])


def test_probe_changes_test_both_directions_with_holm_and_glue_by_name():
    case = {"role": "shared, in label", "redundancy": 8, "encoder": 2}
    missing = {"role": "own unique, in label", "redundancy": 8, "encoder": 2}
    rises = regime_mechanism.probe_changes(_probes({0: 0.10, 1: 0.11, 2: 0.12}), [case, missing])
    assert len(rises) == 1 and rises.iloc[0]["direction"] == "rises"
    assert rises.iloc[0]["change"] == pytest.approx(0.11)
    falls = regime_mechanism.probe_changes(_probes({0: -0.10, 1: -0.11, 2: -0.12}), [case])
    assert falls.iloc[0]["direction"] == "falls"
    unclear = regime_mechanism.probe_changes(_probes({0: -0.10, 1: 0.11, 2: 0.0}), [case])
    assert unclear.iloc[0]["direction"] == "does not change detectably"
    glued = regime_mechanism.change_glue(rises, [case, missing], ["shared", "own"])
    assert glued["shared"] == pytest.approx(0.11) and glued["shared_direction"] == "rises"
    assert np.isnan(glued["own"]) and glued["own_direction"] == "has no such bits here"
    shown = regime_mechanism.change_reader(rises)
    assert shown.iloc[0]["change [95 % CI]"].startswith("0.110 [")


def test_sensitivity_specs_leave_lam_zero_and_the_default_pair_to_the_map():
    assert regime_mechanism.sensitivity_configs([0.05, 0.1], ["none", "mlp"]) == [
        (0.05, "mlp"), (0.1, "mlp"), (0.1, "none")]
    train = studies.training_budget(256)
    specs = regime_mechanism.sensitivity_specs(
        redundancy=4, depth=1, size=1000, lams=[0.0, 0.5, 1.0], seeds=[0, 1, 2], n_samples=65536, full=45875,
        train=train, temperatures=[0.05, 0.1], projections=["none", "mlp"])
    assert list(specs) == [(0.05, "mlp"), (0.1, "mlp"), (0.1, "none")] and specs[(0.1, "mlp")] is None
    spec = specs[(0.1, "none")]
    assert list(spec.lams) == [0.5, 1.0] and spec.data_seed == "seed"
    assert spec.train == {**train, "temperature": 0.1, "projection": "none"}
    assert spec.dataset == {"kind": "synthetic", "n_samples": 65536, "depth": 1, "redundancy": 4,
                            "n_train": 1000}


def test_the_default_pair_reads_the_maps_runs_and_sets_tell_settings_apart():
    rows = [{"redundancy": 4, "encoder": e, "lam": lam, "seed": s, "status": "ok", "hit_cap": False,
             "acc": 0.7 + 0.02 * (lam == 0.5) + 0.001 * s, "val_acc": 0.7 + 0.02 * (lam == 0.5) + 0.001 * s}
            for e in (1, 2) for lam in (0.0, 0.5, 2.0) for s in range(4)]
    table = regime_mechanism.sensitivity_table({(0.1, "mlp"): None}, pd.DataFrame(rows))
    assert table["lam_star"].tolist() == [0.5, 0.5] and table["gain"].tolist() == pytest.approx([0.02, 0.02])
    assert set(table[["temperature", "projection"]].itertuples(index=False)) == {(0.1, "mlp")}
    apart = pd.DataFrame({"encoder": [1, 1, 1], "lam_star": [0.1, 0.2, 2.0], "lam_low": [0.0, 0.1, 1.0],
                          "lam_high": [0.2, 0.5, 4.0]})
    overlap = regime_mechanism.lam_set_overlap(apart)
    assert (overlap["n_pairs"], overlap["n_disjoint"]) == (3, 2)
    assert overlap["lam_min"] == 0.1 and overlap["lam_max"] == 2.0 and "moves" in overlap["reading"]
    assert "cannot tell" in regime_mechanism.lam_set_overlap(apart.head(2))["reading"]


def test_probes_of_a_tiny_sweep_are_computed_once_from_stored_weights(tmp_path, monkeypatch):
    from alignbook.sweep import SweepSpec, run_sweep

    monkeypatch.setenv("ALIGNBOOK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ALIGNBOOK_RESULTS", str(tmp_path / "results"))
    spec = SweepSpec.from_dict({
        "name": "tiny", "dataset": {"kind": "synthetic", "n_samples": 2048, "n_train": 200},
        "dataset_grid": {"redundancy": [8], "depth": [1]}, "lams": [0.0, 2.0], "seeds": [0, 1],
        "train": {"batch_size": 128, "num_steps": 30, "check_every": 10}, "data_seed": "seed"})
    result = run_sweep(spec, workers=1, progress=False)
    probes = regime_mechanism.probe_table(result, depth=1, seed=0)
    assert len(probes) == 4 * 2 * 16 and set(probes["lam"]) == {0.0, 2.0} and set(probes["seed"]) == {0, 1}
    other = probes[probes["role"] == "other's unique"]["accuracy"]
    assert other.between(0.3, 0.7).all()  # never seen by the encoder: about chance
    summary = regime_mechanism.probe_summary(probes)
    assert set(summary["role"]) == set(probes["role"]) and set(summary["encoder"]) == {1, 2}

    def no_sweep(*args, **kwargs):
        raise AssertionError("the stored probes should have been read back")

    monkeypatch.setattr(regime_mechanism, "run_sweep", no_sweep)
    again = regime_mechanism.probe_table(result, depth=1, seed=0)
    pd.testing.assert_frame_equal(again, probes)
