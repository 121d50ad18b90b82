"""Planning the advice's study: seeds from the budget, the label budgets the data allow, defaults sized from
the data, and the sweep spec."""

from __future__ import annotations

import numpy as np
import pytest

from alignbook.advise.study import (
    BATCH_SIZE,
    DEFAULT_BUDGET,
    DEFAULT_LAMS,
    MIN_SCARCE_PER_CLASS,
    SEQUENCE_SETTINGS,
    plan_study,
    sweep_name,
    train_settings,
)
from alignbook.config import CHECK_EVERY, MAX_STEPS, PATIENCE
from alignbook.data.user import check_pairs


def pairs_of(n: int = 2000, d1: int = 64, d2: int = 6, classes: int = 4, name: str = "my data!", steps=None):
    rng = np.random.default_rng(0)
    x2_shape = (n, steps, d2) if steps else (n, d2)
    return check_pairs(rng.normal(size=(n, d1)), rng.normal(size=x2_shape), np.arange(n) % classes, name=name)


def test_the_default_budget_gives_five_seeds_at_two_label_budgets():
    study = plan_study(pairs_of())
    assert study.n_runs == DEFAULT_BUDGET and study.seeds == tuple(range(5)) and study.lams == DEFAULT_LAMS
    assert study.labels == ("all", 140) and study.label_sizes == {"all": 1400, 140: 140}
    spec = study.spec("synthetic")  # any registered kind
    assert spec.data_seed == "seed" and spec.dataset_grid == {"labels": ["all", 140]}
    assert len(spec) == study.n_runs and spec.name == sweep_name(pairs_of()) == "advise-my-data"
    assert spec.config().patience == PATIENCE and spec.config().check_every == CHECK_EVERY
    assert spec.config().num_steps == MAX_STEPS


def test_a_small_budget_drops_the_scarce_labels_before_it_drops_below_three_seeds():
    assert plan_study(pairs_of(), budget=30).labels == ("all",)
    assert plan_study(pairs_of(), budget=30).seeds == (0, 1, 2, 3, 4)
    assert len(plan_study(pairs_of(), budget=36).seeds) == 3
    with pytest.raises(ValueError, match=r"^budget: 17 runs allow 2 seeds of 6 lams"):
        plan_study(pairs_of(), budget=17)


def test_the_scarce_budget_needs_enough_labels_per_class():
    few = MIN_SCARCE_PER_CLASS * 4 * 10 - 10  # a tenth of it is one label short per class... of 40
    assert plan_study(pairs_of(), labels=few).labels == (few,)
    assert plan_study(pairs_of(), labels=400).labels == (400, 40)
    with pytest.raises(ValueError, match="^n_train: is 5000 but the training split holds only 1400"):
        plan_study(pairs_of(), labels=5000)


@pytest.mark.parametrize("lams, problem", [([0.5, 1.0], "must start with 0"), ([0.0], "must start with 0"),
                                           ([0.0, 2.0, 1.0], "must be increasing"), ([0.0, -1.0], "finite")])
def test_a_lam_grid_must_start_at_zero_and_increase(lams, problem):
    with pytest.raises(ValueError, match=f"^lams: .*{problem}"):
        plan_study(pairs_of(), lams=lams)


def test_too_few_test_examples_are_refused():
    with pytest.raises(ValueError, match="^data: its test part holds 15 examples"):
        plan_study(pairs_of(n=100))


@pytest.mark.parametrize("d1, d2, width", [(64, 6, 64), (6, 5, 32), (300, 3, 128), (65, 6, 128)])
def test_mlp_width_is_sized_from_the_larger_feature_count(d1, d2, width):
    settings, words = train_settings(pairs_of(n=400, d1=d1, d2=d2))
    assert settings["encoder"] == "mlp" and settings["width"] == width
    assert f"width {width}" in words["encoders"]


def test_sequences_get_the_sequence_encoder_and_every_study_the_books_batch():
    pairs = pairs_of(n=400, d2=3, steps=10)
    settings, words = train_settings(pairs)
    assert {k: settings[k] for k in SEQUENCE_SETTINGS} == SEQUENCE_SETTINGS
    assert pairs.x1.shape == (400, 1, 64) and "note 1" in words  # the table became one step
    assert settings["batch_size"] == train_settings(pairs_of())[0]["batch_size"] == BATCH_SIZE == 256


@pytest.mark.slow
def test_the_time_estimate_trains_a_pilot_run_the_study_then_reads_from_the_cache(tmp_path, monkeypatch):
    from alignbook.advise.study import estimate_time, run_study

    monkeypatch.setenv("ALIGNBOOK_RESULTS", str(tmp_path / "results"))
    rng = np.random.default_rng(1)
    y = np.arange(300) % 3
    pairs = check_pairs(rng.normal(size=(300, 4)) + y[:, None], rng.normal(size=(300, 3)), y, name="tiny")
    study = plan_study(pairs, budget=9, lams=[0.0, 1.0, 4.0])
    estimate = estimate_time(pairs, study, workers=1, cache_dir=tmp_path / "cache")
    assert estimate.runs == 9 and estimate.workers == 1 and estimate.together
    assert estimate.steps >= CHECK_EVERY * PATIENCE and estimate.step_ms > 0
    assert estimate.seconds == pytest.approx(8 * estimate.steps * estimate.step_ms / 1000)
    result = run_study(pairs, study, workers=1, cache_dir=tmp_path / "cache", progress=False)
    assert (result.n_cached, result.n_computed) == (1, 8)
