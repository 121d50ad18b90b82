"""The regime-map chapter's helpers: budgets, specs, gaps, convergence summaries, probes, sensitivity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alignbook.chapters import regime_map, studies, synthetic_sweep
from alignbook.data import synthetic
from alignbook.sweep import run_sweep

ROOT = Path(__file__).resolve().parents[2]


def test_budget_gives_every_smaller_set_the_same_steps_and_the_full_set_its_epochs():
    full = regime_map.full_train_size(65536)
    assert full == 45875
    assert studies.training_budget(full, full, 256, 10, 1000, 16) == {"num_epochs": 10, "batch_size": 256}
    small = studies.training_budget(300, full, 256, 10, 1000, 16)
    assert small == {"num_epochs": 10, "batch_size": 256, "num_steps": 1000, "num_checkpoints": 16}
    assert studies.budget_steps(300, small) == 1000 and studies.budget_steps(full, {"num_epochs": 10,
                                                                                  "batch_size": 256}) == 1790


def test_specs_reuse_chapter_03_at_the_full_size_and_keep_one_point():
    specs = regime_map.regime_specs([0, 8], [1, 10], [300, 1000, 45875], [0.0, 1.0], [0, 1, 2, 3, 4],
                                    [0, 1, 2], 65536, 10, 256, 1000, 16, keep_at=(300, 1))
    names = ["regime_n300_d1", "regime_n300_d10", "regime_n1000", "regime_full"]
    assert [spec.name for spec in specs] == names
    chapter3 = synthetic_sweep.synthetic_sweep_spec([0, 8], [1, 10], [0.0, 1.0], [0, 1, 2], n_samples=65536,
                                            num_epochs=10, batch_size=256, name="regime_full")
    assert specs[3] == chapter3  # chapter 03's specification under another name: the same cached runs
    assert specs[0].dataset == {"kind": "synthetic", "n_samples": 65536, "n_train": 300, "depth": 1}
    assert specs[2].dataset_grid == {"redundancy": [0, 8], "depth": [1, 10]}
    assert specs[2].train["num_steps"] == 1000 and list(specs[2].seeds) == [0, 1, 2, 3, 4]
    assert [spec.keep_representations for spec in specs] == [True, False, False, False]
    assert len(specs[2]) == 2 * 2 * 2 * 5


def test_chapter_04_full_row_is_declared_as_chapter_03():
    # the full-size row is read from chapter 03's cache: a drift would silently retrain it
    import jupytext

    def defaults(name):
        notebook = jupytext.read(ROOT / "notebooks" / f"{name}.md")
        values: dict = {}
        exec(next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])).source, {}, values)
        return values

    three, four = defaults("03_synthetic_sweep"), defaults("04_regime_map")
    assert set(four["lams"]) <= set(three["lams"]) and four["full_seeds"] == three["seeds"]
    assert set(four["redundancies"]) == set(three["redundancies"]) and four["depths"][0] in three["depths"]
    for key in ("n_samples", "num_epochs", "batch_size"):
        assert four[key] == three[key], key
    assert four["n_trains"][-1] == regime_map.full_train_size(four["n_samples"])


@pytest.mark.parametrize("change, match", [
    ({"sizes": [1000, 300]}, "^n_trains: must be increasing"),
    ({"sizes": [300, 50000]}, "^n_trains: every size must be an integer from 4"),
    ({"sizes": [300.5]}, "^n_trains: every size"),
    ({"temperatures": "[0.1, x]"}, "^temperatures: must be a list"),
    ({"mechanism_size": 45875}, "^mechanism_size: must be one of n_trains below the full size"),
    ({"sensitivity_size": 500}, "^sensitivity_size:"),
    ({"sensitivity_redundancy": 3}, "^sensitivity_redundancy: must be one of redundancies"),
    ({"temperatures": [0.0]}, "^temperatures:"),
    ({"projections": ["deep"]}, "^projections: every head must be one of"),
    ({"min_steps": 0}, "^min_steps:"),
])
def test_chapter_parameters_are_checked(change, match):
    values = dict(sizes=[300, 1000, 45875], n_samples=65536, min_steps=1000,
                  num_checkpoints=16, mechanism_size=1000, sensitivity_size=1000, sensitivity_redundancy=4,
                  redundancies=[0, 4, 8], temperatures=[0.1], projections=["mlp"])
    assert regime_map.check_regime_parameters(**values) == {  # the defaults pass
        "n_trains": [300, 1000, 45875], "temperatures": [0.1], "projections": ["mlp"]}
    as_text = regime_map.check_regime_parameters(**{**values, "sizes": "[300, 1000, 45875]"})
    assert as_text["n_trains"] == [300, 1000, 45875]  # papermill -p passes lists as text
    with pytest.raises(ValueError, match=match):
        regime_map.check_regime_parameters(**{**values, **change})


def test_bayes_gaps_and_best_step_summary():
    optimum = pd.DataFrame({"redundancy": [8, 8], "encoder": [1, 2], "value_base": [0.85, 0.80]})
    gaps = regime_map.bayes_gaps(optimum)
    bound = synthetic.exact_info(8, pid=False)["bayes_acc_x1"]
    assert gaps["gap"].tolist() == pytest.approx([bound - 0.85, bound - 0.80])
    table = pd.DataFrame({"depth": 1, "n_train": [300] * 4, "encoder": [1, 1, 2, 2], "status": "ok",
                          "best_step": [10, 1000, 500, 1000]})
    budgets = {300: studies.training_budget(300, 45875, 256, 10, 1000, 16)}
    summary = studies.best_step_summary(table, budgets).set_index("encoder")
    assert summary.loc[1, "steps"] == 1000 and summary.loc[2, "at_end"] == 0.5
    assert summary.loc[1, "median_share"] == pytest.approx(0.505)
    assert studies.still_improving(summary.reset_index()) == (
        "encoder 1 at depth 1, n_train 300 (0.50 of runs); encoder 2 at depth 1, n_train 300 (0.50 of runs)")
    assert studies.still_improving(summary.reset_index(), share=0.6) == "none"


def test_probe_roles_say_what_each_bit_is_to_each_encoder():
    roles1, roles2 = regime_map.probe_roles(4, 1), regime_map.probe_roles(4, 2)
    assert roles1["xc7"] == roles2["xc7"] == "shared, in label"
    assert roles1["xc0"] == "shared, not in label"
    assert roles1["xu1_2"] == "own unique, in label" and roles1["xu1_0"] == "own unique, not in label"
    assert roles1["xu2_3"] == "other's unique" and roles2["xu1_3"] == "other's unique"
    assert roles2["xu2_3"] == "own unique, in label"


def test_probes_of_a_tiny_kept_sweep(tmp_path, monkeypatch):
    monkeypatch.setenv("ALIGNBOOK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ALIGNBOOK_RESULTS", str(tmp_path / "results"))
    spec = regime_map.regime_specs([8], [1], [200, 1433], [0.0, 2.0], [0], [0], 2048, 1, 128, 40, 3,
                               keep_at=(200, 1))[0]
    result = run_sweep(spec, workers=1, progress=False)
    probes = regime_map.probe_table(result, seed=0)
    assert len(probes) == 2 * 2 * 16 and set(probes["lam"]) == {0.0, 2.0}
    other = probes[probes["role"] == "other's unique"]["accuracy"]
    assert other.between(0.3, 0.7).all()  # never seen by the encoder: about chance
    summary = regime_map.probe_summary(probes)
    assert set(summary["role"]) == set(probes["role"]) and set(summary["encoder"]) == {1, 2}
    assert np.isnan(summary["ci_low"]).all()  # one seed: no interval


def test_sensitivity_specs_leave_lam_zero_and_the_default_pair_to_the_map():
    assert regime_map.sensitivity_configs([0.05, 0.1], ["none", "mlp"]) == [(0.05, "mlp"), (0.1, "mlp"),
                                                                       (0.1, "none")]
    specs = regime_map.sensitivity_specs(4, 1, 1000, [0.0, 0.5, 1.0], [0, 1], 65536, {"num_steps": 1000},
                                     [0.05, 0.1], ["none", "mlp"])
    assert list(specs) == [(0.05, "mlp"), (0.1, "mlp"), (0.1, "none")] and specs[(0.1, "mlp")] is None
    spec = specs[(0.1, "none")]
    assert list(spec.lams) == [0.5, 1.0]
    assert spec.train == {"num_steps": 1000, "temperature": 0.1, "projection": "none"}
    assert spec.dataset["n_train"] == 1000 and spec.dataset["redundancy"] == 4


def test_regime_verdicts_and_claims_cover_every_point_of_the_map():
    rows, trends = [], []
    for depth in (1, 10):
        for n_train in (300, 45875):
            for r in (0, 2, 4, 6, 8):
                for encoder in (1, 2):
                    rises = r >= 6 and n_train == 300
                    rows.append(dict(depth=depth, n_train=n_train, redundancy=r, encoder=encoder,
                                     shape="rises" if rises else "inconclusive", lam_star=1.0, lam_low=0.5,
                                     lam_high=2.0, lam_p={0.0: 0.5, 0.5: 1.0, 1.0: 1.0}, gain=0.01,
                                     gain_low=0.0, gain_high=0.02, p_rise=0.001 if rises else 0.5,
                                     p_fall=0.5, p_interior=0.5, p_no_gain=0.5, p_no_loss=0.5,
                                     sd_diff=0.005, mde=0.007, n_seeds=5))
                trends.append(dict(depth=depth, n_train=n_train, redundancy=r, metric="align_cka", rho=0.9,
                                   ci_low=0.8, ci_high=0.95, p_rise=0.001 if depth == 1 else 0.5,
                                   p_fall=0.5))
    optimum, trend = pd.DataFrame(rows), pd.DataFrame(trends)
    verdicts = regime_map.regime_verdicts(optimum, trend)
    assert len(verdicts) == 2 * 2 * (3 * 2 + 1)  # points x (three shape claims per encoder + the pair's)
    rises = verdicts[verdicts["key"] == "rises"].set_index(["depth", "encoder", "n_train"])
    assert set(verdicts.groupby("key")["label"].first()) == set(regime_map.CLAIM_LABELS)
    assert rises.loc[(1, 2, 300), "verdict"] == "confirmed"
    assert rises.loc[(1, 2, 45875), "verdict"] == "not confirmed"
    assert rises.loc[(1, 2, 45875), "mde"] > 0.007  # at Holm's first step over the claim's 2 cells
    aligned = verdicts[verdicts["claim"] == synthetic_sweep.ALIGNMENT_CLAIM].set_index(["depth", "n_train"])
    assert set(aligned["key"]) == {"align"}
    assert set(aligned["encoder"]) == {"pair"} and (aligned["cases"] == 5).all()
    assert aligned.loc[(1, 300), "verdict"] == "confirmed"
    assert aligned.loc[(10, 300), "verdict"] == "not confirmed"
    overall, regimes = regime_map.regime_claims(optimum, trend)
    assert list(regimes) == ["d = 1, n_train = 300", "d = 1, n_train = 45875", "d = 10, n_train = 300",
                             "d = 10, n_train = 45875"]
    assert list(overall.index) == list(regimes["d = 1, n_train = 300"].index)
    assert regimes["d = 10, n_train = 300"].loc[synthetic_sweep.ALIGNMENT_CLAIM, "verdict"] == "not confirmed"
    _, ends = regime_map.regime_claims(optimum, trend, sizes=[45875])
    assert list(ends) == ["d = 1, n_train = 45875", "d = 10, n_train = 45875"]


def test_role_change_reads_the_largest_minus_the_smallest_lam():
    summary = pd.DataFrame({"role": "shared, in label", "redundancy": 8, "encoder": 2,
                            "lam": [2.0, 0.0, 1.0], "mean": [0.9, 0.6, 0.8]})
    assert regime_map.role_change(summary, "shared, in label", 8, 2) == pytest.approx(0.3)
    with pytest.raises(ValueError, match="^role: no probes"):
        regime_map.role_change(summary, "other's unique", 8, 2)


def test_check_map_parameters_reads_sizes_given_as_text():
    assert regime_map.check_map_parameters("[300, 1000]", 65536, 1000, 16, 300) == [300, 1000]
    with pytest.raises(ValueError, match="^n_trains: must be increasing"):
        regime_map.check_map_parameters([1000, 300], 65536, 1000, 16, 300)
    with pytest.raises(ValueError, match="^mechanism_size:"):
        regime_map.check_map_parameters([300, 45875], 65536, 1000, 16, 45875)
    with pytest.raises(ValueError, match="^min_steps:"):
        regime_map.check_map_parameters([300], 65536, 0, 16, 300)
