"""The calibration section of a chapter that decides verdicts: the verdict protocol run on simulated claim
families with the chapter's own design and the noise measured in its own runs.

`verdict_calibration` builds the design from a chapter's results table (its `lam` grid and seeds), the size
of its claim family, the protocol's alpha, level and margin, measures the noise (`analysis.noise_model`) and
simulates every truth (`analysis.calibration_table`: no effect, a saturating rise, an equal fall, an interior
optimum) at one and two margins. `calibration_rates` lays the outcomes out for readers and
`calibration_summary` gives the numbers the prose quotes: false "holds" and "contradicted" rates under no
effect, the power to find a rise and an equal fall and how far apart they are in Monte-Carlo standard errors,
and the coverage of the gain intervals and of the sets of the best `lam`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from alignbook.analysis import Design, NoiseModel, calibration_table, load_protocol, noise_model
from alignbook.checks import check_positive_int
from alignbook.storage.memo import remembered

TRUTHS = ("none", "rise", "fall", "interior")
# the columns of `calibration_rates`: a name for readers -> the outcomes of `calibration_table` it sums
RATE_COLUMNS = {
    "cell: rise found": ["cell: rise detected"],
    "cell: fall found": ["cell: fall detected"],
    "cell: interior optimum": ["shape: interior optimum"],
    "rise claim holds": ["claim rise: confirmed", "claim rise: partly confirmed"],
    "rise claim contradicted": ["claim rise: contradicted"],
    "fall claim holds": ["claim fall: confirmed", "claim fall: partly confirmed"],
    "fall claim contradicted": ["claim fall: contradicted"],
}


@dataclass(frozen=True)
class Calibration:
    """What `verdict_calibration` returns: the design simulated, the noise measured in the chapter's runs,
    the effect sizes, `n_sims` claim families per truth and effect, and the rate of every outcome
    (`analysis.calibration_table`, one part per effect, the truth without effect once)."""

    design: Design
    noise: NoiseModel
    effects: tuple[float, ...]
    n_sims: int
    table: pd.DataFrame


@remembered()
def verdict_calibration(table: pd.DataFrame, *, by: Sequence[str], n_cells: int, margin: float, n_sims: int,
                        seed: int = 0) -> Calibration:
    """The protocol on `n_sims` simulated families of `n_cells` cells with the design of `table` (its `lam`
    grid, its number of seeds), the protocol file's alpha and level, `margin` for the equivalence tests, an
    interior optimum anywhere inside the grid (`lam_range` from the second to the second-to-last `lam`), and
    the noise of `table`'s cells (`analysis.noise_model` by `by`); effects of one and two `margin`s. The
    grid needs at least 3 values of `lam`, the table 2 seeds. Stored on disk (`storage.memo.remembered`):
    it takes seconds at the book's size."""
    plan = load_protocol()
    lams = sorted(set(table["lam"]))
    design = Design(lams=tuple(lams), n_seeds=len(set(table["seed"])), n_cells=check_positive_int(
        "n_cells", n_cells), alpha=plan.alpha, ci=plan.ci, margin=margin, lam_range=(lams[1], lams[-2]))
    noise, _ = noise_model(table, by=list(by))
    effects = (float(margin), 2 * float(margin))
    parts = [calibration_table(design, noise, effect, n_sims=n_sims, seed=seed + i,
                               truths=TRUTHS if i == 0 else TRUTHS[1:]) for i, effect in enumerate(effects)]
    return Calibration(design=design, noise=noise, effects=effects, n_sims=n_sims,
                       table=pd.concat(parts, ignore_index=True))


def calibration_rates(found: Calibration) -> pd.DataFrame:
    """The rates of `found` for readers, one row per truth and effect, one column per `RATE_COLUMNS` entry
    (a claim "holds" when it is confirmed or partly confirmed), and `se`, the largest Monte-Carlo standard
    error of a rate in the row (a claim's rate counts `n_sims` families, a cell's many more cells)."""
    rows = []
    for (truth, effect), part in found.table.groupby(["truth", "effect"], sort=False):
        rates = part.set_index("quantity")["rate"]
        row = {name: float(rates[names].sum()) for name, names in RATE_COLUMNS.items()}
        se = max(math.sqrt(max(r * (1 - r), 1 / found.n_sims) / found.n_sims) for r in row.values())
        rows.append({"truth": truth, "effect": effect, **row, "se": se})
    return pd.DataFrame(rows).set_index(["truth", "effect"])


def calibration_summary(found: Calibration) -> dict:
    """The numbers the prose quotes: under no effect, the larger of the rise and fall claims' false "holds"
    (`false_confirmed`) and false "contradicted" rates, and the standard error of such a rate (`false_se`);
    at each effect (suffix `_1`: one margin, `_2`: two), the per-cell rates of finding a rise and an equal
    fall, their difference in Monte-Carlo standard errors (`rise_fall_z`) and the share of interior optima
    found as such; the lowest coverage of the gain intervals and of the sets of the best `lam` over every
    truth; the noise and the design."""
    rates = calibration_rates(found)
    none = rates.loc[("none", 0.0)]
    quantity = found.table["quantity"]
    out = {"false_confirmed": max(none["rise claim holds"], none["fall claim holds"]),
           "false_contradicted": max(none["rise claim contradicted"], none["fall claim contradicted"]),
           "false_se": float(none["se"]), "alpha": found.design.alpha, "n_cells": found.design.n_cells,
           "n_seeds": found.design.n_seeds, "n_sims": found.n_sims, "run_sd": found.noise.run_sd,
           "test_sd": found.noise.test_sd, "val_sd": found.noise.val_sd,
           "gain_coverage_min": found.table.loc[quantity == "coverage: gain interval", "rate"].min(),
           "lam_set_coverage_min": found.table.loc[quantity.str.contains("set of the best"), "rate"].min()}
    cells = found.n_sims * found.design.n_cells
    for i, effect in enumerate(found.effects, start=1):
        rise = rates.loc[("rise", effect), "cell: rise found"]
        fall = rates.loc[("fall", effect), "cell: fall found"]
        se = math.sqrt((rise * (1 - rise) + fall * (1 - fall)) / cells)
        out.update({f"effect_{i}": effect, f"power_rise_{i}": rise, f"power_fall_{i}": fall,
                    f"rise_fall_z_{i}": abs(rise - fall) / se if se > 0 else 0.0,
                    f"interior_found_{i}": rates.loc[("interior", effect), "cell: interior optimum"]})
    return out
