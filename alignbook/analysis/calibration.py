"""Calibration of the verdict protocol: the whole machinery run on simulated curves whose truth is known.

**Noise model** (`noise_model`). A run's validation and test scores share the run's own noise (its data
draw, labelled subset and initialisation make a model better or worse on both splits) and each carries the
noise of its finite split:

    T[s, j] = mu[j] + a[s] + r[s, j] + e[s, j],     V[s, j] = mu[j] + b[s] + r[s, j] + f[s, j],

`r` with standard deviation `run_sd` shared by the two scores of run (s, j), `e` and `f` the test and
validation split noise (`test_sd`, `val_sd`), seed offsets `a`, `b` (they cancel in every paired test, so
the simulation leaves them out). Estimator: in each cell the residuals of the additive seed + lam model,
`R = X - row means - column means + grand mean`, remove `mu` and the offsets; with `df = (seeds - 1)
(lams - 1)`, `sum(R_T**2) / df`, `sum(R_V**2) / df` and `sum(R_T * R_V) / df` are unbiased for
`run_sd**2 + test_sd**2`, `run_sd**2 + val_sd**2` and `run_sd**2`. Cells are pooled by their `df`
(seeds with a missing run are left out); a negative variance estimate is set to 0. A true interaction of
seed and `lam` (a data draw that gains more than another) counts as run noise, which errs on the side of
more noise.

**Truths** (`truth_curve`), each an expected score per `lam` added to the noise: "none" (no effect), "rise"
(saturating: `effect * (1 - exp(-lam / tau)) / (1 - exp(-lam_max / tau))`, `tau = lam_max / 8`), "fall"
(the mirror image of the rise, `-rise`), "interior" (piecewise linear in `lam` from 0 at `lam = 0` up to
`effect` at `peak` and back to 0 at `lam_max`).

**What is reported** (`calibrate`, `calibration_table`), per truth, with Monte-Carlo standard errors: the
rate of each per-cell shape, the per-cell rates of a detected rise and fall, the rate of a detected rise
when the same seeds both choose `lam` and measure its gain (the bias that cross-fitting removes) and when
every other seed chooses a seed's `lam` (leave-one-out: the correlation the round robin removes), the
coverage of the gain interval (of the mean cross-fitted gain, computed from the truth and the simulated
choices) and of the confidence set of the best `lam` (of the truth's argmax), and the verdicts of a rise,
a fall and an interior-optimum claim over a family of `n_cells` cells (Holm): under no effect a "confirmed"
or "partly confirmed" verdict is false, and so is "contradicted".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from alignbook.analysis.claims import holm
from alignbook.analysis.curves import argmax_smallest, as_columns, cell_matrices, check_level
from alignbook.analysis.protocol import SHAPES, best_lam_pvalues, cell_tests, cross_fit, shapes, t_test
from alignbook.checks import check_positive_int, fail

TRUTHS = ("none", "rise", "fall", "interior")
CLAIMS = ("rise", "fall", "interior")
VERDICT_NAMES = ("confirmed", "partly confirmed", "contradicted", "not confirmed")


@dataclass(frozen=True)
class NoiseModel:
    """Standard deviations of the noise shared by a run's validation and test scores (`run_sd`) and of
    each split's own noise (`test_sd`, `val_sd`), and the residual degrees of freedom behind them."""

    run_sd: float
    test_sd: float
    val_sd: float
    df: int = 0


def noise_model(table, by, metric: str = "acc", select: str = "val_acc") -> tuple[NoiseModel, pd.DataFrame]:
    """The noise model of a results table (module docstring): the pooled estimate and one row per cell
    (`by`..., encoder) with its own `run_sd`, `test_sd`, `val_sd` and `df`."""
    cells, _ = cell_matrices(table, as_columns("by", by), metric, select)
    rows, sums = [], np.zeros(4)
    for cell in cells:
        complete = np.isfinite(cell.test).all(axis=1) & np.isfinite(cell.valid).all(axis=1)
        T, V = cell.test[complete], cell.valid[complete]
        df = (len(T) - 1) * (T.shape[1] - 1)
        if df <= 0:
            continue
        rt, rv = (X - X.mean(axis=1, keepdims=True) - X.mean(axis=0) + X.mean() for X in (T, V))
        cell_sums = np.array([(rt**2).sum(), (rv**2).sum(), (rt * rv).sum(), df])
        sums += cell_sums
        rows.append({**cell.key, **_components(cell_sums).__dict__})
    if sums[3] == 0:
        fail("table", "has no cell with 2 complete seeds and 2 values of lam: no noise to measure")
    return _components(sums), pd.DataFrame(rows)


def _components(sums: np.ndarray) -> NoiseModel:
    var_t, var_v, cov = sums[:3] / sums[3]
    run = max(cov, 0.0)
    return NoiseModel(run_sd=math.sqrt(run), test_sd=math.sqrt(max(var_t - run, 0.0)),
                      val_sd=math.sqrt(max(var_v - run, 0.0)), df=int(sums[3]))


def truth_curve(truth: str, lams, effect: float, peak: float = 0.5) -> np.ndarray:
    """The expected score at each `lam` of a truth (module docstring), 0 at `lam = 0`. `peak` (the
    interior optimum's `lam`) must lie strictly inside the grid."""
    lams = np.asarray(lams, dtype=float)
    if truth not in TRUTHS:
        fail("truth", f"must be one of {TRUTHS}, got {truth!r}")
    top = lams[-1]
    if truth == "none":
        return np.zeros_like(lams)
    if truth in ("rise", "fall"):
        tau = top / 8
        rise = effect * (1 - np.exp(-(lams - lams[0]) / tau)) / (1 - np.exp(-(top - lams[0]) / tau))
        return rise if truth == "rise" else -rise
    if not lams[0] < peak < top:
        fail("peak", f"must lie strictly between {lams[0]:g} and {top:g}, got {peak!r}")
    return effect * np.where(lams <= peak, (lams - lams[0]) / (peak - lams[0]), (top - lams) / (top - peak))


@dataclass(frozen=True)
class Design:
    """A chapter's design: its `lam` grid, seeds per cell, cells per claim family, level, confidence level
    of its intervals, margin of its equivalence tests, and the `lam` range of its interior-optimum claim."""

    lams: tuple[float, ...]
    n_seeds: int
    n_cells: int = 4
    alpha: float = 0.05
    ci: float = 0.95
    margin: float = 0.005
    lam_range: tuple[float, float] = (0.4, 0.6)

    def __post_init__(self):
        lams = tuple(float(v) for v in self.lams)
        if len(lams) < 3 or list(lams) != sorted(set(lams)):
            fail("lams", f"must be at least 3 increasing values of lam, got {self.lams!r}")
        object.__setattr__(self, "lams", lams)
        check_positive_int("n_seeds", self.n_seeds)
        check_positive_int("n_cells", self.n_cells)
        check_level("alpha", self.alpha)
        check_level("ci", self.ci)


def simulate(design: Design, noise: NoiseModel, curve: np.ndarray, n_sims: int,
             rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`n_sims` families of `design.n_cells` cells, each with `design.n_seeds` seeds: test and validation
    scores `(n_sims, n_cells, seeds, lams)` of the truth `curve` plus noise."""
    shape = (n_sims, design.n_cells, design.n_seeds, len(design.lams))
    shared = rng.normal(0.0, noise.run_sd, shape)
    return (curve + shared + rng.normal(0.0, noise.test_sd, shape),
            curve + shared + rng.normal(0.0, noise.val_sd, shape))


def _claim_verdicts(p_claim, p_opposite, alpha: float, agree_also=None) -> np.ndarray:
    """Verdicts of claims over the last axis (cells), Holm per direction, as `claims.verdict` gives them."""
    holds = holm(p_claim) <= alpha
    if agree_also is not None:
        holds &= agree_also
    u, v, n = holds.sum(axis=-1), (holm(p_opposite) <= alpha).sum(axis=-1), p_claim.shape[-1]
    return np.select([u == n, u > 0, v > 0], ["confirmed", "partly confirmed", "contradicted"],
                     default="not confirmed")


def _rate(hits: np.ndarray) -> tuple[float, float]:
    hits = np.asarray(hits, dtype=float).ravel()
    rate = float(hits.mean())
    return rate, math.sqrt(max(rate * (1 - rate), 1 / len(hits)) / len(hits))


def calibrate(design: Design, noise: NoiseModel, truth: str, effect: float, n_sims: int = 2000,
              seed: int = 0, peak: float | None = None) -> pd.DataFrame:
    """Rates of every outcome of the protocol on `n_sims` simulated claim families with one truth: a tidy
    table with columns `truth`, `effect`, `quantity`, `rate`, `se` (Monte-Carlo standard error; per-cell
    rates pool every cell of every family), drawn from `numpy.random.default_rng(seed)`."""
    n_sims = check_positive_int("n_sims", n_sims)
    lams = np.asarray(design.lams)
    peak = float(np.mean(design.lam_range)) if peak is None else peak
    curve = truth_curve(truth, lams, effect, peak)
    T, V = simulate(design, noise, curve, n_sims, np.random.default_rng(seed))
    found = cell_tests(T, V, design.margin, design.ci)
    alpha = design.alpha
    shape = shapes(found["p_rise"], found["p_fall"], found["p_interior"], found["p_flat"], found["n"], alpha)
    rows = [(f"shape: {name}", *_rate(shape == name)) for name in SHAPES if name != "not testable"]
    rows.append(("cell: rise detected", *_rate(found["p_rise"] < alpha)))
    rows.append(("cell: fall detected", *_rate(found["p_fall"] < alpha)))
    # the same seeds choose lam (on validation) and measure its gain (on test): biased by the shared noise
    star = argmax_smallest(V.mean(axis=-2))
    index = np.broadcast_to(star[..., None, None], T.shape[:-1] + (1,))
    chosen = np.take_along_axis(T, index, axis=-1)[..., 0]
    rows.append(("cell: rise detected, same-seed selection", *_rate(t_test(chosen - T[..., 0])[3] < alpha)))
    loo = cell_tests(T, V, design.margin, design.ci, scheme="leave-one-out")["p_rise"]
    rows.append(("cell: rise detected, leave-one-out cross-fitting", *_rate(loo < alpha)))
    # coverage: the gain interval of the mean cross-fitted gain, the set of lam of the true best lam
    target = (curve[cross_fit(T, V)["up"]] - curve[0]).mean(axis=-1)
    covered = (found["gain_low"] <= target) & (target <= found["gain_high"])
    rows.append(("coverage: gain interval", *_rate(covered)))
    lam_p = best_lam_pvalues(V)
    best = int(argmax_smallest(curve))
    rows.append((f"coverage: set of the best lam (lam = {lams[best]:g})",
                 *_rate(lam_p[..., best] >= 1 - design.ci)))
    # claims over the family
    fall_only = np.where(found["p_rise"] < alpha, 1.0, found["p_fall"])
    inside = (lams >= design.lam_range[0]) & (lams <= design.lam_range[1])
    if not inside.any():
        fail("design", f"no lam of the grid lies in lam_range {design.lam_range}")
    outside = lam_p[..., inside].max(axis=-1)
    members = lam_p >= 1 - design.ci
    meets = (members & inside).any(axis=-1)
    opposed = np.minimum(1.0, 2 * np.fmin(outside, fall_only))
    claims = {"rise": _claim_verdicts(found["p_rise"], found["p_fall"], alpha),
              "fall": _claim_verdicts(found["p_fall"], found["p_rise"], alpha),
              "interior": _claim_verdicts(found["p_interior"], opposed, alpha, meets)}
    for claim, verdicts in claims.items():
        rows += [(f"claim {claim}: {name}", *_rate(verdicts == name)) for name in VERDICT_NAMES]
    out = pd.DataFrame(rows, columns=["quantity", "rate", "se"])
    return out.assign(truth=truth, effect=float(effect))[["truth", "effect", "quantity", "rate", "se"]]


def calibration_table(design: Design, noise: NoiseModel, effect: float, n_sims: int = 2000, seed: int = 0,
                      truths=TRUTHS) -> pd.DataFrame:
    """`calibrate` for every truth of `truths` ("none" with effect 0), each from its own stream of
    `numpy.random.default_rng([seed, i])`: the tidy table of the book's calibration section, with the
    design and noise in `attrs`."""
    parts = [calibrate(design, noise, truth, 0.0 if truth == "none" else effect, n_sims,
                       seed=int(np.random.SeedSequence([seed, i]).generate_state(1)[0]))
             for i, truth in enumerate(truths)]
    out = pd.concat(parts, ignore_index=True)
    out.attrs.update(design=design, noise=noise, n_sims=n_sims)
    return out
