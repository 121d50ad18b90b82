"""The regime-map chapter's study: where each of the paper's synthetic claims holds, and why.

The synthetic sweep of chapter 03 trains on every labelled example, where both encoders already come close to
their Bayes bounds at `lam = 0`. This study adds the labelled-set size `n_train` as an axis:

- `studies.training_budget`: how long a run trains at each size (the same optimiser steps for every small
  set), shared with the real-data chapter;
- `regime_specs`, `run_regime_map`: the sweeps of the map, one per size, the full-size row being chapter 03's
  runs (the same runs, so they come from its cache);
- `bayes_gaps`: each encoder's distance to its exact Bayes bound at `lam = 0`, beside the gain of `lam*`;
- `studies.best_step_summary`: where the best validation checkpoints fall within the budget (convergence
  evidence);
- `regime_verdicts`, `regime_claims`: chapter 03's claims at every point of the map, per encoder and for
  both together;
- `probe_table`, `probe_summary`, `role_change`: linear probes of the runs' representations for every
  latent bit, by what the bit is to the encoder;
- `sensitivity_specs`, `sensitivity_table`: `lam*` against the InfoNCE temperature and the projection head,
  one factor at a time.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from alignbook.analysis import curve_summary, optimal_lam, probe_accuracy
from alignbook.chapters.studies import training_budget
from alignbook.chapters.synthetic_sweep import ALIGNMENT_CLAIM, synthetic_claims, synthetic_sweep_spec
from alignbook.checks import check_list, check_positive, check_positive_int, fail
from alignbook.config import PROJECTIONS, TrainConfig
from alignbook.data import split_sizes, synthetic
from alignbook.storage.memo import remembered
from alignbook.sweep import SweepSpec, run_sweep

SPLIT = (0.7, 0.15, 0.15)  # the generator's default split
MAP_KEYS = ["depth", "n_train", "redundancy"]  # what a point of the map is, besides the encoder


def full_train_size(n_samples: int) -> int:
    """Examples in the whole training split of a synthetic dataset of `n_samples`."""
    return split_sizes(int(n_samples), SPLIT)[0]


def check_map_parameters(sizes, n_samples: int, min_steps: int, num_checkpoints: int,
                         mechanism_size: int) -> list:
    """Validate what `regime_specs` needs beyond the house names (`checks.check_parameters`): the
    labelled-set sizes `n_trains` (returned as a list, read back when papermill passed it as text), the
    step budget and the size whose representations are kept."""
    full = full_train_size(n_samples)

    def size(param: str, value) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 4 <= value <= full:
            fail(param, f"every size must be an integer from 4 (the classes) to {full} (the whole training "
                        f"split of {n_samples} samples), got {value!r}")
        return value

    sizes = check_list("n_trains", sizes, size, increasing=True)
    check_positive_int("min_steps", min_steps)
    check_positive_int("num_checkpoints", num_checkpoints)
    if mechanism_size not in sizes or mechanism_size == full:
        fail("mechanism_size", f"must be one of n_trains below the full size {full}, got {mechanism_size!r}")
    return sizes


def check_regime_parameters(sizes, n_samples: int, min_steps: int, num_checkpoints: int, mechanism_size: int,
                            sensitivity_size: int, sensitivity_redundancy: int, redundancies: Sequence[int],
                            temperatures, projections) -> dict:
    """Validate the chapter's own parameters (`checks.check_parameters` does the house names); return the
    lists among them checked (`n_trains`, `temperatures`, `projections`), read back when papermill passed
    them as text."""
    full = full_train_size(n_samples)
    sizes = check_map_parameters(sizes, n_samples, min_steps, num_checkpoints, mechanism_size)
    if sensitivity_size not in sizes or sensitivity_size == full:
        fail("sensitivity_size", f"must be one of n_trains below the full size {full}, got "
                                 f"{sensitivity_size!r}")
    if sensitivity_redundancy not in redundancies:
        fail("sensitivity_redundancy", f"must be one of redundancies {list(redundancies)}, got "
                                       f"{sensitivity_redundancy!r}")
    temperatures = check_list("temperatures", temperatures, lambda p, v: check_positive(p, v, high=10))

    def head(param: str, value) -> str:
        if value not in PROJECTIONS:
            fail(param, f"every head must be one of {PROJECTIONS}, got {value!r}")
        return value

    projections = check_list("projections", projections, head)
    return {"n_trains": sizes, "temperatures": temperatures, "projections": projections}


# --------------------------------------------------------------------------------------------------------
# the map's sweeps


def regime_specs(redundancies: Sequence[int], depths: Sequence[int], sizes: Sequence[int],
                 lams: Sequence[float], seeds: Sequence[int], full_seeds: Sequence[int], n_samples: int,
                 num_epochs: int, batch_size: int, min_steps: int, num_checkpoints: int) -> list[SweepSpec]:
    """The map's sweeps: one per labelled-set size (each with its `training_budget`), over redundancy and
    depth, so that every sweep has many groups of runs to share among workers.

    A size equal to the whole training split is chapter 03's sweep (`synthetic_sweep.synthetic_sweep_spec`,
    seeds `full_seeds`, under its own name so that chapter 03's results table is left alone): the same runs,
    so the same cache entries.
    """
    full = full_train_size(n_samples)
    specs = []
    for size in sizes:
        if size == full:
            specs.append(synthetic_sweep_spec(redundancies, depths, lams, full_seeds, n_samples=n_samples,
                                              num_epochs=num_epochs, batch_size=batch_size,
                                              name="regime_full"))
            continue
        specs.append(SweepSpec.from_dict({
            "name": f"regime_n{size}",
            "dataset": {"kind": "synthetic", "n_samples": int(n_samples), "n_train": int(size)},
            "dataset_grid": {"redundancy": list(redundancies), "depth": list(depths)},
            "lams": [float(lam) for lam in lams], "seeds": list(seeds),
            "train": training_budget(size, full, batch_size, num_epochs, min_steps, num_checkpoints)}))
    return specs


def run_regime_map(specs: Sequence[SweepSpec], n_samples: int, workers: int | str = "auto",
                   progress: bool = True):
    """Run every spec (one progress bar over them); return the combined table (an `n_train` column
    everywhere: the whole training split where a spec has none), the sweep results by labelled-set size (their
    `representations` recompute any run's representations from its stored weights), and the counts of cached
    and computed runs and the seconds taken."""
    from tqdm import tqdm

    tables, results, counts = [], {}, {"cached": 0, "computed": 0, "seconds": 0.0}
    full = full_train_size(n_samples)
    for spec in tqdm(specs, desc="regime map", unit="sweep", disable=not progress):
        result = run_sweep(spec, workers=workers, progress=False)
        table = result.table.copy()
        if "n_train" not in table.columns:
            table["n_train"] = full
        tables.append(table)
        results[int(spec.dataset.get("n_train", full))] = result
        counts["cached"] += result.n_cached
        counts["computed"] += result.n_computed
        counts["seconds"] += result.seconds
    return pd.concat(tables, ignore_index=True), results, counts


def bounds_table(redundancies: Sequence[int]) -> pd.DataFrame:
    """Exact Bayes accuracy of each encoder at each level: columns redundancy, encoder, bound."""
    rows = []
    for r in redundancies:
        exact = synthetic.exact_info(int(r), pid=False)
        rows += [{"redundancy": int(r), "encoder": m, "bound": exact[f"bayes_acc_x{m}"]} for m in (1, 2)]
    return pd.DataFrame(rows)


def bayes_gaps(optimum: pd.DataFrame) -> pd.DataFrame:
    """`optimum` (from `optimal_lam` by depth, n_train, redundancy) with each encoder's exact `bound` and its
    Bayes gap at `lam = 0`: `gap = bound - value_base`."""
    bounds = bounds_table(sorted(optimum["redundancy"].unique()))
    out = optimum.merge(bounds, on=["redundancy", "encoder"], how="left")
    out["gap"] = out["bound"] - out["value_base"]
    return out


def map_optimum(table: pd.DataFrame) -> pd.DataFrame:
    """`optimal_lam` of accuracy per point of the map and encoder, with Bayes bounds and gaps."""
    return bayes_gaps(optimal_lam(table, by=MAP_KEYS, metric="acc"))


# short names of `synthetic_sweep.synthetic_claims`' four claims, in its order: keys for glue, labels for
# tables
CLAIM_KEYS = ("rises", "falls", "invu", "align")
CLAIM_LABELS = ("rises at r = 6, 8", "falls at r = 0, 2", "inverted U at r = 4", "alignment rises")


def regime_verdicts(optimum: pd.DataFrame, trend: pd.DataFrame) -> pd.DataFrame:
    """Chapter 03's synthetic claims (`synthetic_sweep.synthetic_claims`) at every point (depth, n_train) of
    the map.

    The shape claims are checked per encoder on `optimum` (`map_optimum`); the alignment claim, about the
    pair, on `trend` (`studies.alignment_study` by `MAP_KEYS`), its encoder column reading "pair".
    Columns: claim, key and label (`CLAIM_KEYS`, `CLAIM_LABELS`), depth, encoder, n_train, verdict, agree,
    cases, opposed, mde (the largest minimum detectable effect of the claim's cells), ours.
    """
    rows = []
    for (depth, n_train), part in optimum.groupby(["depth", "n_train"], sort=True):
        trends = trend[(trend["depth"] == depth) & (trend["n_train"] == n_train)]
        for encoder, rows_of_encoder in part.groupby("encoder", sort=True):
            table = synthetic_claims(rows_of_encoder, trends, ["redundancy"])
            for (claim, row), key, label in zip(table.iterrows(), CLAIM_KEYS, CLAIM_LABELS, strict=True):
                pair = claim == ALIGNMENT_CLAIM
                if pair and encoder != part["encoder"].min():
                    continue  # the same verdict for both encoders' rows
                found = {k: row[k] for k in ("verdict", "agree", "cases", "opposed", "mde", "ours")}
                rows.append({"claim": claim, "key": key, "label": label, "depth": depth,
                             "encoder": "pair" if pair else encoder, "n_train": n_train, **found})
    return pd.DataFrame(rows)


def regime_claims(optimum: pd.DataFrame, trend: pd.DataFrame,
                  sizes: Sequence[int] | None = None) -> tuple[pd.DataFrame, dict]:
    """The claims over the whole map, and per regime "d = .., n_train = .." (both encoders together), as
    `publish.record_claims` takes them; `sizes` keeps the regimes of those labelled-set sizes only (the
    intro's scoreboard has room for a few columns; the chapter shows every regime)."""
    overall = synthetic_claims(optimum, trend, MAP_KEYS)
    regimes = {}
    for (depth, n_train), part in optimum.groupby(["depth", "n_train"], sort=True):
        if sizes is not None and n_train not in sizes:
            continue
        trends = trend[(trend["depth"] == depth) & (trend["n_train"] == n_train)]
        regimes[f"d = {depth}, n_train = {n_train}"] = synthetic_claims(part, trends, ["redundancy"])
    return overall, regimes


# --------------------------------------------------------------------------------------------------------
# the mechanism: probes of the representations


def probe_roles(redundancy: int, encoder: int) -> dict[str, str]:
    """What each latent bit is to one encoder: its role in `plotting.ROLE_COLORS` terms."""
    own, other = (("unique 1", "unique 2") if encoder == 1 else ("unique 2", "unique 1"))
    roles = {}
    for name, role in synthetic.bit_roles(redundancy).items():
        if role.startswith(other):
            roles[name] = "other's unique"
        else:
            roles[name] = role.replace(own, "own unique")
    return roles


def probe_table(result, depth: int, seed: int = 0) -> pd.DataFrame:
    """Probe accuracy of every latent bit from the representations of each run of a sweep `result` (a sweep
    over `redundancy` and `depth` of the synthetic dataset kind) at heterogeneity depth `depth`, recomputed
    from the runs' stored weights on the first `eval_max_samples` test examples.

    One row per run, encoder and bit: redundancy, lam, seed, encoder, bit, role (`probe_roles`), accuracy.
    Stored on disk by its inputs (`probe_rows`).
    """
    spec = result.spec
    rows = spec.config().eval_max_samples
    kept = []
    first = result.table[(result.table["encoder"] == 1) & (result.table["depth"] == depth)]
    for _, row in first.iterrows():
        index = int(row["run"])
        if result.runs[index].ok:
            z1, z2 = result.representations(index, rows=rows)
            bits = synthetic.latents(result.dataset(index), "test")
            kept.append((int(row["redundancy"]), float(result.runs[index].lam), int(result.runs[index].seed),
                         z1, z2, np.concatenate([bits["xc"], bits["xu1"], bits["xu2"]], axis=1)[: len(z1)]))
    return probe_rows(kept, seed=seed)


@remembered()
def probe_rows(runs: Sequence[tuple], seed: int = 0) -> pd.DataFrame:
    """`probe_table`'s rows of `runs`, each `(redundancy, lam, seed, z1, z2, bits)`: the two encoders'
    representations of some test examples and those examples' latent bits; `seed` seeds the probes."""
    rows = []
    for r, lam, run_seed, z1, z2, bits in runs:
        for encoder, z in ((1, z1), (2, z2)):
            accuracy = probe_accuracy(z, bits, seed=seed)
            roles = probe_roles(r, encoder)
            for name, value in zip(synthetic.LATENT_NAMES, accuracy, strict=True):
                rows.append({"redundancy": r, "lam": lam, "seed": run_seed, "encoder": encoder,
                             "bit": name, "role": roles[name], "accuracy": float(value)})
    return pd.DataFrame(rows)


def probe_summary(probes: pd.DataFrame) -> pd.DataFrame:
    """Mean probe accuracy per role (averaged over its bits within each run), with a 95 % t-interval over
    seeds: columns redundancy, encoder, role, lam, mean, ci_low, ci_high."""
    keys = ["redundancy", "encoder", "role", "lam", "seed"]
    per_run = probes.groupby(keys, as_index=False)["accuracy"].mean()
    summary = curve_summary(per_run.rename(columns={"accuracy": "acc"}), by=["redundancy", "role"],
                            metric="acc")
    return summary.drop(columns=[c for c in ("metric",) if c in summary.columns])


def role_change(summary: pd.DataFrame, role: str, redundancy: int, encoder: int) -> float:
    """Change of one role's mean probe accuracy (`probe_summary`) from the smallest to the largest `lam`."""
    part = summary[(summary["role"] == role) & (summary["redundancy"] == redundancy)
                   & (summary["encoder"] == encoder)].sort_values("lam")
    if part.empty:
        fail("role", f"no probes of {role!r} at redundancy {redundancy} for encoder {encoder}")
    return float(part["mean"].iloc[-1] - part["mean"].iloc[0])


# --------------------------------------------------------------------------------------------------------
# sensitivity: temperature and projection head


def sensitivity_configs(temperatures: Sequence[float], projections: Sequence[str]) -> list[tuple[float, str]]:
    """(temperature, projection head) pairs, one factor at a time: every temperature with the default head,
    every head at the default temperature (the default pair once)."""
    default = TrainConfig()
    pairs = [(float(t), default.projection) for t in temperatures]
    pairs += [(float(default.temperature), head) for head in projections]
    return list(dict.fromkeys(pairs))


def sensitivity_specs(redundancy: int, depth: int, size: int, lams: Sequence[float], seeds: Sequence[int],
                      n_samples: int, train: dict, temperatures: Sequence[float],
                      projections: Sequence[str]) -> dict[tuple[float, str], SweepSpec | None]:
    """One sweep per `sensitivity_configs` pair at one point of the map, `lam > 0` only; None for the
    default pair, whose runs are the map's.

    Runs at `lam = 0` never compute the alignment term, so they do not depend on the temperature or the
    projection head (the one-run trainer's tests check it bit for bit): `sensitivity_table` takes them
    from the map.
    """
    default = TrainConfig()
    positive = [float(lam) for lam in lams if lam > 0]
    specs: dict[tuple[float, str], SweepSpec | None] = {}
    for temperature, projection in sensitivity_configs(temperatures, projections):
        if (temperature, projection) == (default.temperature, default.projection):
            specs[(temperature, projection)] = None
            continue
        specs[(temperature, projection)] = SweepSpec.from_dict({
            "name": f"regime_sensitivity_t{temperature:g}_{projection}",
            "dataset": {"kind": "synthetic", "n_samples": int(n_samples), "n_train": int(size),
                        "depth": int(depth), "redundancy": int(redundancy)},
            "lams": positive, "seeds": list(seeds),
            "train": {**train, "temperature": temperature, "projection": projection},
        })
    return specs


def sensitivity_table(specs: dict[tuple[float, str], SweepSpec | None], base: pd.DataFrame,
                      workers: int | str = "auto", progress: bool = True) -> pd.DataFrame:
    """`lam*` and its gain per temperature, projection head and encoder. `base` holds the map's rows of the
    same point: its `lam = 0` runs complete every curve, and all its runs make the default pair's."""
    from tqdm import tqdm

    zero = base[base["lam"] == 0]
    rows = []
    for (temperature, projection), spec in tqdm(specs.items(), desc="sensitivity", unit="sweep",
                                                 disable=not progress):
        if spec is None:
            table = base
        else:
            table = pd.concat([zero, run_sweep(spec, workers=workers, progress=False).table],
                              ignore_index=True)
        optimum = optimal_lam(table, by=["redundancy"], metric="acc")
        optimum["temperature"], optimum["projection"] = temperature, projection
        rows.append(optimum)
    columns = ["temperature", "projection", "encoder", "lam_star", "lam_low", "lam_high", "gain", "gain_low",
               "gain_high", "shape"]
    return pd.concat(rows, ignore_index=True)[columns]
