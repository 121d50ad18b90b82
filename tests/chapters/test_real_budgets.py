"""The real-data chapter's label budgets: the weaker views' claim per budget and over all of them, its
shrink, the boundary along the label fraction, and their tables and words, on constructed optima."""

from __future__ import annotations

import pandas as pd
import pytest

from alignbook import analysis
from alignbook.chapters import real_budgets

# a cell of `real_data.study_optimum` apart from its dataset, budget, encoder, gain and p-values
CELL = {"lam_star": 1.0, "lam_low": 0.0, "lam_high": 4.0, "lam_p": {0.0: 0.5, 1.0: 1.0, 4.0: 0.5},
        "p_interior": 0.9, "p_no_gain": 0.5, "p_no_loss": 0.5, "sd": 0.01, "sd_diff": 0.01, "mde": 0.014,
        "n_seeds": 5, "n_lams": 3, "gain_low": 0.0, "gain_high": 0.0, "p_rise": 0.5, "p_fall": 0.5}


def _budget_optimum() -> pd.DataFrame:
    """Weaker encoders (2) of three pairs at two budgets with given gains and one-sided p-values, and their
    stronger partners (1), which gain 0.1 everywhere."""
    rows = []
    for dataset, fraction, gain, p_rise, p_fall, cap in [
            ("p", 0.05, 0.05, 0.001, 0.9, 0.0), ("p", 1.0, 0.005, 0.3, 0.6, 0.0),
            ("q", 0.05, 0.01, 0.2, 0.7, 0.1), ("q", 1.0, 0.02, 0.01, 0.9, 0.0),
            ("r", 0.05, 0.0, 0.9, 0.004, 0.0), ("r", 1.0, 0.03, 0.002, 0.9, 0.0)]:
        base = {**CELL, "kind": "mfeat", "dataset": dataset, "label_fraction": fraction,
                "n_train": 70 if fraction < 1 else 1400, "cap_share": cap}
        rows.append({**base, "encoder": 2, "modality": "w", "role": "weaker", "gain": gain,
                     "gain_low": gain - 0.02, "gain_high": gain + 0.02, "p_rise": p_rise, "p_fall": p_fall})
        rows.append({**base, "encoder": 1, "modality": "s", "role": "stronger", "gain": 0.1, "p_rise": 0.001,
                     "p_fall": 0.9})
    return pd.DataFrame(rows)


def test_budget_claims_judge_the_weaker_views_per_budget():
    optimum = _budget_optimum()
    found = real_budgets.budget_claims(optimum)
    gain = found.gain.set_index("key").loc["weak_gain"]
    # Holm over 6 cells: 0.001, 0.002 and 0.01 survive (0.001 * 6, 0.002 * 5, 0.01 * 4 <= 0.05)
    assert (gain["agree"], gain["cases"], gain["verdict"]) == (3, 6, "partly confirmed")
    assert list(found.by_budget) == ["5 % of the labels", "all labels"]
    scarce, full = (found.by_budget[k].iloc[0] for k in found.by_budget)
    assert (scarce["agree"], scarce["cases"], scarce["opposed"]) == (1, 3, 1)
    assert (full["agree"], full["cases"], full["verdict"]) == (2, 3, "partly confirmed")
    assert found.boundary == "partly confirmed at every share of labels (0.05 to 1)"
    assert real_budgets.budget_answer(found) == (
        "partly confirmed with 5 % of the labels and partly confirmed with all labels")
    # Welch's t on gains with sd 0.01 over 5 seeds: p larger at the scarce budget, q undecided, r smaller
    shrink = found.shrink.iloc[0]
    assert (shrink["agree"], shrink["cases"], shrink["opposed"]) == (1, 3, 1)
    table = real_budgets.budget_table(found, optimum)
    assert table.loc["5 % of the labels"].to_dict() == {
        "labelled examples": "70", "holds in": "1 of 3", "opposite in": "1 of 3",
        "could detect": f"{analysis.mde(0.01, 5, 0.05 / 3):.3f}",
        "verdict": "partly confirmed", "mean gain": "+0.020", "at cap": "0.10 (over 0.05)"}
    single = real_budgets.budget_claims(optimum[optimum["label_fraction"] == 1])
    assert single.shrink.iloc[0]["verdict"] == "not testable here"
    assert list(single.by_budget) == ["all labels"]


def test_budget_summary_describes_one_role_at_one_budget():
    optimum = _budget_optimum()
    assert real_budgets.budget_summary(optimum, 0.05, "weaker") == {
        "n": 3, "gain_mean": pytest.approx(0.02), "gain_max": 0.05, "sizes": "70"}
    assert real_budgets.budget_summary(optimum, 1.0, "stronger")["gain_mean"] == pytest.approx(0.1)
    assert real_budgets.budget_label(0.05) == "5 % of the labels"
    assert real_budgets.budget_label(1.0) == "all labels"
    assert list(real_budgets.by_panel(optimum.iloc[:2])["dataset"]) == ["p, 5 % of the labels"] * 2
    with pytest.raises(ValueError, match="^fraction"):
        real_budgets.budget_summary(optimum, 0.2)
