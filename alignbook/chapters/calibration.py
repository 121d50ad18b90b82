"""The calibration section of a chapter that decides verdicts (03, 04, 05): the verdict protocol run on
simulated claim families with the chapter's own design and the noise measured in its own runs.

`verdict_calibration` builds one design from a chapter's results table (its `lam` grid, its seeds), the
size of its claim family, the protocol's alpha and level, the chapter's margin and the `lam` range of an
interior optimum, measures the noise (`analysis.noise_model`) and simulates every truth
(`analysis.calibration_table`: no effect, a saturating rise, an equal fall, an interior optimum) at each
effect. A chapter whose cells differ in their number of seeds calibrates each seed count alone and passes
the designs on as a mapping (label -> `Calibration`), which the functions below take as well as one
`Calibration`: `design_table` shows the designs and their noise, `calibration_rates` the rate of every
outcome for readers, and `calibration_glue` the numbers and words the prose quotes, under the chapter's
prefix.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from alignbook.analysis import Design, NoiseModel, calibration_table, load_protocol, noise_model
from alignbook.chapters.studies import direction_word
from alignbook.checks import check_positive_int, fail
from alignbook.storage.memo import remembered

TRUTHS = ("none", "rise", "fall", "interior")
TRUTH_NAMES = {"none": "no effect", "rise": "rise", "fall": "fall", "interior": "interior optimum"}
CLAIMS = ("rise", "fall", "interior")
# the rows of `calibration_rates`: a name for readers -> the outcomes of `calibration_table` it sums (a
# claim "holds" when it is confirmed or partly confirmed)
RATE_ROWS = {
    "cell: rise found": ["cell: rise detected"],
    "cell: fall found": ["cell: fall detected"],
    "cell: interior optimum found": ["shape: interior optimum"],
    **{f"{claim} claim {word}": [f"claim {claim}: {v}" for v in verdicts]
       for claim in CLAIMS for word, verdicts in (("holds", ("confirmed", "partly confirmed")),
                                                   ("contradicted", ("contradicted",)))},
    "gain interval covers": ["coverage: gain interval"],
    "set of the best lam covers": ["coverage: set of the best lam"],
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
                        effects: Sequence[float] | None = None,
                        lam_range: tuple[float, float] | None = None, seed: int = 0) -> Calibration:
    """The protocol on `n_sims` simulated families of `n_cells` cells with the design of `table` (its `lam`
    grid, its number of seeds, the same in every cell of `by`), the protocol file's alpha and level,
    `margin` for the equivalence tests, an interior optimum in `lam_range` (default: from the second to the
    second-to-last `lam`), the noise of `table`'s cells (`analysis.noise_model` by `by`), at each of
    `effects` (default: one and two `margin`s), the effect `i` drawn from seed `seed + i`. The grid needs
    at least 3 values of `lam`, the table 2 seeds. Stored on disk (`storage.memo.remembered`): it takes
    seconds at the book's size."""
    plan = load_protocol()
    counts = sorted(set(table.groupby(list(by))["seed"].nunique()))
    if len(counts) != 1:
        fail("table", f"has cells with {counts} seeds, one design per table",
             "calibrate the rows of each seed count alone")
    lams = sorted(set(table["lam"]))
    design = Design(lams=tuple(lams), n_seeds=counts[0], n_cells=check_positive_int("n_cells", n_cells),
                    alpha=plan.alpha, ci=plan.ci, margin=margin,
                    lam_range=tuple(lam_range) if lam_range else (lams[1], lams[-2]))
    noise, _ = noise_model(table, by=list(by))
    effects = (float(margin), 2 * float(margin)) if effects is None else tuple(map(float, effects))
    parts = [calibration_table(design, noise, effect, n_sims=n_sims, seed=seed + i,
                               truths=TRUTHS if i == 0 else TRUTHS[1:]) for i, effect in enumerate(effects)]
    return Calibration(design=design, noise=noise, effects=effects, n_sims=n_sims,
                       table=pd.concat(parts, ignore_index=True))


def as_parts(found: Calibration | Mapping[str, Calibration]) -> dict[str, Calibration]:
    """`found` as a mapping label -> `Calibration`; one `Calibration` is labelled by its seed count."""
    if isinstance(found, Calibration):
        return {f"{found.design.n_seeds} seeds": found}
    if not found or not all(isinstance(part, Calibration) for part in found.values()):
        fail("found", "must be a Calibration or a non-empty mapping of them (verdict_calibration)")
    return dict(found)


def outcomes(found: Calibration) -> pd.DataFrame:
    """The rate of each `RATE_ROWS` outcome per truth and effect (columns truth, effect, step: the effect's
    place in `found.effects` from 1, 0 without effect, outcome, rate, se): a claim's rate counts `n_sims`
    families, a cell's or an interval's every cell of them (Monte-Carlo standard error
    `sqrt(max(r (1 - r), 1 / n) / n)`, as `analysis.calibration_table` gives it)."""
    table = found.table.assign(quantity=found.table["quantity"].str.replace(r" \(lam = .*\)$", "",
                                                                            regex=True))
    steps = {effect: i for i, effect in enumerate(found.effects, start=1)}
    rows = []
    for (truth, effect), part in table.groupby(["truth", "effect"], sort=False):
        rates = part.groupby("quantity")["rate"].sum()
        step = 0 if truth == "none" else steps[effect]
        for outcome, names in RATE_ROWS.items():
            rate = float(rates[names].sum())
            n = found.n_sims * (1 if "claim" in outcome else found.design.n_cells)
            rows.append((truth, effect, step, outcome, rate, math.sqrt(max(rate * (1 - rate), 1 / n) / n)))
    return pd.DataFrame(rows, columns=["truth", "effect", "step", "outcome", "rate", "se"])


def calibration_rates(found: Calibration | Mapping[str, Calibration], digits: int = 3) -> pd.DataFrame:
    """The rates for readers: one row per outcome (`RATE_ROWS`), one column per truth and effect ("rise of
    0.01"; under the design's label when `found` is a mapping), rounded to `digits`."""
    parts = as_parts(found)
    columns = {}
    for label, part in parts.items():
        for (truth, effect), rows in outcomes(part).groupby(["truth", "effect"], sort=False):
            name = TRUTH_NAMES[truth] + ("" if truth == "none" else f" of {effect:.3g}")
            columns[(label, name) if isinstance(found, Mapping) else name] = rows.set_index("outcome")["rate"]
    out = pd.DataFrame(columns).round(digits)
    out.index.name = "outcome"
    return out


def design_table(found: Calibration | Mapping[str, Calibration]) -> pd.DataFrame:
    """The designs simulated, for readers: one column per design, one row per property (the `lam` grid,
    seeds, cells per family, alpha, margin, the interior optimum's `lam` range, the effects, the noise
    measured in the chapter's runs and the families simulated per truth and effect)."""
    out = {}
    for label, part in as_parts(found).items():
        design, noise = part.design, part.noise
        out[label] = {
            "lam grid": ", ".join(f"{v:g}" for v in design.lams), "seeds": str(design.n_seeds),
            "cells per family": str(design.n_cells), "alpha": f"{design.alpha:g}",
            "margin": f"{design.margin:g}", "interior optimum in": "{:g} to {:g}".format(*design.lam_range),
            "effects": ", ".join(f"{e:.3g}" for e in part.effects),
            "noise sd, shared": f"{noise.run_sd:.4f}", "noise sd, test": f"{noise.test_sd:.4f}",
            "noise sd, validation": f"{noise.val_sd:.4f}", "families": f"{part.n_sims:,}"}
    return pd.DataFrame(out).rename_axis(columns="design")


def span(values, spec: str) -> str:
    """Values in words for the prose: "0.62" when they read alike in the format `spec`, else "0.58 to
    0.71"."""
    texts = [format(v, spec) for v in sorted(values)]
    return texts[0] if texts[0] == texts[-1] else f"{texts[0]} to {texts[-1]}"


def calibration_glue(found: Calibration | Mapping[str, Calibration], *, prefix: str = "calib_",
                     claims: Sequence[str] = ("rise", "fall")) -> dict:
    """The numbers and words the prose quotes, each named `prefix` + name, over every design of `found`:

    - under no effect, the largest rate at which one of `claims` (those the chapter decides) holds
      (`false_confirmed`) and is contradicted (`false_contradicted`), and `false_word`: "within" when
      every such rate lies within alpha plus two Monte-Carlo standard errors, else "above";
    - at each effect `i` (1, 2, ... in the order simulated): `effect_i`, the per-cell rates of a detected
      rise and an equal fall (`cell_rise_i`, `cell_fall_i`), their largest distance in standard errors of
      their difference (`rise_fall_z_i`) and in words (`symmetry_i`: a rise is found "as often as", "more
      often than" or "less often than" a fall, from the design where they lie furthest apart, two standard
      errors allowed), the rates of each claim holding under its own truth (`claim_rise_i`, ...) and of
      interior optima found as such (`interior_found_i`);
    - the lowest coverage of the gain intervals and of the sets of the best `lam` (`coverage_gain`,
      `coverage_set`), the largest standard error of a claim's and of a cell's rate (`claim_se`,
      `cell_se`), the noise (`run_sd`, `test_sd`, `val_sd`), `seeds`, `cells`, `sims` and `alpha`.

    Quantities that differ between designs read as a range ("0.58 to 0.71", `span`); one design gives
    one number."""
    unknown = sorted(set(claims) - set(CLAIMS))
    if unknown or not claims:
        fail("claims", f"must name some of {CLAIMS}, got {list(claims)}")
    parts = list(as_parts(found).values())
    rates = pd.concat([outcomes(p).assign(part=k, alpha=p.design.alpha) for k, p in enumerate(parts)],
                      ignore_index=True)
    decided = [f"{c} claim {w}" for c in claims for w in ("holds", "contradicted")]
    none = rates[(rates["truth"] == "none") & rates["outcome"].isin(decided)]
    holds, contradicted = (none.loc[none["outcome"].str.endswith(word), "rate"]
                           for word in ("holds", "contradicted"))
    values = {"false_confirmed": float(holds.max()), "false_contradicted": float(contradicted.max()),
              "false_word": "within" if (none["rate"] <= none["alpha"] + 2 * none["se"]).all() else "above"}
    for i in range(1, max(len(p.effects) for p in parts) + 1):
        values.update(effect_glue(rates[rates["step"] == i], [p.effects[i - 1] for p in parts
                                                              if len(p.effects) >= i], i))
    coverage = rates.groupby("outcome")["rate"].min()
    is_claim = rates["outcome"].str.contains("claim")
    values.update({
        "coverage_gain": float(coverage["gain interval covers"]),
        "coverage_set": float(coverage["set of the best lam covers"]),
        "claim_se": float(rates.loc[is_claim, "se"].max()),
        "cell_se": float(rates.loc[~is_claim, "se"].max()),
        **{name: span([getattr(p.noise, name) for p in parts], ".4f")
           for name in ("run_sd", "test_sd", "val_sd")},
        "seeds": span([p.design.n_seeds for p in parts], "d"),
        "cells": span([p.design.n_cells for p in parts], "d"),
        "sims": max(p.n_sims for p in parts), "alpha": max(p.design.alpha for p in parts)})
    return {prefix + name: value for name, value in values.items()}


def effect_glue(rates: pd.DataFrame, effects: Sequence[float], i: int) -> dict:
    """`calibration_glue`'s names of the `i`-th effect (`effects`: its size in each design) from the
    `outcomes` rows of that effect in every design (`rates`, with a column `part` naming the design)."""
    def at(truth: str, outcome: str) -> pd.DataFrame:
        rows = rates[(rates["truth"] == truth) & (rates["outcome"] == outcome)]
        return rows.set_index("part")[["rate", "se"]]

    rise, fall = at("rise", "cell: rise found"), at("fall", "cell: fall found")
    z = (rise["rate"] - fall["rate"]) / (rise["se"] ** 2 + fall["se"] ** 2) ** 0.5
    furthest = float(z.loc[z.abs().idxmax()])
    return {f"effect_{i}": span(effects, ".3g"), f"cell_rise_{i}": span(rise["rate"], ".2f"),
            f"cell_fall_{i}": span(fall["rate"], ".2f"), f"rise_fall_z_{i}": abs(furthest),
            f"symmetry_{i}": direction_word(furthest, "more often than", "less often than", "as often as",
                                            tolerance=2),
            **{f"claim_{c}_{i}": span(at(c, f"{c} claim holds")["rate"], ".2f") for c in CLAIMS},
            f"interior_found_{i}": span(at("interior", "cell: interior optimum found")["rate"], ".2f")}
