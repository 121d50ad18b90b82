"""The verdict protocol on simulated curves: false verdicts at the nominal level, a rise and an equal fall
found equally often, intervals that hold, and the noise model that feeds the simulation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alignbook import analysis
from alignbook.analysis import calibration

NOISE = calibration.NoiseModel(run_sd=0.005, test_sd=0.004, val_sd=0.004)
GRID_24 = tuple(np.round(np.r_[np.arange(0, 2.01, 0.1), 2.5, 3, 4], 2))  # chapter 03's lams
DESIGNS = {"7 lams x 5 seeds": calibration.Design((0.0, 0.1, 0.2, 0.5, 1.0, 2.0, 4.0), n_seeds=5),
           "24 lams x 3 seeds": calibration.Design(GRID_24, n_seeds=3)}
N_SIMS = 1500
EFFECT = 0.01  # about one standard deviation of a paired difference under NOISE


def rate(frame: pd.DataFrame, quantity: str) -> tuple[float, float]:
    row = frame[frame["quantity"] == quantity].iloc[0]
    return row["rate"], row["se"]


@pytest.fixture(scope="module", params=list(DESIGNS))
def table(request) -> pd.DataFrame:
    return calibration.calibration_table(DESIGNS[request.param], NOISE, EFFECT, n_sims=N_SIMS, seed=1)


def test_no_effect_gives_false_verdicts_at_the_nominal_level(table):
    none = table[table["truth"] == "none"]
    for claim in ("rise", "fall"):
        confirmed = sum(rate(none, f"claim {claim}: {v}")[0] for v in ("confirmed", "partly confirmed"))
        assert confirmed <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / N_SIMS)
        assert rate(none, f"claim {claim}: contradicted")[0] <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / N_SIMS)
    for direction in ("rise", "fall"):
        found, se = rate(none, f"cell: {direction} detected")
        assert found <= 0.05 + 2 * se


def test_a_rise_and_an_equal_fall_are_found_equally_often(table):
    rise, fall = table[table["truth"] == "rise"], table[table["truth"] == "fall"]
    for up, down in (("cell: rise detected", "cell: fall detected"), ("shape: rises", "shape: falls"),
                     ("claim rise: partly confirmed", "claim fall: partly confirmed"),
                     ("claim rise: contradicted", "claim fall: contradicted")):
        (a, se_a), (b, se_b) = rate(rise, up), rate(fall, down)
        assert abs(a - b) <= 3 * np.hypot(se_a, se_b), (up, a, b)
    assert rate(rise, "cell: rise detected")[0] > 0.25  # the test has power at one spread


def test_intervals_hold_their_targets(table):
    for truth in ("none", "rise", "interior"):
        part = table[table["truth"] == truth]
        assert rate(part, "coverage: gain interval")[0] >= 0.9
        best = part[part["quantity"].str.startswith("coverage: set of the best lam")].iloc[0]
        assert best["rate"] >= 0.9, (truth, best["quantity"])


def test_choosing_and_measuring_on_the_same_seeds_is_biased(table):
    none = table[table["truth"] == "none"]
    same, se = rate(none, "cell: rise detected, same-seed selection")
    assert same > 0.05 + 3 * se  # the winner's curse through the noise a run's two scores share
    assert rate(none, "cell: rise detected")[0] < same


def test_noise_model_recovers_the_components_it_simulates():
    rng = np.random.default_rng(3)
    lams = (0.0, 0.5, 1.0, 2.0, 4.0)
    rows = []
    for cell in range(30):
        for seed in range(6):
            offset = rng.normal(0, 0.01)  # a seed offset: removed by the estimator
            for lam in lams:
                shared = rng.normal(0, 0.005)
                rows.append({"cell": cell, "encoder": 1, "lam": lam, "seed": seed, "status": "ok",
                             "acc": 0.7 + 0.01 * lam + offset + shared + rng.normal(0, 0.003),
                             "val_acc": 0.7 + 0.01 * lam + offset + shared + rng.normal(0, 0.002)})
    pooled, cells = analysis.noise_model(pd.DataFrame(rows), by="cell")
    assert pooled.df == 30 * 5 * 4 and len(cells) == 30
    assert pooled.run_sd == pytest.approx(0.005, rel=0.1)
    assert pooled.test_sd == pytest.approx(0.003, rel=0.2) and pooled.val_sd == pytest.approx(0.002, rel=0.3)
    assert {"cell", "encoder", "run_sd", "test_sd", "val_sd", "df"} <= set(cells.columns)


def test_truth_curves():
    lams = np.array([0.0, 0.5, 1.0, 2.0, 4.0])
    assert calibration.truth_curve("none", lams, 0.01).tolist() == [0.0] * 5
    rise = calibration.truth_curve("rise", lams, 0.01)
    assert rise[0] == 0.0 and rise[-1] == pytest.approx(0.01) and (np.diff(rise) > 0).all()
    assert rise[2] > 0.008  # saturating: most of the effect by lam = 1
    assert np.array_equal(calibration.truth_curve("fall", lams, 0.01), -rise)
    interior = calibration.truth_curve("interior", lams, 0.01, peak=0.5)
    assert interior.tolist() == pytest.approx([0.0, 0.01, 0.01 * 3 / 3.5, 0.01 * 2 / 3.5, 0.0])
    with pytest.raises(ValueError, match="^peak"):
        calibration.truth_curve("interior", lams, 0.01, peak=4.0)
    with pytest.raises(ValueError, match="^truth"):
        calibration.truth_curve("dip", lams, 0.01)


def test_designs_are_checked_and_the_table_is_seeded():
    with pytest.raises(ValueError, match="^lams"):
        calibration.Design((0.0, 1.0), n_seeds=3)
    with pytest.raises(ValueError, match="^n_seeds"):
        calibration.Design((0.0, 0.5, 1.0), n_seeds=0)
    design = calibration.Design((0.0, 0.5, 1.0), n_seeds=3, n_cells=2)
    first = calibration.calibration_table(design, NOISE, 0.01, n_sims=50, seed=2)
    again = calibration.calibration_table(design, NOISE, 0.01, n_sims=50, seed=2)
    pd.testing.assert_frame_equal(first, again)
    assert set(first["truth"]) == set(calibration.TRUTHS) and (first["se"] > 0).all()
