"""Verdicts on the paper's claims, computed from our results (never typed into the prose).

Each function takes the tables of `alignbook.analysis` and returns one row per claim: what the paper says
(with how sure we are of its wording), what our runs show, and a verdict:
"confirmed" (every tested case agrees), "partly confirmed" (some do), "contradicted" (none does and
some show the opposite), "not confirmed" (none does, and none shows the opposite either: the tests cannot
tell) or "not testable here" (the sweep holds no case the claim is about).

A verdict is a statement about a regime: given a claim's verdict at every value of an axis (for instance
the labelled-set size) within groups (depth, encoder), `regime_boundaries` says up to where it holds and
from where it does not.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd


def verdict(agreements: Iterable[bool | None]) -> str:
    """Verdict of a claim from each tested case: True (agrees), False (shows the opposite) or None (cannot
    tell, e.g. no significant change)."""
    agreements = list(agreements)
    if not agreements:
        return "not testable here"
    if all(a is True for a in agreements):
        return "confirmed"
    if any(a is True for a in agreements):
        return "partly confirmed"
    return "contradicted" if any(a is False for a in agreements) else "not confirmed"


def interval_verdict(low: float, high: float) -> str:
    """Verdict on a claim that a quantity is > 0, from its interval: "confirmed" when the interval lies
    above 0, "contradicted" below 0, "not confirmed" when it contains 0 or is undefined."""
    if not (np.isfinite(low) and np.isfinite(high)) or low <= 0 <= high:
        return "not confirmed"
    return "confirmed" if low > 0 else "contradicted"


def _select(table: pd.DataFrame, where: Mapping) -> pd.DataFrame:
    mask = pd.Series(True, index=table.index)
    for column, values in where.items():
        values = values if isinstance(values, (list, tuple, set)) else [values]
        mask &= table[column].isin(values)
    return table[mask]


def _case_label(row: pd.Series, keys: Iterable[str]) -> str:
    return " ".join(f"{key}={row[key]}" for key in keys)


def shape_claim(claim: str, source: str, optimum: pd.DataFrame, where: Mapping, expected: Iterable[str],
                lam_range: tuple[float, float] | None = None, keys: Iterable[str] | None = None,
                inconclusive: Iterable[str] = ("flat",)) -> dict:
    """A claim about the shape of accuracy against `lam`, checked on the `optimal_lam` rows in `where`.

    A case (one group and encoder) agrees when its tested shape is in `expected` and, if `lam_range` is
    given, the bootstrap interval of `lam*` overlaps that range. A case whose shape is in `inconclusive` (no
    change the tests can detect) neither agrees nor contradicts. `keys` name the columns that label a case
    in the evidence (default: the columns of `where`); the encoder is always added.
    """
    inconclusive = tuple(inconclusive)
    expected = tuple(expected)
    cases = _select(optimum, where)
    keys = [*(keys if keys is not None else where.keys()), "encoder"]
    agreements, evidence = [], []
    for _, row in cases.iterrows():
        agrees = row["shape"] in expected
        if lam_range is not None:
            agrees = agrees and row["lam_low"] <= lam_range[1] and row["lam_high"] >= lam_range[0]
        agreements.append(True if agrees else None if row["shape"] in inconclusive else False)
        evidence.append(
            f"{_case_label(row, keys)}: {row['shape']}, lam* = {row['lam_star']:g} "
            f"[{row['lam_low']:g}, {row['lam_high']:g}], gain {row['gain']:+.4f} "
            f"[{row['gain_low']:+.4f}, {row['gain_high']:+.4f}]"
        )
    return {"claim": claim, "source": source, "expected": " or ".join(expected)
            + (f", lam* in [{lam_range[0]:g}, {lam_range[1]:g}]" if lam_range else ""),
            "ours": "; ".join(evidence) or "no such case in this run",
            "agree": sum(a is True for a in agreements), "cases": len(agreements),
            "verdict": verdict(agreements)}


def trend_claim(claim: str, source: str, trends: pd.DataFrame, where: Mapping | None = None,
                keys: Iterable[str] | None = None) -> dict:
    """A claim that alignment rises with `lam`, checked on `alignment_trend` rows (per group and metric)."""
    cases = _select(trends, where or {})
    keys = [*(keys if keys is not None else (where or {}).keys()), "metric"]
    agreements = [True if r else None for r in cases["rises"]]  # a one-sided test: no rise is not a fall
    evidence = [f"{_case_label(row, keys)}: Spearman rho = {row['rho']:.2f} "
                f"[{row['ci_low']:.2f}, {row['ci_high']:.2f}]" for _, row in cases.iterrows()]
    return {"claim": claim, "source": source, "expected": "rho > 0 (one-sided test)",
            "ours": "; ".join(evidence) or "no such case in this run",
            "agree": sum(a is True for a in agreements), "cases": len(agreements),
            "verdict": verdict(agreements)}


def claims_table(rows: Iterable[dict]) -> pd.DataFrame:
    """Claims as a table, in the order given."""
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
    for i, verdict in enumerate(verdicts):
        if runs and category(verdicts[runs[-1][0]]) == category(verdict):
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
