"""The real-data chapter's study: the paper's real-data claims as data, the training settings per kind of
data, and the verdicts on the claims that real paired data can test.

The paper's benchmarks (CMU-MOSEI, AV-MNIST, MUStARD) cannot be obtained offline; real paired data that ship
inside packages can (UCI Multiple Features views, BasicMotions sensors, see `alignbook.data`). The general
claim, "alignment helps where modalities share task information and hurts where each carries information of
its own", is tested on those pairs with a cheap, measured proxy of shared information: the linear probes of
`alignbook.info.proxy` (`information_table`, stored here, and `encoder_information`), whose shared fraction
`R / I_k` says how much of an encoder's task information the other view also carries.

The mfeat and BasicMotions pairs also run at scarce label budgets (`budget_spec`, `run_budgets`): a share
of the training split keeps its labels (`data.labelled_size`, `data.labelled_dataset`), validation and test
stay fixed, and the runs train as many optimiser steps as on the full split (`studies.training_budget`).
`budget_claims` asks whether the weaker view's encoder gains from alignment at each budget, and whether
that gain shrinks with every label.

Chapters 05 and 06 validate their first cells with the names kept here for them (`check_view_pairs`,
`check_modality_pair`, `check_label_fractions`, `check_fraction`, `check_optional_path`), thin names of the
validators of `alignbook.checks`; `mfeat_datasets` and `encoder_information` are those of `alignbook.data`
and `alignbook.info`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from alignbook import checks
from alignbook.analysis.claims import (
    claims_table,
    correlation_claim,
    difference_claim,
    shape_claim,
    trend_claim,
)
from alignbook.analysis.plan import load_protocol
from alignbook.chapters.studies import best_step_summary, budget_steps, training_budget
from alignbook.checks import fail
from alignbook.data import MFEAT_VIEWS, MULTIBENCH_MODALITIES, PairedDataset, labelled_dataset, labelled_size
from alignbook.data import mfeat_datasets as mfeat_datasets
from alignbook.info import proxy
from alignbook.storage.memo import remembered

# --------------------------------------------------------------------------------------------------------
# the paper's real-data claims (reference: the paper's "Real-data results", all from secondary summaries, [S])

# Each claim (its key in the protocol file, which holds its wording, direction and lam range) as a test on
# `analysis.optimal_lam(table, by=["dataset", "modality"])` rows: (key, rows it is about).
PAPER_REAL_CLAIMS = (
    ("mosei_vision", {"dataset": "CMU-MOSEI", "modality": "vision"}),
    ("mosei_text", {"dataset": "CMU-MOSEI", "modality": "text"}),
    ("avmnist_image", {"dataset": "AV-MNIST", "modality": "image"}),
    ("mustard_gain", {"dataset": "MUStARD", "modality": ["vision", "audio"]}),
)

# Training settings per kind of data (everything else is `TrainConfig`'s default), chosen by measurement on
# two CPU cores: MLPs on the tabular mfeat views; a one-block transformer on sensor sequences (an MLP on the
# flattened BasicMotions series reaches about 0.7 test accuracy, the transformer about 0.97); the paper's
# predecessor setup for the user's benchmarks (batch 64) [P]; a small vision transformer on AV-MNIST, whose
# patch side 14 divides both the 28 x 28 images and the 112 x 112 spectrograms. BasicMotions' test split has
# 28 series, so mutual k-NN uses k = 5.
TRAIN_SETTINGS = {
    "mfeat": {"encoder": "mlp", "batch_size": 256},
    "basicmotions": {"encoder": "transformer", "width": 32, "depth": 1, "batch_size": 16, "lr": 3e-3,
                     "knn_k": 5},
    "multibench": {"encoder": "transformer", "width": 32, "depth": 1, "batch_size": 64, "lr": 1e-3},
    "avmnist": {"encoder": "patch", "patch_size": 14, "width": 32, "depth": 1, "batch_size": 64, "lr": 1e-3},
}
# BasicMotions' 80 series, re-split: 40 train, 12 valid, 28 test (SVCCA needs more than 20 test rows)
BASICMOTIONS_SPLIT = (0.5, 0.15, 0.35)

# MultiBench file stems (lower case) -> the benchmark's name in the paper's claims
_BENCHMARK_NAMES = (("mosei", "CMU-MOSEI"), ("mosi", "CMU-MOSI"), ("sarcasm", "MUStARD"),
                    ("mustard", "MUStARD"), ("humor", "UR-FUNNY"), ("funny", "UR-FUNNY"))


def benchmark_name(path) -> str:
    """The paper's name of a MultiBench pickle from its file name (`mosei_senti_data.pkl` -> CMU-MOSEI)."""
    stem = Path(path).stem.lower()
    for pattern, name in _BENCHMARK_NAMES:
        if pattern in stem:
            return name
    return Path(path).stem


def study_spec(kind: str, lams, seeds, num_epochs: int, name: str | None = None):
    """The `SweepSpec` of one kind of data in this study (`TRAIN_SETTINGS[kind]` with `num_epochs`); the
    data are handed to `sweep.run_sweep(spec, data=...)`."""
    from alignbook.sweep import SweepSpec

    if kind not in TRAIN_SETTINGS:
        fail("kind", f"must be one of {list(TRAIN_SETTINGS)}, got {kind!r}")
    return SweepSpec.from_dict({"name": name or f"realdata_{kind}", "lams": [float(v) for v in lams],
                                "seeds": list(seeds),
                                "train": {**TRAIN_SETTINGS[kind], "num_epochs": num_epochs}})


# --------------------------------------------------------------------------------------------------------
# names chapters 05 and 06 call: the validators of `checks`, and what `data` and `info` compute


def check_view_pairs(param: str, pairs) -> list[tuple[str, str]]:
    """Distinct pairs of different mfeat view names (`checks.check_name_pairs` with `MFEAT_VIEWS`)."""
    return checks.check_name_pairs(param, pairs, tuple(MFEAT_VIEWS))


def check_modality_pair(param: str, modalities) -> tuple[str, str]:
    """Two different MultiBench modality names (`checks.check_name_pair` with `MULTIBENCH_MODALITIES`)."""
    return checks.check_name_pair(param, modalities, MULTIBENCH_MODALITIES)


check_label_fractions = checks.check_shares
check_fraction = checks.check_fraction
check_optional_path = checks.check_optional_path
encoder_information = proxy.encoder_information
# stored on disk (`storage.memo.remembered`): the probes take seconds per dataset on re-execution
information_table = remembered()(proxy.information_table)


# --------------------------------------------------------------------------------------------------------
# verdicts


def paper_claim_rows(optimum: pd.DataFrame) -> list[dict]:
    """`claims.shape_claim` rows of the paper's real-data claims; a benchmark absent from `optimum` (its
    `dataset` column holds the benchmark's name, e.g. from `benchmark_name`) is "not testable here"."""
    plan = load_protocol()
    return [shape_claim(plan.claim(key), optimum, where) for key, where in PAPER_REAL_CLAIMS]


def sharing_cases(optimum: pd.DataFrame, encoders: pd.DataFrame) -> pd.DataFrame:
    """`optimum` rows (per dataset and encoder) joined with `encoder_information`, plus a `case` label."""
    merged = optimum.drop(columns=[c for c in ("modality",) if c in optimum.columns]).merge(
        encoders, on=["dataset", "encoder"], how="inner")
    return merged.assign(case=merged["dataset"].astype(str) + "/" + merged["modality"].astype(str))


SHARING_GAIN_CLAIM = "the more of an encoder's information is shared, the larger its gain from alignment"


def sharing_claim_rows(cases: pd.DataFrame, gains: pd.DataFrame, n_bootstrap: int = 2000,
                       seed: int = 0) -> list[dict]:
    """The general claim on measured pairs, as three rows of the claims table (protocol keys shared_gain,
    unique_loss, sharing_trend).

    1. encoders whose task information is mostly shared gain from alignment (a rise, Holm over them);
    2. encoders with much information of their own lose from it (a fall, Holm over them);
    3. across all encoders, the gain grows with the shared fraction: Spearman rho of the shared fraction
       with the cross-fitted gain (`analysis.seed_correlation` on `gains`, `analysis.seed_gains` of the same
       table), kept in the row as `rho` with its interval over resampled seeds `rho_low`, `rho_high`; it
       holds when the permutation test over encoders finds a positive correlation; it needs at least 3
       encoders with some spread in the shared fraction, else "not testable here" with NaN rho.
    """
    from alignbook.analysis import seed_correlation

    plan = load_protocol()
    shared = cases[cases["information"] == "mostly shared"]
    unique = cases[cases["information"] == "much unique"]
    rows = [shape_claim(plan.claim("shared_gain"), shared, {"case": list(shared["case"])}),
            shape_claim(plan.claim("unique_loss"), unique, {"case": list(unique["case"])})]
    usable = cases[np.isfinite(cases["shared_own"].to_numpy(dtype=float))]
    found = {"r": math.nan, "low": math.nan, "high": math.nan, "p_positive": math.nan, "p_negative": math.nan}
    evidence = (f"{len(usable)} encoder(s); a correlation needs at least 3 and some spread in the shared "
                "fraction")
    if len(usable) >= 3 and np.ptp(usable["shared_own"]) > 0:
        seeds = gains.merge(usable[["dataset", "encoder", "shared_own"]], on=["dataset", "encoder"])
        found = seed_correlation(seeds, ["dataset", "encoder"], "shared_own", "d_up", n_bootstrap=n_bootstrap,
                                 seed=seed)
        evidence = (f"rho = {found['r']:.2f} [{found['low']:.2f}, {found['high']:.2f}] over {len(usable)} "
                    f"encoders (seeds resampled); permutation p {found['p_positive']:.2g} of a positive "
                    "correlation")
    rows.append({**correlation_claim(plan.claim("sharing_trend"), found["r"], found["p_positive"],
                                     found["p_negative"], evidence),
                 "rho": found["r"], "rho_low": found["low"], "rho_high": found["high"]})
    return rows


def real_claims(optimum: pd.DataFrame, cases: pd.DataFrame, trend: pd.DataFrame, datasets,
                gains: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Chapter 05's claim table: the paper's real-data claims, the general claim on the measured pairs
    (`sharing_claim_rows`, with `gains` from `analysis.seed_gains`) and the rise of alignment with `lam` on
    every dataset in `datasets`."""
    return claims_table([
        *paper_claim_rows(optimum), *sharing_claim_rows(cases, gains, seed=seed),
        trend_claim(load_protocol().claim("align_real"), trend, {"dataset": list(datasets)}),
    ])


def gain_summary(cases: pd.DataFrame, summary: pd.DataFrame) -> dict:
    """How large the gains and losses are: the mean gain at lam* of the mostly shared encoders and of the
    others, the worst drop from lam = 0 to the largest lam, and how many weaker views gain (gain interval
    above 0) and stronger views fall (shape "falls"), of how many."""
    by_information = cases.groupby("information")["gain"].mean()
    curve = summary.set_index(["dataset", "encoder", "lam"])["mean"]
    lams = summary["lam"]
    drop = curve.xs(lams.min(), level="lam") - curve.xs(lams.max(), level="lam")
    weak, strong = cases[cases["role"] == "weaker"], cases[cases["role"] == "stronger"]
    return {"gain_shared_mean": float(by_information.get("mostly shared", math.nan)),
            "gain_unique_mean": float(by_information.get("much unique", math.nan)),
            "max_drop": float(drop.max()),
            "n_weak": len(weak), "n_weak_gain": int((weak["gain_low"] > 0).sum()),
            "n_strong": len(strong), "n_strong_fall": int((strong["shape"] == "falls").sum())}


# --------------------------------------------------------------------------------------------------------
# scarce labels: the same pairs with a share of the training split labelled

BUDGET_KINDS = ("mfeat", "basicmotions")  # kinds whose loaders take `n_train`
WEAK_GAIN_CLAIM = "the weaker view's encoder gains from alignment"
WEAK_SHRINK_CLAIM = "the weaker view's gain from alignment shrinks when every training label is used"
GAIN_SHAPES = ("rises", "interior optimum", "rises and falls")  # the shapes of a cell whose gain is shown


def budget_options(kind: str, n_train: int, full: int, num_epochs: int, num_checkpoints: int) -> dict:
    """Training options of `kind` (`TRAIN_SETTINGS`) at `n_train` labelled examples out of `full`: the
    full split trains `num_epochs` epochs; a scarce set trains the full split's number of optimiser steps
    (`studies.training_budget`), so that only the labels are cut, not the optimisation."""
    if kind not in TRAIN_SETTINGS:
        fail("kind", f"must be one of {list(TRAIN_SETTINGS)}, got {kind!r}")
    batch = TRAIN_SETTINGS[kind]["batch_size"]
    steps = budget_steps(full, {"num_epochs": num_epochs, "batch_size": batch})
    budget = training_budget(n_train, full, batch, num_epochs, steps, num_checkpoints)
    return {**TRAIN_SETTINGS[kind], **budget}


def budget_spec(kind: str, lams, seeds, n_train: int, full: int, num_epochs: int, num_checkpoints: int):
    """The sweep of one kind at `n_train` labelled examples out of `full` (`budget_options`); at the full
    split it is `study_spec`'s, the same runs."""
    from alignbook.sweep import SweepSpec

    if n_train >= full:
        return study_spec(kind, lams, seeds, num_epochs)
    return SweepSpec.from_dict({"name": f"realdata_{kind}_n{n_train}", "lams": [float(v) for v in lams],
                                "seeds": list(seeds),
                                "train": budget_options(kind, n_train, full, num_epochs, num_checkpoints)})


def run_budgets(study_data: Mapping[str, Mapping[str, PairedDataset]], fractions, lams, seeds,
                num_epochs: int, num_checkpoints: int, full_table: pd.DataFrame, progress: bool = True):
    """The mfeat and BasicMotions datasets of `study_data` (kind -> name -> dataset) at every label
    fraction; `full_table` holds the chapter's runs on the full split, which fraction 1 takes as they are.

    Returns (table, budgets): the runs with columns `kind`, `label_fraction` and `n_train` added, and one
    row per kind, fraction and labelled-set size with its training options and optimiser `steps`.
    """
    from tqdm import tqdm

    from alignbook.sweep import run_sweep

    fractions = checks.check_shares("fractions", fractions)
    jobs = []  # (kind, fraction, n_train, full, datasets)
    for kind in (k for k in BUDGET_KINDS if k in study_data):
        for fraction in fractions:
            groups: dict[tuple[int, int], dict] = {}
            for name, dataset in study_data[kind].items():
                full = len(dataset.train)
                n_train = labelled_size(fraction, full, dataset.num_classes)
                groups.setdefault((n_train, full), {})[name] = dataset
            jobs += [(kind, fraction, n, full, group) for (n, full), group in groups.items()]
    tables, budgets = [], []
    for kind, fraction, n_train, full, group in tqdm(jobs, desc="label budgets", unit="sweep",
                                                     disable=not progress):
        if n_train >= full:
            table = full_table[full_table["dataset"].isin(list(group))]
        else:
            spec = budget_spec(kind, lams, seeds, n_train, full, num_epochs, num_checkpoints)
            data = {name: labelled_dataset(dataset, n_train) for name, dataset in group.items()}
            table = run_sweep(spec, data=data, progress=False).table
        tables.append(table.assign(kind=kind, label_fraction=fraction, n_train=n_train))
        # the full split trains by epochs: no step budget, validated after every epoch (`TrainConfig`'s 0)
        options = {"num_steps": 0, "num_checkpoints": 0,
                   **budget_options(kind, n_train, full, num_epochs, num_checkpoints)}
        budgets.append({"kind": kind, "label_fraction": fraction, "n_train": n_train, "full": full,
                        "steps": budget_steps(n_train, options), **options})
    return pd.concat(tables, ignore_index=True), pd.DataFrame(budgets)


def budget_convergence(table: pd.DataFrame, budgets: pd.DataFrame) -> pd.DataFrame:
    """`studies.best_step_summary` of `run_budgets` output, per dataset, label fraction and encoder."""
    parts = []
    for kind, rows in budgets.groupby("kind", sort=False):
        options = {int(row["n_train"]): row.to_dict() for _, row in rows.iterrows()}
        parts.append(best_step_summary(table[table["kind"] == kind], options,
                                       ["dataset", "label_fraction", "n_train"]))
    return pd.concat(parts, ignore_index=True)


def budget_optimum(table: pd.DataFrame, encoders: pd.DataFrame) -> pd.DataFrame:
    """`analysis.optimal_lam` of accuracy per dataset, label fraction and encoder, with each encoder's
    `role` (weaker or stronger view of its pair, `encoder_information`, measured on the full split)."""
    from alignbook.analysis import optimal_lam

    by = ["dataset", "label_fraction", "n_train", "modality"]
    optimum = optimal_lam(table, by=by, metric="acc", margin=load_protocol().claim("weak_gain").margin)
    return optimum.merge(encoders[["dataset", "encoder", "role"]], on=["dataset", "encoder"], how="left")


def shrink_claim(weak: pd.DataFrame) -> dict:
    """Whether each weaker encoder's gain is larger at a scarce budget than on the full split (label
    fraction 1): `analysis.difference_claim` (Welch's t-test on the two cells' gains, Holm over the cases per
    direction) with the protocol's claim weak_shrink."""
    return difference_claim(load_protocol().claim("weak_shrink"), weak, axis="label_fraction", reference=1.0,
                            keys=["dataset"])


def budget_label(fraction: float) -> str:
    """The name of a label budget in tables and claim regimes: "5 % of the labels", "all labels"."""
    return "all labels" if fraction == 1 else f"{100 * fraction:g} % of the labels"


def budget_claims(optimum: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, pd.DataFrame], pd.DataFrame]:
    """The weaker views' claims on `budget_optimum` rows: the gain claim over every budget and per budget
    (`budget_label` -> a one-claim table, as `publish.record_claims` takes regimes), and the shrink claim.

    A weaker encoder gains when its cross-fitted gain rises (protocol claim weak_gain, Holm over the
    encoders of the table). Returns (gain claim table, gain claim per budget, shrink claim table).
    """
    weak = optimum[optimum["role"] == "weaker"]
    spec = load_protocol().claim("weak_gain")

    def gain(rows: pd.DataFrame) -> pd.DataFrame:
        return claims_table([shape_claim(spec, rows, {"dataset": list(rows["dataset"])},
                                         keys=["dataset", "label_fraction"])])

    regimes = {budget_label(f): gain(rows) for f, rows in weak.groupby("label_fraction", sort=True)}
    return gain(weak), regimes, claims_table([shrink_claim(weak)])


def budget_summary(optimum: pd.DataFrame, fraction: float, role: str = "weaker") -> dict:
    """At one label fraction, for the encoders of one `role`: how many there are (`n`), how many gain
    (`n_gain`: a shape of `GAIN_SHAPES`; `n_sure`: gain interval above 0), their mean and largest
    gain, and the labelled-set sizes (`n_train_min`, `n_train_max`)."""
    rows = optimum[(optimum["label_fraction"] == fraction) & (optimum["role"] == role)]
    if rows.empty:
        fail("fraction", f"no {role} encoder was run at label fraction {fraction:g}")
    return {"n": len(rows), "n_gain": int(rows["shape"].isin(GAIN_SHAPES).sum()),
            "n_sure": int((rows["gain_low"] > 0).sum()), "gain_mean": float(rows["gain"].mean()),
            "gain_max": float(rows["gain"].max()), "n_train_min": int(rows["n_train"].min()),
            "n_train_max": int(rows["n_train"].max())}
