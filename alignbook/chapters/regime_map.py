"""The regime-map chapter's study: where each of the paper's synthetic claims holds along the labelled-set
size.

Chapter 03 trains on every labelled example. This study adds the labelled-set size `n_train` as an axis of
the synthetic study (redundancy x depth x `n_train`), with a data draw per seed and the book's training rule
at every size, and decides the paper's claims on the verdict protocol (`alignbook.analysis`):

- `Parameters`: the chapter's first cell, checked (seeds per size, the training rule, the controls);
- `regime_specs`, `run_regime_map`: the sweeps of the map, one per size, and their combined table;
- `mde_text`: a minimum detectable effect for readers (the map's tables and its controls);
- `map_optimum`, `bayes_gaps`: the protocol per cell (`optimal_lam`) beside each encoder's exact Bayes bound;
- `split_gap_gain`, `gap_gain_test`: the Bayes gap and the gain measured on different seeds, and the
  permutation test of their rank correlation across cells;
- `map_trends`, `regime_verdicts`, `regime_claims`: chapter 03's claims at every point of the map and over
  the whole map;
- `map_calibrations`: the calibration of those verdicts with this chapter's design, one per seed count
  (`chapters.calibration`).

The map's tables for readers live in `regime_tables`, the controls of the deciding cells in
`regime_controls`, the probes and the sensitivity study in `regime_mechanism`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from alignbook import analysis
from alignbook.chapters import calibration, studies
from alignbook.chapters.synthetic_sweep import ALIGNMENT_CLAIM, synthetic_claims
from alignbook.checks import (
    NotebookParameters,
    check_choice,
    check_fraction,
    check_int_range,
    check_list,
    check_nonnegative,
    check_positive,
    check_positive_int,
    fail,
    literal_list,
)
from alignbook.config import PROJECTIONS
from alignbook.data import split_sizes, synthetic
from alignbook.sweep import SweepSpec, run_sweep

SPLIT = (0.7, 0.15, 0.15)  # the generator's default split
MAP_KEYS = ["depth", "n_train", "redundancy"]  # what a point of the map is, besides the encoder
MAX_SEEDS_PER_SIZE = 100


def full_train_size(n_samples: int) -> int:
    """Examples in the whole training split of a synthetic dataset of `n_samples`."""
    return split_sizes(int(n_samples), SPLIT)[0]


def mde_text(value: float) -> str:
    """A minimum detectable effect for a reader's table: three decimals, or "none (no spread)" where the
    seeds agreed exactly and no spread sizes the test."""
    return f"{value:.3f}" if np.isfinite(value) else "none (no spread)"


def protocol_options() -> dict:
    """`optimal_lam`'s level, interval level, power and margin, as the protocol file fixes them for the
    synthetic claims."""
    plan = analysis.load_protocol()
    return {"alpha": plan.alpha, "ci": plan.ci, "power": plan.power, "margin": plan.claim("rises").margin}


@dataclass(frozen=True)
class Parameters(NotebookParameters):
    """The chapter's parameters (its first cell), checked by house name and by the rules of `check`."""

    redundancies: list
    depths: list
    n_trains: list
    seeds_per_size: list
    lams: list
    n_samples: int
    batch_size: int
    step_scale: float
    mechanism_size: int
    sensitivity_size: int
    sensitivity_redundancy: int
    temperatures: list
    projections: list
    control_lams: list
    weight_decays: list
    valid_share: float
    n_sims: int
    workers: int | str
    backend: str

    def check(self) -> None:
        full = self.full_size
        self.set("n_trains", check_list("n_trains", self.n_trains,
                                        lambda p, v: check_int_range(p, v, synthetic.NUM_CLASSES, full),
                                        increasing=True))
        counts = [check_int_range("seeds_per_size", v, analysis.MIN_SEEDS, MAX_SEEDS_PER_SIZE)
                  for v in literal_list("seeds_per_size", self.seeds_per_size)]
        if len(counts) != len(self.n_trains):
            fail("seeds_per_size", f"needs one count per size of n_trains ({len(self.n_trains)}), "
                                   f"got {counts}")
        self.set("seeds_per_size", counts)
        low, high = analysis.load_protocol().claim("invu").lam_range
        lams = self.lams
        inside = any(low <= v <= high for v in lams)
        if lams != sorted(lams) or lams[0] != 0 or not inside or lams[-1] <= high:
            fail("lams", f"must increase from 0 and hold a value in [{low:g}, {high:g}] (the paper's range "
                         f"of lam* at r = 4) and one above it, got {lams}")
        for name in ("mechanism_size", "sensitivity_size"):
            if getattr(self, name) not in self.n_trains:
                fail(name, f"must be one of n_trains {self.n_trains}, got {getattr(self, name)!r}")
        if self.sensitivity_redundancy not in self.redundancies:
            fail("sensitivity_redundancy", f"must be one of redundancies {self.redundancies}, got "
                                           f"{self.sensitivity_redundancy!r}")
        self.set("temperatures", check_list("temperatures", self.temperatures,
                                            lambda p, v: check_positive(p, v, high=10)))
        self.set("projections", check_list("projections", self.projections,
                                           lambda p, v: check_choice(p, v, PROJECTIONS)))
        controls = self.control_lams
        if 0 not in controls or len(controls) < 2 or not set(controls) <= set(lams):
            fail("control_lams", f"must hold 0 and at least one other lam of lams {lams}, got {controls}")
        self.set("control_lams", sorted(self.control_lams))
        self.set("weight_decays", check_list("weight_decays", self.weight_decays, check_nonnegative))
        self.set("valid_share", check_fraction("valid_share", self.valid_share, zero=False))
        self.set("step_scale", check_fraction("step_scale", self.step_scale, zero=False))
        check_positive_int("n_sims", self.n_sims)

    @property
    def full_size(self) -> int:
        """The whole training split: the largest labelled-set size."""
        return full_train_size(self.n_samples)

    def seeds_at(self, size: int) -> list[int]:
        """The seeds (data draws and initialisations) of the runs at labelled-set size `size`."""
        return list(range(self.seeds_per_size[self.n_trains.index(size)]))

    def train_options(self) -> dict:
        """The book's training rule (`studies.training_budget`), its step counts scaled by `step_scale`
        (1: the rule itself; a smoke run shrinks them) and its patience kept."""
        scale = self.step_scale
        return studies.training_budget(self.batch_size,
                                       check_every=max(1, round(studies.CHECK_EVERY * scale)),
                                       max_steps=max(1, round(studies.MAX_STEPS * scale)))


# --------------------------------------------------------------------------------------------------------
# the map's sweeps


def regime_specs(*, redundancies: Sequence[int], depths: Sequence[int], n_trains: Sequence[int],
                 seeds_per_size: Sequence[int], lams: Sequence[float], n_samples: int,
                 train: dict) -> list[SweepSpec]:
    """The map's sweeps: one per labelled-set size, over redundancy and depth, the seeds `range(k)` of its
    count in `seeds_per_size`, each seed drawing its own data (`data_seed: seed`), all trained by the
    options `train`. The whole training split's sweep has no `n_train` (it keeps every label)."""
    full = full_train_size(n_samples)
    specs = []
    for size, count in zip(n_trains, seeds_per_size, strict=True):
        dataset = {"kind": "synthetic", "n_samples": int(n_samples)}
        if size != full:
            dataset["n_train"] = int(size)
        specs.append(SweepSpec.from_dict({
            "name": f"regime_n{size}" if size != full else "regime_full", "dataset": dataset,
            "dataset_grid": {"redundancy": list(redundancies), "depth": list(depths)},
            "lams": [float(lam) for lam in lams], "seeds": list(range(count)), "train": dict(train),
            "data_seed": "seed"}))
    return specs


@dataclass
class MapRuns:
    """The map's runs: the combined `table` (an `n_train` column everywhere), the sweep results by size
    (their `representations` recompute a run's representations from its weights), and what it took."""

    table: pd.DataFrame
    results: dict
    cached: int
    computed: int
    seconds: float


def run_regime_map(specs: Sequence[SweepSpec], workers: int | str = "auto", backend: str = "local",
                   progress: bool = True) -> MapRuns:
    """Run every spec of `regime_specs` (one progress bar over them)."""
    from tqdm import tqdm

    tables, results, cached, computed, seconds = [], {}, 0, 0, 0.0
    for spec in tqdm(specs, desc="regime map", unit="sweep", disable=not progress):
        result = run_sweep(spec, workers=workers, backend=backend, progress=False)
        size = int(spec.dataset.get("n_train", full_train_size(spec.dataset["n_samples"])))
        tables.append(result.table.assign(n_train=size))
        results[size] = result
        cached, computed = cached + result.n_cached, computed + result.n_computed
        seconds += result.seconds
    return MapRuns(pd.concat(tables, ignore_index=True), results, cached, computed, seconds)


# --------------------------------------------------------------------------------------------------------
# the protocol per cell, the Bayes gap and their relation


def bounds_table(redundancies: Sequence[int]) -> pd.DataFrame:
    """Exact Bayes accuracy of each encoder at each level: columns redundancy, encoder, bound."""
    rows = []
    for r in redundancies:
        exact = synthetic.exact_info(int(r), pid=False)
        rows += [{"redundancy": int(r), "encoder": m, "bound": exact[f"bayes_acc_x{m}"]} for m in (1, 2)]
    return pd.DataFrame(rows)


def bayes_gaps(optimum: pd.DataFrame) -> pd.DataFrame:
    """`optimum` (one row per cell) with each encoder's exact `bound` and its Bayes gap at `lam = 0`,
    `gap = bound - value_base` (the seed-mean test accuracy at `lam = 0`)."""
    out = optimum.merge(bounds_table(sorted(optimum["redundancy"].unique())), on=["redundancy", "encoder"])
    out["gap"] = out["bound"] - out["value_base"]
    return out


def map_optimum(table: pd.DataFrame) -> pd.DataFrame:
    """The protocol per point of the map and encoder (`analysis.optimal_lam` of test accuracy, `lam` chosen
    on validation accuracy, the protocol file's levels and margin), with Bayes bounds and gaps."""
    return bayes_gaps(analysis.optimal_lam(table, by=MAP_KEYS, metric="acc", select="val_acc",
                                           **protocol_options()))


def split_gap_gain(table: pd.DataFrame) -> pd.DataFrame:
    """The Bayes gap and the gain of each cell measured on different seeds, so that their noise is
    independent: the gap from the first half of the cell's seeds (`bound` minus their mean test accuracy at
    `lam = 0`), the gain from the others (the mean of their cross-fitted differences, `lam` chosen within
    those seeds, `analysis.seed_gains`). A gap and a gain from the same runs at `lam = 0` share those runs'
    noise (`analysis.seed_correlation`). Columns: `MAP_KEYS`, encoder, gap, gain, gap_seeds, gain_seeds."""
    ok = table[table["status"] == "ok"]
    seeds = ok.groupby(MAP_KEYS)["seed"]
    first_half = seeds.rank(method="dense") <= seeds.transform("nunique") // 2
    base = ok[first_half & (ok["lam"] == ok.groupby(MAP_KEYS)["lam"].transform("min"))]
    gap = base.groupby([*MAP_KEYS, "encoder"]).agg(accuracy=("acc", "mean"), gap_seeds=("seed", "nunique"))
    gains = analysis.seed_gains(ok[~first_half], by=MAP_KEYS).dropna(subset=["d_up"])
    gain = gains.groupby([*MAP_KEYS, "encoder"]).agg(gain=("d_up", "mean"), gain_seeds=("seed", "nunique"))
    out = gap.join(gain, how="inner").reset_index()
    out = out.merge(bounds_table(sorted(out["redundancy"].unique())), on=["redundancy", "encoder"])
    out["gap"] = out["bound"] - out["accuracy"]
    return out[[*MAP_KEYS, "encoder", "gap", "gain", "gap_seeds", "gain_seeds"]]


def gap_gain_test(cells: pd.DataFrame, alpha: float | None = None, seed: int = 0) -> dict:
    """Spearman's correlation across cells between the gap and the gain of `split_gap_gain`, and one-sided
    permutation p-values both ways (`analysis.permutation_pvalues`: exact up to 5,000 permutations, else
    that many drawn from `seed`). `direction` reads "grows" or "shrinks" (the gain with the gap) when that
    test is below `alpha` (the protocol's by default), "does not change detectably" otherwise, and "cannot
    be tested" with fewer than 3 cells or a constant column. No interval is given: one that resamples seeds
    does not hold the correlation of the cells' true values at its nominal level."""
    alpha = analysis.load_protocol().alpha if alpha is None else alpha
    result = {"r": float("nan"), "p_positive": float("nan"), "p_negative": float("nan"),
              "n_cells": len(cells), "direction": "cannot be tested"}
    if len(cells) < 3 or cells["gap"].nunique() < 2 or cells["gain"].nunique() < 2:
        return result
    result["r"] = float(cells["gap"].rank().corr(cells["gain"].rank()))
    result["p_positive"], result["p_negative"] = analysis.permutation_pvalues(cells["gap"], cells["gain"],
                                                                              seed=seed)
    result["direction"] = ("grows" if result["p_positive"] < alpha else "shrinks"
                           if result["p_negative"] < alpha else "does not change detectably")
    return result


# --------------------------------------------------------------------------------------------------------
# the claims per regime and over the map

# short names of `synthetic_sweep.synthetic_claims`' four claims (their protocol keys), labels for tables
CLAIM_KEYS = ("rises", "falls", "invu", "align")
CLAIM_LABELS = {"rises": "rises at r = 6, 8", "falls": "falls at r = 0, 2", "invu": "inverted U at r = 4",
                "align": "alignment rises"}
# the levels of each shape claim's cells (the `where` of `synthetic_sweep.synthetic_claims`; a test checks)
CLAIM_LEVELS = {"rises": (6, 8), "falls": (0, 2), "invu": (4,)}


def map_trends(table: pd.DataFrame) -> pd.DataFrame:
    """Page's trend test of every alignment metric against `lam`, per point of the map (both ways)."""
    return studies.alignment_study(table, MAP_KEYS).trend


def regime_verdicts(optimum: pd.DataFrame, trend: pd.DataFrame) -> pd.DataFrame:
    """Chapter 03's claims at every point (depth, n_train) of the map: the shape claims per encoder on
    `optimum` (`map_optimum`), the alignment claim about the pair on `trend` (`map_trends`), its encoder
    reading "pair". One row per claim, depth, encoder and n_train: key, label, verdict, agree, cases,
    opposed, mde (the largest of the claim's cells at Holm's strictest level) and cap_share (the largest
    share of runs at the step cap among the point's cells of that encoder, both for the pair)."""
    rows = []
    for (depth, n_train), part in optimum.groupby(["depth", "n_train"], sort=True):
        trends = trend[(trend["depth"] == depth) & (trend["n_train"] == n_train)]
        for encoder, cells in part.groupby("encoder", sort=True):
            for claim, row in synthetic_claims(cells, trends, ["redundancy"]).iterrows():
                pair = claim == ALIGNMENT_CLAIM
                if pair and encoder != part["encoder"].min():
                    continue  # one verdict for the pair
                cap = (part if pair else cells)["cap_share"].max()
                rows.append({"key": row["key"], "label": CLAIM_LABELS[row["key"]], "depth": depth,
                             "encoder": "pair" if pair else encoder, "n_train": n_train, "cap_share": cap,
                             **{k: row[k] for k in ("verdict", "agree", "cases", "opposed", "mde")}})
    return pd.DataFrame(rows)


@dataclass
class MapClaims:
    """The claims over the whole map (`overall`: every cell of a claim's family, Holm) and per regime
    (`by_regime`: "d = .., n_train = .." -> the claims on that point alone, both encoders together)."""

    overall: pd.DataFrame
    by_regime: dict


def regime_claims(optimum: pd.DataFrame, trend: pd.DataFrame,
                  sizes: Sequence[int] | None = None) -> MapClaims:
    """The claims over the map and per regime, as `publish.record_claims` takes them; `sizes` keeps the
    regimes of those labelled-set sizes only (the intro's scoreboard has room for a few columns)."""
    overall = synthetic_claims(optimum, trend, MAP_KEYS)
    regimes = {}
    for (depth, n_train), part in optimum.groupby(["depth", "n_train"], sort=True):
        if sizes is None or n_train in sizes:
            trends = trend[(trend["depth"] == depth) & (trend["n_train"] == n_train)]
            regimes[f"d = {depth}, n_train = {n_train:,}"] = synthetic_claims(part, trends, ["redundancy"])
    return MapClaims(overall, regimes)


def map_calibrations(table: pd.DataFrame, optimum: pd.DataFrame, *, n_sims: int,
                     seed: int = 0) -> dict[str, calibration.Calibration]:
    """The chapter's calibration (`calibration.verdict_calibration`), one design per seed count of the map,
    labelled "5 seeds (n_train 300, 1,000)": a regime's family of the rises or falls claim (2 cells), the
    runs of the sizes with that seed count (their noise, by `MAP_KEYS`), the protocol's margin and the
    inverted-U claim's `lam` range, and as the effect the median minimum detectable effect of those sizes'
    cells (`optimum`: `map_optimum`), the margin where no cell has a spread to size it."""
    options, invu = protocol_options(), analysis.load_protocol().claim("invu")
    counts = optimum.groupby("n_train")["n_seeds"].max()
    found = {}
    for n_seeds, sizes in counts.groupby(counts).groups.items():
        effect = float(optimum.loc[optimum["n_train"].isin(sizes), "mde"].median())
        label = f"{n_seeds} seeds (n_train {', '.join(f'{s:,}' for s in sorted(sizes))})"
        found[label] = calibration.verdict_calibration(
            table[table["n_train"].isin(sizes)], by=MAP_KEYS, n_cells=2, margin=options["margin"],
            n_sims=n_sims, effects=[effect if np.isfinite(effect) else options["margin"]],
            lam_range=invu.lam_range, seed=seed)
    return found
