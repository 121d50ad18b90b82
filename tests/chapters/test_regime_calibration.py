"""The regime map's calibration: the protocol on simulated regimes with the chapter's design and noise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alignbook.chapters import regime_calibration, regime_map


def _noisy_table(seed_counts: dict, effect: float = 0.0) -> pd.DataFrame:
    """A results table of the map's layout with shared run noise: a rise of `effect` at r = 8, none else."""
    rng = np.random.default_rng(0)
    rows = []
    lams = [0.0, 0.5, 2.0]
    for n_train, n_seeds in seed_counts.items():
        for r in (0, 8):
            for encoder in (1, 2):
                for seed in range(n_seeds):
                    for lam in lams:
                        truth = effect * (lam > 0) * (r == 8)
                        run = rng.normal(0, 0.004)
                        rows.append({"depth": 1, "n_train": n_train, "redundancy": r, "encoder": encoder,
                                     "lam": lam, "seed": seed, "status": "ok", "hit_cap": False,
                                     "acc": 0.7 + truth + run + rng.normal(0, 0.003),
                                     "val_acc": 0.7 + truth + run + rng.normal(0, 0.003)})
    return pd.DataFrame(rows)


def test_calibration_runs_the_protocol_per_seed_count_with_the_measured_noise():
    table = _noisy_table({300: 5, 3000: 3})
    optimum = regime_map.map_optimum(table)
    tidy = regime_calibration.calibration(table, optimum, [0.0, 0.5, 2.0], n_sims=400)
    assert sorted(tidy["seeds"].unique()) == [3, 5]
    assert set(tidy.loc[tidy["seeds"] == 3, "sizes"]) == {"3,000"}
    rise = tidy[(tidy["truth"] == "rise") & (tidy["seeds"] == 5)]
    assert rise["effect"].iloc[0] == pytest.approx(optimum.loc[optimum["n_train"] == 300, "mde"].median())
    assert tidy["run_sd"].iloc[0] == pytest.approx(0.004, rel=0.5)  # the noise measured from the table
    summary = regime_calibration.calibration_summary(tidy)
    assert list(summary.index) == [3, 5] and not summary.isna().any().any()
    glued = regime_calibration.calibration_glue(tidy)
    assert glued["calib_false_level"] == "at or below" and glued["calib_symmetry"] == "less than"
    assert glued["calib_false_confirmed"] <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / 400)
    assert glued["calib_coverage_min"] >= 0.9
    low, _, high = glued["calib_rise_power"].partition(" to ")
    assert 0 < float(low) <= float(high or low) < 1
