"""The regime map's look inside: what alignment keeps and discards in a representation, and how much the best
`lam` depends on settings the paper does not publish.

- `probe_table`, `probe_summary`, `probe_changes`: linear probes of each run's test representation for
  every latent bit of the generator, grouped by what the bit is to the encoder, and the tested change of
  each group from the smallest to the largest `lam`;
- `sensitivity_specs`, `sensitivity_table`, `lam_set_overlap`: the protocol at one
  point of the map for several InfoNCE temperatures and projection heads, one factor at a time.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd

from alignbook import analysis
from alignbook.analysis.protocol import t_interval, t_test
from alignbook.chapters.book import interval_columns
from alignbook.chapters.regime_map import protocol_options
from alignbook.config import TrainConfig
from alignbook.data import synthetic
from alignbook.storage.memo import remembered
from alignbook.sweep import SweepSpec, run_sweep

# --------------------------------------------------------------------------------------------------------
# probes of the representations


def probe_roles(redundancy: int, encoder: int) -> dict[str, str]:
    """What each latent bit is to one encoder: its role in `plotting.ROLE_COLORS` terms."""
    own, other = ("unique 1", "unique 2") if encoder == 1 else ("unique 2", "unique 1")
    return {name: "other's unique" if role.startswith(other) else role.replace(own, "own unique")
            for name, role in synthetic.bit_roles(redundancy).items()}


def probe_table(result, depth: int, seed: int = 0) -> pd.DataFrame:
    """Probe accuracy of every latent bit from the representations of each run of a sweep `result` (over
    `redundancy` and `depth` of the synthetic kind) at depth `depth`, recomputed from the runs' stored
    weights on the first `eval_max_samples` test examples of each run's own data draw; `seed` seeds the
    probes' halves. One row per run, encoder and bit: redundancy, lam, seed, encoder, bit, role, accuracy.
    Stored on disk by the sweep's spec and its runs' keys (`probe_runs`), so reading it again is cheap."""
    first = result.table[(result.table["encoder"] == 1) & (result.table["depth"] == depth)
                         & (result.table["status"] == "ok")]
    return probe_runs(result.spec, tuple(int(i) for i in first["run"]), tuple(first["key"]), seed=seed)


@remembered()
def probe_runs(spec: SweepSpec, runs: tuple[int, ...], keys: tuple[str, ...], seed: int = 0) -> pd.DataFrame:
    """`probe_table` of the runs `runs` (indices) of the sweep `spec`, read back from the run cache; `keys`,
    their cache keys, tie the stored result to those very runs."""
    result = run_sweep(spec, workers=1, progress=False)
    rows = spec.config().eval_max_samples
    kept = []
    for index in runs:
        z1, z2 = result.representations(index, rows=rows)
        bits = synthetic.latents(result.dataset(index), "test")
        row = result.table[(result.table["run"] == index) & (result.table["encoder"] == 1)].iloc[0]
        kept.append((int(row["redundancy"]), float(row["lam"]), int(row["seed"]), z1, z2,
                     np.concatenate([bits["xc"], bits["xu1"], bits["xu2"]], axis=1)[: len(z1)]))
    return probe_rows(kept, seed=seed)


def probe_rows(runs: Sequence[tuple], seed: int = 0) -> pd.DataFrame:
    """`probe_table`'s rows of `runs`, each `(redundancy, lam, seed, z1, z2, bits)`: the two encoders'
    representations of some test examples and those examples' latent bits; `seed` seeds the probes."""
    rows = []
    for r, lam, run_seed, z1, z2, bits in runs:
        for encoder, z in ((1, z1), (2, z2)):
            accuracy = analysis.probe_accuracy(z, bits, seed=seed)
            roles = probe_roles(r, encoder)
            rows += [{"redundancy": r, "lam": lam, "seed": run_seed, "encoder": encoder, "bit": name,
                      "role": roles[name], "accuracy": float(value)}
                     for name, value in zip(synthetic.LATENT_NAMES, accuracy, strict=True)]
    return pd.DataFrame(rows)


def per_run_roles(probes: pd.DataFrame) -> pd.DataFrame:
    """Mean probe accuracy of each role's bits within each run."""
    return probes.groupby(["redundancy", "encoder", "role", "lam", "seed"], as_index=False)["accuracy"].mean()


def probe_summary(probes: pd.DataFrame) -> pd.DataFrame:
    """Mean probe accuracy per role with a 95 % t-interval over seeds: columns redundancy, encoder, role,
    lam, mean, ci_low, ci_high (what `plotting.plot_probes` draws)."""
    per_run = per_run_roles(probes).rename(columns={"accuracy": "acc"})
    return analysis.curve_summary(per_run, by=["redundancy", "role"], metric="acc").drop(columns="metric")


def probe_changes(probes: pd.DataFrame, cases: Sequence[dict], alpha: float | None = None) -> pd.DataFrame:
    """The change of a role's probe accuracy from the smallest to the largest `lam`, paired by seed, for
    each case `{"role", "redundancy", "encoder"}`: its mean, t interval, one-sided p-values both ways with
    Holm over the cases per direction at `alpha`, and `direction` ("rises", "falls" or "does not change
    detectably"). A case without probes is left out."""
    options = protocol_options()
    alpha = options["alpha"] if alpha is None else alpha
    per_run = per_run_roles(probes)
    rows = []
    for case in cases:
        part = per_run[(per_run[list(case)] == pd.Series(case)).all(axis=1)]
        if part.empty:
            continue
        ends = part.pivot_table(index="seed", columns="lam", values="accuracy")
        change = (ends.iloc[:, -1] - ends.iloc[:, 0]).to_numpy(float)
        mean, sd, n, p_rise = t_test(change, "greater")
        low, high = t_interval(mean, sd, n, options["ci"])
        rows.append({**case, "change": float(mean), "low": float(low), "high": float(high),
                     "p_rise": float(p_rise), "p_fall": float(t_test(change, "less")[3]), "n_seeds": int(n)})
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    rises, falls = (analysis.holm(out[c].to_numpy(float)) <= alpha for c in ("p_rise", "p_fall"))
    out["direction"] = np.select([rises, falls], ["rises", "falls"], default="does not change detectably")
    return out


def change_reader(changes: pd.DataFrame) -> pd.DataFrame:
    """`probe_changes` for readers: per case, the change with its 95 % interval and its direction."""
    shown = interval_columns(changes, {"change [95 % CI]": ("change", "low", "high")}, digits=3)
    return shown.set_index(["role", "redundancy", "encoder"])[["change [95 % CI]", "direction"]]


def change_glue(changes: pd.DataFrame, cases: Sequence[dict], names: Sequence[str]) -> dict:
    """`probe_changes` by name for the prose: `{name}` the change and `{name}_direction` its direction,
    one name per case in the order of `cases`; a case without probes reads "has no such bits here"."""
    values = {}
    for case, name in zip(cases, names, strict=True):
        found = changes[(changes[list(case)] == pd.Series(case)).all(axis=1)] if len(changes) else changes
        row = found.iloc[0] if len(found) else None
        values[name] = float(row["change"]) if row is not None else float("nan")
        values[f"{name}_direction"] = row["direction"] if row is not None else "has no such bits here"
    return values


# --------------------------------------------------------------------------------------------------------
# sensitivity: temperature and projection head


def sensitivity_configs(temperatures: Sequence[float], projections: Sequence[str]) -> list[tuple[float, str]]:
    """(temperature, projection head) pairs, one factor at a time: every temperature with the default head,
    every head at the default temperature (the default pair once)."""
    default = TrainConfig()
    pairs = [(float(t), default.projection) for t in temperatures]
    pairs += [(float(default.temperature), head) for head in projections]
    return list(dict.fromkeys(pairs))


def sensitivity_specs(*, redundancy: int, depth: int, size: int, lams: Sequence[float], seeds: Sequence[int],
                      n_samples: int, full: int, train: dict, temperatures: Sequence[float],
                      projections: Sequence[str]) -> dict[tuple[float, str], SweepSpec | None]:
    """One sweep per `sensitivity_configs` pair at one point of the map, `lam > 0` only, with the map's
    seeds and data draws; None for the default pair, whose runs are the map's. Runs at `lam = 0` never
    compute the alignment term, so they do not depend on the temperature or the head: `sensitivity_table`
    takes them from the map."""
    default = TrainConfig()
    dataset = {"kind": "synthetic", "n_samples": int(n_samples), "depth": int(depth),
               "redundancy": int(redundancy)}
    if size != full:
        dataset["n_train"] = int(size)
    specs: dict[tuple[float, str], SweepSpec | None] = {}
    for temperature, projection in sensitivity_configs(temperatures, projections):
        if (temperature, projection) == (default.temperature, default.projection):
            specs[(temperature, projection)] = None
            continue
        specs[(temperature, projection)] = SweepSpec.from_dict({
            "name": f"regime_sensitivity_t{temperature:g}_{projection}", "dataset": dataset,
            "lams": [float(lam) for lam in lams if lam > 0], "seeds": list(seeds),
            "train": {**train, "temperature": temperature, "projection": projection}, "data_seed": "seed"})
    return specs


def sensitivity_table(specs: dict[tuple[float, str], SweepSpec | None], base: pd.DataFrame,
                      workers: int | str = "auto", backend: str = "local") -> pd.DataFrame:
    """The protocol (`analysis.optimal_lam`) per temperature, projection head and encoder. `base` holds the
    map's rows of the same point: its `lam = 0` runs complete every curve, and all its runs make the
    default pair's."""
    zero = base[base["lam"] == 0]
    rows = []
    for (temperature, projection), spec in specs.items():
        if spec is None:
            table = base
        else:
            result = run_sweep(spec, workers=workers, backend=backend, progress=False)
            table = pd.concat([zero, result.table], ignore_index=True)
        optimum = analysis.optimal_lam(table, by=["redundancy"], **protocol_options())
        rows.append(optimum.assign(temperature=temperature, projection=projection))
    return pd.concat(rows, ignore_index=True)


def lam_set_overlap(rows: pd.DataFrame) -> dict:
    """Whether the settings of `sensitivity_table` can be told apart by their best `lam`: per encoder, the
    pairs of settings whose confidence sets of the best `lam` do not meet (`n_disjoint` of `n_pairs`, each
    set at the protocol's level: the pairs are not corrected together), the range of lam* over all, and
    `reading`, what that means in words."""
    pairs = disjoint = 0
    for _, part in rows.groupby("encoder"):
        for a, b in itertools.combinations(part.to_dict("records"), 2):
            pairs += 1
            disjoint += bool(a["lam_high"] < b["lam_low"] or b["lam_high"] < a["lam_low"])
    reading = ("the best lam moves with the setting in those pairs (each pair at the protocol's level, not "
               "corrected across pairs)" if disjoint else
               "these runs cannot tell the settings' best lam apart")
    return {"n_pairs": pairs, "n_disjoint": disjoint, "lam_min": float(rows["lam_star"].min()),
            "lam_max": float(rows["lam_star"].max()), "reading": reading}
