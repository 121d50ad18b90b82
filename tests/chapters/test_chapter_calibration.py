"""A chapter's calibration section (`chapters.calibration`): the verdict protocol on simulated families
with the chapter's design and noise, the tables for readers, and the glue of the prose."""

import math

import numpy as np
import pandas as pd
import pytest

from alignbook import analysis
from alignbook.analysis import load_protocol
from alignbook.chapters import calibration as cal

LAMS = (0.0, 0.5, 1.0, 2.0, 4.0)


def _runs(seeds=range(5), run_sd=0.01, split_sd=0.005) -> pd.DataFrame:
    """A results table without any effect of lam: two datasets, two encoders, a run's noise shared by its
    validation and test accuracy, and each split's own noise."""
    rng = np.random.default_rng(1)
    rows = []
    for dataset in ("a", "b"):
        for encoder in (1, 2):
            for lam in LAMS:
                for seed in seeds:
                    shared = rng.normal(0, run_sd)
                    rows.append({"dataset": dataset, "encoder": encoder, "lam": lam, "seed": seed,
                                 "acc": 0.8 + shared + rng.normal(0, split_sd),
                                 "val_acc": 0.8 + shared + rng.normal(0, split_sd), "status": "ok"})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def found(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:  # stored in a folder of its own, as every test's results
        patch.setenv("ALIGNBOOK_CACHE", str(tmp_path_factory.mktemp("cache")))
        return cal.verdict_calibration(_runs(), by=["dataset"], n_cells=4, margin=0.01, n_sims=1000, seed=0)


def test_the_design_and_noise_are_the_chapters(found):
    plan = load_protocol()
    assert found.design.lams == LAMS and found.design.n_seeds == 5 and found.design.n_cells == 4
    assert (found.design.alpha, found.design.ci, found.design.lam_range) == (plan.alpha, plan.ci, (0.5, 2.0))
    assert found.effects == (0.01, 0.02) and found.n_sims == 1000
    # the shared noise of 0.01 and the split noise of 0.005, measured back from 80 complete cells of runs
    assert found.noise.run_sd == pytest.approx(0.01, rel=0.25)
    assert found.noise.test_sd == pytest.approx(0.005, rel=0.5)
    # the truth without effect once, then each truth at each effect, each effect from its own seed
    assert list(dict.fromkeys(zip(found.table["truth"], found.table["effect"], strict=True))) == [
        ("none", 0.0), ("rise", 0.01), ("fall", 0.01), ("interior", 0.01), ("rise", 0.02), ("fall", 0.02),
        ("interior", 0.02)]
    second = analysis.calibration_table(found.design, found.noise, 0.02, n_sims=1000, seed=1,
                                        truths=("rise", "fall", "interior"))
    pd.testing.assert_frame_equal(found.table[found.table["effect"] == 0.02].reset_index(drop=True), second,
                                  check_like=True)
    # computed anew (not read back from the store), the same numbers
    again = cal.verdict_calibration.compute(_runs(), by=["dataset"], n_cells=4, margin=0.01, n_sims=1000)
    pd.testing.assert_frame_equal(again.table, found.table)


def test_a_chapters_own_effects_and_lam_range_are_simulated(tmp_path, monkeypatch):
    monkeypatch.setenv("ALIGNBOOK_CACHE", str(tmp_path))
    one = cal.verdict_calibration(_runs(), by=["dataset"], n_cells=2, margin=0.005, n_sims=50,
                                  effects=[0.03], lam_range=(0.4, 0.6))
    assert one.effects == (0.03,) and one.design.lam_range == (0.4, 0.6) and one.design.margin == 0.005
    assert sorted(set(one.table["effect"])) == [0.0, 0.03]
    uneven = _runs()
    uneven = uneven[(uneven["dataset"] == "a") | (uneven["seed"] < 3)]  # b has 3 seeds, a has 5
    with pytest.raises(ValueError, match=r"^table: has cells with \[3, 5\] seeds"):
        cal.verdict_calibration(uneven, by=["dataset"], n_cells=2, margin=0.01, n_sims=50)


def test_false_verdicts_stay_at_the_level_and_a_rise_and_a_fall_are_found_alike(found):
    glued = cal.calibration_glue(found, prefix="cal_")
    assert all(name.startswith("cal_") for name in glued)
    bound = glued["cal_alpha"] + 3 * math.sqrt(0.05 * 0.95 / 1000)
    assert glued["cal_false_confirmed"] <= bound and glued["cal_false_contradicted"] <= bound
    assert glued["cal_false_word"] == "within"
    for i in (1, 2):
        assert glued[f"cal_rise_fall_z_{i}"] < 3 and glued[f"cal_symmetry_{i}"] == "as often as"
    # two margins (0.02) against a paired spread of about 0.016 with 5 seeds: found more often than one
    assert float(glued["cal_cell_rise_2"]) > float(glued["cal_cell_rise_1"]) > glued["cal_alpha"]
    assert (glued["cal_effect_1"], glued["cal_effect_2"]) == ("0.01", "0.02")
    assert glued["cal_coverage_gain"] >= 0.9 and glued["cal_coverage_set"] >= 0.9
    assert (glued["cal_seeds"], glued["cal_cells"], glued["cal_sims"]) == ("5", "4", 1000)
    rates = cal.calibration_rates(found, digits=6)
    none = rates["no effect"]
    assert glued["cal_false_confirmed"] == pytest.approx(max(none["rise claim holds"],
                                                             none["fall claim holds"]), abs=1e-6)


def test_the_rates_and_designs_are_laid_out_for_readers(found):
    rates = cal.calibration_rates(found)
    assert list(rates.index) == list(cal.RATE_ROWS)
    assert list(rates.columns) == ["no effect", "rise of 0.01", "fall of 0.01", "interior optimum of 0.01",
                                   "rise of 0.02", "fall of 0.02", "interior optimum of 0.02"]
    rise = found.table[(found.table["truth"] == "rise") & (found.table["effect"] == 0.02)]
    claim = rise.set_index("quantity")["rate"]
    assert rates.loc["rise claim holds", "rise of 0.02"] == round(
        claim["claim rise: confirmed"] + claim["claim rise: partly confirmed"], 3)
    assert rates.notna().all().all()
    both = cal.calibration_rates({"first": found, "second": found})
    assert list(both.columns.get_level_values(0).unique()) == ["first", "second"]
    pd.testing.assert_frame_equal(both["second"], rates)
    designs = cal.design_table(found)
    assert list(designs.columns) == ["5 seeds"]
    assert designs["5 seeds"].to_dict() == {
        "lam grid": "0, 0.5, 1, 2, 4", "seeds": "5", "cells per family": "4", "alpha": "0.05",
        "margin": "0.01", "interior optimum in": "0.5 to 2", "effects": "0.01, 0.02",
        "noise sd, shared": f"{found.noise.run_sd:.4f}", "noise sd, test": f"{found.noise.test_sd:.4f}",
        "noise sd, validation": f"{found.noise.val_sd:.4f}", "families": "1,000"}
    with pytest.raises(ValueError, match="^found:"):
        cal.design_table({})


def _constructed(rates: dict, n_sims: int = 1000, n_cells: int = 4, effect: float = 0.01) -> cal.Calibration:
    """A `Calibration` whose outcomes have the given rates (`rates[(truth, quantity)]`, the quantity named
    without "(lam = ...)"), 0 elsewhere: the layout of `analysis.calibration_table`."""
    design = analysis.Design(LAMS, n_seeds=3, n_cells=n_cells)
    noise = analysis.NoiseModel(run_sd=0.004, test_sd=0.003, val_sd=0.003)
    table = analysis.calibration_table(design, noise, effect, n_sims=5, seed=0)
    table["rate"] = [rates.get((t, q.split(" (lam")[0]), 0.0)
                     for t, q in zip(table["truth"], table["quantity"], strict=True)]
    return cal.Calibration(design=design, noise=noise, effects=(effect,), n_sims=n_sims, table=table)


def test_glue_words_follow_the_rates_in_both_directions():
    rates = {("none", "claim interior: partly confirmed"): 0.09, ("none", "claim rise: contradicted"): 0.03,
             ("rise", "claim rise: partly confirmed"): 0.50, ("fall", "claim fall: partly confirmed"): 0.52,
             ("interior", "claim interior: confirmed"): 0.2, ("rise", "cell: rise detected"): 0.4,
             ("fall", "cell: fall detected"): 0.41, ("interior", "shape: interior optimum"): 0.3,
             **{(t, "coverage: gain interval"): 0.95 - 0.01 * i for i, t in enumerate(cal.TRUTHS)},
             **{(t, "coverage: set of the best lam"): 0.97 for t in cal.TRUTHS}}
    glued = cal.calibration_glue(_constructed(rates))
    # the interior claim's false 0.09 counts only where the chapter decides that claim
    assert glued["calib_false_confirmed"] == 0 and glued["calib_false_contradicted"] == 0.03
    assert glued["calib_false_word"] == "within"
    deciding = cal.calibration_glue(_constructed(rates), claims=["rise", "fall", "interior"])
    assert deciding["calib_false_confirmed"] == 0.09 and deciding["calib_false_word"] == "above"
    assert (glued["calib_claim_rise_1"], glued["calib_claim_fall_1"], glued["calib_claim_interior_1"]) == (
        "0.50", "0.52", "0.20")
    assert (glued["calib_cell_rise_1"], glued["calib_cell_fall_1"]) == ("0.40", "0.41")
    assert glued["calib_interior_found_1"] == "0.30"
    # 0.01 apart over 4,000 cells: 0.01 / sqrt(0.24 / 4000 + 0.2419 / 4000) = 0.91 standard errors
    assert glued["calib_rise_fall_z_1"] == pytest.approx(0.01 / math.sqrt((0.24 + 0.41 * 0.59) / 4000))
    assert glued["calib_symmetry_1"] == "as often as"
    assert glued["calib_coverage_gain"] == pytest.approx(0.92) and glued["calib_coverage_set"] == 0.97
    assert glued["calib_claim_se"] == pytest.approx(math.sqrt(0.5 * 0.5 / 1000))  # the rise claim's 0.50
    # a fall found far more often than a rise, and the mirror image: the words follow
    rates[("fall", "cell: fall detected")] = 0.6
    assert cal.calibration_glue(_constructed(rates))["calib_symmetry_1"] == "less often than"
    rates[("rise", "cell: rise detected")] = 0.8
    assert cal.calibration_glue(_constructed(rates))["calib_symmetry_1"] == "more often than"
    with pytest.raises(ValueError, match="^claims:"):
        cal.calibration_glue(_constructed(rates), claims=["dip"])


def test_designs_read_as_ranges_and_worst_cases():
    low = _constructed({("rise", "cell: rise detected"): 0.4, ("fall", "cell: fall detected"): 0.4,
                        ("none", "claim rise: partly confirmed"): 0.02,
                        ("none", "coverage: gain interval"): 0.93}, effect=0.01)
    high = _constructed({("rise", "cell: rise detected"): 0.7, ("fall", "cell: fall detected"): 0.5,
                         ("none", "claim fall: contradicted"): 0.04}, n_cells=2, effect=0.02)
    glued = cal.calibration_glue({"low": low, "high": high}, prefix="x_")
    assert (glued["x_effect_1"], glued["x_cell_rise_1"], glued["x_cell_fall_1"]) == (
        "0.01 to 0.02", "0.40 to 0.70", "0.40 to 0.50")
    assert (glued["x_false_confirmed"], glued["x_false_contradicted"]) == (0.02, 0.04)
    assert glued["x_coverage_gain"] == 0 and glued["x_cells"] == "2 to 4" and glued["x_seeds"] == "3"
    # the furthest design decides the word: 0.2 apart over 2,000 cells
    assert glued["x_symmetry_1"] == "more often than"
    assert glued["x_rise_fall_z_1"] == pytest.approx(0.2 / math.sqrt((0.21 + 0.25) / 2000))
    assert cal.span([0.5, 0.504], ".2f") == "0.50" and cal.span([3, 5, 4], "d") == "3 to 5"
