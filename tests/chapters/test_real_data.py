"""The real-data study: the names its first cells call, the claims it builds, its label budgets."""

import math

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


def test_the_names_chapters_05_and_06_call_validate_by_kind():
    assert rs.check_view_pairs("mfeat_pairs", "[['fac', 'kar']]") == [("fac", "kar")]  # papermill's text
    with pytest.raises(ValueError, match="^mfeat_pairs: "):
        rs.check_view_pairs("mfeat_pairs", [["fac", "xyz"]])
    assert rs.check_modality_pair("m", ["vision", "text"]) == ("vision", "text")
    with pytest.raises(ValueError, match="^m: "):
        rs.check_modality_pair("m", ["vision", "smell"])
    assert rs.check_label_fractions("label_fractions", "[0.05, 1.0]") == [0.05, 1.0]
    assert rs.check_fraction("t", 0.9) == 0.9 and rs.check_optional_path("p", "", "file") == ""


def test_the_stored_information_table_is_the_proxys(tmp_path, monkeypatch):
    from alignbook.info import proxy

    monkeypatch.setenv("ALIGNBOOK_CACHE", str(tmp_path))
    datasets = {"a": _paired(shared=True), "b": _paired(shared=False)}
    table = rs.information_table(datasets)
    pd.testing.assert_frame_equal(table, proxy.information_table(datasets))
    assert rs.information_table.lookup(datasets)[0]  # stored: read back on re-execution
    pd.testing.assert_frame_equal(rs.encoder_information(table, 0.9), proxy.encoder_information(table, 0.9))


def test_benchmark_name_from_file_names():
    assert rs.benchmark_name("/data/mosei_senti_data.pkl") == "CMU-MOSEI"
    assert rs.benchmark_name("sarcasm.pkl") == "MUStARD"
    assert rs.benchmark_name("mosi_raw.pkl") == "CMU-MOSI"
    assert rs.benchmark_name("other.pkl") == "other"


# one-sided p-values of a rise, a fall and an interior optimum that make each shape (protocol.shapes)
SHAPE_P = {"rises": (0.001, 0.9, 0.5), "falls": (0.9, 0.001, 0.9), "interior optimum": (0.001, 0.9, 0.001),
           "flat": (0.5, 0.5, 0.5)}


def _optimum(rows):
    base = {"lam_star": 0.5, "lam_low": 0.25, "lam_high": 1.0, "gain": 0.01, "gain_low": 0.0,
            "gain_high": 0.02, "lam_p": {0.25: 0.5, 0.5: 1.0, 1.0: 0.5}, "p_no_gain": 0.5,
            "p_no_loss": 0.5, "sd": 0.01, "sd_diff": 0.01, "mde": 0.014, "n_seeds": 5}
    frame = pd.DataFrame([{**base, **row} for row in rows])
    for i, column in enumerate(("p_rise", "p_fall", "p_interior")):
        frame[column] = [SHAPE_P[shape][i] for shape in frame["shape"]]
    return frame


def test_paper_claims_are_not_testable_without_the_benchmarks_and_tested_with_them():
    ours = _optimum([{"dataset": "fac-kar", "modality": "fac", "encoder": 1, "shape": "falls"}])
    rows = rs.paper_claim_rows(ours)
    assert [r["verdict"] for r in rows] == ["not testable here"] * len(rs.PAPER_REAL_CLAIMS)
    mosei = _optimum([
        {"dataset": "CMU-MOSEI", "modality": "vision", "encoder": 1, "shape": "rises"},
        {"dataset": "CMU-MOSEI", "modality": "text", "encoder": 2, "shape": "interior optimum",
         "lam_star": 0.75, "lam_low": 0.5, "lam_high": 1.0, "lam_p": {0.25: 0.01, 0.75: 1.0, 1.5: 0.01}},
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
    # five seeds per encoder whose cross-fitted gains scatter a little around the encoder's gain
    gains = pd.DataFrame([{"dataset": row["dataset"], "encoder": row["encoder"], "seed": s,
                           "d_up": row["gain"] + 0.001 * (s - 2)} for _, row in optimum.iterrows()
                          for s in range(5)])
    helps, hurts, trend = rs.sharing_claim_rows(cases, gains, n_bootstrap=200)
    assert (helps["agree"], helps["cases"], helps["verdict"]) == (1, 2, "partly confirmed")
    assert (hurts["agree"], hurts["cases"], hurts["verdict"]) == (1, 2, "partly confirmed")
    assert (helps["key"], hurts["key"], trend["key"]) == ("shared_gain", "unique_loss", "sharing_trend")
    assert trend["claim"] == rs.SHARING_GAIN_CLAIM and trend["rho"] > 0 and trend["cases"] == 1
    few = rs.sharing_claim_rows(cases.iloc[:2], gains, n_bootstrap=50)[2]
    assert few["verdict"] == "not testable here" and math.isnan(few["rho"])


def test_study_spec_uses_the_settings_of_its_kind():
    spec = rs.study_spec("basicmotions", [0.0, 1.0], [0, 1], num_epochs=3)
    config = spec.config()
    assert config.encoder == "transformer" and config.num_epochs == 3 and config.knn_k == 5
    assert spec.name == "realdata_basicmotions" and spec.lams == (0.0, 1.0)
    with pytest.raises(ValueError, match="^kind"):
        rs.study_spec("nope", [0.0], [0], 1)


# ------------------------------------------------------------------------------------------ scarce labels


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
    return _optimum(rows)


def test_budget_claims_judge_the_weaker_views_per_budget():
    optimum = _budget_optimum()
    gain, regimes, shrink = rs.budget_claims(optimum)
    row = gain.loc[rs.WEAK_GAIN_CLAIM]
    assert (row["agree"], row["cases"], row["verdict"]) == (3, 6, "partly confirmed")
    assert list(regimes) == ["5 % of the labels", "all labels"]
    scarce, full = (regimes[k].loc[rs.WEAK_GAIN_CLAIM] for k in regimes)
    assert (scarce["agree"], scarce["cases"]) == (1, 3) and (full["agree"], full["cases"]) == (2, 3)
    # Welch's t on gains with sd 0.01 over 5 seeds: p larger at the scarce budget, q undecided, r smaller
    row = shrink.loc[rs.WEAK_SHRINK_CLAIM]
    assert (row["agree"], row["cases"], row["opposed"], row["verdict"]) == (1, 3, 1, "partly confirmed")
    assert ("p encoder=2: gain +0.0500 [+0.0300, +0.0700] at label_fraction 0.05, +0.0050 [+0.0000, "
            in row["ours"])
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


