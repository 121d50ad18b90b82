"""The real-data chapter's label budgets (05): whether the weaker view's encoder gains from alignment when
labels are scarce, and whether that gain shrinks when every label is used.

- `budget_label`, `by_panel`: the name of a label budget in tables, claim regimes and figure panels;
- `budget_claims` (`BudgetClaims`): the weaker views' claim over every budget and per budget, its shrink
  (protocol claims weak_gain and weak_shrink) and where it holds along the label fraction, in words;
- `budget_answer`, `budget_table`, `budget_summary`, `size_range`: the same for readers and for the prose.

The cells are `real_data.study_optimum` rows of the measured pairs (`real_data.measured`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from alignbook.analysis import claims_table, difference_claim, load_protocol, regime_boundaries, shape_claim
from alignbook.chapters.real_data import measured, readable_claims
from alignbook.chapters.studies import cap_text
from alignbook.checks import fail


def budget_label(fraction: float) -> str:
    """The name of a label budget in tables and claim regimes: "5 % of the labels", "all labels"."""
    return "all labels" if fraction == 1 else f"{100 * fraction:g} % of the labels"


def by_panel(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with each `dataset` named with its budget ("fac-kar, 5 % of the labels"): one figure panel per
    dataset and label budget."""
    pairs = zip(frame["dataset"], frame["label_fraction"], strict=True)
    return frame.assign(dataset=[f"{d}, {budget_label(f)}" for d, f in pairs])


@dataclass(frozen=True)
class BudgetClaims:
    """The weaker views' claims over the label budgets: `gain` over every budget (a claim table), `by_budget`
    the same claim per budget (`budget_label` -> claim table, as `publish.record_claims` takes regimes),
    `shrink` (each scarce budget against every label; not testable with a single budget), and `boundary`,
    where the gain claim holds along the label fraction, in words."""

    gain: pd.DataFrame
    by_budget: dict
    shrink: pd.DataFrame
    boundary: str


def budget_claims(optimum: pd.DataFrame) -> BudgetClaims:
    """`BudgetClaims` on `study_optimum` rows: a weaker encoder gains when its cross-fitted gain rises
    (protocol claim weak_gain, Holm over the cells); its gain shrinks when it is larger at a scarce budget
    than with every label (weak_shrink: Welch's t-test, Holm over the cells)."""
    plan = load_protocol()
    weak = measured(optimum, role="weaker")

    def gain(rows: pd.DataFrame) -> pd.DataFrame:
        where = {"dataset": sorted(set(rows["dataset"]))}
        keys = ["dataset", "label_fraction"]
        return claims_table([shape_claim(plan.claim("weak_gain"), rows, where, keys=keys)])

    by_budget = {budget_label(f): gain(rows) for f, rows in weak.groupby("label_fraction", sort=True)}
    verdicts = pd.DataFrame({"label_fraction": sorted(set(weak["label_fraction"])),
                             "verdict": [t["verdict"].iloc[0] for t in by_budget.values()]})
    shrink = difference_claim(plan.claim("weak_shrink"), weak, axis="label_fraction", reference=1.0,
                              keys=["dataset"])
    axis = "share of labels"  # the boundary in words: "confirmed for share of labels <= 0.05; ..."
    boundary = regime_boundaries(verdicts.rename(columns={"label_fraction": axis}), axis=axis)["summary"]
    return BudgetClaims(gain=gain(weak), by_budget=by_budget, shrink=claims_table([shrink]),
                        boundary=boundary.iloc[0])


def budget_answer(claims: BudgetClaims) -> str:
    """The weak_gain verdict per budget in words: "confirmed with 5 % of the labels and not confirmed with
    all labels"."""
    parts = [f"{table['verdict'].iloc[0]} with {label}" for label, table in claims.by_budget.items()]
    return " and ".join([", ".join(parts[:-1]), parts[-1]] if len(parts) > 2 else parts)


def budget_table(claims: BudgetClaims, optimum: pd.DataFrame) -> pd.DataFrame:
    """The weaker views' verdict per label budget, for readers: the labelled examples per dataset, the
    verdict, the cells where the rise holds after Holm, the largest change its cells could detect at 80 %
    power, the mean cross-fitted gain and the largest share of a cell's runs at the step cap."""
    rows = []
    for fraction, part in measured(optimum, role="weaker").groupby("label_fraction", sort=True):
        verdict = readable_claims(claims.by_budget[budget_label(fraction)]).iloc[0].drop("source")
        rows.append({"budget": budget_label(fraction), "labelled examples": size_range(part["n_train"]),
                     **verdict, "mean gain": f"{part['gain'].mean():+.3f}",
                     "at cap": cap_text(part["cap_share"].max())})
    return pd.DataFrame(rows).set_index("budget")


def budget_summary(optimum: pd.DataFrame, fraction: float, role: str = "weaker") -> dict:
    """At one label fraction, for the measured encoders of one `role`: how many (`n`), their mean and largest
    cross-fitted gain, and the labelled-set sizes in words (`sizes`: "70", or "4 to 70")."""
    rows = measured(optimum, role=role, fraction=fraction)
    if rows.empty:
        fail("fraction", f"no {role} encoder was run at label fraction {fraction:g}")
    return {"n": len(rows), "gain_mean": float(rows["gain"].mean()), "gain_max": float(rows["gain"].max()),
            "sizes": size_range(rows["n_train"])}


def size_range(sizes) -> str:
    """Labelled-set sizes in words: "1,400" when they are one size, else "40 to 1,400"."""
    low, high = int(min(sizes)), int(max(sizes))
    return f"{low:,}" if low == high else f"{low:,} to {high:,}"
