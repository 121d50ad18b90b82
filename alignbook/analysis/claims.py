"""Verdicts on the paper's claims, computed from our results (never typed into the prose).

Each function takes the tables of `alignbook.analysis` and returns one row per claim: what the paper says
(with how sure we are of its wording), what our runs show, and a verdict:
"confirmed" (every tested case agrees), "partly confirmed" (some do), "contradicted" (none does and
some show the opposite), "not confirmed" (none does, and none shows the opposite either: the tests cannot
tell) or "not testable here" (the sweep holds no case the claim is about).
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
