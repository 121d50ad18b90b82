"""The regime map's calibration: the verdict machinery run on simulated curves with the chapter's own design.

`calibration` runs `analysis.calibration_table` for every seed count of the map, with the chapter's `lam`
grid, the protocol's levels, a regime's family of the rises and falls claims, and the noise measured on the
chapter's own runs; `calibration_summary` lays it out for readers and `calibration_glue` gives what the
prose quotes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from alignbook import analysis
from alignbook.chapters.regime_map import MAP_KEYS, protocol_options
from alignbook.storage.memo import remembered


@remembered()
def calibration(table: pd.DataFrame, optimum: pd.DataFrame, lams: Sequence[float], n_sims: int,
                seed: int = 0) -> pd.DataFrame:
    """`analysis.calibration_table` for every seed count of the map: the design of a regime's family of
    the rises and falls claims (2 cells, the chapter's `lam` grid, that seed count, the protocol's levels),
    the noise measured on the sizes run with that seed count (`analysis.noise_model`) and, as the effect,
    the median minimum detectable effect of their cells. The tidy table gains columns seeds, sizes
    (text), effect and the noise's run_sd, test_sd, val_sd. Stored on disk by its inputs
    (`storage.memo.remembered`): it takes seconds."""
    plan, options = analysis.load_protocol(), protocol_options()
    counts = optimum.groupby("n_train")["n_seeds"].max()
    parts = []
    for n_seeds, sizes in counts.groupby(counts).groups.items():
        rows = table[table["n_train"].isin(sizes)]
        noise, _ = analysis.noise_model(rows, by=MAP_KEYS)
        effect = float(optimum.loc[optimum["n_train"].isin(sizes), "mde"].median())
        effect = effect if np.isfinite(effect) else options["margin"]  # no spread to size it by
        design = analysis.Design(lams=tuple(lams), n_seeds=int(n_seeds), n_cells=2, alpha=options["alpha"],
                                 ci=options["ci"], margin=options["margin"],
                                 lam_range=plan.claim("invu").lam_range)
        part = analysis.calibration_table(design, noise, effect, n_sims=n_sims, seed=seed)
        parts.append(part.assign(seeds=int(n_seeds), sizes=", ".join(f"{s:,}" for s in sorted(sizes)),
                                 run_sd=noise.run_sd, test_sd=noise.test_sd, val_sd=noise.val_sd))
    return pd.concat(parts, ignore_index=True)


def _rate(tidy: pd.DataFrame, truth: str, quantities: Sequence[str]) -> pd.Series:
    """Per seed count: the summed rate of `quantities` under `truth`."""
    rows = tidy[(tidy["truth"] == truth) & tidy["quantity"].isin(quantities)]
    return rows.groupby("seeds")["rate"].sum()


FALSE_CONFIRMED = {claim: [f"claim {claim}: confirmed", f"claim {claim}: partly confirmed"]
                   for claim in ("rise", "fall", "interior")}


def calibration_summary(tidy: pd.DataFrame) -> pd.DataFrame:
    """`calibration` for readers: one row per seed count, with its sizes, the noise, the simulated effect,
    the false "confirmed" (at least partly) and "contradicted" rates of the rise and fall claims under no
    effect, the cells' power for a rise and an equal fall, the share of interior optima found, and the
    smallest coverage of the gain interval over the truths."""
    first = tidy.groupby("seeds").first()
    coverage = tidy[tidy["quantity"] == "coverage: gain interval"].groupby("seeds")["rate"].min()

    def pair(one: pd.Series, other: pd.Series) -> list[str]:
        return [f"{x:.3f} / {y:.3f}" for x, y in zip(one, other, strict=True)]

    noise = zip(first["run_sd"], first["test_sd"], first["val_sd"], strict=True)
    out = pd.DataFrame({
        "sizes": first["sizes"],
        "noise sd (run, test, valid)": [f"{a:.4f}, {b:.4f}, {c:.4f}" for a, b, c in noise],
        "effect": tidy[tidy["truth"] == "rise"].groupby("seeds")["effect"].first().round(4),
        "false confirmed, rise / fall": pair(_rate(tidy, "none", FALSE_CONFIRMED["rise"]),
                                             _rate(tidy, "none", FALSE_CONFIRMED["fall"])),
        "false contradicted, rise / fall": pair(_rate(tidy, "none", ["claim rise: contradicted"]),
                                                _rate(tidy, "none", ["claim fall: contradicted"])),
        "rise found": _rate(tidy, "rise", ["cell: rise detected"]).round(3),
        "fall found": _rate(tidy, "fall", ["cell: fall detected"]).round(3),
        "interior found": _rate(tidy, "interior", ["shape: interior optimum"]).round(3),
        "gain interval coverage": coverage.round(3)})
    out.index.name = "seeds"
    return out


def _range_text(values: pd.Series) -> str:
    low, high = float(values.min()), float(values.max())
    return f"{low:.2f}" if f"{low:.2f}" == f"{high:.2f}" else f"{low:.2f} to {high:.2f}"


def calibration_glue(tidy: pd.DataFrame, alpha: float | None = None) -> dict:
    """What the prose quotes of `calibration`: the largest false "confirmed" and "contradicted" rates under
    no effect (rise and fall claims, every seed count), whether they stay `at or below` or `above` the
    nominal `alpha` allowing two Monte-Carlo standard errors, the powers for a rise and an equal fall over
    the seed counts ("0.62 to 0.71") and whether they differ by `less than` or `more than` two standard
    errors of their difference, and the smallest coverage of the gain interval."""
    alpha = analysis.load_protocol().alpha if alpha is None else alpha
    none = tidy[tidy["truth"] == "none"]
    false_confirmed = pd.concat([_rate(tidy, "none", FALSE_CONFIRMED[c]) for c in ("rise", "fall")])
    contradicted = none[none["quantity"].isin(["claim rise: contradicted", "claim fall: contradicted"])]
    rise = tidy[(tidy["truth"] == "rise") & (tidy["quantity"] == "cell: rise detected")].set_index("seeds")
    fall = tidy[(tidy["truth"] == "fall") & (tidy["quantity"] == "cell: fall detected")].set_index("seeds")
    gap = (rise["rate"] - fall["rate"]).abs() / np.sqrt(rise["se"] ** 2 + fall["se"] ** 2)
    worst_se = float(none["se"].max())
    coverage = tidy.loc[tidy["quantity"] == "coverage: gain interval", "rate"]
    largest = max(float(false_confirmed.max()), float(contradicted["rate"].max()))
    return {"calib_false_confirmed": float(false_confirmed.max()),
            "calib_false_contradicted": float(contradicted["rate"].max()),
            "calib_false_level": "at or below" if largest <= alpha + 2 * worst_se else "above",
            "calib_rise_power": _range_text(rise["rate"]), "calib_fall_power": _range_text(fall["rate"]),
            "calib_symmetry": "less than" if (gap <= 2).all() else "more than",
            "calib_coverage_min": float(coverage.min())}
