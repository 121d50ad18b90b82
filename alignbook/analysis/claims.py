"""Verdicts on the book's claims, computed from the per-cell tests (never typed into the prose).

A claim covers a family of cells (levels, encoders, datasets, regimes), fixed in the protocol file
(`plan`), which also fixes its direction, level `alpha` and margin. For each direction separately, Holm's
step-down procedure controls the family-wise error across the claim's cells (the chance that any cell is
wrongly counted is at most `alpha`):

- `agree` (u): cells where the claimed direction survives Holm. It is also the partial-conjunction count
  (Benjamini & Heller 2008, with the Bonferroni combination): the claim holds in at least u of the n cells;
- `opposed` (v): cells where the opposite direction survives Holm, at the same level;
- verdict: "confirmed" (u = n), "partly confirmed" (0 < u < n: "in at least u of n"), "contradicted"
  (u = 0 and v > 0), "not confirmed" (u = v = 0: the tests cannot tell; the row gives the largest
  minimum detectable effect of its cells, `mde`, so a reader sees what could have been detected), "not
  testable here" (no cell, or none with enough seeds).

Directions (`protocol` defines the per-cell p-values): a rise (`p_rise`; its opposite a fall, `p_fall`) and
its mirror; an interior optimum (`p_interior`; with a range of `lam`, a cell also needs its confidence set
of the best `lam` to meet the range, and is opposed when that set lies outside the range (p-value: the
largest `lam_p` inside the range) or when it falls without rising, the two combined by Bonferroni within the
cell); statements of no effect, by equivalence at every `lam` (`p_no_gain`, `p_no_loss`, `p_flat`; the
opposite is some `lam` beyond the margin, the complementary one-sided tests with Bonferroni's factor over
the lams); alignment trends (Page's L both ways); and a
gain larger in one cell than in its reference cell (Welch's t-test on the cross-fitted gains).

A verdict is a statement about a regime: given a claim's verdict at every value of an axis (for instance
the labelled-set size) within groups (depth, encoder), `regime_boundaries` says where it holds, in words.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from alignbook.analysis.plan import ClaimSpec
from alignbook.analysis.protocol import mde
from alignbook.checks import fail

CORRECTION_TEXT = {"holm": "Holm (family-wise error)", "none": "none (a single case)"}
EFFECT_DIRECTIONS = ("rise", "fall", "interior", "no gain", "no loss", "flat")


def holm(pvalues) -> np.ndarray:
    """Holm-adjusted p-values along the last axis: a cell's claim survives at level `a` iff its adjusted
    p-value is <= `a`. NaN p-values (untestable cells) stay NaN and do not count in the family size."""
    p = np.asarray(pvalues, dtype=float)
    finite = np.isfinite(p)
    m = finite.sum(axis=-1, keepdims=True)
    order = np.argsort(np.where(finite, p, np.inf), axis=-1, kind="stable")  # untestable cells last
    ranked = np.take_along_axis(np.where(finite, p, 1.0), order, axis=-1)
    factor = np.maximum(m - np.arange(p.shape[-1]), 1)
    adjusted = np.maximum.accumulate(np.minimum(1.0, factor * ranked), axis=-1)
    out = np.empty_like(adjusted)
    np.put_along_axis(out, order, adjusted, axis=-1)
    return np.where(finite, out, np.nan)


def verdict(agree: int, opposed: int, cases: int) -> str:
    """Verdict of a claim from the count of cells where it holds (`agree`, after the correction), where its
    opposite holds (`opposed`) and of testable cells (`cases`)."""
    if cases == 0:
        return "not testable here"
    if agree == cases:
        return "confirmed"
    if agree > 0:
        return "partly confirmed"
    return "contradicted" if opposed > 0 else "not confirmed"


def interval_verdict(low: float, high: float) -> str:
    """Verdict on a single-case claim that a quantity is > 0, from its interval: "confirmed" when the
    interval lies above 0, "contradicted" below 0, "not confirmed" when it contains 0 or is undefined."""
    if not (np.isfinite(low) and np.isfinite(high)) or low <= 0 <= high:
        return "not confirmed"
    return "confirmed" if low > 0 else "contradicted"


def _select(table: pd.DataFrame, where: Mapping) -> pd.DataFrame:
    mask = pd.Series(True, index=table.index)
    for column, values in where.items():
        values = values if isinstance(values, (list, tuple, set)) else [values]
        mask &= table[column].isin(values)
    return table[mask]


def _case_label(row, keys: Iterable[str]) -> str:
    return " ".join(f"{key}={row[key]}" for key in keys)


def _claim_row(spec: ClaimSpec, expected: str, p_claim: np.ndarray, p_opposite: np.ndarray,
               evidence: list[str], mdes: list[float], agree_also: np.ndarray | None = None) -> dict:
    """The claim's row: Holm (or no correction) per direction over the testable cells, counts, verdict."""
    p_claim, p_opposite = np.asarray(p_claim, dtype=float), np.asarray(p_opposite, dtype=float)
    testable = np.isfinite(p_claim)
    adjust = holm if spec.correction == "holm" else (lambda p: np.asarray(p, dtype=float))
    holds = np.nan_to_num(adjust(np.where(testable, p_claim, np.nan)), nan=1.0) <= spec.alpha
    if agree_also is not None:
        holds &= np.asarray(agree_also, dtype=bool)
    opposed = np.nan_to_num(adjust(np.where(testable, p_opposite, np.nan)), nan=1.0) <= spec.alpha
    u, v, n = int(holds.sum()), int(opposed.sum()), int(testable.sum())
    untestable = len(testable) - n
    marks = ["holds" if h else "opposite holds" if o else "cannot tell" if t else "not testable"
             for h, o, t in zip(holds, opposed, testable, strict=True)]
    summary = (f"holds in at least {u} of {n} cells, the opposite in {v}"
               + (f"; {untestable} cell(s) not testable" if untestable else ""))
    ours = "; ".join([summary, *(f"{e} ({m})" for e, m in zip(evidence, marks, strict=True))])
    if not evidence:
        ours = "no such case in this run"
    largest = [x for x in mdes if np.isfinite(x)]
    return {"key": spec.key, "claim": spec.wording, "source": spec.source, "expected": expected, "ours": ours,
            "agree": u, "cases": n, "opposed": v, "untestable": untestable, "verdict": verdict(u, v, n),
            "alpha": spec.alpha, "correction": CORRECTION_TEXT[spec.correction], "margin": spec.margin,
            "mde": max(largest) if largest else math.nan}


def _cell_evidence(row, keys: list[str]) -> str:
    return (f"{_case_label(row, keys)}: gain {row['gain']:+.4f} [{row['gain_low']:+.4f}, "
            f"{row['gain_high']:+.4f}], p rise {row['p_rise']:.2g}, p fall {row['p_fall']:.2g}, lam* "
            f"{row['lam_star']:g} [{row['lam_low']:g}, {row['lam_high']:g}], MDE {row['mde']:.4f}, "
            f"{int(row['n_seeds'])} seeds")


def _range_pvalue(lam_p: Mapping, lam_range: tuple[float, float]) -> float:
    """p-value that the best `lam` lies outside `lam_range`: the largest `lam_p` of the grid's lams inside
    it (NaN when none lies inside: the grid cannot test the range)."""
    inside = [p for lam, p in lam_p.items() if lam_range[0] <= lam <= lam_range[1]]
    return float(max(inside)) if inside else math.nan


def shape_claim(spec: ClaimSpec, optimum: pd.DataFrame, where: Mapping | None = None,
                keys: Iterable[str] | None = None) -> dict:
    """A claim about how one encoder's accuracy depends on `lam` (`spec.direction` one of
    `EFFECT_DIRECTIONS`), checked on the `protocol.optimal_lam` rows selected by `where`.

    Every selected row is a cell of the claim's family; the module docstring gives the tests per direction.
    `keys` name the columns that label a cell in the evidence (default: the columns of `where`); the encoder
    is always added. `mde` is the largest minimum detectable effect of the cells at Holm's strictest level,
    `alpha / n`.
    """
    if spec.direction not in EFFECT_DIRECTIONS:
        fail("spec", f"claim {spec.key!r} has direction {spec.direction!r}, not one of {EFFECT_DIRECTIONS}")
    where = dict(where or {})
    cases = _select(optimum, where)
    keys = [*(keys if keys is not None else where.keys()), "encoder"]
    p_rise, p_fall = cases["p_rise"].to_numpy(float), cases["p_fall"].to_numpy(float)
    agree_also = None
    if spec.direction in ("rise", "fall"):
        p_claim, p_opposite = (p_rise, p_fall) if spec.direction == "rise" else (p_fall, p_rise)
        expected = (f"a {spec.direction} of the cross-fitted test gain (one-sided paired t over seeds); "
                    f"opposite: a {'fall' if spec.direction == 'rise' else 'rise'}")
    elif spec.direction == "interior":
        p_claim = cases["p_interior"].to_numpy(float)
        fall_only = np.where(np.nan_to_num(p_rise, nan=1.0) < spec.alpha, 1.0, p_fall)
        expected = "interior optimum: the chosen lam above lam = 0 and above lam_max on test"
        if spec.lam_range is None:
            p_opposite = fall_only
            expected += "; opposite: a fall without a rise"
        else:
            low, high = spec.lam_range
            outside = np.array([_range_pvalue(p, spec.lam_range) for p in cases["lam_p"]], dtype=float)
            p_claim = np.where(np.isnan(outside), np.nan, p_claim)
            p_opposite = np.minimum(1.0, 2 * np.fmin(outside, fall_only))
            agree_also = ((cases["lam_low"] <= high) & (cases["lam_high"] >= low)).to_numpy()
            expected += (f", its confidence set of the best lam meeting [{low:g}, {high:g}]; opposite: the "
                         "set outside the range, or a fall without a rise")
    else:
        no_gain, no_loss = cases["p_no_gain"].to_numpy(float), cases["p_no_loss"].to_numpy(float)
        p_claim = {"no gain": no_gain, "no loss": no_loss, "flat": np.fmax(no_gain, no_loss)}[spec.direction]
        # some lam beyond the margin: the complementary one-sided tests, Bonferroni over the lams > 0
        others = cases["n_lams"].to_numpy(float) - 1
        gain, loss = np.minimum(1.0, others * (1 - no_gain)), np.minimum(1.0, others * (1 - no_loss))
        beyond = {"no gain": gain, "no loss": loss, "flat": np.minimum(1.0, 2 * np.fmin(gain, loss))}
        p_opposite = beyond[spec.direction]
        expected = (f"{spec.direction} beyond the margin {spec.margin:g} (equivalence, one-sided t over "
                    "seeds); opposite: an effect beyond the margin")
    expected += f"; {CORRECTION_TEXT[spec.correction]} over the cells at alpha {spec.alpha:g}"
    n = int(np.isfinite(p_claim).sum())
    mdes = [mde(sd, n_seeds, spec.alpha / max(n, 1))
            for sd, n_seeds in zip(cases["sd_diff"], cases["n_seeds"], strict=True)]
    evidence = [_cell_evidence(row, keys) for _, row in cases.iterrows()]
    return _claim_row(spec, expected, p_claim, p_opposite, evidence, mdes, agree_also)


def trend_claim(spec: ClaimSpec, trends: pd.DataFrame, where: Mapping | None = None,
                keys: Iterable[str] | None = None) -> dict:
    """A claim that alignment rises with `lam` (`spec.direction` "alignment rise"), checked on
    `correlation.alignment_trend` rows (per group and metric): Page's L test of a rise, its opposite the
    same test of a fall, each with the claim's correction across the rows."""
    if spec.direction != "alignment rise":
        fail("spec", f"claim {spec.key!r} has direction {spec.direction!r}, not 'alignment rise'")
    where = dict(where or {})
    cases = _select(trends, where)
    keys = [*(keys if keys is not None else where.keys()), "metric"]
    evidence = [f"{_case_label(row, keys)}: Spearman rho = {row['rho']:.2f} [{row['ci_low']:.2f}, "
                f"{row['ci_high']:.2f}], p rise {row['p_rise']:.2g}, p fall {row['p_fall']:.2g}"
                for _, row in cases.iterrows()]
    expected = (f"a rise of alignment with lam (Page's L over seeds); opposite: a fall; "
                f"{CORRECTION_TEXT[spec.correction]} over the cells at alpha {spec.alpha:g}")
    return _claim_row(spec, expected, cases["p_rise"].to_numpy(float), cases["p_fall"].to_numpy(float),
                      evidence, [math.nan] * len(cases))


def difference_claim(spec: ClaimSpec, optimum: pd.DataFrame, axis: str, reference, keys: Iterable[str],
                     where: Mapping | None = None) -> dict:
    """A claim that a cell gains more from alignment than its reference cell (`spec.direction` "larger
    gain"), e.g. a scarce label budget against the full split.

    The cells are the `optimum` rows (selected by `where`) whose `axis` is not `reference`; each is compared
    with the row that has `axis == reference` and the same `keys`. The test is Welch's t-test on the two
    cells' cross-fitted gains (`gain`, `sd`, `n_seeds`; `scipy.stats.ttest_ind_from_stats`): the cells'
    runs are different runs, and a correlation between them through a shared seed would only make the test
    conservative. A case without its reference is left out.
    """
    from scipy import stats

    if spec.direction != "larger gain":
        fail("spec", f"claim {spec.key!r} has direction {spec.direction!r}, not 'larger gain'")
    keys = as_keys(keys)
    rows = _select(optimum, dict(where or {}))
    refs = rows[rows[axis] == reference].set_index(keys)
    p_claim, p_opposite, evidence, mdes = [], [], [], []
    for _, row in rows[rows[axis] != reference].iterrows():
        key = tuple(row[k] for k in keys)
        key = key if len(key) > 1 else key[0]
        if key not in refs.index:
            continue
        ref = refs.loc[key]
        testable = (min(row["n_seeds"], ref["n_seeds"]) >= 2 and np.isfinite(row["sd"])
                    and np.isfinite(ref["sd"]))
        p = math.nan
        if testable:
            p = float(stats.ttest_ind_from_stats(row["gain"], row["sd"], row["n_seeds"], ref["gain"],
                                                 ref["sd"], ref["n_seeds"], equal_var=False,
                                                 alternative="greater").pvalue)
            p = p if np.isfinite(p) else (0.0 if row["gain"] > ref["gain"] else 1.0)  # both spreads 0
        p_claim.append(p)
        p_opposite.append(1 - p)
        evidence.append(f"{_case_label(row, [*keys, 'encoder'])}: gain {row['gain']:+.4f} "
                        f"[{row['gain_low']:+.4f}, {row['gain_high']:+.4f}] at {axis} {row[axis]:g}, "
                        f"{ref['gain']:+.4f} [{ref['gain_low']:+.4f}, {ref['gain_high']:+.4f}] at "
                        f"{reference:g}")
        mdes.append(math.nan)
    n = int(np.isfinite(p_claim).sum()) if p_claim else 0
    expected = (f"a larger cross-fitted gain than at {axis} = {reference:g} (Welch's t, one-sided); "
                f"opposite: a smaller one; {CORRECTION_TEXT[spec.correction]} over the {n} cells at alpha "
                f"{spec.alpha:g}")
    return _claim_row(spec, expected, np.array(p_claim), np.array(p_opposite), evidence, mdes)


def correlation_claim(spec: ClaimSpec, r: float, p_positive: float, p_negative: float,
                      evidence: str) -> dict:
    """A one-case claim that a correlation is positive (`spec.direction` "positive correlation"), from its
    one-sided p-values each way (e.g. `correlation.seed_correlation`'s or `predictor.level_correlation`'s
    permutation tests): it holds when `p_positive` < alpha, its opposite when `p_negative` < alpha; an
    undefined correlation leaves the claim not testable."""
    testable = bool(np.isfinite(r) and np.isfinite(p_positive) and np.isfinite(p_negative))
    u, v = int(testable and p_positive < spec.alpha), int(testable and p_negative < spec.alpha)
    return {"key": spec.key, "claim": spec.wording, "source": spec.source,
            "expected": f"a positive correlation (one-sided test at alpha {spec.alpha:g}); opposite: a "
                        "negative one",
            "ours": evidence, "agree": u, "cases": int(testable), "opposed": v,
            "untestable": int(not testable),
            "verdict": verdict(u, v, int(testable)), "alpha": spec.alpha,
            "correction": CORRECTION_TEXT[spec.correction], "margin": spec.margin, "mde": math.nan}


def as_keys(keys) -> list[str]:
    """`keys` as a list of column names (one name or several)."""
    keys = [keys] if isinstance(keys, str) else list(keys)
    if not keys:
        fail("keys", "must name at least one column that identifies a case")
    return keys


def claims_table(rows: Iterable[dict]) -> pd.DataFrame:
    """Claims as a table indexed by their wording, in the order given; the `key` column names each claim."""
    return pd.DataFrame(list(rows)).set_index("claim")


# ---------------------------------------------------------------------------------------------------------
# verdicts per regime


def regime_boundaries(regimes: pd.DataFrame, axis: str = "n_train", by: Iterable[str] = ()) -> pd.DataFrame:
    """Where a claim stops holding along `axis`, per `by` group of a table of verdicts (columns `by`,
    `axis` and `verdict`, one row per group and axis value).

    `holds_up_to` is the largest value X such that the claim is "confirmed" at every value <= X (NaN when
    it is not confirmed at the smallest); `fails_from` the smallest value Y such that no case agrees
    ("contradicted" or "not confirmed") at every value >= Y (NaN when some case agrees at the largest).
    `summary` says it in words, run by run of equal verdicts ("contradicted" and "not confirmed" counted
    together), e.g. "confirmed for n_train <= 1,000; partly confirmed at n_train = 3,000; not confirmed for
    n_train >= 10,000".
    """
    by = list(by)
    rows = []
    groups = regimes.groupby(by, sort=False) if by else [((), regimes)]
    for key, part in groups:
        key = key if isinstance(key, tuple) else (key,)
        part = part.sort_values(axis)
        values, verdicts = part[axis].tolist(), part["verdict"].tolist()
        holds = [v == "confirmed" for v in verdicts]
        fails = [v in ("contradicted", "not confirmed") for v in verdicts]
        n_hold = next((i for i, h in enumerate(holds) if not h), len(holds))
        n_fail = next((i for i, f in enumerate(fails[::-1]) if not f), len(fails))
        up_to = values[n_hold - 1] if n_hold else np.nan
        fails_from = values[len(values) - n_fail] if n_fail else np.nan
        rows.append({**dict(zip(by, key, strict=True)), "holds_up_to": up_to, "fails_from": fails_from,
                     "summary": _boundary_text(axis, values, verdicts)})
    return pd.DataFrame(rows)


def _boundary_text(axis: str, values: list, verdicts: list[str]) -> str:
    """The verdicts along `axis` in runs of consecutive values, e.g. "confirmed for n_train <= 1,000;
    partly confirmed at n_train = 3,000; not confirmed for n_train >= 10,000"."""
    def size(value) -> str:
        return f"{value:,}" if isinstance(value, (int, np.integer)) else f"{value:g}"

    def category(verdict: str) -> str:
        return "not confirmed" if verdict in ("contradicted", "not confirmed") else verdict

    runs: list[list[int]] = []
    for i, verdict_here in enumerate(verdicts):
        if runs and category(verdicts[runs[-1][0]]) == category(verdict_here):
            runs[-1].append(i)
        else:
            runs.append([i])
    words = []
    for number, run in enumerate(runs):
        label = category(verdicts[run[0]])
        if label == "not confirmed" and all(verdicts[i] == "contradicted" for i in run):
            label = "contradicted"
        if len(runs) == 1:
            words.append(f"{label} at every {axis} ({size(values[0])} to {size(values[-1])})")
        elif number == 0:
            words.append(f"{label} for {axis} <= {size(values[run[-1]])}")
        elif number == len(runs) - 1:
            words.append(f"{label} for {axis} >= {size(values[run[0]])}")
        else:
            words.append(f"{label} at {axis} = {', '.join(size(values[i]) for i in run)}")
    return "; ".join(words)
