"""A chapter's calibration section: the verdict protocol on simulated families with the chapter's design."""

import numpy as np
import pandas as pd
import pytest

from alignbook.analysis import load_protocol
from alignbook.chapters import calibration_section as cs

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
        return cs.verdict_calibration(_runs(), by=["dataset"], n_cells=4, margin=0.01, n_sims=1000, seed=0)


def test_the_design_and_noise_are_the_chapters(found):
    plan = load_protocol()
    assert found.design.lams == LAMS and found.design.n_seeds == 5 and found.design.n_cells == 4
    assert (found.design.alpha, found.design.ci, found.design.lam_range) == (plan.alpha, plan.ci, (0.5, 2.0))
    assert found.effects == (0.01, 0.02) and found.n_sims == 1000
    # the shared noise of 0.01 and the split noise of 0.005, measured back from 80 complete cells of runs
    assert found.noise.run_sd == pytest.approx(0.01, rel=0.25)
    assert found.noise.test_sd == pytest.approx(0.005, rel=0.5)
    rates = cs.calibration_rates(found)
    assert list(rates.index) == [("none", 0.0), ("rise", 0.01), ("fall", 0.01), ("interior", 0.01),
                                 ("rise", 0.02), ("fall", 0.02), ("interior", 0.02)]
    assert list(rates.columns) == [*cs.RATE_COLUMNS, "se"]
    # computed anew (not read back from the store), the same numbers
    again = cs.verdict_calibration.compute(_runs(), by=["dataset"], n_cells=4, margin=0.01, n_sims=1000)
    pd.testing.assert_frame_equal(again.table, found.table)


def test_false_verdicts_stay_at_the_level_and_a_rise_and_a_fall_are_found_alike(found):
    summary = cs.calibration_summary(found)
    bound = summary["alpha"] + 3 * summary["false_se"]
    assert summary["false_confirmed"] <= bound and summary["false_contradicted"] <= bound
    for i in (1, 2):
        assert summary[f"rise_fall_z_{i}"] < 3  # within the simulation's own error
    # two margins (0.02) against a paired spread of about 0.016 with 5 seeds: found more often than one
    assert summary["power_rise_2"] > summary["power_rise_1"] > summary["alpha"]
    assert summary["gain_coverage_min"] >= 0.9 and summary["lam_set_coverage_min"] >= 0.9
    rates = cs.calibration_rates(found)
    none = rates.loc[("none", 0.0)]
    assert summary["false_confirmed"] == max(none["rise claim holds"], none["fall claim holds"])
