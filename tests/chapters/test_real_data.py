"""The real-data study: parameter checks, linear-probe information, the claims it builds."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alignbook.chapters import real_data as rs
from alignbook.data import from_arrays


def _paired(n=300, seed=0, shared=True):
    """x1 sees the label; x2 sees it too (shared) or is pure noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x1 = np.eye(3)[y] * 3 + rng.normal(size=(n, 3))
    x2 = (np.eye(3)[y] * 3 if shared else 0) + rng.normal(size=(n, 3))
    return from_arrays(x1, x2, y, seed=seed, name="toy")


def test_check_view_pairs_accepts_pairs_and_names_the_parameter():
    pairs = rs.check_view_pairs("mfeat_pairs", [["fac", "kar"], ("pix", "fou")])
    assert pairs == [("fac", "kar"), ("pix", "fou")]
    assert rs.check_view_pairs("mfeat_pairs", "[['fac', 'kar']]") == [("fac", "kar")]  # papermill's text
    for bad in ("fac", [], [["fac"]], [["fac", "fac"]], [["fac", "xyz"]], [["fac", "kar"], ["fac", "kar"]]):
        with pytest.raises(ValueError, match="^mfeat_pairs"):
            rs.check_view_pairs("mfeat_pairs", bad)


def test_other_parameter_checks():
    assert rs.check_modality_pair("m", ["vision", "text"]) == ("vision", "text")
    for bad in ("vision", ["vision"], ["vision", "vision"], ["vision", "smell"]):
        with pytest.raises(ValueError, match="^m:"):
            rs.check_modality_pair("m", bad)
    assert rs.check_optional_path("p", "", "file") == ""
    assert rs.check_optional_path("p", __file__, "file") == __file__
    with pytest.raises(ValueError, match="^p:.*does not exist"):
        rs.check_optional_path("p", "/no/such/file.pkl", "file")
    with pytest.raises(ValueError, match="^p:.*is a folder, not a file"):
        rs.check_optional_path("p", str(Path(__file__).parent), "file")
    with pytest.raises(ValueError, match="^p:.*is a file, not a folder"):
        rs.check_optional_path("p", __file__, "folder")
    with pytest.raises(ValueError, match="^p:"):
        rs.check_optional_path("p", None, "file")
    with pytest.raises(ValueError, match="^t:"):
        rs.check_fraction("t", 1.5)


def test_benchmark_name_from_file_names():
    assert rs.benchmark_name("/data/mosei_senti_data.pkl") == "CMU-MOSEI"
    assert rs.benchmark_name("sarcasm.pkl") == "MUStARD"
    assert rs.benchmark_name("mosi_raw.pkl") == "CMU-MOSI"
    assert rs.benchmark_name("other.pkl") == "other"


def test_mmi_decomposition_adds_up():
    parts = rs.mmi_decomposition(1.0, 0.4, 1.2)
    assert parts["R"] == 0.4 and parts["U1"] == pytest.approx(0.6) and parts["U2"] == 0.0
    assert parts["S"] == pytest.approx(0.2)
    assert parts["shared"] == pytest.approx(0.4 / 1.2) and parts["shared2"] == 1.0
    assert math.isnan(rs.mmi_decomposition(0.0, 0.0, 0.0)["shared"])
    with pytest.raises(ValueError, match="i1/i2/i12"):
        rs.mmi_decomposition(-1.0, 0.0, 0.0)


def test_probe_information_sees_shared_and_missing_information():
    shared = rs.probe_information(_paired(shared=True))
    assert shared["acc1"] > 0.8 and shared["acc2"] > 0.8 and shared["shared"] > 0.7
    noise = rs.probe_information(_paired(shared=False))
    assert noise["acc1"] > 0.8 and noise["acc2"] < 0.6
    assert noise["I2"] < 0.1 * noise["I1"] and noise["shared"] < 0.1
    again = rs.probe_information(_paired(shared=False))
    assert again == noise  # deterministic


def test_probe_features_summarise_sequences():
    x = np.arange(24, dtype=float).reshape(2, 3, 4)
    features = rs.probe_features(x)
    assert features.shape == (2, 8)
    np.testing.assert_allclose(features[0, :4], x[0].mean(axis=0))


def test_probe_information_on_a_regression_target_uses_its_sign():
    rng = np.random.default_rng(1)
    x1, x2 = rng.normal(size=(200, 2)), rng.normal(size=(200, 2))
    dataset = from_arrays(x1, x2, x1[:, 0] + 0.1 * rng.normal(size=200), task="regression")
    info = rs.probe_information(dataset)
    assert info["acc1"] > 0.85 and info["acc2"] < 0.75


def test_encoder_information_roles_and_categories():
    info = rs.information_table({"a": _paired(shared=True), "b": _paired(shared=False)})
    assert list(info.index) == ["a", "b"] and list(info["modality1"]) == ["x1", "x1"]
    encoders = rs.encoder_information(info, threshold=0.9)
    b = encoders[encoders["dataset"] == "b"].set_index("encoder")
    assert b.loc[1, "role"] == "stronger" and b.loc[2, "role"] == "weaker"
    assert b.loc[1, "information"] == "much unique" and b.loc[2, "information"] == "mostly shared"


def _optimum(rows):
    base = {"lam_star": 0.5, "lam_low": 0.25, "lam_high": 1.0, "gain": 0.01, "gain_low": 0.0,
            "gain_high": 0.02}
    return pd.DataFrame([{**base, **row} for row in rows])


def test_paper_claims_are_not_testable_without_the_benchmarks_and_tested_with_them():
    ours = _optimum([{"dataset": "fac-kar", "modality": "fac", "encoder": 1, "shape": "falls"}])
    rows = rs.paper_claim_rows(ours)
    assert [r["verdict"] for r in rows] == ["not testable here"] * len(rs.PAPER_REAL_CLAIMS)
    mosei = _optimum([
        {"dataset": "CMU-MOSEI", "modality": "vision", "encoder": 1, "shape": "rises"},
        {"dataset": "CMU-MOSEI", "modality": "text", "encoder": 2, "shape": "interior optimum",
         "lam_star": 0.75, "lam_low": 0.5, "lam_high": 1.0},
    ])
    verdicts = [r["verdict"] for r in rs.paper_claim_rows(mosei)]
    assert verdicts == ["confirmed", "confirmed", "not testable here", "not testable here"]


def test_sharing_claims_split_encoders_and_correlate():
    encoders = pd.DataFrame({
        "dataset": ["p", "p", "q", "q"], "encoder": [1, 2, 1, 2], "modality": ["a", "b", "c", "d"],
        "probe_acc": 0.9, "I": [2.0, 1.0, 2.0, 1.5], "shared_own": [0.5, 1.0, 0.75, 1.0],
        "information": ["much unique", "mostly shared", "much unique", "mostly shared"],
        "role": ["stronger", "weaker", "stronger", "weaker"]})
    optimum = _optimum([
        {"dataset": "p", "modality": "a", "encoder": 1, "shape": "falls", "gain": 0.0},
        {"dataset": "p", "modality": "b", "encoder": 2, "shape": "rises", "gain": 0.03},
        {"dataset": "q", "modality": "c", "encoder": 1, "shape": "flat", "gain": 0.01},
        {"dataset": "q", "modality": "d", "encoder": 2, "shape": "flat", "gain": 0.02},
    ])
    cases = rs.sharing_cases(optimum, encoders)
    assert list(cases["case"]) == ["p/a", "p/b", "q/c", "q/d"]
    helps, hurts, trend = rs.sharing_claim_rows(cases, n_bootstrap=200)
    assert (helps["agree"], helps["cases"], helps["verdict"]) == (1, 2, "partly confirmed")
    assert (hurts["agree"], hurts["cases"], hurts["verdict"]) == (1, 2, "partly confirmed")
    assert trend["claim"] == rs.SHARING_GAIN_CLAIM and trend["rho"] > 0 and trend["cases"] == 1
    few = rs.sharing_claim_rows(cases.iloc[:2], n_bootstrap=50)[2]
    assert few["verdict"] == "not testable here" and math.isnan(few["rho"])


def test_study_spec_uses_the_settings_of_its_kind():
    spec = rs.study_spec("basicmotions", [0.0, 1.0], [0, 1], num_epochs=3)
    config = spec.config()
    assert config.encoder == "transformer" and config.num_epochs == 3 and config.knn_k == 5
    assert spec.name == "realdata_basicmotions" and spec.lams == (0.0, 1.0)
    with pytest.raises(ValueError, match="^kind"):
        rs.study_spec("nope", [0.0], [0], 1)


# ------------------------------------------------------------------------------------------ scarce labels


def test_check_label_fractions_reads_text_and_names_the_parameter():
    assert rs.check_label_fractions("label_fractions", [0.05, 1]) == [0.05, 1.0]
    assert rs.check_label_fractions("label_fractions", "[0.05, 0.2, 1.0]") == [0.05, 0.2, 1.0]
    for bad in ([], [0, 1], [1.5], [True, 1.0], [0.5, 0.05, 1.0], [0.05, 0.05, 1.0], [0.05, 0.5], "x"):
        with pytest.raises(ValueError, match="^label_fractions:"):
            rs.check_label_fractions("label_fractions", bad)


def test_labelled_size_rounds_and_keeps_one_example_per_class():
    assert rs.labelled_size(0.05, 1400, 10) == 70  # an mfeat pair
    assert rs.labelled_size(0.05, 40, 4) == 4  # BasicMotions: 2 rounded up to one series per activity
    assert rs.labelled_size(0.001, 1400, 10) == 10
    assert rs.labelled_size(1.0, 1400, 10) == 1400 and rs.labelled_size(0.2, 3, 4) == 3


def test_budget_spec_gives_a_scarce_set_the_full_splits_steps():
    mfeat = rs.budget_spec("mfeat", [0.0, 1.0], [0, 1], 70, 1400, 20, 16)
    config = mfeat.config()
    # 1400 // 256 = 5 steps per epoch of the full split, 20 epochs
    assert (config.num_steps, config.num_checkpoints, config.batch_size) == (100, 16, 256)
    assert mfeat.name == "realdata_mfeat_n70" and config.encoder == "mlp"
    motions = rs.budget_spec("basicmotions", [0.0], [0], 4, 40, 20, 16).config()
    assert (motions.num_steps, motions.encoder, motions.knn_k) == (40, "transformer", 5)  # 40 // 16 = 2
    full = rs.budget_spec("mfeat", [0.0, 1.0], [0, 1], 1400, 1400, 20, 16)
    assert full.to_dict() == rs.study_spec("mfeat", [0.0, 1.0], [0, 1], 20).to_dict()
    with pytest.raises(ValueError, match="^kind"):
        rs.budget_options("nope", 4, 40, 20, 16)


def test_scarce_dataset_keeps_the_full_split_as_it_is():
    dataset = rs.mfeat_datasets([["fou", "mor"]])["fou-mor"]
    scarce = rs.scarce_dataset("mfeat", dataset, 70)
    assert len(scarce.train) == 70 and np.array_equal(scarce.test.x2, dataset.test.x2)
    assert rs.scarce_dataset("mfeat", dataset, 1400) is dataset
    with pytest.raises(ValueError, match="^kind"):
        rs.scarce_dataset("multibench", dataset, 70)


def _budget_optimum():
    rows = []
    # (dataset, fraction, shape, gain, low, high) of the weaker encoder 2
    for dataset, fraction, shape, gain, low, high in [
            ("p", 0.05, "rises", 0.05, 0.03, 0.07), ("p", 1.0, "flat", 0.005, 0.0, 0.01),
            ("q", 0.05, "flat", 0.01, -0.01, 0.02), ("q", 1.0, "interior optimum", 0.02, 0.01, 0.03),
            ("r", 0.05, "falls", 0.0, 0.0, 0.0), ("r", 1.0, "rises", 0.03, 0.02, 0.04)]:
        n_train = 70 if fraction < 1 else 1400
        base = {"dataset": dataset, "label_fraction": fraction, "n_train": n_train, "lam_star": 1.0,
                "lam_low": 0.5, "lam_high": 2.0}
        rows.append({**base, "encoder": 2, "role": "weaker", "shape": shape, "gain": gain, "gain_low": low,
                     "gain_high": high})
        rows.append({**base, "encoder": 1, "role": "stronger", "shape": "rises", "gain": 0.1,
                     "gain_low": 0.08, "gain_high": 0.12})
    return pd.DataFrame(rows)


def test_budget_claims_judge_the_weaker_views_per_budget():
    optimum = _budget_optimum()
    gain, regimes, shrink = rs.budget_claims(optimum)
    row = gain.loc[rs.WEAK_GAIN_CLAIM]
    assert (row["agree"], row["cases"], row["verdict"]) == (3, 6, "partly confirmed")
    assert list(regimes) == ["5 % of the labels", "all labels"]
    scarce, full = (regimes[k].loc[rs.WEAK_GAIN_CLAIM] for k in regimes)
    assert (scarce["agree"], scarce["cases"]) == (1, 3) and (full["agree"], full["cases"]) == (2, 3)
    row = shrink.loc[rs.WEAK_SHRINK_CLAIM]  # p: disjoint and above; q: overlapping; r: disjoint and below
    assert (row["agree"], row["cases"], row["verdict"]) == (1, 3, "partly confirmed")
    assert row["ours"].startswith("p encoder=2: gain +0.0500 [+0.0300, +0.0700] with 0.05 of the labels")
    assert rs.budget_claims(optimum[optimum["dataset"] == "p"])[2]["verdict"].iloc[0] == "confirmed"


def test_budget_summary_counts_one_role_at_one_budget():
    optimum = _budget_optimum()
    found = rs.budget_summary(optimum, 0.05, "weaker")
    assert found == {"n": 3, "n_gain": 1, "n_sure": 1, "gain_mean": pytest.approx(0.02), "gain_max": 0.05,
                     "n_train_min": 70, "n_train_max": 70}
    assert rs.budget_summary(optimum, 1.0, "stronger")["n_sure"] == 3
    assert rs.budget_label(0.05) == "5 % of the labels" and rs.budget_label(1.0) == "all labels"
    with pytest.raises(ValueError, match="^fraction"):
        rs.budget_summary(optimum, 0.2)


def test_run_budgets_reuses_the_full_split_and_trains_the_scarce_one(tmp_path, monkeypatch):
    from alignbook.sweep import run_sweep

    monkeypatch.setenv("ALIGNBOOK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ALIGNBOOK_RESULTS", str(tmp_path / "results"))
    study_data = {"mfeat": rs.mfeat_datasets([["fou", "mor"]])}
    full = run_sweep(rs.study_spec("mfeat", [0.0, 1.0], [0], 1), data=study_data["mfeat"],
                     progress=False).table
    table, budgets = rs.run_budgets(study_data, [0.05, 1.0], [0.0, 1.0], [0], 1, 3, full, progress=False)
    assert len(table) == 8 and set(table["kind"]) == {"mfeat"}
    by_fraction = table.groupby("label_fraction")["n_train"].unique()
    assert by_fraction.loc[0.05].tolist() == [70] and by_fraction.loc[1.0].tolist() == [1400]
    pd.testing.assert_frame_equal(table[table["label_fraction"] == 1].drop(
        columns=["kind", "label_fraction", "n_train"]).reset_index(drop=True), full)
    assert budgets[["n_train", "steps", "num_steps", "num_checkpoints"]].values.tolist() == [
        [70, 5, 5, 3], [1400, 5, 0, 0]]
    scarce = table[table["label_fraction"] < 1]
    assert scarce["best_step"].max() <= 5 and (scarce["status"] == "ok").all()
    convergence = rs.budget_convergence(table, budgets)
    assert convergence["steps"].tolist() == [5, 5, 5, 5] and convergence["runs"].tolist() == [2, 2, 2, 2]


def test_stored_mfeat_datasets_equal_a_fresh_load():
    from alignbook.data import load_mfeat

    first = rs.mfeat_datasets([["fou", "mor"], ("fac", "kar")], seed=1)
    stored = rs.mfeat_datasets([("fou", "mor"), ["fac", "kar"]], seed=1)  # read back: no second load
    assert list(stored) == ["fou-mor", "fac-kar"]
    for name, views in (("fou-mor", ("fou", "mor")), ("fac-kar", ("fac", "kar"))):
        fresh = load_mfeat(views, seed=1)
        for dataset in (first[name], stored[name]):
            assert dataset.fingerprint() == fresh.fingerprint() and repr(dataset) == repr(fresh)
            assert (dataset.params, dataset.info) == (fresh.params, fresh.info)
    assert rs.mfeat_datasets([["fou", "mor"]], seed=2)["fou-mor"].fingerprint() != \
        first["fou-mor"].fingerprint()
    for _ in range(2):  # computed, then read back
        scarce = rs.scarce_dataset("mfeat", first["fou-mor"], 70)
        expected = load_mfeat(("fou", "mor"), seed=1, n_train=70)
        assert scarce.fingerprint() == expected.fingerprint() and len(scarce.train) == 70
