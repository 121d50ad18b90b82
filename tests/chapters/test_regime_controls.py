"""The regime map's controls: which cells they examine, their runs, and their comparisons on small tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alignbook.chapters import regime_controls, studies
from alignbook.config import TrainConfig


def _optimum() -> pd.DataFrame:
    """Cells at depth 1, sizes 300, 1000, 3000, levels 0, 4, 8, both encoders; two large gains."""
    return pd.DataFrame([{"depth": 1, "n_train": n, "redundancy": r, "encoder": e,
                          "gain": 0.05 if (n, r, e) in ((300, 8, 2), (3000, 4, 1)) else 0.001}
                         for n in (300, 1000, 3000) for r in (0, 4, 8) for e in (1, 2)])


def _regimes(agree: dict) -> pd.DataFrame:
    """Verdict rows per claim key, depth 1, encoder and size 300, 1000, 3000: `agree[(key, encoder)]`."""
    return pd.DataFrame([{"key": key, "depth": 1, "encoder": e, "n_train": n, "agree": a}
                         for (key, e), counts in agree.items() for n, a in zip((300, 1000, 3000), counts,
                                                                               strict=True)])


def test_control_cells_are_the_claims_cells_on_both_sides_of_a_changing_verdict():
    regimes = _regimes({("rises", 2): [1, 1, 0], ("rises", 1): [0, 0, 0], ("invu", 1): [0, 1, 1],
                        ("align", "pair"): [1, 0, 1]})
    chosen = regime_controls.control_cells(regimes, _optimum())
    assert chosen.changing
    assert chosen.cells.to_dict("records") == [  # r = 6 is not in the map: only its level 8
        {"depth": 1, "n_train": 300, "redundancy": 4, "encoder": 1},
        {"depth": 1, "n_train": 1000, "redundancy": 4, "encoder": 1},
        {"depth": 1, "n_train": 1000, "redundancy": 8, "encoder": 2},
        {"depth": 1, "n_train": 3000, "redundancy": 8, "encoder": 2}]
    assert chosen.points.to_dict("records") == [{"depth": 1, "n_train": 300, "redundancy": [4]},
                                                {"depth": 1, "n_train": 1000, "redundancy": [4, 8]},
                                                {"depth": 1, "n_train": 3000, "redundancy": [8]}]
    assert chosen.text.startswith("These are the cells of the verdicts that change")
    assert "rises at r = 6, 8 for encoder 2 at d = 1, between n_train 1,000 and 3,000" in chosen.text


def test_without_a_change_the_controls_take_the_largest_gain_at_both_ends():
    chosen = regime_controls.control_cells(_regimes({("rises", 2): [0, 0, 0]}), _optimum())
    assert not chosen.changing and chosen.text.startswith("No verdict changes")
    assert "at the smallest and at the largest size" in chosen.text
    assert chosen.cells.to_dict("records") == [{"depth": 1, "n_train": 300, "redundancy": 8, "encoder": 2},
                                               {"depth": 1, "n_train": 3000, "redundancy": 4, "encoder": 1}]
    one_size = regime_controls.control_cells(_regimes({("rises", 2): [0, 0, 0]}).query("n_train == 300"),
                                             _optimum().query("n_train == 300"))
    assert len(one_size.cells) == 1 and "at the one size of the map" in one_size.text


def test_control_specs_reuse_the_maps_seeds_draws_and_rule():
    points = pd.DataFrame({"depth": [1, 1], "n_train": [300, 45875], "redundancy": [[6, 8], [8]]})
    train = studies.training_budget(256)
    default = TrainConfig().weight_decay
    decay = regime_controls.decay_specs(points, weight_decays=[0.01, default, 0.1],
                                        seeds_at=lambda n: [0, 1, 2], n_samples=65536, train=train)
    assert [s.name for s in decay] == ["regime_decay_n300_d1_wd0.01", "regime_decay_n300_d1_wd0.1",
                                       "regime_decay_n45875_d1_wd0.01", "regime_decay_n45875_d1_wd0.1"]
    assert decay[0].dataset == {"kind": "synthetic", "n_samples": 65536, "depth": 1, "n_train": 300}
    assert "n_train" not in decay[2].dataset and decay[2].dataset_grid == {"redundancy": [8]}
    assert list(decay[0].lams) == [0.0] and decay[0].train == {**train, "weight_decay": 0.01}
    assert all(s.data_seed == "seed" and list(s.seeds) == [0, 1, 2] for s in decay)

    assert regime_controls.sized_valid_size(65536, 300, 0.25) == 75
    assert regime_controls.sized_valid_size(65536, 8, 0.25) == 4  # one per class at least
    assert regime_controls.sized_valid_size(65536, 45875, 0.25) is None  # the whole split: the map's runs
    sized = regime_controls.sized_valid_specs(points, control_lams=[0.0, 2.0], seeds_at=lambda n: [0, 1, 2],
                                              n_samples=65536, valid_share=0.25, train=train)
    assert sized[0].dataset["n_valid"] == 75 and "n_valid" not in sized[1].dataset
    assert list(sized[0].lams) == [0.0, 2.0] and sized[0].train == train


def _rows(cell: dict, column: str, values: dict, seeds=range(4)) -> list[dict]:
    """Runs of one cell: `values[v]` = (test gain, validation gain) over a base of 0.7 at `column` = v."""
    noise = {s: 0.001 * ((-1) ** s) * (s + 1) for s in seeds}
    return [{**cell, "lam": 0.0, "weight_decay": TrainConfig().weight_decay, column: v, "seed": s,
             "acc": 0.7 + t + noise[s], "val_acc": 0.7 + val + noise[s], "status": "ok", "hit_cap": s == 0}
            for v, (t, val) in values.items() for s in seeds]


def test_alignment_is_compared_with_the_tuned_decay_paired_by_seed():
    cells = pd.DataFrame([{"depth": 1, "n_train": 300, "redundancy": 8, "encoder": e} for e in (1, 2)])
    map_rows, decay_rows = [], []
    for cell, (aligned, tuned) in zip(cells.to_dict("records"), ((0.03, 0.01), (0.0, 0.02)), strict=True):
        map_rows += _rows(cell, "lam", {0.0: (0, 0), 1.0: (aligned, aligned)})
        decay_rows += _rows(cell, "weight_decay", {0.01: (tuned, tuned), 0.1: (-0.02, -0.02)})
    control = regime_controls.decay_control(pd.DataFrame(map_rows), pd.DataFrame(decay_rows), cells)
    first, second = control.to_dict("records")
    assert first["gain"] == pytest.approx(0.03) and first["decay_gain"] == pytest.approx(0.01)
    assert first["difference"] == pytest.approx(0.02) and first["decay_star"] == 0.01
    assert first["verdict"] == "alignment above tuned decay"
    assert second["verdict"] == "alignment below tuned decay" and second["difference"] == pytest.approx(-0.02)
    shown = regime_controls.decay_reader(control)
    assert shown.iloc[0]["alignment minus decay [95 % CI]"].startswith("0.020 [")
    assert shown.iloc[0]["best decay"] == "0.01" and not shown.isna().any().any()
    assert shown.iloc[0]["at cap"] == "0.25 (over 0.05)"  # one seed of four at the cap


def test_the_sized_validation_control_compares_directions_on_the_same_lams():
    cells = pd.DataFrame([{"depth": 1, "n_train": 300, "redundancy": 8, "encoder": 2}])
    cell = cells.iloc[0].to_dict()
    whole = pd.DataFrame(_rows(cell, "lam", {0.0: (0, 0), 0.5: (0.5, 0.5), 2.0: (0.03, 0.03)}))
    sized = pd.DataFrame(_rows(cell, "lam", {0.0: (0, 0), 2.0: (0.0, -0.01)})).assign(n_valid=75)
    control = regime_controls.sized_valid_control(whole, sized, cells, [0.0, 2.0]).iloc[0]
    assert control["gain_whole"] == pytest.approx(0.03)  # lam = 0.5 is not a control lam: left out
    assert control["direction_whole"] == "gain" and control["direction_sized"] == "neither"
    assert not control["agrees"] and control["n_valid"] == 75
    shown = regime_controls.sized_valid_reader(pd.DataFrame([{**control.to_dict(), "n_valid": np.nan}]))
    assert shown.iloc[0]["validation examples"] == "whole split"
    assert shown.iloc[0]["at cap, sized"] == "0.25 (over 0.05)" and not shown.isna().any().any()
