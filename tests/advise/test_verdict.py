"""The verdict per encoder on constructed tables whose answer is known, its error rates on simulated cells,
and the recommendation and advice file built from it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from alignbook.advise.study import Study
from alignbook.advise.verdict import (
    ADVICE_FIELDS,
    VERDICTS,
    advice,
    recommendation,
    verdict_of,
    verdict_rates,
    verdicts,
    with_n_train,
)
from alignbook.analysis import NoiseModel
from alignbook.data.user import check_pairs

LAMS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)


def table(effects: dict, seeds: int = 5, noise: float = 0.002, labels="all", seed: int = 0) -> pd.DataFrame:
    """A results table with one curve per encoder: `effects[encoder](lam)` added to 0.8, plus noise shared
    by a run's validation and test scores and each split's own."""
    rng = np.random.default_rng(seed)
    rows = []
    for lam in LAMS:
        for s in range(seeds):
            shared = rng.normal(0, noise)
            for encoder, effect in effects.items():
                base = 0.8 + effect(lam) + shared
                rows.append({"labels": labels, "encoder": encoder, "modality": f"m{encoder}", "lam": lam,
                             "seed": s, "acc": base + rng.normal(0, noise),
                             "val_acc": base + rng.normal(0, noise),
                             "status": "ok", "hit_cap": lam == 4.0 and s == 0})
    return pd.DataFrame(rows)


def rise(lam):
    return 0.03 * min(lam, 1.0)


def fall(lam):
    return -0.03 * min(lam, 1.0)


def flat(lam):
    return 0.0


def test_the_verdict_rule_reads_lam_star_and_both_one_sided_tests():
    got = verdict_of([0.5, 0.0, 0.5, 0.0, 1.0, 2.0], [0.01, 0.01, 0.2, 0.2, np.nan, 0.01],
                     [0.5, 0.5, 0.01, 0.01, np.nan, 0.01], 0.05)
    assert got.tolist() == ["helps", "no detectable effect", "hurts", "hurts", "no detectable effect",
                            "helps"]


def test_constructed_rise_fall_and_flat_get_their_verdicts():
    found = verdicts(with_n_train(table({1: fall, 2: rise}), {"all": 700}))
    by_encoder = found.set_index("encoder")
    assert by_encoder.loc[2, "verdict"] == "helps" and by_encoder.loc[2, "lam_star"] > 0
    assert by_encoder.loc[1, "verdict"] == "hurts"
    assert by_encoder.loc[2, "gain_low"] > 0 > by_encoder.loc[1, "gain_high"] - 0.03
    assert (found["n_train"] == 700).all() and found["modality"].tolist() == ["m1", "m2"]
    assert found["cap_share"].tolist() == pytest.approx([1 / 30, 1 / 30])
    assert not found["over_cap"].any()
    assert by_encoder.loc[1, "lam_worst"] > 0 and by_encoder.loc[1, "loss_high"] < 0
    flat_found = verdicts(with_n_train(table({1: flat, 2: flat}, noise=0.02), {"all": 700}))
    assert (flat_found["verdict"] == "no detectable effect").all()
    assert (flat_found["mde"] > 0).all()


@pytest.mark.parametrize("seed", range(6))
def test_the_shown_intervals_agree_with_the_verdicts(seed):
    """The interval at 1 - 2 alpha lies above 0 exactly when the one-sided rise is shown, below 0 exactly
    when the fall is."""
    effects = [rise, fall, flat][seed % 3]
    found = verdicts(with_n_train(table({1: effects, 2: flat}, noise=0.01, seeds=4, seed=seed), {"all": 9}))
    assert (found["level"] == 0.9).all()
    assert ((found["gain_low"] > 0) == (found["p_rise"] < 0.05)).all()
    assert ((found["loss_high"] < 0) == (found["p_fall"] < 0.05)).all()


def test_mirror_images_get_mirror_verdicts():
    up = verdicts(with_n_train(table({1: rise, 2: flat}, seed=3), {"all": 9}))
    mirrored = table({1: rise, 2: flat}, seed=3)
    mirrored[["acc", "val_acc"]] = 1.6 - mirrored[["acc", "val_acc"]]
    down = verdicts(with_n_train(mirrored, {"all": 9}))
    assert up.loc[0, "verdict"] == "helps" and down.loc[0, "verdict"] == "hurts"
    assert up.loc[0, "p_rise"] == pytest.approx(down.loc[0, "p_fall"])


def test_simulated_error_rates_hold_alpha_and_are_symmetric():
    noise = NoiseModel(run_sd=0.005, test_sd=0.008, val_sd=0.006)
    rates = verdict_rates(LAMS, 5, noise, effect=0.02, n_sims=4000, seed=1).set_index("truth")
    assert set(VERDICTS) <= set(rates.columns)
    assert rates.loc["no effect", "helps"] <= 0.05 + 3 * rates.loc["no effect", "se"]
    assert rates.loc["no effect", "hurts"] <= 0.05 + 3 * rates.loc["no effect", "se"]
    assert rates.loc["a rise", "helps"] == pytest.approx(rates.loc["an equal fall", "hurts"], abs=0.04)
    assert rates.loc["a rise", "hurts"] < 0.01 and rates.loc["an equal fall", "helps"] < 0.01
    np.testing.assert_allclose(rates[list(VERDICTS)].sum(axis=1), 1.0)


def study_for(label_sizes: dict) -> Study:
    return Study("advise-test", LAMS, tuple(range(5)), tuple(label_sizes), label_sizes, {}, 60,
                 {"lam grid": "0 to 4"})


def test_the_recommendation_and_advice_file_name_every_encoder():
    both = pd.concat([table({1: fall, 2: rise}), table({1: flat, 2: rise}, labels=70, seed=4)])
    sizes = {"all": 700, 70: 70}
    found = verdicts(with_n_train(both, sizes))
    study = study_for(sizes)
    said = recommendation(found, study)
    assert said["lines"][0].startswith("Do not align the m1 encoder")
    assert said["lines"][1].startswith("Align when training the m2 encoder")
    assert "train the m2 encoder jointly" in said["lines"][2]
    assert said["scarce"][0].startswith("With 70 labelled examples instead")
    rng = np.random.default_rng(0)
    pairs = check_pairs(rng.normal(size=(60, 3)), rng.normal(size=(60, 2)), np.arange(60) % 2)
    content = advice(found, study, pairs, {"timing": "t"})
    assert [e["verdict"] for e in content["encoders"]] == ["hurts", "helps"]
    assert all(set(ADVICE_FIELDS) <= set(e) for e in content["encoders"] + content["scarce_labels"])
    assert [e["n_train"] for e in content["scarce_labels"]] == [70, 70]
    json.dumps(content, allow_nan=False)  # plain data, no NaN
