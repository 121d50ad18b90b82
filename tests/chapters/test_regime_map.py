"""The regime-map chapter's study: parameters, specs, gaps and gains, calibration per seed count."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from alignbook import analysis
from alignbook.analysis import load_protocol
from alignbook.chapters import calibration, regime_map, studies
from alignbook.data import synthetic

DEFAULTS = dict(redundancies=[0, 2, 4, 6, 8], depths=[1, 10], n_trains=[300, 1000, 3000, 10000, 45875],
                seeds_per_size=[5, 5, 6, 6, 3], lams=[0.0, 0.1, 0.2, 0.5, 1.0, 2.0, 4.0], n_samples=65536,
                batch_size=256, step_scale=1.0, mechanism_size=1000, sensitivity_size=1000,
                sensitivity_redundancy=4, temperatures=[0.05, 0.1, 0.3],
                projections=["none", "linear", "mlp"], control_lams=[0.0, 0.5, 2.0],
                weight_decays=[0.001, 0.01, 0.1], valid_share=0.25, n_sims=2000,
                workers="auto", backend="local")


def test_the_defaults_pass_and_give_seeds_and_the_training_rule_per_size():
    p = regime_map.Parameters.from_namespace({**DEFAULTS, "seeds_per_size": "[5, 5, 6, 6, 3]"})
    assert p.seeds_per_size == [5, 5, 6, 6, 3]  # papermill's text read back, repeated counts allowed
    assert p.full_size == 45875 and p.seeds_at(3000) == list(range(6)) and p.seeds_at(45875) == [0, 1, 2]
    assert p.train_options() == studies.training_budget(256)
    small = dataclasses.replace(p, step_scale=0.05).train_options()
    assert small == {"batch_size": 256, "num_steps": round(studies.MAX_STEPS * 0.05),
                     "check_every": round(studies.CHECK_EVERY * 0.05), "patience": studies.PATIENCE}
    assert dataclasses.replace(p, control_lams=[2.0, 0.0]).control_lams == [0.0, 2.0]


@pytest.mark.parametrize("change, match", [
    ({"n_trains": [1000, 300]}, "^n_trains: must be increasing"),
    ({"n_trains": [300, 50000], "seeds_per_size": [5, 5]}, r"^n_trains: must be in 4\.\.45875"),
    ({"seeds_per_size": [5, 5, 6, 6]}, "^seeds_per_size: needs one count per size"),
    ({"seeds_per_size": [5, 5, 6, 6, 2]}, r"^seeds_per_size: must be in 3\.\.100"),
    ({"lams": [0.0, 1.0, 2.0]}, r"^lams: must increase from 0 and hold a value in \[0.4, 0.6\]"),
    ({"lams": [0.1, 0.5, 2.0]}, "^lams: must increase from 0"),
    ({"lams": [0.0, 0.2, 0.5]}, "^lams: .* and one above it"),
    ({"mechanism_size": 500}, "^mechanism_size: must be one of n_trains"),
    ({"sensitivity_size": 500}, "^sensitivity_size: must be one of n_trains"),
    ({"sensitivity_redundancy": 3}, "^sensitivity_redundancy: must be one of redundancies"),
    ({"temperatures": [0.1, 0.1]}, "^temperatures: contains 0.1 more than once"),
    ({"temperatures": [0.0]}, "^temperatures:"),
    ({"projections": ["mlp", "linear", "mlp"]}, "^projections: contains 'mlp' more than once"),
    ({"projections": ["deep"]}, "^projections: must be one of"),
    ({"control_lams": [0.5, 2.0]}, "^control_lams: must hold 0"),
    ({"control_lams": [0.0, 3.0]}, "^control_lams: must hold 0 and at least one other lam of lams"),
    ({"weight_decays": [-0.1]}, "^weight_decays:"),
    ({"valid_share": 0.0}, "^valid_share:"),
    ({"step_scale": 1.5}, "^step_scale:"),
    ({"n_sims": 0}, "^n_sims:"),
    ({"seeds_per_size": "[5, x]"}, "^seeds_per_size: must be a list"),
])
def test_the_first_cell_refuses_a_bad_value_or_combination_naming_it(change, match):
    with pytest.raises(ValueError, match=match):
        regime_map.Parameters.from_namespace({**DEFAULTS, **change})


def test_specs_draw_data_per_seed_with_the_seeds_of_each_size_and_one_rule():
    train = studies.training_budget(256)
    specs = regime_map.regime_specs(redundancies=[0, 8], depths=[1, 10], n_trains=[300, 45875],
                                    seeds_per_size=[5, 3], lams=[0.0, 1.0], n_samples=65536, train=train)
    assert [spec.name for spec in specs] == ["regime_n300", "regime_full"]
    assert specs[0].dataset == {"kind": "synthetic", "n_samples": 65536, "n_train": 300}
    assert specs[1].dataset == {"kind": "synthetic", "n_samples": 65536}  # every label: no n_train
    assert [list(spec.seeds) for spec in specs] == [[0, 1, 2, 3, 4], [0, 1, 2]]
    assert all(spec.data_seed == "seed" and spec.train == train for spec in specs)
    assert specs[0].dataset_grid == {"redundancy": [0, 8], "depth": [1, 10]}
    assert len(specs[0]) == 2 * 2 * 2 * 5


def test_bayes_gaps_subtract_the_accuracy_at_lam_zero_from_the_exact_bound():
    optimum = pd.DataFrame({"redundancy": [8, 8], "encoder": [1, 2], "value_base": [0.85, 0.80]})
    gaps = regime_map.bayes_gaps(optimum)
    bounds = synthetic.exact_info(8, pid=False)
    expected = [bounds["bayes_acc_x1"] - 0.85, bounds["bayes_acc_x2"] - 0.80]
    assert gaps["gap"].tolist() == pytest.approx(expected)


def _runs(values: dict, depth: int = 1, n_train: int = 300, redundancy: int = 8) -> pd.DataFrame:
    """A results table of one cell per encoder from {(encoder, lam, seed): (acc, val_acc)}."""
    return pd.DataFrame([{"depth": depth, "n_train": n_train, "redundancy": redundancy, "encoder": e,
                          "lam": lam, "seed": s, "acc": acc, "val_acc": val, "status": "ok", "hit_cap": False}
                         for (e, lam, s), (acc, val) in values.items()])


def test_the_gap_and_the_gain_come_from_different_seeds():
    # seeds 0, 1 measure the gap, seeds 2, 3 the gain: seed 2 chooses lam on seed 3's validation (round robin)
    values = {}
    for encoder in (1, 2):
        for seed, base in ((0, 0.70), (1, 0.72), (2, 0.10), (3, 0.90)):
            values[(encoder, 0.0, seed)] = (base, 0.5)
            values[(encoder, 1.0, seed)] = (base + 0.03 * seed, 0.6)  # validation prefers lam = 1 everywhere
    halves = regime_map.split_gap_gain(_runs(values)).set_index("encoder")
    bounds = synthetic.exact_info(8, pid=False)
    assert halves.loc[1, "gap"] == pytest.approx(bounds["bayes_acc_x1"] - 0.71)  # seeds 0 and 1 only
    assert halves.loc[2, "gain"] == pytest.approx(0.06)  # seed 2's difference (seed 3 chooses on none)
    assert halves.loc[1, "gap_seeds"] == 2 and halves.loc[1, "gain_seeds"] == 1


def test_the_gap_gain_test_finds_either_direction_exactly_and_needs_three_cells():
    cells = pd.DataFrame({"gap": [0.01, 0.02, 0.03, 0.04, 0.05], "gain": [0.0, 0.001, 0.004, 0.006, 0.02]})
    grows = regime_map.gap_gain_test(cells)
    assert grows["r"] == pytest.approx(1.0) and grows["direction"] == "grows"
    assert grows["p_positive"] == pytest.approx(1 / 120) and grows["p_negative"] == pytest.approx(1.0)
    shrinks = regime_map.gap_gain_test(cells.assign(gain=cells["gain"].to_numpy()[::-1]))
    assert shrinks["direction"] == "shrinks" and shrinks["p_negative"] == pytest.approx(1 / 120)
    flat = regime_map.gap_gain_test(cells.assign(gain=[0.0, 0.02, 0.001, 0.006, 0.004]))
    assert flat["direction"] == "does not change detectably"
    assert regime_map.gap_gain_test(cells.head(2))["direction"] == "cannot be tested"


def test_the_notebook_defaults_the_smoke_profile_and_every_combination_pass_the_first_cell():
    from pathlib import Path

    import jupytext
    import yaml

    root = Path(__file__).resolve().parents[2]
    notebook = jupytext.read(root / "notebooks" / "04_regime_map.md")
    defaults: dict = {}
    exec(next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])).source, {}, defaults)
    assert defaults == DEFAULTS
    smoke = yaml.safe_load((root / "configs" / "smoke.yaml").read_text())["04_regime_map"]
    combinations = yaml.safe_load((root / "configs" / "combinations.yaml").read_text())["04_regime_map"] or {}
    for overrides in [{}, *combinations.values()]:
        regime_map.Parameters.from_namespace({**defaults, **smoke, **overrides})


def test_the_default_seeds_per_size_are_the_protocol_files():
    from alignbook.analysis import load_protocol

    counts = {}
    for entry in load_protocol().seeds:
        if entry["regime"].startswith("regime map"):  # "regime map, n_train 300 and 1,000 (...)"
            sizes = entry["regime"].split("n_train ")[1].split(" (")[0].replace(",", "").split(" and ")
            counts.update({int(size): entry["seeds"] for size in sizes})
        elif entry["regime"].startswith("full training split"):
            counts[45875] = entry["seeds"]
    assert [counts[size] for size in DEFAULTS["n_trains"]] == DEFAULTS["seeds_per_size"]


# ------------------------------------------------------------------------------------------ calibration


def _noisy_table(seed_counts: dict, effect: float = 0.0) -> pd.DataFrame:
    """A results table of the map's layout with shared run noise: a rise of `effect` at r = 8, none else."""
    rng = np.random.default_rng(0)
    rows = []
    for n_train, n_seeds in seed_counts.items():
        for r in (0, 8):
            for encoder in (1, 2):
                for seed in range(n_seeds):
                    for lam in (0.0, 0.5, 2.0):
                        truth = effect * (lam > 0) * (r == 8)
                        run = rng.normal(0, 0.004)
                        rows.append({"depth": 1, "n_train": n_train, "redundancy": r, "encoder": encoder,
                                     "lam": lam, "seed": seed, "status": "ok", "hit_cap": False,
                                     "acc": 0.7 + truth + run + rng.normal(0, 0.003),
                                     "val_acc": 0.7 + truth + run + rng.normal(0, 0.003)})
    return pd.DataFrame(rows)


def test_the_map_is_calibrated_per_seed_count_with_its_own_noise_and_effect(tmp_path, monkeypatch):
    monkeypatch.setenv("ALIGNBOOK_CACHE", str(tmp_path))
    table = _noisy_table({300: 5, 1000: 5, 3000: 3})
    optimum = regime_map.map_optimum(table)
    found = regime_map.map_calibrations(table, optimum, n_sims=400)
    assert list(found) == ["3 seeds (n_train 3,000)", "5 seeds (n_train 300, 1,000)"]
    plan = load_protocol()
    for label, part in found.items():
        sizes = [3000] if label.startswith("3") else [300, 1000]
        design = part.design
        assert (design.n_seeds, design.n_cells, design.lams) == (int(label[0]), 2, (0.0, 0.5, 2.0))
        assert design.lam_range == plan.claim("invu").lam_range
        assert design.margin == plan.claim("rises").margin and design.alpha == plan.alpha
        # the effect: the median MDE of those sizes' cells; the noise: measured on their runs alone
        assert part.effects == (optimum.loc[optimum["n_train"].isin(sizes), "mde"].median(),)
        rows = table[table["n_train"].isin(sizes)]
        assert part.noise == analysis.noise_model(rows, by=regime_map.MAP_KEYS)[0]
    glued = calibration.calibration_glue(found)
    assert glued["calib_seeds"] == "3 to 5" and glued["calib_cells"] == "2"
    assert glued["calib_false_word"] == "within" and glued["calib_symmetry_1"] == "as often as"
    assert glued["calib_coverage_gain"] >= 0.9
