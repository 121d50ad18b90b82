"""The real-data chapter: its parameters, its sweeps, the claims it builds and its label budgets."""

import functools
import math

import numpy as np
import pandas as pd
import pytest
from conftest import FakeTrainers
from scipy import stats

from alignbook import analysis
from alignbook.chapters import real_data as rs
from alignbook.chapters.studies import CHECK_EVERY, MAX_STEPS, PATIENCE
from alignbook.data import from_arrays, load_mfeat

SMOKE = {"mfeat_pairs": [["fou", "mor"]], "lams": [0.0, 1.0, 4.0], "seeds": [0, 1, 2],
         "label_fractions": [0.05, 1.0], "basicmotions": True, "shared_threshold": 0.9, "patience": 0,
         "n_sims": 200, "multibench_path": "", "multibench_modalities": ["vision", "text"],
         "avmnist_path": "", "workers": 1, "backend": "local"}


def test_parameters_normalise_papermills_text_and_refuse_what_cannot_run():
    p = rs.Parameters.from_namespace({**SMOKE, "mfeat_pairs": '[["fou", "mor"]]', "seeds": "[0, 1, 2]"})
    assert p.mfeat_pairs == [("fou", "mor")] and p.seeds == [0, 1, 2] and p.label_fractions == [0.05, 1.0]
    assert p.multibench_modalities == ("vision", "text")
    refused = {"lams": [0.5, 1.0, 2.0], "seeds": [0, 1], "label_fractions": [0.05, 0.5],
               "basicmotions": "yes", "n_sims": 10, "patience": -1, "mfeat_pairs": [["fou", "xyz"]],
               "shared_threshold": 1.5, "avmnist_path": "/no/such/folder"}
    for name, value in refused.items():
        with pytest.raises(ValueError, match=f"^{name}: "):
            rs.Parameters.from_namespace({**SMOKE, name: value})
    with pytest.raises(ValueError, match="^lams: must start with 0 and hold at least 3 values"):
        rs.Parameters.from_namespace({**SMOKE, "lams": [0.0, 1.0]})
    with pytest.raises(ValueError, match="^backend: "):
        rs.Parameters.from_namespace({**SMOKE, "backend": "cloud"})


def test_training_options_follow_the_books_rule_per_kind():
    mfeat = rs.training_options("mfeat")
    assert (mfeat["check_every"], mfeat["patience"], mfeat["num_steps"]) == (CHECK_EVERY, PATIENCE, MAX_STEPS)
    motions = rs.training_options("basicmotions", patience=3)
    every = rs.CHECK_EVERY_BY_KIND["basicmotions"]
    # as many checkpoints to the cap as the book's rule allows
    assert (motions["check_every"], motions["patience"]) == (every, 3)
    assert motions["num_steps"] // every == MAX_STEPS // CHECK_EVERY
    assert (motions["encoder"], motions["batch_size"], motions["knn_k"]) == ("transformer", 16, 5)
    with pytest.raises(ValueError, match="^kind"):
        rs.training_options("nope")


def test_sweep_specs_draw_each_seeds_data_at_the_labelled_size():
    spec = rs.sweep_spec("mfeat", [0.0, 1.0], [0, 1], pairs=[["fac", "kar"], ["fou", "mor"]], n_train=70)
    assert spec.data_seed == "seed" and spec.name == "realdata_mfeat_n70"
    assert spec.dataset == {"kind": "mfeat", "n_train": 70}
    assert spec.dataset_grid == {"views": [["fac", "kar"], ["fou", "mor"]]}
    assert spec.config().patience == PATIENCE and spec.config().check_every == CHECK_EVERY
    motions = rs.sweep_spec("basicmotions", [0.0, 1.0], [0, 1])
    assert motions.name == "realdata_basicmotions" and motions.dataset["split"] == list(rs.BASICMOTIONS_SPLIT)
    assert motions.config().encoder == "transformer" and "n_train" not in motions.dataset
    for kind in ("nope", "multibench"):
        with pytest.raises(ValueError, match="^kind"):
            rs.sweep_spec(kind, [0.0], [0])


def test_run_study_runs_every_kind_at_every_budget(tmp_path, monkeypatch):
    from alignbook import sweep

    monkeypatch.setenv("ALIGNBOOK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ALIGNBOOK_RESULTS", str(tmp_path / "results"))
    monkeypatch.setattr(sweep, "run_sweep", functools.partial(sweep.run_sweep, trainer=FakeTrainers()))
    examples = {"mfeat": load_mfeat(("fou", "mor"))}
    study = rs.run_study(examples=examples, pairs=[["fou", "mor"]], fractions=[0.05, 1.0], lams=[0.0, 1.0],
                         seeds=[0, 1], workers=1)
    table = study.table
    assert len(table) == 2 * 2 * 2 * 2 and set(table["dataset"]) == {"fou-mor"}
    assert (table["data_seed"] == table["seed"]).all() and set(table["kind"]) == {"mfeat"}
    sizes = table.groupby("label_fraction")["n_train"].unique().map(list).to_dict()
    assert sizes == {0.05: [70], 1.0: [1400]}
    assert study.sweeps[["label_fraction", "n_train", "full", "runs", "trained"]].values.tolist() == [
        [0.05, 70, 1400, 4, 4], [1.0, 1400, 1400, 4, 4]]
    assert set(table["spec"]) == {"realdata_mfeat_n70", "realdata_mfeat"}


def test_benchmark_name_from_file_names():
    assert rs.benchmark_name("/data/mosei_senti_data.pkl") == "CMU-MOSEI"
    assert rs.benchmark_name("sarcasm.pkl") == "MUStARD"
    assert rs.benchmark_name("mosi_raw.pkl") == "CMU-MOSI"
    assert rs.benchmark_name("other.pkl") == "other"


def test_the_stored_information_table_is_the_proxys(tmp_path, monkeypatch):
    from alignbook.info import proxy

    monkeypatch.setenv("ALIGNBOOK_CACHE", str(tmp_path))
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    datasets = {name: from_arrays(np.eye(3)[y] * 3 + rng.normal(size=(300, 3)),
                                  np.eye(3)[y] * scale + rng.normal(size=(300, 3)), y, name=name)
                for name, scale in (("a", 3), ("b", 0))}
    table = rs.information_table(datasets)
    pd.testing.assert_frame_equal(table, proxy.information_table(datasets))
    assert rs.information_table.lookup(datasets)[0]  # stored: read back on re-execution


# ------------------------------------------------------------------------------ claims with every label

LAMS = (0.0, 1.0, 2.0, 4.0)


def _runs(effects: dict, seeds=range(6), noise=0.002) -> pd.DataFrame:
    """A runs table: `effects` maps (kind, dataset, encoder, modality) to the accuracy change at the largest
    lam (linear in lam); alignment rises with lam; seed noise is shared by validation and test."""
    rng = np.random.default_rng(0)
    rows = []
    for (kind, dataset, encoder, modality), effect in effects.items():
        for lam in LAMS:
            for seed in seeds:
                shared = rng.normal(0, noise)
                rows.append({"kind": kind, "dataset": dataset, "label_fraction": 1.0, "n_train": 100,
                             "modality": modality, "encoder": encoder, "lam": lam, "seed": seed,
                             "acc": 0.8 + effect * lam / 4 + shared + rng.normal(0, noise),
                             "val_acc": 0.8 + effect * lam / 4 + shared + rng.normal(0, noise),
                             "align_cka": 0.1 * lam + 0.01 * seed, "status": "ok", "hit_cap": False})
    return pd.DataFrame(rows)


def test_real_claims_judge_the_measured_pairs_and_the_benchmarks():
    runs = _runs({("mfeat", "p", 1, "a"): -0.04, ("mfeat", "p", 2, "b"): 0.04,
                  ("mfeat", "q", 1, "c"): -0.04, ("mfeat", "q", 2, "d"): 0.02,
                  ("multibench", "CMU-MOSEI", 1, "vision"): 0.04,
                  ("multibench", "CMU-MOSEI", 2, "text"): 0.0})
    encoders = pd.DataFrame({
        "dataset": ["p", "p", "q", "q"], "encoder": [1, 2, 1, 2], "role": ["stronger", "weaker"] * 2,
        "information": ["much unique", "mostly shared"] * 2, "shared_own": [0.5, 1.0, 0.75, 0.9]})
    optimum = rs.study_optimum(runs, encoders)
    assert optimum["margin"].eq(analysis.load_protocol().margins["real_accuracy"].value).all()
    assert optimum.set_index(["dataset", "encoder"])["role"].isna().loc["CMU-MOSEI"].all()
    trend = analysis.alignment_trend(runs[runs["encoder"] == 1], by=["dataset"], metric="align_cka")
    table = rs.real_claims(optimum, runs, trend)
    claims = table.reset_index().set_index("key")
    counts = claims[["agree", "cases", "opposed", "verdict"]].T.to_dict("list")
    assert counts["mosei_vision"] == [1, 1, 0, "confirmed"]
    assert counts["avmnist_image"] == [0, 0, 0, "not testable here"]
    # the benchmark is not a measured pair: the general claim counts p and q only
    assert counts["shared_gain"] == [2, 2, 0, "confirmed"] and counts["unique_loss"] == [2, 2, 0, "confirmed"]
    assert counts["align_real"] == [2, 2, 0, "confirmed"]
    # the correlation of the encoders' shared fractions with their cross-fitted gains (means of d_up)
    measured = optimum.dropna(subset=["shared_own"])
    expected = stats.spearmanr(measured["shared_own"], measured["gain"]).statistic
    assert claims.loc["sharing_trend", "rho"] == pytest.approx(expected) and expected > 0.5
    assert claims.loc["sharing_trend", "claim"] == rs.SHARING_GAIN_CLAIM
    assert rs.gain_summary(optimum) == pytest.approx(
        {"gain_shared_mean": optimum.query("information == 'mostly shared'")["gain"].mean(),
         "gain_unique_mean": optimum.query("information == 'much unique'")["gain"].mean()})
    assert rs.general_reading(table) == "reproduced"
    for verdicts, reading in ((["confirmed", "contradicted"], "contradicted in part"),
                              (["partly confirmed", "not confirmed"], "reproduced in part"),
                              (["not confirmed", "not testable here"], "not reproduced")):
        halves = pd.DataFrame({"key": ["shared_gain", "unique_loss"], "verdict": verdicts})
        assert rs.general_reading(halves) == reading
    shown = rs.readable_claims(table)
    assert shown.loc[rs.SHARING_GAIN_CLAIM, "holds in"] == f"{claims.loc['sharing_trend', 'agree']} of 1"
    assert shown["could detect"].str.fullmatch(r"\d\.\d{3}|–").all()


# a cell of `study_optimum` apart from its dataset, encoder and gain
_CELL = {"lam_star": 1.0, "lam_low": 0.0, "lam_high": 4.0, "lam_p": {0.0: 0.5, 1.0: 1.0, 4.0: 0.5},
         "p_interior": 0.9, "p_no_gain": 0.5, "p_no_loss": 0.5, "sd": 0.01, "sd_diff": 0.01, "mde": 0.014,
         "n_seeds": 5, "n_lams": 3, "gain_low": 0.0, "gain_high": 0.0, "p_rise": 0.5, "p_fall": 0.5}


def test_fewer_than_three_measured_encoders_leave_the_correlation_untestable():
    cases = pd.DataFrame({"dataset": ["p", "p"], "modality": ["a", "b"], "encoder": [1, 2],
                          "information": ["much unique", "mostly shared"], "shared_own": [0.5, 1.0]})
    row = rs.sharing_claim_rows(cases.assign(**_CELL, gain=0.01), pd.DataFrame())[2]
    assert row["verdict"] == "not testable here" and math.isnan(row["rho"]) and row["key"] == "sharing_trend"


@pytest.mark.slow
def test_the_estimated_decomposition_is_the_package_estimators_point(tmp_path, monkeypatch):
    from alignbook.info import estimate_pid

    monkeypatch.setenv("ALIGNBOOK_CACHE", str(tmp_path))
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 2000)
    dataset = from_arrays(np.eye(3)[y] * 3 + rng.normal(size=(2000, 3)), np.eye(3)[y] * 3
                          + rng.normal(size=(2000, 3)), y, name="toy")
    table = rs.estimated_decomposition({"toy": dataset})
    rows = [np.concatenate([getattr(s, a) for s in (dataset.train, dataset.valid, dataset.test)])
            for a in ("x1", "x2", "y")]
    point = estimate_pid(*rows).point
    assert table.loc["toy", "R"] == pytest.approx(point["redundancy"])
    assert table.loc["toy", "redundancy_fraction"] == pytest.approx(point["redundancy"] / point["mi_x1x2_y"])
