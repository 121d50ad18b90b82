"""Chapter 03, the synthetic sweep: the paper's synthetic study declared once, its claims and the family its
calibration simulates.

- `Parameters`: the chapter's parameters and its own rules (a `lam` grid from 0 that can test the paper's
  range of `lam*` at r = 4, enough seeds for a verdict);
- `synthetic_sweep_spec`: the study's sweep, so that every chapter that needs its runs asks for the same
  runs: levels x depths x `lam` grid x seeds, each seed drawing its own data (samples and split; the modality
  map of a depth stays fixed), every run trained by the book's rule (`studies.training_budget`);
- `synthetic_claims`, `claims_by_depth`, `verdict_table`, `paper_comparison`: the paper's synthetic claims
  (keys rises, falls, invu, align of the protocol file) on the sweep's optima and alignment trends, over the
  whole sweep and per depth, the table of verdicts for readers and where they differ from the paper;
- `family_size`: the cells of its largest claim family, which its calibration (`chapters.calibration`)
  simulates.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from alignbook import analysis
from alignbook.chapters.book import with_interval
from alignbook.chapters.studies import cap_text, training_budget
from alignbook.checks import (
    NotebookParameters,
    check_lam,
    check_list,
    check_positive,
    check_positive_int,
    fail,
)
from alignbook.sweep import SweepSpec

ALIGNMENT_CLAIM = "alignment metrics rise with lam at every level"  # the one claim about the pair
# The levels each claim about one encoder's accuracy is about (the paper's synthetic claims, [S])
CLAIM_LEVELS = {"rises": (6, 8), "falls": (0, 2), "invu": (4,)}
# Short names of the claims for tables (their wordings, in the protocol file, are too long for a column)
CLAIM_LABELS = {"rises": "accuracy rises, r = 6, 8", "falls": "accuracy falls, r = 0, 2",
                "invu": "inverted U, r = 4", "align": "alignment rises"}


@dataclass(frozen=True)
class Parameters(NotebookParameters):
    """The chapter's parameters (its first cell), checked by their house names and by `check`."""

    redundancies: list
    depths: list
    lams: list
    seeds: list
    n_samples: int
    batch_size: int
    calibration_effect: float
    calibration_sims: int
    workers: int | str
    backend: str

    def check(self) -> None:
        """The grid starts at `lam = 0` (every gain's baseline), holds a value inside the range where the
        paper puts `lam*` at r = 4 and one above it (so that an optimum there is interior); a verdict needs
        `analysis.MIN_SEEDS` seeds; the calibration's effect is a change of accuracy."""
        lams = check_list("lams", self.lams, check_lam, increasing=True)
        low, high = analysis.load_protocol().claim("invu").lam_range
        if lams[0] != 0:
            fail("lams", f"must start at 0 (independent training, the baseline of every gain), got {lams}")
        if not any(low <= lam <= high for lam in lams) or lams[-1] <= high:
            fail("lams", f"must hold a value in [{low:g}, {high:g}] and one above {high:g}, got {lams}",
                 "the paper puts lam* at r = 4 in that range, and the grid must be able to test it")
        self.set("lams", lams)
        if len(self.seeds) < analysis.MIN_SEEDS:
            fail("seeds", f"needs at least {analysis.MIN_SEEDS} seeds, got {len(self.seeds)}",
                 "a verdict compares seeds with each other")
        self.set("calibration_effect", check_positive("calibration_effect", self.calibration_effect, 1.0))
        self.set("calibration_sims", check_positive_int("calibration_sims", self.calibration_sims))


def synthetic_sweep_spec(redundancies: Sequence[int], depths: Sequence[int], lams: Sequence[float],
                         seeds: Sequence[int], n_samples: int = 65536, batch_size: int = 256,
                         name: str = "synthetic_sweep") -> SweepSpec:
    """The synthetic study: redundancy levels x heterogeneity depths x `lam` grid x seeds. Each seed draws
    its own data (`data_seed: seed`); every run trains by the book's rule (`studies.training_budget`)."""
    return SweepSpec.from_dict({
        "name": name,
        "dataset": {"kind": "synthetic", "n_samples": int(n_samples)},
        "dataset_grid": {"redundancy": list(redundancies), "depth": list(depths)},
        "lams": [float(lam) for lam in lams],
        "seeds": list(seeds),
        "data_seed": "seed",
        "train": training_budget(batch_size),
    })


# --------------------------------------------------------------------------------------------------------
# the paper's claims


def synthetic_claims(optimum: pd.DataFrame, trend: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """The paper's synthetic claims (keys rises, falls, invu, align of the protocol file) checked on the
    sweep's optima and alignment trends (chapter 03); pass the rows of one depth to get the verdicts of that
    regime alone."""
    by = list(by)
    plan = analysis.load_protocol()
    shapes = [analysis.shape_claim(plan.claim(key), optimum, {"redundancy": list(levels)}, keys=by)
              for key, levels in CLAIM_LEVELS.items()]
    return analysis.claims_table([*shapes, analysis.trend_claim(plan.claim("align"), trend, keys=by)])


def claims_by_depth(optimum: pd.DataFrame, trend: pd.DataFrame, by: Sequence[str]) -> dict[str, pd.DataFrame]:
    """`synthetic_claims` at each depth alone, by regime name ("depth d = 1", ...)."""
    return {f"depth d = {d}": synthetic_claims(optimum[optimum["depth"] == d], trend[trend["depth"] == d], by)
            for d in sorted(optimum["depth"].unique())}


def verdict_table(claim_table: pd.DataFrame, regimes: Mapping[str, pd.DataFrame],
                  optimum: pd.DataFrame) -> pd.DataFrame:
    """The verdicts for readers, one row per claim (its short name, `CLAIM_LABELS`): the verdict, the cells
    where the claim holds and where its opposite holds after Holm ("u of n"), `MDE` (the largest minimum
    detectable effect of the claim's cells at Holm's strictest level, "–" for the rank test of alignment),
    `at cap` (the largest share of runs stopped by the step cap among the claim's cells, marked above
    `studies.CAP_SHARE_LIMIT`) and the verdict in each regime."""
    rows = []
    for claim, row in claim_table.iterrows():
        levels = CLAIM_LEVELS.get(row["key"])
        cells = optimum if levels is None else optimum[optimum["redundancy"].isin(levels)]
        cap = float(cells["cap_share"].max()) if len(cells) else math.nan
        rows.append({"claim": CLAIM_LABELS[row["key"]], "verdict": row["verdict"],
                     "holds in": f"{row['agree']} of {row['cases']}",
                     "opposite in": f"{row['opposed']} of {row['cases']}",
                     "MDE": with_interval(row["mde"], math.nan, math.nan), "at cap": cap_text(cap),
                     **{regime: part.loc[claim, "verdict"] for regime, part in regimes.items()}})
    return pd.DataFrame(rows).set_index("claim")


def paper_comparison(claim_table: pd.DataFrame) -> dict:
    """The claims (short names, `CLAIM_LABELS`, with their verdicts) where our verdict differs from the
    paper's claim (`differs`: partly confirmed, not confirmed or contradicted) and those this run cannot
    test (`untested`), each as text for the prose, "none" when there is none."""
    def listed(verdicts) -> str:
        rows = claim_table[claim_table["verdict"].isin(verdicts)]
        return "; ".join(f"{CLAIM_LABELS[k]} ({v})" for k, v in zip(rows["key"], rows["verdict"],
                                                                      strict=True)) or "none"

    return {"differs": listed(["partly confirmed", "not confirmed", "contradicted"]),
            "untested": listed(["not testable here"])}


# --------------------------------------------------------------------------------------------------------
# the calibration's family


def family_size(claim_table: pd.DataFrame) -> int:
    """Cells in the largest family of the chapter's shape claims (at least 1): the family its calibration
    simulates (`chapters.calibration`)."""
    shape_rows = claim_table[claim_table["key"].isin(list(CLAIM_LEVELS))]
    return max([1, *(shape_rows["cases"] + shape_rows["untestable"]).astype(int).tolist()])
