"""The regime map for readers (chapter 04): its verdicts, boundaries, claims and runs at the step cap as
tables, and the words the prose quotes.

- `verdict_table`, `boundary_table`, `claims_reader`: the verdicts of `regime_map.regime_verdicts` per point
  of the map, where each claim holds along `n_train`, and the claims over the whole map;
- `boundary_glue`, `claim_by_depth`, `differing_claims`: the same in words for the prose;
- `cap_table`: the share of each cell's runs that reached the step cap.
"""

from __future__ import annotations

import pandas as pd

from alignbook import analysis
from alignbook.chapters import studies
from alignbook.chapters.regime_map import CLAIM_KEYS, CLAIM_LABELS, MAP_KEYS, mde_text

CAP_MARK = "†"  # marks a cell where more than studies.CAP_SHARE_LIMIT of the runs reached the step cap


def differing_claims(overall: pd.DataFrame) -> str:
    """The claims over the map whose verdict is not "confirmed", in words for the prose ("none" when every
    claim is confirmed): the paper states each claim without a regime."""
    parts = [f"{CLAIM_LABELS.get(row['key'], row['key'])} is {row['verdict']} over the map (it holds in "
             f"{row['agree']} of {row['cases']} cells, its opposite in {row['opposed']})"
             for row in overall.to_dict("records") if row["verdict"] != "confirmed"]
    return "; ".join(parts) or "none"


def _encoder_text(encoder) -> str:
    return "both (pair)" if encoder == "pair" else f"encoder {encoder}"


def verdict_table(regimes: pd.DataFrame) -> pd.DataFrame:
    """`regime_verdicts` for readers: one row per claim, depth and encoder, one column per labelled-set
    size, each entry the verdict with its count of cells ("confirmed, 2 of 2"), the minimum detectable
    effect where nothing was confirmed, and `CAP_MARK` where a cell's runs reached the cap too often."""
    def entry(row) -> str:
        text = f"{row['verdict']}, {row['agree']} of {row['cases']}"
        if row["agree"] == 0 and row["key"] != "align":
            text += f" (MDE {mde_text(row['mde'])})"
        return text + (f" {CAP_MARK}" if row["cap_share"] > studies.CAP_SHARE_LIMIT else "")

    shown = regimes.assign(entry=regimes.apply(entry, axis=1), who=regimes["encoder"].map(_encoder_text))
    table = shown.pivot_table(index=["label", "depth", "who"], columns="n_train", values="entry",
                              aggfunc="first", sort=False)
    table.index.names, table.columns.name = ["claim", "depth", "encoder"], "n_train"
    return table.rename(columns=lambda size: f"{size:,}")


def boundary_table(regimes: pd.DataFrame) -> pd.DataFrame:
    """Where each claim holds along `n_train`, per depth and encoder, in words
    (`analysis.regime_boundaries`): one row per claim (in `CLAIM_KEYS` order), depth and encoder."""
    bounds = analysis.regime_boundaries(regimes, "n_train", ["key", "depth", "encoder"])
    bounds = bounds.assign(order=bounds["key"].map(CLAIM_KEYS.index), claim=bounds["key"].map(CLAIM_LABELS),
                           who=bounds["encoder"].map(_encoder_text)).sort_values(["order", "depth", "who"])
    shown = bounds.drop(columns="encoder").rename(columns={"who": "encoder", "summary": "where it holds"})
    return shown.set_index(["claim", "depth", "encoder"])[["where it holds"]]


def claims_reader(overall: pd.DataFrame) -> pd.DataFrame:
    """The claims over the map (`MapClaims.overall`) for readers: per claim, the verdict, in how many cells
    it and its opposite hold after Holm's correction, and the largest minimum detectable effect of its
    cells at Holm's strictest level (none for the rank test of alignment)."""
    cases = overall["cases"]
    return pd.DataFrame({
        "claim": overall["key"].map(CLAIM_LABELS).to_numpy(), "verdict": overall["verdict"].to_numpy(),
        "holds in": [f"{a} of {n} cells" for a, n in zip(overall["agree"], cases, strict=True)],
        "opposite holds in": [f"{v} of {n}" for v, n in zip(overall["opposed"], cases, strict=True)],
        "largest MDE": [mde_text(m) if key != "align" else "none (a rank test)"
                        for key, m in zip(overall["key"], overall["mde"], strict=True)],
    }).set_index("claim")


def boundary_glue(regimes: pd.DataFrame, shallow: int, deep: int) -> dict:
    """The boundary of each claim in words, by name for the prose: `{key}_{shallow|deep}_{enc1|enc2|pair}`
    (with one depth, both names say the same)."""
    bounds = analysis.regime_boundaries(regimes, "n_train", ["key", "depth", "encoder"])
    values = {}
    for name, depth in (("shallow", shallow), ("deep", deep)):
        for row in bounds[bounds["depth"] == depth].to_dict("records"):
            who = "pair" if row["encoder"] == "pair" else f"enc{row['encoder']}"
            values[f"{row['key']}_{name}_{who}"] = row["summary"]
    return values


def claim_by_depth(boundaries: dict, key: str, shallow: int, deep: int) -> str:
    """One claim's boundaries (`boundary_glue`) at both depths in one clause for the prose, "at depth 1,
    encoder 1 (...) and encoder 2 (...); at depth 10, ..." (the pair's alone for the alignment claim; one
    depth once)."""
    parts = []
    for name, depth in [("shallow", shallow)] + ([("deep", deep)] if deep != shallow else []):
        if key == "align":
            parts.append(f"at depth {depth} ({boundaries[f'{key}_{name}_pair']})")
        else:
            parts.append(f"at depth {depth}, encoder 1 ({boundaries[f'{key}_{name}_enc1']}) and encoder 2 "
                         f"({boundaries[f'{key}_{name}_enc2']})")
    return "; ".join(parts)


def cap_table(table: pd.DataFrame) -> pd.DataFrame:
    """The share of each cell's runs that reached the step cap, for readers: one row per depth, encoder
    and redundancy level, one column per labelled-set size, marked above `studies.CAP_SHARE_LIMIT`
    (`studies.cap_text`)."""
    summary = studies.convergence_summary(table, MAP_KEYS)
    summary["entry"] = summary["cap_share"].map(studies.cap_text)
    shown = summary.pivot_table(index=["depth", "encoder", "redundancy"], columns="n_train", values="entry",
                                aggfunc="first")
    return shown.rename(columns=lambda size: f"{size:,}")
