"""Chapter 03, the synthetic sweep: the paper's synthetic study declared once, and its claims.

`synthetic_sweep_spec` builds the study's sweep from a chapter's parameters, so that every chapter that needs
the study's runs (03, the regime map's full-size row, 06) asks for the same runs; `synthetic_claims` checks
the paper's synthetic claims (keys rises, falls, invu, align of the protocol file) on the sweep's optima and
alignment trends.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from alignbook import analysis
from alignbook.sweep import SweepSpec

ALIGNMENT_CLAIM = "alignment metrics rise with lam at every level"  # the one claim about the pair


def synthetic_sweep_spec(redundancies: Sequence[int], depths: Sequence[int], lams: Sequence[float],
                         seeds: Sequence[int], n_samples: int = 65536, num_epochs: int = 10,
                         batch_size: int = 256, name: str = "synthetic_sweep") -> SweepSpec:
    """The synthetic study: redundancy levels x heterogeneity depths x `lam` grid x seeds."""
    return SweepSpec.from_dict({
        "name": name,
        "dataset": {"kind": "synthetic", "n_samples": int(n_samples)},
        "dataset_grid": {"redundancy": list(redundancies), "depth": list(depths)},
        "lams": [float(lam) for lam in lams],
        "seeds": list(seeds),
        "train": {"num_epochs": int(num_epochs), "batch_size": int(batch_size)},
    })


def synthetic_claims(optimum: pd.DataFrame, trend: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """The paper's synthetic claims (keys rises, falls, invu, align of the protocol file) checked on the
    sweep's optima and alignment trends (chapter 03); pass the rows of one depth to get the verdicts of that
    regime alone."""
    by = list(by)
    plan = analysis.load_protocol()
    return analysis.claims_table([
        analysis.shape_claim(plan.claim("rises"), optimum, {"redundancy": [6, 8]}, keys=by),
        analysis.shape_claim(plan.claim("falls"), optimum, {"redundancy": [0, 2]}, keys=by),
        analysis.shape_claim(plan.claim("invu"), optimum, {"redundancy": [4]}, keys=by),
        analysis.trend_claim(plan.claim("align"), trend, keys=by),
    ])
