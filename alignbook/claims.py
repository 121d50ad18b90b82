"""Verdicts on the paper's claims, computed from our results (never typed into the prose).

Each function takes the tables of `alignbook.analysis` and returns one row per claim: what the paper says
(with how sure we are of its wording), what our runs show, and a verdict:
"confirmed" (every tested case agrees), "partly confirmed" (some do), "contradicted" (none does) or
"not testable here" (the sweep holds no case the claim is about).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd

VERDICTS = ("confirmed", "partly confirmed", "contradicted", "not testable here")


def verdict(agreements: Iterable[bool]) -> str:
    """Verdict of a claim from whether each tested case agrees with it."""
    agreements = list(agreements)
    if not agreements:
        return "not testable here"
    if all(agreements):
        return "confirmed"
    return "partly confirmed" if any(agreements) else "contradicted"


def _select(table: pd.DataFrame, where: Mapping) -> pd.DataFrame:
    mask = pd.Series(True, index=table.index)
    for column, values in where.items():
        values = values if isinstance(values, (list, tuple, set)) else [values]
        mask &= table[column].isin(values)
    return table[mask]


def _case_label(row: pd.Series, keys: Iterable[str]) -> str:
    return " ".join(f"{key}={row[key]}" for key in keys)


def shape_claim(claim: str, source: str, optimum: pd.DataFrame, where: Mapping, expected: Iterable[str],
                lam_range: tuple[float, float] | None = None) -> dict:
    """A claim about the shape of accuracy against `lam`, checked on the `optimal_lam` rows in `where`.

    A case (one group and encoder) agrees when its tested shape is in `expected` and, if `lam_range` is
    given, the bootstrap interval of `lam*` overlaps that range.
    """
    expected = tuple(expected)
    cases = _select(optimum, where)
    keys = [*where.keys(), "encoder"]
    agreements, evidence = [], []
    for _, row in cases.iterrows():
        agrees = row["shape"] in expected
        if lam_range is not None:
            agrees = agrees and row["lam_low"] <= lam_range[1] and row["lam_high"] >= lam_range[0]
        agreements.append(bool(agrees))
        evidence.append(
            f"{_case_label(row, keys)}: {row['shape']}, lam* = {row['lam_star']:g} "
            f"[{row['lam_low']:g}, {row['lam_high']:g}], gain {row['gain']:+.4f} "
            f"[{row['gain_low']:+.4f}, {row['gain_high']:+.4f}]"
        )
    return {"claim": claim, "source": source, "expected": " or ".join(expected)
            + (f", lam* in [{lam_range[0]:g}, {lam_range[1]:g}]" if lam_range else ""),
            "ours": "; ".join(evidence) or "no such case in this run", "agree": sum(agreements),
            "cases": len(agreements), "verdict": verdict(agreements)}


def trend_claim(claim: str, source: str, trends: pd.DataFrame, where: Mapping | None = None) -> dict:
    """A claim that alignment rises with `lam`, checked on `alignment_trend` rows (one per group and metric)."""
    cases = _select(trends, where or {})
    keys = [k for k in (where or {}).keys()] + ["metric"]
    agreements = [bool(r) for r in cases["rises"]]
    evidence = [f"{_case_label(row, keys)}: Spearman rho = {row['rho']:.2f} "
                f"[{row['ci_low']:.2f}, {row['ci_high']:.2f}]" for _, row in cases.iterrows()]
    return {"claim": claim, "source": source, "expected": "rho > 0 (one-sided test)",
            "ours": "; ".join(evidence) or "no such case in this run", "agree": sum(agreements),
            "cases": len(agreements), "verdict": verdict(agreements)}


def claims_table(rows: Iterable[dict]) -> pd.DataFrame:
    """Claims as a table, in the order given."""
    return pd.DataFrame(list(rows)).set_index("claim")
