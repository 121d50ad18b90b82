"""The steps the training chapters share (`chapters.studies`), intervals in tables (`chapters.book`) and
the claim tables of the real-data and analysis chapters, on small tables whose answers are known."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from alignbook.chapters import book, studies


def test_with_interval_is_one_short_cell():
    assert book.with_interval(0.00712, 0.0021, 0.01011) == "0.0071 [0.0021, 0.0101]"
    assert book.with_interval(0.4, 0.2, 0.6, digits=1) == "0.4 [0.2, 0.6]"
    assert book.with_interval(0.4, math.nan, math.nan, digits=2) == "0.40"


def test_interval_columns_replace_their_three_sources():
    frame = pd.DataFrame({"group": ["a"], "lam_star": [0.5], "lam_low": [0.25], "lam_high": [1.0], "n": [3]})
    shown = book.interval_columns(frame, {"lam*": ("lam_star", "lam_low", "lam_high")}, digits=2)
    assert list(shown.columns) == ["group", "n", "lam*"]
    assert shown.loc[0, "lam*"] == "0.50 [0.25, 1.00]"


def optimum() -> pd.DataFrame:
    return pd.DataFrame({"redundancy": [0, 0, 8, 8], "depth": [1, 1, 1, 1], "encoder": [1, 2, 1, 2],
                         "lam_star": [0.0, 0.0, 1.0, 0.5], "lam_low": [0.0, 0.0, 0.5, 0.0],
                         "lam_high": [0.5, 0.0, 2.0, 1.0], "gain": [0.0, 0.0, 0.02, 0.01],
                         "gain_low": [0.0, 0.0, 0.01, -0.01], "gain_high": [0.0, 0.0, 0.03, 0.02],
                         "p_rise": [0.9, 0.5, 0.001, 0.01], "p_fall": [0.01, 0.5, 0.9, 0.9],
                         "p_interior": [0.9, 0.5, 0.4, 0.02], "p_no_gain": 0.5, "p_no_loss": 0.5,
                         "sd_diff": 0.005, "mde": 0.007, "n_seeds": 5, "lam_p": [{0.0: 1.0, 0.5: 0.5}] * 4,
                         "shape": ["falls", "inconclusive", "rises", "interior optimum"]})


def test_run_and_shape_counts():
    table = pd.DataFrame({"status": ["ok", "ok", "failed", "failed", "ok", "ok"]})
    assert studies.run_counts(table, [0.0, 1.0, 2.0], [0]) == {"n_runs": 3, "n_failed": 1, "n_seeds": 1,
                                                               "n_lams": 3}
    assert studies.shape_counts(optimum()) == {"n_curves": 4, "n_interior_optimum": 1, "n_rises_and_falls": 0,
                                               "n_rises": 1, "n_falls": 1, "n_flat": 0, "n_inconclusive": 1,
                                               "n_not_testable": 0, "max_gain": 0.02}


def test_optimum_table_puts_intervals_beside_values():
    shown = studies.optimum_table(optimum(), ["redundancy", "depth"])
    assert list(shown.columns) == ["lam*", "gain", "MDE", "shape"]  # no cap_share column: no "at cap"
    assert shown.loc[(8, 1, 1), "lam*"] == "1.00 [0.50, 2.00]"
    assert shown.loc[(8, 1, 2), "gain"] == "0.0100 [-0.0100, 0.0200]"
    assert shown.loc[(8, 1, 2), "MDE"] == "0.0070"


def test_optimum_table_shows_the_cap_share_and_never_nan():
    rows = optimum().assign(cap_share=[0.0, 0.05, 0.12, math.nan], mde=[0.007, math.nan, 0.01, 0.02],
                            gain_low=[0.0, math.nan, 0.01, -0.01])
    shown = studies.optimum_table(rows, ["redundancy", "depth"], digits=3)
    assert list(shown.columns) == ["lam*", "gain", "MDE", "at cap", "shape"]
    assert shown["at cap"].tolist() == ["0.00", "0.05", "0.12 (over 0.05)", "–"]  # 0.05 is not over 0.05
    assert shown["MDE"].tolist() == ["0.007", "–", "0.010", "0.020"]
    assert shown.loc[(0, 1, 2), "gain"] == "0.000"  # an interval with a missing end is left out
    assert not shown.astype(str).apply(lambda c: c.str.contains("nan")).any().any()


def test_cap_text_marks_shares_over_the_limit():
    assert studies.cap_text(0.0) == "0.00"
    assert studies.cap_text(studies.CAP_SHARE_LIMIT) == "0.05"
    assert studies.cap_text(0.2, limit=0.1) == "0.20 (over 0.1)"
    assert studies.cap_text(math.nan) == "–"


def test_over_cap_names_every_key_of_a_cell():
    convergence = pd.DataFrame({"redundancy": [4, 8, 8], "depth": [1, 1, 10], "lam": [0.5, 0.0, 2.0],
                                "n_train": [300, 10000, 10000], "encoder": [1, 2, 2],
                                "steps": [1000, 20000, 20000], "best_share": [0.5, 0.99, 0.98],
                                "cap_share": [0.05, 0.12, 0.5], "runs": [5, 8, 8]})
    assert studies.over_cap(convergence) == ("encoder 2 at redundancy 8, depth 1, lam 0, n_train 10,000 "
                                             "(0.12 of runs); encoder 2 at redundancy 8, depth 10, lam 2, "
                                             "n_train 10,000 (0.50 of runs)")
    assert studies.over_cap(convergence, limit=0.5) == "none"


def test_convergence_summary_counts_the_runs_at_the_cap():
    table = pd.DataFrame({"depth": [1] * 6, "encoder": [1, 2] * 3, "status": ["ok"] * 4 + ["failed"] * 2,
                          "steps": [1000, 1000, 2000, 2000, 50, 50],
                          "best_step": [500, 1000, 2000, 1000, 0, 0],
                          "hit_cap": [False, False, True, True, False, False]})
    summary = studies.convergence_summary(table, keys=["depth"]).set_index("encoder")
    assert summary["cap_share"].tolist() == [0.5, 0.5] and summary["runs"].tolist() == [2, 2]
    assert summary.loc[1, "steps"] == 1500 and summary.loc[1, "best_share"] == 0.75  # (0.5 + 1) / 2
    assert summary.loc[2, "best_share"] == 0.75  # (1 + 0.5) / 2: the failed runs are left out


def test_training_budget_is_the_book_rule():
    assert studies.training_budget(64) == {"batch_size": 64, "num_steps": studies.MAX_STEPS,
                                           "check_every": studies.CHECK_EVERY, "patience": studies.PATIENCE}
    from alignbook.config import TrainConfig

    config = TrainConfig(**studies.training_budget(256))  # every key is a training option
    assert (config.num_steps, config.patience) == (studies.MAX_STEPS, studies.PATIENCE)


def test_direction_word_is_computed_from_the_sign():
    words = ("above", "below", "at")
    assert studies.direction_word(0.01, *words) == "above"
    assert studies.direction_word(-0.01, *words) == "below"
    assert studies.direction_word(0.0, *words) == "at"
    assert studies.direction_word(0.01, *words, tolerance=0.02) == "at"
    assert studies.direction_word(-0.03, *words, tolerance=0.02) == "below"


def trend() -> pd.DataFrame:
    return pd.DataFrame({"redundancy": [0, 8], "depth": [1, 1], "metric": ["align_cka"] * 2,
                         "rho": [0.9, 0.1], "ci_low": [0.7, -0.5], "ci_high": [1.0, 0.6],
                         "p_rise": [0.0012, 0.4], "p_fall": [0.99, 0.6], "rises": [True, False]})


def test_trend_table_and_counts():
    shown = studies.trend_table(trend(), ["redundancy", "depth"])
    assert shown.loc[(0, 1, "align_cka"), "rho"] == "0.90 [0.70, 1.00]"
    assert shown.loc[(0, 1, "align_cka"), "p_rise"] == 0.001
    assert studies.trend_counts(trend()) == {"n_trends": 2, "n_rising": 1, "min_rho": 0.1}


def test_alignment_study_is_named_and_unpacks(tmp_path, monkeypatch):
    monkeypatch.setenv("ALIGNBOOK_CACHE", str(tmp_path))
    rows = [{"depth": 1, "lam": lam, "seed": seed, "encoder": encoder, "status": "ok",
             "align_cka": lam + 0.1 * seed, "chance_cka": 0.01 * (seed + 1)}
            for lam in (0.0, 1.0, 2.0) for seed in (0, 1, 2) for encoder in (1, 2)]
    study = studies.alignment_study(pd.DataFrame(rows), ["depth"], metrics=("align_cka",))
    summary, chance, trend_rows = study  # a tuple as well
    assert trend_rows is study.trend and chance == study.chance == {"align_cka": pytest.approx(0.02)}
    assert summary["mean"].tolist() == pytest.approx([0.1, 1.1, 2.1] * 2)  # per encoder, then lam
    assert study.trend.loc[0, "rho"] == 1.0 and study.trend.loc[0, "p_rise"] < study.trend.loc[0, "p_fall"]


def test_claim_glue_is_keyed_by_the_claim():
    claims = pd.DataFrame({"key": ["rises", "falls", "align"],
                           "verdict": ["partly confirmed", "not testable here", "confirmed"],
                           "agree": [1, 0, 4], "cases": [8, 0, 4], "opposed": [2, 0, 0],
                           "mde": [0.01234, math.nan, math.nan]}, index=["a claim", "another", "a third"])
    glued = studies.claim_glue(claims, prefix="x_")
    assert glued == {"x_rises_verdict": "partly confirmed", "x_rises_agree": "1 of 8",
                     "x_rises_opposed": "2 of 8",
                     "x_rises_reach": "each of its cells detects a change of 0.0123 with 80 % power",
                     "x_falls_verdict": "not testable here", "x_falls_agree": "0 of 0",
                     "x_falls_opposed": "0 of 0", "x_falls_reach": "no cell of this run tests it",
                     "x_align_verdict": "confirmed", "x_align_agree": "4 of 4", "x_align_opposed": "0 of 4",
                     "x_align_reach": "a rank test, without an effect size"}
