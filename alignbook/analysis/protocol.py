"""The verdict protocol for one cell: does accuracy change with `lam`, which way, and by how much?

A cell is one group and encoder of a results table: a `seeds x lams` matrix `T` of test scores and `V` of
validation scores (`curves.cell_matrices`), `lam = 0` first. A seed is one replicate: it draws the data, the
labelled subset and the initialisation, so a run's validation and test scores share that run's noise.

**Selection and estimation do not share noise.** Choosing the best `lam` on the seeds' validation scores
and measuring its gain on the same seeds' test scores is biased upwards: a run that is lucky on validation
is lucky on test too (the winner's curse through the shared run noise; `calibration` measures it). So every
gain is cross-fitted: seed `s` never chooses its own `lam`. For each seed `s`, on the mean validation
curve of the seeds `selection_sets` assigns to it,

- `up_s` is the argmax over all lams, and `d_up[s] = T[s, up_s] - T[s, 0]` (what tuning `lam` on
  validation gains on a fresh seed);
- `down_s` is the argmin, and `d_down[s] = T[s, down_s] - T[s, 0]`;
- `d_end[s] = T[s, up_s] - T[s, lam_max]`.

The assignment is a round robin: every pair of seeds is used in one direction only (seed `s` chooses on the
next `(n - 1) // 2` seeds in cyclic order, and for even `n` the first half also on the seed `n / 2` places
on). Leaving one seed out and choosing on all the others would use each pair both ways: seed a's
validation helps choose b's `lam` while b's helps choose a's, and because validation and test share a
run's noise, `d_up[a]` and `d_up[b]` become positively correlated. The t-test then underestimates the
variance of the mean and rejects too often (about 7 % instead of 5 % at 7 lams and 5 seeds with the noise
measured in this project's runs, `calibration`). With the round robin, each `d_up[s]` has mean 0 when `lam`
has no effect and any two are uncorrelated, so the t-test holds its level.

The definitions are exact mirror images: negating every score swaps `d_up` and `-d_down`, so a rise and an
equal fall are found equally often.

**Tests** (one-sample t-tests over seeds, seeds with a missing run left out; a cell needs `MIN_SEEDS`):

- `gain` = mean(d_up), `gain_low`, `gain_high` its t interval at level `ci`;
- `p_rise`: one-sided p of mean(d_up) > 0; `p_fall`: one-sided p of mean(d_down) < 0 (the mirror test);
- `p_interior` = max(p_rise, p of mean(d_end) > 0): above both ends at once, an intersection-union test
  (Berger 1982), which needs no correction;
- equivalence against the smallest effect of interest `margin` (two one-sided tests, TOST), at every
  `lam` at once: `p_no_gain` is the largest over lams j of the p-value of mean(T[:, j] - T[:, 0]) < margin,
  `p_no_loss` the largest of mean(T[:, j] - T[:, 0]) > -margin, `p_flat` the larger of both (no effect of
  alignment either way beyond the margin). An intersection-union test: it shows that *no* `lam` gains
  more than the margin, not only the one a validation curve would choose (testing the cross-fitted gain
  instead would conclude "no gain" in 10 to 13 % of cells whose best `lam` gains exactly the margin,
  because the chosen `lam` is not always the best);
- `mde`: the smallest mean difference that the one-sided test at `alpha` detects with probability `power`
  (noncentral t), given the cell's seeds and `sd_diff`, the pooled seed-to-seed spread of a paired
  difference `T[:, j] - T[:, 0]`. It is a sensitivity figure fixed by the design, not observed power. The
  cross-fitted test finds a saturating rise of that size a little less often (0.72 to 0.76 instead of 0.8
  in the calibration), since the `lam` the other seeds choose is not always the best.

**The best `lam`.** `lam_star` is the argmax of the seed-mean validation curve (ties to the smallest
`lam`). Its uncertainty is a confidence set, not a bootstrap interval (3 to 5 seeds allow only 10 to 126
distinct resamples): the multiple comparison with the best (Hsu 1981) keeps every `lam` that is not
significantly worse than some other `lam` on validation, each comparison a one-sided t-test with the
residual variance of the two-way (seed + lam) layout and Bonferroni's factor `n_lams - 1`. `lam_p` maps
every `lam` to the p-value of "this `lam` is not the best"; the set at level `ci` is
`{lam: lam_p >= 1 - ci}`, and `lam_low`, `lam_high` are its ends.

**Shape** of a cell, at the cell's own `alpha` (descriptive; claims correct across cells, `claims`):
"interior optimum" (p_interior < alpha), else "rises and falls" (both p_rise and p_fall), "rises",
"falls", "flat" (equivalence shown: p_flat < alpha), "inconclusive" (nothing shown), or "not testable"
(fewer than `MIN_SEEDS` seeds).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from alignbook.analysis.curves import argmax_smallest, as_columns, cell_matrices, check_level
from alignbook.checks import fail

SHAPES = ("interior optimum", "rises and falls", "rises", "falls", "flat", "inconclusive", "not testable")
MIN_SEEDS = 3  # with fewer, the round robin leaves a seed nothing to choose on and the t-test one value
ALTERNATIVES = ("greater", "less")
SCHEMES = ("round-robin", "leave-one-out")

# What the columns of `optimal_lam` mean, for tables offered for download
OPTIMUM_COLUMNS = {
    "metric": "the test score analysed (acc: test accuracy)",
    "select": "the validation score lam is chosen on (val_acc: validation accuracy)",
    "lam_star": "lam of the highest seed-mean validation score",
    "lam_low": "smallest lam of the confidence set of the best lam (multiple comparison with the best)",
    "lam_high": "largest lam of that confidence set",
    "lam_p": "per lam: p-value that it is not the best on validation (in the set when >= 1 - ci)",
    "value_star": "seed-mean test score at lam*",
    "value_base": "seed-mean test score at lam_base",
    "lam_base": "smallest lam of the grid (normally 0)",
    "lam_max": "largest lam of the grid",
    "gain": "cross-fitted test gain over lam_base of the lam chosen on other seeds' validation scores",
    "gain_low": "lower end of the t interval of the gain over seeds",
    "gain_high": "upper end of the t interval of the gain over seeds",
    "p_rise": "one-sided p-value of a gain (cross-fitted best lam above lam_base on test)",
    "p_fall": "one-sided p-value of a loss (cross-fitted worst lam below lam_base on test)",
    "p_interior": "p-value of an interior optimum: the chosen lam above both ends (intersection-union)",
    "p_no_gain": "equivalence p-value: no lam gains more than the margin over lam_base",
    "p_no_loss": "equivalence p-value: no lam loses more than the margin against lam_base",
    "p_flat": "equivalence p-value: neither gain nor loss beyond the margin",
    "margin": "smallest effect of interest of the equivalence tests (protocol file)",
    "shape": "shape of the accuracy curve at the cell's alpha: " + ", ".join(SHAPES),
    "sd": "standard deviation over seeds of the cross-fitted gain",
    "sd_diff": "pooled standard deviation over seeds of a paired difference from lam_base",
    "mde": "smallest mean difference the one-sided test detects with 80 % power",
    "n_seeds": "seeds with a complete cross-fitted difference",
    "n_lams": "values of lam in the grid",
    "n_failed": "diverged runs left out",
    "cap_share": "share of the cell's runs stopped by the step cap rather than early stopping",
}


# --------------------------------------------------------------------------------------------------------
# tests on arrays: the last axis (or the last two) holds a cell, every leading axis is a batch of cells


def t_test(diffs, alternative: str = "greater", null: float = 0.0):
    """One-sample t-test of the mean of `diffs` along the last axis, NaN left out: `(mean, sd, n, p)`.

    `alternative="greater"` tests mean > `null`, `"less"` mean < `null`. Identical values (spread 0) give p
    0 when their mean lies on the alternative's side, else 1; fewer than 2 values give NaN. It is
    `scipy.stats.ttest_1samp` written for whole batches of cells at once (the calibration runs thousands
    per call); a test checks that both agree.
    """
    from scipy import stats

    if alternative not in ALTERNATIVES:
        fail("alternative", f"must be one of {ALTERNATIVES}, got {alternative!r}")
    d = np.asarray(diffs, dtype=float)
    finite = np.isfinite(d)
    n = finite.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(finite, d, 0.0).sum(axis=-1) / n
        deviations = np.where(finite, d - mean[..., None], 0.0)
        sd = np.sqrt((deviations**2).sum(axis=-1) / (n - 1))
        t = (mean - null) / (sd / np.sqrt(n))
        p = stats.t.sf(t, n - 1) if alternative == "greater" else stats.t.cdf(t, n - 1)
    on_side = mean > null if alternative == "greater" else mean < null
    p = np.where(sd == 0, np.where(on_side, 0.0, 1.0), p)
    return mean, sd, n, np.where(n >= 2, p, np.nan)


def t_interval(mean, sd, n, level: float):
    """Student-t interval `(low, high)` for a mean from its sample `sd` and `n` (NaN below 2 values)."""
    from scipy import stats

    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore"):
        half = stats.t.ppf(0.5 + level / 2, n - 1) * np.asarray(sd) / np.sqrt(n)
    half = np.where(n >= 2, half, np.nan)
    return mean - half, mean + half


def selection_sets(n_seeds: int, scheme: str = "round-robin") -> np.ndarray:
    """Which seeds choose `lam` for which: a boolean `n_seeds x n_seeds` matrix, row s marking the seeds
    whose validation scores choose seed s's `lam` (never s itself).

    "round-robin" (the protocol's): seed s uses the next `(n - 1) // 2` seeds in cyclic order and, when
    `n` is even, the seed `n / 2` places on for the first half, so that every pair of seeds is used in one
    direction only (a round-robin tournament). "leave-one-out": every other seed (each pair used both
    ways); kept to show, in the calibration, why the protocol does not use it.
    """
    if scheme not in SCHEMES:
        fail("scheme", f"must be one of {SCHEMES}, got {scheme!r}")
    if scheme == "leave-one-out":
        return ~np.eye(n_seeds, dtype=bool)
    uses = np.zeros((n_seeds, n_seeds), dtype=bool)
    for s in range(n_seeds):
        uses[s, [(s + k) % n_seeds for k in range(1, (n_seeds - 1) // 2 + 1)]] = True
        if n_seeds % 2 == 0 and s < n_seeds // 2:
            uses[s, s + n_seeds // 2] = True
    return uses


def cross_fit(test, valid, scheme: str = "round-robin") -> dict:
    """Cross-fitted choices and paired differences of cells `test`, `valid` (`... x seeds x lams`).

    Seed s's `lam` is chosen on the mean validation curve of the seeds `selection_sets` gives it. Returns
    arrays over `... x seeds`: `up`, `down` (indices of that curve's argmax and argmin, ties to the smallest
    lam), `d_up`, `d_down`, `d_end` (module docstring). A missing validation score is left out of the
    means; a missing test score makes that seed's difference NaN.
    """
    T = np.asarray(test, dtype=float)
    V = np.asarray(valid, dtype=float)
    if T.shape != V.shape:
        fail("valid", f"must have the shape of test {T.shape}, got {V.shape}")
    uses = selection_sets(T.shape[-2], scheme).astype(float)
    finite = np.isfinite(V)
    counts = np.einsum("st,...tk->...sk", uses, finite.astype(float))
    with np.errstate(invalid="ignore", divide="ignore"):
        curves = np.einsum("st,...tk->...sk", uses, np.where(finite, V, 0.0)) / counts
    curves = np.where(counts > 0, curves, np.nan)
    up = argmax_smallest(curves)
    down = argmax_smallest(-curves)

    chosen = (counts > 0).any(axis=-1)  # a seed with no validation score to choose on has no difference

    def at(index):
        return np.where(chosen, np.take_along_axis(T, index[..., None], axis=-1)[..., 0], np.nan)

    return {"up": up, "down": down, "d_up": at(up) - T[..., 0], "d_down": at(down) - T[..., 0],
            "d_end": at(up) - T[..., -1]}


def cell_tests(test, valid, margin: float, ci: float = 0.95, scheme: str = "round-robin") -> dict:
    """Every cross-fitted test of cells `test`, `valid` (`... x seeds x lams`), as arrays over `...`:
    `gain`, `gain_low`, `gain_high`, `sd`, `n`, `p_rise`, `p_fall`, `p_interior`, `p_no_gain`, `p_no_loss`,
    `p_flat` (module docstring; `scheme` as in `selection_sets`). A grid without an interior `lam` has
    `p_interior` 1."""
    fitted = cross_fit(test, valid, scheme)
    gain, sd, n, p_rise = t_test(fitted["d_up"], "greater")
    p_fall = t_test(fitted["d_down"], "less")[3]
    p_end = t_test(fitted["d_end"], "greater")[3]
    low, high = t_interval(gain, sd, n, ci)
    # equivalence at every lam at once (intersection-union): "no lam gains (loses) more than the margin"
    T = np.asarray(test, dtype=float)
    diffs = np.swapaxes(T[..., 1:] - T[..., :1], -1, -2)  # ... x lams x seeds: one t-test per lam
    p_no_gain = t_test(diffs, "less", null=margin)[3].max(axis=-1, initial=0.0)
    p_no_loss = t_test(diffs, "greater", null=-margin)[3].max(axis=-1, initial=0.0)
    interior = np.fmax(p_rise, p_end) if np.shape(test)[-1] >= 3 else np.ones_like(p_rise)
    return {"gain": gain, "gain_low": low, "gain_high": high, "sd": sd, "n": n, "p_rise": p_rise,
            "p_fall": p_fall, "p_interior": np.where(np.isnan(p_rise), np.nan, interior),
            "p_no_gain": p_no_gain, "p_no_loss": p_no_loss, "p_flat": np.fmax(p_no_gain, p_no_loss)}


def shapes(p_rise, p_fall, p_interior, p_flat, n, alpha: float) -> np.ndarray:
    """The shape of each cell from its p-values at level `alpha` (module docstring), as an array of str."""
    def shown(p):
        return np.nan_to_num(np.asarray(p, dtype=float), nan=1.0) < alpha

    rise, fall = shown(p_rise), shown(p_fall)
    return np.select(
        [np.asarray(n) < MIN_SEEDS, shown(p_interior), rise & fall, rise, fall, shown(p_flat)],
        ["not testable", "interior optimum", "rises and falls", "rises", "falls", "flat"],
        default="inconclusive")


def best_lam_pvalues(valid) -> np.ndarray:
    """For each `lam` of cells `valid` (`... x seeds x lams`, no missing value), the p-value that it is not
    the best on validation: multiple comparison with the best (Hsu), Bonferroni over the `lams - 1` others.

    For `lam` j, the best other mean `m_k` is compared with `m_j` by a one-sided t statistic
    `(m_k - m_j) / sqrt(2 s^2 / seeds)`, `s^2` the residual mean square of the additive seed + lam model
    (`(seeds - 1)(lams - 1)` degrees of freedom, seed offsets removed as a paired test removes them);
    `p_j = min(1, (lams - 1) * P(t > statistic))`. A true best `lam` gets p below `a` with probability
    at most `a`, so `{lam: p >= a}` covers it with probability at least `1 - a`.
    """
    from scipy import stats

    V = np.asarray(valid, dtype=float)
    n_seeds, n_lams = V.shape[-2:]
    if n_lams < 2:
        return np.ones(V.shape[:-2] + (n_lams,))
    means = V.mean(axis=-2)
    residual = V - V.mean(axis=-1, keepdims=True) - means[..., None, :] + means.mean(axis=-1)[..., None, None]
    df = (n_seeds - 1) * (n_lams - 1)
    scale = np.sqrt(2 * (residual**2).sum(axis=(-2, -1)) / df / n_seeds)[..., None]
    order = np.sort(means, axis=-1)
    top = np.argmax(means, axis=-1)[..., None]
    best_other = np.where(np.arange(n_lams) == top, order[..., -2:-1], order[..., -1:])
    with np.errstate(invalid="ignore", divide="ignore"):
        p = (n_lams - 1) * stats.t.sf((best_other - means) / scale, df)
    p = np.where(scale == 0, np.where(best_other > means, 0.0, 1.0), p)
    return np.minimum(p, 1.0)


def mde(sd: float, n: int, alpha: float, power: float = 0.8) -> float:
    """Smallest true mean difference that a one-sided one-sample t-test at `alpha` detects with probability
    `power`, from `n` values of standard deviation `sd` (noncentral t; NaN below 2 values or without a
    spread). At `alpha` 0.05 and `power` 0.8 it is 2.30 `sd` with 3 values, 1.36 with 5 and 0.85 with 10."""
    from scipy import optimize, stats

    if not (np.isfinite(sd) and sd > 0 and n >= 2):
        return math.nan
    df = int(n) - 1
    critical = stats.t.isf(alpha, df)

    def shortfall(noncentrality):
        return stats.nct.sf(critical, df, noncentrality) - power

    high = critical + 4.0
    while shortfall(high) < 0:
        high *= 2
    return float(optimize.brentq(shortfall, 0.0, high, xtol=1e-10) * sd / math.sqrt(n))


def pooled_difference_sd(test) -> float:
    """Pooled standard deviation over seeds of the paired differences `test[:, j] - test[:, 0]`, j > 0: the
    root mean square of each column's sample standard deviation (NaN left out; NaN without two seeds)."""
    diffs = np.asarray(test, dtype=float)[:, 1:] - np.asarray(test, dtype=float)[:, :1]
    variances = [np.var(column[np.isfinite(column)], ddof=1) for column in diffs.T
                 if np.isfinite(column).sum() >= 2]
    return float(np.sqrt(np.mean(variances))) if variances else math.nan


# --------------------------------------------------------------------------------------------------------
# tables


def optimal_lam(table, by=("dataset",), metric: str = "acc", select: str = "val_acc", alpha: float = 0.05,
                ci: float = 0.95, margin: float = 0.005, power: float = 0.8) -> pd.DataFrame:
    """The best `lam` per group and encoder, chosen on validation, and its effect measured on test.

    One row per (`by`..., encoder) with the columns of `OPTIMUM_COLUMNS` (the module docstring defines
    them). Which score each column uses: `lam_star`, `lam_low`, `lam_high` and `lam_p` read `select` (the
    validation score); `gain`, its interval, every p-value, `value_star`, `value_base`, `sd`, `sd_diff` and
    `mde` read `metric` (the test score), the gains at `lam`s chosen on other seeds' `select` scores.
    `shape` is decided at `alpha`; `mde` at `alpha` and `power`; the equivalence tests use `margin` (the
    protocol file's margin of the claim; 0.005 for synthetic accuracy). `cap_share` appears when the table
    has a `hit_cap` column. The set of `lam` uses the seeds with a run at every `lam`.
    """
    by = as_columns("by", by)
    alpha = check_level("alpha", alpha)
    level = check_level("ci", ci)
    power = check_level("power", power)
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not 0 < margin < 1:
        fail("margin", f"must be a number strictly between 0 and 1 (a difference of scores), got {margin!r}")
    cells, n_failed = cell_matrices(table, by, metric, select)
    rows = []
    for cell in cells:
        T, V, lams = cell.test, cell.valid, cell.lams
        found = {k: float(v) for k, v in cell_tests(T, V, margin, level).items()}
        n = int(found.pop("n"))
        if n < MIN_SEEDS:
            found.update({k: math.nan for k in found if k.startswith("p_")})
        star = int(argmax_smallest(np.nanmean(V, axis=0)))
        complete = V[np.isfinite(V).all(axis=1)]
        lam_p = (best_lam_pvalues(complete) if len(complete) >= 2 else np.full(len(lams), math.nan))
        members = lams[lam_p >= 1 - level]
        sd_diff = pooled_difference_sd(T)
        row = {**cell.key, "metric": metric, "select": select, "lam_star": float(lams[star]),
               "lam_low": float(members.min()) if len(members) else math.nan,
               "lam_high": float(members.max()) if len(members) else math.nan,
               "lam_p": {float(lam): float(p) for lam, p in zip(lams, lam_p, strict=True)},
               "value_star": float(np.nanmean(T[:, star])), "value_base": float(np.nanmean(T[:, 0])),
               "lam_base": float(lams[0]), "lam_max": float(lams[-1]), **found, "margin": float(margin),
               "shape": str(shapes(found["p_rise"], found["p_fall"], found["p_interior"], found["p_flat"],
                                   n, alpha)),
               "sd_diff": sd_diff, "mde": mde(sd_diff, n, alpha, power), "n_seeds": n,
               "n_lams": len(lams), "n_failed": cell.n_failed}
        if "hit_cap" in table.columns:
            row["cap_share"] = cell.cap_share
        rows.append(row)
    out = pd.DataFrame(rows)
    out.attrs.update(n_failed=n_failed, alpha=alpha, ci=level, margin=float(margin), power=power)
    return out


def seed_gains(table, by=("dataset",), metric: str = "acc", select: str = "val_acc") -> pd.DataFrame:
    """The cross-fitted differences of every seed, one row per (`by`..., encoder, seed): `base` (the test
    score at `lam_base`), `lam_up`, `d_up`, `lam_down`, `d_down` (module docstring). The seed-level data
    behind `optimal_lam`'s gains, for statistics across cells (`correlation.seed_correlation`)."""
    cells, _ = cell_matrices(table, as_columns("by", by), metric, select)
    rows = []
    for cell in cells:
        fitted = cross_fit(cell.test, cell.valid)
        for i, seed in enumerate(cell.seeds):
            rows.append({**cell.key, "seed": seed, "base": float(cell.test[i, 0]),
                         "lam_up": float(cell.lams[fitted["up"][i]]), "d_up": float(fitted["d_up"][i]),
                         "lam_down": float(cell.lams[fitted["down"][i]]),
                         "d_down": float(fitted["d_down"][i])})
    return pd.DataFrame(rows)
