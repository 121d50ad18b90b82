"""Chapter 01, synthetic data: the chapter's parameters and what it measures on the generator.

`Parameters` checks the chapter's parameters; `level_change` says how each exact information quantity
changes from the first redundancy level to the last; `feature_values` counts the values each modality's
features take; `raw_similarity` and `similarity_trend` measure how alike the two raw modalities are at each
heterogeneity depth and which way that goes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from alignbook import metrics
from alignbook.chapters.book import direction
from alignbook.checks import NotebookParameters, fail
from alignbook.data import synthetic

# Exact quantities differ between levels by float rounding (about 1e-15 nats); a change smaller than this
# is no change.
EXACT_TOLERANCE = 1e-9
# The parts of the information decomposition, as the prose names them
PART_NAMES = {"R": "redundancy", "U1": "information unique to x1", "U2": "information unique to x2",
              "S": "synergy"}


@dataclass(frozen=True)
class Parameters(NotebookParameters):
    """The parameters of chapter 01 (see its parameters cell)."""

    redundancy: int
    depth: int
    n_samples: int
    seed: int
    depths: list

    def check(self) -> None:
        if len(self.depths) < 2:
            fail("depths", f"must hold at least two depths, got {self.depths!r}",
                 "the heterogeneity section compares them; give e.g. [0, 1]")


def level_change(info_table: pd.DataFrame, tolerance: float = EXACT_TOLERANCE) -> pd.DataFrame:
    """How each quantity (a column of `info_table`, one row per redundancy level) changes from the first
    level to the last: both values, the `change`, its `direction` ("rises", "falls" or "stays the same",
    changes within `tolerance` counting as none) and the `spread` over all levels (largest minus smallest),
    one row per quantity."""
    if len(info_table) < 2:
        fail("info_table", f"must hold at least two levels, got {len(info_table)}", "add a level")
    first, last = info_table.iloc[0], info_table.iloc[-1]
    change = last - first
    return pd.DataFrame({
        f"r = {info_table.index[0]}": first, f"r = {info_table.index[-1]}": last, "change": change,
        "direction": [direction(c, tolerance=tolerance) for c in change],
        "spread": info_table.max() - info_table.min()}).rename_axis("quantity")


def feature_values(dataset, split: str = "train") -> pd.DataFrame:
    """How many distinct values each feature of each modality takes on `split` of `dataset`: the number of
    features, and the fewest, median and most distinct values per feature, one row per modality."""
    rows = {}
    for name in ("x1", "x2"):
        x = getattr(getattr(dataset, split), name)
        counts = np.array([len(np.unique(column)) for column in np.asarray(x).T])
        rows[name] = {"features": len(counts), "fewest": int(counts.min()),
                      "median": float(np.median(counts)), "most": int(counts.max())}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("modality")


def raw_similarity(*, redundancy: int, depths: Sequence[int], n_samples: int, seed: int) -> pd.Series:
    """Linear CKA between the raw test inputs `x1` and `x2` of the generator at each depth of `depths`
    (same redundancy, samples and seed), indexed by depth in increasing order."""
    values = {}
    for depth in sorted(depths):
        test = synthetic.make_dataset(redundancy=redundancy, depth=depth, n_samples=n_samples, seed=seed).test
        values[depth] = metrics.cka(test.x1, test.x2)
    return pd.Series(values, name="linear CKA(x1, x2)").rename_axis("depth")


def similarity_trend(similarity: pd.Series) -> dict:
    """Which way `similarity` (indexed by increasing depth) goes from the shallowest depth to the deepest:
    both depths and values, the `direction` ("rises", "falls" or "stays the same") and, between consecutive
    depths, in how many steps it falls (`falls_in`, as "k of n")."""
    if len(similarity) < 2:
        fail("similarity", f"must hold at least two depths, got {len(similarity)}", "add a depth")
    steps = np.diff(similarity.to_numpy())
    return {"shallowest": int(similarity.index[0]), "deepest": int(similarity.index[-1]),
            "at_shallowest": float(similarity.iloc[0]), "at_deepest": float(similarity.iloc[-1]),
            "direction": direction(similarity.iloc[-1] - similarity.iloc[0]),
            "falls_in": f"{int((steps < 0).sum())} of {len(steps)}"}
