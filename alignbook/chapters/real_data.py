"""The real-data chapter (05): its parameters, its runs on real paired data, and its verdicts.

The paper's benchmarks (CMU-MOSEI, AV-MNIST, MUStARD) cannot be obtained offline; real paired data that ship
inside packages can (UCI Multiple Features views, BasicMotions sensors, `alignbook.data`). The general claim,
"alignment helps where modalities share task information and hurts where each carries information of its
own", is tested on those measured pairs with the linear-probe proxy of `alignbook.info.proxy`
(`information_table`, stored here, and `encoder_information`), whose shared fraction `R / I_k` says how much
of an encoder's task information the other view also carries.

- `Parameters`: the notebook's first cell, checked.
- The runs: `training_options` (the book's rule, `studies.training_budget`, per kind of data), `sweep_spec`
  (each seed draws its own split and labelled subset as well as its initialisation) and `run_study` (every
  measured kind at every label budget, and the user's benchmarks).
- The verdicts: `study_optimum` (the protocol per cell), `measured` (the cells of the measured pairs),
  `real_claims` (the paper's real-data claims, the general claim, alignment trends), `readable_claims`,
  `general_reading` and `gain_summary` (the same for readers).
The label budgets' claims live in `real_budgets`; the calibration section uses `chapters.calibration` with
the weaker views' claim as its family.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from alignbook import checks
from alignbook.analysis import (
    MIN_SEEDS,
    claims_table,
    correlation_claim,
    load_protocol,
    optimal_lam,
    seed_correlation,
    seed_gains,
    shape_claim,
    trend_claim,
)
from alignbook.chapters.studies import (
    CHECK_EVERY,
    MAX_STEPS,
    PATIENCE,
    map_in_processes,
    training_budget,
)
from alignbook.checks import NotebookParameters, fail
from alignbook.data import MFEAT_VIEWS, MULTIBENCH_MODALITIES, PairedDataset, labelled_size
from alignbook.info import proxy
from alignbook.storage.memo import remembered

# Each of the paper's real-data claims (its key in the protocol file, which holds its wording, direction and
# lam range; all from secondary summaries, [S]) as a test on `study_optimum` rows: (key, rows it is about).
PAPER_REAL_CLAIMS = (
    ("mosei_vision", {"dataset": "CMU-MOSEI", "modality": "vision"}),
    ("mosei_text", {"dataset": "CMU-MOSEI", "modality": "text"}),
    ("avmnist_image", {"dataset": "AV-MNIST", "modality": "image"}),
    ("mustard_gain", {"dataset": "MUStARD", "modality": ["vision", "audio"]}),
)
SHARING_GAIN_CLAIM = "the more of an encoder's information is shared, the larger its gain from alignment"
WEAK_GAIN_CLAIM = "the weaker view's encoder gains from alignment"
WEAK_SHRINK_CLAIM = "the weaker view's gain from alignment shrinks when every training label is used"

# Architecture and optimiser per kind of data (everything else is `TrainConfig`'s default), chosen by
# measurement on two CPU cores: MLPs on the tabular mfeat views; a one-block transformer on sensor sequences
# (an MLP on the flattened BasicMotions series reaches about 0.7 test accuracy, the transformer about 0.97);
# the paper's predecessor setup for the user's benchmarks (batch 64) [P]; a small vision transformer on
# AV-MNIST, whose patch side 14 divides both the 28 x 28 images and the 112 x 112 spectrograms.
# BasicMotions' test split has 28 series, so mutual k-NN uses k = 5.
TRAIN_SETTINGS = {
    "mfeat": {"encoder": "mlp", "batch_size": 256},
    "basicmotions": {"encoder": "transformer", "width": 32, "depth": 1, "batch_size": 16, "lr": 3e-3,
                     "knn_k": 5},
    "multibench": {"encoder": "transformer", "width": 32, "depth": 1, "batch_size": 64, "lr": 1e-3},
    "avmnist": {"encoder": "patch", "patch_size": 14, "width": 32, "depth": 1, "batch_size": 64, "lr": 1e-3},
}
# How often a run is validated where the book's CHECK_EVERY does not fit the data. BasicMotions trains on
# 40 series, 2.5 optimiser steps per epoch at batch 16: validating every CHECK_EVERY steps would wait 40
# epochs between checkpoints and train every run at least PATIENCE * CHECK_EVERY steps of the transformer
# (about 20 ms each on one core), although its validation accuracy stops improving within tens of steps. It
# validates every 10 steps (4 epochs) instead, with the book's patience and as many checkpoints to the cap.
CHECK_EVERY_BY_KIND = {"basicmotions": 10}
# BasicMotions' 80 series, re-split by each seed: 40 train, 12 valid, 28 test (SVCCA needs more than 20 rows)
BASICMOTIONS_SPLIT = (0.5, 0.15, 0.35)
BUDGET_KINDS = ("mfeat", "basicmotions")  # the measured pairs: registered kinds that take seed and n_train
DATASET_LABELS = {"basicmotions": "BasicMotions"}  # a dataset's label in tables (mfeat: "fac-kar")
# MultiBench file stems (lower case) -> the benchmark's name in the paper's claims
_BENCHMARK_NAMES = (("mosei", "CMU-MOSEI"), ("mosi", "CMU-MOSI"), ("sarcasm", "MUStARD"),
                    ("mustard", "MUStARD"), ("humor", "UR-FUNNY"), ("funny", "UR-FUNNY"))
# What the study's own columns mean in the tables offered for download (`publish.offer_table`)
RUN_COLUMNS = {
    "kind": "kind of data: mfeat (UCI Multiple Features views), basicmotions, or a benchmark's loader",
    "label_fraction": "share of the training split kept labelled",
    "views": "the two mfeat views of the pair (x1, x2)",
    "split": "shares of train, validation and test of the re-split BasicMotions series",
}
OPTIMUM_COLUMNS = {
    **RUN_COLUMNS,
    "role": "weaker or stronger view of its pair, by probe information with every label",
    "information": "mostly shared (shared fraction at least the chapter's threshold) or much unique",
    "shared_own": "share R / I_k of the encoder's probe information that the other view also carries",
}


def benchmark_name(path) -> str:
    """The paper's name of a MultiBench pickle from its file name (`mosei_senti_data.pkl` -> CMU-MOSEI)."""
    stem = Path(path).stem.lower()
    return next((name for pattern, name in _BENCHMARK_NAMES if pattern in stem), Path(path).stem)


def check_view_pairs(param: str, pairs) -> list[tuple[str, str]]:
    """Distinct pairs of different mfeat view names (`checks.check_name_pairs` with `MFEAT_VIEWS`)."""
    return checks.check_name_pairs(param, pairs, tuple(MFEAT_VIEWS))


@dataclass(frozen=True)
class Parameters(NotebookParameters):
    """The first cell of chapter 05 (the notebook's comments say what each field is). Beyond the house names:
    `lams` increase from 0 (every gain is over independent training) with at least 3 values (an interior
    optimum needs one inside); at least `analysis.MIN_SEEDS` seeds (a cell with fewer has no verdict)."""

    mfeat_pairs: list
    lams: list
    seeds: list
    label_fractions: list
    basicmotions: bool
    shared_threshold: float
    patience: int
    n_sims: int
    multibench_path: str
    multibench_modalities: list
    avmnist_path: str
    workers: int | str
    backend: str

    def check(self) -> None:
        self.set("mfeat_pairs", check_view_pairs("mfeat_pairs", self.mfeat_pairs))
        lams = checks.check_list("lams", self.lams, checks.check_lam, increasing=True)
        if lams[0] != 0 or len(lams) < 3:
            fail("lams", f"must start with 0 and hold at least 3 values, got {lams}",
                 "every gain is over lam = 0, and an interior optimum needs a lam inside the grid")
        if len(self.seeds) < MIN_SEEDS:
            fail("seeds", f"must hold at least {MIN_SEEDS} seeds, got {len(self.seeds)}",
                 "a cell with fewer seeds has no verdict")
        self.set("label_fractions", checks.check_shares("label_fractions", self.label_fractions))
        if not isinstance(self.basicmotions, bool):
            fail("basicmotions", f"must be True or False, got {self.basicmotions!r}")
        self.set("shared_threshold", checks.check_fraction("shared_threshold", self.shared_threshold))
        checks.check_int_range("patience", self.patience, 0, 10_000)
        checks.check_int_range("n_sims", self.n_sims, 100, 1_000_000)
        self.set("multibench_modalities", checks.check_name_pair(
            "multibench_modalities", self.multibench_modalities, MULTIBENCH_MODALITIES))
        checks.check_optional_path("multibench_path", self.multibench_path, "file")
        checks.check_optional_path("avmnist_path", self.avmnist_path, "folder")


# --------------------------------------------------------------------------------------------------------
# the runs


def training_options(kind: str, patience: int = 0) -> dict:
    """`TrainConfig` options of `kind`: `TRAIN_SETTINGS[kind]` and the book's rule
    (`studies.training_budget`): validate every `CHECK_EVERY` steps (`CHECK_EVERY_BY_KIND` where it
    differs), stop once neither encoder improved for `PATIENCE` checkpoints (`patience` > 0 replaces it), cap
    at as many checkpoints as the book's `MAX_STEPS` allows."""
    if kind not in TRAIN_SETTINGS:
        fail("kind", f"must be one of {list(TRAIN_SETTINGS)}, got {kind!r}")
    every = CHECK_EVERY_BY_KIND.get(kind, CHECK_EVERY)
    rule = training_budget(TRAIN_SETTINGS[kind]["batch_size"], check_every=every,
                           patience=patience or PATIENCE, max_steps=MAX_STEPS * every // CHECK_EVERY)
    return {**TRAIN_SETTINGS[kind], **rule}


def sweep_spec(kind: str, lams: Sequence[float], seeds: Sequence[int], *, pairs=(),
               n_train: int | None = None, patience: int = 0):
    """The `SweepSpec` of a measured kind (`BUDGET_KINDS`) at `n_train` labelled examples (None: every one):
    each seed draws its own split and labelled subset as well as its initialisation (`data_seed: seed`).
    mfeat runs every view pair of `pairs`; BasicMotions is re-split by `BASICMOTIONS_SPLIT`. Chapter 06 reads
    the same runs with the same call."""
    from alignbook.sweep import SweepSpec

    if kind not in BUDGET_KINDS:
        fail("kind", f"must be one of {list(BUDGET_KINDS)}, got {kind!r}")
    dataset: dict = {"kind": kind}
    grid = {"views": [list(p) for p in check_view_pairs("pairs", pairs)]} if kind == "mfeat" else {}
    if kind == "basicmotions":
        dataset["split"] = list(BASICMOTIONS_SPLIT)
    if n_train is not None:
        dataset["n_train"] = int(n_train)
    return SweepSpec.from_dict({
        "name": f"realdata_{kind}" + ("" if n_train is None else f"_n{n_train}"), "dataset": dataset,
        "dataset_grid": grid, "lams": [float(v) for v in lams], "seeds": list(seeds), "data_seed": "seed",
        "train": training_options(kind, patience)})


@dataclass(frozen=True)
class StudyRuns:
    """What `run_study` returns: every run (`table`, one row per run and encoder, with the columns `kind`,
    `label_fraction` and `n_train`) and one row per sweep (`sweeps`: kind, label_fraction, n_train, full,
    runs, trained, cached, seconds)."""

    table: pd.DataFrame
    sweeps: pd.DataFrame


def run_study(*, examples: Mapping[str, PairedDataset], pairs, fractions: Sequence[float],
              lams: Sequence[float], seeds: Sequence[int], benchmarks: Mapping | None = None,
              patience: int = 0, workers: int | str = "auto", backend: str = "local") -> StudyRuns:
    """Every sweep of the chapter: each measured kind of `examples` (kind -> one draw of it, which gives the
    size of its training split and its classes) at every label fraction (`data.labelled_size` examples), and
    each benchmark of `benchmarks` (name -> (kind, dataset): the user's files, whose official splits stay
    fixed, so seeds vary the training only) with every label. Datasets are named as in `DATASET_LABELS`."""
    from alignbook.sweep import SweepSpec, run_sweep

    jobs = []  # (kind, fraction, n_train, full, spec, data)
    for kind, example in examples.items():
        full = len(example.train)
        for fraction in checks.check_shares("fractions", fractions):
            n = labelled_size(fraction, full, example.num_classes)
            spec = sweep_spec(kind, lams, seeds, pairs=pairs, n_train=n if n < full else None,
                              patience=patience)
            jobs.append((kind, fraction, n, full, spec, None))
    for name, (kind, dataset) in (benchmarks or {}).items():
        spec = SweepSpec.from_dict({"name": f"realdata_{kind}", "lams": [float(v) for v in lams],
                                    "seeds": list(seeds), "train": training_options(kind, patience)})
        jobs.append((kind, 1.0, len(dataset.train), len(dataset.train), spec, {name: dataset}))
    tables, sweeps = [], []
    for kind, fraction, n_train, full, spec, data in jobs:
        result = run_sweep(spec, data=data, workers=workers, backend=backend, progress=False)
        names = [DATASET_LABELS.get(d, d.removeprefix("mfeat-")) for d in result.table["dataset"]]
        tables.append(result.table.assign(dataset=names, kind=kind, label_fraction=fraction, n_train=n_train))
        sweeps.append({"kind": kind, "label_fraction": fraction, "n_train": n_train, "full": full,
                       "runs": len(result.runs), "trained": result.n_computed, "cached": result.n_cached,
                       "seconds": result.seconds})
    return StudyRuns(table=pd.concat(tables, ignore_index=True), sweeps=pd.DataFrame(sweeps))


encoder_information = proxy.encoder_information
# stored on disk (`storage.memo.remembered`): the probes take seconds per dataset on re-execution
information_table = remembered()(proxy.information_table)


@remembered(ignore=("workers",))
def estimated_decomposition(datasets: Mapping[str, PairedDataset], workers: int | str = 1) -> pd.DataFrame:
    """The package's default estimate (`info.estimate_pid`) of each dataset's decomposition from all its
    rows, one row per dataset: R, U1, U2, S, I12 (nats) and `redundancy_fraction` R / I12. Point estimates
    only (chapter 06 calibrates the estimator's intervals); stored on disk; `workers` processes."""
    from alignbook.info import estimate_pid

    rows = [tuple(np.concatenate([getattr(part, a) for part in (d.train, d.valid, d.test)])
                  for a in ("x1", "x2", "y")) for d in datasets.values()]
    names = {"R": "redundancy", "U1": "unique1", "U2": "unique2", "S": "synergy", "I12": "mi_x1x2_y"}
    estimates = map_in_processes(estimate_pid, rows, workers)
    found = {name: {q: float(e.point[key]) for q, key in names.items()}
             for name, e in zip(datasets, estimates, strict=True)}
    table = pd.DataFrame(found).T.rename_axis("dataset")
    return table.assign(redundancy_fraction=table["R"] / table["I12"])


# --------------------------------------------------------------------------------------------------------
# verdicts

CELL_KEYS = ["kind", "dataset", "label_fraction", "n_train", "modality"]  # a cell, with its encoder


def study_optimum(table: pd.DataFrame, encoders: pd.DataFrame) -> pd.DataFrame:
    """`analysis.optimal_lam` of test accuracy (`lam` chosen on validation accuracy, the protocol's margin
    `real_accuracy`) per cell (`CELL_KEYS` and encoder), with the encoder's `role`, `information` and
    `shared_own` (`encoder_information`, measured with every label) where the dataset has them; sorted by
    kind, dataset, label fraction and encoder."""
    margin = load_protocol().margins["real_accuracy"].value
    optimum = optimal_lam(table, by=CELL_KEYS, metric="acc", select="val_acc", margin=margin)
    measured = encoders[["dataset", "encoder", "role", "information", "shared_own"]]
    optimum = optimum.merge(measured, on=["dataset", "encoder"], how="left")
    return optimum.sort_values(["kind", "dataset", "label_fraction", "encoder"], ignore_index=True)


def measured(frame: pd.DataFrame, role: str | None = None, fraction: float | None = None):
    """The rows of `frame` (runs, or `study_optimum` rows) of the measured pairs (`BUDGET_KINDS`), of one
    `role` and label `fraction` when given."""
    keep = frame["kind"].isin(BUDGET_KINDS)
    if role is not None:
        keep &= frame["role"] == role
    if fraction is not None:
        keep &= frame["label_fraction"] == fraction
    return frame[keep]


def sharing_claim_rows(cases: pd.DataFrame, gains: pd.DataFrame, seed: int = 0) -> list[dict]:
    """The general claim on measured encoders (`cases`: `study_optimum` rows with every label), as rows of
    the claims table (protocol keys shared_gain, unique_loss, sharing_trend): mostly shared encoders rise and
    encoders with much information of their own fall (Holm over each class), and the gain grows with the
    shared fraction: the permutation tests of `analysis.seed_correlation` of `shared_own` with the
    cross-fitted gains `d_up` of `gains` (`analysis.seed_gains`), with at least 3 encoders and some spread in
    the shared fraction, else "not testable here". The row keeps `rho` and the seeds' range `rho_low`,
    `rho_high` (not a 95 % interval: its coverage is below 0.9, see `seed_correlation`)."""
    plan = load_protocol()
    cases = cases.assign(case=cases["dataset"].astype(str) + "/" + cases["modality"].astype(str))
    rows = [shape_claim(plan.claim(key), part, {"case": list(part["case"])})
            for key, part in (("shared_gain", cases[cases["information"] == "mostly shared"]),
                              ("unique_loss", cases[cases["information"] == "much unique"]))]
    usable = cases[np.isfinite(cases["shared_own"].to_numpy(dtype=float))]
    found = dict.fromkeys(("r", "low", "high", "p_positive", "p_negative"), math.nan)
    evidence = f"{len(usable)} encoder(s): a correlation needs at least 3, with some spread in their shares"
    if len(usable) >= 3 and np.ptp(usable["shared_own"]) > 0:
        per_seed = gains.merge(usable[["dataset", "encoder", "shared_own"]], on=["dataset", "encoder"])
        found = seed_correlation(per_seed, ["dataset", "encoder"], "shared_own", "d_up", seed=seed)
        evidence = (f"rho = {found['r']:.2f} over {len(usable)} encoders (seeds' range {found['low']:.2f} to "
                    f"{found['high']:.2f}); permutation p {found['p_positive']:.2g} of a positive and "
                    f"{found['p_negative']:.2g} of a negative correlation")
    rows.append({**correlation_claim(plan.claim("sharing_trend"), found["r"], found["p_positive"],
                                     found["p_negative"], evidence),
                 "rho": found["r"], "rho_low": found["low"], "rho_high": found["high"]})
    return rows


def real_claims(optimum: pd.DataFrame, table: pd.DataFrame, trend: pd.DataFrame, seed: int = 0):
    """Chapter 05's claim table with every label: the paper's real-data claims on the benchmarks (not
    testable here without them), the general claim on the measured pairs (`sharing_claim_rows`) and the rise
    of alignment with `lam` on every measured pair (`trend`: `analysis.alignment_trend` rows by dataset).
    `optimum` holds `study_optimum` rows, `table` the runs they come from."""
    plan = load_protocol()
    cells = measured(optimum, fraction=1.0)
    runs = measured(table, fraction=1.0)
    return claims_table([
        *(shape_claim(plan.claim(key), optimum[optimum["label_fraction"] == 1], where)
          for key, where in PAPER_REAL_CLAIMS),
        *sharing_claim_rows(cells, seed_gains(runs, by=["dataset", "modality"]), seed=seed),
        trend_claim(plan.claim("align_real"), trend, {"dataset": sorted(set(cells["dataset"]))}),
    ])


def readable_claims(claims: pd.DataFrame) -> pd.DataFrame:
    """A claim table for readers: per claim its source, the cells where it and its opposite hold after the
    correction ("u of n"), the largest change its cells could detect at 80 % power, and the verdict."""
    of_cases = " of " + claims["cases"].astype(str)
    return pd.DataFrame({
        "source": claims["source"], "holds in": claims["agree"].astype(str) + of_cases,
        "opposite in": claims["opposed"].astype(str) + of_cases,
        "could detect": [f"{x:.3f}" if math.isfinite(x) else "–" for x in claims["mde"]],
        "verdict": claims["verdict"]})


def general_reading(claims: pd.DataFrame) -> str:
    """The general claim's two halves (protocol keys shared_gain and unique_loss of a `real_claims` table)
    read together: "reproduced" (both confirmed), "contradicted in part" (either contradicted), "reproduced
    in part" (either at least partly confirmed) or "not reproduced" (neither shown either way)."""
    verdicts = set(claims.set_index("key").loc[["shared_gain", "unique_loss"], "verdict"])
    if verdicts == {"confirmed"}:
        return "reproduced"
    if "contradicted" in verdicts:
        return "contradicted in part"
    return "reproduced in part" if verdicts & {"confirmed", "partly confirmed"} else "not reproduced"


def gain_summary(optimum: pd.DataFrame) -> dict:
    """Mean cross-fitted gain of the measured encoders with every label, by class of information: mostly
    shared (`gain_shared_mean`) and much unique (`gain_unique_mean`; NaN when no encoder is in a class)."""
    means = measured(optimum, fraction=1.0).groupby("information")["gain"].mean()
    return {"gain_shared_mean": float(means.get("mostly shared", math.nan)),
            "gain_unique_mean": float(means.get("much unique", math.nan))}
