"""Chapter 03's module (`chapters.synthetic_sweep`): its parameters, its sweep, its claims and verdict table,
and the family its calibration simulates, on small constructed tables whose answers are known."""

from __future__ import annotations

import pandas as pd
import pytest

from alignbook import analysis
from alignbook.chapters import studies, synthetic_sweep

DEFAULTS = dict(redundancies=[0, 2, 4, 6, 8], depths=[1, 3],
                lams=[0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0], seeds=[0, 1, 2],
                n_samples=65536, batch_size=256, calibration_effect=0.01, calibration_sims=2000,
                workers="auto", backend="local")


def parameters(**changes) -> synthetic_sweep.Parameters:
    return synthetic_sweep.Parameters.from_namespace({**DEFAULTS, **changes})


def test_parameters_accept_the_defaults_and_read_lists_given_as_text():
    p = parameters(seeds="[0, 1, 2, 3]")
    assert p.seeds == [0, 1, 2, 3] and p.lams == DEFAULTS["lams"]
    assert isinstance(p.calibration_effect, float) and p.calibration_sims == 2000
    with pytest.raises(AttributeError):  # immutable to its readers
        p.seeds = [0]


@pytest.mark.parametrize(("changes", "message"), [
    ({"lams": [0.1, 0.5, 1.0]}, "^lams: must start at 0"),
    ({"lams": [0.0, 1.0, 2.0]}, r"^lams: must hold a value in \[0.4, 0.6\] and one above 0.6"),
    ({"lams": [0.0, 0.3, 0.6]}, r"^lams: must hold a value in \[0.4, 0.6\] and one above 0.6"),
    ({"lams": [0.0, 2.0, 0.5]}, "^lams: must be increasing"),
    ({"lams": [0.0, 0.5, 0.5, 1.0]}, "^lams: contains 0.5 more than once"),
    ({"lams": [0.0, -0.5, 1.0]}, "^lams: must be a finite number >= 0"),
    ({"seeds": [0, 1]}, "^seeds: needs at least 3 seeds, got 2"),
    ({"calibration_effect": 0.0}, "^calibration_effect: must be a number in"),
    ({"calibration_effect": 1.5}, "^calibration_effect: must be a number in"),
    ({"calibration_sims": 0}, "^calibration_sims: must be a positive integer"),
    ({"redundancies": [0, 9]}, "^redundancies: must be in 0..8"),
    ({"backend": "cloud"}, "^backend: must be one of"),
])
def test_parameters_refuse_what_the_chapter_cannot_run(changes, message):
    with pytest.raises(ValueError, match=message):
        parameters(**changes)


def test_parameters_name_a_missing_parameter():
    values = dict(DEFAULTS)
    del values["calibration_sims"]
    with pytest.raises(ValueError, match="^calibration_sims: is missing from the parameters cell"):
        synthetic_sweep.Parameters.from_namespace(values)


def test_the_sweep_draws_data_per_seed_and_trains_by_the_book_rule():
    spec = synthetic_sweep.synthetic_sweep_spec(redundancies=[0, 8], depths=[1], lams=[0.0, 0.5, 1.0],
                                                seeds=[0, 1, 2], n_samples=2048, batch_size=64)
    assert len(spec) == 2 * 1 * 3 * 3 and spec.data_seed == "seed"
    assert [spec.data_seed_for(s) for s in (0, 1, 2)] == [0, 1, 2]
    assert spec.train == studies.training_budget(64)
    config = spec.config()
    assert (config.check_every, config.patience, config.num_steps, config.batch_size) == (
        studies.CHECK_EVERY, studies.PATIENCE, studies.MAX_STEPS, 64)
    assert spec.dataset == {"kind": "synthetic", "n_samples": 2048}
    assert spec.dataset_grid == {"redundancy": [0, 8], "depth": [1]}


def optimum() -> pd.DataFrame:
    """Two depths x levels 0, 4, 8 x two encoders; at depth 1 the level-8 cells rise strongly, at depth 3
    only one of them rises weakly; the level-0 cells fall at depth 1 only."""
    rows = []
    for depth in (1, 3):
        for level in (0, 4, 8):
            for encoder in (1, 2):
                rise = 1e-4 if (level == 8 and depth == 1) else (0.03 if level == 8 and encoder == 1 else 0.6)
                fall = 1e-4 if (level == 0 and depth == 1) else 0.6
                rows.append({"redundancy": level, "depth": depth, "encoder": encoder, "lam_star": 0.5,
                             "lam_low": 0.0, "lam_high": 1.0, "gain": 0.01, "gain_low": 0.0,
                             "gain_high": 0.02,
                             "p_rise": rise, "p_fall": fall, "p_interior": 0.5, "p_no_gain": 0.5,
                             "p_no_loss": 0.5, "sd_diff": 0.004, "mde": 0.009, "n_seeds": 3, "n_lams": 3,
                             "lam_p": {0.0: 1.0, 0.5: 1.0, 1.0: 1.0},
                             "cap_share": 0.1 if (level, depth, encoder) == (0, 3, 2) else 0.0})
    return pd.DataFrame(rows)


def trend() -> pd.DataFrame:
    return pd.DataFrame([{"redundancy": level, "depth": depth, "metric": "align_cka", "rho": 1.0,
                          "ci_low": 1.0, "ci_high": 1.0, "p_rise": 1e-6, "p_fall": 1.0, "rises": True}
                         for depth in (1, 3) for level in (0, 4, 8)])


def test_claims_over_the_sweep_and_per_depth():
    by = ["redundancy", "depth"]
    claims = synthetic_sweep.synthetic_claims(optimum(), trend(), by)
    assert claims["key"].tolist() == ["rises", "falls", "invu", "align"]
    assert claims.loc[synthetic_sweep.ALIGNMENT_CLAIM, "key"] == "align"
    # rises: the 2 strong cells of depth 1 survive Holm over 4 (p 1e-4 <= 0.05 / 4); depth 3's 0.03 does not
    # (third step: 0.03 > 0.05 / 2)
    assert claims[["agree", "cases", "opposed"]].to_numpy().tolist() == [[2, 4, 0], [2, 4, 0], [0, 4, 0],
                                                                        [6, 6, 0]]
    assert claims["verdict"].tolist() == ["partly confirmed", "partly confirmed", "not confirmed",
                                          "confirmed"]
    regimes = synthetic_sweep.claims_by_depth(optimum(), trend(), by)
    assert list(regimes) == ["depth d = 1", "depth d = 3"]
    assert regimes["depth d = 1"]["verdict"].tolist() == ["confirmed", "confirmed", "not confirmed",
                                                          "confirmed"]
    # at depth 3 alone, Holm's first step compares the smallest p of a rise, 0.03, with 0.05 / 2: none holds
    assert regimes["depth d = 3"]["verdict"].tolist() == ["not confirmed", "not confirmed", "not confirmed",
                                                          "confirmed"]
    glued = studies.claim_glue(claims, prefix="sweep_")
    assert glued["sweep_rises_agree"] == "2 of 4" and glued["sweep_align_verdict"] == "confirmed"
    # the largest MDE of the rise's cells at Holm's strictest level, alpha / 4, with 3 seeds
    assert glued["sweep_rises_reach"] == (f"each of its cells detects a change of "
                                          f"{analysis.mde(0.004, 3, 0.05 / 4):.4f} with 80 % power")
    assert synthetic_sweep.paper_comparison(claims) == {
        "differs": "accuracy rises, r = 6, 8 (partly confirmed); accuracy falls, r = 0, 2 (partly "
                   "confirmed); inverted U, r = 4 (not confirmed)", "untested": "none"}
    level8 = synthetic_sweep.synthetic_claims(optimum()[optimum()["redundancy"] == 8], trend(), by)
    untested = synthetic_sweep.paper_comparison(level8)["untested"]
    assert untested == "accuracy falls, r = 0, 2 (not testable here); inverted U, r = 4 (not testable here)"


def test_verdict_table_is_written_for_readers():
    by = ["redundancy", "depth"]
    claims = synthetic_sweep.synthetic_claims(optimum(), trend(), by)
    regimes = synthetic_sweep.claims_by_depth(optimum(), trend(), by)
    shown = synthetic_sweep.verdict_table(claims, regimes, optimum())
    assert shown.index.tolist() == ["accuracy rises, r = 6, 8", "accuracy falls, r = 0, 2",
                                    "inverted U, r = 4", "alignment rises"]
    assert shown.columns.tolist() == ["verdict", "holds in", "opposite in", "MDE", "at cap", "depth d = 1",
                                      "depth d = 3"]
    assert shown["holds in"].tolist() == ["2 of 4", "2 of 4", "0 of 4", "6 of 6"]
    # the falls claim covers level 0, where one cell has 0.1 of its runs at the cap; alignment, every level
    assert shown["at cap"].tolist() == ["0.00", "0.10 (over 0.05)", "0.00", "0.10 (over 0.05)"]
    assert shown.loc["alignment rises", "MDE"] == "–"
    assert shown.loc["accuracy rises, r = 6, 8", "MDE"] == f"{analysis.mde(0.004, 3, 0.05 / 4):.4f}"
    assert shown.loc["accuracy falls, r = 0, 2", "depth d = 3"] == "not confirmed"
    assert not shown.astype(str).apply(lambda c: c.str.contains("nan|\\.\\.\\.")).any().any()


def test_the_calibration_family_is_the_largest_shape_claims():
    by = ["redundancy", "depth"]
    claims = synthetic_sweep.synthetic_claims(optimum(), trend(), by)
    assert synthetic_sweep.family_size(claims) == 4
    none = synthetic_sweep.synthetic_claims(optimum()[optimum()["redundancy"] == 4], trend(), by)
    assert synthetic_sweep.family_size(none) == 4  # invu's 4 cells
    nothing = synthetic_sweep.synthetic_claims(optimum().iloc[:0], trend(), by)
    assert synthetic_sweep.family_size(nothing) == 1
