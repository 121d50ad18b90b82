"""The regime map's two controls, in the cells where the verdict changes along the labelled-set size.

A gain of alignment at scarce labels could be plain regularisation, and a verdict could depend on judging
every label budget on the whole validation split. So, in the cells where a verdict changes along the
labelled-set size (`control_cells`):

- `decay_specs`, `decay_control`: independent training (`lam = 0`) with its weight decay tuned on validation
  from a small grid, against alignment's cross-fitted gain, paired by seed;
- `sized_valid_specs`, `sized_valid_control`: the same cells with a validation set sized to the label budget
  (`valid_share * n_train` examples, stratified, `synthetic.make_dataset(n_valid=...)`) on a few `lam`s,
  against the map's answer on the same `lam`s.

Both compare on the test split, which neither control changes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from alignbook import analysis
from alignbook.analysis.protocol import cross_fit, t_interval, t_test
from alignbook.chapters import studies
from alignbook.chapters.book import interval_columns
from alignbook.chapters.regime_map import (
    CLAIM_LABELS,
    CLAIM_LEVELS,
    MAP_KEYS,
    SPLIT,
    full_train_size,
    mde_text,
    protocol_options,
)
from alignbook.config import TrainConfig
from alignbook.data import split_sizes, synthetic
from alignbook.sweep import SweepSpec, run_sweep

CELL_KEYS = [*MAP_KEYS, "encoder"]


@dataclass
class ControlCells:
    """The cells the controls examine (`cells`: depth, n_train, redundancy, encoder), the points whose runs
    they need (`points`: depth, n_train and the redundancy levels there), whether they are cells where the
    verdict changes (`changing`), and a sentence saying which they are (`text`)."""

    cells: pd.DataFrame
    points: pd.DataFrame
    changing: bool
    text: str


def control_cells(regimes: pd.DataFrame, optimum: pd.DataFrame) -> ControlCells:
    """The cells where a verdict changes along `n_train`: for each shape claim of `regimes`
    (`regime_map.regime_verdicts`), depth and encoder whose verdict holds (in at least one cell) at one
    labelled-set size and not at the next, or the other way round, the claim's levels
    (`regime_map.CLAIM_LEVELS`) for that encoder at both sizes. Where no verdict changes, the cell of the
    largest gain (`optimum`) at the smallest and at the largest size, and `text` says so."""
    levels = set(optimum["redundancy"])
    picked, changes = [], []
    shapes = regimes[regimes["key"].isin(list(CLAIM_LEVELS))].sort_values("n_train")
    for (key, depth, encoder), line in shapes.groupby(["key", "depth", "encoder"], sort=False):
        holds, sizes = (line["agree"] > 0).to_numpy(), line["n_train"].to_numpy()
        for i in np.flatnonzero(holds[1:] != holds[:-1]):
            picked += [{"depth": depth, "n_train": int(n), "redundancy": r, "encoder": encoder}
                       for n in sizes[i:i + 2] for r in CLAIM_LEVELS[key] if r in levels]
            changes.append(f"{CLAIM_LABELS[key]} for encoder {encoder} at d = {depth}, between n_train "
                           f"{sizes[i]:,} and {sizes[i + 1]:,}")
    if changes:
        text = "These are the cells of the verdicts that change: " + "; ".join(changes) + "."
    else:
        ends = sorted({optimum["n_train"].min(), optimum["n_train"].max()})
        picked = [optimum.loc[optimum.loc[optimum["n_train"] == size, "gain"].idxmax(), CELL_KEYS].to_dict()
                  for size in ends]
        where = "at the smallest and at the largest size" if len(ends) > 1 else "at the one size of the map"
        named = [f"d = {c['depth']}, r = {c['redundancy']}, encoder {c['encoder']} at n_train "
                 f"{c['n_train']:,}" for c in picked]
        text = ("No verdict changes between two sizes, so the controls take the cell of the largest gain "
                f"{where}: " + " and ".join(named) + ".")
    cells = pd.DataFrame(picked, columns=CELL_KEYS).drop_duplicates().sort_values(CELL_KEYS)
    cells = cells.reset_index(drop=True)
    points = (cells.groupby(["depth", "n_train"])["redundancy"].apply(lambda r: sorted(set(r)))
              .reset_index())
    return ControlCells(cells, points, bool(changes), text)


def _point_dataset(n_samples: int, size: int, depth: int) -> dict:
    dataset = {"kind": "synthetic", "n_samples": int(n_samples), "depth": int(depth)}
    if size != full_train_size(n_samples):
        dataset["n_train"] = int(size)
    return dataset


def decay_specs(points: pd.DataFrame, *, weight_decays: Sequence[float], seeds_at: Callable[[int], list],
                n_samples: int, train: dict) -> list[SweepSpec]:
    """Runs at `lam = 0` with each weight decay of `weight_decays` other than the default (whose runs are
    the map's), at every control point (`ControlCells.points`), with the map's seeds (`seeds_at(size)`),
    data draws and training options `train`."""
    default = TrainConfig().weight_decay
    specs = []
    for point in points.to_dict("records"):
        for decay in (float(d) for d in weight_decays if d != default):
            specs.append(SweepSpec.from_dict({
                "name": f"regime_decay_n{point['n_train']}_d{point['depth']}_wd{decay:g}",
                "dataset": _point_dataset(n_samples, point["n_train"], point["depth"]),
                "dataset_grid": {"redundancy": list(point["redundancy"])}, "lams": [0.0],
                "seeds": seeds_at(point["n_train"]), "train": {**train, "weight_decay": decay},
                "data_seed": "seed"}))
    return specs


def sized_valid_size(n_samples: int, size: int, valid_share: float) -> int | None:
    """Validation examples of the sized-validation control at labelled-set size `size`: `valid_share *
    size`, at least one per class; None when that is the whole validation split (the map's runs)."""
    n_valid = max(synthetic.NUM_CLASSES, round(valid_share * size))
    return n_valid if n_valid < split_sizes(int(n_samples), SPLIT)[1] else None


def sized_valid_specs(points: pd.DataFrame, *, control_lams: Sequence[float], seeds_at: Callable[[int], list],
                      n_samples: int, valid_share: float, train: dict) -> list[SweepSpec]:
    """The control points' runs at `control_lams` with a validation set of `sized_valid_size` examples."""
    specs = []
    for point in points.to_dict("records"):
        dataset = _point_dataset(n_samples, point["n_train"], point["depth"])
        n_valid = sized_valid_size(n_samples, point["n_train"], valid_share)
        if n_valid is not None:
            dataset["n_valid"] = n_valid
        specs.append(SweepSpec.from_dict({
            "name": f"regime_sized_valid_n{point['n_train']}_d{point['depth']}", "dataset": dataset,
            "dataset_grid": {"redundancy": list(point["redundancy"])},
            "lams": [float(lam) for lam in control_lams], "seeds": seeds_at(point["n_train"]),
            "train": dict(train), "data_seed": "seed"}))
    return specs


def run_controls(specs: Sequence[SweepSpec], n_samples: int, workers: int | str = "auto",
                 backend: str = "local") -> pd.DataFrame:
    """Every spec's table, concatenated, with `n_train` (the whole training split where a spec keeps
    every label), `weight_decay` and `n_valid` (NaN: the whole validation split) columns."""
    tables = []
    for spec in specs:
        table = run_sweep(spec, workers=workers, backend=backend, progress=False).table
        tables.append(table.assign(n_train=spec.dataset.get("n_train", full_train_size(n_samples)),
                                   weight_decay=spec.config().weight_decay,
                                   n_valid=spec.dataset.get("n_valid", np.nan)))
    return pd.concat(tables, ignore_index=True)


def _matrices(rows: pd.DataFrame, column: str, first) -> tuple[np.ndarray, np.ndarray, list]:
    """Test and validation accuracy as seeds x values of `column`, the value `first` as column 0."""
    values = [first, *sorted(v for v in rows[column].unique() if v != first)]
    test, valid = (rows.pivot_table(index="seed", columns=column, values=score)[values].to_numpy(float)
                   for score in ("acc", "val_acc"))
    return test, valid, values


def _cell_rows(table: pd.DataFrame, cell: dict) -> pd.DataFrame:
    return table[(table[CELL_KEYS] == pd.Series(cell)).all(axis=1)]


def decay_control(map_table: pd.DataFrame, decays: pd.DataFrame, cells: pd.DataFrame,
                  alpha: float | None = None) -> pd.DataFrame:
    """Alignment against independent training with a tuned weight decay, per control cell.

    Both are cross-fitted over the same seeds and measured against the same runs at `lam = 0` with the
    default decay: `gain` chooses `lam` on other seeds' validation (`analysis.protocol.cross_fit`),
    `decay_gain` chooses the weight decay the same way among the default and `decays`' values. `difference`
    is their mean paired difference over seeds with its t interval; `p_above`, `p_below` its one-sided tests,
    Holm over the cells per direction at `alpha`; `mde` the difference the test detects with the protocol's
    power;
    `decay_star` the decay of the best seed-mean validation accuracy; `cap_share` the share of the decay
    runs stopped by the step cap; `verdict` in words.
    """
    options = protocol_options()
    alpha = options["alpha"] if alpha is None else alpha
    ok = map_table[map_table["status"] == "ok"]
    runs = decays[decays["status"] == "ok"]
    default = TrainConfig().weight_decay
    rows = []
    for cell in cells.to_dict("records"):
        aligned = _cell_rows(ok, cell)
        tuned = pd.concat([aligned[aligned["lam"] == 0].assign(weight_decay=default), _cell_rows(runs, cell)])
        test, valid, _ = _matrices(aligned, "lam", 0.0)
        d_align = cross_fit(test, valid)["d_up"]
        test, valid, values = _matrices(tuned, "weight_decay", default)
        d_decay = cross_fit(test, valid)["d_up"]
        diff = d_align - d_decay
        mean, sd, n, p_above = t_test(diff, "greater")
        low, high = t_interval(mean, sd, n, options["ci"])
        rows.append({**cell, "gain": float(np.nanmean(d_align)), "decay_gain": float(np.nanmean(d_decay)),
                     "decay_star": values[int(np.nanargmax(np.nanmean(valid, axis=0)))],
                     "difference": float(mean), "low": float(low), "high": float(high),
                     "p_above": float(p_above), "p_below": float(t_test(diff, "less")[3]),
                     "mde": analysis.mde(float(sd), int(n), alpha, options["power"]), "n_seeds": int(n),
                     "cap_share": float(_cell_rows(runs, cell)["hit_cap"].mean())})
    out = pd.DataFrame(rows)
    above, below = (analysis.holm(out[c].to_numpy(float)) <= alpha for c in ("p_above", "p_below"))
    out["verdict"] = np.select([above, below], ["alignment above tuned decay", "alignment below tuned decay"],
                               default="no difference shown")
    return out


def _direction(row, alpha: float) -> str:
    rise, fall = row["p_rise"] < alpha, row["p_fall"] < alpha
    return "gain and loss" if rise and fall else "gain" if rise else "loss" if fall else "neither"


def sized_valid_control(map_table: pd.DataFrame, sized: pd.DataFrame, cells: pd.DataFrame,
                        control_lams: Sequence[float]) -> pd.DataFrame:
    """Each control cell's answer on the control `lam`s with the whole validation split (the map's runs)
    and with a validation set sized to its label budget: the cross-fitted gain with its interval, the
    shape, the direction shown (`gain`, `loss`, both or neither at the protocol's alpha), the minimum
    detectable effect and the share of runs at the step cap; `agrees` says whether the directions agree."""
    options = protocol_options()
    ok = map_table[map_table["lam"].isin(control_lams)]
    parts = {}
    for name, table in (("whole", ok), ("sized", sized)):
        optimum = analysis.optimal_lam(table, by=MAP_KEYS, **options).merge(cells, on=CELL_KEYS)
        optimum["direction"] = optimum.apply(_direction, axis=1, alpha=options["alpha"])
        kept = ["gain", "gain_low", "gain_high", "shape", "direction", "mde", "cap_share"]
        parts[name] = optimum.set_index(CELL_KEYS)[kept]
    out = parts["whole"].join(parts["sized"], lsuffix="_whole", rsuffix="_sized").reset_index()
    n_valid = sized.groupby(["depth", "n_train"])["n_valid"].first().rename("n_valid").reset_index()
    out = out.merge(n_valid, on=["depth", "n_train"], how="left")
    out["agrees"] = out["direction_whole"] == out["direction_sized"]
    return out


def decay_reader(control: pd.DataFrame) -> pd.DataFrame:
    """`decay_control` for readers: per cell, both gains, the tuned decay, the difference with its 95 %
    interval, the minimum detectable difference, the decay runs' share at the step cap and the verdict."""
    shown = interval_columns(control, {"alignment minus decay [95 % CI]": ("difference", "low", "high")},
                             digits=3)
    shown = shown.assign(**{"alignment gain": control["gain"].round(3),
                            "decay gain": control["decay_gain"].round(3),
                            "best decay": control["decay_star"].map("{:g}".format),
                            "MDE": control["mde"].map(mde_text),
                            "at cap": control["cap_share"].map(studies.cap_text)})
    columns = ["alignment gain", "decay gain", "best decay", "alignment minus decay [95 % CI]", "MDE",
               "at cap", "verdict"]
    return shown.set_index(CELL_KEYS)[columns]


def sized_valid_reader(control: pd.DataFrame) -> pd.DataFrame:
    """`sized_valid_control` for readers: per cell, the validation examples, the gain with its 95 %
    interval and the direction shown with the whole validation split and with the sized one, and the sized
    runs' minimum detectable effect and share at the step cap."""
    shown = interval_columns(control, {"gain, whole validation": ("gain_whole", "gain_low_whole",
                                                                  "gain_high_whole"),
                                       "gain, sized validation": ("gain_sized", "gain_low_sized",
                                                                  "gain_high_sized")}, digits=3)
    shown["validation examples"] = [f"{int(n):,}" if np.isfinite(n) else "whole split"
                                    for n in control["n_valid"]]
    shown = shown.rename(columns={"direction_whole": "shown, whole", "direction_sized": "shown, sized"})
    shown["MDE, sized"] = control["mde_sized"].map(mde_text)
    shown["at cap, sized"] = control["cap_share_sized"].map(studies.cap_text)
    columns = ["validation examples", "gain, whole validation", "shown, whole", "gain, sized validation",
               "shown, sized", "MDE, sized", "at cap, sized"]
    return shown.set_index(CELL_KEYS)[columns]
